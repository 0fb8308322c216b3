/// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/). Groups (3, 4) are deprecated and
/// never appear in ONNX files; they are refused rather than skipped.
enum ProtoWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5

    var name: String {
        switch self {
        case .varint: "varint"
        case .fixed64: "64-bit"
        case .lengthDelimited: "length-delimited"
        case .startGroup: "start-group"
        case .endGroup: "end-group"
        case .fixed32: "32-bit"
        }
    }
}

/// One field key read from the wire: the field number and how its value is encoded.
struct ProtoField: Sendable {
    let number: Int
    let wireType: ProtoWireType
}

/// One step of the path that error messages print, e.g. `node[12]` or `graph`.
struct ProtoPathStep: Sendable {
    let field: StaticString
    /// Position within a repeated field; nil for singular fields.
    let index: Int?
}

/// Reads the fields of one protobuf message out of a byte range, with every length checked against the bytes left
/// before anything is allocated or sliced. Sub-messages get their own reader limited to their length, so a bad
/// length inside one can never read past its parent.
///
/// The reader borrows `bytes`: it must not outlive the `withUnsafeBytes` call that produced them.
struct ProtoWireReader {
    /// Protobuf nesting deeper than this is refused. The ONNX subset we decode nests at most 8 deep
    /// (Model → Graph → ValueInfo → Type → Tensor → Shape → Dimension); the margin is for future fields.
    static let maxDepth = 16

    private let bytes: UnsafeRawBufferPointer
    /// Absolute offset of the next unread byte in `bytes`.
    private(set) var offset: Int
    /// Absolute offset one past the last byte of this message.
    private(set) var end: Int
    /// The file name every error message starts with.
    let source: String
    private let root: StaticString
    private var path: [ProtoPathStep]

