import Testing
@testable import SenteiEngine
@testable import SenteiPrune

/// A two-stride detector in miniature: a trunk, a fine head (4×4 = 16 anchors) whose box and class branches share a
/// stem, a coarse head (2×2 = 4 anchors), each head's maps joined along channels, flattened and concatenated along
/// the anchor axis and transposed into one [1, 20, 7] output (4 box values, objectness, 2 classes per anchor).
func twoStrideDetector(seed: UInt64 = 3) -> Graph {
    var noise = Noise(state: seed)
    var g = Graph()
    func conv(_ c: Conv, _ inputs: [NodeID], _ shape: [Int], _ name: String) -> NodeID { g.add(.conv(c), inputs, shape: shape, name: name) }
    let x = g.add(.input("x"), [], shape: [1, 3, 8, 8], name: "x")
    g.inputs = [x]
    let stem = conv(makeConv(out: 8, in: 3, kernel: 3, stride: 2, noise: &noise), [x], [1, 8, 4, 4], "stem")
    let trunk = conv(makeConv(out: 16, in: 8, noise: &noise), [stem], [1, 16, 4, 4], "trunk")
    let fineStem = conv(makeConv(out: 16, in: 16, noise: &noise), [trunk], [1, 16, 4, 4], "fine_stem")
    let fineBox = conv(makeConv(out: 4, in: 16, activation: .none, noise: &noise), [fineStem], [1, 4, 4, 4], "fine_box")
    let fineCls = conv(makeConv(out: 3, in: 16, activation: .sigmoid, noise: &noise), [fineStem], [1, 3, 4, 4], "fine_cls")
    let fine = g.add(.concat(axis: 1), [fineBox, fineCls], shape: [1, 7, 4, 4], name: "fine")
    let coarseStem = conv(makeConv(out: 16, in: 16, stride: 2, noise: &noise), [trunk], [1, 16, 2, 2], "coarse_stem")
    let coarse = conv(makeConv(out: 7, in: 16, activation: .none, noise: &noise), [coarseStem], [1, 7, 2, 2], "coarse")
    let fineFlat = g.add(.reshape, [fine], shape: [1, 7, 16], name: "fine_flat")
    let coarseFlat = g.add(.reshape, [coarse], shape: [1, 7, 4], name: "coarse_flat")
    let anchors = g.add(.concat(axis: 2), [fineFlat, coarseFlat], shape: [1, 7, 20], name: "anchors")
    let out = g.add(.transpose(perm: [0, 2, 1]), [anchors], shape: [1, 20, 7], name: "out")
    g.outputs = [(name: "out", node: out)]
    return g
}

@Suite struct OutputShareTests {
    func share(_ graph: Graph, _ shares: [Double], _ name: String) -> Double {
        shares[graph.nodes.firstIndex { $0.name == name }!]
    }

