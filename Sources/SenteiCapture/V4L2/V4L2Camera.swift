import CV4L2
import Glibc

/// A V4L2 camera as a `FrameSource`: negotiates, streams from an mmap ring with poll and DQBUF/QBUF, and recovers
/// from unplugs on its own. States: disconnected → streaming → (lost → back-off → reconnect) → streaming …
///
/// Loss is ENODEV/EIO-like errors or no frame within `frameTimeoutMs`; it releases everything, reports `lost`,
/// retries with exponential back-off and, when the device is back, renegotiates from scratch and reports `found`.
/// Not thread-safe: one capture thread owns it; `StopSignal` ends `nextFrame()` from elsewhere.
public final class V4L2Camera: FrameSource {
    public let name: String
    let config: CaptureConfiguration
    let system: any V4L2System
    let convertingSystem: (any V4L2System)?
    private let clock: any MonotonicClock
    private let onEvent: CaptureEventHandler
    private let stopSignal: StopSignal
    private var session: V4L2Session?
    private var everConnected = false
    private var lastDeliveredSequence: UInt64?

    /// The current negotiation; nil while disconnected.
    public var current: NegotiatedFormat? { session?.format }
    public private(set) var lostCount = 0
    public private(set) var foundCount = 0
    /// Buffers dequeued but not delivered (stale first frames, error-flagged or short buffers).
    public private(set) var skippedCount = 0

    public init(
        configuration: CaptureConfiguration,
        system: any V4L2System = LinuxV4L2System(mode: .direct),
        convertingSystem: (any V4L2System)? = LinuxV4L2System(mode: .libv4l2),
        clock: any MonotonicClock = SystemMonotonicClock(),
        stopSignal: StopSignal = StopSignal(),
        onEvent: @escaping CaptureEventHandler = { _ in }
    ) {
        self.name = configuration.devicePath
        self.config = configuration
        self.system = system
        self.convertingSystem = convertingSystem
        self.clock = clock
        self.stopSignal = stopSignal
        self.onEvent = onEvent
    }

    deinit { session?.release() }

    /// Connects now (instead of on the first `nextFrame()`), so callers can report the negotiation up front.
    @discardableResult
    public func start() throws -> NegotiatedFormat? {
        if session == nil { try establish() }
        return session?.format
    }

    /// Releases the device; a later `nextFrame()` connects again.
    public func close() {
        session?.release()
        session = nil
    }

    public func nextFrame() throws -> Frame? {
        while !stopSignal.isStopped {
            guard let s = session else {
                try establish()
                continue
            }
            if let reason = s.pendingLoss {
                lose(reason)
                continue
            }
            if let frame = try pollOnce(s) { return frame }
        }
        return nil
    }

    // MARK: - connection state machine

    private func establish() throws {
        var attempt = 0
        var delayMs = config.retryInitialDelayMs
        // After a loss, wait before the first attempt too: an unplugged device's node lingers for a moment, and an
        // immediate reopen would race the removal.
        if everConnected {
            sleepUnlessStopped(milliseconds: delayMs)
            delayMs = min(delayMs * 2, config.retryMaxDelayMs)
        }
        while !stopSignal.isStopped {
            do {
                let s = try connect()
                session = s
                let format = s.format!
                if everConnected {
                    foundCount += 1
                    onEvent(.found(format))
                } else {
                    onEvent(.negotiated(format))
                }
                everConnected = true
                return
            } catch {
                // Before the first success only "absent" is worth waiting for; a wrong device is a config error.
                if !everConnected && !(config.waitForDeviceAtStart && error.code == .deviceUnavailable) {
                    throw error
                }
                attempt += 1
                if let limit = config.maxReconnectAttempts, attempt > limit {
                    throw CaptureError(
                        .deviceUnavailable, "\(name): gave up after \(limit) reconnection attempts; last: \(error)")
                }
                onEvent(.retrying(device: name, attempt: attempt, delayMs: delayMs, reason: error.message))
                sleepUnlessStopped(milliseconds: delayMs)
                delayMs = min(delayMs * 2, config.retryMaxDelayMs)
            }
        }
    }

    /// Sleeps in slices so a stop request is honoured within 50 ms.
    private func sleepUnlessStopped(milliseconds: Int) {
        let deadline = clock.nowNs() + UInt64(max(milliseconds, 0)) * 1_000_000
        while !stopSignal.isStopped {
            let now = clock.nowNs()
            if now >= deadline { return }
            clock.sleep(untilNs: min(deadline, now + 50_000_000))
        }
    }

