/// A chain of max pools, each reading the one before with the same stride-1 "same" window (YOLOX's SPP after
/// `Passes.decomposeMaxPool`: three 5×5 pools for its 5, 9 and 13), run as one step: each part takes its channels
/// through every pool in turn, so the chain costs one dispatch instead of one per pool, and a part reads back only
/// what it has just written. `SENTEI_DISABLE_PASSES=pool-cascade` runs them apart.
package struct PoolCascade: Sendable, Equatable {
    /// The pools in chain order: the first reads the chain's input, each later one the pool before it.
    package let pools: [Int]
    /// The pools' kernel (square, odd); the padding is kernel / 2 on every side.
    package let kernel: Int

    static let disabled = Pipeline.disabledPasses.contains("pool-cascade")

    /// The nodes computed in another node's step, each with that node (`MemoryPlan.make(sameStep:)`).
    var carried: [(node: Int, by: Int)] { pools.dropFirst().map { ($0, pools[0]) } }

    /// The chains of a compiled graph (pools in the same lane, or outside lane regions), and the schedule with each
    /// chain's pools in a row.
    package static func plan(_ graph: Graph, schedule: LaneSchedule) -> (cascades: [PoolCascade], schedule: LaneSchedule) {
        guard !disabled else { return ([], schedule) }
        let laneOf = schedule.placeOf
        /// The kernel of a stride-1 "same" max pool with a square odd kernel on one image, else nil.
        func sameKernel(_ index: Int) -> Int? {
            let node = graph.nodes[index]
            guard case .maxPool(let pool) = node.op, pool.kernel.h == pool.kernel.w, pool.kernel.h % 2 == 1,
                  pool.stride == (1, 1), pool.dilation == (1, 1), node.shape.count == 4, node.shape[0] == 1,
                  graph[node.inputs[0]].shape == node.shape else { return nil }
            let pad = pool.kernel.h / 2
            return pool.pads == (pad, pad, pad, pad) ? pool.kernel.h : nil
        }
        var chains: [[Int]] = []
        var chainEndingAt: [Int: Int] = [:]
        for index in schedule.order {
            guard let k = sameKernel(index) else { continue }
            let input = graph.nodes[index].inputs[0].index
            if let c = chainEndingAt.removeValue(forKey: input), sameKernel(input) == k, laneOf[input] == laneOf[index] {
                chains[c].append(index)
                chainEndingAt[index] = c
            } else {
                chainEndingAt[index] = chains.count
                chains.append([index])
            }
        }
        var result = schedule
        let cascades = chains.filter { $0.count >= 2 }.map { PoolCascade(pools: $0, kernel: sameKernel($0[0])!) }
        for cascade in cascades {
            for (anchor, node) in zip(cascade.pools, cascade.pools.dropFirst()) { result = result.placing(node, after: anchor) }
        }
        return (cascades, result)
    }
}
