import Foundation
import Testing
@testable import SenteiEngine
@testable import SenteiPrune

/// Prune → heal → prune: a deeper rung re-pruned from a shallower one lands on the deeper rung's MACs and runs.
@Suite struct IterativePruningTests {
    @Test func regrowingFromAPrunedRungReachesTheDeeperBudget() throws {
        guard let shared = sharedDirectory else { print("skipping: ../shared not found (set SENTEI_SHARED)"); return }
        let base = try PrunableModel.load(path: shared + "/models/yolox_nano.onnx", inputShapes: ["images": [1, 3, 128, 128]])
        var options = PruneOptions(macsCut: 0)
        options.importance = .l1
        options.reconstruct = false
        options.sensitivityAware = false
        let pruner = try StructuredPruner(graph: base, calibration: [], options: options)
        let shallow = try pruner.run(cut: 0.25), deep = try pruner.run(cut: 0.5)
        let grown = try IterativePruning.grow(from: shallow.graph, toMACs: deep.macsAfter, calibration: [], options: options)
        let share = Double(grown.macsAfter) / Double(deep.macsAfter)
        #expect(abs(share - 1) < 0.05, "grown \(grown.macsAfter) vs one-shot \(deep.macsAfter) MACs")
        #expect(grown.macsBefore == shallow.macsAfter)
        let out = try Model(graph: grown.graph, options: .init(threads: 1)).run([Tensor(shape: [1, 3, 128, 128], data: [Float](repeating: 114, count: 3 * 128 * 128))])
        #expect(out[0].shape == [1, 336, 85])
        // A "deeper" budget that is not below the rung's own MACs is refused.
        #expect(throws: PruneError.self) { try IterativePruning.grow(from: deep.graph, toMACs: shallow.macsAfter, calibration: [], options: options) }
    }
}
