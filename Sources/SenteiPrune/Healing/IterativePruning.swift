import SenteiEngine

/// Prune → heal → prune: a deeper rung grown from the previous healed one instead of cut from the unpruned model in
/// one shot. The healed graph is pruned again, by the MACs fraction that brings it to the deeper rung's budget.
package enum IterativePruning {
    /// `healed` pruned down to `targetMACs` (as `ChannelPruner.macs` counts them), calibrated on `calibration`
    /// (letterboxed frames at the graph's input size). `options.macsCut` is replaced by the relative cut.
    package static func grow(from healed: Graph, toMACs targetMACs: Int, calibration: [Tensor], options: PruneOptions) throws -> PruneResult {
        let current = ChannelPruner.macs(healed)
        guard targetMACs > 0, targetMACs < current else {
            throw PruneError(.invalidPlan, "iterative pruning: the deeper rung's \(targetMACs) MACs must be below the healed rung's \(current)")
        }
        var options = options
        options.macsCut = 1 - Double(targetMACs) / Double(current)
        let pruner = try StructuredPruner(graph: healed, calibration: calibration, options: options)
        return try pruner.run()
    }

    /// A level's cost fields (MACs, parameters, latency at 1 and 2 threads) re-measured for a new graph.
    package static func remeasure(_ level: inout LadderManifest.Level, graph: Graph, warmup: Int = 3, runs: Int = 15) throws {
        let single = Model(graph: graph, options: .init(threads: 1))
        let one = try LatencyMeter.measure(single, warmup: warmup, runs: runs)
        let two = try LatencyMeter.measure(Model(graph: graph, options: .init(threads: 2)), warmup: warmup, runs: runs)
        level.macs = single.totalMACs
        level.params = VariantScaling.parameters(graph)
        level.latencyMs = .init(threads1: one.p50, threads2: two.p50)
        level.latencyMinMs = .init(threads1: one.min, threads2: two.min)
    }
}
