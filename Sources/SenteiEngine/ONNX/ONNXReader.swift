// Decoders for the subset of onnx.proto (IR version 3 and later) the engine uses. Field numbers are onnx.proto's;
// every other field is skipped whatever its wire type. Each decoder checks wire types against the schema, so a
// file that is protobuf but not ONNX fails at the first field that disagrees.

/// Decodes an ONNX model. `source` (usually the file name) starts every error message.
package func readONNXModel(bytes: [UInt8], source: String) throws -> ONNXModel {
    try bytes.withUnsafeBytes { buffer in
        try checkLooksLikeONNXModel(buffer, source: source)
        var reader = ProtoWireReader(bytes: buffer, source: source, root: "ModelProto")
        return try decodeModel(&reader)
    }
}

/// Reads and decodes the ONNX model at `path`; errors name the file's last path component.
package func readONNXModel(path: String) throws -> ONNXModel {
    let bytes = try readWholeFile(path: path)
    return try readONNXModel(bytes: bytes, source: fileName(of: path))
}

/// Decodes a bare `TensorProto`, as in the ONNX backend test data (`input_0.pb`, `output_0.pb`).
package func readONNXTensor(bytes: [UInt8], source: String) throws -> ONNXTensor {
    try bytes.withUnsafeBytes { buffer in
        var reader = ProtoWireReader(bytes: buffer, source: source, root: "TensorProto")
        return try decodeTensor(&reader)
    }
}

func fileName(of path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

// MARK: Recognising non-models

/// Field numbers and wire types a `ModelProto` may start with. Exporters write fields in number order, so the
/// first is almost always ir_version (key byte 0x08); anything outside this set is not an ONNX model.
private let modelFieldWireTypes: [Int: ProtoWireType] = [
    1: .varint, 2: .lengthDelimited, 3: .lengthDelimited, 4: .lengthDelimited, 5: .varint, 6: .lengthDelimited,
    7: .lengthDelimited, 8: .lengthDelimited, 14: .lengthDelimited, 20: .lengthDelimited, 25: .lengthDelimited,
]

/// Well-known formats people hand to a model loader by mistake, by their leading bytes.
private let knownFormats: [(magic: [UInt8], name: String)] = [
    ([0xFF, 0xD8, 0xFF], "a JPEG image"),
    ([0x89, 0x50, 0x4E, 0x47], "a PNG image"),
    ([0x50, 0x4B, 0x03, 0x04], "a ZIP archive (a PyTorch checkpoint?)"),
    ([0x1F, 0x8B], "a gzip file"),
    ([0x7F, 0x45, 0x4C, 0x46], "an ELF binary"),
]

private func checkLooksLikeONNXModel(_ bytes: UnsafeRawBufferPointer, source: String) throws {
    guard !bytes.isEmpty else { throw EngineError(.malformedModel, "\(source): empty file, not an ONNX model") }
    for format in knownFormats where bytes.starts(with: format.magic) {
        throw EngineError(.malformedModel, "\(source): not an ONNX model (this is \(format.name))")
    }
    var reader = ProtoWireReader(bytes: bytes, source: source, root: "ModelProto")
    let field = try? reader.nextField()
    guard let field, modelFieldWireTypes[field.number] == field.wireType else {
        let head = bytes.prefix(8).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }
        throw EngineError(
            .malformedModel, "\(source): not an ONNX model (starts with bytes \(head.joined(separator: " ")))")
    }
}

// MARK: Messages

private func decodeModel(_ reader: inout ProtoWireReader) throws -> ONNXModel {
    var irVersion: Int64?
    var producerName = ""
    var opsetImports: [ONNXOpsetImport] = []
    var graph: ONNXGraph?
    while let field = try reader.nextField() {
        switch field.number {
        case 1: irVersion = try reader.int64(field, "ir_version")
        case 2: producerName = try reader.string(field, "producer_name")
        case 7:
            guard graph == nil else { throw reader.malformed("graph appears twice") }
            graph = try reader.message(field, "graph", decodeGraph)
        case 8:
            opsetImports.append(try reader.message(field, "opset_import", index: opsetImports.count, decodeOpsetImport))
        default: try reader.skip(field)
        }
    }
    guard let graph else { throw reader.failure(.malformedModel, "no graph: not an ONNX model, or a truncated one") }
    guard let irVersion else { throw reader.failure(.malformedModel, "no ir_version: not an ONNX model") }
    guard !opsetImports.isEmpty else {
        throw reader.failure(
            .malformedModel, "no opset_import (IR version \(irVersion)); models before IR version 3 are not supported")
    }
    return ONNXModel(irVersion: irVersion, producerName: producerName, opsetImports: opsetImports, graph: graph)
}

