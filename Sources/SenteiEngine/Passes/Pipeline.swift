import Foundation

/// The optimisation pipeline: named passes in order, each `(Graph) -> Graph`. `SENTEI_DISABLE_PASSES=a,b` switches
/// passes off by name for bisecting a parity failure.
package enum Pipeline {
    package static let passes: [(name: String, run: @Sendable (Graph) -> Graph)] = [
        // BatchNorm folds into the conv before it, before activations are fused past it.
        ("fold-channel-affine", Passes.foldChannelAffineIntoConv),
        // x·sigmoid(x) → silu(x), so the next pass sees one activation node.
        ("fuse-silu", Passes.fuseSiLU),
        // Activation into the conv's epilogue.
        ("fuse-conv-activation", Passes.fuseConvActivation),
        // Residual Add after the activation into the same epilogue (YOLOX/YOLOv8 bottlenecks).
        ("fuse-residual-add", Passes.fuseResidualAdd),
        // SPP's 9×9 and 13×13 stride-1 max pools as chains of 5×5 ones: 2·25 or 3·25 taps instead of 81 or 169.
        ("decompose-max-pool", Passes.decomposeMaxPool),
        // …whose shared prefixes are then computed once (SPP becomes SPPF: three 5×5 pools instead of six).
        ("merge-duplicate-pools", Passes.mergeDuplicatePools),
    ]

    /// Pass names switched off by `SENTEI_DISABLE_PASSES` (also honoured by run-time lowerings such as
    /// `space-to-depth-conv`, `Passes.foldSpaceToDepthIntoConv`).
    package static var disabledPasses: Set<String> {
        Set((ProcessInfo.processInfo.environment["SENTEI_DISABLE_PASSES"] ?? "").split(separator: ",").map(String.init))
    }

    package static func optimize(_ graph: Graph) -> Graph {
        let disabled = disabledPasses
        var graph = graph
        // Dead-node elimination runs after every pass: fusions leave unused nodes whose reads would otherwise
        // block the next fusion's single-reader checks.
        graph = Passes.eliminateDeadNodes(graph)
        for pass in passes where !disabled.contains(pass.name) {
            graph = Passes.eliminateDeadNodes(pass.run(graph))
        }
        return graph
    }
}

