import Testing
@testable import SenteiEngine

/// `Model.profile` (what `sentei bench --profile` prints): per step, the accumulated time and the fastest run.
@Suite struct ProfileTests {
    @Test func eachStepReportsItsTotalAndItsFastestRun() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 8, 16, 16])
        try b.floats("w", [8, 8, 1, 1], (0..<64).map { Float($0 % 7) / 7 })
        try b.floats("b", [8], [Float](repeating: 0.5, count: 8))
        b.node("Conv", ["x", "w", "b"], ["c"], ["kernel_shape": .ints([1, 1])])
        b.node("Relu", ["c"], ["y"])
        b.output("y")
        let model = Model(graph: Pipeline.optimize(try b.graph()), options: .init(threads: 1))
        #expect(model.profile.isEmpty, "no profile before profiling is enabled")
        model.enableProfiling()
        let input = Tensor(shape: [1, 8, 16, 16], data: (0..<2048).map { Float($0 % 13) })
        let runs = 5
        for _ in 0..<runs { _ = try model.run([input]) }
        let rows = model.profile
        #expect(!rows.isEmpty)
        for row in rows {
            #expect(row.nanoseconds > 0, "\(row.name)")
            #expect(row.minimumNanoseconds > 0 && row.minimumNanoseconds != .max, "\(row.name): no run recorded")
            // The fastest of five runs is at most their mean.
            #expect(row.minimumNanoseconds * UInt64(runs) <= row.nanoseconds, "\(row.name)")
        }
        // Enabling again starts over.
        model.enableProfiling()
        #expect(model.profile.allSatisfy { $0.nanoseconds == 0 })
    }
}
