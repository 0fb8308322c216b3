import Foundation
import SenteiEngine
import SenteiVision

/// What `sentei prune` builds: one candidate rung per (input size, MACs cut, precision).
package struct LadderOptions: Sendable {
    /// Square input sides, e.g. [416, 352, 320, 256]; each must be a multiple of 32.
    package var sizes: [Int]
    /// MACs fractions removed by channel pruning, e.g. [0, 0.1, 0.25, 0.4, 0.5].
    package var cuts: [Double]
    /// Also build an int8 (mixed precision) twin of every fp32 rung.
    package var int8 = false
    package var int8Options = CalibrationOptions()
    /// Latency: untimed warm-up passes, then timed passes (the p50 goes into the manifest).
    package var warmup = 3
    package var runs = 15
    /// The thread count and statistic whose latency decides the Pareto front.
    package var paretoThreads = 1
    package var paretoStatistic: LadderManifest.LatencyStatistic = .p50
    /// Prune every rung's head down to these classes (names from the model's labels); nil keeps all.
    package var classes: [String]?
    /// Pruning settings (`macsCut` is ignored: every cut in `cuts` is built).
    package var prune = PruneOptions(macsCut: 0)

    package init(sizes: [Int], cuts: [Double]) {
        self.sizes = sizes
        self.cuts = cuts
    }

    package func validate() throws {
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 32 && $0 <= 4096 && $0 % 32 == 0 }) else {
            throw PruneError(.invalidPlan, "input sizes must be multiples of 32 in 32...4096, got \(sizes)")
        }
        guard !cuts.isEmpty, cuts.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw PruneError(.invalidPlan, "cuts must be fractions in [0, 1), got \(cuts)")
        }
        guard Set(sizes).count == sizes.count, Set(cuts).count == cuts.count else {
            throw PruneError(.invalidPlan, "sizes and cuts must not repeat")
        }
        guard warmup >= 0, runs >= 1, paretoThreads >= 1 else {
            throw PruneError(.invalidPlan, "latency needs warmup ≥ 0, runs ≥ 1 and pareto threads ≥ 1")
        }
    }
}

/// Where a ladder build is, for a progress bar.
package struct LadderProgress: Sendable {
    package enum Stage: Sendable { case sensitivity, rung }
    package var stage: Stage
    package var done: Int
    package var total: Int
    /// The rung just finished (stage `.rung`).
    package var level: LadderManifest.Level?
    /// Its latency minimum at 1 and 2 threads (the manifest keeps the p50).
    package var minimumMs: (Double, Double)?
}

