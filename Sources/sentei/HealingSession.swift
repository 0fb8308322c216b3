import ArgumentParser
import Foundation
import SenteiCapture
import SenteiDaemon
import SenteiEngine
import SenteiPrune
import SenteiVision

/// One `sentei heal` run's shared state: the decoded calibration frames (training and held-out), the
/// agreement scorer over the held-out frames, and the optional MOT evaluation; `heal` trains one rung.
final class HealingSession {
    struct Result {
        var name: String
        var graph: Graph
        var size: Int
        var steps: Int
        var cpuSeconds: Double
        /// Joules spent on the rung by `energyMeter` (nil when no meter was given or an interval went unmeasured).
        var energyJ: Double? = nil
        var energyMeter: String? = nil
        var stepSeconds: Double
        var agreementBefore: EvaluationResult?
        var agreementAfter: EvaluationResult?
        var motBefore: EvaluationResult?
        var motAfter: EvaluationResult?
        var motTeacher: EvaluationResult?
        var curve: [(step: Int, loss: Double, terms: DistillationLoss.Terms, agreement: Double?, cpu: Double)]
        var features: [String]
        /// With `--int8`: how the rung's int8 version was made (post-training or quantization-aware) and why.
        var int8: Int8Outcome? = nil
    }

    let command: HealCommand
    let manifest: ModelManifest
    let threads: Int
    let train: [RGBImage]
    /// The training frames as read, for re-pruning's calibration (iterative mode).
    let trainJPEGs: [(name: String, jpeg: [UInt8])]
    let holdout: [(name: String, jpeg: [UInt8])]
    /// The training size when given on the command line; otherwise each rung trains at its own input size.
    let sizeOverride: Int?
    let mot: LabeledDataset?
    var motTeacher: EvaluationResult?
    /// The best power meter readable here (RAPL, hwmon, else the CPU-time estimate), for energy per rung.
    let powerMeter: (any PowerMeter)?
    let clock = SystemMonotonicClock()

    init(command: HealCommand, manifest: ModelManifest, threads: Int, powerMeter: (any PowerMeter)? = nil) throws {
        self.command = command
        self.powerMeter = powerMeter
        self.manifest = manifest
        self.threads = threads
        var paths = try calibrationImagePaths(command.calib)
        if let text = command.frames {
            let range = try parseRange(text, option: "--frames")
            paths = Array(paths.enumerated().filter { range.contains($0.offset + 1) }.map(\.element))
        }
        guard paths.count > command.holdout else {
            throw ValidationError("--calib \(command.calib): \(paths.count) frames selected, need more than --holdout \(command.holdout)")
        }
        let decoder = try JPEGDecoder()
        var train: [RGBImage] = [], holdout: [(String, [UInt8])] = [], trainJPEGs: [(String, [UInt8])] = []
        for (index, path) in paths.enumerated() {
            let bytes = try calibrationJPEG(path)
            if index >= paths.count - command.holdout {
                holdout.append((path, bytes))
            } else {
                let image = try decoder.decode(bytes, name: path, order: .rgb)
                trainJPEGs.append((path, bytes))
                train.append(RGBImage(width: image.width, height: image.height, pixels: image.pixels))
            }
        }
        self.train = train
        self.trainJPEGs = trainJPEGs
        self.holdout = holdout
        sizeOverride = command.size
        guard manifest.inputWidth == manifest.inputHeight else { throw ValidationError("\(manifest.name): healing needs a square input") }
        if let root = command.evalMot {
            let dataset = try LabeledDataset.mot(root: root)
            mot = try command.evalFrames.map { try dataset.restricted(toFrames: parseRange($0, option: "--eval-frames")) } ?? dataset
        } else {
            mot = nil
        }
        log("heal: \(train.count) training frames, \(holdout.count) held out; batch \(command.batch), \(threads) threads")
    }

    func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    func detector(_ graph: Graph, manifest: ModelManifest) throws -> Detector {
        try Detector(manifest: manifest, model: Model(graph: graph, options: .init(threads: threads)))
    }

