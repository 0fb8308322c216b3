/// Distillation trains on logits, but the optimised graph has the head's sigmoids fused into its last convs. This
/// rewrite removes every sigmoid on the path from a graph output back through pure data movement (concat, reshape,
/// transpose, slice) to the producing conv or unary node, so the output carries logits where it carried
/// probabilities. Node indices are unchanged, so parameters map one-to-one to the inference graph.
package enum LogitGraph {
    /// The rewritten graph and how many sigmoids were removed.
    package static func exposeLogits(_ graph: Graph) -> (graph: Graph, rewritten: Int) {
        var graph = graph
        var rewritten = 0
        var stack = graph.outputs.map(\.node)
        var seen = Set<Int>()
        while let id = stack.popLast() {
            guard seen.insert(id.index).inserted else { continue }
            switch graph[id].op {
            case .concat, .reshape, .transpose, .slice:
                stack.append(contentsOf: graph[id].inputs)
            case .conv(var conv) where conv.activation == .sigmoid && !conv.hasResidual:
                conv.activation = .none
                graph[id].op = .conv(conv)
                rewritten += 1
            case .unary(.sigmoid):
                graph[id].op = .unary(.identity)
                rewritten += 1
            default:
                break
            }
        }
        return (graph, rewritten)
    }

    /// A YOLOX-style output: [1, anchors, 4 box + 1 objectness + classes].
    package static func isYOLOXLayout(_ shape: [Int]) -> Bool {
        shape.count == 3 && shape[0] == 1 && shape[2] > 5
    }
}
