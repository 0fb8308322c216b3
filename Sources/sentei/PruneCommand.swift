import ArgumentParser
import Foundation
import SenteiEngine
import SenteiPrune
import SenteiVision

/// `sentei prune`: structured channel pruning of a model under MACs targets, written as ordinary .onnx files.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove coupled channels to cut MACs (sensitivity-aware, with least-squares refit); writes .onnx variants.")

    @Option(name: .long, help: "The ONNX model to prune.")
    var model: String

    @Option(name: .long, help: "Its manifest (default: the Models/*.json whose file is the model's name).")
    var manifest: String?

    @Option(name: .long, help: "Directory of calibration JPEGs (sorted; the first --calib-count are used).")
    var calib: String?

    @Option(name: .long, help: "Calibration images used.")
    var calibCount = 64

    @Option(name: .long, help: "MAC cut fraction(s), comma-separated, e.g. 0.1,0.25,0.5.")
    var macsCut: String?

    @Option(name: .long, help: "Output directory (one <model>_cutNN.onnx per cut, plus prune-report.json).")
    var out: String?

    @Option(name: .long, help: "Channel importance: activation or l1.")
    var importance = "activation"

    @Flag(name: .long, help: "Skip the least-squares refit of the consumers.")
    var noReconstruct = false

    @Option(name: .long, help: "Calibration frames for the second refit on the pruned model's own activations (0 = off).")
    var studentRefitFrames = 0

    @Flag(name: .long, help: "Cut every group by the same fraction instead of by measured sensitivity.")
    var uniform = false

    @Option(name: .long, help: "Kept channel counts are multiples of this.")
    var roundTo = 8

    @Option(name: .long, help: "At most this fraction of any group is removed.")
    var maxGroupCut = 0.75

    @Option(name: .long, help: "Calibration frames used to measure each group's sensitivity.")
    var sensitivityFrames = 4

    @Option(name: .long, help: "Threads; default: one per core.")
    var threads: Int?

    @Flag(name: .long, help: "Print the coupled channel groups and exit.")
    var groups = false

    func run() throws {
        let graph = try PrunableModel.load(path: model)
        let channelGroups = ChannelGroups(graph)
        if groups {
            for group in channelGroups.groups {
                let names = group.members.map { graph[$0.node].name }.joined(separator: ", ")
                print("group \(group.id): \(group.size) ch, \(group.isPrunable ? "prunable" : "frozen (\(group.frozenReason!))"): \(names)")
            }
            print("\(channelGroups.groups.count) groups, \(channelGroups.prunable.count) prunable")
            return
        }
        guard let macsCut, let calib, let out else { throw ValidationError("--macs-cut, --calib and --out are required (except with --groups)") }
        let cuts = try macsCut.split(separator: ",").map { text -> Double in
            guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v >= 0, v < 1 else {
                throw ValidationError("--macs-cut '\(text)' must be a fraction in [0, 1)")
            }
            return v
        }
        guard let kind = ImportanceKind(rawValue: importance) else {
            throw ValidationError("--importance must be one of \(ImportanceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard calibCount >= 1, sensitivityFrames >= 1, roundTo >= 1, maxGroupCut > 0, maxGroupCut < 1 else {
            throw ValidationError("--calib-count, --sensitivity-frames and --round-to must be ≥ 1, --max-group-cut in (0, 1)")
        }
        let frames = try calibrationFrames(graph, directory: calib)
        var options = PruneOptions(macsCut: cuts[0])
        options.importance = kind
        options.reconstruct = !noReconstruct
        options.studentRefitFrames = max(0, studentRefitFrames)
        options.sensitivityAware = !uniform
        options.roundTo = roundTo
        options.maxGroupCut = maxGroupCut
        options.sensitivityFrames = sensitivityFrames
        options.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
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
            let result = try pruner.run(cut: cut)
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
                "head_error": \(String(format: "%.6g", result.error)), "refit_convs": \(result.refitConvs), "groups": [\(kept.joined(separator: ", "))]}
                """)
            log(String(format: "cut %.2f: %.3f → %.3f GMACs (−%.1f%%), head error %.4g, %d convs refit → %@", cut,
                       Double(result.macsBefore) / 1e9, Double(result.macsAfter) / 1e9,
                       100 * (1 - Double(result.macsAfter) / Double(result.macsBefore)), result.error, result.refitConvs, out + "/" + file))
        }
        let report = """
            {"model": "\(model)", "calibration_frames": \(frames.count), "importance": "\(kind.rawValue)", \
            "reconstruct": \(!noReconstruct), "student_refit_frames": \(noReconstruct ? 0 : studentRefitFrames), "sensitivity_aware": \(!uniform), "round_to": \(roundTo), "variants": [\(entries.joined(separator: ", "))]}
            """
        try report.write(toFile: out + "/prune-report.json", atomically: true, encoding: .utf8)
    }

    func calibrationFrames(_ graph: Graph, directory calib: String) throws -> [Tensor] {
        let manifestPath = try manifest ?? findManifest()
        let manifestValue = try ModelManifest.load(path: manifestPath)
        let detector = try Detector(manifest: manifestValue) { _ in Tensor(zeros: [1]) }
        let paths = Array(jpegPaths([calib]).prefix(calibCount))
        guard !paths.isEmpty else { throw ValidationError("--calib \(calib) holds no JPEG files") }
        return try paths.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw PruneError(.io, "\(path): cannot read") }
            return try [UInt8](data).withUnsafeBytes { try detector.prepare(jpeg: $0, name: path).tensor }
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
