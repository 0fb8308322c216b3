internal import CTurboJPEG

/// TurboJPEG's DCT-domain downscale factors. Decoding at 1/2 … 1/8 skips most of the IDCT and upsampling work.
public enum DCTScale: Int, Sendable, CaseIterable {
    case full = 1
    case half = 2
    case quarter = 4
    case eighth = 8

    /// TJSCALED: ⌈dimension / denominator⌉.
    public func scaled(_ dimension: Int) -> Int { (dimension + rawValue - 1) / rawValue }

    /// The largest reduction that keeps both decoded sides at least `neededWidth` × `neededHeight` (the size the
    /// letterbox resizes to), so downscaling in the DCT never loses detail the model would have seen.
    public static func choose(width: Int, height: Int, neededWidth: Int, neededHeight: Int) -> DCTScale {
        for scale in [DCTScale.eighth, .quarter, .half]
        where scale.scaled(width) >= neededWidth && scale.scaled(height) >= neededHeight {
            return scale
        }
        return .full
    }
}

/// A decoded image: packed 8-bit pixels in `format` (`.rgb24` or `.bgr24`), possibly DCT-downscaled from the
/// JPEG's own size.
public struct DecodedImage: Sendable {
    public var pixels: [UInt8]
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// The JPEG's size before DCT scaling.
    public var originalWidth: Int
    public var originalHeight: Int

    public init(pixels: [UInt8], format: PixelFormat, width: Int, height: Int, originalWidth: Int? = nil,
                originalHeight: Int? = nil) {
        self.pixels = pixels
        self.format = format
        self.width = width
        self.height = height
        self.originalWidth = originalWidth ?? width
        self.originalHeight = originalHeight ?? height
    }

    public func withPixelBuffer<R>(_ body: (PixelBuffer) throws -> R) throws -> R {
        try pixels.withUnsafeBytes { bytes in
            try body(PixelBuffer(bytes: bytes, format: format, width: width, height: height, name: "decoded image"))
        }
    }
}

/// JPEG decoding through TurboJPEG, which returns an error for corrupt or truncated data instead of calling exit()
/// as libjpeg's default handler does. One decoder per thread: the handle is not thread-safe.
public final class JPEGDecoder {
    private var handle: tjhandle

    public init() throws {
        handle = try Self.makeHandle()
    }

    deinit { tjDestroy(handle) }

    private static func makeHandle() throws -> tjhandle {
        guard let handle = tjInitDecompress() else {
            throw VisionError(.io, "tjInitDecompress failed: \(String(cString: tjGetErrorStr2(nil)))")
        }
        return handle
    }

    /// TurboJPEG 2.1.5 leaves a handle unusable after some failed decodes (the next header reads as 0×0), so a
    /// failure replaces the handle.
    private func failure(_ message: String) -> VisionError {
        let error = VisionError(.corruptImage, message + lastError())
        if let fresh = try? Self.makeHandle() {
            tjDestroy(handle)
            handle = fresh
        }
        return error
    }

    /// Reads width and height from the JPEG header without decoding.
    public func size(of jpeg: UnsafeRawBufferPointer, name: String) throws -> (width: Int, height: Int) {
        guard let base = jpeg.baseAddress, jpeg.count > 0 else {
            throw VisionError(.corruptImage, "\(name): empty file (0 bytes), not a JPEG")
        }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colourspace: Int32 = 0
        let status = tjDecompressHeader3(handle, base.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count),
                                         &width, &height, &subsampling, &colourspace)
        guard status == 0 else {
            throw failure("\(name): not a decodable JPEG: ")
        }
        // The header sizes the pixel buffer: refuse absurd sizes before allocating (64 Mpx is 192 MB of RGB).
        guard width > 0, height > 0, width <= 16384, height <= 16384, Int(width) * Int(height) <= 1 << 26 else {
            throw VisionError(.corruptImage,
                "\(name): JPEG header says \(width)x\(height), outside 1...16384 per side or above 64 Mpx")
        }
        return (Int(width), Int(height))
    }

    /// Decodes to packed RGB or BGR at `scale`. Any libjpeg warning (truncated data, corrupt entropy segment)
    /// is an error: a half-grey frame would give wrong detections silently.
    public func decode(_ jpeg: UnsafeRawBufferPointer, name: String, order: ColourOrder = .rgb,
                       scale: DCTScale = .full) throws -> DecodedImage {
        let (width, height) = try size(of: jpeg, name: name)
        let outW = scale.scaled(width), outH = scale.scaled(height)
        var pixels = [UInt8](repeating: 0, count: outW * outH * 3)
        let format: PixelFormat = order == .rgb ? .rgb24 : .bgr24
        let status = pixels.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, jpeg.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count),
                          out.baseAddress, Int32(outW), 0, Int32(outH),
                          Int32(order == .rgb ? TJPF_RGB.rawValue : TJPF_BGR.rawValue), TJFLAG_STOPONWARNING)
        }
        guard status == 0 else {
            throw failure("\(name): JPEG decode failed: ")
        }
        return DecodedImage(pixels: pixels, format: format, width: outW, height: outH, originalWidth: width,
                            originalHeight: height)
    }

    public func decode(_ jpeg: [UInt8], name: String, order: ColourOrder = .rgb,
                       scale: DCTScale = .full) throws -> DecodedImage {
        try jpeg.withUnsafeBytes { try decode($0, name: name, order: order, scale: scale) }
    }

    /// Decodes at the largest DCT reduction that still covers the letterbox's resized size for `spec`.
    public func decode(_ jpeg: UnsafeRawBufferPointer, name: String, for spec: LetterboxSpec) throws -> DecodedImage {
        let (width, height) = try size(of: jpeg, name: name)
        let mapping = LetterboxMapping(originalWidth: width, originalHeight: height, spec: spec)
        let scale = DCTScale.choose(width: width, height: height, neededWidth: mapping.resizedWidth,
                                    neededHeight: mapping.resizedHeight)
        return try decode(jpeg, name: name, order: spec.colourOrder, scale: scale)
    }

    private func lastError() -> String { String(cString: tjGetErrorStr2(handle)) }
}
