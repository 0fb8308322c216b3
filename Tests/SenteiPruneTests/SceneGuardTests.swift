import Foundation
import Testing
@testable import SenteiEngine
@testable import SenteiPrune
import SenteiVision

/// JPEG frames FIRST...LAST (1-based, sorted by name) of a shared frame directory.
func sharedFrames(_ relative: String, _ range: ClosedRange<Int>) throws -> [(name: String, jpeg: [UInt8])] {
    let dir = sharedDirectory! + "/data/" + relative
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jpg") }.sorted()
    return try names.enumerated().filter { range.contains($0.offset + 1) }.map { _, name in
        guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { throw PruneError(.io, name) }
        return (relative + "/" + name, [UInt8](data))
    }
}

@Suite struct AgreementGuardTests {
    @Test func onlyASustainedDropWithdraws() throws {
        var guardian = try AgreementGuard(admittedMAP50: 0.6, settings: .init(ratio: 0.7, sustained: 3))
        #expect(abs(guardian.threshold - 0.42) < 1e-12)
        #expect(guardian.record(0.55) == .agrees)
        #expect(guardian.record(0.30) == .below(checks: 1))
        #expect(guardian.record(0.41) == .below(checks: 2))
        // One good batch in between resets the count: a noisy batch never withdraws a rung.
        #expect(guardian.record(0.42) == .agrees)
        #expect(guardian.record(0.2) == .below(checks: 1))
        #expect(guardian.record(0.1) == .below(checks: 2))
        guard case .dropped(let mean) = guardian.record(0.3) else { Issue.record("three failed checks in a row must withdraw"); return }
        #expect(abs(mean - 0.2) < 1e-12)
        #expect(guardian.failing.isEmpty)
        #expect(throws: PruneError.self) { try AgreementGuard(admittedMAP50: 1.5) }
        #expect(throws: PruneError.self) { try AgreementGuard(admittedMAP50: 0.5, settings: .init(ratio: 0, sustained: 1)) }
        #expect(throws: PruneError.self) { try AgreementGuard(admittedMAP50: 0.5, settings: .init(ratio: 0.5, sustained: 0)) }
    }
}

/// The scene changes under a healed rung: a 25% cut of YOLOX-Nano at 416 px healed on the pedestrian camera
/// (tud-campus) keeps agreeing on that camera's later frames; when the replay switches to the road camera (traffic),
/// the guard sees agreement fall, withdraws the rung from the manifest (off the front the daemon loads), and
/// re-healing on the road frames raises agreement on road frames held out from it and puts the rung back.
/// CI-sized by default: 30-step healing runs of 4 images (about a CPU-minute in all); 30 steps do lift the rung on
/// the pedestrian camera, but on the road camera they only lower the distillation loss, so by default the test
/// checks that the re-healing trained and that the rung stays withdrawn unless it was admitted.
/// `SENTEI_GUARD_TEST=1` re-heals for 150 steps and requires the re-healed rung admitted (about 4 CPU-minutes).
/// The road camera is far: the unpruned model sees an object in about a third of its frames at 416 px (at 256 px
/// almost none), so checks pool frames until the reference has seen enough objects to judge.
@Suite struct SceneGuardTests {
    static let size = 416
    static let cut = 0.25

    func buildLadder(into directory: String) throws {
        let manifest = try ModelManifest.load(path: modelsDirectory + "/yolox_nano.json").atInputSize(Self.size)
        var options = LadderOptions(sizes: [Self.size], cuts: [0, Self.cut])
        options.runs = 2
        options.warmup = 0
        options.prune.sensitivityAware = false
        // The statistics-only refit leaves the uniform 25 % cut far from the teacher, so 30 healing steps lift it
        // clearly; the default layer-by-layer refit starts it closer (0.61 weighted AP50), where 30 steps are too few.
        options.prune.reconstruction = .teacher
        options.prune.threads = 2
        let builder = try LadderBuilder(modelPath: sharedDirectory! + "/models/yolox_nano.onnx", manifest: manifest,
                                        calibration: try sharedFrames("tud-campus/frames", 1...6),
                                        heldOut: try sharedFrames("tud-campus/frames", 21...24), options: options)
        _ = try builder.build(into: directory)
    }

