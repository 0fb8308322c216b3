import Synchronization

/// Turns monotonically growing counters (frames captured, frames processed) into heartbeats: each sample where a
/// counter grew beats its stage. Stages need no watchdog code of their own, and a counter that stops growing (a
/// stage stuck in a syscall or a deadlock) stops its beats, which withholds WATCHDOG=1.
public final class ProgressMonitor: Sendable {
    public struct Probe: Sendable {
        public let stage: Heartbeats.Stage
        public let read: @Sendable () -> UInt64
        public init(stage: Heartbeats.Stage, read: @escaping @Sendable () -> UInt64) {
            self.stage = stage
            self.read = read
        }
    }

    private let probes: Mutex<[(probe: Probe, last: UInt64?)]> = Mutex([])

    public init() {}

    public func add(_ probe: Probe) { probes.withLock { $0.append((probe, nil)) } }

    public func remove(stagesNamed prefix: String) -> [Heartbeats.Stage] {
        probes.withLock { list in
            let removed = list.filter { $0.probe.stage.name.hasPrefix(prefix) }.map(\.probe.stage)
            list.removeAll { $0.probe.stage.name.hasPrefix(prefix) }
            return removed
        }
    }

    public func stages(prefix: String) -> [Heartbeats.Stage] {
        probes.withLock { $0.map(\.probe.stage).filter { $0.name.hasPrefix(prefix) } }
    }

    /// Reads every counter once; call at a fraction of the watchdog's stage age.
    public func sample() {
        probes.withLock { list in
            for index in list.indices {
                let value = list[index].probe.read()
                if let last = list[index].last, value > last { list[index].probe.stage.beat() }
                list[index].last = value
            }
        }
    }
}
