import Testing
@testable import SenteiEngine

/// Each op (and each fusion) through the optimised runtime against the scalar reference, on small graphs.
@Suite struct RuntimeTests {
    @Test(arguments: [
        // (kernel, stride, pad, group, cin, cout, h, w)
        (3, 1, 1, 1, 8, 16, 13, 11), (3, 2, 1, 1, 12, 16, 20, 20), (1, 1, 0, 1, 24, 40, 7, 9),
        (3, 1, 1, 8, 8, 8, 15, 15), (3, 2, 1, 16, 16, 16, 26, 26), (5, 1, 2, 1, 3, 5, 9, 9), (3, 1, 1, 2, 8, 6, 6, 7),
    ])
    func convWithSiLUAndResidual(_ p: (Int, Int, Int, Int, Int, Int, Int, Int)) throws {
        let (k, s, pad, group, cin, cout, h, w) = p
        var b = ONNXGraphBuilder()
        b.input("x", [1, cin, h, w])
        try b.floats("w", [cout, cin / group, k, k], randomFloats(cout * cin / group * k * k, seed: 7))
        try b.floats("b", [cout], randomFloats(cout, seed: 8))
        b.node("Conv", ["x", "w", "b"], ["c"], ["kernel_shape": .ints([Int64(k), Int64(k)]), "strides": .ints([Int64(s), Int64(s)]),
                                                "pads": .ints([Int64](repeating: Int64(pad), count: 4)), "group": .int(Int64(group))])
        b.node("Sigmoid", ["c"], ["g"])
        b.node("Mul", ["c", "g"], ["y"])
        b.output("y")
        let graph = try b.graph()
        let fused = Pipeline.optimize(graph)
        #expect(fused.nodes.filter { if case .conv(let c) = $0.op { return c.activation == .silu }; return false }.count == 1)
        #expect(try fastVersusReference(graph) < 1e-4)
    }

    /// YOLOX's Focus (four strided Slice pairs, a Concat, a conv) runs as one conv over the image.
    @Test(arguments: [(1, 1), (2, 0)]) func spaceToDepthConcatFoldsIntoConv(_ p: (Int, Int)) throws {
        let (stride, pad) = p
        var b = ONNXGraphBuilder()
        b.input("x", [1, 3, 14, 10])
        try b.ints("end", [Int64.max]); try b.ints("step", [2])
        try b.ints("zero", [0]); try b.ints("one", [1]); try b.ints("rows", [2]); try b.ints("cols", [3])
        var patches: [String] = []
        for (dy, dx) in [("zero", "zero"), ("one", "zero"), ("zero", "one"), ("one", "one")] {
            let r = "r\(patches.count)", q = "q\(patches.count)"
            b.node("Slice", ["x", dy, "end", "rows", "step"], [r])
            b.node("Slice", [r, dx, "end", "cols", "step"], [q])
            patches.append(q)
        }
        b.node("Concat", patches, ["cat"], ["axis": .int(1)])
        try b.floats("w", [8, 12, 3, 3], randomFloats(8 * 12 * 9, seed: 5))
        try b.floats("b", [8], randomFloats(8, seed: 6))
        b.node("Conv", ["cat", "w", "b"], ["c"], ["kernel_shape": .ints([3, 3]), "strides": .ints([Int64(stride), Int64(stride)]),
                                                  "pads": .ints([Int64](repeating: Int64(pad), count: 4))])
        b.node("Sigmoid", ["c"], ["g"])
        b.node("Mul", ["c", "g"], ["y"])
        b.output("y")
        let graph = try b.graph()
        let model = Model(graph: Pipeline.optimize(graph), options: .init(threads: 1))
        #expect(model.graph.nodes.count == 2)  // input + one 6×6 stride-2 conv
        guard case .conv(let conv) = model.graph.nodes[1].op else { Issue.record("no conv"); return }
        #expect(conv.kernel == (6, 6) && conv.stride == (2 * stride, 2 * stride) && conv.inChannels == 3)
        #expect(try fastVersusReference(graph) < 1e-4)
    }

