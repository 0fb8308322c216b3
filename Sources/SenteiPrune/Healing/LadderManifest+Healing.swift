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
}

/// An optimised graph from a rung file: a compact `.sntm` model (shapes fixed) or an ONNX file at its own shapes.
package func loadRungGraph(path: String) throws -> Graph {
    guard let data = FileManager.default.contents(atPath: path) else { throw PruneError(.io, "\(path): cannot read") }
    let bytes = [UInt8](data)
    if CompactModel.hasMagic(bytes) { return try CompactModel.decode(bytes, source: (path as NSString).lastPathComponent) }
    return try PrunableModel.load(path: path, inputShapes: [:])
}
