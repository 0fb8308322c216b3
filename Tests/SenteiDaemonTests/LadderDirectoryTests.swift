import Foundation
import Testing
import SenteiPrune
import SenteiVision
@testable import SenteiDaemon

/// A ladder directory as `sentei prune` lays it out, built by hand around the shared YOLOX-Nano: three rungs (two on
/// the Pareto front) whose files are links to the same ONNX model at different input sizes.
struct HandBuiltLadder {
    let directory: String

    init() throws {
        guard let root = daemonSharedRoot else { throw LadderTestSkip() }
        directory = NSTemporaryDirectory() + "sentei-ladder-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: daemonPackageRoot + "/Models/yolox_nano.json",
                                         toPath: directory + "/yolox_nano.json")
        let onnx = root + "/models/yolox_nano.onnx"
        for name in ["s416.onnx", "s320.onnx", "s352.onnx"] {
            try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: onnx)
        }
        let digest = SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: onnx)))
        func level(_ name: String, _ size: Int, agreement: Double, ms: Double, pareto: Bool) -> LadderManifest.Level {
            LadderManifest.Level(name: name, inputSize: size, cut: 0, macs: size * size * 10, params: 900_000,
                                 precision: .fp32, file: name + ".onnx", sha256: digest, agreement: agreement,
                                 latencyMs: .init(threads1: ms, threads2: ms / 2), pareto: pareto)
        }
        // Listed out of order on purpose: the daemon orders rungs most accurate first.
        let manifest = LadderManifest(
            baseModel: .init(file: "s416.onnx", sha256: digest),
            calibration: .init(directory: "/var/lib/sentei/calibration", frames: 64, heldOutFrames: 16),
            paretoThreads: 1, modelManifest: "yolox_nano.json",
            levels: [level("s320", 320, agreement: 0.7, ms: 12, pareto: true),
                     level("s352", 352, agreement: 0.6, ms: 15, pareto: false),
                     level("s416", 416, agreement: 1, ms: 20, pareto: true)])
        try manifest.write(directory: directory)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Rewrites one level's sha256 (to a valid-looking wrong digest).
    func corruptHash(ofLevel name: String) throws {
        var manifest = try LadderManifest.load(directory: directory)
        let index = try #require(manifest.levels.firstIndex { $0.name == name })
        manifest.levels[index].sha256 = String(repeating: "0", count: 64)
        try manifest.write(directory: directory)
    }
}

struct LadderTestSkip: Error {}

@Suite struct LadderDirectoryTests {
    @Test func paretoRungsBecomeLevelsMostAccurateFirst() throws {
        guard let ladder = try? HandBuiltLadder() else { print("skipping: \(daemonSharedMissing)"); return }
        defer { ladder.remove() }
        #expect(try Ladder.verify(directory: ladder.directory) == ["s416", "s320"])
        let manifest = try Ladder.detectorManifest(directory: ladder.directory)
        #expect(manifest.input.shape == [1, 3, 416, 416])
        #expect(manifest.classNames.contains("person"))
    }

    @Test func aWrongHashNamesTheFileAndField() throws {
        guard let ladder = try? HandBuiltLadder() else { print("skipping: \(daemonSharedMissing)"); return }
        defer { ladder.remove() }
        try ladder.corruptHash(ofLevel: "s320")
        #expect {
            try Ladder.verify(directory: ladder.directory)
        } throws: { error in
            guard let error = error as? LadderError else { return false }
            return error.code == .fileMismatch && error.file.hasSuffix("/s320.onnx") && error.field == "levels[0].sha256"
        }
        // A non-Pareto rung is never loaded, so its hash is not what stops the daemon.
        try ladder.corruptHash(ofLevel: "s352")
        #expect(throws: LadderError.self) { try Ladder.directory(ladder.directory) }
    }

    @Test func theConfigAcceptsALadderAndNamesTheFileWhenItIsBroken() throws {
        guard let ladder = try? HandBuiltLadder() else { print("skipping: \(daemonSharedMissing)"); return }
        defer { ladder.remove() }
        let path = ladder.directory + "/sentei.toml"
        try "[model]\nladder = \"\(ladder.directory)\"\nthreads = 1\n[[cameras]]\nname = \"a\"\nreplay = \"/x\"\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try SenteiConfig.loadWithModel(path: path)
        #expect(loaded.config.model.ladder == ladder.directory)
        #expect(loaded.manifest.classNames == (try ModelManifest.load(path: daemonPackageRoot + "/Models/yolox_nano.json")).classNames)

        try ladder.corruptHash(ofLevel: "s416")
        do {
            _ = try SenteiConfig.loadWithModel(path: path)
            Issue.record("a ladder whose file does not match its sha256 was accepted")
        } catch {
            let problem = try #require(error.errors.first)
            #expect(problem.key == "model.ladder" && problem.line == 2)
            #expect(problem.found.contains(ladder.directory + "/s416.onnx") && problem.found.contains("levels[2].sha256"),
                    "\(problem)")
        }
    }

    @Test(.enabled(if: endToEndEnabled, "debug build: compiling the rungs is slow; use -c release"))
    func theDaemonCompilesEveryParetoRung() throws {
        guard let ladder = try? HandBuiltLadder() else { print("skipping: \(daemonSharedMissing)"); return }
        defer { ladder.remove() }
        let loaded = try Ladder.directory(ladder.directory, threads: 1)
        #expect(loaded.levels.map(\.name) == ["s416", "s320"])
        #expect(loaded.levels.map(\.inputWidth) == [416, 320])
        #expect(loaded[1].manifest.output.shape == [1, 2100, 85])
    }
}
