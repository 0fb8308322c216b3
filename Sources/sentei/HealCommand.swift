import ArgumentParser
import Foundation
import SenteiDaemon
import SenteiEngine
import SenteiPrune
import SenteiVision

#if canImport(Glibc)
import Glibc
#endif

/// `sentei heal`: distils pruned rungs back towards the unpruned model on the camera's own frames, in this engine.
/// Ladder mode heals the pruned fp32 rungs of a ladder directory in place (new files, manifest updated); direct mode
/// heals one pruned ONNX file against its teacher.
struct HealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heal",
        abstract: "Heal pruned models by distillation from the unpruned one on calibration frames (no labels).")

    @Argument(help: "A ladder directory (manifest.json): heals its pruned fp32 rungs. Omit with --student.")
    var ladder: String?

    @Option(name: .long, help: "Directory of calibration JPEGs (sorted by name).")
    var calib: String

    @Option(name: .long, help: "Use only calibration frames FIRST-LAST (1-based positions in sorted order), e.g. 1-40.")
    var frames: String?

    @Option(name: .long, help: "Frames (from the end of the selection) held out of training to measure agreement.")
    var holdout = 4

    @Option(name: .long, help: "CPU-minute budget per rung (process CPU time); the schedule is fitted to it.")
    var minutes: Double?

    @Option(name: .long, help: "Optimiser steps per rung (instead of --minutes).")
    var steps: Int?

    @Option(name: .long, help: "Ladder rungs to heal, by name (default: every fp32 rung with a cut).")
    var levels: String?

    @Option(name: .long, help: "Direct mode: the pruned ONNX model to heal.")
    var student: String?

    @Option(name: .long, help: "Direct mode: the unpruned teacher ONNX model.")
    var teacher: String?

    @Option(name: .long, help: "Direct mode: where to write the healed ONNX model.")
    var out: String?

    @Option(name: .long, help: "Detector manifest (default: Models/<name>.json matching the teacher file).")
    var manifest: String?

    @Option(name: .long, help: "Training input size (square); default: the manifest's. Pruned ONNX files carry shapes folded at their size, so another size only works for models that import at it.")
    var size: Int?

    @Option(name: .long, help: "Images per step.")
    var batch = 8

    @Option(name: .long, help: "Peak learning rate (Adam).")
    var lr: Float = 1e-4

    @Option(name: .long, help: "Optimizer: adam or sgd (momentum 0.9).")
    var optimizer = "adam"

    @Option(name: .long, help: "Weight decay (conv weights only).")
    var weightDecay: Float = 0

    @Option(name: .long, help: "Weight of the neck-feature matching term (0 = off).")
    var featureWeight: Float = 1

    @Option(name: .long, help: "Measure agreement on the held-out frames every this many steps.")
    var evalEvery = 50

    @Option(name: .long, help: "Checkpoint file (per rung: NAME.ckpt beside it); resumed when it exists.")
    var checkpoint: String?

    @Option(name: .long, help: "Write a checkpoint every this many steps.")
    var checkpointEvery = 25

    @Option(name: .long, help: "Seed of the augmentation stream.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Threads; default: one per core.")
    var threads: Int?

    @Option(name: .long, help: "Score person AP on a MOTChallenge sequence before and after (gt.txt), e.g. ../shared/data/tud-campus.")
    var evalMot: String?

    @Option(name: .long, help: "Frames of --eval-mot to score, FIRST-LAST by frame number, e.g. 41-71.")
    var evalFrames: String?

    @Option(name: .long, help: "Write a JSON report (curves and results) to this file.")
    var report: String?

    @Flag(name: .long, help: "Ladder: prune → heal → prune. Rungs of one size are healed from the smallest cut up; each deeper rung is re-pruned from the previous healed one (to its own MACs) instead of taken from the one-shot cut, then healed.")
    var iterative = false

    @Flag(name: .long, help: "Iterative: cut every channel group by the same fraction (as `sentei prune --uniform`) instead of by measured sensitivity.")
    var uniform = false

    @Option(name: .long, help: "Iterative: calibration frames (from the training frames) for re-pruning's channel choice and least-squares refit.")
    var pruneFrames = 32

    @Flag(name: .long, help: "Ladder: give each healed rung an int8 level. Post-training int8 is calibrated on the training frames; when its held-out agreement mAP50 falls more than --int8-max-drop below the healed fp32 rung's, healing continues quantization-aware (fake-quant in the loop), the table is re-calibrated, and the better int8 version is kept (QAT only if it beats post-training). The log and --report say what was decided and why.")
    var int8 = false

    @Option(name: .long, help: "--int8: the largest drop in held-out agreement mAP50 (healed fp32 → post-training int8) accepted without QAT; 0 always runs QAT.")
    var int8MaxDrop = 0.02

    @Option(name: .long, help: "--int8: calibration frames (the first N training frames).")
    var int8CalibCount = 64

    @Option(name: .long, help: "--int8: QAT CPU-minute budget per rung (default: a quarter of the healing budget).")
    var qatMinutes: Double?

    @Option(name: .long, help: "--int8: QAT optimiser steps per rung (instead of --qat-minutes).")
    var qatSteps: Int?

    @Option(name: .long, help: "--int8: QAT peak learning rate (default: --lr).")
    var qatLr: Float?

    @Option(name: .long, help: "Watts per fully busy core for the CPU-time energy estimate, used only when no RAPL or hwmon meter is readable (as the daemon's estimate_watts_per_core).")
    var wattsPerCore = 4.0

    func validate() throws {
        guard (ladder == nil) != (student == nil) else { throw ValidationError("give a ladder directory or --student (with --teacher, --out), not both") }
        if student != nil, teacher == nil || out == nil { throw ValidationError("--student needs --teacher and --out") }
        guard (minutes == nil) != (steps == nil) else { throw ValidationError("give exactly one of --minutes and --steps") }
        guard batch >= 1, (size ?? 32) >= 32, (size ?? 32) % 32 == 0, holdout >= 1, evalEvery >= 1, checkpointEvery >= 1 else {
            throw ValidationError("--batch, --holdout, --eval-every, --checkpoint-every must be ≥ 1 and --size a multiple of 32")
        }
        guard OptimizerSettings.Kind(rawValue: optimizer) != nil else { throw ValidationError("--optimizer must be adam or sgd") }
        if iterative, ladder == nil { throw ValidationError("--iterative needs a ladder directory") }
        guard pruneFrames >= 1 else { throw ValidationError("--prune-frames must be ≥ 1") }
        guard wattsPerCore.isFinite, (0.1...100).contains(wattsPerCore) else { throw ValidationError("--watts-per-core must be in 0.1...100") }
        if int8, ladder == nil { throw ValidationError("--int8 needs a ladder directory (the int8 rung is written into its manifest)") }
        if !int8, qatMinutes != nil || qatSteps != nil || qatLr != nil { throw ValidationError("--qat-minutes, --qat-steps and --qat-lr need --int8") }
        guard qatMinutes == nil || qatSteps == nil else { throw ValidationError("give at most one of --qat-minutes and --qat-steps") }
        guard int8MaxDrop.isFinite, (0...1).contains(int8MaxDrop) else { throw ValidationError("--int8-max-drop must be in 0...1") }
        guard int8CalibCount >= 1, (qatSteps ?? 0) >= 0, (qatMinutes ?? 0) >= 0, (qatMinutes ?? 0).isFinite, (qatLr ?? 1) > 0 else {
            throw ValidationError("--int8-calib-count must be ≥ 1, --qat-steps and --qat-minutes ≥ 0, --qat-lr > 0")
        }
    }

    func run() throws {
        let threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        if let student, let teacher, let out {
            let detectorManifest = try ModelManifest.load(path: try manifest ?? Self.findManifest(for: teacher))
            let session = try HealingSession(command: self, manifest: detectorManifest, threads: threadCount, powerMeter: probeMeter())
            let result = try session.heal(studentPath: student, teacherPath: teacher, name: (student as NSString).lastPathComponent,
                                          checkpoint: checkpoint)
            try session.write(result, to: out)
            try session.writeReport([result], to: report)
            return
        }
        try healLadder(ladder!, threads: threadCount)
    }

    func healLadder(_ directory: String, threads: Int) throws {
        var ladderManifest = try LadderManifest.load(directory: directory)
        let basePath = (directory as NSString).appendingPathComponent(ladderManifest.baseModel.file)
        let teacherPath = FileManager.default.fileExists(atPath: basePath) ? basePath : ladderManifest.baseModel.file
        let manifestPath = try manifest ?? ladderManifest.modelManifest.map { (directory as NSString).appendingPathComponent($0) }
            ?? Self.findManifest(for: teacherPath)
        let detectorManifest = try ModelManifest.load(path: manifestPath)
        let wanted = levels.map { Set($0.split(separator: ",").map { String($0) }) }
        let session = try HealingSession(command: self, manifest: detectorManifest, threads: threads, powerMeter: probeMeter())
        var results: [HealingSession.Result] = []
        // Iterative mode grows each deeper rung from the last healed one of its size, so rungs go smallest cut first.
        let order = ladderManifest.levels.indices.sorted { a, b in
            let x = ladderManifest.levels[a], y = ladderManifest.levels[b]
            return iterative ? (x.inputSize, x.cut) < (y.inputSize, y.cut) : a < b
        }
        var grown: [Int: Graph] = [:]
        for index in order {
            let level = ladderManifest.levels[index]
            guard level.precision == .fp32, level.cut > 0, wanted?.contains(level.name) ?? true else { continue }
            let studentPath = (directory as NSString).appendingPathComponent(level.file)
            var studentGraph: Graph?
            if iterative, let healed = grown[level.inputSize] {
                studentGraph = try session.regrow(healed, to: level, oneShotPath: studentPath)
            }
            // Teacher: the unpruned fp32 rung at the same input size, else the base model imported at that size.
            let unpruned = ladderManifest.unprunedLevel(size: level.inputSize)
            let rungTeacher = unpruned.map { (directory as NSString).appendingPathComponent($0.file) } ?? teacherPath
            // Agreement in the manifest is against the unpruned model at its own size: score the healed rung the same way.
            let reference = ladderManifest.agreementReference
            let result = try session.heal(studentPath: studentPath, studentGraph: studentGraph, teacherPath: rungTeacher, name: level.name,
                                          checkpoint: checkpoint.map { $0 + "." + level.name },
                                          referencePath: reference.map { (directory as NSString).appendingPathComponent($0.file) } ?? teacherPath)
            results.append(result)
            // A healed rung is admitted only if it agrees with the reference at least as well as before on the held-out frames.
            guard let after = result.agreementAfter, let before = result.agreementBefore, after.map50_95 >= before.map50_95 else {
                FileHandle.standardError.write(Data("\(level.name): healing did not raise agreement on the held-out frames; the rung is kept unhealed\n".utf8))
                continue
            }
            let stem = (level.file as NSString).deletingPathExtension + (studentGraph == nil ? "" : "_grown")
            let file = stem + "_healed." + (level.file as NSString).pathExtension
            let bytes = try session.write(result, to: (directory as NSString).appendingPathComponent(file))
            grown[level.inputSize] = result.graph
            // A re-pruned rung has its own channels: its MACs, parameters and latency are measured again.
            if studentGraph != nil { try IterativePruning.remeasure(&ladderManifest.levels[index], graph: result.graph) }
            let healing = LadderManifest.Healing(steps: result.steps, cpuSeconds: result.cpuSeconds, energyJ: result.energyJ,
                                                 energyMeter: result.energyJ == nil ? nil : result.energyMeter)
            ladderManifest.admitHealed(levelAt: index, file: file, bytes: bytes, healing: healing, agreement: after)
            if int8 {
                let outcome = try session.int8Rung(for: result, teacherPath: rungTeacher,
                                                   referencePath: reference.map { (directory as NSString).appendingPathComponent($0.file) } ?? teacherPath)
                results[results.count - 1].int8 = outcome
                try admitInt8(outcome, healedFile: file, fp32Index: index, healing: healing, session: session, into: &ladderManifest,
                              directory: directory, threads: threads)
            }
        }
        guard !results.isEmpty else { throw ValidationError("\(directory): no fp32 rung with a cut\(levels.map { " named \($0)" } ?? "") to heal") }
        try ladderManifest.write(directory: directory)
        try session.writeReport(results, to: report)
    }

    /// Writes the int8 rung's files (QAT weights when QAT won; the table) and records its level in the manifest.
    func admitInt8(_ outcome: HealingSession.Int8Outcome, healedFile: String, fp32Index: Int, healing: LadderManifest.Healing,
                   session: HealingSession, into ladderManifest: inout LadderManifest, directory: String, threads: Int) throws {
        let fp32Level = ladderManifest.levels[fp32Index]
        let name = LadderManifest.int8Name(ofFP32: fp32Level.name)
        let ext = (healedFile as NSString).pathExtension
        var file = healedFile
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(healedFile))))
        if outcome.decision == .qat {
            file = name + "_qat." + ext
            bytes = ext == CompactModel.fileExtension ? CompactModel.encode(outcome.graph, source: file) : try ONNXWriter.encode(outcome.graph)
            guard FileManager.default.createFile(atPath: (directory as NSString).appendingPathComponent(file), contents: Data(bytes)) else {
                throw ValidationError("\((directory as NSString).appendingPathComponent(file)): cannot write")
            }
        }
        if outcome.decision != .qat, let graph = outcome.qatGraph, let table = outcome.qatTable {
            // Not admitted, but kept for inspection (`sentei eval --model FILE --int8 TABLE`).
            let rejected = name + "_qat_rejected"
            let data = ext == CompactModel.fileExtension ? CompactModel.encode(graph, source: rejected) : try ONNXWriter.encode(graph)
            guard FileManager.default.createFile(atPath: (directory as NSString).appendingPathComponent(rejected + "." + ext), contents: Data(data)) else {
                throw ValidationError("\((directory as NSString).appendingPathComponent(rejected + "." + ext)): cannot write")
            }
            try table.write(path: (directory as NSString).appendingPathComponent(rejected + ".table.json"))
            session.log("\(name): QAT weights not admitted, kept as \(rejected).\(ext) + \(rejected).table.json")
        }
        let table = (file as NSString).deletingPathExtension.replacingOccurrences(of: "-fp32_healed", with: "-int8_healed") + ".table.json"
        try outcome.table.write(path: (directory as NSString).appendingPathComponent(table))
        session.log("\(name): int8 rung → \(file) + \(table)")
        let one = try LatencyMeter.measure(Model(graph: outcome.graph, options: .init(threads: 1, quantization: outcome.table)), warmup: 3, runs: 21)
        let two = try LatencyMeter.measure(Model(graph: outcome.graph, options: .init(threads: 2, quantization: outcome.table)), warmup: 3, runs: 21)
        var spent = healing
        if outcome.decision == .qat { spent.steps += outcome.qatSteps }  // rejected QAT steps cost CPU but left no trace in the weights
        spent.cpuSeconds += outcome.cpuSeconds
        if let joules = spent.energyJ { spent.energyJ = outcome.energyJ.map { joules + $0 } }
        if spent.energyJ == nil { spent.energyMeter = nil }
        ladderManifest.admitInt8(fp32LevelAt: fp32Index, name: name, file: file, bytes: bytes, table: table, healing: spent,
                                 agreement: outcome.agreement, latency: (one, two))
    }

    /// The meter the daemon would choose here, except that an estimate counts this command's own CPU time (the energy
    /// of the work it compares, not the neighbours'); the choice and every rejected better meter go to stderr once.
    func probeMeter() -> any PowerMeter {
        let result = PowerMeterProbe(wattsPerCore: wattsPerCore, estimateScope: .process).probe()
        for rejection in result.rejected { FileHandle.standardError.write(Data("heal: power meter \(rejection)\n".utf8)) }
        FileHandle.standardError.write(Data("heal: energy measured by \(result.meter.name)\(result.meter.isEstimate ? " (an estimate: CPU time × \(wattsPerCore) W per core)" : "")\n".utf8))
        return result.meter
    }

    static func findManifest(for model: String) throws -> String {
        let file = (model as NSString).lastPathComponent
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: "Models")) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        for name in candidates where (try? ModelManifest.load(path: "Models/" + name))?.file == file { return "Models/" + name }
        throw ValidationError("no manifest in ./Models names '\(file)'; pass --manifest")
    }
}

/// Parses "A-B" (inclusive, 1-based) into a closed range.
func parseRange(_ text: String, option: String) throws -> ClosedRange<Int> {
    let parts = text.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 1, b >= a else {
        throw ValidationError("\(option) '\(text)' must be FIRST-LAST with 1 ≤ FIRST ≤ LAST")
    }
    return a...b
}
