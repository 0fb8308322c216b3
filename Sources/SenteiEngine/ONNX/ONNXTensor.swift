/// `TensorProto.DataType`, with ONNX's numbering.
package enum ONNXDataType: Int32, Sendable, CaseIterable {
    case undefined = 0
    case float = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case double = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26

    /// Bytes per element in `raw_data`; nil for strings and for types packed below one byte.
    package var byteSize: Int? {
        switch self {
        case .uint8, .int8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: 1
        case .uint16, .int16, .float16, .bfloat16: 2
        case .float, .int32, .uint32: 4
        case .int64, .uint64, .double, .complex64: 8
        case .complex128: 16
        case .undefined, .string, .uint4, .int4, .float4e2m1, .uint2, .int2: nil
        }
    }

    /// The ONNX spelling, for messages.
    package var name: String { String(describing: self).uppercased() }
}

/// Where a tensor's values are: `raw_data` (little-endian) or one of the typed repeated fields.
package enum ONNXTensorStorage: Sendable, Equatable {
    case raw([UInt8])
    case floatData([Float])
    /// Also holds INT8/UINT8/INT16/UINT16/BOOL values and FLOAT16/BFLOAT16 bit patterns, one per element.
    case int32Data([Int32])
    case int64Data([Int64])
    case doubleData([Double])
    /// UINT32 and UINT64 values.
    case uint64Data([UInt64])
    case stringData([[UInt8]])
    /// No data field at all: valid only for tensors with zero elements.
    case none
}

