import Foundation
import Testing
@testable import SenteiEngine

@Suite struct CompactModelTests {
    /// Every op the compact format stores, in one small graph with two outputs.
    static func allOpsGraph() -> Graph {
        var g = Graph()
        var seed: UInt64 = 1
        func values(_ count: Int, _ scale: Float = 0.5) -> [Float] {
            seed += 1
            return randomFloats(count, seed: seed).map { $0 * scale }
        }
        func conv(_ out: Int, _ cin: Int, kernel: Int, group: Int = 1, residual: Bool = false) -> Conv {
            var c = Conv(outChannels: out, inChannels: cin, group: group, kernel: (kernel, kernel), stride: (1, 1), dilation: (1, 1),
                         pads: (kernel / 2, kernel / 2, kernel / 2, kernel / 2), weights: values(out * cin / group * kernel * kernel),
                         bias: values(out, 0.1))
            c.activation = .silu
            c.hasResidual = residual
            return c
        }
        let x = g.add(.input("x"), [], shape: [1, 3, 8, 8], name: "x")
        g.inputs = [x]
        let a = g.add(.conv(conv(8, 3, kernel: 3)), [x], shape: [1, 8, 8, 8], name: "stem")
        let dw = g.add(.conv(conv(8, 8, kernel: 3, group: 8, residual: true)), [a, a], shape: [1, 8, 8, 8], name: "dw_res")
        let affine = g.add(.channelAffine(scale: values(8), shift: values(8)), [dw], shape: [1, 8, 8, 8], name: "bn")
        let pool = g.add(.maxPool(Pool(kernel: (2, 2), stride: (2, 2), dilation: (1, 1), pads: (0, 0, 0, 0))), [affine],
                         shape: [1, 8, 4, 4], name: "pool")
        let up = g.add(.resizeNearest(sourceIndex: [[0], Array(0..<8), (0..<8).map { $0 / 2 }, (0..<8).map { $0 / 2 }]), [pool],
                       shape: [1, 8, 8, 8], name: "up")
        let cat = g.add(.concat(axis: 1), [up, a], shape: [1, 16, 8, 8], name: "cat")
        let slice = g.add(.slice(starts: [0, 2, 0, 0], steps: [1, 1, 1, 1]), [cat], shape: [1, 12, 8, 8], name: "slice")
        let sig = g.add(.unary(.sigmoid), [slice], shape: [1, 12, 8, 8], name: "sig")
        let gain = g.add(.constant(ConstantData(values: .float(values(12)))), [], shape: [1, 12, 1, 1], name: "gain")
        let mul = g.add(.binary(.mul), [sig, gain], shape: [1, 12, 8, 8], name: "mul")
        let flat = g.add(.reshape, [mul], shape: [1, 12, 64], name: "flat")
        let t = g.add(.transpose(perm: [0, 2, 1]), [flat], shape: [1, 64, 12], name: "t")
        let soft = g.add(.softmax(axis: 2), [t], shape: [1, 64, 12], name: "soft")
        let w = g.add(.constant(ConstantData(values: .float(values(12 * 5)))), [], shape: [12, 5], name: "w")
        let mm = g.add(.matMul, [soft, w], shape: [1, 64, 5], name: "mm")
        let picked = g.add(.gather(axis: 2, indices: [4, 0, 2], indexShape: [3]), [mm], shape: [1, 64, 3], name: "pick")
        _ = g.add(.constant(ConstantData(values: .int([1, 64, 3]))), [], shape: [3], name: "unused_int_constant")
        g.outputs = [(name: "scores", node: picked), (name: "features", node: dw)]
        return g
    }

    static let input = Tensor(shape: [1, 3, 8, 8], data: randomFloats(192, seed: 99))

    func expectSameOutputs(_ a: Model, _ b: Model, _ input: Tensor) throws {
        let (x, y) = (try a.run([input]), try b.run([input]))
        #expect(x.count == y.count)
        for (p, q) in zip(x, y) {
            #expect(p.shape == q.shape)
            #expect(p.data == q.data)
        }
    }

