/// hwmon `powerN_input`: instantaneous power in µW.
public final class HwmonPowerMeter: PowerMeter {
    public let name: String
    public var isEstimate: Bool { false }
    private let sysfs: SysfsReader
    private let path: String

    public init(sysfs: SysfsReader, device: String, attribute: String) throws(PowerMeterError) {
        self.sysfs = sysfs
        self.path = device + "/" + attribute
        _ = try sysfs.readInteger(path)
        let chip = (try? sysfs.readLine(device + "/name")) ?? device.split(separator: "/").last.map(String.init) ?? device
        self.name = "hwmon:\(chip)/\(attribute.replacing("_input", with: ""))"
    }

    public func sample(nowNs: UInt64) throws(PowerMeterError) -> Double? {
        Double(try sysfs.readInteger(path)) / 1e6
    }
}

/// hwmon `energyN_input`: an energy counter in µJ. hwmon documents no wrap range, so a decrease is a reset.
public final class HwmonEnergyMeter: PowerMeter {
    public let name: String
    public var isEstimate: Bool { false }
    private let sysfs: SysfsReader
    private let path: String
    private var counter = EnergyCounter(rangeMicrojoules: nil)

    public init(sysfs: SysfsReader, device: String, attribute: String) throws(PowerMeterError) {
        self.sysfs = sysfs
        self.path = device + "/" + attribute
        _ = try sysfs.readInteger(path)
        let chip = (try? sysfs.readLine(device + "/name")) ?? device.split(separator: "/").last.map(String.init) ?? device
        self.name = "hwmon:\(chip)/\(attribute.replacing("_input", with: ""))"
    }

    public func sample(nowNs: UInt64) throws(PowerMeterError) -> Double? {
        guard let d = counter.delta(try sysfs.readInteger(path), nowNs: nowNs), d.seconds > 0 else { return nil }
        return Double(d.microjoules) / 1e6 / d.seconds
    }
}

/// An INA3221-style monitor: bus voltage `inN_input` (mV) × current `currN_input` (mA), summed over the channels
/// that have both.
public final class VoltCurrentMeter: PowerMeter {
    public let name: String
    public var isEstimate: Bool { false }
    private let sysfs: SysfsReader
    private let channels: [(volts: String, amps: String)]

    public init(sysfs: SysfsReader, device: String, channels: [Int]) throws(PowerMeterError) {
        guard !channels.isEmpty else { throw PowerMeterError(.absent, "\(device) has no inN_input/currN_input pair") }
        self.sysfs = sysfs
        self.channels = channels.map { (device + "/in\($0)_input", device + "/curr\($0)_input") }
        for channel in self.channels {
            _ = try sysfs.readInteger(channel.volts)
            _ = try sysfs.readInteger(channel.amps)
        }
        let chip = (try? sysfs.readLine(device + "/name")) ?? device.split(separator: "/").last.map(String.init) ?? device
        self.name = "hwmon:\(chip)/" + channels.map { "in\($0)*curr\($0)" }.joined(separator: "+")
    }

    public func sample(nowNs: UInt64) throws(PowerMeterError) -> Double? {
        var watts = 0.0
        for channel in channels {
            let millivolts = try sysfs.readInteger(channel.volts)
            let milliamps = try sysfs.readInteger(channel.amps)
            watts += Double(millivolts) * Double(milliamps) / 1e6
        }
        return watts
    }
}
