import SenteiEngine

/// Which channels of which groups survive: group id → kept positions (into the group's channel order).
/// Groups not listed keep all their channels.
package struct PrunePlan: Sendable, Equatable {
    package var kept: [Int: [Int]] = [:]

    package init(kept: [Int: [Int]] = [:]) { self.kept = kept }

    /// Channels removed from `group` (0 when the group is untouched).
    package func removedCount(_ group: ChannelGroup) -> Int {
        guard let keep = kept[group.id] else { return 0 }
        return group.size - keep.count
    }
}

/// Physically removes channels: producers lose output rows (weights and bias), dense consumers lose input columns,
/// depthwise convs, concats, slices, pools, resizes and element-wise nodes shrink along axis 1. Nothing is masked.
package enum ChannelPruner {
    /// Per node: the old output channels that survive, in order (nil for nodes without a channel axis).
    package static func keptChannels(_ graph: Graph, _ groups: ChannelGroups, _ plan: PrunePlan) throws -> [[Int]?] {
        var removed: [Int: Set<Int>] = [:]
        for (gid, keep) in plan.kept {
            guard gid >= 0, gid < groups.groups.count else {
                throw PruneError(.invalidPlan, "the plan names group \(gid); the graph has \(groups.groups.count) groups")
            }
            let group = groups.groups[gid]
            guard group.isPrunable || keep.count == group.size else {
                throw PruneError(.invalidPlan, "group \(gid) (\(graph[group.members[0].node].name)) is frozen: \(group.frozenReason ?? "")")
            }
            guard !keep.isEmpty, keep.allSatisfy({ $0 >= 0 && $0 < group.size }), Set(keep).count == keep.count else {
                throw PruneError(.invalidPlan, "group \(gid) (\(group.size) channels) cannot keep positions \(keep)")
            }
            removed[gid] = Set(0..<group.size).subtracting(keep)
        }
        return graph.nodes.indices.map { index in
            guard let gids = groups.groupOfChannel[index], let positions = groups.positionInGroup[index] else { return nil }
            return gids.indices.filter { c in !(removed[gids[c]]?.contains(positions[c]) ?? false) }
        }
    }

    /// The pruned graph. Shapes of every downstream node are updated; graph outputs keep their shapes (their
    /// channels are frozen).
    package static func apply(_ graph: Graph, _ groups: ChannelGroups, _ plan: PrunePlan) throws -> Graph {
        let kept = try keptChannels(graph, groups, plan)
        var result = graph
        for index in graph.nodes.indices {
            let node = graph.nodes[index]
            guard let keep = kept[index], keep.count != node.shape[1] || inputsChanged(node, graph, kept) else { continue }
            var out = node
            out.shape[1] = keep.count
            switch node.op {
            case .conv(var conv):
                let inKeep = kept[node.inputs[0].index] ?? Array(0..<conv.inChannels)
                conv = relayout(conv, rows: keep, columns: inKeep)
                out.op = .conv(conv)
            case .channelAffine(let scale, let shift):
                out.op = .channelAffine(scale: keep.map { scale[$0] }, shift: keep.map { shift[$0] })
            case .slice(var starts, let steps):
                let inKeep = kept[node.inputs[0].index]!
                starts[1] = inKeep.filter { $0 < starts[1] }.count
                out.op = .slice(starts: starts, steps: steps)
            case .resizeNearest(var sourceIndex):
                sourceIndex[1] = Array(0..<keep.count)
                out.op = .resizeNearest(sourceIndex: sourceIndex)
            case .unary, .binary, .concat, .maxPool:
                break
            case .input, .constant, .reshape, .transpose, .softmax, .matMul, .gather:
                // Frozen by ChannelGroups: these never lose channels.
                preconditionFailure("frozen node '\(node.name)' lost channels")
            }
            result.nodes[index] = out
        }
        return result
    }

    static func inputsChanged(_ node: Node, _ graph: Graph, _ kept: [[Int]?]) -> Bool {
        node.inputs.contains { input in
            guard let keep = kept[input.index] else { return false }
            return keep.count != graph[input].shape[1]
        }
    }

    /// Keeps output rows `rows` and (for dense convs) input columns `columns` of a conv's weights and bias.
    package static func relayout(_ conv: Conv, rows: [Int], columns: [Int]) -> Conv {
        var conv = conv
        let window = conv.kernel.h * conv.kernel.w
        if conv.isDepthwise {
            conv.weights = rows.flatMap { conv.weights[($0 * window)..<(($0 + 1) * window)] }
            conv.group = rows.count
            conv.inChannels = rows.count
        } else {
            let perRow = conv.inChannels * window
            var weights: [Float] = []
            weights.reserveCapacity(rows.count * columns.count * window)
            for r in rows {
                for c in columns { weights.append(contentsOf: conv.weights[(r * perRow + c * window)..<(r * perRow + (c + 1) * window)]) }
            }
            conv.weights = weights
            conv.inChannels = columns.count
        }
        conv.outChannels = rows.count
        if let bias = conv.bias { conv.bias = rows.map { bias[$0] } }
        return conv
    }

    /// Multiply-accumulates of the graph, counted as `Model.totalMACs` does (convolutions only).
    package static func macs(_ graph: Graph) -> Int {
        graph.nodes.reduce(0) { total, node in
            if case .conv(let conv) = node.op { return total + node.elementCount * conv.macsPerOutput }
            return total
        }
    }
}
