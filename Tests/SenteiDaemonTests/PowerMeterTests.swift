import Foundation
import Glibc
import Testing
@testable import SenteiDaemon

/// A throwaway sysfs tree: same directory names, file names and units as the kernel's.
final class FakeSysfs {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "sentei-sysfs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var reader: SysfsReader { SysfsReader(root: root) }

    func write(_ path: String, _ value: String, mode: Int = 0o444) throws {
        let full = root + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try (value + "\n").write(toFile: full, atomically: false, encoding: .utf8)
        chmod(full, mode_t(mode))
    }

    func raplZone(_ zone: String, name: String, energy: UInt64, range: UInt64 = 262_143_328_850,
                  energyMode: Int = 0o444) throws {
        let dir = "/sys/class/powercap/\(zone)"
        try write(dir + "/name", name)
        try write(dir + "/max_energy_range_uj", "\(range)")
        try write(dir + "/energy_uj", "\(energy)", mode: energyMode)
    }
}

/// Runs `body` with this thread's filesystem uid set to nobody, so file permissions apply even to root (the
/// kernel drops CAP_DAC_OVERRIDE from a thread whose fsuid is non-zero). setfsuid is per-thread in glibc.
func asUnprivileged<R>(_ body: () throws -> R) rethrows -> R {
    guard geteuid() == 0 else { return try body() }
    typealias SetFSUID = @convention(c) (UInt32) -> Int32
    let handle = dlopen(nil, RTLD_NOW)
    let symbol = dlsym(handle, "setfsuid")!
    let setfsuid = unsafeBitCast(symbol, to: SetFSUID.self)
    _ = setfsuid(65534)
    defer { _ = setfsuid(0) }
    return try body()
}