    /// Anchor-axis concats split the output by extent; channel concats and two branches over the same anchors count
    /// once; the trunk feeds everything.
    @Test func sharesFollowTheAnchorsEachNodeFeeds() {
        let graph = twoStrideDetector()
        let shares = OutputShare.perNode(graph)
        #expect(share(graph, shares, "trunk") == 1)
        for name in ["fine_stem", "fine_box", "fine_cls", "fine"] { #expect(abs(share(graph, shares, name) - 0.8) < 1e-12, "\(name)") }
        for name in ["coarse_stem", "coarse"] { #expect(abs(share(graph, shares, name) - 0.2) < 1e-12, "\(name)") }
        #expect(share(graph, shares, "anchors") == 1)
        #expect(OutputShare.anchorSegments(graph) == [0..<16, 16..<20])
    }

    /// Silencing the coarse stride (4 of 20 anchors) costs a fifth of the pooled score error but half of the
    /// per-stride error: each stride counts as much as any other.
    @Test func perStrideErrorWeighsEachStrideEqually() {
        let width = 7
        var teacher = [Float](repeating: 0, count: 20 * width)
        for a in 0..<20 { teacher.replaceSubrange((a * width)..<((a + 1) * width), with: [0.5, 0.5, 1, 1, 0.9, 0.8, 0.1]) }
        var student = teacher
        for a in 16..<20 { student[a * width + 4] = 0 }
        let pooled = HeadError.measure(student: student, teacher: teacher, shape: [1, 20, width])
        let perStride = HeadError.measure(student: student, teacher: teacher, shape: [1, 20, width], segments: [0..<16, 16..<20])
        #expect(abs(pooled - 0.2) < 1e-9)
        #expect(abs(perStride - 0.5) < 1e-9)
        // Segments that do not fit the output fall back to the pooled error.
        #expect(HeadError.measure(student: student, teacher: teacher, shape: [1, 20, width], segments: [0..<16, 16..<24]) == pooled)
    }

    /// With share protection, every group's kept count stays at or above its lowered limit (the fine head and the
    /// trunk keep more than the coarse head may), and the plan still meets the MACs target.
    @Test func shareProtectionKeepsEachGroupAboveItsFloor() throws {
        let graph = twoStrideDetector()
        var noise = Noise(state: 9)
        let frames = (0..<6).map { _ in Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2)) }
        var options = PruneOptions(macsCut: 0.3)
        options.roundTo = 2
        options.levels = [0.25, 0.5, 0.75]
        options.reconstruction = .teacher
        options.shareProtection = 0.5
        let pruner = try StructuredPruner(graph: graph, calibration: frames, options: options)
        let groupOf = { (name: String) in
            pruner.groups.groups.first { group in group.members.contains { graph[$0.node].name == name } }!
        }
        #expect(abs(pruner.maxCut(groupOf("trunk")) - 0.75 * 0.5) < 1e-12)
        #expect(abs(pruner.maxCut(groupOf("fine_stem")) - 0.75 * 0.6) < 1e-12)
        #expect(abs(pruner.maxCut(groupOf("coarse_stem")) - 0.75 * 0.9) < 1e-12)
        let result = try pruner.run()
        #expect(Double(result.macsAfter) <= 0.7 * Double(result.macsBefore))
        for group in pruner.groups.prunable {
            let kept = result.plan.kept[group.id]?.count ?? group.size
            let floor = Double(group.size) * (1 - pruner.maxCut(group))
            #expect(Double(kept) >= floor, "group \(group.id) keeps \(kept) of \(group.size), floor \(floor)")
        }
        // Without protection the same cut goes below one of those floors: the limits are what changed the plan.
        options.shareProtection = 0
        let unprotected = try StructuredPruner(graph: graph, calibration: frames, options: options).run()
        #expect(pruner.groups.prunable.contains { group in
            Double(unprotected.plan.kept[group.id]?.count ?? group.size) < Double(group.size) * (1 - pruner.maxCut(group))
        }, "\(unprotected.plan.kept.mapValues(\.count)) vs \(result.plan.kept.mapValues(\.count))")
    }
}

/// On the shared YOLOX-Nano at 416 px: three strides of 52², 26² and 13² anchors; the stride-8 head feeds 0.76 of
/// them, the stride-32 head 0.05, the backbone all.
@Test func yoloxAnchorSegmentsAndShares() throws {
    guard let shared = sharedDirectory else {
        print("skipping: ../shared/models/yolox_nano.onnx not found (set SENTEI_SHARED)")
        return
    }
    let graph = try PrunableModel.load(path: shared + "/models/yolox_nano.onnx", inputShapes: ["images": [1, 3, 416, 416]])
    #expect(OutputShare.anchorSegments(graph) == [0..<2704, 2704..<3380, 3380..<3549])
    let shares = OutputShare.perNode(graph)
    func share(_ name: String) -> Double { shares[graph.nodes.firstIndex { $0.name == name }!] }
    #expect(abs(share("Conv_305") - 2704.0 / 3549) < 1e-9)
    #expect(abs(share("Conv_371") - 169.0 / 3549) < 1e-9)
    #expect(share("Conv_119") == 1)
}
