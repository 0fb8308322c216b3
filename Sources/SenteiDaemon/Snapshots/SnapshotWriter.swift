import Foundation
import Glibc
public import Logging
public import SenteiCapture
import SenteiVision
import Synchronization

/// Where snapshots go and how much room they may take.
public struct SnapshotConfig: Sendable, Equatable {
    /// Created if missing, e.g. `/var/lib/sentei/snapshots`.
    public var directory: String
    /// Total size of the `*.jpg` files in `directory`; the oldest are removed first to stay under it.
    public var maxBytes: Int
    /// JPEG quality, 1…100.
    public var quality: Int = 85

    public init(directory: String, maxBytes: Int, quality: Int = 85) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.quality = quality
    }
}

/// One new track to photograph: the frame it was confirmed in and its box in that frame's pixels.
struct SnapshotRequest {
    var camera: String
    var frame: Frame
    var trackId: UInt64
    var detection: Detection
    /// Wall-clock time of the request; names the file so names sort oldest first, also across restarts.
    var wallTime: Date
}

/// A JPEG with the track's box drawn, one per new track, in a directory whose total size is capped (oldest files
/// removed first). Encoding and writing happen on the writer's own thread behind a small drop-oldest queue, so the
/// pipeline never waits for the disk. A write that fails (ENOSPC, EDQUOT, EROFS, any error) becomes an `error`
/// event — once, then at most once a minute with a count while it keeps failing — and the pipeline goes on.
///
///     let snapshots = SnapshotWriter(sink: socket, logger: logger)
///     snapshots.configure(SnapshotConfig(directory: "/var/lib/sentei/snapshots", maxBytes: 256 << 20))
///     snapshots.start()            // the writer thread
///     // CameraPipeline(…, snapshots: snapshots) submits one request per track_new
///     snapshots.stop()
public final class SnapshotWriter: @unchecked Sendable {
    /// Files are written complete under a temporary name, then renamed: a reader never sees half a JPEG, and a crash
    /// leaves only `.*.tmp` files, removed at the next start.
    static let suffix = ".jpg"
    /// Frames larger than this are not decoded for a snapshot (a corrupt header must not size an allocation).
    static let maxPixels = 8192 * 8192
    /// While writes keep failing, repeat the error event at most this often.
    static let repeatErrorS: Double = 60

    private let sink: any EventSink
    private let logger: Logger
    private let queue = FrameQueue<SnapshotRequest>(capacity: 8)
    private let pending = Mutex<SnapshotConfig??>(nil)
    private let enabled = Atomic<Bool>(false)
    private let written = Atomic<UInt64>(0)
    private let failed = Atomic<UInt64>(0)
    private let completed = Atomic<UInt64>(0)
    private let submitted = Atomic<UInt64>(0)
    private let thread = Mutex<Thread?>(nil)

    // Only the writer thread (or a test calling `write` directly) touches these.
    private var settings: SnapshotConfig?
    private var files: [(name: String, bytes: Int)] = []
    private var totalBytes = 0
    private var decoder: JPEGDecoder?
    private var encoder: JPEGEncoder?
    private var failureSince: (code: String, reportedAt: Date, count: Int)?

    public init(sink: any EventSink, logger: Logger = Logger(label: "sentei.snapshots")) {
        self.sink = sink
        self.logger = logger
    }

    /// New settings (nil = off), applied before the next snapshot. Requests queued before still use the directory
    /// in force when they are written.
    public func configure(_ settings: SnapshotConfig?) {
        enabled.store(settings != nil, ordering: .relaxed)
        pending.withLock { $0 = .some(settings) }
    }

    /// Whether submitting does anything; the pipeline checks it before building a request.
    public var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Snapshots written and writes that failed so far.
    public var writtenCount: UInt64 { written.load(ordering: .relaxed) }
    public var failedCount: UInt64 { failed.load(ordering: .relaxed) }
    /// Requests dropped because the writer fell behind (the queue keeps the newest).
    public var droppedCount: UInt64 { queue.dropped }

    public func start() {
        thread.withLock { current in
            guard current == nil else { return }
            let t = Thread { [self] in
                nameCurrentThread("sentei-snapshot")
                while let request = queue.pop() {
                    write(request)
                    completed.add(1, ordering: .releasing)
                }
            }
            t.name = "sentei-snapshots"
            current = t
            t.start()
        }
    }

    /// Ends the writer thread after the queued requests.
    public func stop() { queue.close() }

    /// Waits until every request submitted so far was handled (tests, shutdown), at most `timeout`.
    @discardableResult
    public func drain(timeout: Duration = .seconds(5)) -> Bool {
        let target = submitted.load(ordering: .acquiring) - queue.dropped
        let deadline = ContinuousClock.now + timeout
        while completed.load(ordering: .acquiring) < target {
            if ContinuousClock.now >= deadline { return false }
            usleep(2000)
        }
        return true
    }