    init(bytes: UnsafeRawBufferPointer, source: String, root: StaticString) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
        self.source = source
        self.root = root
        self.path = []
    }

    /// A reader for the sub-range `range` of this one, with `step` added to the error path.
    private func child(_ range: Range<Int>, _ step: ProtoPathStep) -> ProtoWireReader {
        var reader = self
        reader.offset = range.lowerBound
        reader.end = range.upperBound
        reader.path.append(step)
        return reader
    }

    var bytesLeft: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    /// The message path for error messages, e.g. `ModelProto.graph.node[12].attribute[3]`.
    var pathDescription: String {
        var text = "\(root)"
        for step in path {
            text += ".\(step.field)"
            if let index = step.index { text += "[\(index)]" }
        }
        return text
    }

    /// An error about the bytes at the current offset.
    func malformed(_ text: String) -> EngineError {
        EngineError(.malformedModel, "\(source): \(pathDescription) at byte \(offset): \(text)")
    }

    /// An error about the message as a whole (its contents, not its encoding).
    func failure(_ code: EngineError.Code, _ text: String) -> EngineError {
        EngineError(code, "\(source): \(pathDescription): \(text)")
    }

    // MARK: Keys and scalars

    /// The next field key, or nil at the end of this message.
    mutating func nextField() throws -> ProtoField? {
        guard offset < end else { return nil }
        let key = try readVarint(what: "field key")
        let number = key >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else { throw malformed("invalid field number \(number)") }
        let wireBits = UInt8(key & 7)
        guard let wireType = ProtoWireType(rawValue: wireBits) else {
            throw malformed("field \(number) has invalid wire type \(wireBits)")
        }
        if wireType == .startGroup || wireType == .endGroup {
            throw malformed("field \(number) uses a protobuf group, which ONNX never does")
        }
        return ProtoField(number: Int(number), wireType: wireType)
    }

    @inline(__always)
    mutating func readVarint(what: @autoclosure () -> String = "varint") throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw malformed("\(what()) is cut off by the end of the data") }
            let byte = bytes[offset]
            offset += 1
            // The 10th byte may only hold bit 63.
            if shift == 63, byte > 1 { throw malformed("\(what()) does not fit in 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    mutating func readFixed32() throws -> UInt32 {
        guard bytesLeft >= 4 else { throw malformed("32-bit value needs 4 bytes, \(bytesLeft) left") }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return UInt32(littleEndian: value)
    }

    mutating func readFixed64() throws -> UInt64 {
        guard bytesLeft >= 8 else { throw malformed("64-bit value needs 8 bytes, \(bytesLeft) left") }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset += 8
        return UInt64(littleEndian: value)
    }

    /// Reads a length prefix and returns the absolute range it covers, checked against the bytes left.
    mutating func readLengthDelimited(what: @autoclosure () -> String) throws -> Range<Int> {
        let length = try readVarint(what: "length of \(what())")
        guard length <= UInt64(bytesLeft) else {
            throw malformed("\(what()): length \(length) exceeds the \(bytesLeft) bytes left")
        }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    /// Skips a field this decoder does not use, whatever its wire type.
    mutating func skip(_ field: ProtoField) throws {
        switch field.wireType {
        case .varint: _ = try readVarint(what: "field \(field.number)")
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited(what: "field \(field.number)")
        case .startGroup, .endGroup: throw malformed("field \(field.number) uses a protobuf group")
        }
    }

    // MARK: Typed field readers (each checks the wire type against the schema)

    func expect(_ field: ProtoField, _ wireType: ProtoWireType, _ name: StaticString) throws {
        guard field.wireType == wireType else {
            throw malformed(
                "field \(field.number) (\(name)) has wire type \(field.wireType.name), expected \(wireType.name)")
        }
    }

    mutating func int64(_ field: ProtoField, _ name: StaticString) throws -> Int64 {
        try expect(field, .varint, name)
        return Int64(bitPattern: try readVarint(what: "\(name)"))
    }

    /// int32 and enum fields: negative values are sign-extended to 10 bytes on the wire; keep the low 32 bits.
    mutating func int32(_ field: ProtoField, _ name: StaticString) throws -> Int32 {
        try expect(field, .varint, name)
        return Int32(truncatingIfNeeded: try readVarint(what: "\(name)"))
    }

    mutating func float(_ field: ProtoField, _ name: StaticString) throws -> Float {
        try expect(field, .fixed32, name)
        return Float(bitPattern: try readFixed32())
    }

    mutating func string(_ field: ProtoField, _ name: StaticString) throws -> String {
        try expect(field, .lengthDelimited, name)
        let range = try readLengthDelimited(what: "\(name)")
        // Invalid UTF-8 becomes U+FFFD: names are only compared and printed.
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    mutating func byteArray(_ field: ProtoField, _ name: StaticString) throws -> [UInt8] {
        try expect(field, .lengthDelimited, name)
        let range = try readLengthDelimited(what: "\(name)")
        return [UInt8](UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// Decodes a sub-message with `body`, on a reader limited to the sub-message's bytes.
    mutating func message<T>(
        _ field: ProtoField, _ name: StaticString, index: Int? = nil,
        _ body: (inout ProtoWireReader) throws -> T
    ) throws -> T {
        try expect(field, .lengthDelimited, name)
        guard path.count < Self.maxDepth else { throw malformed("messages nested deeper than \(Self.maxDepth)") }
        let range = try readLengthDelimited(what: "\(name)")
        var reader = child(range, ProtoPathStep(field: name, index: index))
        return try body(&reader)
    }

    // MARK: Repeated scalars, packed or not
    // proto2 writers emit repeated scalars one per key; proto3-style writers pack them into one length-delimited
    // field. Readers must accept both, and both may even be mixed in one message.

    mutating func appendVarints<T>(
        _ field: ProtoField, _ name: StaticString, to values: inout [T], _ convert: (UInt64) -> T
    ) throws {
        if field.wireType == .lengthDelimited {
            let range = try readLengthDelimited(what: "packed \(name)")
            var packed = child(range, ProtoPathStep(field: name, index: nil))
            // Every varint takes at least one byte, so the byte count bounds the element count. Reserving only for
            // the first chunk keeps append's geometric growth when a file splits one field into many chunks
            // (exact reserves per chunk would copy quadratically).
            if values.isEmpty { values.reserveCapacity(range.count) }
            while !packed.isAtEnd { values.append(convert(try packed.readVarint(what: "\(name) element"))) }
        } else {
            try expect(field, .varint, name)
            values.append(convert(try readVarint(what: "\(name)")))
        }
    }

    mutating func appendFixed32s<T>(
        _ field: ProtoField, _ name: StaticString, to values: inout [T], _ convert: (UInt32) -> T
    ) throws {
        if field.wireType == .lengthDelimited {
            let range = try readLengthDelimited(what: "packed \(name)")
            guard range.count % 4 == 0 else {
                throw malformed("packed \(name) is \(range.count) bytes, not a multiple of 4")
            }
            if values.isEmpty { values.reserveCapacity(range.count / 4) }
            for position in stride(from: range.lowerBound, to: range.upperBound, by: 4) {
                values.append(
                    convert(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))))
            }
        } else {
            try expect(field, .fixed32, name)
            values.append(convert(try readFixed32()))
        }
    }

    mutating func appendFixed64s<T>(
        _ field: ProtoField, _ name: StaticString, to values: inout [T], _ convert: (UInt64) -> T
    ) throws {
        if field.wireType == .lengthDelimited {
            let range = try readLengthDelimited(what: "packed \(name)")
            guard range.count % 8 == 0 else {
                throw malformed("packed \(name) is \(range.count) bytes, not a multiple of 8")
            }
            if values.isEmpty { values.reserveCapacity(range.count / 8) }
            for position in stride(from: range.lowerBound, to: range.upperBound, by: 8) {
                values.append(
                    convert(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))))
            }
        } else {
            try expect(field, .fixed64, name)
            values.append(convert(try readFixed64()))
        }
    }
}
