import Testing
@testable import SenteiEngine

/// A dense conv fused into its depthwise reader (`BandFusion`) computes what the two steps compute apart.
@Suite struct BandFusionTests {
    /// The window of input rows a run of output rows reads is exactly the union of what each row reads, clipped to
    /// the map, and its padding gives back the same number of output rows.
    @Test func windowsAreTheRowsTheOutputsRead() {
        for (extent, stride, padTop) in [(3, 1, 1), (3, 2, 1), (6, 2, 2), (1, 1, 0), (5, 1, 2), (3, 2, 0)] {
            let size = 17
            let outputs = (size + 2 * padTop - extent) / stride + 1
            for lo in 0..<outputs {
                for hi in (lo + 1)...outputs {
                    let window = BandFusion.window(lo..<hi, extent: extent, stride: stride, padTop: padTop, size: size)
                    let read = (lo..<hi).flatMap { o in (o * stride - padTop)..<(o * stride - padTop + extent) }
                        .filter { (0..<size).contains($0) }
                    #expect(window.lo == read.min()! && window.hi == read.max()! + 1, "\(extent)/\(stride)/\(padTop) \(lo)..<\(hi)")
                    #expect((window.padTop + window.hi - window.lo + window.padBottom - extent) / stride + 1 == hi - lo)
                }
            }
        }
    }

    /// conv (kernel, stride, pad) + SiLU → depthwise 3×3 (stride) + SiLU, on `size`×`size` maps.
    static func pair(cin: Int, cout: Int, size: Int, kernel: Int, stride: Int, pad: Int, dwStride: Int) throws -> Graph {
        var b = ONNXGraphBuilder()
        b.input("x", [1, cin, size, size])
        try b.floats("w", [cout, cin, kernel, kernel], randomFloats(cout * cin * kernel * kernel, seed: 3))
        try b.floats("b", [cout], randomFloats(cout, seed: 4))
        b.node("Conv", ["x", "w", "b"], ["c"], ["kernel_shape": .ints([Int64(kernel), Int64(kernel)]),
                                               "strides": .ints([Int64(stride), Int64(stride)]),
                                               "pads": .ints([Int64](repeating: Int64(pad), count: 4))])
        b.node("Sigmoid", ["c"], ["cg"])
        b.node("Mul", ["c", "cg"], ["cy"])
        try b.floats("dw", [cout, 1, 3, 3], randomFloats(cout * 9, seed: 5))
        try b.floats("db", [cout], randomFloats(cout, seed: 6))
        b.node("Conv", ["cy", "dw", "db"], ["d"], ["kernel_shape": .ints([3, 3]), "group": .int(Int64(cout)),
                                                  "strides": .ints([Int64(dwStride), Int64(dwStride)]),
                                                  "pads": .ints([1, 1, 1, 1])])
        b.node("Sigmoid", ["d"], ["dg"])
        b.node("Mul", ["d", "dg"], ["y"])
        b.output("y")
        return Pipeline.optimize(try b.graph())
    }

    /// The int8 table that runs the dense conv in int8 (the depthwise conv stays fp32, as in the default tables).
    static func int8Table(_ graph: Graph) -> QuantizationTable {
        let conv = graph.nodes.first { if case .conv(let c) = $0.op { return !c.isDepthwise }; return false }!
        return QuantizationTable(
            activations: ["x": ActivationQuantization(scale: 2.0 / 255, zeroPoint: 128, observedMin: -1, observedMax: 1)],
            layers: [conv.name: LayerQuantization(precision: .int8, input: "x")])
    }

    @Test(arguments: [
        // (cin, cout, size, kernel, stride, pad, dwStride): a YOLOX-like stem (3 channels, 6×6/s2, space-to-depth
        // kernel in int8), 3×3 convs, and a 1×1 conv (a GEMM over the band's pixels), before stride 1 and 2.
        (3, 16, 40, 6, 2, 2, 2), (3, 16, 38, 6, 2, 2, 1), (8, 16, 21, 3, 1, 1, 1), (8, 16, 22, 3, 2, 1, 2),
        (16, 32, 19, 1, 1, 0, 2), (16, 32, 20, 1, 1, 0, 1),
        // A stem map at least one tile wide: the fp32 kernel's staged path, its row ring restarted per band.
        (3, 16, 100, 6, 2, 2, 2),
    ])
    func fusedPairMatchesSeparateSteps(_ p: (Int, Int, Int, Int, Int, Int, Int)) throws {
        let graph = try Self.pair(cin: p.0, cout: p.1, size: p.2, kernel: p.3, stride: p.4, pad: p.5, dwStride: p.6)
        let input = Tensor(shape: [1, p.0, p.2, p.2], data: randomFloats(p.0 * p.2 * p.2, seed: 9))
        for table in [nil, Self.int8Table(graph)] {
            var apart = Model.Options(threads: 1, quantization: table)
            apart.bandFusion = nil
            let reference = try Model(graph: graph, options: apart).run([input])[0].data
            // Bands of one to a few output rows: each band keeps the rows its previous one made and computes the rest.
            for bufferBytes in [1, 3 * 4 * p.1 * p.2, 7 * 4 * p.1 * p.2] {
                for threads in [1, 2, 3] {
                    var options = Model.Options(threads: threads, quantization: table)
                    options.bandFusion = BandFusion.Policy(minimumProducerBytes: 0, bufferBytes: bufferBytes)
                    let model = Model(graph: graph, options: options)
                    #expect(model.program.fusions.count == 1, "\(p) \(table == nil ? "fp32" : "int8")")
                    // Up to rounding: a band's rows may go through another of the depthwise kernel's row passes
                    // (four, two or one rows at a time), each with its own order of operations.
                    let error = maxRelativeError(try model.run([input])[0].data, reference)
                    #expect(error < 1e-5, "\(p) \(table == nil ? "fp32" : "int8"), \(bufferBytes) B bands, \(threads) threads")
                }
            }
        }
    }

