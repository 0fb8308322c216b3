import Foundation
@testable import SenteiEngine
import SenteiVision
import Testing

/// End-to-end int8: calibrate YOLOX-Nano on a few coco128 frames, load it mixed int8/fp32, and compare with fp32 on
/// other frames. Small frame counts keep CI time down; the full measurement is `sentei quantize` + `sentei eval`.
@Suite(.serialized) struct Int8InferenceTests {
    static func frames(_ range: Range<Int>) throws -> [Tensor] {
        let root = sharedRoot!
        let detector = try Detector(manifest: try loadYOLOXManifest()) { _ in Tensor(zeros: [1]) }
        let dir = root + "/data/coco128/images"
        let names = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jpg") }.sorted()
        return try names[range].map { name in
            let bytes = [UInt8](FileManager.default.contents(atPath: dir + "/" + name)!)
            return try bytes.withUnsafeBytes { try detector.prepare(jpeg: $0, name: name).tensor }
        }
    }

    static var modelPath: String { sharedRoot! + "/models/yolox_nano.onnx" }

    @Test(.enabled(if: sharedRoot != nil, Comment(rawValue: sharedMissing)))
    func yoloxInt8StaysCloseToFP32() throws {
        var options = CalibrationOptions()
        options.sensitivityFrames = 1
        let table = try QuantizationTable.calibrate(modelAt: Self.modelPath, frames: try Self.frames(0..<6), options: options)
        let report = try #require(table.calibration)
        #expect(table.int8Layers.count > table.layers.count / 2, "most dense convs should be int8")
        #expect(report.modelError <= options.modelErrorBudget)
        #expect(report.allInt8Error >= report.modelError)
        // The Focus stem (folded at run time into one strided conv, int8 with the space-to-depth kernel) is measured
        // like every other conv.
        let folded = Passes.convsFoldedBySpaceToDepth(Pipeline.optimize(try importYOLOX()))
        #expect(folded.count == 1)
        for name in folded { #expect(table.layers[name]?.sensitivity != nil, "\(name) was not measured") }
        // A layer over the threshold had its 16-bit-activation error measured (when its k allows it); w8a16 layers
        // are within the threshold at 16 bits or were moved there by the budget.
        let graph = Pipeline.optimize(try importYOLOX())
        for node in graph.nodes {
            guard case .conv(let conv) = node.op, let entry = table.layers[node.name], let sensitivity = entry.sensitivity,
                  sensitivity > options.layerErrorThreshold,
                  Int8Layer.allowsSixteenBitActivations(conv, shape: node.shape) else { continue }
            #expect(entry.precision != .int8, "\(node.name)")
            #expect(entry.sixteenBitSensitivity != nil, "\(node.name): 16-bit error not measured")
        }
        for name in table.w8a16Layers {
            let entry = table.layers[name]!
            #expect(entry.sixteenBitSensitivity! <= options.layerErrorThreshold || entry.reason?.contains("budget") == true)
        }

        // JSON round trip, then load the fp32 graph as int8.
        let path = FileManager.default.temporaryDirectory.path + "/sentei-int8-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try table.write(path: path)
        let loaded = try QuantizationTable.load(path: path)
        #expect(loaded == table)
        let fp32 = try Model(path: Self.modelPath, options: .init(threads: 1))
        let int8 = try Model(path: Self.modelPath, options: .init(threads: 2, quantization: loaded))
        #expect(int8.int8Summary?.contains("\(table.int8Layers.count + table.w8a16Layers.count) of") == true)

        // Held-out frames: per-channel normalised error small, and the confident scores agree.
        let error = try OutputError(graph: Pipeline.optimize(try importYOLOX()), frames: try Self.frames(100..<102), threads: 2)
        let heldOut = try error.measure(loaded)
        #expect(heldOut < 0.1, "held-out output error \(heldOut)")
        for frame in try Self.frames(100..<102) {
            let want = try fp32.run([frame])[0].data, got = try int8.run([frame])[0].data
            var confident = 0, agree = 0
            for anchor in 0..<(want.count / 85) {
                let score = want[anchor * 85 + 4] * (want[(anchor * 85 + 5)..<(anchor * 85 + 85)].max() ?? 0)
                guard score > 0.3 else { continue }
                confident += 1
                let q = got[anchor * 85 + 4] * (got[(anchor * 85 + 5)..<(anchor * 85 + 85)].max() ?? 0)
                if abs(q - score) < 0.1 { agree += 1 }
            }
            #expect(confident > 0 && agree * 10 >= confident * 9, "\(agree) of \(confident) confident anchors agree")
        }
        // The reference mode runs the scalar int8 definition for the same layers: same result within float noise.
        let reference = try Model(path: Self.modelPath, options: .init(threads: 1, useReferenceKernels: true, quantization: loaded))
        let frame = try Self.frames(100..<101)[0]
        let a = try int8.run([frame])[0].data, b = try reference.run([frame])[0].data, f = try fp32.run([frame])[0].data
        // Each int8 conv equals the scalar definition exactly (Int8ConvTests); across the whole model the fp32 layers
        // between them (SIMD here, double-accumulating reference there) flip u8 roundings, so the two int8 models are
        // compared by how far each lands from fp32, and by their distance relative to the output's size.
        func rms(_ x: [Float], _ y: [Float]) -> Float {
            (zip(x, y).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Float(max(1, x.count))).squareRoot()
        }
        let kernelsError = rms(a, f), referenceError = rms(b, f), scale = rms(f, [Float](repeating: 0, count: f.count))
        #expect(kernelsError <= 1.5 * referenceError + 1e-4,
                "int8 kernels land \(kernelsError) from fp32 (rms), the scalar int8 definition \(referenceError)")
        #expect(rms(a, b) <= 0.2 * scale, "int8 kernels vs reference: rms difference \(rms(a, b)), output rms \(scale)")
    }

    @Test(.enabled(if: sharedRoot != nil, Comment(rawValue: sharedMissing)))
    func tablesThatDoNotFitTheModelAreRejectedByName() throws {
        let layer = LayerQuantization(precision: .int8, input: "images")
        var table = QuantizationTable(activations: [:], layers: ["no_such_conv": layer])
        #expect { try Model(path: Self.modelPath, options: .init(quantization: table)) } throws: {
            ($0 as? EngineError)?.code == .invalidQuantization && "\($0)".contains("no_such_conv")
        }
        // A real conv whose input has no activation entry.
        let graph = Pipeline.optimize(try importYOLOX())
        let conv = graph.nodes.first { if case .conv(let c) = $0.op { return c.group == 1 } else { return false } }!
        table = QuantizationTable(activations: [:], layers: [conv.name: LayerQuantization(precision: .int8, input: graph[conv.inputs[0]].name)])
        #expect { try Model(path: Self.modelPath, options: .init(quantization: table)) } throws: {
            ($0 as? EngineError)?.code == .invalidQuantization && "\($0)".contains("no activations entry")
        }
        // Garbage JSON names the file.
        let path = FileManager.default.temporaryDirectory.path + "/sentei-bad-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("{\"version\": 1}".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try QuantizationTable.load(path: path) } throws: {
            ($0 as? EngineError)?.code == .invalidQuantization && "\($0)".contains(path)
        }
    }

    func importYOLOX() throws -> Graph {
        let bytes = [UInt8](FileManager.default.contents(atPath: Self.modelPath)!)
        return try ONNXImporter.importModel(try readONNXModel(bytes: bytes, source: "yolox_nano.onnx"), source: "yolox_nano.onnx", inputShapes: [:])
    }
}
