import Glibc

/// How fast a replay source delivers frames.
public enum ReplayPacing: Sendable, Equatable {
    case asFastAsPossible
    case fps(Double)
}

/// Frame k of a paced run is due at anchor + k·period, computed from k each time so rounding never accumulates.
/// A consumer that falls more than one period behind restarts the schedule at "now" rather than receiving a burst.
struct ReplayPacer {
    let periodNs: Double?
    private var anchorNs: UInt64?
    private var index: UInt64 = 0

    init(_ pacing: ReplayPacing) {
        if case .fps(let fps) = pacing, fps > 0 { periodNs = 1e9 / fps } else { periodNs = nil }
    }

    /// Waits until the next frame is due and returns its timestamp.
    mutating func waitForNext(_ clock: any MonotonicClock) -> UInt64 {
        let now = clock.nowNs()
        guard let periodNs else { return now }
        guard let anchor = anchorNs else {
            anchorNs = now
            index = 1
            return now
        }
        let due = anchor + UInt64((Double(index) * periodNs).rounded())
        if now > due + UInt64(periodNs) {
            anchorNs = now
            index = 1
            return now
        }
        index += 1
        if now < due {
            clock.sleep(untilNs: due)
            return due
        }
        return now
    }
}

/// Replays recorded frames as if they came from a camera: same `Frame` values, monotonic timestamps, increasing
/// sequence numbers (also across loops). Damaged pieces (an unreadable or corrupt file, a truncated image) are
/// reported as `skipped` events naming the file and the run goes on.
public final class ReplaySource: FrameSource {
    public let name: String
    public let pacing: ReplayPacing
    public let loop: Bool
    /// Y4M's F tag, when the input has one.
    public let nativeFps: Double?
    private let reader: any ReplayReader
    private let clock: any MonotonicClock
    private let stopSignal: StopSignal
    private let onEvent: CaptureEventHandler
    private var pacer: ReplayPacer
    private var nextSequence: UInt64 = 0
    private var framesThisPass = 0
    public private(set) var passes = 0
    public private(set) var damagedCount = 0

    init(reader: any ReplayReader, nativeFps: Double?, pacing: ReplayPacing, loop: Bool, clock: any MonotonicClock,
         stopSignal: StopSignal, onEvent: @escaping CaptureEventHandler) {
        self.reader = reader
        self.name = reader.name
        self.nativeFps = nativeFps
        self.pacing = pacing
        self.loop = loop
        self.clock = clock
        self.stopSignal = stopSignal
        self.onEvent = onEvent
        self.pacer = ReplayPacer(pacing)
    }

    public static func jpegDirectory(
        _ directory: String, pacing: ReplayPacing, loop: Bool = false, clock: any MonotonicClock = SystemMonotonicClock(),
        stopSignal: StopSignal = StopSignal(), onEvent: @escaping CaptureEventHandler = { _ in }
    ) throws(CaptureError) -> ReplaySource {
        ReplaySource(reader: try JPEGDirectoryReader(directory: directory), nativeFps: nil, pacing: pacing, loop: loop,
                     clock: clock, stopSignal: stopSignal, onEvent: onEvent)
    }

    public static func mjpegFile(
        _ path: String, pacing: ReplayPacing, loop: Bool = false, clock: any MonotonicClock = SystemMonotonicClock(),
        stopSignal: StopSignal = StopSignal(), onEvent: @escaping CaptureEventHandler = { _ in }
    ) throws(CaptureError) -> ReplaySource {
        ReplaySource(reader: try MJPEGFileReader(path: path), nativeFps: nil, pacing: pacing, loop: loop,
                     clock: clock, stopSignal: stopSignal, onEvent: onEvent)
    }

    public static func y4mFile(
        _ path: String, pacing: ReplayPacing, loop: Bool = false, clock: any MonotonicClock = SystemMonotonicClock(),
        stopSignal: StopSignal = StopSignal(), onEvent: @escaping CaptureEventHandler = { _ in }
    ) throws(CaptureError) -> ReplaySource {
        let reader = try Y4MReader(path: path)
        return ReplaySource(reader: reader, nativeFps: reader.nativeFps, pacing: pacing, loop: loop, clock: clock,
                            stopSignal: stopSignal, onEvent: onEvent)
    }

    /// Picks the reader from the path: a directory holds JPEGs, `.y4m` is Y4M, anything else concatenated MJPEG.
    public static func open(
        _ path: String, pacing: ReplayPacing, loop: Bool = false, clock: any MonotonicClock = SystemMonotonicClock(),
        stopSignal: StopSignal = StopSignal(), onEvent: @escaping CaptureEventHandler = { _ in }
    ) throws(CaptureError) -> ReplaySource {
        if isDirectory(path) {
            return try jpegDirectory(path, pacing: pacing, loop: loop, clock: clock, stopSignal: stopSignal,
                                     onEvent: onEvent)
        }
        if path.lowercased().hasSuffix(".y4m") {
            return try y4mFile(path, pacing: pacing, loop: loop, clock: clock, stopSignal: stopSignal, onEvent: onEvent)
        }
        return try mjpegFile(path, pacing: pacing, loop: loop, clock: clock, stopSignal: stopSignal, onEvent: onEvent)
    }

    public func nextFrame() throws -> Frame? {
        while !stopSignal.isStopped {
            guard let item = try reader.next() else {
                guard framesThisPass > 0 else {
                    throw CaptureError(.noFrames, "\(name) holds no usable frame")
                }
                guard loop else { return nil }
                try reader.rewind()
                passes += 1
                framesThisPass = 0
                continue
            }
            switch item {
            case .damaged(let error):
                damagedCount += 1
                onEvent(.skipped(source: name, reason: error.message))
            case .frame(let format, let width, let height, let bytesPerLine, let bytes):
                framesThisPass += 1
                let timestampNs = pacer.waitForNext(clock)
                defer { nextSequence += 1 }
                return Frame(
                    format: format, width: width, height: height, bytesPerLine: bytesPerLine, bytes: bytes,
                    timestampNs: timestampNs, sequence: nextSequence, droppedSinceLast: 0)
            }
        }
        return nil
    }
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
}