/// A `TensorProto` with its data held in the file. External data is refused while reading, and dims are already
/// checked: none negative, element count at most `ONNXTensor.maxElementCount`.
package struct ONNXTensor: Sendable, Equatable {
    /// Tensors larger than this are refused as absurd: no model Sentei runs comes near it, and it keeps every
    /// size computation far from overflow.
    package static let maxElementCount = 1 << 31

    package var name: String
    package var dims: [Int]
    package var dataType: ONNXDataType
    package var storage: ONNXTensorStorage
    /// The file this tensor was read from, for error messages.
    package var source: String

    /// Throws `.shapeMismatch` for negative dims or more than `maxElementCount` elements.
    package init(name: String, dims: [Int], dataType: ONNXDataType, storage: ONNXTensorStorage, source: String) throws {
        self.name = name
        self.dims = dims
        self.dataType = dataType
        self.storage = storage
        self.source = source
        if let problem = Self.dimsProblem(dims) {
            throw EngineError(.shapeMismatch, "\(source): tensor '\(name)' dims \(dims): \(problem)")
        }
    }

    /// The product of `dims`, which the initializer has validated.
    package var elementCount: Int { dims.reduce(1, *) }

    /// Why `dims` are refused, or nil when they are fine.
    static func dimsProblem(_ dims: [Int]) -> String? {
        var count = 1
        for dim in dims {
            guard dim >= 0 else { return "negative dimension \(dim)" }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= maxElementCount else { return "more than \(maxElementCount) elements" }
            count = product
        }
        return nil
    }

    private func failure(_ code: EngineError.Code, _ text: String) -> EngineError {
        EngineError(code, "\(source): tensor '\(name)' (\(dataType.name), dims \(dims)): \(text)")
    }

    /// The values as Float, converting from DOUBLE, FLOAT16, BFLOAT16 and the integer types (for constant folding).
    package func floats() throws -> [Float] {
        switch dataType {
        case .float:
            switch storage {
            case .floatData(let values): return try checked(values, "float_data")
            case .raw(let bytes): return try decodeRaw(bytes, as: UInt32.self) { Float(bitPattern: $0) }
            default: return try noUsableData("float")
            }
        case .double:
            switch storage {
            case .doubleData(let values): return try checked(values, "double_data").map { Float($0) }
            case .raw(let bytes): return try decodeRaw(bytes, as: UInt64.self) { Float(Double(bitPattern: $0)) }
            default: return try noUsableData("double")
            }
        case .float16, .bfloat16:
            let isHalf = dataType == .float16
            let toFloat: (UInt16) -> Float = { isHalf ? floatFromHalf($0) : floatFromBFloat16($0) }
            switch storage {
            case .int32Data(let values):
                return try checked(values, "int32_data").map { toFloat(UInt16(truncatingIfNeeded: $0)) }
            case .raw(let bytes): return try decodeRaw(bytes, as: UInt16.self, toFloat)
            default: return try noUsableData(dataType == .float16 ? "float16" : "bfloat16")
            }
        case .uint8, .int8, .uint16, .int16, .int32, .int64, .uint32, .uint64, .bool:
            return try int64s().map { Float($0) }
        default:
            throw failure(.unsupportedData, "cannot be read as float values")
        }
    }

    /// The values as Int64, from any integer type or BOOL (shape arithmetic, indices, axes).
    package func int64s() throws -> [Int64] {
        switch (dataType, storage) {
        case (.int64, .int64Data(let values)): return try checked(values, "int64_data")
        case (.int64, .raw(let bytes)): return try decodeRaw(bytes, as: UInt64.self) { Int64(bitPattern: $0) }
        case (.int32, .raw(let bytes)): return try decodeRaw(bytes, as: UInt32.self) { Int64(Int32(bitPattern: $0)) }
        case (.int16, .raw(let bytes)): return try decodeRaw(bytes, as: UInt16.self) { Int64(Int16(bitPattern: $0)) }
        case (.uint16, .raw(let bytes)): return try decodeRaw(bytes, as: UInt16.self) { Int64($0) }
        case (.int8, .raw(let bytes)): return try decodeRaw(bytes, as: UInt8.self) { Int64(Int8(bitPattern: $0)) }
        case (.uint8, .raw(let bytes)), (.bool, .raw(let bytes)):
            return try decodeRaw(bytes, as: UInt8.self) { Int64($0) }
        case (.uint32, .raw(let bytes)): return try decodeRaw(bytes, as: UInt32.self) { Int64($0) }
        case (.int32, .int32Data(let values)), (.int16, .int32Data(let values)), (.int8, .int32Data(let values)),
            (.uint16, .int32Data(let values)), (.uint8, .int32Data(let values)), (.bool, .int32Data(let values)):
            return try checked(values, "int32_data").map { Int64($0) }
        case (.uint32, .uint64Data(let values)):
            return try checked(values, "uint64_data").map { Int64($0 & 0xFFFF_FFFF) }
        case (.uint64, .uint64Data(let values)):
            return try checked(values, "uint64_data").map { try int64(fromUnsigned: $0) }
        case (.uint64, .raw(let bytes)):
            return try decodeRaw(bytes, as: UInt64.self) { $0 }.map { try int64(fromUnsigned: $0) }
        case (.int64, _), (.int32, _), (.int16, _), (.uint16, _), (.int8, _), (.uint8, _), (.bool, _), (.uint32, _),
            (.uint64, _):
            return try noUsableData("integer")
        default:
            throw failure(.unsupportedData, "is not an integer tensor")
        }
    }

    private func int64(fromUnsigned value: UInt64) throws -> Int64 {
        guard let signed = Int64(exactly: value) else {
            throw failure(.unsupportedData, "value \(value) exceeds Int64")
        }
        return signed
    }

    private func checked<T>(_ values: [T], _ field: String) throws -> [T] {
        guard values.count == elementCount else {
            throw failure(.shapeMismatch, "\(field) holds \(values.count) values, dims need \(elementCount)")
        }
        return values
    }

    /// A tensor whose dims say zero elements may carry no data at all; anything else lacking data is malformed.
    private func noUsableData<T>(_ kind: String) throws -> [T] {
        if case .none = storage, elementCount == 0 { return [] }
        throw failure(.malformedModel, "has no \(kind) data (storage: \(storageName))")
    }

    private var storageName: String {
        switch storage {
        case .raw: "raw_data"
        case .floatData: "float_data"
        case .int32Data: "int32_data"
        case .int64Data: "int64_data"
        case .doubleData: "double_data"
        case .uint64Data: "uint64_data"
        case .stringData: "string_data"
        case .none: "none"
        }
    }

    /// Decodes little-endian elements of `Word`'s size from `raw_data`, after checking the byte count.
    private func decodeRaw<Word: FixedWidthInteger, Value>(
        _ bytes: [UInt8], as _: Word.Type, _ convert: (Word) throws -> Value
    ) throws -> [Value] {
        let width = MemoryLayout<Word>.size
        guard bytes.count == elementCount * width else {
            throw failure(.shapeMismatch, "raw_data is \(bytes.count) bytes, dims need \(elementCount * width)")
        }
        return try bytes.withUnsafeBytes { buffer in
            var values: [Value] = []
            values.reserveCapacity(elementCount)
            for index in 0..<elementCount {
                values.append(
                    try convert(Word(littleEndian: buffer.loadUnaligned(fromByteOffset: index * width, as: Word.self))))
            }
            return values
        }
    }
}

/// IEEE half precision to Float, written out because `Float16` is unavailable on some hosts (macOS x86).
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits >> 15) << 31
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits) & 0x3FF
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa · 2^-24.
        let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
        return sign == 0 ? magnitude : -magnitude
    case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    default:
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}

func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}