    @Test func roundTripsEveryOp() throws {
        let graph = Self.allOpsGraph()
        try CompactModelVerifier.verify(graph, source: "all-ops")
        let bytes = CompactModel.encode(graph, source: "all-ops")
        #expect(CompactModel.hasMagic(bytes))
        let decoded = try CompactModel.decode(bytes, source: "all-ops.sntm")
        #expect(CompactModel.encode(decoded, source: "all-ops") == bytes)
        #expect(decoded.nodes.map(\.name) == graph.nodes.map(\.name))
        let direct = Model(graph: graph, options: .init(threads: 1))
        let loaded = try Model(compact: bytes, source: "all-ops.sntm", options: .init(threads: 1))
        try expectSameOutputs(direct, loaded, Self.input)
        #expect(loaded.outputs.map(\.name) == ["scores", "features"])
    }

    /// The shared YOLOX-Nano through ONNX and through a compact file give identical outputs, and `Model(path:)`
    /// recognises the compact file by its magic.
    @Test func yoloxFromCompactFileMatchesONNX() throws {
        guard let shared = engineSharedDirectory else {
            print("skipping: ../shared/models/yolox_nano.onnx not found (set SENTEI_SHARED)")
            return
        }
        let options = Model.Options(threads: 1, inputShapes: ["images": [1, 3, 160, 160]])
        let onnx = try Model(path: shared + "/models/yolox_nano.onnx", options: options)
        let graph = Pipeline.optimize(try ONNXImporter.importModel(try readONNXModel(path: shared + "/models/yolox_nano.onnx"),
                                                                   source: "yolox_nano.onnx", inputShapes: options.inputShapes))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("yolox-compact-\(getpid()).sntm").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Model.writeCompact(graph, source: "yolox_nano.onnx", to: path)
        let compact = try Model(path: path, options: .init(threads: 1))
        #expect(compact.inputs == onnx.inputs)
        #expect(compact.outputs == onnx.outputs)
        #expect(compact.totalMACs == onnx.totalMACs)
        let input = Tensor(shape: [1, 3, 160, 160], data: randomFloats(3 * 160 * 160, seed: 5).map { abs($0) * 255 })
        try expectSameOutputs(onnx, compact, input)
        // Input shapes are baked in: the same shape is accepted, another is refused with a clear error.
        _ = try Model(path: path, options: .init(threads: 1, inputShapes: ["images": [1, 3, 160, 160]]))
        #expect(throws: EngineError.self) { try Model(path: path, options: .init(threads: 1, inputShapes: ["images": [1, 3, 224, 224]])) }
    }

    func decodeError(_ bytes: [UInt8]) -> EngineError? {
        do {
            _ = try CompactModel.decode(bytes, source: "bad.sntm")
            return nil
        } catch {
            return error as? EngineError
        }
    }

    /// Rewrites the header's payload length so the payload parser (not the length check) meets the truncation.
    func withLength(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        var copy = bytes
        withUnsafeBytes(of: UInt64(length).littleEndian) { copy.replaceSubrange(16..<24, with: $0) }
        return copy
    }

    @Test func truncationIsAClearErrorAtEveryLength() throws {
        let bytes = CompactModel.encode(Self.allOpsGraph(), source: "all-ops")
        for cut in 0..<bytes.count {
            let prefix = Array(bytes[..<cut])
            let plain = decodeError(prefix)
            #expect(plain?.code == .malformedModel, "cut \(cut)")
            if cut >= CompactModel.headerBytes {
                let error = decodeError(withLength(prefix, cut - CompactModel.headerBytes))
                #expect(error != nil, "cut \(cut) decoded")
                #expect(error?.description.hasPrefix("bad.sntm: ") == true)
            }
        }
        #expect(decodeError(bytes + [0])?.code == .malformedModel)
        #expect(decodeError(withLength(bytes + [0, 0], bytes.count - CompactModel.headerBytes + 2))?.description.contains("stray") == true)
    }

