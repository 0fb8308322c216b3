import Foundation
import Testing
@testable import SenteiDaemon

/// A machine with no camera and one replay directory, so defaults do not depend on the test host.
let noCameraEnvironment = ConfigEnvironment(
    videoDevices: { [] }, replayCandidates: ["/nonexistent/replay", "/srv/replay"],
    directoryExists: { $0 == "/srv/replay" })

let configPackageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func configParseErrors(_ text: String, labels: [String]? = nil) -> [ConfigError] {
    do {
        _ = try SenteiConfig.parse(text, file: "test.toml", environment: noCameraEnvironment, labels: labels)
        return []
    } catch {
        return error.errors
    }
}

@Suite struct ConfigParsingTests {
    @Test func shippedConfigIsValidAndMatchesDefaults() throws {
        let config = try SenteiConfig.load(path: configPackageRoot + "/config/sentei.toml", environment: noCameraEnvironment)
        var expected = SenteiConfig()
        expected.cameras = [noCameraEnvironment.automaticCamera()]
        // The shipped file states the defaults: if one changes, the comment block must change with it.
        #expect(config == expected)
        #expect(config.cameras.first?.source == .replay(path: "/srv/replay", loop: true))
    }

    @Test func shippedConfigValidatesAgainstModelLabels() throws {
        let labels = ["person", "car"]
        let text = try String(contentsOfFile: configPackageRoot + "/config/sentei.toml", encoding: .utf8)
            .replacingOccurrences(of: "classes = []", with: "classes = [\"person\", \"car\"]")
        let config = try SenteiConfig.parse(text, file: "sentei.toml", environment: noCameraEnvironment, labels: labels)
        #expect(config.detection.classes == ["person", "car"])
    }

    @Test func emptyFileGivesDefaultsAndAutomaticCamera() throws {
        let config = try SenteiConfig.parse("", file: "empty.toml", environment: noCameraEnvironment)
        #expect(config.model.threads == 2)
        #expect(config.outputs.socket.path == "/run/sentei/events.sock")
        #expect(config.cameras == [noCameraEnvironment.automaticCamera()])
        let withDevice = ConfigEnvironment(videoDevices: { ["/dev/video2"] }, replayCandidates: [], directoryExists: { _ in false })
        let camera = try SenteiConfig.parse("", file: "empty.toml", environment: withDevice).cameras
        #expect(camera.map(\.source) == [.device("/dev/video2")])
    }

    @Test func fullFileParsesEveryKey() throws {
        let text = """
        [daemon]
        state_dir = "/tmp/sentei-state"
        stats_interval_s = 2
        [model]
        manifest = "/opt/m/yolox_nano.json"
        ladder = "/opt/m/ladder"
        threads = 4
        [[cameras]]
        name = "front"
        device = "/dev/video1"
        width = 1280
        height = 720
        format = "mjpeg"
        fps = 30
        [[cameras]]
        name = "clip"
        replay = "/srv/clip.y4m"
        replay_loop = false
        fps = 0
        [budgets]
        latency_ms = 0
        power_w = 5
        max_level = 3
        min_level = 1
        fps = 5.5
        estimate_scope = "process"
        [detection]
        threshold = 0.5
        classes = ["person"]
        class_thresholds = { person = 0.6, car = 1 }
        [outputs.socket]
        mode = "0600"
        group = "video"
        [outputs.journal]
        events = ["stats"]
        [outputs.snapshots]
        enabled = true
        dir = "/tmp/snaps"
        max_bytes = 1048576
        [calibration]
        enabled = true
        count = 10
        """
        let c = try SenteiConfig.parse(text, file: "full.toml", environment: noCameraEnvironment)
        #expect(c.daemon.stateDirectory == "/tmp/sentei-state")
        #expect(c.model.ladder == "/opt/m/ladder" && c.model.threads == 4)
        #expect(c.cameras.count == 2)
        #expect(c.cameras[0].source == .device("/dev/video1") && c.cameras[0].format == .mjpeg && c.cameras[0].width == 1280)
        #expect(c.cameras[1].source == .replay(path: "/srv/clip.y4m", loop: false) && c.cameras[1].fps == 0)
        #expect(c.budgets.latencyMs == nil && c.budgets.powerW == 5 && c.budgets.maxLevel == 3 && c.budgets.minLevel == 1)
        #expect(c.budgets.fps == 5.5 && c.budgets.estimateScope == .process)
        #expect(c.detection.classThresholds == ["person": 0.6, "car": 1])
        #expect(c.outputs.socket.mode == 0o600 && c.outputs.socket.group == "video")
        #expect(c.outputs.journal.events == ["stats"])
        #expect(c.snapshotDirectory == "/tmp/snaps")
        #expect(c.calibrationDirectory == "/tmp/sentei-state/calibration" && c.calibration.count == 10)
    }
}

