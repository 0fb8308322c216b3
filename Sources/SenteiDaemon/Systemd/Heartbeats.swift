import Glibc
import Synchronization

/// Progress marks of the daemon's stages (capture, detect, events…). The watchdog pings systemd only while every
/// stage beat recently, so a stage stuck in a syscall or a deadlock stops the pings and systemd restarts the service.
/// A stage that is legitimately idle (waiting for a lost camera to return) says so and is not counted as stuck.
public final class Heartbeats: Sendable {
    public final class Stage: Sendable {
        public let name: String
        private let lastBeatNs = Atomic<UInt64>(0)
        private let idle = Atomic<Bool>(false)
        private let clock: @Sendable () -> UInt64

        init(name: String, clock: @escaping @Sendable () -> UInt64) {
            self.name = name
            self.clock = clock
            lastBeatNs.store(clock(), ordering: .relaxed)
        }

        /// Called after each unit of work (a frame captured, processed, published). One relaxed atomic store.
        public func beat() {
            lastBeatNs.store(clock(), ordering: .relaxed)
            idle.store(false, ordering: .relaxed)
        }

        /// Marks the stage as waiting for input it does not control; a beat ends the idle state.
        public func setIdle(_ isIdle: Bool) {
            lastBeatNs.store(clock(), ordering: .relaxed)
            idle.store(isIdle, ordering: .relaxed)
        }

        func ageNs(now: UInt64) -> UInt64? {
            if idle.load(ordering: .relaxed) { return nil }
            let last = lastBeatNs.load(ordering: .relaxed)
            return now > last ? now - last : 0
        }
    }

    private let stages = Mutex<[Stage]>([])
    private let clock: @Sendable () -> UInt64

    /// `clock` returns monotonic nanoseconds; injected so tests control time.
    public init(clock: @escaping @Sendable () -> UInt64 = { Heartbeats.monotonicNs() }) {
        self.clock = clock
    }

    /// Registers a stage (its clock starts now). Stages live as long as the daemon; `remove` drops one that ended.
    public func stage(_ name: String) -> Stage {
        let stage = Stage(name: name, clock: clock)
        stages.withLock { $0.append(stage) }
        return stage
    }

    public func remove(_ stage: Stage) {
        stages.withLock { $0.removeAll { $0 === stage } }
    }

    /// Names of stages that have not beaten within `maxAgeNs` and are not idle.
    public func staleStages(maxAgeNs: UInt64) -> [String] {
        let now = clock()
        return stages.withLock { $0.compactMap { stage in
            guard let age = stage.ageNs(now: now), age > maxAgeNs else { return nil }
            return stage.name
        } }
    }

    public static func monotonicNs() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
