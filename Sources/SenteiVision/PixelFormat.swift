/// Pixel layouts the vision module converts from. Names follow V4L2's fourcc meanings; vision itself knows nothing
/// about cameras, only bytes, a format and a size.
public enum PixelFormat: String, Sendable, CaseIterable {
    /// Packed 4:2:2, Y0 U Y1 V per two pixels (V4L2 `YUYV`).
    case yuyv
    /// Y plane, then one interleaved U V plane at half width and half height (V4L2 `NV12`).
    case nv12
    /// Y plane, then U plane, then V plane, chroma at half width and half height (V4L2 `YU12`, I420).
    case yu12
    /// 8-bit luma only (V4L2 `GREY`).
    case grey
    /// Packed R G B bytes.
    case rgb24
    /// Packed B G R bytes.
    case bgr24

    /// Default bytes per line of the first plane for a tightly packed frame.
    public func packedBytesPerLine(width: Int) -> Int {
        switch self {
        case .yuyv: return 2 * ((width + 1) / 2) * 2
        // NV12's interleaved UV row shares the luma stride and holds ⌈w/2⌉ pairs.
        case .nv12: return 2 * ((width + 1) / 2)
        case .yu12, .grey: return width
        case .rgb24, .bgr24: return width * 3
        }
    }

    /// Bytes a frame needs: the luma/packed plane plus chroma planes. NV12's UV plane uses the luma stride;
    /// YU12's U and V planes use half of it (rounded up), as V4L2 lays them out.
    public func requiredBytes(width: Int, height: Int, bytesPerLine: Int) -> Int {
        let chromaRows = (height + 1) / 2
        switch self {
        case .yuyv, .grey, .rgb24, .bgr24: return bytesPerLine * height
        case .nv12: return bytesPerLine * height + bytesPerLine * chromaRows
        case .yu12: return bytesPerLine * height + 2 * ((bytesPerLine + 1) / 2) * chromaRows
        }
    }
}

/// A borrowed frame: the bytes, their format and size. The caller keeps the memory alive for the call.
public struct PixelBuffer {
    public let bytes: UnsafeRawBufferPointer
    public let format: PixelFormat
    public let width: Int
    public let height: Int
    public let bytesPerLine: Int

    /// Checks the buffer holds a whole frame, so the converters can index without bounds checks.
    public init(bytes: UnsafeRawBufferPointer, format: PixelFormat, width: Int, height: Int, bytesPerLine: Int? = nil,
                name: String = "frame") throws {
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw VisionError(.invalidFrame, "\(name): size \(width)x\(height) is outside 1...16384")
        }
        let stride = bytesPerLine ?? format.packedBytesPerLine(width: width)
        guard stride >= format.packedBytesPerLine(width: width) else {
            throw VisionError(.invalidFrame,
                "\(name): bytesPerLine \(stride) is less than \(format.packedBytesPerLine(width: width)) for \(format.rawValue) width \(width)")
        }
        let need = format.requiredBytes(width: width, height: height, bytesPerLine: stride)
        guard bytes.count >= need else {
            throw VisionError(.invalidFrame,
                "\(name): \(format.rawValue) \(width)x\(height) needs \(need) bytes, buffer has \(bytes.count)")
        }
        self.bytes = bytes
        self.format = format
        self.width = width
        self.height = height
        self.bytesPerLine = stride
    }
}
