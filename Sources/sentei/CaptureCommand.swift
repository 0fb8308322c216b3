import ArgumentParser
import Foundation
import SenteiCapture
import SenteiVision

/// `sentei capture`: what a user runs to check a camera — negotiate, grab K frames, save them as JPEG.
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture", abstract: "Capture frames from a V4L2 camera, print what was negotiated, save them as JPEG.")

    @Option(name: .long, help: "The V4L2 device, e.g. /dev/video0.")
    var device: String

    @Option(name: .long, help: "How many frames to save.")
    var frames = 10

    @Option(name: .long, help: "Directory for frame-NNNNNN.jpg files (created if missing).")
    var out: String

    @Option(name: .long, help: "Requested size, e.g. 640x480 (the device's closest offer is used).")
    var size = "640x480"

    @Option(name: .long, help: "Requested frames per second.")
    var fps: Double = 25

    @Option(name: .long, help: "Pixel format: auto, mjpeg, yuyv, nv12, yu12 or grey.")
    var format = "auto"

    func run() throws {
        let dims = size.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 2, dims.allSatisfy({ $0 > 0 && $0 <= 8192 }) else { throw ValidationError("--size must look like 640x480") }
        guard frames >= 1 else { throw ValidationError("--frames must be at least 1") }
        var config = CaptureConfiguration(devicePath: device)
        config.width = dims[0]
        config.height = dims[1]
        config.fps = fps
        switch format {
        case "auto": config.format = nil
        case "mjpeg": config.format = .mjpeg
        case "yuyv": config.format = .yuyv
        case "nv12": config.format = .nv12
        case "yu12": config.format = .yu12
        case "grey": config.format = .grey
        default: throw ValidationError("--format must be auto, mjpeg, yuyv, nv12, yu12 or grey")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let camera = V4L2Camera(configuration: config, onEvent: { event in
            FileHandle.standardError.write(Data("\(event)\n".utf8))
        })
        defer { camera.close() }
        guard let negotiated = try camera.start() else { throw ValidationError("\(device): no format could be negotiated") }
        print("negotiated: \(negotiated)")
        let encoder = try JPEGEncoder()
        var saved = 0, rejected = 0
        while saved < frames, let frame = try camera.nextFrame() {
            guard let jpeg = try Self.jpeg(frame, encoder: encoder) else {
                rejected += 1
                FileHandle.standardError.write(Data("not saved: frame \(frame.sequence): MJPEG without SOI or EOI\n".utf8))
                guard rejected <= 10 + frames else { throw ValidationError("\(device): \(rejected) incomplete MJPEG frames") }
                continue
            }
            let number = String(frame.sequence)
            let path = "\(out)/frame-\(String(repeating: "0", count: max(0, 6 - number.count)) + number).jpg"
            guard FileManager.default.createFile(atPath: path, contents: Data(jpeg)) else {
                throw ValidationError("cannot write \(path)")
            }
            print("saved \(path) (\(jpeg.count) of \(frame.bytes.count) bytes, \(frame.format) \(frame.width)x\(frame.height), t=\(frame.timestampNs) ns, dropped \(frame.droppedSinceLast))")
            saved += 1
        }
    }

    /// The length of the JPEG at the start of an MJPEG frame, up to and including its EOI marker, found by walking the
    /// marker segments (entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart);
    /// nil when there is no whole JPEG. What follows the EOI is not part of the image: cameras pad with zeros, and a
    /// buffer handed out again (v4l2loopback's first one after STREAMON) reports its whole length, older bytes included.
    static func jpegLength(_ b: [UInt8]) -> Int? {
        guard b.count >= 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var i = 2
        while i + 1 < b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            switch marker {
            case 0xFF: i += 1 // fill byte
            case 0xD9: return i + 2
            case 0x01, 0xD0...0xD7: i += 2 // markers without a length
            default:
                guard i + 3 < b.count else { return nil }
                let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
                guard length >= 2 else { return nil }
                i += 2 + length
                if marker == 0xDA {
                    while i + 1 < b.count, !(b[i] == 0xFF && b[i + 1] != 0 && !(0xD0...0xD7).contains(b[i + 1])) { i += 1 }
                }
            }
        }
        return nil
    }

    /// MJPEG frames are saved as delivered up to their EOI (nil when they are not whole JPEGs); raw ones go through the
    /// vision room's converter at scale 1 (no letterbox padding) and are encoded with TurboJPEG.
    static func jpeg(_ frame: Frame, encoder: JPEGEncoder) throws -> [UInt8]? {
        let visionFormat: SenteiVision.PixelFormat
        switch frame.format {
        case .mjpeg: return jpegLength(frame.bytes).map { Array(frame.bytes[..<$0]) }
        case .yuyv: visionFormat = .yuyv
        case .nv12: visionFormat = .nv12
        case .yu12: visionFormat = .yu12
        case .grey: visionFormat = .grey
        case .other(let fourCC): throw ValidationError("frames in \(fourCC) cannot be saved as JPEG")
        }
        let spec = LetterboxSpec(width: frame.width, height: frame.height, placement: .topLeft, padValue: 0,
                                 colourOrder: .rgb, valueScale: 1)
        let planar = try frame.bytes.withUnsafeBytes { raw in
            let buffer = try PixelBuffer(bytes: raw, format: visionFormat, width: frame.width, height: frame.height,
                                         bytesPerLine: frame.bytesPerLine > 0 ? frame.bytesPerLine : nil, name: "frame \(frame.sequence)")
            return Letterboxer(spec: spec).letterbox(buffer).tensor.data
        }
        let plane = frame.width * frame.height
        var packed = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            for c in 0..<3 { packed[i * 3 + c] = UInt8(min(max(planar[c * plane + i].rounded(), 0), 255)) }
        }
        return try encoder.encode(DecodedImage(pixels: packed, format: .rgb24, width: frame.width, height: frame.height))
    }
}