@Suite struct PowerMeterTests {
    @Test func raplSumsPackagesNotSubzonesAndConvertsMicrojoules() throws {
        let sysfs = try FakeSysfs()
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 1_000_000)
        try sysfs.raplZone("intel-rapl:0:0", name: "core", energy: 500_000)
        try sysfs.raplZone("intel-rapl:1", name: "package-1", energy: 0)
        let meter = try RAPLMeter(sysfs: sysfs.reader)
        #expect(meter.name == "rapl:package-0+package-1")
        #expect(try meter.sample(nowNs: 1_000_000_000) == nil)
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 6_000_000)
        try sysfs.raplZone("intel-rapl:0:0", name: "core", energy: 99_000_000)
        try sysfs.raplZone("intel-rapl:1", name: "package-1", energy: 2_000_000)
        // (5 J + 2 J) over 2 s; the subzone's 98.5 J is part of package-0 already and must not count.
        let watts = try #require(try meter.sample(nowNs: 3_000_000_000))
        #expect(abs(watts - 3.5) < 1e-9)
    }

    @Test func raplCounterWrapsAtItsRange() throws {
        let sysfs = try FakeSysfs()
        let range: UInt64 = 65_532_610_987
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: range - 1_000_000, range: range)
        let meter = try RAPLMeter(sysfs: sysfs.reader)
        _ = try meter.sample(nowNs: 0)
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 3_000_000, range: range)
        let watts = try #require(try meter.sample(nowNs: 500_000_000))
        // 1 J before the wrap + 3 J after, in half a second.
        #expect(abs(watts - 8) < 1e-9)
    }

    @Test func unreadableEnergyIsRejectedWithTheErrnoAndTheNextMeterIsUsed() throws {
        let sysfs = try FakeSysfs()
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 1, energyMode: 0o400)
        try sysfs.write("/sys/class/hwmon/hwmon0/name", "ina3221")
        try sysfs.write("/sys/class/hwmon/hwmon0/in1_input", "5000")
        try sysfs.write("/sys/class/hwmon/hwmon0/curr1_input", "1200")
        try sysfs.write("/sys/class/hwmon/hwmon0/in2_input", "12000")
        try sysfs.write("/sys/class/hwmon/hwmon0/curr2_input", "250")
        try sysfs.write("/sys/class/hwmon/hwmon0/in4_input", "40")  // shunt voltage: no current partner
        let result = asUnprivileged { PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 5).probe() }
        let rapl = try #require(result.rejected.first { $0.candidate == "rapl" })
        #expect(rapl.reason.contains("EACCES"))
        #expect(rapl.reason.contains("energy_uj"))
        #expect(result.meter.name == "hwmon:ina3221/in1*curr1+in2*curr2")
        #expect(!result.meter.isEstimate)
        // 5 V × 1.2 A + 12 V × 0.25 A.
        #expect(abs((try result.meter.sample(nowNs: 0) ?? 0) - 9) < 1e-9)
    }

    @Test func permissionDeniedIsItsOwnCode() throws {
        let sysfs = try FakeSysfs()
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 1, energyMode: 0o000)
        let error = asUnprivileged { () -> PowerMeterError? in
            do {
                _ = try RAPLMeter(sysfs: sysfs.reader)
                return nil
            } catch let error as PowerMeterError {
                return error
            } catch {
                return nil
            }
        }
        #expect(error?.code == .permissionDenied)
    }

    @Test func hwmonPowerIsMicrowattsAndEnergyIsPreferred() throws {
        let sysfs = try FakeSysfs()
        try sysfs.write("/sys/class/hwmon/hwmon0/name", "acpi_power")
        try sysfs.write("/sys/class/hwmon/hwmon0/power1_input", "4500000")
        let power = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 5).probe()
        #expect(power.meter.name == "hwmon:acpi_power/power1")
        #expect(try power.meter.sample(nowNs: 0) == 4.5)
        #expect(power.rejected.map(\.candidate) == ["rapl"])

        try sysfs.write("/sys/class/hwmon/hwmon1/name", "amd_energy")
        try sysfs.write("/sys/class/hwmon/hwmon1/energy1_input", "10000000")
        let energy = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 5).probe()
        #expect(energy.meter.name == "hwmon:amd_energy/energy1")
        #expect(try energy.meter.sample(nowNs: 0) == nil)
        try sysfs.write("/sys/class/hwmon/hwmon1/energy1_input", "13000000")
        #expect(try energy.meter.sample(nowNs: 2_000_000_000) == 1.5)
        // No documented wrap range: a decrease is a reset, and that interval is dropped.
        try sysfs.write("/sys/class/hwmon/hwmon1/energy1_input", "100")
        #expect(try energy.meter.sample(nowNs: 3_000_000_000) == nil)
    }

    @Test func malformedAndMissingFilesAreRejectedWithTheirPath() throws {
        let sysfs = try FakeSysfs()
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 0)
        try sysfs.write("/sys/class/powercap/intel-rapl:0/energy_uj", "n/a")
        try sysfs.write("/sys/class/hwmon/hwmon0/name", "broken")
        try FileManager.default.createDirectory(atPath: sysfs.root + "/sys/class/hwmon/hwmon0/power1_input",
                                                withIntermediateDirectories: true)
        let result = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4, estimateScope: .process,
                                     cpuTimeNs: { 0 }).probe()
        #expect(result.meter.name == "estimate:cpu-time")
        #expect(result.meter.isEstimate)
        #expect(result.rejected.count == 2)
        #expect(result.rejected[0].reason.contains("energy_uj holds 'n/a'"))
        #expect(result.rejected[1].candidate == "hwmon:hwmon0/power1_input")
        #expect(result.rejected[1].reason.contains("EISDIR"))
    }

    @Test func emptyMachineFallsBackToTheLabelledEstimate() throws {
        let sysfs = try FakeSysfs()
        try sysfs.write("/proc/stat", "cpu  100 0 50 900 0 0 0 0 0 0\ncpu0 100 0 50 900 0 0 0 0 0 0")
        let result = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4).probe()
        #expect(result.meter.name == "estimate:system-cpu-time")
        #expect(result.rejected.map(\.candidate) == ["rapl", "hwmon"])
        // Without a readable /proc/stat, the daemon's own CPU time is what can still be counted, and the log says why.
        try FileManager.default.removeItem(atPath: sysfs.root + "/proc/stat")
        let fallback = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4, cpuTimeNs: { 0 }).probe()
        #expect(fallback.meter.name == "estimate:cpu-time")
        #expect(fallback.rejected.map(\.candidate) == ["rapl", "hwmon", "estimate:system-cpu-time"])
        #expect(fallback.rejected[2].reason.contains("/proc/stat failed with ENOENT"))
    }

    /// The system estimate counts user, nice, system, irq and softirq ticks of every CPU; idle, iowait and steal (the
    /// hypervisor running other guests) are not this machine's work.
    @Test func systemEstimateCountsBusyTicksOfTheWholeMachine() throws {
        let sysfs = try FakeSysfs()
        // user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s
        try sysfs.write("/proc/stat", "cpu  1000 10 300 9000 50 5 5 70 0 0")
        let reader = sysfs.reader
        let meter = CPUTimeEstimateMeter(wattsPerCore: 4, scope: .system) { () throws(PowerMeterError) in
            try systemBusyCPUTimeNs(sysfs: reader, ticksPerSecond: 100)
        }
        #expect(try meter.sample(nowNs: 1_000_000_000) == nil)
        // One second later: 1.5 cores' worth of busy ticks (120 user, 20 system, 5 irq, 5 softirq); idle, iowait and
        // steal moved too and do not count.
        try sysfs.write("/proc/stat", "cpu  1120 10 320 9040 80 10 10 170 0 0")
        let watts = try #require(try meter.sample(nowNs: 2_000_000_000))
        #expect(abs(watts - 6) < 1e-9, "1.5 busy cores × 4 W: \(watts)")
        #expect(meter.name == "estimate:system-cpu-time" && meter.isEstimate)
    }

    @Test func cpuShareIsOurPartOfTheMachinesBusyTime() throws {
        final class Script: @unchecked Sendable { var process: UInt64 = 0; var system: UInt64 = 0; var fail = false }
        let script = Script()
        let sampler = CPUShareSampler(processNs: { script.process }) { () throws(PowerMeterError) in
            if script.fail { throw PowerMeterError(.unreadable, "read /proc/stat failed with EIO") }
            return script.system
        }
        #expect(sampler.sample() == nil)
        script.process = 300_000_000; script.system = 1_200_000_000  // a neighbour took 0.9 of 1.2 busy CPU-s
        #expect(sampler.sample() == 0.25)
        script.process = 600_000_000  // no busy system tick counted yet: no interval to judge
        #expect(sampler.sample() == nil)
        script.process = 700_000_000; script.system = 1_290_000_000  // tick rounding: clamped to all of it
        #expect(sampler.sample() == 1)
        script.fail = true
        #expect(sampler.sample() == nil)
        script.fail = false
        #expect(sampler.sample() == nil, "a failed read starts a new interval")
    }

    @Test func malformedProcStatIsRejectedWithTheField() throws {
        let sysfs = try FakeSysfs()
        try sysfs.write("/proc/stat", "intr 12 0 0")
        #expect(throws: PowerMeterError.self) { try systemBusyCPUTimeNs(sysfs: sysfs.reader, ticksPerSecond: 100) }
        try sysfs.write("/proc/stat", "cpu  12 x 3 4 5 6 7 8")
        do {
            _ = try systemBusyCPUTimeNs(sysfs: sysfs.reader, ticksPerSecond: 100)
            Issue.record("a non-numeric nice field was accepted")
        } catch {
            #expect(error.code == .malformed && error.message.contains("field nice is 'x'"), "\(error)")
        }
        // The probe falls back to the daemon's own CPU time, naming the file.
        let result = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4, cpuTimeNs: { 0 }).probe()
        #expect(result.meter.name == "estimate:cpu-time")
        #expect(result.rejected.last?.reason.contains("/proc/stat field nice") == true)
    }

    @Test func cpuTimeEstimateIsBusyCoresTimesWattsPerCore() throws {
        final class Script: @unchecked Sendable { var cpuNs: UInt64 = 0 }
        let script = Script()
        let meter = CPUTimeEstimateMeter(wattsPerCore: 6, cpuTimeNs: { script.cpuNs })
        #expect(try meter.sample(nowNs: 1_000_000_000) == nil)
        script.cpuNs = 1_500_000_000  // 1.5 cores busy for a second
        #expect(try meter.sample(nowNs: 2_000_000_000) == 9)
        #expect(meter.name == "estimate:cpu-time")
    }
}