@Suite struct ConfigErrorTests {
    @Test func syntaxErrorHasParserPosition() {
        let errors = configParseErrors("[budgets]\nlatency_ms = = 5\n")
        #expect(errors.count == 1)
        #expect(errors.first?.code == .syntax)
        #expect(errors.first?.line == 2)
        #expect(errors.first?.column != nil)
        #expect(errors.first?.description.hasPrefix("test.toml:2:") == true)
    }

    /// toml++ asserts (aborting the process) on these instead of reporting them; found by scripts/fuzz-config.sh.
    @Test func headersTomlPlusPlusWouldAssertOnAreSyntaxErrors() throws {
        for (text, line, column) in [("[[ }\nmodel.threads = 3\n", 1, 4), ("[daemon]\n\n  [ =x]\n", 3, 5), ("[#]\n", 1, 2)] {
            let errors = configParseErrors(text)
            #expect(errors.count == 1, "\(text)")
            #expect(errors.first?.code == .syntax)
            #expect(errors.first?.line == line && errors.first?.column == column, "\(errors)")
        }
        // A date-time with misplaced digits (fuzz reproducer) is a syntax error at the value; well-formed ones pass.
        let badTime = configParseErrors("[[cameras]]\nname = \"a\"\nreplay = \"/x\"\n[cameras.extra]\nk = 1979-05-27T:0072:30Z\n")
        #expect(badTime.count == 1 && badTime.first?.code == .syntax && badTime.first?.line == 5, "\(badTime)")
        for good in ["a = 1979-05-27T07:32:00Z", "a = 1979-05-27 07:32:00.5-07:00", "a = 07:32:00", "a = 1979-05-27", "a = -3"] {
            #expect(TOMLPrecheck.check(good + "\n") == nil, "\(good)")
        }
        // Brackets that are not headers: arrays of inline tables, strings, quoted table names.
        let valid = "[detection]\nclasses = [\n  \"person\", # [ }\n]\n[ \"budgets\" ]\nlatency_ms = 5\n"
        #expect(TOMLPrecheck.check(valid) == nil)
        #expect(TOMLPrecheck.check("a = [\n  [{ b = 1 }],\n  \"\"\"x\n[ }\"\"\"\n]\n") == nil)
        #expect(configParseErrors(valid).isEmpty)
    }

