import SenteiEngine

/// Layer-by-layer reconstruction on the pruned network's own activations. The teacher-statistics refit
/// (`Reconstruction.refit`) assumes a consumer's kept inputs still carry the unpruned model's values, but every earlier
/// cut changes them. Here the convs downstream of a cut are refit in topological stages: a stage's convs see inputs
/// computed by the already pruned-and-refit network (x_s) and are fit to the unpruned network's pre-activation output:
/// min ‖W' x̃_s − [W|b] x̃_t‖² for 1×1 convs, i.e. W' = [W|b] B A⁻¹ with A = Σ x̃_s x̃_sᵀ, B = Σ x̃_t x̃_sᵀ (x̃ = [x; 1]).
/// Other convs (depthwise, k×k) get their bias corrected so their mean pre-activation matches the teacher's.
/// Refitting everything in one shot (one stage) measured worse than no second refit: each conv was fit to inputs
/// that the refits upstream of it then changed. With `focus`, every sampled position's terms are weighted by where
/// the unpruned model sees objects in that frame (`FocusMap`), for the least squares and the bias means alike.
package enum StudentRefit {
    struct Moments {
        var student: Int  // kept channels K
        var teacher: Int  // original channels C
        /// Full moments (1×1 consumers) or only the means (bias-corrected convs).
        var full: Bool
        var a: [Double]  // (K+1)²; without `full` only the last row is filled
        var b: [Double]  // (C+1)×(K+1); without `full` only the last column is filled
    }

    enum Fit { case leastSquares, bias }

    /// Refits `pruned` in place; returns how many convs changed. Node indices of `original` and `pruned` agree
    /// (`ChannelPruner.apply` keeps the node array). `progress` gets (stage, stages). `focus`: one map per frame,
    /// weighting positions by 1 + `focusStrength` × the teacher's detection score there.
    @discardableResult
    package static func refit(original: Graph, pruned: inout Graph, kept: [[Int]?], frames: [Tensor], threads: Int,
                              downstream: Bool = true, maxPositions: Int = 2048, ridge: Double = 1e-3,
                              focus: [FocusMap]? = nil, focusStrength: Double = 0,
                              progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        if let focus, focus.count != frames.count {
            throw PruneError(.invalidCalibration, "refit focus: \(focus.count) maps for \(frames.count) frames")
        }
        let stages = plan(original, pruned: pruned, kept: kept, downstream: downstream)
        guard !stages.isEmpty, !frames.isEmpty else { return 0 }
        var changed = 0
        for (number, stage) in stages.enumerated() {
            progress?(number, stages.count)
            var moments: [Int: Moments] = [:]
            for (node, fit) in stage {
                let input = original.nodes[node].inputs[0].index
                let c = original.nodes[input].shape[1], k = pruned.nodes[input].shape[1]
                let full = fit == .leastSquares || (moments[input]?.full ?? false)
                moments[input] = Moments(student: k, teacher: c, full: full, a: [Double](repeating: 0, count: (k + 1) * (k + 1)),
                                         b: [Double](repeating: 0, count: (c + 1) * (k + 1)))
            }
            let probes = moments.keys.sorted()
            let (teacher, teacherSlots) = probeModel(original, probes: probes, threads: threads)
            let (student, studentSlots) = probeModel(pruned, probes: probes, threads: threads)
            for (number, frame) in frames.enumerated() {
                let teacherValues = try teacher.run([frame])
                let studentValues = try student.run([frame])
                for index in probes {
                    let height = original.nodes[index].shape[2], width = original.nodes[index].shape[3]
                    let weights = focus.map { maps in
                        { (positions: [Int]) in maps[number].weights(height: height, width: width, positions: positions, strength: focusStrength) }
                    }
                    accumulate(&moments[index]!, teacher: teacherValues[teacherSlots[index]!].data,
                               student: studentValues[studentSlots[index]!].data, plane: height * width, maxPositions: maxPositions,
                               weights: weights)
                }
            }
            for (node, fit) in stage {
                guard case .conv(let conv) = original.nodes[node].op, case .conv(var target) = pruned.nodes[node].op else { continue }
                let m = moments[original.nodes[node].inputs[0].index]!
                let rows = kept[node] ?? Array(0..<conv.outChannels)
                let solved: (weights: [Float], bias: [Float])?
                switch fit {
                case .leastSquares: solved = solve(conv, m, rows: rows, ridge: ridge)
                case .bias: solved = (target.weights, correctedBias(teacher: conv, student: target, m, rows: rows))
                }
                guard let solved else { continue }
                target.weights = solved.weights
                target.bias = solved.bias
                pruned.nodes[node].op = .conv(target)
                changed += 1
            }
        }
        progress?(stages.count, stages.count)
        return changed
    }

    /// The convs to refit, in stages: a conv whose input differs from the teacher's (a channel was removed there or,
    /// with `downstream`, anywhere upstream) joins the stage after the last refit conv it depends on.
    static func plan(_ original: Graph, pruned: Graph, kept: [[Int]?], downstream: Bool = true) -> [[(node: Int, fit: Fit)]] {
        var affected = [Bool](repeating: false, count: original.nodes.count)
        var depth = [Int](repeating: 0, count: original.nodes.count)  // stages of refit convs feeding this node
        var stages: [[(node: Int, fit: Fit)]] = []
        for (index, node) in original.nodes.enumerated() {
            let lostChannels = kept[index].map { $0.count < (node.shape.count == 4 ? node.shape[1] : 0) } ?? false
            affected[index] = lostChannels || node.inputs.contains { affected[$0.index] }
            depth[index] = node.inputs.map { depth[$0.index] }.max() ?? 0
            guard case .conv(let conv) = node.op, let input = node.inputs.first, affected[input.index] else { continue }
            let inputLostChannels = kept[input.index].map { $0.count < original.nodes[input.index].shape[1] } ?? false
            guard downstream || (inputLostChannels && CalibrationStats.isReconstructable(conv)) else { continue }
            let stage = depth[input.index]
            if stages.count <= stage { stages.append(contentsOf: Array(repeating: [], count: stage + 1 - stages.count)) }
            stages[stage].append((index, CalibrationStats.isReconstructable(conv) ? .leastSquares : .bias))
            depth[index] = max(depth[index], stage + 1)
        }
        return stages.filter { !$0.isEmpty }
    }

    /// `graph` cut down to what `probes` need, with the probes as its outputs, compiled; and each probe's output slot.
    /// Later stages sit deeper in the network, so early stages run only a prefix of it.
    static func probeModel(_ graph: Graph, probes: [Int], threads: Int) -> (Model, [Int: Int]) {
        var g = graph
        g.outputs = probes.map { (name: "__refit_\($0)", node: NodeID($0)) }
        let slots = Dictionary(uniqueKeysWithValues: probes.enumerated().map { ($1, $0) })
        return (Model(graph: Passes.eliminateDeadNodes(g), options: .init(threads: threads)), slots)
    }

    /// [W|b] B A⁻¹ restricted to `rows` (ridge λ·mean(diag A) on the diagonal).
    static func solve(_ conv: Conv, _ m: Moments, rows: [Int], ridge: Double) -> (weights: [Float], bias: [Float])? {
        let n = m.student + 1
        var a = m.a
        var trace = 0.0
        for i in 0..<n { trace += a[i * n + i] }
        for i in 0..<n { a[i * n + i] += ridge * trace / Double(n) }
        guard let factor = Reconstruction.cholesky(a, n) else { return nil }
        var weights: [Float] = [], bias: [Float] = []
        weights.reserveCapacity(rows.count * m.student)
        for r in rows {
            var rhs = [Double](repeating: 0, count: n)
            for j in 0...m.teacher {
                let coefficient = j < m.teacher ? Double(conv.weights[r * conv.inChannels + j]) : Double(conv.bias?[r] ?? 0)
                guard coefficient != 0 else { continue }
                for q in 0..<n { rhs[q] += coefficient * m.b[j * n + q] }
            }
            let x = Reconstruction.choleskySolve(factor, n, rhs)
            weights.append(contentsOf: x[0..<m.student].map { Float($0) })
            bias.append(Float(x[m.student]))
        }
        return (weights, bias)
    }

    /// The student's bias shifted by (teacher − student) mean pre-activation, each taken as Σ (kernel sum of a
    /// weight row) × (mean of its input channel) + bias; zero padding at the borders is ignored.
    static func correctedBias(teacher: Conv, student: Conv, _ m: Moments, rows: [Int]) -> [Float] {
        let n = m.student + 1
        let count = max(m.a[m.student * n + m.student], 1)
        let meanT = (0..<m.teacher).map { m.b[$0 * n + m.student] / count }
        let meanS = (0..<m.student).map { m.a[m.student * n + $0] / count }
        let window = teacher.kernel.h * teacher.kernel.w
        func meanPreactivation(_ conv: Conv, row: Int, means: [Double], inputOf: (Int) -> Int) -> Double {
            let perGroupIn = conv.inChannels / conv.group, perGroupOut = conv.outChannels / conv.group
            let firstIn = row / perGroupOut * perGroupIn
            var sum = Double(conv.bias?[row] ?? 0)
            for j in 0..<perGroupIn {
                let base = (row * perGroupIn + j) * window
                var kernelSum = 0.0
                for w in conv.weights[base..<(base + window)] { kernelSum += Double(w) }
                sum += kernelSum * means[inputOf(firstIn + j)]
            }
            return sum
        }
        return rows.enumerated().map { slot, r in
            let t = meanPreactivation(teacher, row: r, means: meanT) { $0 }
            let s = meanPreactivation(student, row: slot, means: meanS) { $0 }
            return Float(Double(student.bias?[slot] ?? 0) + t - s)
        }
    }

    /// Adds one frame's sampled positions to the moments; `weights` gives each sampled position's weight (default 1).
    static func accumulate(_ m: inout Moments, teacher: [Float], student: [Float], plane: Int, maxPositions: Int,
                           weights: (([Int]) -> [Float])? = nil) {
        let step = max(1, (plane + maxPositions - 1) / maxPositions)
        let positions = Array(stride(from: 0, to: plane, by: step))
        let count = positions.count, padded = (count + 7) / 8 * 8
        // Rows of sampled positions, with a final all-ones row standing for the constant input.
        func rows(_ values: [Float], channels: Int) -> [Float] {
            var out = [Float](repeating: 0, count: (channels + 1) * padded)
            for c in 0..<channels { for (k, p) in positions.enumerated() { out[c * padded + k] = values[c * plane + p] } }
            for k in 0..<count { out[channels * padded + k] = 1 }
            return out
        }
        let s = rows(student, channels: m.student), t = rows(teacher, channels: m.teacher)
        // Weighted sums Σ w·x·yᵀ: one factor of each product carries the weights.
        var ws = s
        if let w = weights?(positions) {
            for c in 0...m.student { for k in 0..<count { ws[c * padded + k] *= w[k] } }
        }
        let n = m.student + 1
        ws.withUnsafeBytes { wb in
            s.withUnsafeBytes { sb in
                t.withUnsafeBytes { tb in
                    func dot(_ x: UnsafeRawBufferPointer, _ i: Int, _ y: UnsafeRawBufferPointer, _ j: Int) -> Double {
                        var acc = SIMD8<Float>()
                        for v in 0..<(padded / 8) {
                            acc += x.loadUnaligned(fromByteOffset: (i * padded + v * 8) * 4, as: SIMD8<Float>.self)
                                * y.loadUnaligned(fromByteOffset: (j * padded + v * 8) * 4, as: SIMD8<Float>.self)
                        }
                        return Double(acc.sum())
                    }
                    guard m.full else {
                        for i in 0..<n { m.a[m.student * n + i] += dot(wb, m.student, sb, i) }
                        for j in 0...m.teacher { m.b[j * n + m.student] += dot(tb, j, wb, m.student) }
                        return
                    }
                    for i in 0..<n {
                        for j in i..<n {
                            let d = dot(wb, i, sb, j)
                            m.a[i * n + j] += d
                            if i != j { m.a[j * n + i] += d }
                        }
                    }
                    for i in 0...m.teacher {
                        for j in 0..<n { m.b[i * n + j] += dot(tb, i, wb, j) }
                    }
                }
            }
        }
    }
}
