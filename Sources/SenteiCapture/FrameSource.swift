import Synchronization

/// Anything that yields frames: a V4L2 camera or a replay file. Calls block (run them on a dedicated thread, not on
/// the cooperative pool); `nextFrame()` returns nil when the input is exhausted or `stop` was signalled.
public protocol FrameSource: AnyObject {
    /// Names the input in logs: the device path or the replayed file.
    var name: String { get }
    func nextFrame() throws -> Frame?
}

/// What a source reports besides frames. Delivered synchronously on the capture thread.
public enum CaptureEvent: Sendable {
    /// First successful negotiation.
    case negotiated(NegotiatedFormat)
    /// The device disappeared or stalled; everything was released and reconnection starts.
    case lost(device: String, reason: String)
    /// A reconnection attempt failed; the next one follows after `delayMs`.
    case retrying(device: String, attempt: Int, delayMs: Int, reason: String)
    /// The device is back and was renegotiated from scratch.
    case found(NegotiatedFormat)
    /// A frame or file was skipped (stale first buffer, corrupt replay file); the source goes on.
    case skipped(source: String, reason: String)
}

public typealias CaptureEventHandler = @Sendable (CaptureEvent) -> Void

/// Lets another thread end a blocking `nextFrame()` loop; checked between polls and back-off sleeps.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func stop() { flag.store(true, ordering: .releasing) }
    public var isStopped: Bool { flag.load(ordering: .acquiring) }
}