private func decodeOpsetImport(_ reader: inout ProtoWireReader) throws -> ONNXOpsetImport {
    var opset = ONNXOpsetImport(domain: "", version: 0)
    while let field = try reader.nextField() {
        switch field.number {
        case 1: opset.domain = try reader.string(field, "domain")
        case 2: opset.version = try reader.int64(field, "version")
        default: try reader.skip(field)
        }
    }
    return opset
}

private func decodeGraph(_ reader: inout ProtoWireReader) throws -> ONNXGraph {
    var graph = ONNXGraph(name: "", nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [])
    while let field = try reader.nextField() {
        switch field.number {
        case 1: graph.nodes.append(try reader.message(field, "node", index: graph.nodes.count, decodeNode))
        case 2: graph.name = try reader.string(field, "name")
        case 5:
            graph.initializers.append(
                try reader.message(field, "initializer", index: graph.initializers.count, decodeTensor))
        case 11: graph.inputs.append(try reader.message(field, "input", index: graph.inputs.count, decodeValueInfo))
        case 12: graph.outputs.append(try reader.message(field, "output", index: graph.outputs.count, decodeValueInfo))
        case 13:
            graph.valueInfo.append(
                try reader.message(field, "value_info", index: graph.valueInfo.count, decodeValueInfo))
        case 15:
            let name = try reader.message(field, "sparse_initializer", index: 0, decodeSparseTensorName)
            throw reader.failure(
                .unsupportedData, "sparse initializer '\(name)' is not supported; store it as a dense initializer")
        default: try reader.skip(field)
        }
    }
    return graph
}

/// Only the name of a `SparseTensorProto` (values.name), so its refusal can say which one.
private func decodeSparseTensorName(_ reader: inout ProtoWireReader) throws -> String {
    var name = ""
    while let field = try reader.nextField() {
        if field.number == 1 {
            name = try reader.message(field, "values") { values in
                var valuesName = ""
                while let valuesField = try values.nextField() {
                    if valuesField.number == 8 {
                        valuesName = try values.string(valuesField, "name")
                    } else {
                        try values.skip(valuesField)
                    }
                }
                return valuesName
            }
        } else {
            try reader.skip(field)
        }
    }
    return name
}

private func decodeNode(_ reader: inout ProtoWireReader) throws -> ONNXNode {
    var node = ONNXNode(name: "", opType: "", inputs: [], outputs: [], source: reader.source)
    while let field = try reader.nextField() {
        switch field.number {
        case 1: node.inputs.append(try reader.string(field, "input"))
        case 2: node.outputs.append(try reader.string(field, "output"))
        case 3: node.name = try reader.string(field, "name")
        case 4: node.opType = try reader.string(field, "op_type")
        case 5:
            node.attributes.append(
                try reader.message(field, "attribute", index: node.attributes.count, decodeAttribute))
        case 7: node.domain = try reader.string(field, "domain")
        default: try reader.skip(field)
        }
    }
    guard !node.opType.isEmpty else { throw reader.failure(.malformedModel, "node '\(node.name)' has no op_type") }
    return node
}

/// `AttributeProto.AttributeType` numbers, and the field each type's value lives in.
private enum AttributeKind: Int32 {
    case float = 1
    case int = 2
    case string = 3
    case tensor = 4
    case graph = 5
    case floats = 6
    case ints = 7
    case strings = 8
    case tensors = 9
    case graphs = 10
    case sparseTensor = 11
    case sparseTensors = 12
    case typeProto = 13
    case typeProtos = 14

    init?(valueField: Int) {
        switch valueField {
        case 2: self = .float
        case 3: self = .int
        case 4: self = .string
        case 5: self = .tensor
        case 6: self = .graph
        case 7: self = .floats
        case 8: self = .ints
        case 9: self = .strings
        case 10: self = .tensors
        case 11: self = .graphs
        case 22: self = .sparseTensor
        case 23: self = .sparseTensors
        case 14: self = .typeProto
        case 15: self = .typeProtos
        default: return nil
        }
    }

    var typeName: String { String(describing: self).uppercased() }
}

