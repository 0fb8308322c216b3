import Logging

/// Finds the best power meter the machine lets us read, in a fixed order, and keeps the reason every better one was
/// rejected so the daemon can log it once at start-up:
///
/// 1. powercap/RAPL `energy_uj` (package energy counters)
/// 2. hwmon `energyN_input` (µJ counter), then `powerN_input` (µW)
/// 3. hwmon `inN_input` × `currN_input` (INA3221-style volts × amps)
/// 4. busy CPU time × `wattsPerCore`, labelled "estimate:system-cpu-time" (the whole machine, from /proc/stat, as a
///    package meter sees it) or "estimate:cpu-time" (this process only, by `estimateScope`, or when /proc/stat
///    cannot be read)
public struct PowerMeterProbe {
    public struct Rejection: Sendable, Equatable, CustomStringConvertible {
        /// e.g. "rapl", "hwmon:hwmon2/power1".
        public var candidate: String
        public var reason: String
        public var description: String { "\(candidate): \(reason)" }
    }

    public struct Result {
        public var meter: any PowerMeter
        public var rejected: [Rejection]
    }

    public var sysfs: SysfsReader
    public var wattsPerCore: Double
    public var estimateScope: EstimateScope
    /// This process's CPU time (the process-scope estimate); the system scope reads /proc/stat under `sysfs`.
    public var cpuTimeNs: @Sendable () -> UInt64

    public init(sysfs: SysfsReader = SysfsReader(), wattsPerCore: Double, estimateScope: EstimateScope = .system,
                cpuTimeNs: @escaping @Sendable () -> UInt64 = processCPUTimeNs) {
        self.sysfs = sysfs
        self.wattsPerCore = wattsPerCore
        self.estimateScope = estimateScope
        self.cpuTimeNs = cpuTimeNs
    }

    public func probe() -> Result {
        var rejected: [Rejection] = []
        do {
            return Result(meter: try RAPLMeter(sysfs: sysfs), rejected: rejected)
        } catch {
            rejected.append(Rejection(candidate: "rapl", reason: error.message))
        }
        let hwmonBase = "/sys/class/hwmon"
        let devices = sysfs.list(hwmonBase)
        if devices.isEmpty { rejected.append(Rejection(candidate: "hwmon", reason: "\(hwmonBase) has no devices")) }
        // Energy counters first: their mean over an interval is better than an instantaneous power reading.
        for kind in ["energy", "power"] {
            for device in devices {
                let path = hwmonBase + "/" + device
                for attribute in sysfs.list(path) where attribute.hasPrefix(kind) && attribute.hasSuffix("_input") {
                    do {
                        let meter: any PowerMeter = kind == "energy"
                            ? try HwmonEnergyMeter(sysfs: sysfs, device: path, attribute: attribute)
                            : try HwmonPowerMeter(sysfs: sysfs, device: path, attribute: attribute)
                        return Result(meter: meter, rejected: rejected)
                    } catch {
                        rejected.append(Rejection(candidate: "hwmon:\(device)/\(attribute)", reason: error.message))
                    }
                }
            }
        }
        for device in devices {
            let path = hwmonBase + "/" + device
            let files = Set(sysfs.list(path))
            let channels = (0...16).filter { files.contains("in\($0)_input") && files.contains("curr\($0)_input") }
            guard !channels.isEmpty else { continue }
            do {
                return Result(meter: try VoltCurrentMeter(sysfs: sysfs, device: path, channels: channels),
                              rejected: rejected)
            } catch {
                rejected.append(Rejection(candidate: "hwmon:\(device)/in*curr", reason: error.message))
            }
        }
        if estimateScope == .system {
            let sysfs = sysfs
            do {
                _ = try systemBusyCPUTimeNs(sysfs: sysfs)
                let meter = CPUTimeEstimateMeter(wattsPerCore: wattsPerCore, scope: .system) { () throws(PowerMeterError) in
                    try systemBusyCPUTimeNs(sysfs: sysfs)
                }
                return Result(meter: meter, rejected: rejected)
            } catch {
                rejected.append(Rejection(candidate: "estimate:system-cpu-time", reason: error.message))
            }
        }
        let cpuTimeNs = cpuTimeNs
        let meter = CPUTimeEstimateMeter(wattsPerCore: wattsPerCore, scope: .process) { cpuTimeNs() }
        return Result(meter: meter, rejected: rejected)
    }

    /// Probes and logs the choice and each rejection once.
    public func probe(logger: Logger) -> any PowerMeter {
        let result = probe()
        for rejection in result.rejected {
            logger.info("power meter rejected", metadata: [
                "sentei.meter": "\(rejection.candidate)", "sentei.reason": "\(rejection.reason)",
            ])
        }
        logger.notice("power meter chosen", metadata: [
            "sentei.meter": "\(result.meter.name)", "sentei.estimate": "\(result.meter.isEstimate)",
        ])
        return result.meter
    }
}
