import Foundation
@testable import SenteiEngine
import SenteiVision
import Testing

/// YOLOX's Focus stem in int8, end to end: the compiled model folds the four slices and the concat into one 6×6/s2
/// conv and runs it with the space-to-depth int8 kernel; the reference mode runs the scalar int8 definition on the
/// unfolded 3×3 conv over the concat. The two stems' outputs must agree to float rounding (same integer sums).
@Suite(.serialized) struct Int8StemTests {
    @Test(.enabled(if: sharedRoot != nil, Comment(rawValue: sharedMissing)))
    func foldedInt8StemMatchesTheReference() throws {
        let path = sharedRoot! + "/models/yolox_nano.onnx"
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        // At 160×160 (the graph is size-agnostic) the scalar reference model stays quick in debug builds.
        let side = 160
        var graph = Pipeline.optimize(try ONNXImporter.importModel(try readONNXModel(bytes: bytes, source: "yolox_nano.onnx"),
                                                                   source: "yolox_nano.onnx", inputShapes: ["images": [1, 3, side, side]]))
        try #require(graph[graph.inputs[0]].shape == [1, 3, side, side])
        let stemName = try #require(Passes.convsFoldedBySpaceToDepth(graph).first)
        let stem = try #require(graph.nodes.firstIndex { $0.name == stemName })
        let concat = graph[graph.nodes[stem].inputs[0]].name
        // The stem's output becomes a model output, so both runs can be compared right after it.
        graph.outputs.append((name: "stem", node: NodeID(stem)))
        // A real image: the u8 grid (scale 1, zp 0) covers the 0–255 pixels.
        let detector = try Detector(manifest: try loadYOLOXManifest()) { _ in Tensor(zeros: [1]) }
        let dir = sharedRoot! + "/data/coco128/images"
        let name = try #require(try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jpg") }.sorted().first)
        let jpeg = [UInt8](FileManager.default.contents(atPath: dir + "/" + name)!)
        let letterboxed = try jpeg.withUnsafeBytes { try detector.prepare(jpeg: $0, name: name).tensor }
        // Its central side×side crop.
        let full = letterboxed.shape[2], origin = (full - side) / 2
        var pixels = [Float](repeating: 0, count: 3 * side * side)
        for c in 0..<3 { for y in 0..<side { for x in 0..<side {
            pixels[(c * side + y) * side + x] = letterboxed.data[(c * full + origin + y) * full + origin + x]
        } } }
        let frame = Tensor(shape: [1, 3, side, side], data: pixels)
        let table = QuantizationTable(
            activations: [concat: ActivationQuantization(scale: 1, zeroPoint: 0, observedMin: 0, observedMax: 255)],
            layers: [stemName: LayerQuantization(precision: .int8, input: concat)])

        let kernels = Model(graph: graph, options: .init(threads: 2, quantization: table))
        let reference = Model(graph: graph, options: .init(threads: 1, useReferenceKernels: true, quantization: table))
        #expect(kernels.int8Summary?.contains(" 1 of ") == true, "\(kernels.int8Summary ?? "no int8 plan")")
        // The compiled model holds the folded conv, and runs it with the space-to-depth kernel.
        let layer = try #require(kernels.program.int8?.layers.values.first)
        #expect(layer.conv.kernel == (6, 6) && layer.conv.stride == (2, 2) && layer.conv.inChannels == 3)
        #expect(layer.usesSpaceToDepthKernel(h: frame.shape[2], w: frame.shape[3]))

        let got = try kernels.run([frame]).last!.data, want = try reference.run([frame]).last!.data
        #expect(got.count == 16 * (side / 2) * (side / 2) && got.count == want.count)
        var worst: Float = 0
        for (g, w) in zip(got, want) { worst = max(worst, abs(g - w) / (1 + abs(w))) }
        #expect(worst < 1e-4, "int8 stem: kernel vs reference differ by \(worst) (relative)")
        // And it is int8, not the fp32 stem: the fp32 model differs by quantization noise, small but not zero.
        let fp32 = try Model(graph: graph, options: .init(threads: 2)).run([frame]).last!.data
        var noise: Float = 0, spread: Float = 0
        for (q, f) in zip(got, fp32) { noise += (q - f) * (q - f); spread += f * f }
        #expect(noise > 0 && noise < 1e-3 * spread, "int8 vs fp32 stem: squared error \(noise) of \(spread)")
    }
}
