import ArgumentParser
import Foundation
import SenteiEngine
import SenteiVision

/// `sentei quantize`: calibrates int8 activation ranges and the mixed-precision choice on JPEG frames and writes the
/// quantization table that `--int8` (bench, run, inspect, detect, eval) loads.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Calibrate int8 inference on frames: activation ranges, bias correction, per-layer precision → table JSON.")

    @OptionGroup var detector: DetectorOptions

    @Option(name: .long, help: "Directory of calibration JPEGs (sorted; the first --calib-count are used).")
    var calib: String

    @Option(name: .long, help: "Calibration images used.")
    var calibCount = 64

    @Option(name: .long, help: "Where to write the table (JSON).")
    var out: String

    @Option(name: .long, help: "Activation range method: mse, percentile or minMax.")
    var method = "mse"

    @Option(name: .long, help: "Percentile for --method percentile.")
    var percentile = 99.99

    @Option(name: .long, help: "Frames (the first N) for the per-layer sensitivity and the model error.")
    var sensitivityFrames = 16

    @Option(name: .long, help: "A layer whose int8 version alone gives a larger output error takes 16-bit activations (w8a16) if that is within it, else stays fp32.")
    var layerThreshold: Double?

    @Option(name: .long, help: "Then step the layers with the largest error up (int8 → w8a16 → fp32) until the model's output error is at most this.")
    var budget: Double?

    @Option(name: .long, help: "Layers (node names, comma-separated) kept fp32.")
    var fp32: String?

    @Flag(name: .long, help: "Skip bias correction.")
    var noBiasCorrection = false

    @Flag(name: .long, help: "Never use 16-bit activations: layers over the threshold stay fp32.")
    var noW8a16 = false

    func run() throws {
        guard let rangeMethod = CalibrationOptions.RangeMethod(rawValue: method) else {
            throw ValidationError("--method must be one of \(CalibrationOptions.RangeMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard calibCount >= 1, sensitivityFrames >= 1 else { throw ValidationError("--calib-count and --sensitivity-frames must be ≥ 1") }
        // A ladder level (`--model LADDER --level NAME`) is a compact model at its own input size, with its manifest.
        let selection = try ModelResolution.ladderSelection(model: detector.model, level: detector.level)
        let (manifest, path) = try selection.map { (try $0.detectorManifest(), $0.modelPath) } ?? detector.manifestAndModelPath()
        let letterboxer = try Detector(manifest: manifest) { _ in Tensor(zeros: [1]) }
        let paths = Array(try calibrationImagePaths(calib).prefix(calibCount))
        guard !paths.isEmpty else { throw ValidationError("--calib \(calib) holds no JPEG files or sampled raw frames") }
        let frames = try paths.map { path in
            try calibrationJPEG(path).withUnsafeBytes { try letterboxer.prepare(jpeg: $0, name: path).tensor }
        }
        var options = CalibrationOptions()
        options.rangeMethod = rangeMethod
        options.percentile = percentile
        options.threads = detector.threads
        options.sensitivityFrames = sensitivityFrames
        if let layerThreshold { options.layerErrorThreshold = layerThreshold }
        if let budget { options.modelErrorBudget = budget }
        options.biasCorrection = !noBiasCorrection
        options.sixteenBitActivations = !noW8a16
        options.fp32Layers = Set((fp32 ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        options.progress = { stage, done, total in
            FileHandle.standardError.write(Data("\r\(stage) \(done)/\(total)   \(done == total ? "\n" : "")".utf8))
        }
        let table = try QuantizationTable.calibrate(modelAt: path, frames: frames, options: options)
        try table.write(path: out)
        let report = table.calibration!
        FileHandle.standardError.write(Data(String(
            format: "%d of %d convs int8, %d w8a16 (%@ ranges, %d frames, %.1f s); output error %.4g (all int8: %.4g)\n",
            table.int8Layers.count, table.layers.count, table.w8a16Layers.count, report.rangeMethod, report.frames,
            report.seconds, report.modelError, report.allInt8Error).utf8))
        for (kind, names) in [("w8a16", table.w8a16Layers), ("fp32", table.fp32Layers)] {
            for name in names {
                FileHandle.standardError.write(Data("  \(kind) \(name): \(table.layers[name]!.reason ?? "")\n".utf8))
            }
        }
    }
}
