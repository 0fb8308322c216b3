public import Logging
public import ServiceLifecycle

/// Feeds systemd's watchdog (WATCHDOG=1) at half the WatchdogSec period, but only while every registered stage
/// made progress within `maxStageAgeNs`; a stuck pipeline therefore stops the pings and systemd restarts us.
public struct WatchdogService: Service {
    public let notifier: SystemdNotifier
    public let heartbeats: Heartbeats
    public let pingIntervalNs: UInt64
    public let maxStageAgeNs: UInt64
    private let logger: Logger

    /// `pingIntervalNs` defaults to half of WATCHDOG_USEC; nil when systemd enforces no watchdog (the service
    /// then only watches and logs stalls every 5 s).
    public init(notifier: SystemdNotifier, heartbeats: Heartbeats, logger: Logger,
                pingIntervalNs: UInt64? = nil, maxStageAgeNs: UInt64? = nil) {
        self.notifier = notifier
        self.heartbeats = heartbeats
        self.logger = logger
        let timeoutNs = notifier.watchdogTimeoutUsec.map { $0 * 1000 }
        self.pingIntervalNs = pingIntervalNs ?? timeoutNs.map { $0 / 2 } ?? 5_000_000_000
        self.maxStageAgeNs = maxStageAgeNs ?? timeoutNs.map { $0 / 2 } ?? 10_000_000_000
    }

    public func run() async throws {
        var wasStale: [String] = []
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let stale = check()
            if stale != wasStale {
                if stale.isEmpty {
                    logger.notice("all stages progressing again; watchdog pings resumed")
                } else {
                    logger.error("stages stalled; withholding watchdog pings",
                                 metadata: ["sentei.stages": .string(stale.joined(separator: ","))])
                }
                wasStale = stale
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: pingIntervalNs) }
            } catch {
                return
            }
        }
    }

    /// One watchdog decision: pings when no stage is stale, and returns the stale stages' names.
    @discardableResult
    public func check() -> [String] {
        let stale = heartbeats.staleStages(maxAgeNs: maxStageAgeNs)
        if stale.isEmpty { notifier.notify(.watchdog) }
        return stale
    }
}
