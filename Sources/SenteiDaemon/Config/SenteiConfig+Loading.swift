import Foundation

extension SenteiConfig {
    /// The largest config file read; a config is a few KB, anything bigger is a mistake (a log, a binary).
    public static let maxFileBytes = 1 << 20

    /// Reads and validates `path`. Throws `ConfigValidationError` listing every problem with file, line and key.
    /// `labels`, when given (the model manifest's), also checks class names in `[detection]` against them.
    public static func load(path: String, environment: ConfigEnvironment = .system,
                            labels: [String]? = nil) throws(ConfigValidationError) -> SenteiConfig {
        let name = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigValidationError(errors: [ConfigError(
                code: .unreadable, file: name, key: "", expected: "a readable file",
                found: String(cString: strerror(errno)))])
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        guard data.count <= maxFileBytes else {
            throw ConfigValidationError(errors: [ConfigError(
                code: .unreadable, file: name, key: "", expected: "at most \(maxFileBytes) bytes",
                found: "a larger file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigValidationError(errors: [ConfigError(
                code: .unreadable, file: name, key: "", expected: "UTF-8 text", found: "invalid UTF-8")])
        }
        return try parse(text, file: name, environment: environment, labels: labels)
    }

    /// Validates TOML text; `file` only names the source in errors.
    public static func parse(_ text: String, file: String, environment: ConfigEnvironment = .system,
                             labels: [String]? = nil) throws(ConfigValidationError) -> SenteiConfig {
        if text.utf8.count > maxFileBytes || text.utf8.contains(0) {
            throw ConfigValidationError(errors: [ConfigError(
                code: .unreadable, file: file, key: "", expected: "TOML text of at most \(maxFileBytes) bytes",
                found: text.utf8.contains(0) ? "a NUL byte" : "a larger text")])
        }
        let document: ConfigValue
        do {
            document = try ConfigValue.parse(text, file: file)
        } catch {
            throw ConfigValidationError(errors: [error])
        }
        guard case .table(let entries) = document else {
            throw ConfigValidationError(errors: [ConfigError(code: .syntax, file: file, key: "", expected: "a TOML document",
                                                             found: document.foundDescription)])
        }
        let diagnostics = ConfigDiagnostics(file: file, text: text)
        let root = TableReader(path: "", entries: entries, diagnostics: diagnostics)
        var config = SenteiConfig()
        config.daemon = readDaemon(root.table("daemon"))
        config.model = readModel(root.table("model"))
        config.cameras = readCameras(root, environment: environment)
        config.budgets = readBudgets(root.table("budgets"))
        config.detection = readDetection(root.table("detection"), labels: labels)
        config.outputs = readOutputs(root.table("outputs"))
        config.calibration = readCalibration(root.table("calibration"))
        config.healing = readHealing(root.table("healing"), calibration: config.calibration, model: config.model)
        root.finish()
        guard diagnostics.errors.isEmpty else { throw ConfigValidationError(errors: diagnostics.errors) }
        return config
    }

    private static func readDaemon(_ t: TableReader) -> DaemonSettings {
        var s = DaemonSettings()
        s.stateDirectory = t.path("state_dir", default: s.stateDirectory) ?? s.stateDirectory
        s.statsIntervalS = t.double("stats_interval_s", default: s.statsIntervalS, range: 1...3600, unit: "seconds")
        t.finish()
        return s
    }

    private static func readModel(_ t: TableReader) -> ModelSettings {
        var s = ModelSettings()
        s.manifest = t.path("manifest", default: s.manifest) ?? s.manifest
        s.ladder = t.path("ladder", default: nil)
        s.threads = t.int("threads", default: s.threads, range: 1...256, unit: "threads")
        if t.has("input_sizes") {
            let sizes = t.value("input_sizes")
            var parsed: [Int] = []
            let rule = "a non-empty array of distinct integers in 32...1280, multiples of 32"
            if case .array(let items)? = sizes, !items.isEmpty {
                for (index, item) in items.enumerated() {
                    guard case .integer(let size) = item else {
                        t.report(.wrongType, "input_sizes[\(index)]", expected: rule, found: item.foundDescription)
                        continue
                    }
                    guard (32...1280).contains(size), size % 32 == 0, !parsed.contains(size) else {
                        t.report(.invalidValue, "input_sizes[\(index)]", expected: rule, found: item.foundDescription)
                        continue
                    }
                    parsed.append(size)
                }
                if !parsed.isEmpty { s.inputSizes = parsed.sorted(by: >) }
            } else if let sizes {
                t.report(.wrongType, "input_sizes", expected: rule, found: sizes.foundDescription)
            }
        }
        t.finish()
        return s
    }

    private static let cameraNameRule = "a name of 1...32 characters from a-z, 0-9, _ and -"

