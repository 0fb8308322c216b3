import Foundation
import SenteiCapture
import SenteiVision

/// A frame the calibration sampler kept: `<seq>.jpg` as the camera sent it, or, from an uncompressed camera,
/// `<seq>_<W>x<H>_<stride>_<FOURCC>.raw` (its bytes, geometry in the name). Everything that learns from sampled
/// frames takes JPEG (pruning and int8 calibration, healing, the scene guard), so raw samples are converted here.
public enum SampledFrame {
    /// Whether `name` is a file the sampler writes (or any JPEG).
    public static func isImage(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || rawGeometry(name) != nil
    }

    /// The frame as JPEG bytes: a JPEG file's own bytes; a raw sample converted to RGB and encoded at quality 95.
    public static func jpeg(path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw VisionError(.io, "\(path): cannot read the file") }
        let name = (path as NSString).lastPathComponent
        guard let geometry = rawGeometry(name) else { return [UInt8](data) }
        let frame = Frame(format: geometry.format, width: geometry.width, height: geometry.height,
                          bytesPerLine: geometry.bytesPerLine, bytes: [UInt8](data), timestampNs: 0, sequence: 0,
                          droppedSinceLast: 0)
        do {
            let image = try SnapshotWriter.rgbImage(frame, decoder: try JPEGDecoder())
            return try JPEGEncoder().encode(image, quality: 95)
        } catch let error as VisionError {
            throw VisionError(error.code, "\(path): \(error.message)")
        }
    }

    /// Width, height, bytes per line and pixel format from a raw sample's name; nil for any other name.
    static func rawGeometry(_ name: String) -> (width: Int, height: Int, bytesPerLine: Int, format: SenteiCapture.PixelFormat)? {
        guard name.hasSuffix(".raw") else { return nil }
        let parts = name.dropLast(4).split(separator: "_")
        guard parts.count == 4, let fourCC = FourCC(string: String(parts[3])) else { return nil }
        let size = parts[1].split(separator: "x")
        guard size.count == 2, let width = Int(size[0]), let height = Int(size[1]), let stride = Int(parts[2]),
              width > 0, height > 0, stride >= width else { return nil }
        return (width, height, stride, SenteiCapture.PixelFormat(fourCC: fourCC))
    }
}
