// Typed attribute getters for importers. ONNX fixes each attribute's type per op, so a different type is a broken
// model, reported with the file, node and attribute; an absent attribute gives nil or the caller's default.

extension ONNXNode {
    package func attribute(named name: String) -> ONNXAttribute? {
        attributes.first { $0.name == name }
    }

    package func int(_ name: String) throws -> Int64? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .int(let number) = value else { throw wrongType(name, value, expected: "INT") }
        return number
    }

    package func int(_ name: String, default defaultValue: Int64) throws -> Int64 {
        try int(name) ?? defaultValue
    }

    package func ints(_ name: String) throws -> [Int64]? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .ints(let numbers) = value else { throw wrongType(name, value, expected: "INTS") }
        return numbers
    }

    package func float(_ name: String) throws -> Float? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .float(let number) = value else { throw wrongType(name, value, expected: "FLOAT") }
        return number
    }

    package func float(_ name: String, default defaultValue: Float) throws -> Float {
        try float(name) ?? defaultValue
    }

    package func floats(_ name: String) throws -> [Float]? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .floats(let numbers) = value else { throw wrongType(name, value, expected: "FLOATS") }
        return numbers
    }

    package func string(_ name: String) throws -> String? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .string(let text) = value else { throw wrongType(name, value, expected: "STRING") }
        return text
    }

    package func string(_ name: String, default defaultValue: String) throws -> String {
        try string(name) ?? defaultValue
    }

    package func strings(_ name: String) throws -> [String]? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .strings(let texts) = value else { throw wrongType(name, value, expected: "STRINGS") }
        return texts
    }

    package func tensor(_ name: String) throws -> ONNXTensor? {
        guard let value = attribute(named: name)?.value else { return nil }
        guard case .tensor(let tensor) = value else { throw wrongType(name, value, expected: "TENSOR") }
        return tensor
    }

    /// "'conv1' (Conv)" — how errors name this node.
    package var label: String { "'\(name)' (\(domain.isEmpty ? opType : domain + "." + opType))" }

    private func wrongType(_ attribute: String, _ value: ONNXAttributeValue, expected: String) -> EngineError {
        EngineError(
            .malformedModel,
            "\(source): node \(label): attribute '\(attribute)' is \(value.typeName), expected \(expected)")
    }
}
