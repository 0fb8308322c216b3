import CSystemd
import Glibc

/// The sd_notify(3) protocol through libsystemd: READY/RELOADING/STOPPING/WATCHDOG/STATUS datagrams to
/// `$NOTIFY_SOCKET`. Without a notify socket (not started by systemd) every call is a cheap no-op.
public struct SystemdNotifier: Sendable {
    public enum State: Sendable, Equatable {
        /// Startup finished: the model is loaded and the first frame was processed.
        case ready
        /// A reload started; systemd expects READY=1 when it is done. Carries CLOCK_MONOTONIC in µs, which
        /// Type=notify-reload requires and Type=notify ignores.
        case reloading(monotonicUsec: UInt64)
        case stopping
        /// Keep-alive ping; only sent when the heartbeat says every stage progressed.
        case watchdog
        /// One line for `systemctl status`.
        case status(String)

        var assignment: String {
            switch self {
            case .ready: "READY=1"
            case .reloading(let usec): "RELOADING=1\nMONOTONIC_USEC=\(usec)"
            case .stopping: "STOPPING=1"
            case .watchdog: "WATCHDOG=1"
            case .status(let line): "STATUS=" + line.split(separator: "\n").joined(separator: " ")
            }
        }
    }

    public init() {}

    /// Whether systemd is listening (NOTIFY_SOCKET is set).
    public var isEnabled: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends the states in one datagram. Returns false when the socket is set but the send failed.
    @discardableResult
    public func notify(_ states: State...) -> Bool { notify(states) }

    @discardableResult
    public func notify(_ states: [State]) -> Bool {
        let message = states.map(\.assignment).joined(separator: "\n")
        return sw_sd_notify(0, message) >= 0
    }

    /// The keep-alive period systemd enforces (WatchdogSec=), when it enforces one for this process.
    public var watchdogTimeoutUsec: UInt64? {
        var usec: UInt64 = 0
        let enabled = withUnsafeMutablePointer(to: &usec) { pointer in
            pointer.withMemoryRebound(to: CUnsignedLongLong.self, capacity: 1) { sw_sd_watchdog_enabled(0, $0) }
        }
        return enabled > 0 && usec > 0 ? usec : nil
    }

    public static func monotonicUsec() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
