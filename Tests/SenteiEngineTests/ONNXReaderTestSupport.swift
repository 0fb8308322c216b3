@testable import SenteiEngine

/// Builds protobuf bytes field by field, so reader tests can state exactly which encoding they feed in
/// (packed or not, which wire type, which length) instead of trusting a second encoder.
struct ProtoBytes {
    var bytes: [UInt8] = []

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    func raw(_ extra: [UInt8]) -> ProtoBytes { ProtoBytes(bytes: bytes + extra) }
    func key(_ field: Int, _ wireType: UInt8) -> ProtoBytes { raw(Self.varint(UInt64(field) << 3 | UInt64(wireType))) }
    func int(_ field: Int, _ value: Int64) -> ProtoBytes { key(field, 0).raw(Self.varint(UInt64(bitPattern: value))) }
    func fixed32(_ field: Int, _ value: UInt32) -> ProtoBytes {
        key(field, 5).raw(withUnsafeBytes(of: value.littleEndian, Array.init))
    }
    func float(_ field: Int, _ value: Float) -> ProtoBytes { fixed32(field, value.bitPattern) }
    func fixed64(_ field: Int, _ value: UInt64) -> ProtoBytes {
        key(field, 1).raw(withUnsafeBytes(of: value.littleEndian, Array.init))
    }
    func data(_ field: Int, _ payload: [UInt8]) -> ProtoBytes {
        key(field, 2).raw(Self.varint(UInt64(payload.count))).raw(payload)
    }
    func string(_ field: Int, _ text: String) -> ProtoBytes { data(field, Array(text.utf8)) }
    func message(_ field: Int, _ inner: ProtoBytes) -> ProtoBytes { data(field, inner.bytes) }
    func packedInts(_ field: Int, _ values: [Int64]) -> ProtoBytes {
        data(field, values.flatMap { Self.varint(UInt64(bitPattern: $0)) })
    }
    func packedFloats(_ field: Int, _ values: [Float]) -> ProtoBytes {
        data(field, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }
    func packedDoubles(_ field: Int, _ values: [Double]) -> ProtoBytes {
        data(field, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }
}

/// onnx.proto field numbers used by the tests, so the byte builders read like the schema.
enum ONNXField {
    enum Model { static let irVersion = 1, producerName = 2, graph = 7, opsetImport = 8 }
    enum Graph { static let node = 1, name = 2, initializer = 5, input = 11, output = 12, sparseInitializer = 15 }
    enum Node { static let input = 1, output = 2, name = 3, opType = 4, attribute = 5, domain = 7 }
    enum Attribute {
        static let name = 1, f = 2, i = 3, s = 4, t = 5, g = 6, floats = 7, ints = 8, strings = 9, tensors = 10
        static let type = 20
    }
    enum Tensor {
        static let dims = 1, dataType = 2, floatData = 4, int32Data = 5, int64Data = 7, name = 8, rawData = 9
        static let doubleData = 10, uint64Data = 11, externalData = 13, dataLocation = 14
    }
}

/// A minimal valid model around `graph`: ir_version 8, opset 13.
func modelBytes(graph: ProtoBytes) -> [UInt8] {
    ProtoBytes().int(ONNXField.Model.irVersion, 8).message(ONNXField.Model.graph, graph)
        .message(ONNXField.Model.opsetImport, ProtoBytes().int(2, 13)).bytes
}

/// A graph with one node carrying `attributes` (already-encoded AttributeProtos).
func singleNodeGraph(opType: String = "Op", name: String = "n0", attributes: [ProtoBytes]) -> ProtoBytes {
    var node = ProtoBytes().string(ONNXField.Node.input, "x").string(ONNXField.Node.output, "y")
        .string(ONNXField.Node.name, name).string(ONNXField.Node.opType, opType)
    for attribute in attributes { node = node.message(ONNXField.Node.attribute, attribute) }
    return ProtoBytes().message(ONNXField.Graph.node, node).string(ONNXField.Graph.name, "g")
}

/// A graph holding only `tensor` as its initializer.
func initializerGraph(_ tensor: ProtoBytes) -> ProtoBytes {
    ProtoBytes().message(ONNXField.Graph.initializer, tensor)
}

func readSingleNode(_ attributes: [ProtoBytes], source: String = "t.onnx") throws -> ONNXNode {
    try readONNXModel(bytes: modelBytes(graph: singleNodeGraph(attributes: attributes)), source: source).graph.nodes[0]
}

func readInitializer(_ tensor: ProtoBytes) throws -> ONNXTensor {
    try readONNXModel(bytes: modelBytes(graph: initializerGraph(tensor)), source: "t.onnx").graph.initializers[0]
}

func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace }.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { index in
        UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)!
    }
}

/// Runs `body` and returns the EngineError it throws, or nil if it throws nothing (or something else).
func engineError(_ body: () throws -> Void) -> EngineError? {
    do {
        try body()
        return nil
    } catch let error as EngineError {
        return error
    } catch {
        return nil
    }
}

/// The shared models directory: `$SENTEI_SHARED/models`, or `../shared/models` next to the package root.
func sharedModelPath(_ name: String) -> String? {
    var root: String
    if let shared = getenvString("SENTEI_SHARED") {
        root = shared
    } else {
        // #filePath is <package>/Tests/SenteiEngineTests/<file>.swift.
        let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        root = parts.joined(separator: "/") + "/../shared"
    }
    let path = root + "/models/" + name
    return fileExists(path) ? path : nil
}