    @Test func unknownKeysAreErrorsWithLineAndSuggestion() {
        let errors = configParseErrors("""
        [budgets]
        latency_ms = 100

        laetncy_percentile = 90
        [outputs.socket]
        pth = "/x"
        [bogus]
        a = 1
        """)
        let byKey = Dictionary(errors.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(errors.allSatisfy { $0.code == .unknownKey })
        #expect(byKey["budgets.laetncy_percentile"]?.line == 4)
        #expect(byKey["budgets.laetncy_percentile"]?.found.contains("did you mean \"latency_percentile\"") == true)
        #expect(byKey["outputs.socket.pth"]?.line == 6)
        #expect(byKey["outputs.socket.pth"]?.found.contains("\"path\"") == true)
        #expect(byKey["bogus"]?.line == 7)
        #expect(errors.count == 3)
    }

    @Test func deepNestingIsAnErrorNotAStackOverflow() {
        // The precheck walks values recursively: half a megabyte of '[' must end in an error, not a crash.
        let deep = "a = " + String(repeating: "[", count: 1 << 19) + "\n"
        #expect(TOMLPrecheck.check(deep)?.expected == "at most \(TOMLPrecheck.maxDepth) nested arrays and inline tables")
        #expect(configParseErrors(deep).map(\.line) == [1])
        let inline = "a = " + String(repeating: "{ b = ", count: TOMLPrecheck.maxDepth + 1) + "1\n"
        #expect(TOMLPrecheck.check(inline)?.expected.hasPrefix("at most") == true)
        // Within toml++'s own limit (256) the precheck passes the value on.
        let nested = "a = " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n"
        #expect(TOMLPrecheck.check(nested) == nil)
    }

    @Test func crlfFilesGetTheSameLinesAsLFFiles() {
        // A config saved by a Windows editor: "\r\n" is one Swift Character, so line splitting must be by byte.
        let lf = "[budgets]\nlatency_ms = 100\n\n[outputs.socket]\npth = \"/x\"\n[model]\nthreads = 0\nwhen = 1979-05-27T07:32d\n"
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(configParseErrors(lf).map(\.line) == [8])
        #expect(configParseErrors(crlf).map(\.line) == [8])
        let semantic = lf.replacingOccurrences(of: "when = 1979-05-27T07:32d\n", with: "")
        #expect(configParseErrors(semantic).compactMap(\.line).sorted() == [5, 7])
        #expect(configParseErrors(semantic.replacingOccurrences(of: "\n", with: "\r\n")).compactMap(\.line).sorted() == [5, 7])
    }

    @Test func wrongTypeNamesExpectedAndFound() {
        let errors = configParseErrors("[model]\nthreads = \"four\"\n")
        #expect(errors.map(\.code) == [.wrongType])
        #expect(errors[0].key == "model.threads" && errors[0].line == 2)
        #expect(errors[0].expected.contains("integer in 1...256"))
        #expect(errors[0].found == "string \"four\"")
        #expect(errors[0].description == "test.toml:2: model.threads: expected an integer in 1...256 (threads), found string \"four\"")
    }

    @Test func outOfRangeValues() {
        let errors = configParseErrors("""
        [budgets]
        latency_percentile = 20
        [detection]
        threshold = 1.5
        [[cameras]]
        name = "a"
        device = "/dev/video0"
        [[cameras]]
        name = "b"
        device = "/dev/video1"
        width = 100000
        """)
        #expect(errors.map(\.code) == [.outOfRange, .outOfRange, .outOfRange])
        let keys = Dictionary(errors.map { ($0.key, $0.line) }, uniquingKeysWith: { a, _ in a })
        #expect(keys["budgets.latency_percentile"] == 2)
        #expect(keys["detection.threshold"] == 4)
        #expect(keys["cameras[1].width"] == 11)
    }

    @Test func missingAndConflictingKeys() {
        let errors = configParseErrors("""
        [[cameras]]
        name = "a"
        [[cameras]]
        name = "a"
        device = "/dev/video0"
        replay = "/srv/x"
        [budgets]
        min_level = 3
        max_level = 1
        """)
        #expect(errors.contains { $0.code == .missingKey && $0.key == "cameras[0].device" && $0.line == 1 })
        #expect(errors.contains { $0.code == .conflict && $0.key == "cameras[1].name" && $0.line == 4 })
        #expect(errors.contains { $0.code == .conflict && $0.key == "cameras[1].replay" && $0.line == 6 })
        #expect(errors.contains { $0.code == .conflict && $0.key == "budgets.max_level" && $0.line == 9 })
    }

    @Test func invalidValues() {
        let errors = configParseErrors("""
        [model]
        manifest = "relative/path.json"
        [[cameras]]
        name = "Front Door"
        device = "/dev/video0"
        format = "h264"
        [outputs.socket]
        mode = "0999"
        [outputs.journal]
        events = ["track_new", "tracks"]
        [budgets]
        estimate_scope = "cpu"
        [detection]
        classes = ["person", "unicorn"]
        class_thresholds = { unicorn = 0.5 }
        """, labels: ["person", "car"])
        let keys = Set(errors.map(\.key))
        #expect(errors.allSatisfy { $0.code == .invalidValue })
        #expect(keys == ["model.manifest", "cameras[0].name", "cameras[0].format", "outputs.socket.mode",
                         "outputs.journal.events[1]", "budgets.estimate_scope", "detection.classes[1]",
                         "detection.class_thresholds.unicorn"])
        #expect(errors.first { $0.key == "detection.class_thresholds.unicorn" }?.line == 15)
        #expect(errors.first { $0.key == "budgets.estimate_scope" }?.expected == "\"system\" or \"process\"")
    }

    @Test func socketPathMustFitSockaddr() {
        let errors = configParseErrors("[outputs.socket]\npath = \"/\(String(repeating: "a", count: 120))\"\n")
        #expect(errors.map(\.code) == [.invalidValue])
    }

    @Test func unreadableAndOversizedFiles() {
        #expect(throws: ConfigValidationError.self) { try SenteiConfig.load(path: "/nonexistent/sentei.toml") }
        do {
            _ = try SenteiConfig.load(path: "/nonexistent/sentei.toml")
        } catch {
            #expect(error.errors.first?.code == .unreadable)
            #expect(error.description.contains("/nonexistent/sentei.toml"))
        }
        let big = String(repeating: "# padding\n", count: SenteiConfig.maxFileBytes / 10 + 1)
        #expect(configParseErrors(big).first?.code == .unreadable)
        #expect(configParseErrors("a = 1\u{0}").first?.code == .unreadable)
    }

    @Test func dateValuesAreWrongType() {
        let errors = configParseErrors("[daemon]\nstats_interval_s = 1979-05-27\n")
        #expect(errors.map(\.code) == [.wrongType])
        #expect(errors.first?.found.hasPrefix("date/time") == true)
    }
}

