/// Two int8 1×1 convs that read the same tensor, run as one kernel call: their weights, scales and biases
/// concatenated, so the input is quantized and packed once, and the second's output rows go to its own buffer
/// (`sk_i8_conv.output2`, with its own activation). YOLOX-Nano has eleven such pairs: each CSP block's two entry convs
/// and each head level's box and objectness convs. The pair runs at the first conv's place in the schedule, the
/// second moved up next to it (its only input is ready there). `SENTEI_DISABLE_PASSES=sibling-fusion` runs them apart.
package struct SiblingFusion: Sendable, Equatable {
    package let first: Int
    package let second: Int

    static let disabled = Pipeline.disabledPasses.contains("sibling-fusion")

    /// The node computed in another node's step, with that node (`MemoryPlan.make(sameStep:)`).
    var carried: [(node: Int, by: Int)] { [(second, first)] }

    /// The pairs for a compiled graph, each conv in at most one, and the schedule with every pair's second conv moved
    /// right after its first. Only int8 convs of the same activation width pair (fp32 siblings have nothing to share:
    /// the fp32 GEMM reads its input in place); neither may add a residual, feed a band fusion (`excluding`), or be
    /// a graph output, and both must run in the same lane (or outside lane regions).
    package static func plan(_ graph: Graph, schedule: LaneSchedule, int8: Int8Plan?,
                             excluding: Set<Int>) -> (pairs: [SiblingFusion], schedule: LaneSchedule) {
        guard !disabled, let int8, int8.isa != nil else { return ([], schedule) }
        let outputs = Set(graph.outputs.map(\.node.index))
        let laneOf = schedule.placeOf

        func pairable(_ index: Int) -> Bool {
            guard int8.layers[index] != nil, case .conv(let conv) = graph.nodes[index].op else { return false }
            return conv.kernel == (1, 1) && conv.stride == (1, 1) && conv.dilation == (1, 1) && conv.pads == (0, 0, 0, 0)
                && !conv.hasResidual && !outputs.contains(index) && !excluding.contains(index)
        }
        var readers = [Int: [Int]]()
        for index in schedule.order where pairable(index) {
            readers[graph.nodes[index].inputs[0].index, default: []].append(index)
        }
        var pairs: [SiblingFusion] = []
        for (_, convs) in readers.sorted(by: { $0.key < $1.key }) {
            var rest = convs  // in schedule order
            while rest.count >= 2 {
                let a = rest.removeFirst()
                guard let b = rest.firstIndex(where: { compatible(a, $0, int8: int8, laneOf: laneOf) }) else { continue }
                pairs.append(SiblingFusion(first: a, second: rest.remove(at: b)))
            }
        }
        return (pairs, pairs.reduce(schedule) { $0.placing($1.second, after: $1.first) })
    }

    /// Same activation quantization (the input's range at the same width) and the same lane.
    static func compatible(_ a: Int, _ b: Int, int8: Int8Plan, laneOf: [Int: LaneSchedule.Place]) -> Bool {
        guard let x = int8.layers[a], let y = int8.layers[b] else { return false }
        return x.inputBits == y.inputBits && x.inputInvScale == y.inputInvScale && x.zeroPoint == y.zeroPoint
            && laneOf[a] == laneOf[b]
    }
}