    private static func readCameras(_ root: TableReader, environment: ConfigEnvironment) -> [CameraSettings] {
        guard let tables = root.tableArray("cameras") else { return [environment.automaticCamera()] }
        var cameras: [CameraSettings] = []
        for (index, t) in tables.enumerated() {
            let name = t.string("name", default: "camera\(index)", expected: cameraNameRule) { name in
                (1...32).contains(name.count) && name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
            }
            if cameras.contains(where: { $0.name == name }) {
                t.report(.conflict, "name", expected: "a name not used by another camera", found: "\"\(name)\" again")
            }
            let device = t.path("device", default: nil)
            let replay = t.path("replay", default: nil)
            let loop = t.bool("replay_loop", default: true)
            let source: CameraSource
            switch (device, replay) {
            case (let d?, nil): source = .device(d)
            case (nil, let r?): source = .replay(path: r, loop: loop)
            case (_?, _?):
                t.report(.conflict, "replay", expected: "either device or replay, not both", found: "both set")
                source = .device(device!)
            case (nil, nil):
                if !t.has("device") && !t.has("replay") {
                    t.report(.missingKey, "device", expected: "device = \"/dev/videoN\" or replay = \"/path\"",
                             found: "neither key")
                }
                source = .device("/dev/video0")
            }
            var camera = CameraSettings(name: name, source: source)
            camera.width = t.int("width", default: camera.width, range: 16...8192, unit: "pixels")
            camera.height = t.int("height", default: camera.height, range: 16...8192, unit: "pixels")
            let formats = CameraPixelFormat.allCases.map(\.rawValue)
            let format = t.string("format", default: "auto", expected: "one of \(formats.joined(separator: ", "))") {
                formats.contains($0)
            }
            camera.format = CameraPixelFormat(rawValue: format) ?? .auto
            camera.fps = t.double("fps", default: camera.fps, range: 0...240, unit: "frames per second")
            t.finish()
            cameras.append(camera)
        }
        if cameras.isEmpty && !tables.isEmpty { return [] }
        if tables.isEmpty {
            root.report(.missingKey, "cameras", expected: "at least one [[cameras]] table (or none for automatic)",
                        found: "an empty array")
        }
        return cameras
    }

    private static func readBudgets(_ t: TableReader) -> BudgetSettings {
        var s = BudgetSettings()
        // 0 switches the latency budget off (power-only control).
        if t.has("latency_ms") {
            let latency = t.optionalDouble("latency_ms", range: 0...60000, unit: "milliseconds; 0 = no latency budget")
            s.latencyMs = latency == 0 ? nil : latency ?? s.latencyMs
        }
        s.latencyPercentile = t.double("latency_percentile", default: s.latencyPercentile, range: 50...100, unit: "percent")
        s.latencyWindowS = t.double("latency_window_s", default: s.latencyWindowS, range: 0.1...600, unit: "seconds")
        s.powerW = t.optionalDouble("power_w", range: 0.1...1000, unit: "watts")
        s.powerWindowS = t.double("power_window_s", default: s.powerWindowS, range: 0.1...600, unit: "seconds")
        s.estimateWattsPerCore = t.double("estimate_watts_per_core", default: s.estimateWattsPerCore, range: 0.1...100,
                                          unit: "watts per busy core")
        let scopes = EstimateScope.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
        s.estimateScope = EstimateScope(rawValue: t.string("estimate_scope", default: s.estimateScope.rawValue,
                                                           expected: scopes) { EstimateScope(rawValue: $0) != nil })
            ?? s.estimateScope
        s.stepUpAfterS = t.double("step_up_after_s", default: s.stepUpAfterS, range: 0.1...3600, unit: "seconds")
        s.fps = t.optionalDouble("fps", range: 0.1...240, unit: "frames per second")
        s.minLevel = t.int("min_level", default: s.minLevel, range: 0...63)
        if t.has("max_level") {
            let maxLevel = t.int("max_level", default: 63, range: 0...63)
            s.maxLevel = maxLevel
            if s.minLevel > maxLevel {
                t.report(.conflict, "max_level", expected: "max_level ≥ min_level (\(s.minLevel))", found: "integer \(maxLevel)")
            }
        }
        t.finish()
        return s
    }

    private static func readDetection(_ t: TableReader, labels: [String]?) -> DetectionSettings {
        var s = DetectionSettings()
        s.threshold = t.double("threshold", default: s.threshold, range: 0.01...1, unit: "score")
        s.nmsIoU = t.double("nms_iou", default: s.nmsIoU, range: 0.05...0.95, unit: "IoU")
        let labelRule = labels.map { "labels of the model (\($0.prefix(6).joined(separator: ", ")), …)" } ?? "non-empty labels"
        s.classes = t.stringArray("classes", default: [], expected: "an array of \(labelRule)") { label in
            !label.isEmpty && (labels?.contains(label) ?? true)
        }
        let perClass = t.table("class_thresholds")
        for (label, value) in perClass.allEntries() {
            if let labels, !labels.contains(label) {
                perClass.report(.invalidValue, label, expected: labelRule, found: "unknown label \"\(label)\"")
                continue
            }
            if let threshold = perClass.number(value, key: label, expected: "a number in 0.01...1 (score)", range: 0.01...1) {
                s.classThresholds[label] = threshold
            }
        }
        t.finish()
        return s
    }

