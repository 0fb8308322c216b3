public import Foundation

/// `LADDER_DIR/manifest.json`: the variants `sentei prune` built from one model, what each costs and how closely it
/// agrees with the unpruned model. The daemon runs the Pareto rungs (`paretoLevels`), most accurate first.
///
/// Stable schema (format 1); keys are snake_case in JSON. Fields added later must be optional.
public struct LadderManifest: Codable, Sendable, Equatable {
    public static let fileName = "manifest.json"
    public static let currentFormat = 1

    /// Schema version; a reader refuses formats it does not know.
    public var format: Int
    /// The unpruned model the ladder was built from (file name as given, and the hash of its bytes).
    public var baseModel: BaseModel
    /// How agreement was measured: which frames calibrated the variants and which (disjoint) frames scored them.
    public var calibration: Calibration
    /// The thread count whose latency decided the Pareto front.
    public var paretoThreads: Int
    /// Which latency statistic decided the Pareto front: the p50 (`latency_ms`, the default) or the minimum
    /// (`latency_min_ms`, steadier when the machine is shared).
    public var paretoStatistic: LatencyStatistic?
    /// The detector manifest (head, letterbox, labels) of the base model at its original input size, relative to the
    /// ladder directory; each level applies it resized to its `input_size`.
    public var modelManifest: String?
    /// Every candidate that was built, on the front or not, in the order they were built.
    public var levels: [Level]

    public struct BaseModel: Codable, Sendable, Equatable {
        public var file: String
        public var sha256: String
        public init(file: String, sha256: String) {
            self.file = file
            self.sha256 = sha256
        }
    }

    public struct Calibration: Codable, Sendable, Equatable {
        /// The directory of calibration images as given on the command line.
        public var directory: String
        /// Frames used to choose channels and refit weights.
        public var frames: Int
        /// Frames never seen by calibration, used to score agreement.
        public var heldOutFrames: Int

        public init(directory: String, frames: Int, heldOutFrames: Int) {
            self.directory = directory
            self.frames = frames
            self.heldOutFrames = heldOutFrames
        }

        enum CodingKeys: String, CodingKey {
            case directory, frames
            case heldOutFrames = "held_out_frames"
        }
    }

    public enum Precision: String, Codable, Sendable {
        case fp32, int8
    }

    public enum LatencyStatistic: String, Codable, Sendable {
        case p50, min
    }

    /// Median forward-pass time on the device that built the ladder.
    public struct Latency: Codable, Sendable, Equatable {
        public var threads1: Double
        public var threads2: Double
        public init(threads1: Double, threads2: Double) {
            self.threads1 = threads1
            self.threads2 = threads2
        }

        public func p50(threads: Int) -> Double { threads >= 2 ? threads2 : threads1 }

        enum CodingKeys: String, CodingKey {
            case threads1 = "threads_1"
            case threads2 = "threads_2"
        }
    }

    /// What distillation (issue 9) spent on a rung; absent for rungs that were never healed.
    public struct Healing: Codable, Sendable, Equatable {
        public var steps: Int
        public var cpuSeconds: Double
        public var energyJ: Double?
        /// The meter `energy_j` came from, e.g. "rapl:package-0" (measured) or "estimate:cpu-time" (CPU time × watts
        /// per core, a model rather than a measurement).
        public var energyMeter: String?
        public init(steps: Int, cpuSeconds: Double, energyJ: Double? = nil, energyMeter: String? = nil) {
            self.steps = steps
            self.cpuSeconds = cpuSeconds
            self.energyJ = energyJ
            self.energyMeter = energyMeter
        }

        enum CodingKeys: String, CodingKey {
            case steps
            case cpuSeconds = "cpu_seconds"
            case energyJ = "energy_j"
            case energyMeter = "energy_meter"
        }
    }

    /// Why the scene guard took a rung off the front: its agreement with the unpruned model on live frames fell well
    /// below what it had when it was admitted (the scene it was healed for has changed). Cleared when re-healing on
    /// the new frames is admitted.
    public struct Withdrawal: Codable, Sendable, Equatable {
        public var reason: String
        /// Mean agreement over the checks that triggered the withdrawal, as the guard measures it: AP50 against the
        /// unpruned model, each class weighted by the unpruned model's box count.
        public var agreementMAP50: Double
        /// The agreement the rung was admitted with: the guard's measure on the frames held out from its last
        /// re-healing, or the level's `agreement_map50` for a rung the guard has not healed.
        public var admittedMAP50: Double
        public init(reason: String, agreementMAP50: Double, admittedMAP50: Double) {
            self.reason = reason
            self.agreementMAP50 = agreementMAP50
            self.admittedMAP50 = admittedMAP50
        }