    /// An optimised graph from an ONNX file (imported at `size` when given) or a compact `.sntm` file (whose shapes
    /// are fixed: `size` must match them).
    func loadGraph(_ path: String, size: Int?) throws -> Graph {
        guard let data = FileManager.default.contents(atPath: path) else { throw VisionError(.io, "\(path): cannot read") }
        let bytes = [UInt8](data)
        if CompactModel.hasMagic(bytes) {
            let graph = try CompactModel.decode(bytes, source: (path as NSString).lastPathComponent)
            if let size, let input = graph.inputs.first, graph[input].shape != [1, 3, size, size] {
                throw ValidationError("\(path): a compact model fixed at \(graph[input].shape) cannot be trained at \(size) px")
            }
            return graph
        }
        let shapes = size.map { [manifest.input.name: [1, 3, $0, $0]] } ?? [:]
        do { return try PrunableModel.load(path: path, inputShapes: shapes) } catch {
            throw ValidationError("cannot import \(path)\(size.map { " at \($0) px" } ?? "") (\(error)); omit --size to train at the model's own size")
        }
    }

    func evaluateMOT(_ detector: Detector) -> EvaluationResult? {
        guard let mot else { return nil }
        return Evaluator.run(dataset: mot, detector: detector).result
    }

    /// Trains one rung. Agreement is scored against `referencePath`'s detections (default: the teacher), at the
    /// student's own input size.
    func heal(studentPath: String, studentGraph: Graph? = nil, teacherPath: String, name: String, checkpoint: String?,
              referencePath: String? = nil) throws -> Result {
        let cpuStart = processCPUSeconds()
        let energy = powerMeter.map { EnergyIntegrator(meter: $0, nowNs: clock.nowNs()) }
        // The rung's own size (a compact model's fixed input, else the manifest's) unless --size overrides it.
        // `studentGraph` (iterative mode: re-pruned from a healed rung) replaces the file's graph.
        let studentFull = try studentGraph ?? loadGraph(studentPath, size: nil)
        let ownSize = studentFull.inputs.first.map { studentFull[$0].shape[3] } ?? manifest.inputWidth
        let size = sizeOverride ?? ownSize
        if studentGraph != nil, size != ownSize { throw ValidationError("\(name): a re-pruned rung trains at its own \(ownSize) px; omit --size") }
        let manifest = ownSize == self.manifest.inputWidth ? self.manifest : try self.manifest.atInputSize(ownSize)
        let student = size == ownSize ? studentFull : try loadGraph(studentPath, size: size)
        let teacher = try loadGraph(teacherPath, size: size)
        let teacherFull = size == ownSize ? teacher : try loadGraph(teacherPath, size: ownSize)
        guard ParameterSet(graph: student).layoutSignature == ParameterSet(graph: studentFull).layoutSignature else {
            throw ValidationError("\(studentPath): the graph imported at \(size) px does not match the one at \(ownSize) px")
        }
        let teacherDetector = try detector(teacherFull, manifest: manifest)
        let reference = try referencePath.map { path -> Detector in
            let graph = try loadGraph(path, size: nil)
            let size = graph.inputs.first.map { graph[$0].shape[3] } ?? self.manifest.inputWidth
            return try detector(graph, manifest: size == self.manifest.inputWidth ? self.manifest : try self.manifest.atInputSize(size))
        } ?? teacherDetector
        let scorer = try AgreementScorer(reference: reference, frames: holdout)
        if motTeacher == nil { motTeacher = evaluateMOT(teacherDetector) }
        let before = try detector(studentFull, manifest: manifest)
        log("\(name): training at \(size) px")
        var result = Result(name: name, graph: studentFull, size: size, steps: 0, cpuSeconds: 0, stepSeconds: 0,
                            agreementBefore: try scorer.score(before), motBefore: evaluateMOT(before), motTeacher: motTeacher,
                            curve: [], features: [])
        log(String(format: "%@: before healing: agreement mAP50 %.3f (mAP %.3f)%@", name, result.agreementBefore!.map50,
                   result.agreementBefore!.map50_95, result.motBefore.map { String(format: ", person AP50 %.3f AP50-95 %.3f", $0.map50, $0.map50_95) } ?? ""))

        let budget: RungHealer.Budget = command.steps.map { .steps($0) } ?? .cpuSeconds(command.minutes! * 60)
        let healer = try RungHealer(student: student, teacher: teacher, frames: train, manifest: manifest, settings: healerSettings(),
                                    budget: budget)
        let trainer = healer.trainer
        result.features = trainer.features.map(\.name)
        log("\(name): \(trainer.student.parameters.count) parameters, features matched: \(result.features.joined(separator: ", ")); training memory \(trainer.student.memoryBytes / 1_000_000) MB + teacher \(trainer.teacher.memoryBytes / 1_000_000) MB")
        var energyBefore = 0.0
        if let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            let saved = try Checkpoint.read(from: checkpoint)
            try trainer.restore(saved, path: checkpoint)
            trainer.optimizer.settings = saved.header.settings
            healer.spentBefore = saved.header.extra["cpu_seconds"] ?? 0
            energyBefore = saved.header.extra["energy_j"] ?? 0
            log("\(name): resumed from \(checkpoint) at step \(trainer.optimizer.step)")
        }
        let loopStart = processCPUSeconds()
        func checkpointExtra(cpu: Double) -> [String: Double] {
            energy?.sample(nowNs: clock.nowNs())
            return ["cpu_seconds": cpu, "energy_j": energyBefore + (energy?.joules ?? 0)]
        }
        try healer.run(cpuStart: cpuStart) { progress in
            energy?.sample(nowNs: clock.nowNs())
            var agreement: Double?
            let done = progress.step
            if done % command.evalEvery == 0 {
                agreement = try scorer.score(try detector(trainer.healedGraph, manifest: manifest)).map50
            }
            let cpu = healer.spentBefore + processCPUSeconds() - cpuStart
            result.curve.append((done, progress.stats.terms.total, progress.stats.terms, agreement, cpu))
            let t = progress.stats.terms
            FileHandle.standardError.write(Data(String(
                format: "\r%@ step %d/%d  loss %.4f (obj %.3f cls %.3f box %.3f feat %.3f)  agreement %@  lr %.1e  %.2f s/step  cpu %.0f s   ",
                name, done, progress.totalSteps, t.total, t.objectness, t.classes, t.box, t.features,
                agreement.map { String(format: "%.3f", $0) } ?? "  -  ", progress.stats.learningRate, progress.stepCPU, cpu).utf8))
            if agreement != nil { FileHandle.standardError.write(Data("\n".utf8)) }
            if let checkpoint, done % command.checkpointEvery == 0 {
                try trainer.checkpoint(seed: command.seed, extra: checkpointExtra(cpu: cpu)).write(to: checkpoint)
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        if let checkpoint {
            try trainer.checkpoint(seed: command.seed, extra: checkpointExtra(cpu: healer.spentBefore + processCPUSeconds() - cpuStart)).write(to: checkpoint)
        }
        result.steps = trainer.optimizer.step
        result.stepSeconds = result.steps > 0 ? (processCPUSeconds() - loopStart) / Double(max(result.steps - (result.curve.first?.step ?? 1) + 1, 1)) : 0
        result.cpuSeconds = healer.spentBefore + processCPUSeconds() - cpuStart
        if let energy {
            energy.sample(nowNs: clock.nowNs())
            result.energyMeter = energy.label
            if energy.isComplete {
                result.energyJ = energyBefore + energy.joules
            } else {
                log(String(format: "%@: %@ could not account for %.1f s of healing; energy not recorded", name, energy.label, energy.unaccountedSeconds))
            }
        }
        result.graph = trainer.student.parameters.applied(to: studentFull)
        let after = try detector(result.graph, manifest: manifest)
        result.agreementAfter = try scorer.score(after)
        result.motAfter = evaluateMOT(after)
        log(String(format: "%@: after %d steps (%.0f CPU s%@): agreement mAP50 %.3f (mAP %.3f)%@%@", name, result.steps, result.cpuSeconds,
                   result.energyJ.map { String(format: ", %.0f J by %@", $0, result.energyMeter ?? "?") } ?? "",
                   result.agreementAfter!.map50, result.agreementAfter!.map50_95,
                   result.motAfter.map { String(format: ", person AP50 %.3f AP50-95 %.3f", $0.map50, $0.map50_95) } ?? "",
                   result.motTeacher.map { String(format: " (unpruned: AP50 %.3f AP50-95 %.3f)", $0.map50, $0.map50_95) } ?? ""))
        return result
    }

    /// The training settings from the command line.
    func healerSettings() -> RungHealer.Settings {
        var settings = RungHealer.Settings()
        settings.optimizer.kind = OptimizerSettings.Kind(rawValue: command.optimizer)!
        settings.optimizer.learningRate = command.lr
        settings.optimizer.weightDecay = command.weightDecay
        settings.batch = command.batch
        settings.featureWeight = command.featureWeight
        settings.seed = command.seed
        settings.threads = threads
        return settings
    }

    /// Iterative mode: `healed` (the previous healed rung of this size) pruned again down to the MACs of `level`'s
    /// one-shot cut at `oneShotPath`, calibrated on the training frames.
    func regrow(_ healed: Graph, to level: LadderManifest.Level, oneShotPath: String) throws -> Graph {
        let start = processCPUSeconds()
        let oneShot = try loadGraph(oneShotPath, size: nil)
        let size = oneShot.inputs.first.map { oneShot[$0].shape[3] } ?? manifest.inputWidth
        let sized = size == manifest.inputWidth ? manifest : try manifest.atInputSize(size)
        let letterbox = try Detector(manifest: sized) { _ in Tensor(zeros: [1]) }
        let calibration = try trainJPEGs.prefix(command.pruneFrames).map { frame in
            try frame.jpeg.withUnsafeBytes { try letterbox.prepare(jpeg: $0, name: frame.name).tensor }
        }
        var options = PruneOptions(macsCut: 0)
        options.sensitivityAware = !command.uniform
        options.threads = threads
        let result = try IterativePruning.grow(from: healed, toMACs: ChannelPruner.macs(oneShot), calibration: calibration, options: options)
        log(String(format: "%@: re-pruned from the previous healed rung: %.1f → %.1f MMACs (one-shot cut %.1f), %.0f CPU s", level.name,
                   Double(result.macsBefore) / 1e6, Double(result.macsAfter) / 1e6, Double(ChannelPruner.macs(oneShot)) / 1e6,
                   processCPUSeconds() - start))
        return result.graph
    }

    @discardableResult
    func write(_ result: Result, to path: String) throws -> [UInt8] {
        let bytes = path.hasSuffix("." + CompactModel.fileExtension) ? CompactModel.encode(result.graph, source: (path as NSString).lastPathComponent)
            : try ONNXWriter.encode(result.graph)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw PruneError(.io, "\(path): cannot write") }
        log("\(result.name): healed model → \(path)")
        return bytes
    }