/// Builds a ladder directory: prunes the base model at each cut (sensitivity measured once), re-derives every cut at
/// every input size, optionally calibrates int8 twins, scores each candidate's agreement with the unpruned model on
/// held-out frames, times it on this machine, writes compact model files and a manifest with the Pareto front.
package final class LadderBuilder {
    package let modelPath: String
    package let manifest: ModelManifest
    package let options: LadderOptions
    package let calibration: [(name: String, jpeg: [UInt8])]
    package let heldOut: [(name: String, jpeg: [UInt8])]
    package var progress: (@Sendable (LadderProgress) -> Void)?
    /// Labels the calibration set in the manifest.
    package var calibrationLabel = ""

    package init(modelPath: String, manifest: ModelManifest, calibration: [(name: String, jpeg: [UInt8])],
                 heldOut: [(name: String, jpeg: [UInt8])], options: LadderOptions) throws {
        try options.validate()
        guard !calibration.isEmpty else { throw PruneError(.invalidCalibration, "no calibration frames") }
        guard !heldOut.isEmpty else { throw PruneError(.invalidCalibration, "no held-out frames to score agreement on") }
        self.modelPath = modelPath
        self.manifest = manifest
        self.options = options
        self.calibration = calibration
        self.heldOut = heldOut
    }

    private var inputName: String { manifest.input.name }
    private var baseSize: Int { manifest.inputWidth }
    private var threads: Int { options.prune.threads }

    private func graph(size: Int) throws -> Graph {
        try PrunableModel.load(path: modelPath, inputShapes: [inputName: [1, 3, size, size]])
    }

    private func manifest(size: Int) throws -> ModelManifest {
        size == baseSize && manifest.inputHeight == size ? manifest : try manifest.atInputSize(size)
    }

    /// Letterboxed calibration tensors at `size`.
    private func calibrationTensors(size: Int) throws -> [Tensor] {
        let detector = try Detector(manifest: try manifest(size: size)) { _ in Tensor(zeros: [1]) }
        return try calibration.map { frame in try frame.jpeg.withUnsafeBytes { try detector.prepare(jpeg: $0, name: frame.name).tensor } }
    }

    package static func levelName(size: Int, cut: Double, precision: LadderManifest.Precision) -> String {
        String(format: "s%d-c%02d-%@", size, Int((cut * 100).rounded()), precision.rawValue)
    }

    /// Builds everything into `directory` (created if needed) and returns the manifest it wrote.
    package func build(into directory: String) throws -> LadderManifest {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard manifest.inputWidth == manifest.inputHeight else {
            throw PruneError(.invalidCalibration, "\(manifest.name): ladders need a square model input, got \(manifest.inputWidth)×\(manifest.inputHeight)")
        }
        let base = try graph(size: baseSize)
        let reference = try Detector(manifest: manifest, model: Model(graph: base, options: .init(threads: threads)))
        let scorer = try AgreementScorer(reference: reference, frames: heldOut)
        guard scorer.groundTruth.contains(where: { !$0.isEmpty }) else {
            throw PruneError(.invalidCalibration, "the unpruned model detects nothing on the \(heldOut.count) held-out frames; agreement cannot be scored")
        }

        // Prune once per cut at the calibration size; sensitivities are measured once and shared by all cuts.
        let cuts = options.cuts.sorted()
        var pruned: [Double: PruneResult] = [:]
        if cuts.contains(where: { $0 > 0 }) {
            var pruneOptions = options.prune
            pruneOptions.macsCut = cuts.last!
            let pruner = try StructuredPruner(graph: base, calibration: try calibrationTensors(size: baseSize), options: pruneOptions)
            let report = progress
            pruner.progress = { done, total in report?(LadderProgress(stage: .sensitivity, done: done, total: total)) }
            for cut in cuts where cut > 0 { pruned[cut] = try pruner.run(cut: cut) }
        }

        let keep = try options.classes.map { names in
            try DetectionOptions.classIndices(names, labels: manifest.classNames).sorted()
        }
        let keptNames = keep.map { $0.map { manifest.classNames[$0] } }
        let sizes = options.sizes.sorted(by: >)
        let precisions: [LadderManifest.Precision] = options.int8 ? [.fp32, .int8] : [.fp32]
        let total = sizes.count * cuts.count * precisions.count
        var levels: [LadderManifest.Level] = []
        let modelFile = (modelPath as NSString).lastPathComponent
        for size in sizes {
            let baseAtSize = size == baseSize ? base : try graph(size: size)
            var sizedManifest = try manifest(size: size)
            if let keep {
                sizedManifest.labels = keep.map { manifest.classNames[$0] }
                sizedManifest.labelsFile = nil
                sizedManifest.output.shape[2] = 5 + keep.count
            }
            let int8Frames = options.int8 ? try calibrationTensors(size: size) : []
            for cut in cuts {
                var variant: Graph
                if let result = pruned[cut] {
                    variant = size == baseSize ? result.graph
                        : try VariantScaling.rescale(pruned: result.graph, plan: result.plan, base: base, baseAtSize: baseAtSize)
                } else {
                    variant = baseAtSize
                }
                if let keep { variant = try HeadClassPruning.apply(variant, keep: keep) }
                let fp32Name = Self.levelName(size: size, cut: cut, precision: .fp32)
                let file = fp32Name + "." + CompactModel.fileExtension
                let bytes = CompactModel.encode(variant, source: modelFile)
                try write(Data(bytes), to: directory + "/" + file)
                let sha = SHA256.hex(Data(bytes))
                for precision in precisions {
                    var table: QuantizationTable?
                    var tableFile: String?
                    if precision == .int8 {
                        var int8Options = options.int8Options
                        int8Options.threads = threads
                        let calibrated = try QuantizationTable.calibrate(graph: variant, frames: int8Frames, options: int8Options)
                        try calibrated.validate(against: variant, source: "int8 table for \(fp32Name)")
                        tableFile = Self.levelName(size: size, cut: cut, precision: .int8) + ".table.json"
                        try calibrated.write(path: directory + "/" + tableFile!)
                        table = calibrated
                    }
                    let model = Model(graph: variant, options: .init(threads: threads, quantization: table))
                    let agreement = try scorer.score(try Detector(manifest: sizedManifest, model: model), keep: keep)
                    let one = try LatencyMeter.measure(Model(graph: variant, options: .init(threads: 1, quantization: table)),
                                                       warmup: options.warmup, runs: options.runs)
                    let two = try LatencyMeter.measure(Model(graph: variant, options: .init(threads: 2, quantization: table)),
                                                       warmup: options.warmup, runs: options.runs)
                    let level = LadderManifest.Level(
                        name: Self.levelName(size: size, cut: cut, precision: precision), inputSize: size, cut: cut,
                        macs: model.totalMACs, params: VariantScaling.parameters(variant), precision: precision,
                        file: file, sha256: sha, agreement: clamp01(agreement.map50_95), agreementMAP50: clamp01(agreement.map50),
                        latencyMs: .init(threads1: one.p50, threads2: two.p50),
                        latencyMinMs: .init(threads1: one.min, threads2: two.min), pareto: false, classes: keptNames, int8Table: tableFile)
                    levels.append(level)
                    progress?(LadderProgress(stage: .rung, done: levels.count, total: total, level: level, minimumMs: (one.min, two.min)))
                }
            }
        }

        var labelled = manifest
        labelled.labelsFile = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try encoder.encode(labelled), to: directory + "/model.json")

        var ladder = LadderManifest(
            baseModel: .init(file: modelFile, sha256: SHA256.hex(try readData(modelPath))),
            calibration: .init(directory: calibrationLabel, frames: calibration.count, heldOutFrames: heldOut.count),
            paretoThreads: options.paretoThreads, paretoStatistic: options.paretoStatistic, modelManifest: "model.json",
            levels: levels)
        ladder.markParetoFront()
        try ladder.write(directory: directory)
        return ladder
    }

    private func write(_ data: Data, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw PruneError(.io, "\(path): cannot write") }
    }

    private func readData(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw PruneError(.io, "\(path): cannot read") }
        return data
    }
}

private func clamp01(_ value: Double) -> Double { value.isFinite ? min(max(value, 0), 1) : 0 }
