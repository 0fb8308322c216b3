/// A source of power readings for the controller and the `stats` event.
///
/// Meters are polled from one thread (the pipeline's), so they may keep state between samples.
public protocol PowerMeter: AnyObject {
    /// Which meter this is, as the `power_meter` stats field shows it: "rapl:package-0", "hwmon:ina3221/in1*curr1",
    /// "estimate:cpu-time".
    var name: String { get }
    /// True when the figure is derived (CPU time × watts per core), not measured.
    var isEstimate: Bool { get }
    /// True when other processes' work shows in the readings too (a package or board meter, the system-wide
    /// estimate): the controller then attributes only the daemon's CPU share of the power to its own work.
    var includesOtherProcesses: Bool { get }
    /// Mean watts since the previous call (energy counters, CPU time) or right now (instantaneous meters). Nil when
    /// there is no interval yet (the first call of a counter) or a counter reset made the interval meaningless.
    func sample(nowNs: UInt64) throws(PowerMeterError) -> Double?
}

extension PowerMeter {
    public var includesOtherProcesses: Bool { true }
}

/// Turns successive readings of a monotonically increasing energy counter (µJ) into mean watts, handling the
/// counter wrapping at `rangeMicrojoules` (RAPL's `max_energy_range_uj`). Without a range, a decrease is a reset
/// and that interval is dropped.
struct EnergyCounter {
    let rangeMicrojoules: UInt64?
    private var previous: (energy: UInt64, nowNs: UInt64)?

    init(rangeMicrojoules: UInt64?) { self.rangeMicrojoules = rangeMicrojoules }

    /// µJ used since the previous reading, or nil on the first reading or after a reset.
    mutating func delta(_ energy: UInt64, nowNs: UInt64) -> (microjoules: UInt64, seconds: Double)? {
        defer { previous = (energy, nowNs) }
        guard let previous, nowNs > previous.nowNs else { return nil }
        let seconds = Double(nowNs - previous.nowNs) / 1e9
        if energy >= previous.energy { return (energy - previous.energy, seconds) }
        // The counter runs 0…range and then starts again at 0.
        guard let range = rangeMicrojoules, previous.energy <= range else { return nil }
        return (range - previous.energy + energy, seconds)
    }
}
