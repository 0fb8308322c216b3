#if canImport(Glibc)
import Glibc
#endif

/// No meter readable: busy CPU time × a configured watts-per-core figure. Labelled "estimate:system-cpu-time" or
/// "estimate:cpu-time" (the daemon's own) everywhere it appears, because it is a model of power, not a measurement.
public final class CPUTimeEstimateMeter: PowerMeter {
    public let name: String
    public var isEstimate: Bool { true }
    public var includesOtherProcesses: Bool { scope == .system }
    public let scope: EstimateScope
    /// Watts one fully busy core adds.
    public let wattsPerCore: Double
    private let cpuTimeNs: @Sendable () throws(PowerMeterError) -> UInt64
    private var previous: (cpuNs: UInt64, nowNs: UInt64)?

    /// `cpuTimeNs` defaults to CLOCK_PROCESS_CPUTIME_ID (all threads of this process); tests script it.
    public init(wattsPerCore: Double, scope: EstimateScope = .process,
                cpuTimeNs: @escaping @Sendable () throws(PowerMeterError) -> UInt64 = processCPUTimeNs) {
        self.wattsPerCore = wattsPerCore
        self.scope = scope
        self.name = scope == .system ? "estimate:system-cpu-time" : "estimate:cpu-time"
        self.cpuTimeNs = cpuTimeNs
    }

    public func sample(nowNs: UInt64) throws(PowerMeterError) -> Double? {
        let cpu = try cpuTimeNs()
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

/// Busy CPU time of the whole machine, nanoseconds: user + nice + system + irq + softirq from the first ("cpu")
/// line of /proc/stat. Idle and iowait are not work; steal is time the hypervisor gave to other guests, which this
/// machine's cores did not spend. Guest time is already inside user and nice.
public func systemBusyCPUTimeNs(sysfs: SysfsReader = SysfsReader(),
                                ticksPerSecond: Int = sysconf(Int32(_SC_CLK_TCK))) throws(PowerMeterError) -> UInt64 {
    let path = "/proc/stat"
    let line = try sysfs.readLine(path)
    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
    guard fields.first == "cpu", fields.count >= 8 else {
        throw PowerMeterError(.malformed, "\(path) starts with '\(line.prefix(40))', not the 'cpu' totals line")
    }
    var ticks: UInt64 = 0
    for (index, name) in [(1, "user"), (2, "nice"), (3, "system"), (6, "irq"), (7, "softirq")] {
        guard let value = UInt64(fields[index]) else {
            throw PowerMeterError(.malformed, "\(path) field \(name) is '\(fields[index].prefix(20))', not a tick count")
        }
        let (sum, overflow) = ticks.addingReportingOverflow(value)
        guard !overflow else { throw PowerMeterError(.malformed, "\(path) tick counts overflow") }
        ticks = sum
    }
    guard ticksPerSecond > 0 else { throw PowerMeterError(.unreadable, "sysconf(_SC_CLK_TCK) failed") }
    return ticks.multipliedReportingOverflow(by: 1_000_000_000 / UInt64(ticksPerSecond)).partialValue
}
