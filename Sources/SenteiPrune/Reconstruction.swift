import SenteiEngine

/// Least-squares refit of the consumers of pruned channels: for a 1×1 conv that lost input columns, find W', b' that
/// minimise ‖W' x_kept + b' − (W x + b)‖² over the calibration activations x of the unpruned model. The constant-1 row
/// of the Gram matrix makes b' absorb the mean of the removed channels (bias correction).
package enum Reconstruction {
    /// Refits every reconstructable consumer in `pruned` whose input lost channels. `kept` comes from
    /// `ChannelPruner.keptChannels` for the same plan. Returns how many convs were refit.
    @discardableResult
    package static func refit(original: Graph, pruned: inout Graph, kept: [[Int]?], stats: CalibrationStats, ridge: Double = 1e-3) -> Int {
        var refit = 0
        for (index, node) in original.nodes.enumerated() {
            guard case .conv(let conv) = node.op, CalibrationStats.isReconstructable(conv) else { continue }
            let input = node.inputs[0].index
            guard let columns = kept[input], columns.count < conv.inChannels, let gram = stats.grams[input] else { continue }
            let rows = kept[index] ?? Array(0..<conv.outChannels)
            guard case .conv(var target) = pruned.nodes[index].op else { continue }
            guard let solution = solve(conv, gram: gram, rows: rows, columns: columns, ridge: ridge) else { continue }
            target.weights = solution.weights
            target.bias = solution.bias
            pruned.nodes[index].op = .conv(target)
            refit += 1
        }
        return refit
    }

    /// W'_aug = T G[:, k̃] (G[k̃, k̃] + λ I)⁻¹ with T = [W | b] restricted to `rows` and k̃ = columns + the constant.
    static func solve(_ conv: Conv, gram: Gram, rows: [Int], columns: [Int], ridge: Double) -> (weights: [Float], bias: [Float])? {
        let cin = conv.inChannels, n = cin + 1
        let kTilde = columns + [cin]
        let k = kTilde.count
        // M = G[k̃, k̃] + λ·mean(diag)·I
        var m = [Double](repeating: 0, count: k * k)
        var diagonal = 0.0
        for a in 0..<k { diagonal += gram[kTilde[a], kTilde[a]] }
        let lambda = ridge * diagonal / Double(k)
        for a in 0..<k {
            for b in 0..<k { m[a * k + b] = gram[kTilde[a], kTilde[b]] }
            m[a * k + a] += lambda
        }
        guard let factor = cholesky(m, k) else { return nil }
        var weights: [Float] = []
        weights.reserveCapacity(rows.count * columns.count)
        var bias: [Float] = []
        for r in rows {
            // rhs[a] = Σ_j T[r, j] G[j, k̃_a]
            var rhs = [Double](repeating: 0, count: k)
            for a in 0..<k {
                let column = kTilde[a]
                var sum = Double(conv.bias?[r] ?? 0) * gram.matrix[cin * n + column]
                for j in 0..<cin { sum += Double(conv.weights[r * cin + j]) * gram.matrix[j * n + column] }
                rhs[a] = sum
            }
            let x = choleskySolve(factor, k, rhs)
            weights.append(contentsOf: x[0..<columns.count].map { Float($0) })
            bias.append(Float(x[columns.count]))
        }
        return (weights, bias)
    }

    /// Lower-triangular L with L Lᵀ = a, or nil when a is not positive definite.
    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for p in 0..<j { sum -= l[i * n + p] * l[j * n + p] }
                if i == j {
                    guard sum > 0 else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        return l
    }

    static func choleskySolve(_ l: [Double], _ n: Int, _ b: [Double]) -> [Double] {
        var y = b
        for i in 0..<n {
            for p in 0..<i { y[i] -= l[i * n + p] * y[p] }
            y[i] /= l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for p in (i + 1)..<n { y[i] -= l[p * n + i] * y[p] }
            y[i] /= l[i * n + i]
        }
        return y
    }
}
