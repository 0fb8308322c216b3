import SenteiEngine

/// Second-stage reconstruction on the pruned network's own activations: the refit from the unpruned model's Gram
/// (`Reconstruction.refit`) assumes the kept input channels still carry the teacher's values, but every earlier cut
/// changes them. Here each 1×1 consumer is refit to map the *student's* kept inputs onto the *teacher's* pre-activation:
/// min ‖W' x̃_s − [W|b] x̃_t‖², i.e. W' = [W|b] B A⁻¹ with A = Σ x̃_s x̃_sᵀ and B = Σ x̃_t x̃_sᵀ (x̃ = [x; 1]).
package enum StudentRefit {
    struct Moments {
        var student: Int  // kept channels K
        var teacher: Int  // original channels C
        var a: [Double]  // (K+1)²
        var b: [Double]  // (C+1)×(K+1)
    }

    /// Refits `pruned` in place; returns how many convs changed. Node indices of `original` and `pruned` agree
    /// (`ChannelPruner.apply` keeps the node array).
    @discardableResult
    package static func refit(original: Graph, pruned: inout Graph, kept: [[Int]?], frames: [Tensor], threads: Int,
                              maxPositions: Int = 2048, ridge: Double = 1e-3) throws -> Int {
        var consumers: [Int] = []
        var inputs = Set<Int>()
        for (index, node) in original.nodes.enumerated() {
            guard case .conv(let conv) = node.op, CalibrationStats.isReconstructable(conv) else { continue }
            let input = node.inputs[0].index
            guard let columns = kept[input], columns.count < conv.inChannels else { continue }
            consumers.append(index)
            inputs.insert(input)
        }
        guard !consumers.isEmpty, !frames.isEmpty else { return 0 }
        let probes = inputs.sorted()
        func probe(_ graph: Graph) -> (Model, Int) {
            var g = graph
            let first = g.outputs.count
            for index in probes { g.outputs.append((name: "__refit_\(index)", node: NodeID(index))) }
            return (Model(graph: g, options: .init(threads: threads)), first)
        }
        let (teacher, teacherFirst) = probe(original)
        let (student, studentFirst) = probe(pruned)
        var moments: [Int: Moments] = [:]
        for index in probes {
            let c = original.nodes[index].shape[1], k = pruned.nodes[index].shape[1]
            moments[index] = Moments(student: k, teacher: c, a: [Double](repeating: 0, count: (k + 1) * (k + 1)),
                                     b: [Double](repeating: 0, count: (c + 1) * (k + 1)))
        }
        for frame in frames {
            let teacherValues = try teacher.run([frame])
            let studentValues = try student.run([frame])
            for (slot, index) in probes.enumerated() {
                let t = teacherValues[teacherFirst + slot].data, s = studentValues[studentFirst + slot].data
                let plane = original.nodes[index].shape[2] * original.nodes[index].shape[3]
                accumulate(&moments[index]!, teacher: t, student: s, plane: plane, maxPositions: maxPositions)
            }
        }
        var changed = 0
        for index in consumers {
            guard case .conv(let conv) = original.nodes[index].op, case .conv(var target) = pruned.nodes[index].op else { continue }
            let m = moments[original.nodes[index].inputs[0].index]!
            let rows = kept[index] ?? Array(0..<conv.outChannels)
            let n = m.student + 1
            var a = m.a
            var trace = 0.0
            for i in 0..<n { trace += a[i * n + i] }
            for i in 0..<n { a[i * n + i] += ridge * trace / Double(n) }
            guard let factor = Reconstruction.cholesky(a, n) else { continue }
            var weights: [Float] = [], bias: [Float] = []
            for r in rows {
                // rhs = [W_r | b_r] B
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
            target.weights = weights
            target.bias = bias
            pruned.nodes[index].op = .conv(target)
            changed += 1
        }
        return changed
    }

    static func accumulate(_ m: inout Moments, teacher: [Float], student: [Float], plane: Int, maxPositions: Int) {
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
        let n = m.student + 1
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
                for i in 0..<n {
                    for j in i..<n {
                        let d = dot(sb, i, sb, j)
                        m.a[i * n + j] += d
                        if i != j { m.a[j * n + i] += d }
                    }
                }
                for i in 0...m.teacher {
                    for j in 0..<n { m.b[i * n + j] += dot(tb, i, sb, j) }
                }
            }
        }
    }
}
