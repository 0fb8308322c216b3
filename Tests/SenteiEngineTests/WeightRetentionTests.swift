import Testing
@testable import SenteiEngine

/// A loaded model keeps its packed weights and nothing else of them: the steps must not capture the unpacked conv
/// weights (YOLOv8n@640 held 12 MB of them, YOLOX-Nano 2.2 MB), and an int8 plan drops its layers' weights once the
/// native steps hold packed copies.
@Suite("Weight retention")
struct WeightRetentionTests {
    /// One conv of each fp32 path (dense im2col 1×1, depthwise 3×3, Winograd 3×3), each graph alone.
    static let convs: [(name: String, cin: Int, cout: Int, kernel: Int, group: Int)] = [
        ("dense", 16, 32, 1, 1), ("depthwise", 32, 32, 3, 32), ("winograd", 32, 32, 3, 1),
    ]

    /// The model and the weights array its graph's conv held. Nothing else of the graph outlives this function, so
    /// afterwards the array's buffer is shared only if the model kept it.
    static func load(_ spec: (name: String, cin: Int, cout: Int, kernel: Int, group: Int), quantized: Bool) throws
        -> (model: Model, weights: [Float])
    {
        var b = ONNXGraphBuilder()
        b.input("x", [1, spec.cin, 16, 16])
        try b.floats("w", [spec.cout, spec.cin / spec.group, spec.kernel, spec.kernel],
                     randomFloats(spec.cout * spec.cin / spec.group * spec.kernel * spec.kernel, seed: 7))
        let pad = Int64(spec.kernel / 2)
        b.node("Conv", ["x", "w"], ["y"], ["group": .int(Int64(spec.group)), "pads": .ints([pad, pad, pad, pad]),
                                           "kernel_shape": .ints([Int64(spec.kernel), Int64(spec.kernel)])])
        b.output("y")
        let graph = try b.graph()
        let (node, conv) = try #require(graph.nodes.lazy.compactMap { node -> (Node, Conv)? in
            if case .conv(let conv) = node.op { (node, conv) } else { nil }
        }.first)
        let table = quantized ? QuantizationTable(
            activations: ["x": ActivationQuantization(scale: 4.0 / 255, zeroPoint: 128, observedMin: -2, observedMax: 2)],
            layers: [node.name: LayerQuantization(precision: .int8, input: "x")]) : nil
        return (Model(graph: graph, options: .init(threads: 2, quantization: table)), conv.weights)
    }

    @Test(arguments: convs.indices)
    func fp32StepsDoNotKeepUnpackedWeights(_ which: Int) throws {
        let model: Model
        var weights: [Float]
        (model, weights) = try Self.load(Self.convs[which], quantized: false)
        let before = weights.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        // Copy on write: the buffer moves when anything else still references it.
        weights[0] += 1
        let after = weights.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after, "\(Self.convs[which].name): the model still references the unpacked weights")
        withExtendedLifetime(model) {}
    }

    @Test func int8PlanDropsItsLayersWeights() throws {
        let model: Model
        var weights: [Float]
        (model, weights) = try Self.load(Self.convs[0], quantized: true)
        let plan = try #require(model.program.int8)
        #expect(plan.layers.count == 1)
        #expect(plan.layers.values.allSatisfy { $0.weights.isEmpty && $0.conv.weights.isEmpty })
        let before = weights.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        weights[0] += 1
        #expect(before == weights.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) })
        // Still runs (the steps hold packed copies).
        let x = Tensor(shape: [1, 16, 16, 16], data: randomFloats(16 * 16 * 16, seed: 3))
        #expect(try model.run([x])[0].data.count == 32 * 16 * 16)
    }
}