        enum CodingKeys: String, CodingKey {
            case reason
            case agreementMAP50 = "agreement_map50"
            case admittedMAP50 = "admitted_map50"
        }
    }

    public struct Level: Codable, Sendable, Equatable {
        /// Unique within the ladder, e.g. "s352-c25-fp32".
        public var name: String
        /// Square input side in pixels.
        public var inputSize: Int
        /// The MACs fraction removed by channel pruning (0 = unpruned), before input scaling.
        public var cut: Double
        /// Multiply-accumulates of one forward pass at `inputSize`.
        public var macs: Int
        /// Weight count.
        public var params: Int
        public var precision: Precision
        /// The model file, relative to the ladder directory.
        public var file: String
        /// Lower-case hex SHA-256 of `file`'s bytes.
        public var sha256: String
        /// mAP@[.5:.95] in [0, 1] of this rung's detections on the held-out frames, taking the unpruned fp32
        /// model's detections as ground truth (1 for the unpruned model itself).
        public var agreement: Double
        /// The same at IoU 0.5.
        public var agreementMAP50: Double?
        /// Median forward-pass time.
        public var latencyMs: Latency
        /// Fastest forward-pass time of the same runs.
        public var latencyMinMs: Latency?
        public var pareto: Bool
        /// Classes the head was pruned down to; nil keeps every class of the base model.
        public var classes: [String]?
        public var healing: Healing?
        /// The int8 calibration table (activation ranges), relative to the ladder directory; int8 rungs only.
        public var int8Table: String?
        /// Set while the scene guard keeps this rung off the front; such a rung is never `pareto`.
        public var withdrawn: Withdrawal?

        public init(name: String, inputSize: Int, cut: Double, macs: Int, params: Int, precision: Precision,
                    file: String, sha256: String, agreement: Double, agreementMAP50: Double? = nil,
                    latencyMs: Latency, latencyMinMs: Latency? = nil, pareto: Bool, classes: [String]? = nil,
                    healing: Healing? = nil, int8Table: String? = nil, withdrawn: Withdrawal? = nil) {
            self.name = name
            self.inputSize = inputSize
            self.cut = cut
            self.macs = macs
            self.params = params
            self.precision = precision
            self.file = file
            self.sha256 = sha256
            self.agreement = agreement
            self.agreementMAP50 = agreementMAP50
            self.latencyMs = latencyMs
            self.latencyMinMs = latencyMinMs
            self.pareto = pareto
            self.classes = classes
            self.healing = healing
            self.int8Table = int8Table
            self.withdrawn = withdrawn
        }

        enum CodingKeys: String, CodingKey {
            case name, cut, macs, params, precision, file, sha256, agreement, pareto, classes, healing, withdrawn
            case inputSize = "input_size"
            case agreementMAP50 = "agreement_map50"
            case latencyMs = "latency_ms"
            case latencyMinMs = "latency_min_ms"
            case int8Table = "int8_table"
        }
    }

    public init(format: Int = LadderManifest.currentFormat, baseModel: BaseModel, calibration: Calibration,
                paretoThreads: Int, paretoStatistic: LatencyStatistic? = nil, modelManifest: String? = nil, levels: [Level]) {
        self.format = format
        self.paretoStatistic = paretoStatistic
        self.modelManifest = modelManifest
        self.baseModel = baseModel
        self.calibration = calibration
        self.paretoThreads = paretoThreads
        self.levels = levels
    }

    enum CodingKeys: String, CodingKey {
        case format, calibration, levels
        case baseModel = "base_model"
        case paretoThreads = "pareto_threads"
        case modelManifest = "model_manifest"
        case paretoStatistic = "pareto_statistic"
    }

    // MARK: Queries

    /// The rungs the controller climbs: those marked `pareto`, most accurate (slowest) first, fastest last.
    public var paretoLevels: [Level] {
        LadderManifest.orderedMostAccurateFirst(levels.filter(\.pareto))
    }

    public func level(named name: String) -> Level? { levels.first { $0.name == name } }

    /// Most accurate first; ties broken by lower latency, then by name, so the order is total and deterministic.
    public static func orderedMostAccurateFirst(_ levels: [Level]) -> [Level] {
        levels.sorted { a, b in
            if a.agreement != b.agreement { return a.agreement > b.agreement }
            if a.latencyMs.threads1 != b.latencyMs.threads1 { return a.latencyMs.threads1 < b.latencyMs.threads1 }
            if a.macs != b.macs { return a.macs < b.macs }
            return a.name < b.name
        }
    }