    @Test func residualAddFusesIntoDenseConv() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 16, 10, 10])
        try b.floats("w", [16, 16, 1, 1], randomFloats(256, seed: 3))
        b.node("Conv", ["x", "w"], ["c"])
        b.node("Sigmoid", ["c"], ["g"])
        b.node("Mul", ["c", "g"], ["s"])
        b.node("Add", ["x", "s"], ["y"])
        b.output("y")
        let graph = try b.graph()
        let fused = Pipeline.optimize(graph)
        #expect(fused.nodes.count == 2)  // input + conv(silu, +residual)
        #expect(try fastVersusReference(graph) < 1e-4)
    }

    @Test func concatSplitSliceAndHeadReshuffle() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 8, 6, 6])
        try b.floats("w1", [4, 8, 1, 1], randomFloats(32, seed: 1))
        try b.floats("w2", [6, 8, 1, 1], randomFloats(48, seed: 2))
        b.node("Conv", ["x", "w1"], ["a"])
        b.node("Conv", ["x", "w2"], ["b"])
        b.node("Concat", ["a", "b", "x"], ["cat"], ["axis": .int(1)])
        try b.ints("split", [5, 13])
        b.node("Split", ["cat", "split"], ["s0", "s1"], ["axis": .int(1)])
        try b.ints("starts", [0, 0]); try b.ints("ends", [6, 6]); try b.ints("axes", [2, 3]); try b.ints("steps", [2, 2])
        b.node("Slice", ["s1", "starts", "ends", "axes", "steps"], ["sl"])
        try b.ints("shape", [1, 13, -1])
        b.node("Reshape", ["sl", "shape"], ["r"])
        b.node("Transpose", ["r"], ["t"], ["perm": .ints([0, 2, 1])])
        b.node("Softmax", ["t"], ["y"], ["axis": .int(-1)])
        b.node("Relu", ["s0"], ["z"])
        b.output("y")
        b.output("z")
        #expect(try fastVersusReference(try b.graph()) < 1e-5)
    }

    /// YOLOv8's C2f: cv1's output is split in two halves, the second feeds a bottleneck, and all three are
    /// concatenated. cv1 and the bottleneck write straight into the concat, which then copies nothing.
    @Test(arguments: [false, true]) func c2fConcatOfSplitHalvesCopiesNothing(_ residual: Bool) throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 6, 7, 9])
        try b.floats("w1", [8, 6, 1, 1], randomFloats(48, seed: 3))
        try b.floats("wm", [4, 4, 3, 3], randomFloats(144, seed: 4))
        try b.floats("w2", [5, 12, 1, 1], randomFloats(60, seed: 5))
        b.node("Conv", ["x", "w1"], ["cv1"])
        try b.ints("halves", [4, 4])
        b.node("Split", ["cv1", "halves"], ["s0", "s1"], ["axis": .int(1)])
        b.node("Conv", ["s1", "wm"], ["m"], ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])])
        if residual { b.node("Add", ["m", "s1"], ["mr"]) } else { b.node("Relu", ["m"], ["mr"]) }
        b.node("Concat", ["s0", "s1", "mr"], ["cat"], ["axis": .int(1)])
        b.node("Conv", ["cat", "w2"], ["y"])
        b.output("y")
        let graph = try b.graph()
        let model = Model(graph: Pipeline.optimize(graph), options: .init(threads: 1))
        let concats = model.graph.nodes.indices.filter { if case .concat = model.graph.nodes[$0].op { return true }; return false }
        #expect(concats.count == 1)
        for index in concats { #expect(model.program.plan.concatInputInPlace[index] == [true, true, true]) }
        #expect(try fastVersusReference(graph) < 1e-5)
    }

    @Test func poolResizeBroadcastAndMatMul() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 4, 9, 9])
        b.node("MaxPool", ["x"], ["p5"], ["kernel_shape": .ints([5, 5]), "strides": .ints([1, 1]), "pads": .ints([2, 2, 2, 2])])
        b.node("MaxPool", ["p5"], ["p2"], ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)])
        try b.floats("scales", [4], [1, 1, 2, 2])
        try b.floats("roi", [0], [])
        b.node("Resize", ["p2", "roi", "scales"], ["up"], ["mode": .string("nearest"), "coordinate_transformation_mode": .string("asymmetric"), "nearest_mode": .string("floor")])
        try b.floats("k", [1, 4, 1, 1], [0.5, -1, 2, 3])
        b.node("Mul", ["up", "k"], ["m"])
        b.node("Sub", ["m", "k"], ["d"])
        try b.floats("mat", [10, 3], randomFloats(30, seed: 9))
        b.node("MatMul", ["d", "mat"], ["y"])
        b.output("y")
        let graph = try b.graph()
        #expect(graph[graph.outputs[0].node].shape == [1, 4, 10, 3])
        #expect(try fastVersusReference(graph) < 1e-5)
    }

    /// YOLOX's output tail: three scales' [1, C, h, w] reshaped to [1, C, h·w], concatenated along the pixels and
    /// transposed. The transpose moves into the concat (one transpose per scale, each written into its slice of the
    /// output in place), exactly.
    @Test func transposeOfConcatBecomesConcatOfTransposes() throws {
        var b = ONNXGraphBuilder()
        var parts: [String] = []
        for (i, side) in [8, 4, 2].enumerated() {
            b.input("x\(i)", [1, 7, side, side])
            try b.ints("shape\(i)", [1, 7, -1])
            b.node("Reshape", ["x\(i)", "shape\(i)"], ["r\(i)"])
            parts.append("r\(i)")
        }
        b.node("Concat", parts, ["cat"], ["axis": .int(2)])
        b.node("Transpose", ["cat"], ["y"], ["perm": .ints([0, 2, 1])])
        b.output("y")
        let graph = try b.graph()
        let optimized = Passes.transposeIntoConcat(Pipeline.optimize(graph))
        let transposes = optimized.nodes.filter { if case .transpose = $0.op { return true }; return false }
        #expect(transposes.count == 3)
        let output = optimized[optimized.outputs[0].node]
        guard case .concat(let axis) = output.op else { Issue.record("the output is \(output.op.kindName)"); return }
        #expect(axis == 1 && output.shape == [1, 64 + 16 + 4, 7])
        let plan = MemoryPlan.make(optimized)
        let concat = optimized.outputs[0].node.index
        #expect(plan.concatInputInPlace[concat] == [true, true, true], "each transpose writes into its slice")
        #expect(try fastVersusReference(graph) == 0)
    }

    @Test(arguments: [9, 13]) func largeMaxPoolDecomposesExactly(_ k: Int) throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 3, 11, 14])
        let p = Int64(k / 2)
        b.node("MaxPool", ["x"], ["y"], ["kernel_shape": .ints([Int64(k), Int64(k)]), "pads": .ints([p, p, p, p])])
        b.output("y")
        let graph = try b.graph()
        let optimized = Pipeline.optimize(graph)
        #expect(optimized.nodes.count == 1 + (k - 1) / 4)
        #expect(try fastVersusReference(graph) == 0)
    }

    @Test func shapeSubgraphFoldsToConstants() throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 6, 4, 4])
        b.node("Shape", ["x"], ["shape"])
        try b.ints("idx", [1])
        b.node("Gather", ["shape", "idx"], ["c"], ["axis": .int(0)])
        try b.ints("minus1", [-1])
        try b.ints("one", [1])
        b.node("Concat", ["one", "c", "minus1"], ["target"], ["axis": .int(0)])
        b.node("Reshape", ["x", "target"], ["y"])
        b.output("y")
        let graph = Pipeline.optimize(try b.graph())
        #expect(graph[graph.outputs[0].node].shape == [1, 6, 16])
        #expect(graph.nodes.count == 2)  // input + reshape: the shape arithmetic folded away
    }
}
