import Synchronization

/// Watches the event stream for what systemd and the watchdog need: the latest stats per camera (STATUS=), which
/// cameras processed a frame (READY=1) and which are lost (their stages are idle, not stuck).
public final class DaemonStatus: EventSink, Sendable {
    private struct State {
        var stats: [String: StatsEvent] = [:]
        var lost: Set<String> = []
        var seen: Set<String> = []
    }

    private let state = Mutex(State())
    private let onCameraState: @Sendable (_ camera: String, _ lost: Bool) -> Void

    public init(onCameraState: @escaping @Sendable (_ camera: String, _ lost: Bool) -> Void = { _, _ in }) {
        self.onCameraState = onCameraState
    }

    public func emit(_ event: Event) {
        switch event {
        case .stats(let e): state.withLock { $0.stats[e.camera] = e; $0.seen.insert(e.camera) }
        case .detections(let e): state.withLock { _ = $0.seen.insert(e.camera) }
        case .cameraLost(let e):
            state.withLock { _ = $0.lost.insert(e.camera) }
            onCameraState(e.camera, true)
        case .cameraFound(let e):
            state.withLock { _ = $0.lost.remove(e.camera) }
            onCameraState(e.camera, false)
        case .trackNew, .trackUpdate, .trackEnd, .levelChange, .error, .rungWithdrawn, .rungReadmitted: break
        }
    }

    /// Cameras that delivered a processed frame (a detections or stats event) or are known lost.
    public func accountedFor(_ cameras: [String]) -> Bool {
        state.withLock { s in cameras.allSatisfy { s.seen.contains($0) || s.lost.contains($0) } }
    }

    public var statusLine: String {
        let (stats, lost) = state.withLock { ($0.stats, $0.lost) }
        var line = StatusLine.format(stats.keys.sorted().map { stats[$0]! })
        if !lost.isEmpty { line += "; lost: " + lost.sorted().joined(separator: ",") }
        return line
    }

    public func forget(_ camera: String) {
        state.withLock { s in
            s.stats[camera] = nil
            s.lost.remove(camera)
            s.seen.remove(camera)
        }
    }
}
