import Testing
@testable import SenteiEngine

/// Every op's gradients against central finite differences (ε = 1e-2 on fp32 forwards), on sampled parameters and
/// input elements. Tolerance: |analytic − numeric| ≤ 2% of the largest numeric gradient in the check (fp32 rounding of
/// the loss over ε is about 1e-3 of that here; a wrong formula is off by O(1)).
@Suite struct GradientCheckTests {
    static let tolerance = 0.02

    func expectClose(_ graph: Graph, isa: KernelISA? = nil, inputs: [[Float]]? = nil, _ comment: Comment) throws {
        let result = try gradientCheck(graph, isa: isa, inputs: inputs)
        #expect(result.checked > 0)
        #expect(result.worst < Self.tolerance, "\(comment): worst relative error \(result.worst) over \(result.checked) samples")
    }

    @Test(arguments: [Activation.none, .relu, .sigmoid, .silu])
    func denseConv3x3(activation: Activation) throws {
        var t = TestGraph()
        let x = t.input([1, 3, 7, 6])
        t.output(t.conv(x, conv(5, 3, activation: activation, seed: 1)))
        // ReLU has a kink: a smaller ε keeps most perturbed pre-activations on one side of it, and the tolerance is
        // 5% because a weight moves 30 pre-activations at once (a wrong derivative is still off by O(1)).
        let result = try gradientCheck(t.graph, epsilon: activation == .relu ? 3e-3 : 1e-2)
        #expect(result.worst < (activation == .relu ? 0.05 : Self.tolerance), "conv3x3 \(activation): worst relative error \(result.worst) over \(result.checked) samples")
    }

    @Test func stridedConvAndGroups() throws {
        var t = TestGraph()
        let x = t.input([1, 4, 9, 8])
        let a = t.conv(x, conv(6, 4, stride: 2, activation: .silu, seed: 2))
        let b = t.conv(a, conv(6, 6, k: 3, stride: 1, pad: 1, group: 2, activation: .sigmoid, seed: 3))
        t.output(t.conv(b, conv(3, 6, k: 1, stride: 2, pad: 0, seed: 4)))
        try expectClose(t.graph, "strided + grouped + 1x1/s2")
    }

    @Test func pointwiseWithResidual() throws {
        var t = TestGraph()
        let x = t.input([1, 8, 5, 5])
        let a = t.conv(x, conv(8, 8, k: 1, pad: 0, activation: .silu, seed: 5))
        t.output(t.conv(a, conv(8, 8, k: 1, pad: 0, activation: .silu, residual: true, seed: 6), residual: x))
        try expectClose(t.graph, "1x1 + fused residual")
    }

    @Test(arguments: [1, 2])
    func depthwise(stride: Int) throws {
        var t = TestGraph()
        let x = t.input([1, 6, 9, 10])
        let d = t.conv(x, conv(6, 6, stride: stride, group: 6, activation: .silu, seed: 7))
        t.output(t.conv(d, conv(6, 6, k: 5, stride: 1, pad: 2, group: 6, seed: 8)))
        try expectClose(t.graph, "depthwise stride \(stride)")
    }

    @Test func baselineISA() throws {
        var t = TestGraph()
        let x = t.input([1, 3, 6, 6])
        let a = t.conv(x, conv(9, 3, activation: .silu, seed: 9))
        t.output(t.conv(a, conv(9, 9, group: 9, seed: 10)))
        try expectClose(t.graph, isa: .base, "base ISA kernels")
    }

    @Test func channelAffineAndUnary() throws {
        var t = TestGraph()
        let x = t.input([1, 4, 3, 3])
        let a = t.op(.channelAffine(scale: [1, -2, 0.5, 3], shift: [0.1, 0, -0.3, 1]), [x], shape: [1, 4, 3, 3])
        let s = t.op(.unary(.sigmoid), [a], shape: [1, 4, 3, 3])
        let l = t.op(.unary(.silu), [s], shape: [1, 4, 3, 3])
        let r = t.op(.unary(.relu), [a], shape: [1, 4, 3, 3])
        let i = t.op(.unary(.identity), [r], shape: [1, 4, 3, 3])
        t.output(l)
        t.output(i)
        try expectClose(t.graph, "channel affine, sigmoid, silu, relu, identity")
    }

    @Test(arguments: BinaryKind.allCases)
    func binary(kind: BinaryKind) throws {
        var t = TestGraph()
        let a = t.input([1, 3, 4, 5])
        let b = t.input([1, 3, 4, 5])
        let c = t.input([1, 3, 1, 5])
        let same = t.op(.binary(kind), [a, b], shape: [1, 3, 4, 5])
        t.output(t.op(.binary(kind), [same, c], shape: [1, 3, 4, 5]))
        // Divisors kept away from zero so the finite differences stay smooth.
        let inputs = [randomFloats(60, seed: 1), randomFloats(60, seed: 2, 1, 2), randomFloats(15, seed: 3, 1, 2)]
        try expectClose(t.graph, inputs: inputs, "binary \(kind) (same shape and broadcast)")
    }

    @Test func movement() throws {
        var t = TestGraph()
        let x = t.input([1, 4, 6, 6])
        let y = t.input([1, 2, 6, 6])
        let cat = t.op(.concat(axis: 1), [x, y], shape: [1, 6, 6, 6])
        let sliced = t.op(.slice(starts: [0, 1, 0, 1], steps: [1, 2, 2, 1]), [cat], shape: [1, 3, 3, 5])
        let up = t.op(.resizeNearest(sourceIndex: [[0], [0, 1, 2], [0, 0, 1, 1, 2, 2], (0..<10).map { $0 / 2 }]), [sliced], shape: [1, 3, 6, 10])
        let flat = t.op(.reshape, [up], shape: [1, 3, 60])
        let swapped = t.op(.transpose(perm: [0, 2, 1]), [flat], shape: [1, 60, 3])
        t.output(t.op(.softmax(axis: 2), [swapped], shape: [1, 60, 3]))
        try expectClose(t.graph, "concat, slice, resize, reshape, transpose, softmax")
    }

    @Test func maxPool() throws {
        var t = TestGraph()
        let x = t.input([1, 2, 8, 8])
        let same = t.op(.maxPool(Pool(kernel: (5, 5), stride: (1, 1), dilation: (1, 1), pads: (2, 2, 2, 2))), [x], shape: [1, 2, 8, 8])
        t.output(t.op(.maxPool(Pool(kernel: (2, 2), stride: (2, 2), dilation: (1, 1), pads: (0, 0, 0, 0))), [same], shape: [1, 2, 4, 4]))
        // Distinct values 0.05 apart (> 2ε) so no window's maximum changes under the perturbation.
        var g = SplitMix64(seed: 4)
        let values = (0..<128).map { Float($0) * 0.05 }.shuffled(using: &g)
        try expectClose(t.graph, inputs: [values], "max pool 5x5/s1 and 2x2/s2")
    }

    @Test func matMulAndGather() throws {
        var t = TestGraph()
        let a = t.input([2, 3, 4])
        let b = t.input([4, 5])
        let m = t.op(.matMul, [a, b], shape: [2, 3, 5])
        t.output(t.op(.gather(axis: 2, indices: [4, 0, 0, 2], indexShape: [4]), [m], shape: [2, 3, 4]))
        try expectClose(t.graph, "matmul (broadcast) and gather with repeated index")
    }
}
