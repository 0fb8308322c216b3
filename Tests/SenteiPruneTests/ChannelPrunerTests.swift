import Testing
@testable import SenteiEngine
@testable import SenteiPrune

@Suite struct ChannelPrunerTests {
    @Test func groupsOfTheCouplingGraph() {
        let graph = couplingGraph()
        let groups = ChannelGroups(graph)
        func group(of name: String) -> ChannelGroup {
            let index = graph.nodes.firstIndex { $0.name == name }!
            return groups.groups[groups.groupOfChannel[index]![0]]
        }
        // a, dw and b_res are one group (depthwise in = out, residual ties b to a).
        #expect(Set(group(of: "a").members.map { graph[$0.node].name }).isSuperset(of: ["a", "dw", "b_res"]))
        #expect(group(of: "a").producers.count == 2)
        // c and e are tied by the element-wise add.
        #expect(group(of: "c").members.contains { graph[$0.node].name == "e" })
        // The stem is protected, the heads' outputs are frozen.
        #expect(!group(of: "stem").isPrunable)
        #expect(!group(of: "head").isPrunable && !group(of: "head2").isPrunable)
        // d's channels split by the slice: 8 channels the slice drops, 24 it reads.
        let dIndex = graph.nodes.firstIndex { $0.name == "d" }!
        #expect(Set(groups.groupOfChannel[dIndex]!).count == 2)
    }

    @Test func everyChannelIsInExactlyOneGroup() {
        let graph = couplingGraph()
        assertConsistent(graph, ChannelGroups(graph))
    }

    /// The pruned graph equals the unpruned graph with the removed channels' producer rows and biases zeroed
    /// (silu(0) = 0 and max-pooling an all-zero plane gives 0, so the removed channels carry exact zeros there).
    @Test(arguments: [UInt64(1), 2, 3])
    func prunedGraphMatchesMaskedReference(seed: UInt64) throws {
        let graph = couplingGraph(seed: seed)
        let groups = ChannelGroups(graph)
        var noise = Noise(state: seed &+ 100)
        var plan = PrunePlan()
        for group in groups.prunable {
            let keep = (0..<group.size).filter { _ in noise.next() > -0.3 }
            plan.kept[group.id] = keep.isEmpty ? [0] : keep
        }
        #expect(!plan.kept.isEmpty)
        let pruned = try ChannelPruner.apply(graph, groups, plan)
        #expect(ChannelPruner.macs(pruned) < ChannelPruner.macs(graph))

        var masked = graph
        let kept = try ChannelPruner.keptChannels(graph, groups, plan)
        for (index, node) in graph.nodes.enumerated() {
            guard case .conv(var conv) = node.op, let keep = kept[index], keep.count < conv.outChannels else { continue }
            let perRow = conv.weights.count / conv.outChannels
            for r in Set(0..<conv.outChannels).subtracting(keep) {
                for i in 0..<perRow { conv.weights[r * perRow + i] = 0 }
                conv.bias![r] = 0
            }
            masked.nodes[index].op = .conv(conv)
        }
        let input = Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2))
        let expected = try run(masked, input, reference: true)
        for reference in [true, false] {
            let actual = try run(pruned, input, reference: reference)
            for (a, e) in zip(actual, expected) {
                #expect(a.shape == e.shape)
                #expect(maxAbsDifference(a.data, e.data) < 1e-4)
            }
        }
        // And the unmasked original differs (the test would catch a no-op pruner).
        let original = try run(graph, input, reference: true)
        #expect(maxAbsDifference(original[0].data, expected[0].data) > 1e-3)
    }

    @Test func invalidPlansAreRefused() throws {
        let graph = couplingGraph()
        let groups = ChannelGroups(graph)
        let frozen = groups.groups.first { !$0.isPrunable }!
        let prunable = groups.prunable[0]
        #expect(throws: PruneError.self) { try ChannelPruner.apply(graph, groups, PrunePlan(kept: [frozen.id: [0]])) }
        #expect(throws: PruneError.self) { try ChannelPruner.apply(graph, groups, PrunePlan(kept: [prunable.id: []])) }
        #expect(throws: PruneError.self) { try ChannelPruner.apply(graph, groups, PrunePlan(kept: [prunable.id: [prunable.size]])) }
        #expect(throws: PruneError.self) { try ChannelPruner.apply(graph, groups, PrunePlan(kept: [999: [0]])) }
    }
}

/// Every (node, channel) of every NCHW node belongs to exactly one group, each member lists `size` distinct channels,
/// and every prunable group has a dense conv producing it.
func assertConsistent(_ graph: Graph, _ groups: ChannelGroups) {
    var seen = Set<[Int]>()
    for group in groups.groups {
        for member in group.members {
            #expect(member.channels.count == group.size)
            for c in member.channels {
                #expect(c >= 0 && c < graph[member.node].shape[1])
                #expect(seen.insert([member.node.index, c]).inserted)
            }
        }
        if group.isPrunable { #expect(!group.producers.isEmpty) }
    }
    let total = graph.nodes.reduce(0) { $0 + ($1.shape.count == 4 ? $1.shape[1] : 0) }
    #expect(seen.count == total)
}
