import ArgumentParser
import Foundation
import SenteiEngine
import SenteiPrune
import SenteiVision

/// `sentei prune`: builds a ladder (input size × channel-pruning cut × precision, measured and reduced to its Pareto
/// front) into a directory; with `--macs-cut` it instead writes plain pruned .onnx files (ablations, ONNX Runtime).
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Build a ladder of pruned/resized/int8 variants with its Pareto front (or, with --macs-cut, pruned .onnx files).")

    @Option(name: .long, help: "The ONNX model to prune.")
    var model: String

    @Option(name: .long, help: "Its manifest (default: the Models/*.json whose file is the model's name).")
    var manifest: String?

    @Option(name: .long, help: "Directory of calibration JPEGs (sorted; the first --calib-count are used).")
    var calib: String?

    @Option(name: .long, help: "Images used from --calib (ladder: the last --holdout of them only score agreement).")
    var calibCount = 64

    @Option(name: .long, help: "Ladder: of the --calib-count images, this many (the last ones) are held out of calibration to score agreement; default a quarter.")
    var holdout: Int?

    @Option(name: .long, help: "Ladder: MACs cuts in percent, comma-separated.")
    var levels = "0,10,25,40,50"

    @Option(name: .long, help: "Ladder: square input sizes, comma-separated (multiples of 32).")
    var sizes = "416,352,320,256"

    @Flag(name: .long, help: "Ladder: also build a mixed int8/fp32 twin of every rung (calibrated on the same frames).")
    var int8 = false

    @Option(name: .long, help: "Ladder: prune the head down to these classes (e.g. person,car).")
    var classes: String?

    @Option(name: .long, help: "Ladder: timed forward passes per rung and thread count (p50 goes into the manifest).")
    var runs = 15

    @Option(name: .long, help: "Ladder: untimed warm-up passes per rung and thread count.")
    var warmup = 3

    @Option(name: .long, help: "Ladder: the thread count (1 or 2) whose latency decides the Pareto front.")
    var paretoThreads = 1

    @Option(name: .long, help: "Ladder: the latency statistic that decides the Pareto front: p50, or min (steadier on a shared machine).")
    var paretoLatency = "p50"

    @Option(name: .long, help: "Instead of a ladder: MAC cut fraction(s), comma-separated, e.g. 0.1,0.25,0.5, each written as <model>_cutNN.onnx.")
    var macsCut: String?

    @Option(name: .long, help: "Output directory: the ladder (compact models + manifest.json), or with --macs-cut the .onnx files and prune-report.json.")
    var out: String?

    @Option(name: .long, help: "Channel importance: activation or l1.")
    var importance = "activation"

    @Option(name: .long, help: "Refit after pruning: sequential (layer by layer on the pruned model's own activations), teacher (consumers from the unpruned model's statistics only), best (per cut, whichever of those two has the lower head error on the sensitivity frames) or none.")
    var reconstruction = "best"

    @Flag(name: .long, help: "Same as --reconstruction none.")
    var noReconstruct = false

    @Option(name: .long, help: "Calibration frames run through the pruned model by the sequential refit.")
    var refitFrames = 64

    @Option(name: .long, help: "Ridge of the sequential refit's least squares, relative to the mean diagonal of each input's Gram matrix.")
    var refitRidge = 1e-3

    @Flag(name: .long, help: "The sequential refit also sees each refit frame mirrored left to right.")
    var refitMirror = false

    @Option(name: .long, help: "The sequential refit weighs each position by 1 + this × the unpruned model's detection score near it in that frame (0 = all positions alike).")
    var refitFocus = 0.0

    @Option(name: .long, help: "> 1: the sequential refit also sees each refit frame's top-left 1/Z of each side enlarged back to full size (1 = off).")
    var refitZoom = 1.0

    @Option(name: .long, help: "Sequential refit scope: downstream (every conv after a cut) or consumers (only the 1×1 convs that lost inputs).")
    var refitScope = "downstream"

    @Flag(name: .long, help: "Cut every group by the same fraction instead of by measured sensitivity.")
    var uniform = false

    @Option(name: .long, help: "Kept channel counts are multiples of this.")
    var roundTo = 8

    @Option(name: .long, help: "At most this fraction of any group is removed.")
    var maxGroupCut = 0.75

    @Option(name: .long, help: "Lower each group's --max-group-cut by this times the share of output anchors that depend on it: limit = max-group-cut × (1 − p × share).")
    var shareProtection = 0.0

    @Flag(name: .long, help: "Head error (sensitivities, refit choice, report) averages each output stride's own relative error instead of pooling all anchors.")
    var errorPerStride = false

    @Option(name: .long, help: "Calibration frames used to measure each group's sensitivity.")
    var sensitivityFrames = 4

    @Option(name: .long, help: "Sensitivity-aware allocation reaches each cut in this many steps, re-measuring the groups' cost curves on top of each step.")
    var allocationRounds = 1

    @Option(name: .long, help: "Threads; default: one per core.")
    var threads: Int?

    @Flag(name: .long, help: "Print the coupled channel groups and exit.")
    var groups = false

    func run() throws {
        let graph = try PrunableModel.load(path: model)
        let channelGroups = ChannelGroups(graph)
        if groups {
            let shares = OutputShare.perGroup(graph, channelGroups)
            for group in channelGroups.groups {
                let names = group.members.map { graph[$0.node].name }.joined(separator: ", ")
                let state = group.isPrunable ? "prunable" : "frozen (\(group.frozenReason!))"
                print("group \(group.id): \(group.size) ch, output share \(String(format: "%.2f", shares[group.id])), \(state): \(names)")
            }
            print("\(channelGroups.groups.count) groups, \(channelGroups.prunable.count) prunable")
            return
        }
        guard let calib, let out else { throw ValidationError("--calib and --out are required (except with --groups)") }
        guard let macsCut else { return try buildLadder(calib: calib, out: out) }
        let cuts = try macsCut.split(separator: ",").map { text -> Double in
            guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v >= 0, v < 1 else {
                throw ValidationError("--macs-cut '\(text)' must be a fraction in [0, 1)")
            }
            return v
        }
        let frames = try calibrationFrames(graph, directory: calib)
        let options = try pruneOptions(cut: cuts[0])
        let started = Date()
        let pruner = try StructuredPruner(graph: graph, calibration: frames, options: options)
        log(String(format: "calibrated on %d frames in %.1f s; %d groups, %d prunable; %.3f GMACs", frames.count,
                   Date().timeIntervalSince(started), pruner.groups.groups.count, pruner.groups.prunable.count, Double(pruner.macsBefore) / 1e9))
        pruner.progress = { done, total in
            FileHandle.standardError.write("\rsensitivity \(done)/\(total)".data(using: .utf8)!)
            if done == total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let stem = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
        var entries: [String] = []
        for cut in cuts {
            let cpuBefore = processCPUSeconds()
            let result = try pruner.run(cut: cut)
            log(String(format: "cut %.2f: pruned in %.1f CPU-s (sensitivities, if measured, are counted with the first cut)", cut,
                       processCPUSeconds() - cpuBefore))
            let file = "\(stem)_cut\(Int((cut * 100).rounded())).onnx"
            let bytes = try ONNXWriter.encode(result.graph)
            guard FileManager.default.createFile(atPath: out + "/" + file, contents: Data(bytes)) else {
                throw PruneError(.io, "\(out)/\(file): cannot write")
            }
            let kept = result.plan.kept.keys.sorted().map { gid in
                "{\"group\": \(gid), \"size\": \(pruner.groups.groups[gid].size), \"kept\": \(result.plan.kept[gid]!.count)}"
            }
            entries.append("""
                {"cut": \(cut), "file": "\(file)", "macs_before": \(result.macsBefore), "macs_after": \(result.macsAfter), \
                "macs_cut": \(String(format: "%.4f", 1 - Double(result.macsAfter) / Double(result.macsBefore))), \
                "head_error": \(String(format: "%.6g", result.error)), "refit": "\(result.refit.rawValue)", "refit_convs": \(result.refitConvs), "groups": [\(kept.joined(separator: ", "))]}
                """)
            log(String(format: "cut %.2f: %.3f → %.3f GMACs (−%.1f%%), head error %.4g, %d convs refit (%@) → %@", cut,
                       Double(result.macsBefore) / 1e9, Double(result.macsAfter) / 1e9,
                       100 * (1 - Double(result.macsAfter) / Double(result.macsBefore)), result.error, result.refitConvs,
                       result.refit.rawValue, out + "/" + file))
        }
        let report = """
            {"model": "\(model)", "calibration_frames": \(frames.count), "importance": "\(options.importance.rawValue)", \
            "reconstruction": "\(options.reconstruction.rawValue)", "refit_frames": \(options.refitFrames), "refit_mirror": \(options.refitMirror), "refit_focus": \(options.refitFocus), "refit_zoom": \(options.refitZoom), "allocation_rounds": \(options.allocationRounds), "sensitivity_aware": \(!uniform), "round_to": \(roundTo), "variants": [\(entries.joined(separator: ", "))]}
            """
        try report.write(toFile: out + "/prune-report.json", atomically: true, encoding: .utf8)
    }

    func calibrationFrames(_ graph: Graph, directory calib: String) throws -> [Tensor] {
        let manifestPath = try manifest ?? findManifest()
        let manifestValue = try ModelManifest.load(path: manifestPath)
        let detector = try Detector(manifest: manifestValue) { _ in Tensor(zeros: [1]) }
        let paths = Array(try calibrationImagePaths(calib).prefix(calibCount))
        guard !paths.isEmpty else { throw ValidationError("--calib \(calib) holds no JPEG files or sampled raw frames") }
        return try paths.map { path in
            try calibrationJPEG(path).withUnsafeBytes { try detector.prepare(jpeg: $0, name: path).tensor }
        }
    }

    func findManifest() throws -> String {
        let file = (model as NSString).lastPathComponent
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: "Models")) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        for name in candidates where (try? ModelManifest.load(path: "Models/" + name))?.file == file { return "Models/" + name }
        throw ValidationError("no manifest in ./Models names '\(file)'; pass --manifest")
    }

    func log(_ line: String) { FileHandle.standardError.write((line + "\n").data(using: .utf8)!) }
}