    func writeReport(_ results: [Result], to path: String?) throws {
        guard let path else { return }
        func eval(_ e: EvaluationResult?) -> String {
            e.map { String(format: "{\"map50\": %.4f, \"map50_95\": %.4f}", $0.map50, $0.map50_95) } ?? "null"
        }
        let rungs = results.map { r -> String in
            let curve = r.curve.map { p in
                String(format: "{\"step\": %d, \"loss\": %.5f, \"obj\": %.5f, \"cls\": %.5f, \"box\": %.5f, \"feat\": %.5f, \"cpu_s\": %.1f%@}",
                       p.step, p.loss, p.terms.objectness, p.terms.classes, p.terms.box, p.terms.features, p.cpu,
                       p.agreement.map { String(format: ", \"agreement_map50\": %.4f", $0) } ?? "")
            }.joined(separator: ",\n    ")
            return """
                {"name": "\(r.name)", "size": \(r.size), "steps": \(r.steps), "cpu_seconds": \(String(format: "%.1f", r.cpuSeconds)), \
                "step_cpu_seconds": \(String(format: "%.3f", r.stepSeconds)), \
                "energy_j": \(r.energyJ.map { String(format: "%.1f", $0) } ?? "null"), "energy_meter": \(r.energyMeter.map { "\"\($0)\"" } ?? "null"), "features": [\(r.features.map { "\"\($0)\"" }.joined(separator: ", "))],
                  "agreement_before": \(eval(r.agreementBefore)), "agreement_after": \(eval(r.agreementAfter)),
                  "mot_before": \(eval(r.motBefore)), "mot_after": \(eval(r.motAfter)), "mot_unpruned": \(eval(r.motTeacher)),
                  "int8": \(Self.reportJSON(r.int8)),
                  "curve": [
                    \(curve)]}
                """
        }
        let text = "{\"batch\": \(command.batch), \"lr\": \(command.lr), \"rungs\": [\n\(rungs.joined(separator: ",\n"))]}\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