    /// One snapshot per new track in `changes` (other steps are ignored). Never blocks.
    func submit(camera: String, frame: Frame, changes: [IoUTracker.Change]) {
        guard isEnabled else { return }
        let now = Date()
        for change in changes where change.step == .new {
            let detection = Detection(classIndex: change.classIndex, label: change.label, score: change.score, box: change.box)
            submitted.add(1, ordering: .releasing)
            queue.push(SnapshotRequest(camera: camera, frame: frame, trackId: change.trackId, detection: detection,
                                       wallTime: now))
        }
    }

    // MARK: Writer thread

    /// Renders and stores one snapshot; failures are reported, never thrown.
    func write(_ request: SnapshotRequest) {
        applyPendingSettings()
        guard let settings else { return }
        let jpeg: [UInt8]
        do {
            jpeg = try render(request, quality: settings.quality)
        } catch {
            failed.add(1, ordering: .relaxed)
            logger.warning("snapshot not rendered", metadata: ["sentei.camera": "\(request.camera)",
                                                               "sentei.error": "\(error)"])
            return
        }
        guard jpeg.count <= settings.maxBytes else {
            failed.add(1, ordering: .relaxed)
            logger.warning("snapshot larger than the whole cap; not written", metadata: [
                "sentei.bytes": "\(jpeg.count)", "sentei.max_bytes": "\(settings.maxBytes)"])
            return
        }
        // Room first: the cap holds at every moment, also while the new file is being written.
        while totalBytes + jpeg.count > settings.maxBytes, !files.isEmpty { removeOldest(settings) }
        let name = Self.fileName(request)
        do {
            try Self.store(jpeg, directory: settings.directory, name: name)
        } catch {
            failed.add(1, ordering: .relaxed)
            report(error, camera: request.camera, directory: settings.directory)
            return
        }
        files.append((name, jpeg.count))
        totalBytes += jpeg.count
        written.add(1, ordering: .relaxed)
        if let since = failureSince {
            failureSince = nil
            logger.notice("snapshots written again", metadata: ["sentei.failed": "\(since.count)",
                                                                 "sentei.directory": "\(settings.directory)"])
        }
    }

    /// Files currently kept, oldest first, and their total size (tests; the writer's view, not a rescan).
    var keptFiles: [String] { files.map(\.name) }
    var keptBytes: Int { totalBytes }

    private func applyPendingSettings() {
        guard let update = pending.withLock({ value -> SnapshotConfig?? in defer { value = nil }; return value }) else {
            return
        }
        let previous = settings
        settings = update
        guard let update, update.directory != previous?.directory else { return }
        scan(update)
    }

    /// Takes stock of what a directory already holds, so the cap also counts snapshots of earlier runs.
    private func scan(_ settings: SnapshotConfig) {
        files = []
        totalBytes = 0
        let fm = FileManager.default
        do {
            try Self.makeDirectories(settings.directory)
        } catch {
            report(error, camera: nil, directory: settings.directory)
            return
        }
        let names = (try? fm.contentsOfDirectory(atPath: settings.directory)) ?? []
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            unlink(settings.directory + "/" + name)
        }
        for name in names.filter({ !$0.hasPrefix(".") && $0.hasSuffix(Self.suffix) }).sorted() {
            var info = stat()
            guard stat(settings.directory + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            files.append((name, Int(info.st_size)))
            totalBytes += Int(info.st_size)
        }
        while totalBytes > settings.maxBytes, !files.isEmpty { removeOldest(settings) }
    }

    private func removeOldest(_ settings: SnapshotConfig) {
        let oldest = files.removeFirst()
        totalBytes -= oldest.bytes
        if unlink(settings.directory + "/" + oldest.name) != 0 && errno != ENOENT {
            logger.warning("old snapshot could not be removed", metadata: [
                "sentei.file": "\(settings.directory)/\(oldest.name)", "sentei.errno": "\(SnapshotError.name(errno))"])
        }
    }

