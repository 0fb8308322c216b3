import Glibc

/// Time source for pacing and back-off, injected so tests control time.
public protocol MonotonicClock: Sendable {
    func nowNs() -> UInt64
    /// Returns at or after `deadlineNs` (on this clock).
    func sleep(untilNs deadlineNs: UInt64)
}

/// CLOCK_MONOTONIC, the same clock V4L2 stamps buffers with.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}

    public func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public func sleep(untilNs deadlineNs: UInt64) {
        var ts = timespec(tv_sec: Int(deadlineNs / 1_000_000_000), tv_nsec: Int(deadlineNs % 1_000_000_000))
        // Absolute deadline: an EINTR restart cannot stretch the wait, which is what keeps paced replay drift-free.
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}
