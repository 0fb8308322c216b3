// libFuzzer entry point for the ONNX reader, compiled together with the reader sources by scripts/fuzz-onnx.sh
// (not part of the SwiftPM package). Every input is decoded both as a ModelProto and as a bare TensorProto, and
// whatever decodes is pushed through the accessors an importer would call. Thrown errors are the expected outcome
// for most inputs; only a trap, a sanitizer report or a timeout is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    if let model = try? readONNXModel(bytes: bytes, source: "fuzz.onnx") {
        _ = model.opsetVersion()
        for tensor in model.graph.initializers { readValues(of: tensor) }
        for node in model.graph.nodes { readAttributes(of: node) }
    }
    if let tensor = try? readONNXTensor(bytes: bytes, source: "fuzz.pb") { readValues(of: tensor) }
    return 0
}

private func readValues(of tensor: ONNXTensor) {
    if let values = try? tensor.floats() { precondition(values.count == tensor.elementCount) }
    if let values = try? tensor.int64s() { precondition(values.count == tensor.elementCount) }
}

private func readAttributes(of node: ONNXNode) {
    for attribute in node.attributes {
        _ = try? node.int(attribute.name)
        _ = try? node.ints(attribute.name)
        _ = try? node.float(attribute.name)
        _ = try? node.floats(attribute.name)
        _ = try? node.string(attribute.name)
        _ = try? node.strings(attribute.name)
        if let tensor = try? node.tensor(attribute.name) { readValues(of: tensor) }
    }
}
