import SenteiEngine

/// A YOLOX head pruned down to the classes the user keeps (`--classes person,car`): each level's class-prediction
/// conv loses the other classes' output rows, and the concat → reshape → concat → transpose chain to the
/// [1, anchors, 5 + classes] output shrinks with it. Orthogonal to channel pruning and input scaling.
package enum HeadClassPruning {
    /// `keep`: class indices in model order (sorted, unique, each < the head's class count).
    package static func apply(_ graph: Graph, keep: [Int]) throws -> Graph {
        guard graph.outputs.count == 1 else { throw unsupported("the model has \(graph.outputs.count) outputs") }
        let output = graph.outputs[0].node
        let outShape = graph[output].shape
        guard case .transpose(let perm) = graph[output].op, perm == [0, 2, 1], outShape.count == 3, outShape[2] > 5 else {
            throw unsupported("the output is not a YOLOX [1, anchors, 5 + classes] transpose")
        }
        let width = outShape[2], classes = width - 5
        guard !keep.isEmpty, keep == Array(Set(keep)).sorted(), keep.allSatisfy({ (0..<classes).contains($0) }) else {
            throw PruneError(.invalidPlan, "kept classes \(keep) must be sorted, unique indices below \(classes)")
        }
        let newWidth = 5 + keep.count
        var g = graph
        let joined = g[output].inputs[0]
        guard case .concat(axis: 2) = g[joined].op else { throw unsupported("the transpose does not read a concat over anchors") }
        var changed: [NodeID] = [output, joined]
        for reshape in g[joined].inputs {
            guard case .reshape = g[reshape].op, g[reshape].shape.count == 3, g[reshape].shape[1] == width,
                  let levelConcat = g[reshape].inputs.first, case .concat(axis: 1) = g[levelConcat].op,
                  g[levelConcat].shape.count == 4, g[levelConcat].shape[1] == width,
                  var producer = g[levelConcat].inputs.last, g[producer].shape[1] == classes else {
                throw unsupported("level '\(g[reshape].name)' is not reshape(concat[reg, obj, cls])")
            }
            changed += [reshape, levelConcat]
            // Element-wise nodes (an unfused sigmoid) between the class conv and the concat shrink with it.
            while case .unary = g[producer].op {
                changed.append(producer)
                producer = g[producer].inputs[0]
            }
            guard case .conv(let conv) = g[producer].op, conv.outChannels == classes, conv.group == 1, !conv.hasResidual,
                  g.useCounts()[producer.index] == 1 else {
                throw unsupported("'\(g[producer].name)' is not a class-prediction conv with \(classes) outputs read once")
            }
            g[producer].op = .conv(ChannelPruner.relayout(conv, rows: keep, columns: Array(0..<conv.inChannels)))
            changed.append(producer)
        }
        for id in changed {
            switch g[id].op {
            case .transpose: g[id].shape[2] = newWidth
            case .concat(axis: 2), .reshape: g[id].shape[1] = newWidth
            default: g[id].shape[1] = g[id].shape[1] == width ? newWidth : keep.count
            }
        }
        try CompactModelVerifier.verify(g, source: "class-pruned head")
        return g
    }

    private static func unsupported(_ reason: String) -> PruneError {
        PruneError(.unsupportedExport, "class pruning supports YOLOX heads only: \(reason)")
    }
}
