import Testing
@testable import SenteiEngine
@testable import SenteiPrune

@Suite struct RefitFocusTests {
    /// A [1, 20, 7] output over an 8×8 input: a 4×4 stride (16 anchors) and a 2×2 one (4), each anchor 4 box values,
    /// objectness and 2 class scores; one object in each grid.
    func twoStrideOutput() -> Tensor {
        var data = [Float](repeating: 0, count: 20 * 7)
        data.replaceSubrange((5 * 7 + 4)..<(5 * 7 + 7), with: [0.9, 0.5, 0.2])   // fine cell (1, 1): 0.45
        data.replaceSubrange((19 * 7 + 4)..<(19 * 7 + 7), with: [0.5, 0.1, 0.4])  // coarse cell (1, 1): 0.2
        return Tensor(shape: [1, 20, 7], data: data)
    }

    /// Scores are objectness × best class, laid out per stride on a grid of the input's aspect, spread to each
    /// cell's 3×3 neighbourhood; a position's weight takes the highest score of any stride at its centre.
    @Test func focusMapFollowsTheTeachersScores() throws {
        let map = try FocusMap.detectionScores(output: twoStrideOutput(), segments: [0..<16, 16..<20], inputHeight: 8, inputWidth: 8)
        #expect(map.grids.map { [$0.height, $0.width] } == [[4, 4], [2, 2]])
        let fine = map.grids[0].scores
        for y in 0..<4 {
            for x in 0..<4 { #expect(fine[y * 4 + x] == (y <= 2 && x <= 2 ? 0.45 : 0), "fine cell \(y),\(x)") }
        }
        #expect(map.grids[1].scores.allSatisfy { abs($0 - 0.2) < 1e-7 })
        // An 8×8 map: (0, 0) lies in the fine object's neighbourhood, (7, 7) and (6, 0) only in the coarse one's.
        let weights = map.weights(height: 8, width: 8, positions: [0, 63, 48], strength: 2)
        #expect(abs(weights[0] - 1.9) < 1e-6)
        #expect(abs(weights[1] - 1.4) < 1e-6)
        #expect(abs(weights[2] - 1.4) < 1e-6)
        // A 2×2 map's positions sample the fine grid at cells (1, 1) … (3, 3).
        #expect(map.weights(height: 2, width: 2, positions: [0, 3], strength: 1).map { ($0 * 1e4).rounded() / 1e4 } == [1.45, 1.2])
        // A wide input: 8 anchors form 2 rows of 4.
        let wide = try FocusMap.detectionScores(output: twoStrideOutput(), segments: [0..<8], inputHeight: 8, inputWidth: 16)
        #expect(wide.grids.map { [$0.height, $0.width] } == [[2, 4]])
    }

    @Test func focusMapRejectsWhatIsNoDetectionOutput() {
        #expect(throws: PruneError.self) {
            try FocusMap.detectionScores(output: Tensor(shape: [1, 20, 5], data: [Float](repeating: 0, count: 100)),
                                         segments: [0..<20], inputHeight: 8, inputWidth: 8)
        }
        // 5 anchors form no grid of a square input's aspect.
        #expect(throws: PruneError.self) {
            try FocusMap.detectionScores(output: twoStrideOutput(), segments: [0..<15, 15..<20], inputHeight: 8, inputWidth: 8)
        }
        #expect(throws: PruneError.self) {
            try FocusMap.detectionScores(output: twoStrideOutput(), segments: [0..<16, 16..<24], inputHeight: 8, inputWidth: 8)
        }
        // A model without per-stride anchor maps cannot be refit with a focus.
        var noise = Noise(state: 2)
        let frames = (0..<2).map { _ in Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2)) }
        var options = PruneOptions(macsCut: 0.2)
        options.refitFocus = 4
        options.sensitivityAware = false
        do {
            _ = try StructuredPruner(graph: couplingGraph(), calibration: frames, options: options)
            Issue.record("expected unsupported_option")
        } catch let error as PruneError {
            #expect(error.code == .unsupportedOption)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// A position of weight w counts as that position repeated w times.
    @Test func weightedMomentsEqualRepeatedPositions() {
        var noise = Noise(state: 13)
        let student = noise.array(2 * 4), teacher = noise.array(3 * 4)
        let repeats = [1, 2, 0, 3]
        func empty() -> StudentRefit.Moments {
            .init(student: 2, teacher: 3, full: true, a: [Double](repeating: 0, count: 9), b: [Double](repeating: 0, count: 12))
        }
        var weighted = empty()
        StudentRefit.accumulate(&weighted, teacher: teacher, student: student, plane: 4, maxPositions: 64) { positions in
            positions.map { Float(repeats[$0]) }
        }
        let order = repeats.enumerated().flatMap { position, count in Array(repeating: position, count: count) }
        func expand(_ values: [Float], _ channels: Int) -> [Float] {
            (0..<channels).flatMap { c in order.map { values[c * 4 + $0] } }
        }
        var repeated = empty()
        StudentRefit.accumulate(&repeated, teacher: expand(teacher, 3), student: expand(student, 2), plane: order.count, maxPositions: 64)
        #expect(zip(weighted.a, repeated.a).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(weighted.b, repeated.b).allSatisfy { abs($0 - $1) < 1e-5 })
        var plain = empty()
        StudentRefit.accumulate(&plain, teacher: teacher, student: student, plane: 4, maxPositions: 64)
        #expect(plain.a != weighted.a)
    }

    /// A 1×1 consumer refit on a cut input: the focused fit has the lower error where the focus lies and the plain
    /// fit the lower error over all positions (each is the exact least squares of its own weighting).
    @Test func focusedRefitFitsTheFocusedPositionsBetter() throws {
        var noise = Noise(state: 17)
        var g = Graph()
        let x = g.add(.input("x"), [], shape: [1, 3, 4, 4], name: "x")
        g.inputs = [x]
        let stem = g.add(.conv(makeConv(out: 8, in: 3, noise: &noise)), [x], shape: [1, 8, 4, 4], name: "stem")
        let a = g.add(.conv(makeConv(out: 8, in: 8, noise: &noise)), [stem], shape: [1, 8, 4, 4], name: "a")
        let b = g.add(.conv(makeConv(out: 3, in: 8, activation: .none, noise: &noise)), [a], shape: [1, 3, 4, 4], name: "b")
        g.outputs = [(name: "out", node: b)]
        let groups = ChannelGroups(g)
        let gid = groups.groupOfChannel[a.index]![0]
        let plan = PrunePlan(kept: [gid: [0, 2, 5, 7]])
        let kept = try ChannelPruner.keptChannels(g, groups, plan)
        let frames = (0..<6).map { _ in Tensor(shape: [1, 3, 4, 4], data: noise.array(48, 2)) }
        // Each frame's focus: one hot 2×2 corner, a different one per frame.
        let maps = (0..<frames.count).map { f in
            FocusMap(grids: [.init(height: 2, width: 2, scores: (0..<4).map { $0 == f % 4 ? 1 : 0 })])
        }
        let strength = 30.0
        func refit(focus: [FocusMap]?) throws -> Graph {
            var pruned = try ChannelPruner.apply(g, groups, plan)
            #expect(try StudentRefit.refit(original: g, pruned: &pruned, kept: kept, frames: frames, threads: 1, ridge: 0,
                                           focus: focus, focusStrength: strength) == 1)
            return pruned
        }
        let focused = try refit(focus: maps), plain = try refit(focus: nil)
        func errors(_ graph: Graph) throws -> (weighted: Double, unweighted: Double) {
            var weighted = 0.0, unweighted = 0.0
            for (frame, map) in zip(frames, maps) {
                let student = try run(graph, frame)[0].data, teacher = try run(g, frame)[0].data
                let w = map.weights(height: 4, width: 4, positions: Array(0..<16), strength: strength)
                for (i, (s, t)) in zip(student, teacher).enumerated() {
                    let d = Double(s - t) * Double(s - t)
                    weighted += Double(w[i % 16]) * d
                    unweighted += d
                }
            }
            return (weighted, unweighted)
        }
        let f = try errors(focused), p = try errors(plain)
        print("focused weighted \(f.weighted) unweighted \(f.unweighted); plain weighted \(p.weighted) unweighted \(p.unweighted)")
        #expect(f.weighted < p.weighted * 0.99)
        #expect(p.unweighted < f.unweighted * 0.99)
        // Focus maps must match the frames one to one.
        var pruned = try ChannelPruner.apply(g, groups, plan)
        #expect(throws: PruneError.self) {
            try StudentRefit.refit(original: g, pruned: &pruned, kept: kept, frames: frames, threads: 1, focus: Array(maps.prefix(2)), focusStrength: 1)
        }
    }

    /// With the option on, the pruner builds one map per refit frame (mirrored and zoomed frames included) and the cut
    /// runs.
    @Test func prunerFocusesEveryRefitFrame() throws {
        var noise = Noise(state: 23)
        let frames = (0..<3).map { _ in Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2)) }
        var options = PruneOptions(macsCut: 0.3)
        options.roundTo = 2
        options.levels = [0.25, 0.5]
        options.sensitivityAware = false
        options.reconstruction = .sequential
        options.refitFocus = 5
        options.refitMirror = true
        options.refitZoom = 1.5
        let pruner = try StructuredPruner(graph: twoStrideDetector(), calibration: frames, options: options)
        #expect(pruner.focusMapCount == 9)
        let result = try pruner.run()
        #expect(result.refit == .sequential)
        #expect(result.refitConvs > 0)
    }
}