    /// The latency the Pareto front is decided on: `paretoStatistic` at `paretoThreads`.
    public func paretoLatency(_ level: Level) -> Double {
        switch paretoStatistic ?? .p50 {
        case .p50: return level.latencyMs.p50(threads: paretoThreads)
        case .min: return (level.latencyMinMs ?? level.latencyMs).p50(threads: paretoThreads)
        }
    }

    /// Sets `pareto` on every level: true unless another level is at least as accurate and at least as fast (see
    /// `paretoLatency`), and strictly better in one of the two. Of exact duplicates only the first keeps the flag.
    /// Withdrawn levels are off the front and take no part in deciding it.
    public mutating func markParetoFront() {
        let candidates = levels.indices.filter { levels[$0].withdrawn == nil }
        let flags = ParetoFront.members(candidates.map { ParetoFront.Point(accuracy: levels[$0].agreement, latency: paretoLatency(levels[$0])) })
        for index in levels.indices { levels[index].pareto = false }
        for (flag, index) in zip(flags, candidates) { levels[index].pareto = flag }
    }

    // MARK: Reading and writing

    /// Reads and validates `directory/manifest.json`. Errors name the file and the field.
    public static func load(directory: String) throws -> LadderManifest {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LadderError(.invalidManifest, file: path, "cannot be read (is \(directory) a ladder directory?)")
        }
        return try decode(data, file: path)
    }

    /// Decodes and validates manifest bytes; `file` only labels errors.
    public static func decode(_ data: Data, file: String) throws -> LadderManifest {
        let manifest: LadderManifest
        do {
            manifest = try JSONDecoder().decode(LadderManifest.self, from: data)
        } catch let error as DecodingError {
            throw LadderError(.invalidManifest, file: file, field: error.fieldPath, error.reason)
        } catch {
            throw LadderError(.invalidManifest, file: file, "is not valid JSON (\(error))")
        }
        try manifest.validate(file: file)
        return manifest
    }

    /// Pretty-printed JSON with sorted keys, so the same ladder always gives the same bytes.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public func write(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(LadderManifest.fileName)
        try validate(file: path)
        do {
            try encoded().write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LadderError(.invalidManifest, file: path, "cannot be written: \(error)")
        }
    }

    /// Checks every value a reader relies on; `file` labels the errors.
    public func validate(file: String) throws {
        func fail(_ field: String, _ reason: String) -> LadderError {
            LadderError(.invalidManifest, file: file, field: field, reason)
        }
        guard format == LadderManifest.currentFormat else {
            throw fail("format", "is \(format); this sentei reads format \(LadderManifest.currentFormat)")
        }
        guard isSHA256(baseModel.sha256) else { throw fail("base_model.sha256", "is not 64 lower-case hex digits") }
        guard calibration.frames >= 0, calibration.heldOutFrames >= 0 else {
            throw fail("calibration", "frame counts must not be negative")
        }
        if let modelManifest { try checkRelativeFile(modelManifest, field: "model_manifest", fail: fail) }
        guard paretoThreads >= 1 else { throw fail("pareto_threads", "must be at least 1, got \(paretoThreads)") }
        guard !levels.isEmpty else { throw fail("levels", "is empty") }
        var names = Set<String>()
        for (index, level) in levels.enumerated() {
            let at = "levels[\(index)]"
            guard !level.name.isEmpty else { throw fail("\(at).name", "is empty") }
            guard names.insert(level.name).inserted else { throw fail("\(at).name", "\"\(level.name)\" is used twice") }
            guard level.inputSize >= 32, level.inputSize <= 4096, level.inputSize % 32 == 0 else {
                throw fail("\(at).input_size", "must be a multiple of 32 in 32...4096, got \(level.inputSize)")
            }
            guard level.cut.isFinite, level.cut >= 0, level.cut < 1 else {
                throw fail("\(at).cut", "must be in [0, 1), got \(level.cut)")
            }
            guard level.macs > 0 else { throw fail("\(at).macs", "must be positive, got \(level.macs)") }
            guard level.params > 0 else { throw fail("\(at).params", "must be positive, got \(level.params)") }
            try checkRelativeFile(level.file, field: "\(at).file", fail: fail)
            guard isSHA256(level.sha256) else { throw fail("\(at).sha256", "is not 64 lower-case hex digits") }
            guard level.agreement.isFinite, (0...1).contains(level.agreement) else {
                throw fail("\(at).agreement", "must be in [0, 1], got \(level.agreement)")
            }
            if let map50 = level.agreementMAP50, !(map50.isFinite && (0...1).contains(map50)) {
                throw fail("\(at).agreement_map50", "must be in [0, 1], got \(map50)")
            }
            for (field, latency) in [("latency_ms", level.latencyMs), ("latency_min_ms", level.latencyMinMs)] {
                guard let latency else { continue }
                for (key, value) in [("threads_1", latency.threads1), ("threads_2", latency.threads2)] where !(value.isFinite && value > 0) {
                    throw fail("\(at).\(field).\(key)", "must be a positive number of milliseconds, got \(value)")
                }
            }
            if let withdrawn = level.withdrawn {
                guard !level.pareto else { throw fail("\(at).pareto", "must be false while the level is withdrawn") }
                for (key, value) in [("agreement_map50", withdrawn.agreementMAP50), ("admitted_map50", withdrawn.admittedMAP50)]
                    where !(value.isFinite && (0...1).contains(value)) {
                    throw fail("\(at).withdrawn.\(key)", "must be in [0, 1], got \(value)")
                }
            }
            if let classes = level.classes, classes.isEmpty || classes.contains(where: \.isEmpty) {
                throw fail("\(at).classes", "must list at least one non-empty class name")
            }
            if let healing = level.healing {
                guard healing.steps >= 0 else { throw fail("\(at).healing.steps", "must not be negative") }
                guard healing.cpuSeconds.isFinite, healing.cpuSeconds >= 0 else {
                    throw fail("\(at).healing.cpu_seconds", "must be a non-negative number")
                }
                if let energy = healing.energyJ, !(energy.isFinite && energy >= 0) {
                    throw fail("\(at).healing.energy_j", "must be a non-negative number")
                }
                if healing.energyJ != nil, healing.energyMeter?.isEmpty ?? true {
                    throw fail("\(at).healing.energy_meter", "must name the meter energy_j came from")
                }
            }
            switch level.precision {
            case .int8:
                guard let table = level.int8Table else { throw fail("\(at).int8_table", "is required for int8") }
                try checkRelativeFile(table, field: "\(at).int8_table", fail: fail)
            case .fp32:
                guard level.int8Table == nil else { throw fail("\(at).int8_table", "is only allowed for int8") }
            }
        }
        guard levels.contains(where: \.pareto) else { throw fail("levels", "no level is marked pareto") }
    }

    /// Checks that every level's file exists in `directory` and hashes to its `sha256`.
    public func verifyFiles(directory: String) throws {
        for level in levels { try verifyFile(of: level, directory: directory) }
    }

    /// Checks one level's file (and its int8 table's presence) before it is loaded.
    public func verifyFile(of level: Level, directory: String) throws {
        let index = levels.firstIndex(of: level) ?? 0
        let path = (directory as NSString).appendingPathComponent(level.file)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LadderError(.fileMismatch, file: path, field: "levels[\(index)].file", "is missing or unreadable")
        }
        let digest = SHA256.hex(data)
        guard digest == level.sha256 else {
            throw LadderError(.fileMismatch, file: path, field: "levels[\(index)].sha256",
                              "the file hashes to \(digest), the manifest says \(level.sha256)")
        }
        if let table = level.int8Table {
            let tablePath = (directory as NSString).appendingPathComponent(table)
            guard FileManager.default.isReadableFile(atPath: tablePath) else {
                throw LadderError(.fileMismatch, file: tablePath, field: "levels[\(index)].int8_table", "is missing or unreadable")
            }
        }
    }

    /// The level called `name`, or an error listing the names there are.
    public func requireLevel(named name: String, directory: String) throws -> Level {
        guard let level = level(named: name) else {
            throw LadderError(.unknownLevel, file: (directory as NSString).appendingPathComponent(LadderManifest.fileName),
                              "has no level '\(name)'; levels: \(levels.map(\.name).joined(separator: ", "))")
        }
        return level
    }
}

private func isSHA256(_ text: String) -> Bool {
    text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}

/// Level files live inside the ladder directory: no absolute paths, no `..`.
private func checkRelativeFile(_ file: String, field: String,
                               fail: (String, String) -> LadderError) throws {
    guard !file.isEmpty else { throw fail(field, "is empty") }
    guard !file.hasPrefix("/") else { throw fail(field, "must be relative to the ladder directory: \(file)") }
    guard !file.split(separator: "/").contains("..") else { throw fail(field, "must not leave the ladder directory") }
}

extension DecodingError {
    /// `levels[2].latency_ms.threads_1`-style path of the field at fault.
    var fieldPath: String? {
        let path: [any CodingKey]
        switch self {
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        @unknown default: return nil
        }
        guard !path.isEmpty else { return nil }
        var text = ""
        for key in path {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }

    var reason: String {
        switch self {
        case .keyNotFound: return "is missing"
        case .typeMismatch(let type, _): return "has the wrong type (expected \(type))"
        case .valueNotFound(let type, _): return "is null (expected \(type))"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "cannot be decoded"
        }
    }
}
