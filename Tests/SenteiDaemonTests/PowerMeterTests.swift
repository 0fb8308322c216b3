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
        let result = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4, cpuTimeNs: { 0 }).probe()
        #expect(result.meter.name == "estimate:cpu-time")
        #expect(result.meter.isEstimate)
        #expect(result.rejected.count == 2)
        #expect(result.rejected[0].reason.contains("energy_uj holds 'n/a'"))
        #expect(result.rejected[1].candidate == "hwmon:hwmon0/power1_input")
        #expect(result.rejected[1].reason.contains("EISDIR"))
    }

    @Test func emptyMachineFallsBackToTheLabelledEstimate() throws {
        let sysfs = try FakeSysfs()
        let result = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4, cpuTimeNs: { 0 }).probe()
        #expect(result.meter.name == "estimate:cpu-time")
        #expect(result.rejected.map(\.candidate) == ["rapl", "hwmon"])
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
