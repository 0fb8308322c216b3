import Foundation
import SenteiEngine
import SenteiVision

extension LadderManifest {
    /// The unpruned fp32 rung that scores 1 against itself: what every level's `agreement` is measured against.
    package var agreementReference: Level? {
        levels.first { $0.precision == .fp32 && $0.cut == 0 && $0.agreement >= 1 - 1e-9 }
    }

    /// The unpruned fp32 rung at `size`: the teacher a rung of that size is healed from.
    package func unprunedLevel(size: Int) -> Level? {
        levels.first { $0.precision == .fp32 && $0.cut == 0 && $0.inputSize == size }
    }

    /// Records a healed rung written to `file` (relative to the ladder directory): its hash, what healing spent, the
    /// agreement it reached on held-out frames; clears a withdrawal and re-marks the Pareto front.
    package mutating func admitHealed(levelAt index: Int, file: String, bytes: [UInt8], healing: Healing,
                                      agreement: EvaluationResult) {
        levels[index].file = file
        levels[index].sha256 = SHA256.hex(Data(bytes))
        levels[index].healing = healing
        levels[index].agreement = min(max(agreement.map50_95, 0), 1)
        levels[index].agreementMAP50 = min(max(agreement.map50, 0), 1)
        levels[index].withdrawn = nil
        markParetoFront()
    }

    /// "s416-c25-fp32" → "s416-c25-int8" (another name gets "-int8" appended).
    package static func int8Name(ofFP32 name: String) -> String {
        name.hasSuffix("-fp32") ? String(name.dropLast(5)) + "-int8" : name + "-int8"
    }

    /// Records the int8 version of the healed fp32 rung at `fp32Index` (`sentei heal --int8`): its weights `file`
    /// (the healed fp32 file, or quantization-aware weights) and `table`, what healing spent in all, its held-out
    /// agreement and latency. The ladder's int8 level of the same input size, cut and classes is updated in place;
    /// without one, a level named `name` is appended (indices of the other levels stay valid). Re-marks the Pareto front.
    package mutating func admitInt8(fp32LevelAt fp32Index: Int, name: String, file: String, bytes: [UInt8], table: String,
                                    healing: Healing, agreement: EvaluationResult,
                                    latency: (threads1: LatencyMeasurement, threads2: LatencyMeasurement)) {
        let fp32 = levels[fp32Index]
        var level = fp32
        let existing = levels.firstIndex {
            $0.precision == .int8 && $0.inputSize == fp32.inputSize && $0.cut == fp32.cut && $0.classes == fp32.classes
        }
        if let existing { level = levels[existing] } else { level.name = name }
        level.precision = .int8
        level.file = file
        level.sha256 = SHA256.hex(Data(bytes))
        level.int8Table = table
        level.healing = healing
        level.agreement = min(max(agreement.map50_95, 0), 1)
        level.agreementMAP50 = min(max(agreement.map50, 0), 1)
        level.latencyMs = .init(threads1: latency.threads1.p50, threads2: latency.threads2.p50)
        level.latencyMinMs = .init(threads1: latency.threads1.min, threads2: latency.threads2.min)
        level.withdrawn = nil
        if let existing { levels[existing] = level } else { levels.append(level) }
        markParetoFront()
    }
}

/// An optimised graph from a rung file: a compact `.sntm` model (shapes fixed) or an ONNX file at its own shapes.
package func loadRungGraph(path: String) throws -> Graph {
    guard let data = FileManager.default.contents(atPath: path) else { throw PruneError(.io, "\(path): cannot read") }
    let bytes = [UInt8](data)
    if CompactModel.hasMagic(bytes) { return try CompactModel.decode(bytes, source: (path as NSString).lastPathComponent) }
    return try PrunableModel.load(path: path, inputShapes: [:])
}