package enum Passes {
    static func isGraphOutput(_ graph: Graph, _ id: NodeID) -> Bool {
        graph.outputs.contains { $0.node == id }
    }

    /// Points every reader of `old` (and graph outputs) at `new`.
    static func redirect(_ graph: inout Graph, from old: NodeID, to new: NodeID) {
        for index in graph.nodes.indices {
            for (slot, input) in graph.nodes[index].inputs.enumerated() where input == old {
                graph.nodes[index].inputs[slot] = new
            }
        }
        for index in graph.outputs.indices where graph.outputs[index].node == old {
            graph.outputs[index].node = new
        }
    }

    package static func foldChannelAffineIntoConv(_ graph: Graph) -> Graph {
        var graph = graph
        var uses = graph.useCounts()
        for index in graph.nodes.indices {
            guard case .channelAffine(let scale, let shift) = graph.nodes[index].op else { continue }
            let source = graph.nodes[index].inputs[0]
            guard case .conv(var conv) = graph[source].op, uses[source.index] == 1,
                  conv.activation == .none, !conv.hasResidual, scale.count == conv.outChannels else { continue }
            let perOutput = conv.weights.count / conv.outChannels
            var bias = conv.bias ?? [Float](repeating: 0, count: conv.outChannels)
            for co in 0..<conv.outChannels {
                for i in 0..<perOutput { conv.weights[co * perOutput + i] *= scale[co] }
                bias[co] = bias[co] * scale[co] + shift[co]
            }
            conv.bias = bias
            graph[source].op = .conv(conv)
            redirect(&graph, from: NodeID(index), to: source)
            uses = graph.useCounts()
        }
        return graph
    }

    package static func fuseSiLU(_ graph: Graph) -> Graph {
        var graph = graph
        let uses = graph.useCounts()
        for index in graph.nodes.indices {
            guard case .binary(.mul) = graph.nodes[index].op else { continue }
            let (a, b) = (graph.nodes[index].inputs[0], graph.nodes[index].inputs[1])
            for (x, gate) in [(a, b), (b, a)] {
                guard case .unary(.sigmoid) = graph[gate].op, graph[gate].inputs[0] == x, uses[gate.index] == 1,
                      graph[x].shape == graph.nodes[index].shape else { continue }
                graph.nodes[index].op = .unary(.silu)
                graph.nodes[index].inputs = [x]
                break
            }
        }
        return graph
    }

    package static func fuseConvActivation(_ graph: Graph) -> Graph {
        var graph = graph
        var uses = graph.useCounts()
        for index in graph.nodes.indices {
            guard case .unary(let kind) = graph.nodes[index].op else { continue }
            let activation: Activation
            switch kind {
            case .relu: activation = .relu
            case .sigmoid: activation = .sigmoid
            case .silu: activation = .silu
            case .identity: activation = .none
            }
            let source = graph.nodes[index].inputs[0]
            guard case .conv(var conv) = graph[source].op, uses[source.index] == 1, !isGraphOutput(graph, source),
                  conv.activation == .none, !conv.hasResidual else { continue }
            conv.activation = activation
            graph[source].op = .conv(conv)
            redirect(&graph, from: NodeID(index), to: source)
            uses = graph.useCounts()
        }
        return graph
    }

    package static func fuseResidualAdd(_ graph: Graph) -> Graph {
        var graph = graph
        var uses = graph.useCounts()
        for index in graph.nodes.indices {
            guard case .binary(.add) = graph.nodes[index].op else { continue }
            let (a, b) = (graph.nodes[index].inputs[0], graph.nodes[index].inputs[1])
            for (convID, other) in [(a, b), (b, a)] {
                // The residual must be computed before the conv to keep node order topological.
                guard case .conv(var conv) = graph[convID].op, conv.group == 1, uses[convID.index] == 1,
                      !isGraphOutput(graph, convID), !conv.hasResidual, other < convID, graph[other].shape == graph[convID].shape else { continue }
                if case .constant = graph[other].op { continue }
                conv.hasResidual = true
                graph[convID].op = .conv(conv)
                graph[convID].inputs.append(other)
                redirect(&graph, from: NodeID(index), to: convID)
                uses = graph.useCounts()
                break
            }
        }
        return graph
    }

    /// A stride-1, dilation-1 max pool of odd size k = 4n+1 with "same" padding equals n chained 5×5 ones: each output's
    /// window (clipped to the image) is the union of the chained windows, and max is associative.
    package static func decomposeMaxPool(_ graph: Graph) -> Graph {
        var result = Graph()
        var remap = [NodeID](repeating: NodeID(0), count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            var copy = node
            copy.inputs = node.inputs.map { remap[$0.index] }
            if case .maxPool(let pool) = node.op, pool.stride == (1, 1), pool.dilation == (1, 1), pool.kernel.h == pool.kernel.w,
               pool.kernel.h > 5, (pool.kernel.h - 1) % 4 == 0,
               pool.pads == (pool.kernel.h / 2, pool.kernel.h / 2, pool.kernel.h / 2, pool.kernel.h / 2) {
                let small = Pool(kernel: (5, 5), stride: (1, 1), dilation: (1, 1), pads: (2, 2, 2, 2))
                var current = copy.inputs[0]
                for step in 0..<((pool.kernel.h - 1) / 4) {
                    current = result.add(.maxPool(small), [current], shape: node.shape, name: step == 0 ? node.name + ":5x5" : node.name + ":5x5.\(step)")
                }
                result.nodes[current.index].name = node.name
                remap[index] = current
            } else {
                remap[index] = result.add(copy.op, copy.inputs, shape: copy.shape, name: copy.name)
            }
        }
        result.inputs = graph.inputs.map { remap[$0.index] }
        result.outputs = graph.outputs.map { ($0.name, remap[$0.node.index]) }
        return result
    }

    /// transpose(concat(x₁ … xₙ, axis k), perm) = concat(transpose(x₁, perm) … transpose(xₙ, perm), axis perm⁻¹(k)),
    /// when the concat has no other reader. Pure data movement: exact. Pays when the new concat is along its outermost
    /// non-unit axis, where the memory plan lets each transpose write into its slice in place (YOLOX's output: one
    /// copy of the 3549×85 predictions instead of two). A kernel-level lowering, run in `Model.init(graph:)` only:
    /// pruning and training read the head in its ONNX form. `SENTEI_DISABLE_PASSES=transpose-into-concat` skips it.
    package static func transposeIntoConcat(_ graph: Graph) -> Graph {
        if Pipeline.disabledPasses.contains("transpose-into-concat") { return graph }
        let uses = graph.useCounts()
        var result = Graph()
        var remap = [NodeID](repeating: NodeID(0), count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            let inputs = node.inputs.map { remap[$0.index] }
            guard case .transpose(let perm) = node.op, let source = node.inputs.first,
                  case .concat(let axis) = graph[source].op, uses[source.index] == 1, !isGraphOutput(graph, source),
                  let newAxis = perm.firstIndex(of: axis),
                  node.shape[..<newAxis].allSatisfy({ $0 == 1 })
            else {
                remap[index] = result.add(node.op, inputs, shape: node.shape, name: node.name)
                continue
            }
            let parts = graph[source].inputs.map { part in
                result.add(.transpose(perm: perm), [remap[part.index]], shape: perm.map { graph[part].shape[$0] },
                           name: node.name + ":" + graph[part].name)
            }
            remap[index] = result.add(.concat(axis: newAxis), parts, shape: node.shape, name: node.name)
        }
        result.inputs = graph.inputs.map { remap[$0.index] }
        result.outputs = graph.outputs.map { ($0.name, remap[$0.node.index]) }
        return eliminateDeadNodes(result)
    }

    /// Max pools with the same input and the same window are one value: readers of later copies use the first.
    package static func mergeDuplicatePools(_ graph: Graph) -> Graph {
        var graph = graph
        var seen: [String: NodeID] = [:]
        for index in graph.nodes.indices {
            guard case .maxPool(let p) = graph.nodes[index].op else { continue }
            let key = "\(graph.nodes[index].inputs[0].index):\(p.kernel):\(p.stride):\(p.dilation):\(p.pads)"
            if let first = seen[key] {
                redirect(&graph, from: NodeID(index), to: first)
            } else {
                seen[key] = NodeID(index)
            }
        }
        return graph
    }

    /// Keeps only nodes the outputs depend on (plus all graph inputs), renumbered in the same order.
    package static func eliminateDeadNodes(_ graph: Graph) -> Graph {
        var live = [Bool](repeating: false, count: graph.nodes.count)
        var stack = graph.outputs.map(\.node) + graph.inputs
        while let id = stack.popLast() {
            guard !live[id.index] else { continue }
            live[id.index] = true
            stack.append(contentsOf: graph[id].inputs)
        }
        var remap = [Int](repeating: -1, count: graph.nodes.count)
        var result = Graph()
        for (index, node) in graph.nodes.enumerated() where live[index] {
            remap[index] = result.nodes.count
            var copy = node
            copy.inputs = node.inputs.map { NodeID(remap[$0.index]) }
            result.nodes.append(copy)
        }
        result.inputs = graph.inputs.map { NodeID(remap[$0.index]) }
        result.outputs = graph.outputs.map { ($0.name, NodeID(remap[$0.node.index])) }
        return result
    }
}
