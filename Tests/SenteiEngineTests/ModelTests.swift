import Foundation
import Testing
@testable import SenteiEngine

/// The real detector graphs: memory-plan invariants, and every ISA path agreeing on the output.
@Suite struct ModelTests {
    @Test func memoryPlanNeverOverlapsLiveValues() throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        for name in ["yolox_nano.onnx", "yolov8n_320.onnx"] {
            let onnx = try readONNXModel(path: "\(shared)/models/\(name)")
            let graph = Pipeline.optimize(try ONNXImporter.importModel(onnx, source: name))
            let plan = MemoryPlan.make(graph)
            try checkPlan(graph, plan)
            let unplanned = graph.nodes.filter { if case .constant = $0.op { return false }; return true }.reduce(0) { $0 + $1.elementCount }
            #expect(plan.arenaCount < unplanned / 3, "\(name): arena \(plan.arenaCount) floats vs \(unplanned) without reuse")
        }
    }

    /// At every step, the value written never overlaps a value still to be read, unless one holds the other
    /// (a reshape or slice view, or a concat input written in place).
    func checkPlan(_ graph: Graph, _ plan: MemoryPlan) throws {
        var lastUse = [Int](repeating: -1, count: graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() { for input in node.inputs { lastUse[input.index] = i } }
        for output in graph.outputs { lastUse[output.node.index] = Int.max }
        func range(_ i: Int) -> Range<Int>? {
            guard case .arena(let offset) = plan.locations[i] else { return nil }
            return offset..<(offset + graph.nodes[i].elementCount)
        }
        func holds(_ outer: Int, _ inner: Int) -> Bool {
            var current = plan.container[inner]
            while let c = current { if c == outer { return true }; current = plan.container[c] }
            return false
        }
        for step in graph.nodes.indices {
            guard let written = range(step) else { continue }
            if plan.container[step] == nil { #expect(written.lowerBound % MemoryPlan.alignment == 0) }
            for other in 0..<step where lastUse[other] >= step {
                guard let live = range(other), live.overlaps(written) else { continue }
                #expect(holds(step, other) || holds(other, step), "\(graph.nodes[step].name) overwrites live \(graph.nodes[other].name)")
            }
        }
    }

    @Test func everyISAGivesTheSameYOLOXOutput() throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        let input = Tensor(shape: [1, 3, 416, 416], data: randomFloats(3 * 416 * 416, seed: 5).map { ($0 + 1) * 127.5 })
        var results: [(KernelISA, [Float])] = []
        for isa in KernelISA.supported {
            let model = try Model(path: "\(shared)/models/yolox_nano.onnx", options: .init(threads: 2, isa: isa))
            #expect(model.kernelName == isa.description)
            results.append((isa, try model.run([input])[0].data))
        }
        for (isa, output) in results.dropFirst() {
            #expect(maxRelativeError(output, results[0].1) < 1e-4, "\(isa) disagrees with \(results[0].0)")
        }
    }

    @Test func runtimeInputErrorsAreClear() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["y"])
        b.output("y")
        let model = Model(graph: Pipeline.optimize(try b.graph()))
        #expect(throws: EngineError.self) { try model.run([Tensor(zeros: [1, 5])]) }
        #expect(throws: EngineError.self) { try model.run([]) }
        let y = try model.run([Tensor(shape: [1, 4], data: [-1, 2, -3, 4])])
        #expect(y[0].data == [0, 2, 0, 4])
    }
}
