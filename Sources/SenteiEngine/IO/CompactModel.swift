/// Sentei's own model file (`.sntm`): the optimised IR graph exactly as the runtime compiles it — nodes, ops,
/// attributes, static shapes and fp32 weights — so a ladder variant loads without protobuf parsing, ONNX import or
/// the fusion passes. Read as strictly as ONNX: every count is checked against the bytes left before anything is
/// allocated, and every node's shape is re-derived from its inputs (`CompactModelVerifier`).
///
/// Layout (all integers little-endian):
///
///     magic    8 bytes  "SNTM" 0D 0A 1A 0A   (the tail catches text-mode and truncated transfers, as PNG's does)
///     version  u32      1
///     flags    u32      0 (reserved)
///     length   u64      bytes of the payload that follows (the file must end exactly there)
///     payload:
///       source     str                    the file the graph was imported from (labels errors)
///       nodes      u32 n, n × node        in topological order
///       inputs     u32 n, n × u32         node ids
///       outputs    u32 n, n × (str, u32)  name, node id
///     node:  str name, u8 op tag, op attributes, u32 n + n × u32 input ids, u32 rank + rank × i64 dims
///     str:   u32 byte count + UTF-8;  [f32]: u32 count + values;  [i64]: u32 count + values
///
/// Integrity of the weights is the ladder manifest's `sha256`; this format only guarantees a well-formed graph.
package enum CompactModel {
    package static let magic: [UInt8] = [0x53, 0x4E, 0x54, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A]
    package static let version: UInt32 = 1
    package static let headerBytes = 24
    package static let fileExtension = "sntm"

    /// True when `bytes` start with the compact format's magic (the rest may still be malformed).
    package static func hasMagic<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.count >= magic.count && zip(bytes, magic).allSatisfy { $0 == $1 }
    }

    /// Op tags: part of the format, never renumbered.
    enum Tag: UInt8 {
        case input = 0, constant, conv, channelAffine, unary, binary, concat, slice, maxPool, resizeNearest, reshape,
             transpose, softmax, matMul, gather
    }

    /// Stable codes for the small enums (their Swift order is not part of the format).
    static let unaryCodes: [UnaryKind: UInt8] = [.relu: 0, .sigmoid: 1, .silu: 2, .identity: 3]
    static let binaryCodes: [BinaryKind: UInt8] = [.add: 0, .sub: 1, .mul: 2, .div: 3]
}
