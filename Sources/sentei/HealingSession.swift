import ArgumentParser
import Foundation
import SenteiEngine
import SenteiPrune
import SenteiVision

/// One `sentei heal` run's shared state: the decoded calibration frames (training and held-out), the augmenter, the
/// agreement scorer over the held-out frames, and the optional MOT evaluation; `heal` trains one rung.
final class HealingSession {
    struct Result {
        var name: String
        var graph: Graph
        var size: Int
        var steps: Int
        var cpuSeconds: Double
        var stepSeconds: Double
        var agreementBefore: EvaluationResult?
        var agreementAfter: EvaluationResult?
        var motBefore: EvaluationResult?
        var motAfter: EvaluationResult?
        var motTeacher: EvaluationResult?
        var curve: [(step: Int, loss: Double, terms: DistillationLoss.Terms, agreement: Double?, cpu: Double)]
        var features: [String]
    }

    let command: HealCommand
    let manifest: ModelManifest
    let threads: Int
    let train: [RGBImage]
    let holdout: [(name: String, jpeg: [UInt8])]
    /// The training size when given on the command line; otherwise each rung trains at its own input size.
    let sizeOverride: Int?
    let mot: LabeledDataset?
    var motTeacher: EvaluationResult?

    init(command: HealCommand, manifest: ModelManifest, threads: Int) throws {
        self.command = command
        self.manifest = manifest
        self.threads = threads
        var paths = try listJPEGs(under: command.calib).map { command.calib + "/" + $0 }
        if let text = command.frames {
            let range = try parseRange(text, option: "--frames")
            paths = Array(paths.enumerated().filter { range.contains($0.offset + 1) }.map(\.element))
        }
        guard paths.count > command.holdout else {
            throw ValidationError("--calib \(command.calib): \(paths.count) frames selected, need more than --holdout \(command.holdout)")
        }
        let decoder = try JPEGDecoder()
        var train: [RGBImage] = [], holdout: [(String, [UInt8])] = []
        for (index, path) in paths.enumerated() {
            guard let data = FileManager.default.contents(atPath: path) else { throw VisionError(.io, "\(path): cannot read") }
            let bytes = [UInt8](data)
            if index >= paths.count - command.holdout {
                holdout.append((path, bytes))
            } else {
                let image = try decoder.decode(bytes, name: path, order: .rgb)
                train.append(RGBImage(width: image.width, height: image.height, pixels: image.pixels))
            }
        }
        self.train = train
        self.holdout = holdout
        sizeOverride = command.size
        guard manifest.inputWidth == manifest.inputHeight else { throw ValidationError("\(manifest.name): healing needs a square input") }
        if let root = command.evalMot {
            var dataset = try LabeledDataset.mot(root: root)
            if let text = command.evalFrames {
                let range = try parseRange(text, option: "--eval-frames")
                dataset.images = dataset.images.filter { image in
                    let stem = stripExtension((image.path as NSString).lastPathComponent)
                    return Int(stem).map { range.contains($0) } ?? false
                }
            }
            mot = dataset
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
    func heal(studentPath: String, teacherPath: String, name: String, checkpoint: String?, referencePath: String? = nil) throws -> Result {
        let cpuStart = processCPUSeconds()
        // The rung's own size (a compact model's fixed input, else the manifest's) unless --size overrides it.
        let studentFull = try loadGraph(studentPath, size: nil)
        let ownSize = studentFull.inputs.first.map { studentFull[$0].shape[3] } ?? manifest.inputWidth
        let size = sizeOverride ?? ownSize
        let manifest = ownSize == self.manifest.inputWidth ? self.manifest : try self.manifest.atInputSize(ownSize)
        let student = size == ownSize ? studentFull : try loadGraph(studentPath, size: size)
        let teacher = try loadGraph(teacherPath, size: size)
        let teacherFull = size == ownSize ? teacher : try loadGraph(teacherPath, size: ownSize)
        guard ParameterSet(graph: student).layoutSignature == ParameterSet(graph: studentFull).layoutSignature else {
            throw ValidationError("\(studentPath): the graph imported at \(size) px does not match the one at \(ownSize) px")
        }
        let augmenter = Augmenter(width: size, height: size, bgr: manifest.input.colourOrder == .bgr,
                                  valueScale: manifest.letterboxSpec.valueScale)
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

        var settings = OptimizerSettings()
        settings.kind = OptimizerSettings.Kind(rawValue: command.optimizer)!
        settings.learningRate = command.lr
        settings.weightDecay = command.weightDecay
        settings.totalSteps = command.steps ?? 1_000_000
        settings.warmupSteps = min(20, max(1, settings.totalSteps / 10))
        let trainer = try DistillationTrainer(student: student, teacher: teacher, settings: settings, threads: threads)
        trainer.loss.featureWeight = command.featureWeight
        result.features = trainer.features.map(\.name)
        log("\(name): \(trainer.student.parameters.count) parameters, features matched: \(result.features.joined(separator: ", ")); training memory \(trainer.student.memoryBytes / 1_000_000) MB + teacher \(trainer.teacher.memoryBytes / 1_000_000) MB")
        var spentBefore = 0.0
        if let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            let saved = try Checkpoint.read(from: checkpoint)
            try trainer.restore(saved, path: checkpoint)
            trainer.optimizer.settings = saved.header.settings
            spentBefore = saved.header.extra["cpu_seconds"] ?? 0
            log("\(name): resumed from \(checkpoint) at step \(trainer.optimizer.step)")
        }
        let budget = command.minutes.map { $0 * 60 }
        let loopStart = processCPUSeconds()
        var firstStepCPU: Double?
        while true {
            let step = trainer.optimizer.step
            let spent = spentBefore + processCPUSeconds() - cpuStart
            if let steps = command.steps, step >= steps { break }
            if let budget, spent >= budget { break }
            let stepStart = processCPUSeconds()
            let images = (0..<command.batch).map { i -> [Float] in
                var g = SplitMix64(seed: command.seed, step: step, index: i)
                return augmenter.sample(train, using: &g)
            }
            let stats = try trainer.step(images)
            let stepCPU = processCPUSeconds() - stepStart
            if firstStepCPU == nil {
                firstStepCPU = stepCPU
                // Fit the cosine schedule to the CPU budget once the cost of a step is known.
                if let budget, command.steps == nil, trainer.optimizer.settings.totalSteps == 1_000_000 {
                    let remaining = budget - (spentBefore + processCPUSeconds() - cpuStart)
                    let estimate = max(trainer.optimizer.step + 1, trainer.optimizer.step + Int(remaining / (stepCPU * 1.1)))
                    trainer.optimizer.settings.totalSteps = estimate
                    trainer.optimizer.settings.warmupSteps = min(20, max(1, estimate / 10))
                }
            }
            var agreement: Double?
            let done = trainer.optimizer.step
            if done % command.evalEvery == 0 {
                agreement = try scorer.score(try detector(trainer.healedGraph, manifest: manifest)).map50
            }
            let cpu = spentBefore + processCPUSeconds() - cpuStart
            result.curve.append((done, stats.terms.total, stats.terms, agreement, cpu))
            let t = stats.terms
            FileHandle.standardError.write(Data(String(
                format: "\r%@ step %d/%d  loss %.4f (obj %.3f cls %.3f box %.3f feat %.3f)  agreement %@  lr %.1e  %.2f s/step  cpu %.0f s   ",
                name, done, trainer.optimizer.settings.totalSteps, t.total, t.objectness, t.classes, t.box, t.features,
                agreement.map { String(format: "%.3f", $0) } ?? "  -  ", stats.learningRate, stepCPU, cpu).utf8))
            if agreement != nil { FileHandle.standardError.write(Data("\n".utf8)) }
            if let checkpoint, done % command.checkpointEvery == 0 {
                try trainer.checkpoint(seed: command.seed, extra: ["cpu_seconds": cpu]).write(to: checkpoint)
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        if let checkpoint {
            try trainer.checkpoint(seed: command.seed, extra: ["cpu_seconds": spentBefore + processCPUSeconds() - cpuStart]).write(to: checkpoint)
        }
        result.steps = trainer.optimizer.step
        result.stepSeconds = result.steps > 0 ? (processCPUSeconds() - loopStart) / Double(max(result.steps - (result.curve.first?.step ?? 1) + 1, 1)) : 0
        result.cpuSeconds = spentBefore + processCPUSeconds() - cpuStart
        result.graph = trainer.student.parameters.applied(to: studentFull)
        let after = try detector(result.graph, manifest: manifest)
        result.agreementAfter = try scorer.score(after)
        result.motAfter = evaluateMOT(after)
        log(String(format: "%@: after %d steps (%.0f CPU s): agreement mAP50 %.3f (mAP %.3f)%@%@", name, result.steps, result.cpuSeconds,
                   result.agreementAfter!.map50, result.agreementAfter!.map50_95,
                   result.motAfter.map { String(format: ", person AP50 %.3f AP50-95 %.3f", $0.map50, $0.map50_95) } ?? "",
                   result.motTeacher.map { String(format: " (unpruned: AP50 %.3f AP50-95 %.3f)", $0.map50, $0.map50_95) } ?? ""))
        return result
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
                "step_cpu_seconds": \(String(format: "%.3f", r.stepSeconds)), "features": [\(r.features.map { "\"\($0)\"" }.joined(separator: ", "))],
                  "agreement_before": \(eval(r.agreementBefore)), "agreement_after": \(eval(r.agreementAfter)),
                  "mot_before": \(eval(r.motBefore)), "mot_after": \(eval(r.motAfter)), "mot_unpruned": \(eval(r.motTeacher)),
                  "curve": [
                    \(curve)]}
                """
        }
        let text = "{\"batch\": \(command.batch), \"lr\": \(command.lr), \"rungs\": [\n\(rungs.joined(separator: ",\n"))]}\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
