import Foundation
import Testing
@testable import SenteiEngine

/// Shared data: `$SENTEI_SHARED`, or `../shared` beside the package root; nil (tests skip) when absent.
let engineSharedDirectory: String? = {
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let root = ProcessInfo.processInfo.environment["SENTEI_SHARED"] ?? packageRoot + "/../shared"
    return FileManager.default.fileExists(atPath: root + "/models/yolox_nano.onnx") ? root : nil
}()

/// Builds small ONNX graphs in memory (no protobuf) for importer and runtime tests.
struct ONNXGraphBuilder {
    var nodes: [ONNXNode] = []
    var initializers: [ONNXTensor] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    var opset: Int64 = 13

    mutating func input(_ name: String, _ shape: [Int]) {
        inputs.append(ONNXValueInfo(name: name, elemType: .float, shape: shape.map { .value($0) }))
    }

    mutating func output(_ name: String) {
        outputs.append(ONNXValueInfo(name: name, elemType: .float, shape: []))
    }

    mutating func floats(_ name: String, _ dims: [Int], _ values: [Float]) throws {
        initializers.append(try ONNXTensor(name: name, dims: dims, dataType: .float, storage: .floatData(values), source: "test"))
    }

    mutating func ints(_ name: String, _ values: [Int64]) throws {
        initializers.append(try ONNXTensor(name: name, dims: [values.count], dataType: .int64, storage: .int64Data(values), source: "test"))
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [String: ONNXAttributeValue] = [:]) {
        let attrs = attributes.sorted { $0.key < $1.key }.map { ONNXAttribute(name: $0.key, value: $0.value) }
        nodes.append(ONNXNode(name: "\(op)_\(nodes.count)", opType: op, inputs: inputs, outputs: outputs, attributes: attrs, source: "test"))
    }

    var model: ONNXModel {
        ONNXModel(irVersion: 8, producerName: "test", opsetImports: [ONNXOpsetImport(domain: "", version: opset)],
                  graph: ONNXGraph(name: "g", nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs, valueInfo: []))
    }

    func graph(inputShapes: [String: [Int]] = [:]) throws -> Graph {
        try ONNXImporter.importModel(model, source: "test.onnx", inputShapes: inputShapes)
    }
}

/// Deterministic pseudo-random floats in [-1, 1).
func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    let scale = max(b.map { abs($0) }.max() ?? 0, 1e-6)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

/// Runs `graph` through the optimised kernels of every ISA this CPU has and through the scalar reference,
/// and returns the worst relative error over all outputs.
func fastVersusReference(_ graph: Graph, threads: [Int] = [1, 2, 3]) throws -> Float {
    let optimized = Pipeline.optimize(graph)
    let inputs = optimized.inputs.enumerated().map { i, id in
        Tensor(shape: optimized[id].shape, data: randomFloats(optimized[id].elementCount, seed: UInt64(i + 1)))
    }
    let reference = try Model(graph: graph, options: .init(threads: 1, useReferenceKernels: true)).run(inputs)
    var worst: Float = 0
    for isa in KernelISA.supported {
        for t in threads {
            let outputs = try Model(graph: optimized, options: .init(threads: t, isa: isa)).run(inputs)
            for (o, r) in zip(outputs, reference) {
                #expect(o.shape == r.shape)
                worst = max(worst, maxRelativeError(o.data, r.data))
            }
        }
    }
    return worst
}
