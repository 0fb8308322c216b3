import Foundation

/// Reads and writes float32 `.npy` files (NumPy format 1.0/2.0, little-endian, C order) for `sentei run`.
public enum NPY {
    public static func read(path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError(.io, "\(path): cannot read the file")
        }
        return try parse([UInt8](data), source: path)
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> Tensor {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw EngineError(.invalidInput, "\(source): not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw EngineError(.invalidInput, "\(source): truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw EngineError(.invalidInput, "\(source): unsupported .npy version \(major)")
        }
        guard headerLength <= bytes.count - headerStart else { throw EngineError(.invalidInput, "\(source): truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard header.contains("'descr': '<f4'") || header.contains("'descr': '|f4'") else {
            throw EngineError(.invalidInput, "\(source): only float32 little-endian arrays are supported (header \(header.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        guard header.contains("'fortran_order': False") else {
            throw EngineError(.invalidInput, "\(source): Fortran-ordered arrays are not supported")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw EngineError(.invalidInput, "\(source): the .npy header has no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = try dims.map { text -> Int in
            guard let v = Int(text), v >= 0 else { throw EngineError(.invalidInput, "\(source): bad dimension '\(text)'") }
            return v
        }
        guard let count = ShapeMath.checkedCount(shape) else { throw EngineError(.invalidInput, "\(source): absurd shape \(shape)") }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * 4 else {
            throw EngineError(.invalidInput, "\(source): holds \(bytes.count - dataStart) data bytes, shape \(shape) needs \(count * 4)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[dataStart...])) }
        }
        return Tensor(shape: shape, data: values)
    }

    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shapeText = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad so the data starts on a 64-byte boundary, header ending in a newline (format 1.0).
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        let length = header.utf8.count
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        tensor.data.withUnsafeBytes { bytes += $0 }
        return bytes
    }

    public static func write(_ tensor: Tensor, path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(encode(tensor))) else {
            throw EngineError(.io, "\(path): cannot write the file")
        }
    }
}