extension PruneCommand {
    /// The pruning settings shared by both modes.
    func pruneOptions(cut: Double) throws -> PruneOptions {
        guard let kind = ImportanceKind(rawValue: importance) else {
            throw ValidationError("--importance must be one of \(ImportanceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let refit = ReconstructionKind(rawValue: reconstruction) else {
            throw ValidationError("--reconstruction must be one of \(ReconstructionKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard calibCount >= 1, sensitivityFrames >= 1, roundTo >= 1, refitFrames >= 1, maxGroupCut > 0, maxGroupCut < 1 else {
            throw ValidationError("--calib-count, --sensitivity-frames, --refit-frames and --round-to must be ≥ 1, --max-group-cut in (0, 1)")
        }
        var options = PruneOptions(macsCut: cut)
        options.importance = kind
        options.reconstruction = noReconstruct ? .none : refit
        options.refitFrames = refitFrames
        guard refitRidge >= 0, refitRidge.isFinite else { throw ValidationError("--refit-ridge must be ≥ 0") }
        options.refitRidge = refitRidge
        options.refitMirror = refitMirror
        guard refitFocus >= 0, refitFocus.isFinite else { throw ValidationError("--refit-focus must be ≥ 0") }
        options.refitFocus = refitFocus
        guard refitZoom >= 1, refitZoom.isFinite else { throw ValidationError("--refit-zoom must be ≥ 1") }
        options.refitZoom = refitZoom
        guard ["downstream", "consumers"].contains(refitScope) else { throw ValidationError("--refit-scope must be downstream or consumers") }
        options.refitDownstream = refitScope == "downstream"
        options.sensitivityAware = !uniform
        options.roundTo = roundTo
        options.maxGroupCut = maxGroupCut
        guard shareProtection >= 0, shareProtection < 1 else { throw ValidationError("--share-protection must be in [0, 1)") }
        options.shareProtection = shareProtection
        options.errorPerStride = errorPerStride
        options.sensitivityFrames = sensitivityFrames
        guard allocationRounds >= 1 else { throw ValidationError("--allocation-rounds must be ≥ 1") }
        options.allocationRounds = allocationRounds
        options.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        return options
    }

    static func integers(_ text: String, option: String) throws -> [Int] {
        try text.split(separator: ",").map { part in
            guard let value = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(option) '\(part)' is not a whole number")
            }
            return value
        }
    }

    func buildLadder(calib: String, out: String) throws {
        let percents = try Self.integers(levels, option: "--levels")
        guard percents.allSatisfy({ (0..<100).contains($0) }) else { throw ValidationError("--levels are MACs cuts in percent, 0…99") }
        var options = LadderOptions(sizes: try Self.integers(sizes, option: "--sizes"), cuts: percents.map { Double($0) / 100 })
        options.int8 = int8
        options.classes = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        options.runs = runs
        options.warmup = warmup
        options.paretoThreads = paretoThreads
        guard let statistic = LadderManifest.LatencyStatistic(rawValue: paretoLatency) else {
            throw ValidationError("--pareto-latency must be p50 or min")
        }
        options.paretoStatistic = statistic
        options.prune = try pruneOptions(cut: 0)
        guard (1...2).contains(paretoThreads) else { throw ValidationError("--pareto-threads must be 1 or 2") }

        let manifestValue = try ModelManifest.load(path: try manifest ?? findManifest())
        let paths = Array(try calibrationImagePaths(calib).prefix(calibCount))
        let held = holdout ?? max(1, paths.count / 4)
        guard held >= 1, paths.count > held else {
            throw ValidationError("--calib \(calib) has \(paths.count) images; need more than --holdout \(held) (some calibrate, the rest score agreement)")
        }
        let frames = try paths.map { path -> (name: String, jpeg: [UInt8]) in
            ((path as NSString).lastPathComponent, try calibrationJPEG(path))
        }
        let builder = try LadderBuilder(modelPath: model, manifest: manifestValue, calibration: Array(frames.dropLast(held)),
                                        heldOut: Array(frames.suffix(held)), options: options)
        builder.calibrationLabel = calib
        let bar = ProgressBar()
        builder.progress = { bar.update($0) }
        let started = Date()
        let ladder = try builder.build(into: out)
        log(String(format: "built %d rungs in %.0f s into %@; Pareto front (most accurate first):", ladder.levels.count,
                   Date().timeIntervalSince(started), out))
        for level in ladder.paretoLevels {
            log(String(format: "  %@  agreement %.3f  p50 %.1f ms (1 thread)  %.1f ms (2 threads)  %.3f GMACs", level.name,
                       level.agreement, level.latencyMs.threads1, level.latencyMs.threads2, Double(level.macs) / 1e9))
        }
    }
}

/// A one-line progress bar on stderr.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var lastFilled = -1

    func update(_ progress: LadderProgress) {
        lock.lock()
        defer { lock.unlock() }
        let width = 30
        let filled = progress.total > 0 ? width * progress.done / progress.total : 0
        // The sensitivity phase has hundreds of steps: redraw only when the bar grows.
        if progress.stage == .sensitivity, filled == lastFilled, progress.done != progress.total { return }
        lastFilled = progress.stage == .sensitivity ? filled : -1
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var line: String
        switch progress.stage {
        case .sensitivity:
            line = "sensitivity [\(bar)] \(progress.done)/\(progress.total)"
        case .rung:
            line = "rungs       [\(bar)] \(progress.done)/\(progress.total)"
            if let level = progress.level {
                line += String(format: "  %@ agreement %.3f p50 %.1f/%.1f ms", level.name, level.agreement,
                               level.latencyMs.threads1, level.latencyMs.threads2)
                if let minimum = progress.minimumMs { line += String(format: " (min %.1f/%.1f)", minimum.0, minimum.1) }
            }
        }
        // Rungs get a line each (a record of what was measured); the sensitivity phase redraws one line.
        let end = progress.stage == .rung || progress.done == progress.total ? "\n" : ""
        FileHandle.standardError.write(Data(("\r" + line + end).utf8))
    }
}