private func decodeAttribute(_ reader: inout ProtoWireReader) throws -> ONNXAttribute {
    var name = ""
    var declaredType: Int32 = 0
    // Which value fields appeared: checked against `type` afterwards, since old exporters leave `type` unset and
    // the populated field is then the only way to tell.
    var populated: [AttributeKind] = []
    var floatValue: Float = 0
    var intValue: Int64 = 0
    var stringValue = ""
    var tensorValue: ONNXTensor?
    var floats: [Float] = []
    var ints: [Int64] = []
    var strings: [String] = []
    while let field = try reader.nextField() {
        if let kind = AttributeKind(valueField: field.number), !populated.contains(kind) { populated.append(kind) }
        switch field.number {
        case 1: name = try reader.string(field, "name")
        case 20: declaredType = try reader.int32(field, "type")
        case 2: floatValue = try reader.float(field, "f")
        case 3: intValue = try reader.int64(field, "i")
        case 4: stringValue = try reader.string(field, "s")
        case 5: tensorValue = try reader.message(field, "t", decodeTensor)
        case 7: try reader.appendFixed32s(field, "floats", to: &floats) { Float(bitPattern: $0) }
        case 8: try reader.appendVarints(field, "ints", to: &ints) { Int64(bitPattern: $0) }
        case 9: strings.append(try reader.string(field, "strings"))
        default: try reader.skip(field)  // graphs, tensor lists, sparse tensors and type protos: kept by kind only
        }
    }
    let kind: AttributeKind
    if declaredType != 0 {
        guard let declared = AttributeKind(rawValue: declaredType) else {
            throw reader.failure(.malformedModel, "attribute '\(name)' has unknown type \(declaredType)")
        }
        if let other = populated.first(where: { $0 != declared }) {
            throw reader.failure(
                .malformedModel, "attribute '\(name)' has type \(declared.typeName) but a \(other.typeName) value")
        }
        kind = declared
    } else {
        guard populated.count == 1, let only = populated.first else {
            let found = populated.isEmpty ? "none" : populated.map(\.typeName).joined(separator: ", ")
            throw reader.failure(
                .malformedModel, "attribute '\(name)' has no type and not exactly one value field (found: \(found))")
        }
        kind = only
    }
    let value: ONNXAttributeValue
    switch kind {
    case .float: value = .float(floatValue)
    case .int: value = .int(intValue)
    case .string: value = .string(stringValue)
    case .tensor:
        guard let tensorValue else {
            throw reader.failure(.malformedModel, "attribute '\(name)' of type TENSOR has no t")
        }
        value = .tensor(tensorValue)
    case .floats: value = .floats(floats)
    case .ints: value = .ints(ints)
    case .strings: value = .strings(strings)
    case .graph: value = .graph
    case .tensors, .graphs, .sparseTensor, .sparseTensors, .typeProto, .typeProtos: value = .unsupported(kind.typeName)
    }
    return ONNXAttribute(name: name, value: value)
}