    @Test func sceneChangeWithdrawsAndRehealsTheRung() throws {
        guard sharedDirectory != nil else { print("skipping: ../shared not found (set SENTEI_SHARED)"); return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scene-guard-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try buildLadder(into: directory)
        let name = LadderBuilder.levelName(size: Self.size, cut: Self.cut, precision: .fp32)

        var settings = SceneGuard.Settings()
        settings.policy = .init(ratio: 0.7, sustained: 2)
        settings.healing.batch = 4
        settings.healing.optimizer.learningRate = 3e-4
        let full = ProcessInfo.processInfo.environment["SENTEI_GUARD_TEST"] == "1"
        settings.rehealBudget = .steps(30)
        settings.holdout = 4
        settings.minimumReferenceBoxes = 4
        let sceneGuard = try SceneGuard(directory: directory, level: name, settings: settings, threads: 2)

        // Heal on the pedestrian camera (frames 1–24, the last 4 held out): the rung is admitted with its agreement there.
        let healed = try sceneGuard.reheal(frames: try sharedFrames("tud-campus/frames", 1...24))
        print("campus heal: agreement mAP50 \(healed.before.weightedAP50) → \(healed.after.weightedAP50) in \(healed.steps) steps, \(healed.cpuSeconds) CPU s")
        #expect(healed.admitted)
        #expect(healed.after.weightedAP50 > healed.before.weightedAP50 + settings.minimumGain)
        let admitted = sceneGuard.policy.admittedMAP50
        #expect(abs(admitted - healed.after.weightedAP50) < 1e-9)

        // Later frames of the same camera: the rung is not withdrawn (one noisy batch below the threshold may happen).
        var sameScene: [SceneGuard.Outcome] = []
        for batch in [31...38, 41...48, 51...58] {
            sameScene.append(try sceneGuard.check(frames: try sharedFrames("tud-campus/frames", batch)))
            print("campus \(batch): \(sameScene.last!)")
            if case .withdrawn = sameScene.last! { Issue.record("withdrawn on the scene it was healed for: \(sameScene)"); return }
        }
        #expect(sameScene.contains { if case .agrees = $0 { true } else { false } })

        // The replay switches to the road camera: two verdicts below 70% of the admitted agreement withdraw the rung.
        var outcomes: [SceneGuard.Outcome] = []
        var withdrawal: LadderManifest.Withdrawal?
        for start in stride(from: 49, through: 113, by: 8) where withdrawal == nil {
            outcomes.append(try sceneGuard.check(frames: try sharedFrames("traffic/frames", start...(start + 7))))
            print("traffic \(start)...\(start + 7): \(outcomes.last!)")
            if case .withdrawn(let w) = outcomes.last! { withdrawal = w }
        }
        guard let withdrawal else { Issue.record("scene change not detected: \(outcomes)"); return }
        #expect(outcomes.contains { if case .below(_, 1) = $0 { true } else { false } }, "one failed check never withdraws")
        #expect(withdrawal.admittedMAP50 == admitted && withdrawal.agreementMAP50 < 0.7 * admitted)
        let withdrawn = try LadderManifest.load(directory: directory)
        #expect(withdrawn.level(named: name)?.withdrawn == withdrawal)
        #expect(withdrawn.level(named: name)?.pareto == false)
        #expect(!withdrawn.paretoLevels.contains { $0.name == name }, "the controller's levels must not include a withdrawn rung")
        #expect(try sceneGuard.check(frames: try sharedFrames("traffic/frames", 81...88)) == .awaitingReheal)

        // Re-healing on recent road frames (the last 8 held out) raises agreement there and reinstates the rung.
        sceneGuard.settings.holdout = 8
        if full {
            sceneGuard.settings.rehealBudget = .steps(150)
            sceneGuard.settings.healing.optimizer.learningRate = 1e-3
        }
        var losses: [Double] = []
        let reheal = try sceneGuard.reheal(frames: try sharedFrames("traffic/frames", 121...178)) { losses.append($0.stats.terms.total) }
        print("traffic re-heal: agreement mAP50 \(reheal.before.weightedAP50) → \(reheal.after.weightedAP50) in \(reheal.steps) steps, \(reheal.cpuSeconds) CPU s")
        // Real training: the distillation loss on the road frames fell (means of the first and last 5 steps).
        #expect(losses.count == reheal.steps && reheal.steps >= 30)
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        print("traffic re-heal loss \(first) → \(last)")
        #expect(last < first, "re-healing did not lower the loss: \(first) → \(last)")
        let back = try LadderManifest.load(directory: directory)
        let level = try #require(back.level(named: name))
        if full {
            #expect(reheal.admitted)
            #expect(reheal.after.weightedAP50 > reheal.before.weightedAP50)
        }
        guard reheal.admitted else {
            // Not admitted: still withdrawn, still off the front, still the campus-healed file.
            #expect(reheal.after.weightedAP50 <= reheal.before.weightedAP50 + sceneGuard.settings.minimumGain)
            #expect(level.withdrawn != nil && !level.pareto && !back.paretoLevels.contains { $0.name == name })
            #expect(level.file == withdrawn.level(named: name)?.file)
            return
        }
        #expect(reheal.after.weightedAP50 > reheal.before.weightedAP50 + sceneGuard.settings.minimumGain)
        // Re-admitted: no longer withdrawn, and back among the levels the front is decided on. Whether it is on the
        // front depends on the other rungs' latencies, which this CI-sized ladder measures in two unwarmed runs (a
        // rung at 0.12 agreement loses to any faster, more accurate one): the flag must be the front's verdict.
        #expect(level.withdrawn == nil)
        var decided = back
        decided.markParetoFront()
        #expect(level.pareto == decided.level(named: name)?.pareto)
        #expect(back.paretoLevels.contains { $0.name == name } == level.pareto)
        #expect(level.file == (reheal.file ?? ""))
        #expect(abs((level.agreementMAP50 ?? -1) - reheal.after.result.map50) < 1e-9)
        #expect((level.healing?.steps ?? 0) == healed.steps + reheal.steps)
        try back.verifyFiles(directory: directory)
    }
}
