import Foundation
import SenteiEngine
import SenteiVision

/// Watches one healed rung of a ladder directory on fresh frames: `check` runs a batch of frames through the rung and
/// the unpruned reference and feeds their agreement to an `AgreementGuard`; a sustained drop withdraws the rung in
/// `manifest.json` (off the Pareto front, so the controller stops choosing it once the ladder is reloaded);
/// `reheal` distils the rung on recent frames and puts it back only if that raised its agreement on frames held out
/// from the re-healing.
package final class SceneGuard {
    package struct Settings: Sendable {
        package var policy = AgreementGuard.Settings()
        package var healing = RungHealer.Settings()
        package var rehealBudget: RungHealer.Budget = .cpuSeconds(300)
        /// Of the frames given to `reheal`, this many (the last ones) are held out to decide admission.
        package var holdout = 4
        /// A check needs at least this many reference detections: on a scene where the unpruned model sees little
        /// (a far road camera), frames are pooled over several checks until there is enough to judge.
        package var minimumReferenceBoxes = 4
        /// At most this many frames are pooled; the oldest go first.
        package var maximumPooledFrames = 64
        /// Re-healing is admitted only if held-out agreement (box-weighted AP50) rose by more than this: a gain
        /// within the noise of a few held-out frames would put a still-failing rung back on the front.
        package var minimumGain = 0.05
        package init() {}
    }

    package enum Outcome: Sendable, Equatable {
        /// The reference has not yet seen `minimumReferenceBoxes` objects in the pooled frames: no verdict yet.
        case inconclusive
        case agrees(map50: Double)
        case below(map50: Double, checks: Int)
        /// This check withdrew the rung.
        case withdrawn(LadderManifest.Withdrawal)
        /// The rung was already withdrawn; checks wait for `reheal`.
        case awaitingReheal
    }

    package struct Reheal {
        /// Agreement on the held-out recent frames before and after.
        package var before: Agreement
        package var after: Agreement
        package var steps: Int
        package var cpuSeconds: Double
        /// True when the re-healed rung is back on the front (written to `file`).
        package var admitted: Bool
        package var file: String?
    }

    /// Measures the energy of a re-healing run (the daemon's power meters live above this room).
    package struct EnergyMeasurement {
        package var label: String
        package var begin: () -> Void
        /// Joules since `begin`, nil when some interval went unmeasured.
        package var end: () -> Double?
        package init(label: String, begin: @escaping () -> Void, end: @escaping () -> Double?) {
            self.label = label
            self.begin = begin
            self.end = end
        }
    }

    package let directory: String
    package let levelName: String
    /// Re-healing settings may change between runs (e.g. a longer hold-out for a sparse scene); `policy` applies from the next admission.
    package var settings: Settings
    package private(set) var ladder: LadderManifest
    package private(set) var policy: AgreementGuard
    package private(set) var rungGraph: Graph
    private var rung: Detector
    private let reference: Detector
    private let teacherGraph: Graph
    private let manifest: ModelManifest
    private let threads: Int
    /// Frames checked without a verdict yet, with the reference's detections on each.
    private var pooled: [(frame: (name: String, jpeg: [UInt8]), truth: [GroundTruth])] = []

    package init(directory: String, level name: String, settings: Settings = Settings(), threads: Int = 1) throws {
        let ladder = try LadderManifest.load(directory: directory)
        let level = try ladder.requireLevel(named: name, directory: directory)
        guard level.precision == .fp32, level.cut > 0 else {
            throw LadderError(.unknownLevel, file: directory, "guard: \(name) is not a pruned fp32 rung; only those are healed and guarded")
        }
        guard let referenceLevel = ladder.agreementReference, let teacherLevel = ladder.unprunedLevel(size: level.inputSize) else {
            throw LadderError(.invalidManifest, file: directory, "guard: the ladder has no unpruned fp32 rung at \(level.inputSize) px to compare \(name) with")
        }
        func selection(_ level: LadderManifest.Level) throws -> LadderSelection {
            try ladder.verifyFile(of: level, directory: directory)
            return LadderSelection(directory: directory, ladder: ladder, level: level)
        }
        let rungSelection = try selection(level)
        let referenceSelection = try selection(referenceLevel)
        manifest = try rungSelection.detectorManifest()
        rungGraph = try loadRungGraph(path: rungSelection.modelPath)
        teacherGraph = try loadRungGraph(path: try selection(teacherLevel).modelPath)
        reference = try Detector(manifest: try referenceSelection.detectorManifest(),
                                 model: Model(graph: try loadRungGraph(path: referenceSelection.modelPath), options: .init(threads: threads)))
        rung = try Detector(manifest: manifest, model: Model(graph: rungGraph, options: .init(threads: threads)))
        policy = try AgreementGuard(admittedMAP50: level.agreementMAP50 ?? level.agreement, settings: settings.policy)
        self.directory = directory
        self.levelName = name
        self.settings = settings
        self.ladder = ladder
        self.threads = threads
    }

    private var index: Int { ladder.levels.firstIndex { $0.name == levelName }! }
    package var level: LadderManifest.Level { ladder.levels[index] }
    package var isWithdrawn: Bool { level.withdrawn != nil }

    /// Agreement of the rung (or `detector`) with the reference on `frames`, or nil when the reference sees fewer
    /// than `minimumReferenceBoxes` objects there. See `weightedAP50`.
    package func agreement(on frames: [(name: String, jpeg: [UInt8])], detector: Detector? = nil) throws -> Agreement? {
        let scorer = try AgreementScorer(reference: reference, frames: frames)
        guard scorer.groundTruth.reduce(0, { $0 + $1.count }) >= settings.minimumReferenceBoxes else { return nil }
        let result = try scorer.score(detector ?? rung)
        return Agreement(weightedAP50: Self.weightedAP50(result, truth: scorer.groundTruth), result: result)
    }

    package struct Agreement: Sendable {
        /// What the guard judges by (`weightedAP50`).
        package var weightedAP50: Double
        /// The ladder's own measure (class-mean mAP and mAP50), what the manifest records.
        package var result: EvaluationResult
    }

    /// The guard's agreement: AP50 per class weighted by the reference's box count of that class, in `map50`. On the
    /// few frames of one check the plain class mean is dominated by classes the reference saw once (a bench, a
    /// handbag); weighting by boxes judges the rung on what the camera actually shows.
    package static func weightedAP50(_ result: EvaluationResult, truth: [[GroundTruth]]) -> Double {
        var counts: [Int: Int] = [:]
        for frame in truth { for box in frame { counts[box.classIndex, default: 0] += 1 } }
        let total = counts.values.reduce(0, +)
        guard total > 0 else { return result.map50 }
        return counts.reduce(0.0) { $0 + Double($1.value) * (result.perClass50[$1.key] ?? 0) } / Double(total)
    }

    /// One periodic check on a batch of fresh frames (the daemon's sampled frames, run through the full model at an
    /// idle moment). Withdrawing rewrites `manifest.json`.
    package func check(frames: [(name: String, jpeg: [UInt8])]) throws -> Outcome {
        guard !isWithdrawn else { return .awaitingReheal }
        let fresh = try AgreementScorer(reference: reference, frames: frames)
        pooled += zip(frames, fresh.groundTruth).map { (frame: $0, truth: $1) }
        if pooled.count > settings.maximumPooledFrames { pooled.removeFirst(pooled.count - settings.maximumPooledFrames) }
        guard pooled.reduce(0, { $0 + $1.truth.count }) >= settings.minimumReferenceBoxes else { return .inconclusive }
        let scorer = AgreementScorer(frames: pooled.map(\.frame), groundTruth: pooled.map(\.truth), classCount: fresh.classCount)
        pooled.removeAll()
        let score = Self.weightedAP50(try scorer.score(rung), truth: scorer.groundTruth)
        switch policy.record(score) {
        case .agrees: return .agrees(map50: score)
        case .below(let checks): return .below(map50: score, checks: checks)
        case .dropped(let mean):
            let withdrawal = LadderManifest.Withdrawal(
                reason: String(format: "agreement (box-weighted AP50) %.3f over %d checks, below %.0f%% of the %.3f it was admitted with",
                               mean, settings.policy.sustained, settings.policy.ratio * 100, policy.admittedMAP50),
                agreementMAP50: min(max(mean, 0), 1), admittedMAP50: policy.admittedMAP50)
            try refreshLadder()
            ladder.levels[index].withdrawn = withdrawal
            ladder.markParetoFront()
            try ladder.write(directory: directory)
            return .withdrawn(withdrawal)
        }
    }

    /// Distils the rung (from its current weights) towards the unpruned model on `frames`, the last
    /// `settings.holdout` held out. Admitted only if agreement on the held-out frames rose by more than
    /// `settings.minimumGain`: the rung gets a new file,
    /// its agreement is the one measured on these frames, the withdrawal is cleared and the guard starts afresh.
    package func reheal(frames: [(name: String, jpeg: [UInt8])], energy: EnergyMeasurement? = nil,
                        afterStep: (RungHealer.Progress) throws -> Void = { _ in }) throws -> Reheal {
        guard frames.count > settings.holdout, settings.holdout >= 1 else {
            throw PruneError(.invalidCalibration, "re-healing needs more than \(settings.holdout) frames (the last \(settings.holdout) are held out), got \(frames.count)")
        }
        let cpuClock = settings.healing.cpuClock
        let cpuStart = cpuClock()
        energy?.begin()
        let heldOut = Array(frames.suffix(settings.holdout))
        guard let before = try agreement(on: heldOut) else {
            throw PruneError(.invalidCalibration, "the unpruned model detects fewer than \(settings.minimumReferenceBoxes) objects on the \(heldOut.count) held-out frames; re-healing cannot be judged")
        }
        let decoder = try JPEGDecoder()
        let train = try frames.dropLast(settings.holdout).map { frame -> RGBImage in
            let image = try decoder.decode(frame.jpeg, name: frame.name, order: .rgb)
            return RGBImage(width: image.width, height: image.height, pixels: image.pixels)
        }
        var healing = settings.healing
        healing.threads = threads
        let healer = try RungHealer(student: rungGraph, teacher: teacherGraph, frames: train, manifest: manifest,
                                    settings: healing, budget: settings.rehealBudget)
        try healer.run(cpuStart: cpuStart, afterStep: afterStep)
        let healed = healer.healedGraph
        let candidate = try Detector(manifest: manifest, model: Model(graph: healed, options: .init(threads: threads)))
        let after = try agreement(on: heldOut, detector: candidate)!
        let cpuSeconds = cpuClock() - cpuStart
        let joules = energy?.end()
        var outcome = Reheal(before: before, after: after, steps: healer.trainer.optimizer.step, cpuSeconds: cpuSeconds, admitted: false)
        guard after.weightedAP50 > before.weightedAP50 + settings.minimumGain else { return outcome }

        try refreshLadder()
        let file = nextFileName()
        let bytes = file.hasSuffix("." + CompactModel.fileExtension) ? CompactModel.encode(healed, source: file) : try ONNXWriter.encode(healed)
        let path = (directory as NSString).appendingPathComponent(file)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw PruneError(.io, "\(path): cannot write") }
        // The healing record totals what the rung has cost; energy adds up only when one meter measured all of it.
        let previous = level.healing
        var record = LadderManifest.Healing(steps: (previous?.steps ?? 0) + outcome.steps, cpuSeconds: (previous?.cpuSeconds ?? 0) + cpuSeconds)
        if let joules, let energy, previous == nil || (previous?.energyMeter == energy.label && previous?.energyJ != nil) {
            record.energyJ = (previous?.energyJ ?? 0) + joules
            record.energyMeter = energy.label
        }
        ladder.admitHealed(levelAt: index, file: file, bytes: bytes, healing: record, agreement: after.result)
        try ladder.write(directory: directory)
        rungGraph = healed
        rung = candidate
        pooled.removeAll()
        policy = try AgreementGuard(admittedMAP50: min(max(after.weightedAP50, 0), 1), settings: settings.policy)
        outcome.admitted = true
        outcome.file = file
        return outcome
    }

    /// Guards of other rungs of the same ladder may have written `manifest.json` since this one read it: changes start
    /// from the file, so one guard never undoes another's withdrawal or re-admission.
    private func refreshLadder() throws {
        let current = try LadderManifest.load(directory: directory)
        guard current.levels.contains(where: { $0.name == levelName }) else {
            throw LadderError(.unknownLevel, file: directory, "guard: \(levelName) is no longer in the ladder")
        }
        ladder = current
    }

    /// "<stem>_rN.<ext>": the rung's file stem without an earlier "_rN", N one past the highest already there.
    private func nextFileName() -> String {
        let current = level.file as NSString
        let ext = current.pathExtension
        var stem = current.deletingPathExtension
        if let range = stem.range(of: #"_r[0-9]+$"#, options: .regularExpression) { stem.removeSubrange(range) }
        var n = 1
        while FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("\(stem)_r\(n).\(ext)")) { n += 1 }
        return "\(stem)_r\(n).\(ext)"
    }
}
