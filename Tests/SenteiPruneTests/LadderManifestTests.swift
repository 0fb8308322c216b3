import Foundation
import Testing
@testable import SenteiPrune

@Suite struct LadderManifestTests {
    static let hash = String(repeating: "ab", count: 32)

    static func level(_ name: String, agreement: Double, latency: Double, size: Int = 416, cut: Double = 0,
                      pareto: Bool = false) -> LadderManifest.Level {
        LadderManifest.Level(name: name, inputSize: size, cut: cut, macs: 1_000_000, params: 900_000, precision: .fp32,
                             file: name + ".sntm", sha256: hash, agreement: agreement, agreementMAP50: agreement,
                             latencyMs: .init(threads1: latency, threads2: latency * 0.6), pareto: pareto)
    }

    static func sample() -> LadderManifest {
        var manifest = LadderManifest(
            baseModel: .init(file: "yolox_nano.onnx", sha256: hash),
            calibration: .init(directory: "calib", frames: 32, heldOutFrames: 32), paretoThreads: 1,
            levels: [level("a", agreement: 1.0, latency: 50), level("b", agreement: 0.8, latency: 30),
                     level("c", agreement: 0.7, latency: 35), level("d", agreement: 0.5, latency: 20)])
        manifest.levels[1].healing = .init(steps: 100, cpuSeconds: 12.5, energyJ: 40, energyMeter: "estimate:cpu-time")
        manifest.levels[3].classes = ["person"]
        manifest.markParetoFront()
        return manifest
    }

    @Test func roundTripsThroughJSON() throws {
        let manifest = Self.sample()
        let data = try manifest.encoded()
        let decoded = try LadderManifest.decode(data, file: "manifest.json")
        #expect(decoded == manifest)
        // Same value, same bytes (sorted keys): the manifest is part of the deterministic output.
        #expect(try decoded.encoded() == data)
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"input_size\"", "\"latency_ms\"", "\"threads_1\"", "\"pareto_threads\"", "\"cpu_seconds\"", "\"base_model\""] {
            #expect(text.contains(key), "\(key)")
        }
    }

    @Test func paretoLevelsRunMostAccurateToFastest() {
        let manifest = Self.sample()
        // c (0.7 at 35 ms) is dominated by b (0.8 at 30 ms).
        #expect(manifest.levels.map(\.pareto) == [true, true, false, true])
        #expect(manifest.paretoLevels.map(\.name) == ["a", "b", "d"])
    }

    @Test func paretoFrontKeepsOnlyUndominatedPoints() {
        typealias P = ParetoFront.Point
        let points = [P(accuracy: 0.9, latency: 10), P(accuracy: 0.9, latency: 12), P(accuracy: 0.95, latency: 12),
                      P(accuracy: 0.5, latency: 5), P(accuracy: 0.5, latency: 5), P(accuracy: 0.4, latency: 6)]
        // Equal accuracy but slower is dominated; an exact duplicate keeps only its first copy.
        #expect(ParetoFront.members(points) == [true, false, true, true, false, false])
        #expect(ParetoFront.members([]) == [])
        #expect(ParetoFront.members([P(accuracy: 0, latency: 1)]) == [true])
    }

    func expectError(field: String?, _ mutate: (inout LadderManifest) -> Void) {
        var manifest = Self.sample()
        mutate(&manifest)
        do {
            _ = try LadderManifest.decode(try manifest.encoded(), file: "/x/manifest.json")
            Issue.record("expected an error at \(field ?? "file")")
        } catch let error as LadderError {
            #expect(error.code == .invalidManifest)
            #expect(error.field == field, "\(error)")
            #expect(error.file == "/x/manifest.json")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func invalidValuesNameTheirField() {
        expectError(field: "format") { $0.format = 2 }
        expectError(field: "levels") { $0.levels = [] }
        expectError(field: "levels[1].name") { $0.levels[1].name = "a" }
        expectError(field: "levels[0].input_size") { $0.levels[0].inputSize = 300 }
        expectError(field: "levels[2].cut") { $0.levels[2].cut = 1 }
        expectError(field: "levels[2].macs") { $0.levels[2].macs = 0 }
        expectError(field: "levels[0].file") { $0.levels[0].file = "../escape.sntm" }
        expectError(field: "levels[0].file") { $0.levels[0].file = "/etc/passwd" }
        expectError(field: "levels[3].sha256") { $0.levels[3].sha256 = "ABC" }
        expectError(field: "levels[1].agreement") { $0.levels[1].agreement = 1.5 }
        expectError(field: "levels[1].latency_ms.threads_2") { $0.levels[1].latencyMs.threads2 = 0 }
        expectError(field: "levels[0].int8_table") { $0.levels[0].precision = .int8 }
        expectError(field: "levels[0].int8_table") { $0.levels[0].int8Table = "t.json" }
        expectError(field: "levels[1].healing.cpu_seconds") { $0.levels[1].healing?.cpuSeconds = -1 }
        expectError(field: "levels[3].classes") { $0.levels[3].classes = [] }
        expectError(field: "levels") { for i in $0.levels.indices { $0.levels[i].pareto = false } }
        expectError(field: "pareto_threads") { $0.paretoThreads = 0 }
    }

    func decodeError(_ json: String) -> LadderError? {
        do {
            _ = try LadderManifest.decode(Data(json.utf8), file: "m.json")
            return nil
        } catch {
            return error as? LadderError
        }
    }

    @Test func malformedJSONNamesTheField() throws {
        var object = try JSONSerialization.jsonObject(with: Self.sample().encoded()) as! [String: Any]
        var levels = object["levels"] as! [[String: Any]]
        levels[2]["precision"] = "fp16"
        levels[1].removeValue(forKey: "macs")
        object["levels"] = levels
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let error = decodeError(text)
        #expect(error?.code == .invalidManifest)
        #expect(error?.field == "levels[1].macs", "\(String(describing: error))")

        levels[1]["macs"] = "many"
        object["levels"] = levels
        let wrongType = decodeError(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        #expect(wrongType?.field == "levels[1].macs")

        levels[1]["macs"] = 5
        object["levels"] = levels
        let badEnum = decodeError(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        #expect(badEnum?.field == "levels[2].precision")

        #expect(decodeError("{\"format\": 1, ")?.code == .invalidManifest)
        #expect(decodeError("[]")?.code == .invalidManifest)
    }

    @Test func loadsFromADirectoryAndVerifiesFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ladder-manifest-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var missing: LadderError?
        do { _ = try LadderManifest.load(directory: directory) } catch { missing = error as? LadderError }
        #expect(missing?.code == .invalidManifest)
        #expect(missing?.file == directory + "/manifest.json")

        var manifest = Self.sample()
        for index in manifest.levels.indices {
            let bytes = Data("model \(index)".utf8)
            try bytes.write(to: URL(fileURLWithPath: directory + "/" + manifest.levels[index].file))
            manifest.levels[index].sha256 = SHA256.hex(bytes)
        }
        try manifest.write(directory: directory)
        let loaded = try LadderManifest.load(directory: directory)
        #expect(loaded == manifest)
        try loaded.verifyFiles(directory: directory)

        try Data("tampered".utf8).write(to: URL(fileURLWithPath: directory + "/c.sntm"))
        var mismatch: LadderError?
        do { try loaded.verifyFiles(directory: directory) } catch { mismatch = error as? LadderError }
        #expect(mismatch?.code == .fileMismatch)
        #expect(mismatch?.field == "levels[2].sha256")
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Crosses a block boundary in the padding (55, 56, 64 bytes).
        #expect(SHA256.hex(Data(repeating: 0x61, count: 56)) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
    }
}