    @Test func hostileHeadersAndCountsAreRefused() throws {
        let bytes = CompactModel.encode(Self.allOpsGraph(), source: "all-ops")
        var badMagic = bytes
        badMagic[0] = 0x4F
        #expect(decodeError(badMagic)?.description.contains("bad magic") == true)
        var badVersion = bytes
        badVersion[8] = 9
        #expect(decodeError(badVersion)?.description.contains("version 9") == true)
        var flags = bytes
        flags[12] = 1
        #expect(decodeError(flags)?.code == .malformedModel)
        // Node count (after the source string "all-ops": 24 + 4 + 7 bytes) set to 2^32 − 1: refused before any
        // allocation, naming the field.
        var count = bytes
        count.replaceSubrange(35..<39, with: [0xFF, 0xFF, 0xFF, 0xFF])
        let error = decodeError(count)
        #expect(error?.code == .malformedModel)
        #expect(error?.description.contains("node count") == true)
        // Not a compact model at all: Model(path:) falls through to the ONNX reader, which names the file.
        #expect(!CompactModel.hasMagic([UInt8]("hello".utf8)))
    }

    @Test func inconsistentShapesAndEdgesNameTheNode() throws {
        var graph = Self.allOpsGraph()
        graph.nodes[1].shape = [1, 8, 9, 8]  // the stem conv claims a taller output than its window gives
        let shapeError = decodeError(CompactModel.encode(graph, source: "x"))
        #expect(shapeError?.code == .shapeMismatch)
        #expect(shapeError?.description.contains("'stem'") == true)

        graph = Self.allOpsGraph()
        if case .slice = graph.nodes[7].op { graph.nodes[7].op = .slice(starts: [0, 6, 0, 0], steps: [1, 1, 1, 1]) }
        #expect(decodeError(CompactModel.encode(graph, source: "x"))?.description.contains("'slice'") == true)

        graph = Self.allOpsGraph()
        graph.nodes[1].inputs = [NodeID(5)]  // reads a node that comes later
        #expect(decodeError(CompactModel.encode(graph, source: "x"))?.code == .danglingEdge)

        graph = Self.allOpsGraph()
        if case .gather(let axis, _, let shape) = graph.nodes[16].op { graph.nodes[16].op = .gather(axis: axis, indices: [4, 0, 5], indexShape: shape) }
        #expect(decodeError(CompactModel.encode(graph, source: "x"))?.code == .shapeMismatch)

        graph = Self.allOpsGraph()
        if case .conv(var c) = graph.nodes[1].op {
            c.weights.removeLast()
            graph.nodes[1].op = .conv(c)
        }
        #expect(decodeError(CompactModel.encode(graph, source: "x"))?.description.contains("weights") == true)
    }

    /// Deterministic byte flips: every mutant either fails with an EngineError or is a graph that compiles and
    /// runs (a flipped weight is still a valid model); nothing crashes.
    @Test func flippedBytesNeverCrash() throws {
        let bytes = CompactModel.encode(Self.allOpsGraph(), source: "all-ops")
        var state: UInt64 = 12345
        var accepted = 0
        for _ in 0..<1500 {
            var mutant = bytes
            for _ in 0..<2 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let position = Int(state >> 33) % (mutant.count - CompactModel.headerBytes) + CompactModel.headerBytes
                mutant[position] ^= UInt8(truncatingIfNeeded: state >> 17) | 1
            }
            guard let graph = try? CompactModel.decode(mutant, source: "mutant") else { continue }
            accepted += 1
            let model = Model(graph: graph, options: .init(threads: 1))
            if model.inputs.count == 1 {
                let input = Tensor(shape: model.inputs[0].shape, data: [Float](repeating: 0.5, count: model.inputs[0].shape.reduce(1, *)))
                _ = try? model.run([input])
            }
        }
        #expect(accepted > 0)
    }
}
