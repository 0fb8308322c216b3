import SenteiEngine

/// How much of a detector's output each node feeds: the fraction of the output's rows (anchors) whose values depend
/// on the node. A dense detector concatenates its per-stride maps along the anchor axis, so a node in the stride-8
/// head feeds the 52×52 of 3549 anchors (0.76 at 416 px), one in the stride-32 head 0.05, and the backbone all of them.
///
/// Computed backwards from the outputs over segments: a concat along a non-channel axis splits its segment among its
/// inputs by their extent on that axis; every other op (convs, channel concats, reshapes, element-wise ops) passes its
/// segments on whole. A node's share is the total weight of the segments it reaches, so two branches feeding the same
/// anchors (a head's class and box branches) count once.
package enum OutputShare {
    /// Per node: the fraction of output rows that depend on it (0 for nodes no output reads).
    package static func perNode(_ graph: Graph) -> [Double] {
        // Segment → (parent segment, weight). Segment 0 is the whole output.
        var weights: [Double] = [1]
        var parent: [Int] = [-1]
        var reaches = [Set<Int>](repeating: [], count: graph.nodes.count)
        for output in graph.outputs { reaches[output.node.index].insert(0) }
        for index in graph.nodes.indices.reversed() {
            let node = graph.nodes[index]
            guard !reaches[index].isEmpty else { continue }
            if case .concat(let axis) = node.op, !(node.shape.count == 4 && axis == 1), node.inputs.count > 1 {
                let axis = axis < 0 ? axis + node.shape.count : axis
                let total = Double(max(node.shape[axis], 1))
                for input in node.inputs {
                    let extent = Double(graph[input].shape.count > axis ? graph[input].shape[axis] : 0)
                    for segment in reaches[index] {
                        weights.append(weights[segment] * extent / total)
                        parent.append(segment)
                        reaches[input.index].insert(weights.count - 1)
                    }
                }
            } else {
                for input in node.inputs { reaches[input.index].formUnion(reaches[index]) }
            }
        }
        return reaches.map { segments in
            // A segment whose ancestor is also reached is already counted by that ancestor.
            var share = 0.0
            for segment in segments {
                var ancestor = parent[segment], covered = false
                while ancestor >= 0 {
                    if segments.contains(ancestor) { covered = true; break }
                    ancestor = parent[ancestor]
                }
                if !covered { share += weights[segment] }
            }
            return min(share, 1)
        }
    }

    /// The anchor ranges of the first output's per-stride maps, in output order: found by walking back from the
    /// output through single-input ops (transpose, reshape, activations) to the concat that joins the maps along a
    /// non-channel axis. nil when there is no such concat or its extents do not add up to the output's anchor count
    /// (axis 1 of a [1, anchors, values] output).
    package static func anchorSegments(_ graph: Graph) -> [Range<Int>]? {
        guard let output = graph.outputs.first, graph[output.node].shape.count == 3 else { return nil }
        let anchors = graph[output.node].shape[1]
        var id = output.node
        for _ in 0..<graph.nodes.count {
            let node = graph[id]
            if case .concat(let axis) = node.op, node.inputs.count > 1 {
                let extents = node.inputs.map { graph[$0].shape.count > axis ? graph[$0].shape[axis] : 0 }
                guard extents.reduce(0, +) == anchors, extents.allSatisfy({ $0 > 0 }) else { return nil }
                var start = 0
                return extents.map { extent in
                    defer { start += extent }
                    return start..<(start + extent)
                }
            }
            let live = node.inputs.filter { input in
                if case .constant = graph[input].op { return false }
                return true
            }
            guard live.count == 1 else { return nil }
            id = live[0]
        }
        return nil
    }

    /// Per group: the largest share of its member nodes (a group feeds whatever any of its channels feeds).
    package static func perGroup(_ graph: Graph, _ groups: ChannelGroups) -> [Double] {
        let shares = perNode(graph)
        return groups.groups.map { group in group.members.map { shares[$0.node.index] }.max() ?? 0 }
    }
}