    private func lose(_ reason: String) {
        session?.release()
        session = nil
        lostCount += 1
        onEvent(.lost(device: name, reason: reason))
    }

    // MARK: - streaming

    private func pollOnce(_ s: V4L2Session) throws -> Frame? {
        guard let fd = s.fileDescriptor else {
            lose("session without a file descriptor")
            return nil
        }
        var revents: Int16 = 0
        switch system(of: s).poll(fd, events: Int16(POLLIN), timeoutMs: config.frameTimeoutMs) {
        case .success(0):
            lose("no frame within \(config.frameTimeoutMs) ms")
            return nil
        case .success(let r): revents = r
        case .failure(let e) where e == .interrupted: return nil
        case .failure(let e):
            lose("poll failed with \(e)")
            return nil
        }
        if revents & Int16(POLLNVAL) != 0 {
            lose("poll reported POLLNVAL")
            return nil
        }
        var b = v4l2_buffer()
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        b.memory = V4L2_MEMORY_MMAP.rawValue
        switch s.ioctl(SW_VIDIOC_DQBUF, &b) {
        case .success: break
        case .failure(let e) where e == .wouldBlock:
            // POLLERR without a buffer: the queue is dead (vivid's disconnect, streaming stopped under us).
            if revents & Int16(POLLERR | POLLHUP) != 0 { lose("poll reported an error and no buffer is ready") }
            return nil
        case .failure(let e):
            lose("VIDIOC_DQBUF failed with \(e)")
            return nil
        }
        guard Int(b.index) < s.mappings.count, let format = s.format else {
            lose("VIDIOC_DQBUF returned buffer index \(b.index) of \(s.mappings.count)")
            return nil
        }
        let frame = makeFrame(s, buffer: b, format: format)
        if case .failure(let e) = s.ioctl(SW_VIDIOC_QBUF, &b) {
            s.pendingLoss = "VIDIOC_QBUF failed with \(e)"
        }
        return frame
    }

    private func system(of s: V4L2Session) -> any V4L2System { s.system }

    /// Copies a dequeued buffer into a `Frame`, or returns nil for buffers to skip: error-flagged, empty, larger than
    /// their mapping, short raw frames, and MJPEG buffers that do not start with SOI (the stale first buffer
    /// v4l2loopback hands out after STREAMON).
    private func makeFrame(_ s: V4L2Session, buffer b: v4l2_buffer, format: NegotiatedFormat) -> Frame? {
        let mapping = s.mappings[Int(b.index)]
        let used = Int(b.bytesused)
        let base = UnsafeRawBufferPointer(start: mapping.address, count: mapping.length)
        var skip: String?
        if b.flags & UInt32(V4L2_BUF_FLAG_ERROR) != 0 {
            skip = "buffer flagged V4L2_BUF_FLAG_ERROR"
        } else if used == 0 || used > mapping.length {
            skip = "bytesused \(used) outside 1...\(mapping.length)"
        } else if format.format == .mjpeg, used < 4 || base[0] != 0xFF || base[1] != 0xD8 {
            skip = "MJPEG buffer without SOI marker (stale or partial)"
        } else if let minimum = format.format.minimumImageBytes(
            width: format.width, height: format.height, bytesPerLine: format.bytesPerLine), used < minimum
        {
            skip = "short \(format.format) buffer: \(used) of \(minimum) bytes"
        }
        if let skip {
            skippedCount += 1
            onEvent(.skipped(source: name, reason: "sequence \(b.sequence): \(skip)"))
            return nil
        }
        var dropped = 0
        if let last = s.lastDriverSequence {
            let gap = b.sequence &- last
            // A sequence going backwards or jumping by more than 2^31 is a driver restart, not drops.
            if gap >= 1 && gap < 1 << 31 { dropped = Int(gap - 1) }
        }
        s.lastDriverSequence = b.sequence
        let sequence = lastDeliveredSequence.map { $0 + 1 + UInt64(dropped) } ?? 0
        lastDeliveredSequence = sequence
        let monotonic =
            b.flags & UInt32(V4L2_BUF_FLAG_TIMESTAMP_MASK) == UInt32(V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
        let ts = b.timestamp
        let timestampNs =
            monotonic && (ts.tv_sec > 0 || ts.tv_usec > 0)
            ? UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_usec) * 1000 : clock.nowNs()
        return Frame(
            format: format.format, width: format.width, height: format.height, bytesPerLine: format.bytesPerLine,
            bytes: Array(UnsafeRawBufferPointer(rebasing: base[0..<used])), timestampNs: timestampNs,
            sequence: sequence, droppedSinceLast: dropped)
    }
}
