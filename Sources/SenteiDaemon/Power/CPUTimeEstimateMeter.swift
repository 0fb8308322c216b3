#if canImport(Glibc)
import Glibc
#endif

/// No meter readable: this process's CPU time × a configured watts-per-core figure. Labelled "estimate:cpu-time"
/// everywhere it appears, because it is a model of power, not a measurement.
public final class CPUTimeEstimateMeter: PowerMeter {
    public let name = "estimate:cpu-time"
    public var isEstimate: Bool { true }
    /// Watts one fully busy core adds.
    public let wattsPerCore: Double
    private let cpuTimeNs: @Sendable () -> UInt64
    private var previous: (cpuNs: UInt64, nowNs: UInt64)?

    /// `cpuTimeNs` defaults to CLOCK_PROCESS_CPUTIME_ID (all threads of this process); tests script it.
    public init(wattsPerCore: Double, cpuTimeNs: @escaping @Sendable () -> UInt64 = processCPUTimeNs) {
        self.wattsPerCore = wattsPerCore
        self.cpuTimeNs = cpuTimeNs
    }

    public func sample(nowNs: UInt64) throws(PowerMeterError) -> Double? {
        let cpu = cpuTimeNs()
        defer { previous = (cpu, nowNs) }
        guard let previous, nowNs > previous.nowNs, cpu >= previous.cpuNs else { return nil }
        let busyCores = Double(cpu - previous.cpuNs) / Double(nowNs - previous.nowNs)
        return busyCores * wattsPerCore
    }
}

/// CPU time used by all threads of this process, nanoseconds.
public func processCPUTimeNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