@Suite struct KeyLocatorTests {
    @Test func locatesTablesArraysDottedAndQuotedKeys() {
        let locator = KeyLocator(text: """
        top = 1 # comment with = sign
        [a]
        b.c = 2
        "quoted key" = 3
        [[cameras]]
        name = "x#y"
        [[cameras]]
        name = "z"
        [cameras.extra]
        k = { inner = 1 }
        """)
        #expect(locator.line(of: "top") == 1)
        #expect(locator.line(of: "a") == 2)
        #expect(locator.line(of: "a.b.c") == 3)
        #expect(locator.line(of: "a.quoted key") == 4)
        #expect(locator.line(of: "cameras[0].name") == 6)
        #expect(locator.line(of: "cameras[1].name") == 8)
        #expect(locator.line(of: "cameras[1].extra.k") == 10)
        #expect(locator.line(of: "cameras[1].extra.k.inner") == 10)
        #expect(locator.line(of: "missing") == nil)
    }
}

@Suite struct ConfigReloadTests {
    func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    let base = """
    [[cameras]]
    name = "front"
    replay = "/srv/replay"
    [budgets]
    latency_ms = 100
    """

    @Test func budgetChangeKeepsCamerasAndBadFileKeepsOldConfig() throws {
        let path = NSTemporaryDirectory() + "sentei-reload-\(UUID().uuidString).toml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try write(base, to: path)
        let initial = try SenteiConfig.load(path: path, environment: noCameraEnvironment)
        let reloader = ConfigReloader(path: path, initial: initial, environment: noCameraEnvironment)

        guard case .unchanged = reloader.reload() else { Issue.record("unchanged file must not apply"); return }

        try write(base.replacingOccurrences(of: "latency_ms = 100", with: "latency_ms = 50\npower_w = 4"), to: path)
        guard case .applied(let old, let new, let changes) = reloader.reload() else {
            Issue.record("valid file must apply"); return
        }
        #expect(old.budgets.latencyMs == 100 && new.budgets.latencyMs == 50 && new.budgets.powerW == 4)
        #expect(changes.budgetsChanged && changes.keepsCameras)
        #expect(changes.summary == "budgets")
        #expect(reloader.current.budgets.latencyMs == 50)

        try write(base.replacingOccurrences(of: "latency_ms = 100", with: "latency_ms = -1"), to: path)
        guard case .rejected(let error) = reloader.reload() else { Issue.record("invalid file must be rejected"); return }
        #expect(error.errors.map(\.key) == ["budgets.latency_ms"])
        #expect(error.errors.first?.line == 5)
        #expect(reloader.current.budgets.latencyMs == 50)
    }

