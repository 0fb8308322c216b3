internal import CTurboJPEG

/// JPEG encoding through TurboJPEG (4:2:0), for annotated snapshots.
public final class JPEGEncoder {
    private let handle: tjhandle

    public init() throws {
        guard let handle = tjInitCompress() else {
            throw VisionError(.io, "tjInitCompress failed: \(String(cString: tjGetErrorStr2(nil)))")
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// Encodes packed RGB or BGR pixels. `quality` is 1…100.
    public func encode(_ image: DecodedImage, quality: Int = 90) throws -> [UInt8] {
        guard image.format == .rgb24 || image.format == .bgr24,
              image.pixels.count >= image.width * image.height * 3 else {
            throw VisionError(.invalidFrame,
                "JPEG encode: need packed RGB/BGR \(image.width)x\(image.height), got \(image.format.rawValue) with \(image.pixels.count) bytes")
        }
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let pixelFormat = Int32(image.format == .rgb24 ? TJPF_RGB.rawValue : TJPF_BGR.rawValue)
        let status = image.pixels.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, Int32(image.width), 0, Int32(image.height), pixelFormat, &output,
                        &size, Int32(TJSAMP_420.rawValue), Int32(min(max(quality, 1), 100)), 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else {
            throw VisionError(.io, "JPEG encode failed: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
