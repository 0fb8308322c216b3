import Testing
@testable import SenteiEngine

/// The training memory plan: gradients share memory by lifetime, a forward-only graph keeps only what is read after
/// the pass, and neither changes a single number.
@Suite struct TrainingMemoryTests {
    /// A chain deep enough for lifetimes to matter, with a side feature read from outside (as distillation does).
    func chain(seed: UInt64) -> (graph: Graph, feature: NodeID) {
        var t = TestGraph()
        var x = t.input([1, 3, 24, 24])
        x = t.conv(x, conv(8, 3, stride: 2, activation: .silu, seed: seed))
        var feature = x
        for k in 0..<6 {
            x = t.conv(x, conv(8, 8, activation: .silu, seed: seed &+ UInt64(k) &+ 1))
            if k == 2 { feature = x }
        }
        t.output(t.conv(x, conv(4, 8, k: 1, pad: 0, seed: seed &+ 50)))
        return (t.graph, feature)
    }

    @Test func forwardOnlyGraphKeepsOutputsAndRetainedValuesInLessMemory() throws {
        let (graph, feature) = chain(seed: 3)
        let full = try GradientGraph(graph: graph)
        let lean = try GradientGraph(graph: graph, options: .init(forwardOnly: true, retained: [feature]))
        let x = randomFloats(3 * 24 * 24, seed: 11)
        try full.forward([x])
        try lean.forward([x])
        let output = graph.outputs[0].node
        #expect(Array(lean.value(of: output)) == Array(full.value(of: output)))
        #expect(Array(lean.value(of: feature)) == Array(full.value(of: feature)))
        // A second image through reused memory gives the same as a fresh pass.
        let x2 = randomFloats(3 * 24 * 24, seed: 12)
        try lean.forward([x2])
        try full.forward([x2])
        #expect(Array(lean.value(of: output)) == Array(full.value(of: output)))
        #expect(lean.memoryBytes * 2 < full.memoryBytes, "forward-only \(lean.memoryBytes) B vs training \(full.memoryBytes) B")
    }

    @Test func gradientsShareMemoryWithoutChangingThem() throws {
        let (graph, feature) = chain(seed: 5)
        let g = try GradientGraph(graph: graph, options: .init(retained: [feature]))
        let x = randomFloats(3 * 24 * 24, seed: 21)
        let output = graph.outputs[0].node
        func parameterGradients() throws -> [Float] {
            try g.forward([x])
            g.zeroParameterGradients()
            try g.backward(seeds: [(output, randomFloats(graph[output].elementCount, seed: 22)),
                                   (feature, randomFloats(graph[feature].elementCount, seed: 23))])
            return g.gradients
        }
        let first = try parameterGradients()
        // Run twice: buffers zeroed on the schedule, not once at creation, so the second pass must match the first.
        #expect(try parameterGradients() == first)
        // Seeding a node that was not declared is a clear error, not a write into memory another gradient uses.
        let hidden = graph.nodes.indices.first { i in
            if case .conv = graph.nodes[i].op { return NodeID(i) != feature && NodeID(i) != output }
            return false
        }!
        #expect(throws: EngineError.self) {
            try g.backward(seeds: [(NodeID(hidden), [Float](repeating: 0, count: graph.nodes[hidden].elementCount))])
        }
        // One buffer per node would hold every node's size; along a chain only a few gradients are live at once.
        let separate = graph.nodes.indices.filter { g.needsGrad[$0] }.reduce(0) { $0 + graph.nodes[$1].elementCount }
        #expect(g.gradientBytes * 2 < separate * MemoryLayout<Float>.stride,
                "gradient arena \(g.gradientBytes) B vs \(separate * MemoryLayout<Float>.stride) B one buffer each")
    }
}
