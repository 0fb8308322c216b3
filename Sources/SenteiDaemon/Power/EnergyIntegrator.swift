/// The energy a stretch of work used, from any `PowerMeter`: each interval's mean watts × its length, summed.
///
/// Counter meters (RAPL, hwmon energy, the CPU-time estimate) report the exact mean over each interval, so the sum
/// is exact however rarely `sample` is called; an instantaneous meter (hwmon power, volts × amps) is only as good as
/// the sampling rate. An interval the meter cannot account for (read error, counter reset) is counted in
/// `unaccountedSeconds` rather than guessed.
public final class EnergyIntegrator {
    public let meter: any PowerMeter
    public private(set) var joules: Double = 0
    public private(set) var unaccountedSeconds: Double = 0
    private var lastNs: UInt64

    /// Takes the first reading now (a counter meter's baseline).
    public init(meter: any PowerMeter, nowNs: UInt64) {
        self.meter = meter
        self.lastNs = nowNs
        _ = try? meter.sample(nowNs: nowNs)
    }

    /// The meter's label, e.g. "rapl:package-0" or "estimate:cpu-time" (`meter.isEstimate` says which kind).
    public var label: String { meter.name }

    /// True when every interval since `init` was measured.
    public var isComplete: Bool { unaccountedSeconds == 0 }

    /// Adds the interval since the previous sample.
    public func sample(nowNs: UInt64) {
        guard nowNs > lastNs else { return }
        let seconds = Double(nowNs - lastNs) / 1e9
        lastNs = nowNs
        if let watts = try? meter.sample(nowNs: nowNs), watts.isFinite, watts >= 0 {
            joules += watts * seconds
        } else {
            unaccountedSeconds += seconds
        }
    }
}
