import SenteiEngine

/// Engine graphs have static shapes, so a pruned variant is built once at the calibration size and then re-derived
/// at every other input size: the same plan is applied to the base model imported at that size (same nodes, same
/// groups; only spatial dims differ) and every conv and channel affine takes the refit weights of the calibrated one.
package enum VariantScaling {
    package static func rescale(pruned: Graph, plan: PrunePlan, base: Graph, baseAtSize: Graph) throws -> Graph {
        guard base.nodes.count == baseAtSize.nodes.count, pruned.nodes.count == base.nodes.count else {
            throw PruneError(.invalidPlan, "the model imports to \(base.nodes.count) nodes at one size and \(baseAtSize.nodes.count) at another; cannot rescale a pruned variant")
        }
        let groups = ChannelGroups(baseAtSize)
        let reference = ChannelGroups(base)
        guard groups.groups.map(\.size) == reference.groups.map(\.size) else {
            throw PruneError(.invalidPlan, "the channel groups differ between input sizes; cannot rescale a pruned variant")
        }
        var scaled = try ChannelPruner.apply(baseAtSize, groups, plan)
        for index in scaled.nodes.indices {
            let name = scaled.nodes[index].name
            switch (scaled.nodes[index].op, pruned.nodes[index].op) {
            case (.conv(var target), .conv(let source)):
                guard target.weights.count == source.weights.count, target.bias?.count == source.bias?.count,
                      target.outChannels == source.outChannels, target.inChannels == source.inChannels else {
                    throw PruneError(.invalidPlan, "node \(name): the rescaled conv does not match the calibrated one")
                }
                target.weights = source.weights
                target.bias = source.bias
                scaled.nodes[index].op = .conv(target)
            case (.channelAffine(let scale, _), .channelAffine(let sourceScale, let sourceShift)):
                guard scale.count == sourceScale.count else {
                    throw PruneError(.invalidPlan, "node \(name): the rescaled channel affine does not match the calibrated one")
                }
                scaled.nodes[index].op = .channelAffine(scale: sourceScale, shift: sourceShift)
            default:
                guard scaled.nodes[index].op.kindName == pruned.nodes[index].op.kindName else {
                    throw PruneError(.invalidPlan, "node \(name) is \(scaled.nodes[index].op.kindName) at one size and \(pruned.nodes[index].op.kindName) at another")
                }
            }
        }
        return scaled
    }

    /// Weights and biases of convs and channel affines: the model's parameter count.
    package static func parameters(_ graph: Graph) -> Int {
        graph.nodes.reduce(0) { total, node in
            switch node.op {
            case .conv(let conv): return total + conv.weights.count + (conv.bias?.count ?? 0)
            case .channelAffine(let scale, let shift): return total + scale.count + shift.count
            default: return total
            }
        }
    }
}
