import Foundation
@testable import SenteiEngine

/// Deterministic values in [lo, hi).
func randomFloats(_ count: Int, seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float.random(in: lo..<hi, using: &g) }
}

func conv(_ cout: Int, _ cin: Int, k: Int = 3, stride: Int = 1, pad: Int = 1, group: Int = 1, activation: Activation = .none,
          residual: Bool = false, bias: Bool = true, seed: UInt64) -> Conv {
    let fanIn = cin / group * k * k
    let scale = 1 / Float(fanIn).squareRoot()
    return Conv(outChannels: cout, inChannels: cin, group: group, kernel: (k, k), stride: (stride, stride), dilation: (1, 1),
                pads: (pad, pad, pad, pad), weights: randomFloats(cout * fanIn, seed: seed).map { $0 * scale },
                bias: bias ? randomFloats(cout, seed: seed &+ 1).map { $0 * 0.1 } : nil, activation: activation, hasResidual: residual)
}

func convShape(_ input: [Int], _ c: Conv) -> [Int] {
    let oh = (input[2] + c.pads.t + c.pads.b - c.kernel.h) / c.stride.h + 1
    let ow = (input[3] + c.pads.l + c.pads.r - c.kernel.w) / c.stride.w + 1
    return [1, c.outChannels, oh, ow]
}

/// A graph builder for IR-level test graphs.
struct TestGraph {
    var graph = Graph()

    mutating func input(_ shape: [Int]) -> NodeID {
        let id = graph.add(.input("x\(graph.inputs.count)"), [], shape: shape, name: "x\(graph.inputs.count)")
        graph.inputs.append(id)
        return id
    }

    mutating func conv(_ x: NodeID, _ c: Conv, residual: NodeID? = nil, name: String? = nil) -> NodeID {
        graph.add(.conv(c), residual.map { [x, $0] } ?? [x], shape: convShape(graph[x].shape, c), name: name ?? "conv\(graph.nodes.count)")
    }

    mutating func op(_ op: Op, _ inputs: [NodeID], shape: [Int]) -> NodeID {
        graph.add(op, inputs, shape: shape, name: "\(op.kindName.lowercased())\(graph.nodes.count)")
    }

    mutating func output(_ id: NodeID) { graph.outputs.append((name: "y\(graph.outputs.count)", node: id)) }
}

/// Compares the engine's gradients of L = Σ r·y (r fixed random, over every output) with central finite
/// differences, for sampled parameters and input elements. Returns the worst relative error:
/// |analytic − numeric| / max(1, |numeric|) … normalised by `scale` = max(|numeric|) over the samples so that tiny
/// gradients are judged against the tensor's gradient size.
func gradientCheck(_ graph: Graph, seed: UInt64 = 7, samples: Int = 10, epsilon: Float = 1e-2, isa: KernelISA? = nil,
                   inputs: [[Float]]? = nil) throws -> (worst: Double, checked: Int) {
    let g = try GradientGraph(graph: graph, options: .init(threads: 1, inputGradients: true, isa: isa))
    let xs = inputs ?? graph.inputs.enumerated().map { randomFloats(graph[$0.element].elementCount, seed: seed &+ UInt64($0.offset) &* 31) }
    let seeds = graph.outputs.enumerated().map { (k, o) in (node: o.node, gradient: randomFloats(graph[o.node].elementCount, seed: seed &+ 1000 &+ UInt64(k))) }
    func loss() throws -> Double {
        try g.forward(xs)
        var total = 0.0
        for s in seeds {
            let v = g.value(of: s.node)
            for j in 0..<v.count { total += Double(v[j]) * Double(s.gradient[j]) }
        }
        return total
    }
    _ = try loss()
    g.zeroParameterGradients()
    try g.backward(seeds: seeds)
    let analyticParameters = g.gradients
    let analyticInputs = graph.inputs.map { Array(g.gradient(of: $0)!) }

    var pairs: [(Double, Double)] = []
    var rng = SplitMix64(seed: seed &+ 99)
    for e in g.parameters.entries {
        for _ in 0..<min(samples, e.count) {
            let j = e.offset + Int.random(in: 0..<e.count, using: &rng)
            let original = g.parameters.values[j]
            g.parameters.values[j] = original + epsilon
            let up = try loss()
            g.parameters.values[j] = original - epsilon
            let down = try loss()
            g.parameters.values[j] = original
            pairs.append((Double(analyticParameters[j]), (up - down) / Double(2 * epsilon)))
        }
    }
    var perturbed = xs
    for (slot, id) in graph.inputs.enumerated() {
        for _ in 0..<min(samples, graph[id].elementCount) {
            let j = Int.random(in: 0..<graph[id].elementCount, using: &rng)
            let original = perturbed[slot][j]
            perturbed[slot][j] = original + epsilon
            try g.forward(perturbed)
            let up = seeds.reduce(0.0) { acc, s in let v = g.value(of: s.node); return acc + (0..<v.count).reduce(0.0) { $0 + Double(v[$1]) * Double(s.gradient[$1]) } }
            perturbed[slot][j] = original - epsilon
            try g.forward(perturbed)
            let down = seeds.reduce(0.0) { acc, s in let v = g.value(of: s.node); return acc + (0..<v.count).reduce(0.0) { $0 + Double(v[$1]) * Double(s.gradient[$1]) } }
            perturbed[slot][j] = original
            pairs.append((Double(analyticInputs[slot][j]), (up - down) / Double(2 * epsilon)))
        }
    }
    let scale = max(pairs.map { abs($0.1) }.max() ?? 1, 1e-3)
    let worst = pairs.map { abs($0.0 - $0.1) / max(scale, abs($0.1)) }.max() ?? 0
    return (worst, pairs.count)
}
