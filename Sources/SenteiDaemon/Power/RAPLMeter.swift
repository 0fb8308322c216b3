/// powercap/RAPL: the sum of the top-level zones' `energy_uj` counters (packages, not their subzones, which the
/// package already includes), each wrapping at its `max_energy_range_uj`.
public final class RAPLMeter: PowerMeter {
    struct Zone {
        let path: String
        let label: String
        var counter: EnergyCounter
    }

    public let name: String
    public var isEstimate: Bool { false }
    private let sysfs: SysfsReader
    private var zones: [Zone]

    /// Reads every zone once, so an unreadable `energy_uj` (EACCES for non-root) is rejected at probe time.
    public init(sysfs: SysfsReader, base: String = "/sys/class/powercap") throws(PowerMeterError) {
        let top = sysfs.list(base).filter { entry in
            // "intel-rapl:0" is a package; "intel-rapl:0:1" a subzone of it.
            entry.split(separator: ":").count == 2 && entry.hasSuffix(":") == false && entry.contains("rapl")
        }
        guard !top.isEmpty else { throw PowerMeterError(.absent, "\(base) has no RAPL zones") }
        var zones: [Zone] = []
        for entry in top {
            let path = base + "/" + entry
            let label = (try? sysfs.readLine(path + "/name")) ?? entry
            let range = try sysfs.readInteger(path + "/max_energy_range_uj")
            _ = try sysfs.readInteger(path + "/energy_uj")
            zones.append(Zone(path: path, label: label, counter: EnergyCounter(rangeMicrojoules: range)))
        }
        self.sysfs = sysfs
        self.zones = zones
        self.name = "rapl:" + zones.map(\.label).joined(separator: "+")
    }

    public func sample(nowNs: UInt64) throws(PowerMeterError) -> Double? {
        var microjoules: UInt64 = 0
        var seconds: Double?
        for i in zones.indices {
            let energy = try sysfs.readInteger(zones[i].path + "/energy_uj")
            if let d = zones[i].counter.delta(energy, nowNs: nowNs) {
                microjoules += d.microjoules
                seconds = d.seconds
            } else {
                seconds = nil
            }
        }
        guard let seconds, seconds > 0 else { return nil }
        return Double(microjoules) / 1e6 / seconds
    }
}