    private static func readOutputs(_ t: TableReader) -> OutputSettings {
        var s = OutputSettings()
        let socket = t.table("socket")
        s.socket.enabled = socket.bool("enabled", default: true)
        s.socket.path = socket.path("path", default: s.socket.path) ?? s.socket.path
        if s.socket.path.utf8.count >= 108 {
            socket.report(.invalidValue, "path", expected: "a path shorter than 108 bytes (sockaddr_un)",
                          found: "\(s.socket.path.utf8.count) bytes")
        }
        let mode = socket.string("mode", default: "0660", expected: "an octal mode string such as \"0660\"") {
            $0.count >= 3 && $0.count <= 4 && UInt32($0, radix: 8).map { $0 <= 0o777 } == true
        }
        s.socket.mode = UInt32(mode, radix: 8) ?? 0o660
        s.socket.group = socket.optionalString("group", expected: "a group name") { !$0.isEmpty && !$0.contains(":") }
        s.socket.clientQueueLines = socket.int("client_queue_lines", default: s.socket.clientQueueLines,
                                               range: 16...1_000_000, unit: "lines")
        s.socket.maxClients = socket.int("max_clients", default: s.socket.maxClients, range: 1...4096, unit: "clients")
        socket.finish()

        let journal = t.table("journal")
        s.journal.enabled = journal.bool("enabled", default: true)
        s.journal.events = journal.stringArray(
            "events", default: s.journal.events,
            expected: "an array of event types (\(SenteiConfig.eventTypes.joined(separator: ", ")))"
        ) { SenteiConfig.eventTypes.contains($0) }
        journal.finish()

        let snapshots = t.table("snapshots")
        s.snapshots.enabled = snapshots.bool("enabled", default: false)
        s.snapshots.directory = snapshots.path("dir", default: nil)
        s.snapshots.maxBytes = snapshots.int("max_bytes", default: s.snapshots.maxBytes, range: (1 << 20)...(1 << 40), unit: "bytes")
        snapshots.finish()
        t.finish()
        return s
    }

    private static func readCalibration(_ t: TableReader) -> CalibrationSettings {
        var s = CalibrationSettings()
        s.enabled = t.bool("enabled", default: false)
        s.directory = t.path("dir", default: nil)
        s.count = t.int("count", default: s.count, range: 1...100_000, unit: "frames")
        s.intervalS = t.double("interval_s", default: s.intervalS, range: 0...86400, unit: "seconds")
        s.maxBytes = t.int("max_bytes", default: s.maxBytes, range: (1 << 20)...(1 << 40), unit: "bytes")
        t.finish()
        return s
    }

    private static func readHealing(_ t: TableReader, calibration: CalibrationSettings,
                                    model: ModelSettings) -> HealingSettings {
        var s = HealingSettings()
        s.enabled = t.bool("enabled", default: false)
        s.checkEveryS = t.double("check_every_s", default: s.checkEveryS, range: 10...86400, unit: "seconds")
        s.checkFrames = t.int("check_frames", default: s.checkFrames, range: 1...64, unit: "frames")
        s.ratio = t.double("ratio", default: s.ratio, range: 0.05...1, unit: "fraction of the admitted agreement")
        s.sustained = t.int("sustained", default: s.sustained, range: 1...100, unit: "checks")
        let hoursRule = "a daily window \"HH:MM-HH:MM\" of local time, e.g. \"01:00-05:00\""
        if let hours = t.optionalString("hours", expected: hoursRule, accept: { HealingHours($0) != nil }) {
            s.hours = HealingHours(hours)
        }
        s.minutes = t.double("minutes", default: s.minutes, range: 0.1...600, unit: "CPU minutes per re-healing run")
        s.minGain = t.double("min_gain", default: s.minGain, range: 0...1, unit: "agreement (AP50)")
        s.rehealFrames = t.int("reheal_frames", default: s.rehealFrames, range: 8...10_000, unit: "frames")
        s.holdout = t.int("holdout", default: s.holdout, range: 1...1000, unit: "frames")
        if s.holdout >= s.rehealFrames {
            t.report(.conflict, "holdout", expected: "fewer than reheal_frames (\(s.rehealFrames))", found: "integer \(s.holdout)")
        }
        if s.enabled && !calibration.enabled {
            t.report(.conflict, "enabled", expected: "[calibration] enabled = true (the guard checks the sampled frames)",
                     found: "healing enabled with calibration off")
        }
        if s.enabled && model.ladder == nil {
            t.report(.conflict, "enabled", expected: "[model] ladder set (only a ladder directory has healed rungs)",
                     found: "healing enabled without a ladder")
        }
        t.finish()
        return s
    }
}