    /// `mkdir -p` with the failing call's errno.
    static func makeDirectories(_ path: String) throws(SnapshotError) {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST { throw SnapshotError(errno: errno, call: "mkdir", path: prefix) }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw SnapshotError(errno: ENOTDIR, call: "mkdir", path: path)
        }
    }

    /// `20261129T063512.123Z_front_42.jpg`: UTC time first so that name order is age order.
    static func fileName(_ request: SnapshotRequest) -> String {
        let ms = Int64((request.wallTime.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                           parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, Int(ms % 1000))
        return "\(stamp)_\(request.camera)_\(request.trackId)\(suffix)"
    }

    /// Writes `bytes` to `directory/.name.tmp`, then renames it to `directory/name`. Every failing call is
    /// reported with its errno; the temporary file never outlives a failure.
    static func store(_ bytes: [UInt8], directory: String, name: String) throws(SnapshotError) {
        let temporary = directory + "/." + name + ".tmp"
        let path = directory + "/" + name
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SnapshotError(errno: errno, call: "open", path: temporary) }
        var failure: SnapshotError?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = SnapshotError(errno: errno, call: "write", path: temporary)
                    return
                }
                offset += n
            }
        }
        // close() reports deferred errors on some file systems (EDQUOT over NFS).
        if close(fd) != 0 && failure == nil { failure = SnapshotError(errno: errno, call: "close", path: temporary) }
        if failure == nil && rename(temporary, path) != 0 {
            failure = SnapshotError(errno: errno, call: "rename", path: path)
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    private func report(_ error: SnapshotError, camera: String?, directory: String) {
        let now = Date()
        if var since = failureSince, since.code == error.errnoName {
            since.count += 1
            failureSince = since
            guard now.timeIntervalSince(since.reportedAt) >= Self.repeatErrorS else { return }
            failureSince = (since.code, now, 0)
            emit(error, camera: camera, count: since.count)
            return
        }
        failureSince = (error.errnoName, now, 0)
        emit(error, camera: camera, count: 1)
    }

    private func emit(_ error: SnapshotError, camera: String?, count: Int) {
        logger.error("snapshot not written; detection goes on", metadata: [
            "sentei.errno": "\(error.errnoName)", "sentei.file": "\(error.path)", "sentei.call": "\(error.call)",
            "sentei.count": "\(count)"])
        sink.emit(.error(ErrorEvent(camera: camera, code: "snapshot_write_failed", errno: error.errnoName,
                                    path: error.path, message: error.description, count: count)))
    }

    // MARK: Rendering

    private func render(_ request: SnapshotRequest, quality: Int) throws -> [UInt8] {
        if decoder == nil { decoder = try JPEGDecoder() }
        if encoder == nil { encoder = try JPEGEncoder() }
        var image = try Self.rgbImage(request.frame, decoder: decoder!)
        Annotator.draw([request.detection], on: &image)
        return try encoder!.encode(image, quality: quality)
    }

    /// The whole frame as packed RGB: JPEG decoded at full size, raw formats converted row by row.
    static func rgbImage(_ frame: Frame, decoder: JPEGDecoder) throws -> DecodedImage {
        let name = "frame \(frame.sequence)"
        if frame.format == .mjpeg {
            return try frame.bytes.withUnsafeBytes { jpeg in
                let (width, height) = try decoder.size(of: jpeg, name: name)
                guard width * height <= maxPixels else {
                    throw VisionError(.invalidFrame, "\(name): \(width)x\(height) is too large for a snapshot")
                }
                return try decoder.decode(jpeg, name: name)
            }
        }
        let format = try visionFormat(frame.format)
        guard frame.width > 0, frame.height > 0, frame.width * frame.height <= maxPixels else {
            throw VisionError(.invalidFrame, "\(name): \(frame.width)x\(frame.height) is not a snapshot size")
        }
        return try frame.bytes.withUnsafeBytes { bytes in
            let buffer = try PixelBuffer(bytes: bytes, format: format, width: frame.width, height: frame.height,
                                         bytesPerLine: frame.bytesPerLine, name: name)
            let width = frame.width
            var pixels = [UInt8](repeating: 0, count: width * frame.height * 3)
            var rows = [Float](repeating: 0, count: 3 * width)
            rows.withUnsafeMutableBufferPointer { row in
                let r = row.baseAddress!, g = r + width, b = g + width
                pixels.withUnsafeMutableBufferPointer { out in
                    for y in 0..<frame.height {
                        convertRow(y, of: buffer, r: r, g: g, b: b)
                        let line = out.baseAddress! + y * width * 3
                        for x in 0..<width {
                            line[3 * x] = UInt8(r[x])
                            line[3 * x + 1] = UInt8(g[x])
                            line[3 * x + 2] = UInt8(b[x])
                        }
                    }
                }
            }
            return DecodedImage(pixels: pixels, format: .rgb24, width: width, height: frame.height)
        }
    }
}

/// A failed system call while storing a snapshot: which call, on which path, and the errno.
public struct SnapshotError: Error, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var call: String
    public var path: String

    public init(errno: Int32, call: String, path: String) {
        self.errno = errno
        self.call = call
        self.path = path
    }

    public var errnoName: String { Self.name(errno) }

    public var description: String { "\(call) \(path) failed with \(errnoName) (\(String(cString: strerror(errno))))" }

    /// The symbolic name of the errors a snapshot directory meets; others as `errno N`.
    static func name(_ code: Int32) -> String {
        switch code {
        case ENOSPC: "ENOSPC"
        case EDQUOT: "EDQUOT"
        case EROFS: "EROFS"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EIO: "EIO"
        case ENOENT: "ENOENT"
        case ENOTDIR: "ENOTDIR"
        case EFBIG: "EFBIG"
        case EMFILE: "EMFILE"
        case ENFILE: "ENFILE"
        case ENAMETOOLONG: "ENAMETOOLONG"
        default: "errno \(code)"
        }
    }
}
