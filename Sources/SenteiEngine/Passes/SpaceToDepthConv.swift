// A run-time lowering (applied when a program is compiled for the optimised kernels, not by `Pipeline`, so every
// graph consumer — pruning, training, int8 calibration — keeps seeing the model's own structure).

extension Passes {
    /// One slice of a space-to-depth: x[:, :, dy::sy, dx::sx] taken whole (all channels, all full phases).
    private typealias Phase = (source: NodeID, dy: Int, dx: Int, sy: Int, sx: Int)

    /// YOLOX's Focus: k×k conv (stride st, pad p) over concat_i(x[:, :, dy_i::sy, dx_i::sx]) equals a
    /// (sy·k)×(sx·k) conv over x with stride sy·st×sx·st and pads sy·p×sx·p, weight tap (sy·ky + dy_i, sx·kx + dx_i)
    /// of channel c being the old tap (ky, kx) of concat channel i·C + c. Exact when H and W are multiples of the
    /// phase strides (a tap outside the sliced planes then lies outside x too). For YOLOX the new conv has the same
    /// K (12·3·3 = 3·6·6) and the eight strided Slice copies and the Concat disappear.
    /// `keep(name)` leaves a conv as it is (e.g. one that runs in int8).
    package static func foldSpaceToDepthIntoConv(_ graph: Graph, keep: (String) -> Bool = { _ in false }) -> Graph {
        foldSpaceToDepth(graph, keep: keep).graph
    }

    /// Names of the convs `foldSpaceToDepthIntoConv` lowers. In int8 the folded conv runs with the space-to-depth
    /// int8 kernel (`Int8Layer.usesSpaceToDepthKernel`); the generic int8 kernel over the slices was 2× the fp32 fold.
    package static func convsFoldedBySpaceToDepth(_ graph: Graph) -> Set<String> {
        foldSpaceToDepth(graph, keep: { _ in false }).folded
    }

    /// Off, folding nothing, when `SENTEI_DISABLE_PASSES` names `space-to-depth-conv`.
    private static func foldSpaceToDepth(_ graph: Graph, keep: (String) -> Bool) -> (graph: Graph, folded: Set<String>) {
        if Pipeline.disabledPasses.contains("space-to-depth-conv") { return (graph, []) }
        var graph = graph
        let uses = graph.useCounts()
        var folded = Set<String>()
        for index in graph.nodes.indices {
            guard case .conv(let conv) = graph.nodes[index].op, conv.group == 1, conv.dilation == (1, 1),
                  !keep(graph.nodes[index].name) else { continue }
            let concatID = graph.nodes[index].inputs[0]
            guard case .concat(axis: 1) = graph[concatID].op, uses[concatID.index] == 1,
                  !isGraphOutput(graph, concatID), graph[concatID].shape.count == 4 else { continue }
            let phases = graph[concatID].inputs.map { spaceToDepthPhase(graph, $0) }
            guard let first = phases.first ?? nil,
                  phases.allSatisfy({ $0 != nil && $0!.source == first.source && $0!.sy == first.sy && $0!.sx == first.sx })
            else { continue }
            let source = graph[first.source].shape
            let (c, sy, sx) = (source[1], first.sy, first.sx)
            guard source[0] == 1, conv.inChannels == c * phases.count else { continue }
            let (kh, kw) = conv.kernel, (newKH, newKW) = (sy * kh, sx * kw)
            var weights = [Float](repeating: 0, count: conv.outChannels * c * newKH * newKW)
            for co in 0..<conv.outChannels {
                for (i, phase) in phases.enumerated() {
                    for ci in 0..<c {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let old = ((co * conv.inChannels + i * c + ci) * kh + ky) * kw + kx
                                let new = ((co * c + ci) * newKH + sy * ky + phase!.dy) * newKW + sx * kx + phase!.dx
                                weights[new] += conv.weights[old]
                            }
                        }
                    }
                }
            }
            var lowered = conv
            lowered.inChannels = c
            lowered.kernel = (newKH, newKW)
            lowered.stride = (conv.stride.h * sy, conv.stride.w * sx)
            lowered.pads = (conv.pads.t * sy, conv.pads.l * sx, conv.pads.b * sy, conv.pads.r * sx)
            lowered.weights = weights
            graph.nodes[index].op = .conv(lowered)
            graph.nodes[index].inputs[0] = first.source
            folded.insert(graph.nodes[index].name)
        }
        return (folded.isEmpty ? graph : eliminateDeadNodes(graph), folded)
    }

    /// The phase `id` takes from its source when it is a chain of strided slices that keeps every channel and
    /// reads rows dy, dy + sy, … and columns dx, dx + sx, … up to the end (H = sy·H', W = sx·W', 0 ≤ dy < sy, 0 ≤ dx < sx).
    private static func spaceToDepthPhase(_ graph: Graph, _ id: NodeID) -> Phase? {
        var current = id
        var start = [0, 0, 0, 0], step = [1, 1, 1, 1]
        // Walk up the chain, composing each slice into the ones below it: index = start + step·i.
        while case .slice(let starts, let steps) = graph[current].op {
            guard starts.count == 4, steps.allSatisfy({ $0 > 0 }) else { return nil }
            for axis in 0..<4 {
                start[axis] = starts[axis] + steps[axis] * start[axis]
                step[axis] *= steps[axis]
            }
            current = graph[current].inputs[0]
        }
        guard current != id else { return nil }
        let source = graph[current].shape, out = graph[id].shape
        guard source.count == 4, out.count == 4, out[0] == source[0], out[1] == source[1],
              start[0] == 0, start[1] == 0, step[1] == 1 else { return nil }
        let (sy, sx) = (step[2], step[3]), (dy, dx) = (start[2], start[3])
        guard dy < sy, dx < sx, source[2] == sy * out[2], source[3] == sx * out[3] else { return nil }
        return (current, dy, dx, sy, sx)
    }
}