    @Test func aBrokenLadderOnReloadKeepsTheRunningModel() throws {
        let path = NSTemporaryDirectory() + "sentei-reload-\(UUID().uuidString).toml"
        let emptyLadder = NSTemporaryDirectory() + "sentei-ladder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: emptyLadder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: emptyLadder) }
        try write(base, to: path)
        let initial = try SenteiConfig.load(path: path, environment: noCameraEnvironment)
        let reloader = ConfigReloader(path: path, initial: initial, environment: noCameraEnvironment)
        try write(base + "\n[model]\nladder = \"\(emptyLadder)\"\n", to: path)
        guard case .rejected(let error) = reloader.reload() else { Issue.record("a ladder without manifest must be rejected"); return }
        #expect(error.errors.map(\.key) == ["model.ladder"])
        #expect(reloader.current.model == initial.model)
    }

    @Test func cameraAndModelChangesAreClassified() throws {
        let old = try SenteiConfig.parse(base, file: "a", environment: noCameraEnvironment)
        var new = old
        new.cameras[0].width = 1280
        new.cameras.append(CameraSettings(name: "back", source: .device("/dev/video1")))
        var changes = ConfigChangeSet.between(old, new)
        #expect(changes.restartedCameras == ["front"] && changes.addedCameras == ["back"] && !changes.keepsCameras)
        new = old
        new.model.threads = 1
        changes = ConfigChangeSet.between(old, new)
        #expect(changes.modelChanged && !changes.keepsCameras)
        new = old
        new.detection.threshold = 0.9
        new.outputs.journal.enabled = false
        changes = ConfigChangeSet.between(old, new)
        #expect(changes.keepsCameras && changes.detectionChanged && changes.outputsChanged)
    }
}

@Suite struct ConfigFuzzTests {
    /// Random byte edits of the shipped file: the parser must never crash, and every rejection must carry a
    /// code and, for semantic errors, a key.
    @Test func mutatedConfigsNeverCrash() throws {
        let original = Array(try String(contentsOfFile: configPackageRoot + "/config/sentei.toml", encoding: .utf8).utf8)
        var rng = ConfigFuzzRandom(seed: 0x5e17e1)
        let alphabet = Array("[]=\"'.#,{}\n 0123456789abcxyz_-+eE\\".utf8)
        var accepted = 0, rejected = 0
        for _ in 0..<1500 {
            var bytes = original
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let position = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[position] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: position)
                case 2: bytes.remove(at: position)
                default: bytes = Array(bytes[..<position])
                }
                if bytes.isEmpty { bytes = [UInt8(ascii: "#")] }
            }
            do {
                _ = try SenteiConfig.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.toml",
                                           environment: noCameraEnvironment)
                accepted += 1
            } catch {
                rejected += 1
                #expect(!error.errors.isEmpty)
                for e in error.errors where e.code != .syntax && e.code != .unreadable {
                    #expect(!e.key.isEmpty)
                }
            }
        }
        #expect(accepted > 0 && rejected > 0)
    }
}

struct ConfigFuzzRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
