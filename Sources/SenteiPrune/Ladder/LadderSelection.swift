import Foundation
import SenteiEngine
import SenteiVision

/// A rung picked from a ladder directory: its compact model file, int8 table and detector manifest at its input
/// size. What `--model DIR --level NAME` resolves to in every CLI command.
package struct LadderSelection: Sendable {
    package let directory: String
    package let ladder: LadderManifest
    package let level: LadderManifest.Level

    package var modelPath: String { (directory as NSString).appendingPathComponent(level.file) }
    package var int8TablePath: String? { level.int8Table.map { (directory as NSString).appendingPathComponent($0) } }

    /// True when `path` is a directory holding a ladder `manifest.json`.
    package static func isLadderDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(LadderManifest.fileName))
    }

    /// The rung `model`/`level` name, or nil when `model` is a plain model file (then `level` must be nil). Without
    /// `level`, a ladder gives its most accurate Pareto rung. The rung's file is hash-checked before it is used.
    package static func resolve(model: String, level: String?) throws -> LadderSelection? {
        guard isLadderDirectory(model) else {
            if let level {
                throw LadderError(.unknownLevel, file: model,
                                  "--level \(level) needs a ladder directory (with \(LadderManifest.fileName)); this is not one")
            }
            return nil
        }
        let ladder = try LadderManifest.load(directory: model)
        let chosen = try level.map { try ladder.requireLevel(named: $0, directory: model) } ?? ladder.paretoLevels[0]
        try ladder.verifyFile(of: chosen, directory: model)
        return LadderSelection(directory: model, ladder: ladder, level: chosen)
    }

    /// The detector manifest the ladder was built with, at this level's input size (and classes).
    package func detectorManifest() throws -> ModelManifest {
        guard let file = ladder.modelManifest else {
            throw LadderError(.invalidManifest, file: (directory as NSString).appendingPathComponent(LadderManifest.fileName),
                              field: "model_manifest", "is missing; detection needs the model's manifest")
        }
        return try ModelManifest.load(path: (directory as NSString).appendingPathComponent(file)).forLevel(level)
    }

    /// The rung's int8 table, unless `override` (a table path given on the command line) replaces it.
    package func quantizationTable(override: String? = nil) throws -> QuantizationTable? {
        try (override ?? int8TablePath).map { try QuantizationTable.load(path: $0) }
    }

    /// Compiles the rung; its int8 table applies unless `options` already carries one.
    package func load(options: Model.Options) throws -> Model {
        var options = options
        if options.quantization == nil { options.quantization = try quantizationTable() }
        return try Model(path: modelPath, options: options)
    }
}
