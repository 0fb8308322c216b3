import Testing
@testable import SenteiEngine

/// Chained "same" max pools run as one step (`PoolCascade`) and compute what separate steps compute.
@Suite struct PoolCascadeTests {
    /// x → 1×1 conv → t; p₁ = pool_k(t), p₂ = pool_k(p₁), p₃ = pool_k(p₂), and q a 3×3 pool of p₁ (a branch off the
    /// chain); y = [t, p₁, p₂, p₃, q]. YOLOX's SPP after `Passes.decomposeMaxPool` when k = 5; 70×70 planes take the
    /// row-cached kernel, the others `sk_maxpool_same_f32`.
    static func graph(size: Int, k: Int) throws -> Graph {
        var g = ONNXGraphBuilder()
        g.input("x", [1, 4, size, size])
        try g.floats("w", [6, 4, 1, 1], randomFloats(24, seed: 1))
        g.node("Conv", ["x", "w"], ["t"], ["kernel_shape": .ints([1, 1])])
        func pool(_ input: String, _ output: String, _ k: Int) {
            let pad = Int64(k / 2)
            g.node("MaxPool", [input], [output], ["kernel_shape": .ints([Int64(k), Int64(k)]), "pads": .ints([pad, pad, pad, pad])])
        }
        pool("t", "p1", k)
        pool("p1", "p2", k)
        pool("p2", "p3", k)
        pool("p1", "q", 3)
        g.node("Concat", ["t", "p1", "p2", "p3", "q"], ["y"], ["axis": .int(1)])
        g.output("y")
        return Pipeline.optimize(try g.graph())
    }

    @Test(arguments: [(13, 5), (20, 5), (70, 5), (9, 3)])
    func chainRunsAsOneStepWithTheSameOutputs(_ p: (size: Int, k: Int)) throws {
        let graph = try Self.graph(size: p.size, k: p.k)
        let input = Tensor(shape: [1, 4, p.size, p.size], data: randomFloats(4 * p.size * p.size, seed: 3))
        for threads in [1, 2, 3] {
            var apart = Model.Options(threads: threads)
            apart.poolCascade = false
            let separate = Model(graph: graph, options: apart)
            let chained = Model(graph: graph, options: .init(threads: threads))
            let chains = chained.program.cascades.values.map(\.pools)
            // p₁ → p₂ → p₃; the 3×3 pool of p₁ reads a pool the chain has moved past (k = 3: it is p₂ again, merged).
            #expect(chains.count == 1 && chains[0].count == 3, "\(chains)")
            #expect(separate.program.cascades.isEmpty)
            #expect(try chained.run([input])[0].data == separate.run([input])[0].data, "\(p), \(threads) threads")
        }
    }

    /// YOLOX-Nano's SPP (5, 9 and 13 after decomposition: one chain of three 5×5 pools) runs as one step; outputs are
    /// bit for bit those of separate steps.
    @Test func yoloxSPPRunsAsOneStep() throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        let path = "\(shared)/models/yolox_nano.onnx"
        let input = Tensor(shape: [1, 3, 416, 416], data: randomFloats(3 * 416 * 416, seed: 2).map { ($0 + 1) * 127.5 })
        for threads in [1, 2] {
            var apart = Model.Options(threads: threads)
            apart.poolCascade = false
            let separate = try Model(path: path, options: apart)
            let chained = try Model(path: path, options: .init(threads: threads))
            #expect(chained.program.cascades.values.map(\.pools.count) == [3])
            #expect(try chained.run([input])[0].data == separate.run([input])[0].data, "\(threads) threads")
        }
    }
}
