/// The daemon's share of the machine's busy CPU time between two samples (0…1). A package meter (RAPL) or the
/// system-wide estimate also counts other processes; the controller attributes only this share of the power above
/// idle to its own work, so a busy neighbour is not predicted to go away when the daemon steps down.
public final class CPUShareSampler {
    private let processNs: @Sendable () -> UInt64
    private let systemBusyNs: @Sendable () throws(PowerMeterError) -> UInt64
    private var previous: (process: UInt64, system: UInt64)?

    public init(processNs: @escaping @Sendable () -> UInt64 = processCPUTimeNs,
                systemBusyNs: @escaping @Sendable () throws(PowerMeterError) -> UInt64 = { () throws(PowerMeterError) in
                    try systemBusyCPUTimeNs() }) {
        self.processNs = processNs
        self.systemBusyNs = systemBusyNs
    }

    /// nil on the first call, when /proc/stat cannot be read, or when the machine was idle over the interval.
    public func sample() -> Double? {
        guard let system = try? systemBusyNs() else {
            previous = nil
            return nil
        }
        let process = processNs()
        defer { previous = (process, system) }
        guard let previous, system > previous.system, process >= previous.process else { return nil }
        // Tick-granular system time (10 ms) against ns process time: clamp the rounding.
        return min(1, Double(process - previous.process) / Double(system - previous.system))
    }
}
