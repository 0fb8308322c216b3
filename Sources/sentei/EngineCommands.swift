import ArgumentParser
import Foundation
import SenteiEngine

/// Options every engine command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "An ONNX or compact (.sntm) model, or a ladder directory from `sentei prune`.")
    var model: String

    @Option(name: .long, help: "With a ladder directory: the level to load (default: its most accurate Pareto level).")
    var level: String?

    @Option(name: .long, help: "Threads (parts per kernel); default: one per core.")
    var threads: Int?

    @Option(name: .long, help: "Input shape override, e.g. images=1x3x320x320 (repeatable).")
    var shape: [String] = []

    @Flag(name: .long, help: "Use the scalar reference kernels (slow; for checking).")
    var reference = false

    @Option(name: .long, help: "Run in mixed int8/fp32 with this quantization table (from `sentei quantize`).")
    var int8: String?

    func load() throws -> Model {
        var shapes: [String: [Int]] = [:]
        for spec in shape {
            let parts = spec.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--shape '\(spec)' must look like NAME=1x3x320x320") }
            let dims = parts[1].split(separator: "x").compactMap { Int($0) }
            guard dims.count == parts[1].split(separator: "x").count, !dims.isEmpty else {
                throw ValidationError("--shape '\(spec)' has a bad dimension list")
            }
            shapes[String(parts[0])] = dims
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        let quantization = try int8.map { try QuantizationTable.load(path: $0) }
        return try ModelResolution.load(model: model, level: level, options: .init(
            threads: threads, inputShapes: shapes, useReferenceKernels: reference, quantization: quantization)).model
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a model on .npy inputs and write .npy outputs (out.npy, out.1.npy, …).")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Input .npy file(s), float32, in the model's input order.")
    var input: [String]

    @Option(name: .long, help: "Output .npy path for the first output; later outputs get .1, .2, … before .npy.")
    var output: String

    func run() throws {
        let model = try options.load()
        let tensors = try input.map { try NPY.read(path: $0) }
        let outputs = try model.run(tensors)
        for (index, tensor) in outputs.enumerated() {
            try NPY.write(tensor, path: Self.outputPath(output, index))
        }
    }

    static func outputPath(_ base: String, _ index: Int) -> String {
        guard index > 0 else { return base }
        let stem = base.hasSuffix(".npy") ? String(base.dropLast(4)) : base
        return "\(stem).\(index).npy"
    }
}
