import Foundation
public import SenteiEngine
import SenteiPrune
public import SenteiVision

/// One rung of the ladder: a compiled model and the manifest that describes its input and output at this size.
public final class LadderLevel: @unchecked Sendable {
    /// e.g. "yolox_nano@320".
    public let name: String
    public let model: Model
    /// The base manifest with this level's input and output shapes.
    public let manifest: ModelManifest

    /// Checks the model against the manifest (names and shapes); the error names the manifest field.
    public init(name: String, model: Model, manifest: ModelManifest) throws {
        try manifest.verify(inputs: model.inputs.map { ($0.name, $0.shape) },
                            outputs: model.outputs.map { ($0.name, $0.shape) })
        self.name = name
        self.model = model
        self.manifest = manifest
    }

    public var inputWidth: Int { manifest.inputWidth }
    public var inputHeight: Int { manifest.inputHeight }
}

/// The levels the controller moves between, most accurate first (index 0). All are loaded once at start-up; the
/// pipeline switches between them between frames.
///
/// For now the levels are input-size variants of one ONNX model (a YOLOX model at 416, 352, 320, 256 costs roughly
/// in proportion to its pixel count); pruned and int8 variants join as more `LadderLevel`s of the same manifest.
public final class Ladder: @unchecked Sendable {
    public let levels: [LadderLevel]

    public init(levels: [LadderLevel]) throws {
        guard !levels.isEmpty else { throw ControllerError("a ladder needs at least one level") }
        let labels = levels[0].manifest.classNames
        for level in levels where level.manifest.classNames != labels {
            throw ControllerError("ladder level \(level.name) has other class names than \(levels[0].name)")
        }
        self.levels = levels
    }

    public var count: Int { levels.count }
    public subscript(index: Int) -> LadderLevel { levels[index] }

    /// Compiles `modelPath` once per input size (square, each a multiple of the head's largest stride), largest
    /// first. `threads` is the engine's kernel split per model.
    public static func inputSizes(modelPath: String, manifest: ModelManifest, sizes: [Int],
                                  threads: Int? = nil) throws -> Ladder {
        guard !sizes.isEmpty else { throw ControllerError("ladder.input_sizes is empty") }
        var levels: [LadderLevel] = []
        for size in sizes.sorted(by: >) {
            let resized = try manifest.resized(width: size, height: size)
            let model = try Model(path: modelPath, options: Model.Options(
                threads: threads, inputShapes: [manifest.input.name: [1, 3, size, size]]))
            levels.append(try LadderLevel(name: "\(manifest.name)@\(size)", model: model, manifest: resized))
        }
        return try Ladder(levels: levels)
    }
}

extension Ladder {
    /// The Pareto rungs of a ladder directory built by `sentei prune` (`manifest.json` + one model file per rung),
    /// most accurate first, as the controller's levels. Every rung's file is checked against its `sha256` before it
    /// is compiled; a mismatch, a missing file or an invalid manifest throws a `LadderError` naming the file and
    /// field. int8 rungs carry their calibration table.
    public static func directory(_ path: String, threads: Int? = nil) throws -> Ladder {
        let manifest = try LadderManifest.load(directory: path)
        var levels: [LadderLevel] = []
        for rung in manifest.paretoLevels {
            // `resolve` hash-checks the rung's file before anything reads it as a model.
            guard let selection = try LadderSelection.resolve(model: path, level: rung.name) else {
                throw LadderError(.invalidManifest, file: path, "is not a ladder directory")
            }
            let detector = try selection.detectorManifest()
            let size = rung.inputSize
            let model = try selection.load(options: Model.Options(
                threads: threads, inputShapes: [detector.input.name: [1, 3, size, size]]))
            levels.append(try LadderLevel(name: rung.name, model: model, manifest: detector))
        }
        return try Ladder(levels: levels)
    }

    /// The detector manifest a ladder directory names (for class names), without compiling anything.
    public static func detectorManifest(directory path: String) throws -> ModelManifest {
        guard let selection = try LadderSelection.resolve(model: path, level: nil) else {
            throw LadderError(.invalidManifest, file: (path as NSString).appendingPathComponent(LadderManifest.fileName),
                              "is missing: \(path) is not a ladder directory")
        }
        return try selection.detectorManifest()
    }

    /// Checks a ladder directory the way `directory(_:)` will use it — manifest fields and every Pareto rung's
    /// file hash — without compiling. Returns the rung names, most accurate first.
    public static func verify(directory path: String) throws -> [String] {
        let manifest = try LadderManifest.load(directory: path)
        for rung in manifest.paretoLevels { try manifest.verifyFile(of: rung, directory: path) }
        return manifest.paretoLevels.map(\.name)
    }
}

extension ModelManifest {
    /// The same model at another input size: input shape and the head's anchor count follow.
    public func resized(width: Int, height: Int) throws -> ModelManifest {
        let strides = head.strides ?? [8, 16, 32]
        let largest = strides.max() ?? 32
        guard width > 0, height > 0, width % largest == 0, height % largest == 0 else {
            throw ControllerError("ladder input size \(width)x\(height) for \(name) must be a positive multiple of \(largest)")
        }
        var copy = self
        copy.input.shape = [1, 3, height, width]
        let anchors = strides.reduce(0) { $0 + (height / $1) * (width / $1) }
        switch output.layout {
        case .nac: copy.output.shape = [1, anchors, output.shape[2]]
        case .nca: copy.output.shape = [1, output.shape[1], anchors]
        }
        try copy.validate(name: "\(name)@\(width)x\(height)")
        return copy
    }
}
