/// One step of a replay input: a frame, or a damaged piece that is reported and skipped.
enum ReplayItem {
    case frame(format: PixelFormat, width: Int, height: Int, bytesPerLine: Int, bytes: [UInt8])
    case damaged(CaptureError)
}

/// A replay input read front to back; `ReplaySource` adds pacing, looping, sequence numbers and timestamps.
protocol ReplayReader: AnyObject {
    var name: String { get }
    /// nil at the end of one pass.
    func next() throws(CaptureError) -> ReplayItem?
    func rewind() throws(CaptureError)
}

/// A directory of JPEG files, one frame each, in file-name order.
final class JPEGDirectoryReader: ReplayReader {
    let name: String
    private let files: [String]
    private var index = 0

    init(directory: String) throws(CaptureError) {
        name = directory
        files = try listFiles(in: directory, extensions: ["jpg", "jpeg"])
        guard !files.isEmpty else { throw CaptureError(.noFrames, "no .jpg or .jpeg files in \(directory)") }
    }

    func next() throws(CaptureError) -> ReplayItem? {
        guard index < files.count else { return nil }
        let path = files[index]
        index += 1
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { return .damaged(error) }
        switch JPEGFraming.next(in: file.bytes, from: 0) {
        case .image(let range, let width, let height):
            return .frame(format: .mjpeg, width: width, height: height, bytesPerLine: 0,
                          bytes: Array(file.bytes[range]))
        case .damaged(_, let reason, _):
            return .damaged(CaptureError(.badJPEGFraming, "\(path): \(reason)"))
        case .end:
            return .damaged(CaptureError(.badJPEGFraming, "\(path): no JPEG start-of-image marker"))
        }
    }

    func rewind() throws(CaptureError) { index = 0 }
}

/// Concatenated JPEG images (`.mjpeg`, as written by `ffmpeg -f mjpeg` or saved from a camera).
final class MJPEGFileReader: ReplayReader {
    let name: String
    private let file: MappedFile
    private var position = 0

    init(path: String) throws(CaptureError) {
        name = path
        file = try MappedFile(path: path)
    }

    func next() throws(CaptureError) -> ReplayItem? {
        switch JPEGFraming.next(in: file.bytes, from: position) {
        case .image(let range, let width, let height):
            position = range.upperBound
            return .frame(format: .mjpeg, width: width, height: height, bytesPerLine: 0,
                          bytes: Array(file.bytes[range]))
        case .damaged(let offset, let reason, let resumeAt):
            position = resumeAt
            return .damaged(CaptureError(.badJPEGFraming, "\(name): image at offset \(offset): \(reason)"))
        case .end:
            return nil
        }
    }

    func rewind() throws(CaptureError) { position = 0 }
}

/// YUV4MPEG2: a text header, then "FRAME…\n" plus one raw picture per frame. 4:2:0 becomes YU12, mono GREY.
final class Y4MReader: ReplayReader {
    let name: String
    let width: Int
    let height: Int
    let format: PixelFormat
    /// The header's F tag, if any.
    let nativeFps: Double?
    private let frameBytes: Int
    private let reader: FileReader
    private var frameIndex = 0
    private var exhausted = false
    static let maxDimension = 16384
    static let headerLimit = 4096

    init(path: String) throws(CaptureError) {
        name = path
        reader = try FileReader(path: path)
        guard let header = try reader.readLine(limit: Self.headerLimit) else {
            throw CaptureError(.badY4M, "\(path) is empty (expected a YUV4MPEG2 header)")
        }
        let tokens = String(decoding: header, as: UTF8.self).split(separator: " ")
        guard tokens.first == "YUV4MPEG2" else {
            throw CaptureError(.badY4M, "\(path) does not start with the YUV4MPEG2 signature")
        }
        var width: Int?, height: Int?, fps: Double?, colour = "420jpeg"
        for token in tokens.dropFirst() {
            let value = token.dropFirst()
            switch token.first {
            case "W": width = Int(value)
            case "H": height = Int(value)
            case "C": colour = String(value)
            case "F":
                let parts = value.split(separator: ":")
                if parts.count == 2, let num = Double(parts[0]), let den = Double(parts[1]), num > 0, den > 0 {
                    fps = num / den
                } else {
                    throw CaptureError(.badY4M, "\(path): frame rate tag F\(value) is not N:D")
                }
            default: break  // I (interlacing), A (aspect), X (comments) do not change the bytes
            }
        }
        guard let width, let height, (1...Self.maxDimension).contains(width), (1...Self.maxDimension).contains(height)
        else {
            throw CaptureError(
                .badY4M,
                "\(path): W and H must be 1...\(Self.maxDimension), header has W=\(width.map(String.init) ?? "none") "
                    + "H=\(height.map(String.init) ?? "none")")
        }
        switch colour {
        case "420jpeg", "420paldv", "420mpeg2", "420":
            format = .yu12
            frameBytes = width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2)
        case "mono":
            format = .grey
            frameBytes = width * height
        default:
            throw CaptureError(.badY4M, "\(path): colour space C\(colour) is not supported (need 4:2:0 or mono)")
        }
        self.width = width
        self.height = height
        self.nativeFps = fps
    }

    func next() throws(CaptureError) -> ReplayItem? {
        guard !exhausted, let line = try reader.readLine(limit: Self.headerLimit) else { return nil }
        guard line.starts(with: Array("FRAME".utf8)) else {
            exhausted = true  // without a frame header there is no way to find the next picture
            return .damaged(CaptureError(.badY4M, "\(name): frame \(frameIndex) header is not FRAME"))
        }
        let (bytes, complete) = try reader.read(count: frameBytes)
        guard complete else {
            exhausted = true
            return .damaged(
                CaptureError(.badY4M, "\(name): frame \(frameIndex) truncated: \(bytes.count) of \(frameBytes) bytes"))
        }
        frameIndex += 1
        return .frame(format: format, width: width, height: height, bytesPerLine: width, bytes: bytes)
    }

    func rewind() throws(CaptureError) {
        try reader.rewind()
        _ = try reader.readLine(limit: Self.headerLimit)
        frameIndex = 0
        exhausted = false
    }
}
