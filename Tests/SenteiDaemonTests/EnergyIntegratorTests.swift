import Foundation
import Testing
@testable import SenteiDaemon

/// Energy per healing run: whichever meter the probe picks, joules = Σ interval mean watts × interval length.
@Suite struct EnergyIntegratorTests {
    @Test func raplCountersGiveTheJoulesBetweenFirstAndLastReading() throws {
        let sysfs = try FakeSysfs()
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 1_000_000)
        let probed = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4).probe()
        #expect(probed.meter.name == "rapl:package-0" && !probed.meter.isEstimate)
        let energy = EnergyIntegrator(meter: probed.meter, nowNs: 1_000_000_000)
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 6_000_000)
        energy.sample(nowNs: 2_000_000_000)
        try sysfs.raplZone("intel-rapl:0", name: "package-0", energy: 10_000_000)
        energy.sample(nowNs: 4_000_000_000)
        #expect(abs(energy.joules - 9) < 1e-9, "\(energy.joules)")
        #expect(energy.isComplete && energy.label == "rapl:package-0")
        // A counter that vanishes mid-run leaves that interval unaccounted, not guessed.
        try FileManager.default.removeItem(atPath: sysfs.root + "/sys/class/powercap/intel-rapl:0/energy_uj")
        energy.sample(nowNs: 5_500_000_000)
        #expect(abs(energy.unaccountedSeconds - 1.5) < 1e-9 && !energy.isComplete)
        #expect(abs(energy.joules - 9) < 1e-9)
    }

    @Test func withoutMetersTheEstimateIsUsedAndLabelled() throws {
        let sysfs = try FakeSysfs()
        let cpu = ScriptedCPUTime()
        let probed = PowerMeterProbe(sysfs: sysfs.reader, wattsPerCore: 4, estimateScope: .process,
                                     cpuTimeNs: { cpu.value }).probe()
        #expect(probed.meter.name == "estimate:cpu-time" && probed.meter.isEstimate)
        #expect(probed.rejected.map(\.candidate).contains("rapl"))
        let energy = EnergyIntegrator(meter: probed.meter, nowNs: 0)
        cpu.value = 3_000_000_000 // 3 CPU-seconds (two threads) in 2 s of wall time
        energy.sample(nowNs: 2_000_000_000)
        cpu.value = 4_000_000_000
        energy.sample(nowNs: 4_000_000_000)
        #expect(abs(energy.joules - 16) < 1e-9, "4 CPU-s × 4 W: \(energy.joules)")
        #expect(energy.label == "estimate:cpu-time")
    }
}

final class ScriptedCPUTime: @unchecked Sendable {
    var value: UInt64 = 0
}