    /// The fused producer has only its band buffers, live during its reader's step, and what it reads lives until
    /// that step has run: the reader's output never takes the place of the producer's input.
    @Test func producerInputLivesUntilTheFusedStep() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 8, 16, 16])
        try b.floats("w0", [8, 8, 1, 1], randomFloats(64, seed: 1))
        b.node("Conv", ["x", "w0"], ["a"], ["kernel_shape": .ints([1, 1])])
        try b.floats("w1", [8, 8, 3, 3], randomFloats(8 * 8 * 9, seed: 2))
        b.node("Conv", ["a", "w1"], ["p"], ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])])
        try b.floats("dw", [8, 1, 3, 3], randomFloats(72, seed: 3))
        b.node("Conv", ["p", "dw"], ["y"], ["kernel_shape": .ints([3, 3]), "group": .int(8), "pads": .ints([1, 1, 1, 1])])
        b.output("y")
        let graph = Pipeline.optimize(try b.graph())
        let convs = graph.nodes.indices.filter { if case .conv = graph.nodes[$0].op { return true }; return false }
        let (first, producer, consumer) = (convs[0], convs[1], convs[2])
        let plan = MemoryPlan.make(graph, fused: [consumer: (producer, 16)])
        guard case .arena(let a) = plan.locations[first], case .arena(let y) = plan.locations[consumer],
              case .bands(let bands) = plan.locations[producer] else {
            Issue.record("expected arena buffers and band buffers"); return
        }
        let size = 8 * 16 * 16
        #expect(a + size <= y || y + size <= a, "the fused step reads \(graph.nodes[first].name) while writing its output")
        for other in [a, y] { #expect(bands + 16 <= other || other + size <= bands, "band buffers apart from live maps") }
        // The input's place is free again once the first conv has run: the output takes it, the band buffers come on top.
        #expect(plan.arenaCount == 2 * size + 16)
        var options = Model.Options(threads: 2)
        options.bandFusion = BandFusion.Policy(minimumProducerBytes: 0, bufferBytes: 4 * 8 * 16 * 4)
        let input = Tensor(shape: [1, 8, 16, 16], data: randomFloats(size, seed: 4))
        var apart = options
        apart.bandFusion = nil
        let error = maxRelativeError(try Model(graph: graph, options: options).run([input])[0].data,
                                     try Model(graph: graph, options: apart).run([input])[0].data)
        #expect(error < 1e-5)
    }

    /// YOLOX-Nano: the stem and the 104×104 1×1 conv before a stride-2 depthwise conv fuse (their maps pass a core's
    /// L2); outputs are bit for bit those of separate steps on one and two threads (int8 producers: the pair tests),
    /// and the one-thread arena no longer holds the stem's 2.8 MB map.
    @Test func yoloxStemFusesWithoutChangingOutputs() throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        let path = "\(shared)/models/yolox_nano.onnx"
        let input = Tensor(shape: [1, 3, 416, 416], data: randomFloats(3 * 416 * 416, seed: 2).map { ($0 + 1) * 127.5 })
        for threads in [1, 2] {
            var apart = Model.Options(threads: threads)
            apart.bandFusion = nil
            let separate = try Model(path: path, options: apart)
            let fused = try Model(path: path, options: .init(threads: threads))
            let pairs = fused.program.fusions.values.map { fused.graph.nodes[$0.producer].name + "+" + fused.graph.nodes[$0.consumer].name }
            #expect(Set(pairs) == ["Conv_41+Conv_44", "Conv_67+Conv_70"])
            #expect(try fused.run([input])[0].data == separate.run([input])[0].data, "\(threads) threads")
            if threads == 1 { #expect(fused.arenaBytes < separate.arenaBytes) }
        }
    }
}