func decodeTensor(_ reader: inout ProtoWireReader) throws -> ONNXTensor {
    var name = ""
    var dims: [Int64] = []
    var dataTypeNumber: Int32 = 0
    var raw: [UInt8]?
    var floatData: [Float] = []
    var int32Data: [Int32] = []
    var int64Data: [Int64] = []
    var doubleData: [Double] = []
    var uint64Data: [UInt64] = []
    var stringData: [[UInt8]] = []
    // Data fields that appeared, even empty: ONNX allows exactly one.
    var dataFields: [String] = []
    var isExternal = false
    var hasSegment = false
    while let field = try reader.nextField() {
        switch field.number {
        case 1: try reader.appendVarints(field, "dims", to: &dims) { Int64(bitPattern: $0) }
        case 2: dataTypeNumber = try reader.int32(field, "data_type")
        case 3:
            try reader.skip(field)
            hasSegment = true
        case 4:
            try reader.appendFixed32s(field, "float_data", to: &floatData) { Float(bitPattern: $0) }
            noteDataField("float_data", in: &dataFields)
        case 5:
            try reader.appendVarints(field, "int32_data", to: &int32Data) { Int32(truncatingIfNeeded: $0) }
            noteDataField("int32_data", in: &dataFields)
        case 6:
            stringData.append(try reader.byteArray(field, "string_data"))
            noteDataField("string_data", in: &dataFields)
        case 7:
            try reader.appendVarints(field, "int64_data", to: &int64Data) { Int64(bitPattern: $0) }
            noteDataField("int64_data", in: &dataFields)
        case 8: name = try reader.string(field, "name")
        case 9:
            raw = try reader.byteArray(field, "raw_data")
            noteDataField("raw_data", in: &dataFields)
        case 10:
            try reader.appendFixed64s(field, "double_data", to: &doubleData) { Double(bitPattern: $0) }
            noteDataField("double_data", in: &dataFields)
        case 11:
            try reader.appendVarints(field, "uint64_data", to: &uint64Data) { $0 }
            noteDataField("uint64_data", in: &dataFields)
        case 13:
            try reader.skip(field)
            isExternal = true
        case 14: isExternal = try reader.int32(field, "data_location") == 1 || isExternal
        default: try reader.skip(field)
        }
    }
    // Checked in this order so the most useful refusal wins: external data first, since such a tensor's dims and
    // type are fine and only the data is elsewhere.
    if isExternal {
        throw reader.failure(
            .externalData,
            "tensor '\(name)' keeps its data in an external file, which Sentei refuses; "
                + "re-export the model with the weights embedded")
    }
    if hasSegment { throw reader.failure(.unsupportedData, "tensor '\(name)' is split into segments") }
    guard let dataType = ONNXDataType(rawValue: dataTypeNumber), dataType != .undefined else {
        throw reader.failure(.malformedModel, "tensor '\(name)' has unknown data_type \(dataTypeNumber)")
    }
    var intDims: [Int] = []
    intDims.reserveCapacity(dims.count)
    for dim in dims {
        guard let value = Int(exactly: dim) else {
            throw reader.failure(.shapeMismatch, "tensor '\(name)' has dimension \(dim) out of range")
        }
        intDims.append(value)
    }
    guard dataFields.count <= 1 else {
        let names = dataFields.joined(separator: " and ")
        throw reader.failure(.malformedModel, "tensor '\(name)' has both \(names); ONNX allows one data field")
    }
    let storage: ONNXTensorStorage
    switch dataFields.first {
    case nil: storage = .none
    case "raw_data": storage = .raw(raw ?? [])
    case "float_data": storage = .floatData(floatData)
    case "int32_data": storage = .int32Data(int32Data)
    case "int64_data": storage = .int64Data(int64Data)
    case "double_data": storage = .doubleData(doubleData)
    case "uint64_data": storage = .uint64Data(uint64Data)
    default: storage = .stringData(stringData)
    }
    if let problem = ONNXTensor.dimsProblem(intDims) {
        throw reader.failure(.shapeMismatch, "tensor '\(name)' dims \(intDims): \(problem)")
    }
    return try ONNXTensor(name: name, dims: intDims, dataType: dataType, storage: storage, source: reader.source)
}

private func noteDataField(_ name: String, in fields: inout [String]) {
    if !fields.contains(name) { fields.append(name) }
}

private func decodeValueInfo(_ reader: inout ProtoWireReader) throws -> ONNXValueInfo {
    var info = ONNXValueInfo(name: "", elemType: nil, shape: [], hasShape: false)
    while let field = try reader.nextField() {
        switch field.number {
        case 1: info.name = try reader.string(field, "name")
        case 2: try reader.message(field, "type") { try decodeType(&$0, into: &info) }
        default: try reader.skip(field)
        }
    }
    return info
}

/// `TypeProto`: only `tensor_type` is read; sequence, map, optional and sparse types leave `elemType` nil.
private func decodeType(_ reader: inout ProtoWireReader, into info: inout ONNXValueInfo) throws {
    while let field = try reader.nextField() {
        guard field.number == 1 else {
            try reader.skip(field)
            continue
        }
        try reader.message(field, "tensor_type") { tensorType in
            while let tensorField = try tensorType.nextField() {
                switch tensorField.number {
                case 1:
                    let number = try tensorType.int32(tensorField, "elem_type")
                    guard let elemType = ONNXDataType(rawValue: number) else {
                        throw tensorType.failure(
                            .malformedModel, "value '\(info.name)' has unknown elem_type \(number)")
                    }
                    info.elemType = elemType == .undefined ? nil : elemType
                case 2:
                    info.hasShape = true
                    info.shape = try tensorType.message(tensorField, "shape", decodeShape)
                default: try tensorType.skip(tensorField)
                }
            }
        }
    }
}

private func decodeShape(_ reader: inout ProtoWireReader) throws -> [ONNXDim] {
    var dims: [ONNXDim] = []
    while let field = try reader.nextField() {
        guard field.number == 1 else {
            try reader.skip(field)
            continue
        }
        dims.append(try reader.message(field, "dim", index: dims.count, decodeDimension))
    }
    return dims
}

private func decodeDimension(_ reader: inout ProtoWireReader) throws -> ONNXDim {
    var dim = ONNXDim.unknown
    while let field = try reader.nextField() {
        switch field.number {
        case 1:
            let value = try reader.int64(field, "dim_value")
            // Some exporters write -1 for "dynamic"; ONNX means the same by leaving the dim unset.
            dim = value >= 0 ? .value(Int(value)) : .unknown
        case 2: dim = .param(try reader.string(field, "dim_param"))
        default: try reader.skip(field)
        }
    }
    return dim
}
