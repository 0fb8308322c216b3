import Testing
@testable import SenteiEngine

/// int8 1×1 convs that read the same tensor run as one kernel call (`SiblingFusion`) and compute what they compute
/// apart (the kernel-level check is Int8SiblingTests).
@Suite struct SiblingFusionTests {
    /// x → t (1×1); t → a (1×1, SiLU) → c (3×3); t → b (1×1, sigmoid) → d (3×3); t → r (1×1, + residual t);
    /// y = [c, d, r]. In graph order b runs after c, so a's map is dead by then: run early, next to a, b must not be
    /// given a's place.
    static func graph() throws -> Graph {
        var g = ONNXGraphBuilder()
        g.input("x", [1, 8, 11, 13])
        func conv(_ name: String, _ input: String, _ cin: Int, _ cout: Int, _ k: Int, seed: UInt64) throws {
            try g.floats(name + "w", [cout, cin, k, k], randomFloats(cout * cin * k * k, seed: seed))
            try g.floats(name + "b", [cout], randomFloats(cout, seed: seed + 100))
            g.node("Conv", [input, name + "w", name + "b"], [name + "c"],
                   ["kernel_shape": .ints([Int64(k), Int64(k)]), "pads": .ints([Int64](repeating: Int64(k / 2), count: 4))])
        }
        try conv("t", "x", 8, 16, 1, seed: 1)
        g.node("Identity", ["tc"], ["t"])
        try conv("a", "t", 16, 8, 1, seed: 2)
        g.node("Sigmoid", ["ac"], ["as"])
        g.node("Mul", ["ac", "as"], ["a"])
        try conv("c", "a", 8, 8, 3, seed: 3)
        try conv("b", "t", 16, 5, 1, seed: 4)
        g.node("Sigmoid", ["bc"], ["b"])
        try conv("r", "t", 16, 16, 1, seed: 5)
        g.node("Add", ["rc", "t"], ["r"])
        try conv("d", "b", 5, 6, 3, seed: 6)
        g.node("Concat", ["cc", "dc", "r"], ["y"], ["axis": .int(1)])
        g.output("y")
        return Pipeline.optimize(try g.graph())
    }

    /// Every dense conv in int8, u8 or 16-bit activations.
    static func table(_ graph: Graph, bits: Int) -> QuantizationTable {
        var activations: [String: ActivationQuantization] = [:]
        var layers: [String: LayerQuantization] = [:]
        for node in graph.nodes {
            guard case .conv = node.op else { continue }
            let input = graph[node.inputs[0]].name
            activations[input] = ActivationQuantization(scale: 4.0 / 255, zeroPoint: 64, observedMin: -1, observedMax: 3)
            layers[node.name] = LayerQuantization(precision: bits == 16 ? .w8a16 : .int8, input: input)
        }
        return QuantizationTable(activations: activations, layers: layers)
    }

    /// The conv with this output count and kernel size.
    static func conv(_ graph: Graph, cout: Int, kernel: Int) -> Int {
        graph.nodes.indices.first {
            if case .conv(let c) = graph.nodes[$0].op { return c.outChannels == cout && c.kernel.h == kernel }
            return false
        }!
    }

    @Test func pairsTheSiblingsAndMovesTheSecondUp() throws {
        let graph = try Self.graph()
        let (a, b) = (Self.conv(graph, cout: 8, kernel: 1), Self.conv(graph, cout: 5, kernel: 1))
        let model = Model(graph: graph, options: .init(threads: 1, quantization: Self.table(graph, bits: 8)))
        // a and b pair; r adds a residual, c reads another tensor.
        #expect(model.program.siblings.values.map { [$0.first, $0.second] } == [[a, b]])
        let order = model.schedule.order
        #expect(order.firstIndex(of: b) == order.firstIndex(of: a)! + 1, "\(order)")
        #expect(model.layers.first { $0.name == graph.nodes[b].name }?.kind.contains("one call with \(graph.nodes[a].name)") == true)
        // fp32 siblings are not paired (their GEMM reads its input in place: nothing to share).
        #expect(Model(graph: graph, options: .init(threads: 1)).program.siblings.isEmpty)
    }

    @Test(arguments: [8, 16])
    func pairedModelComputesWhatSeparateStepsDo(bits: Int) throws {
        let graph = try Self.graph()
        let table = Self.table(graph, bits: bits)
        let input = Tensor(shape: [1, 8, 11, 13], data: randomFloats(8 * 11 * 13, seed: 7))
        for threads in [1, 2, 3] {
            var apart = Model.Options(threads: threads, quantization: table)
            apart.siblingFusion = false
            let separate = Model(graph: graph, options: apart)
            let paired = Model(graph: graph, options: .init(threads: threads, quantization: table))
            #expect(separate.program.siblings.isEmpty && paired.program.siblings.count == 1)
            #expect(try paired.run([input])[0].data == separate.run([input])[0].data, "\(bits)-bit, \(threads) threads")
        }
    }

    /// YOLOX-Nano's default int8 table: each CSP block's two entry convs and each head level's box and objectness
    /// convs pair (eleven pairs); outputs are bit for bit those of separate steps on one and two threads.
    @Test func yoloxPairsWithoutChangingOutputs() throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        let path = "\(shared)/models/yolox_nano.onnx"
        let graph = try Model(path: path, options: .init(threads: 1)).graph
        // A table like the default one: every dense conv int8 (ranges need not be calibrated for this check).
        var activations: [String: ActivationQuantization] = [:]
        var layers: [String: LayerQuantization] = [:]
        for node in graph.nodes {
            // The stem stays fp32 (the table names the unfolded graph's input; this graph has the Focus folded).
            guard case .conv(let conv) = node.op, !conv.isDepthwise, graph[node.inputs[0]].name != "images" else { continue }
            let input = graph[node.inputs[0]].name
            activations[input] = ActivationQuantization(scale: 8.0 / 255, zeroPoint: 20, observedMin: -0.6, observedMax: 7.4)
            layers[node.name] = LayerQuantization(precision: .int8, input: input)
        }
        let table = QuantizationTable(activations: activations, layers: layers)
        let input = Tensor(shape: [1, 3, 416, 416], data: randomFloats(3 * 416 * 416, seed: 2).map { ($0 + 1) * 127.5 })
        for threads in [1, 2] {
            var apart = Model.Options(threads: threads, quantization: table)
            apart.siblingFusion = false
            let separate = try Model(path: path, options: apart)
            let paired = try Model(path: path, options: .init(threads: threads, quantization: table))
            let pairs = Set(paired.program.siblings.values.map { paired.graph.nodes[$0.first].name + "&" + paired.graph.nodes[$0.second].name })
            if threads == 1 {
                #expect(pairs == ["Conv_50&Conv_53", "Conv_76&Conv_79", "Conv_122&Conv_125", "Conv_178&Conv_181",
                                  "Conv_203&Conv_206", "Conv_228&Conv_231", "Conv_254&Conv_257", "Conv_280&Conv_283",
                                  "Conv_327&Conv_328", "Conv_360&Conv_361", "Conv_393&Conv_394"], "\(pairs.sorted())")
            }
            #expect(pairs.count >= 8, "\(threads) threads: \(pairs.sorted())")
            #expect(try paired.run([input])[0].data == separate.run([input])[0].data, "\(threads) threads")
        }
    }
}
