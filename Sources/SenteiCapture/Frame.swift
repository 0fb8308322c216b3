/// A V4L2-style four-character code, e.g. `YUYV` = 0x56595559 (little-endian character order).
public struct FourCC: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `code` must be four ASCII characters; anything else is a programming error.
    public init(_ code: StaticString) {
        precondition(code.utf8CodeUnitCount == 4, "a FourCC has exactly four characters")
        let p = code.utf8Start
        rawValue = UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }

    /// Parses four ASCII characters; returns nil for anything else.
    public init?(string: String) {
        let bytes = Array(string.utf8)
        guard bytes.count == 4, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return nil }
        rawValue = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }

    /// Bit 31 marks big-endian variants in V4L2 (`Y16 -BE`).
    public var description: String {
        var s = ""
        for shift in stride(from: 0, to: 32, by: 8) {
            let c = UInt8(truncatingIfNeeded: rawValue >> UInt32(shift)) & (shift == 24 ? 0x7f : 0xff)
            s.unicodeScalars.append(Unicode.Scalar((c >= 0x20 && c < 0x7f) ? c : UInt8(ascii: "?")))
        }
        return rawValue & (1 << 31) != 0 ? s + "-BE" : s
    }
}

/// Pixel layout of a `Frame`. The five the pipeline understands are cases; any other format a device reports is
/// carried by its FourCC so it can at least be named in logs and errors.
public enum PixelFormat: Hashable, Sendable, CustomStringConvertible {
    case mjpeg  // one complete JPEG (SOI..EOI) per frame
    case yuyv  // packed 4:2:2, Y0 U Y1 V
    case nv12  // Y plane, then interleaved UV plane at half resolution
    case yu12  // planar 4:2:0: Y, then U, then V (I420)
    case grey  // 8-bit luma only
    case other(FourCC)

    public static let mjpegFourCC = FourCC("MJPG")
    public static let jpegFourCC = FourCC("JPEG")  // some drivers report plain JPEG for the same data

    public init(fourCC: FourCC) {
        switch fourCC {
        case Self.mjpegFourCC, Self.jpegFourCC: self = .mjpeg
        case FourCC("YUYV"): self = .yuyv
        case FourCC("NV12"): self = .nv12
        case FourCC("YU12"): self = .yu12
        case FourCC("GREY"): self = .grey
        default: self = .other(fourCC)
        }
    }

    public var fourCC: FourCC {
        switch self {
        case .mjpeg: Self.mjpegFourCC
        case .yuyv: FourCC("YUYV")
        case .nv12: FourCC("NV12")
        case .yu12: FourCC("YU12")
        case .grey: FourCC("GREY")
        case .other(let code): code
        }
    }

    public var isCompressed: Bool { self == .mjpeg }

    /// Smallest byte count a complete uncompressed frame can have; nil for compressed or unknown formats.
    public func minimumImageBytes(width: Int, height: Int, bytesPerLine: Int) -> Int? {
        switch self {
        case .yuyv: max(bytesPerLine, width * 2) * height
        case .grey: max(bytesPerLine, width) * height
        case .nv12, .yu12: max(bytesPerLine, width) * height * 3 / 2
        case .mjpeg, .other: nil
        }
    }

    public var description: String { fourCC.description }
}

/// One captured or replayed image. V4L2 and replay sources fill it identically, so nothing downstream can tell them
/// apart.
public struct Frame: Sendable {
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// Bytes per row of the first plane; 0 for compressed formats.
    public var bytesPerLine: Int
    /// The image bytes exactly as delivered (a whole JPEG for `.mjpeg`).
    public var bytes: [UInt8]
    /// CLOCK_MONOTONIC nanoseconds: the driver's buffer timestamp when it is monotonic, else the dequeue time.
    public var timestampNs: UInt64
    /// Increases by one per frame the source produced (including frames it dropped) and never goes backwards, also
    /// across reconnects and replay loops.
    public var sequence: UInt64
    /// Frames the source produced but we never saw since the previous delivered frame (sequence gaps).
    public var droppedSinceLast: Int

    public init(
        format: PixelFormat, width: Int, height: Int, bytesPerLine: Int, bytes: [UInt8], timestampNs: UInt64,
        sequence: UInt64, droppedSinceLast: Int
    ) {
        self.format = format
        self.width = width
        self.height = height
        self.bytesPerLine = bytesPerLine
        self.bytes = bytes
        self.timestampNs = timestampNs
        self.sequence = sequence
        self.droppedSinceLast = droppedSinceLast
    }
}
