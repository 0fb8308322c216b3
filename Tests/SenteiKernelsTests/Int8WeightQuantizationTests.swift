@testable import SenteiEngine
import Testing

/// `Int8Layer.quantizeWeights(preservingRowSums: true)`: symmetric per-row s8 whose row sums follow the float sums.
@Suite("Int8WeightQuantization")
struct Int8WeightQuantizationTests {
    @Test func rowSumsArePreservedAndEveryWeightStaysWithinOneStep() {
        var rng = SplitMix(seed: 42)
        let rows = 24, k = 108
        // Rows of many small weights and a few large ones (as a stem's edge filters), so plain rounding drifts.
        let weights = (0..<(rows * k)).map { i in rng.nextFloat(in: -0.05...0.05) + (i % 17 == 0 ? rng.nextFloat(in: -1...1) : 0) }
        let (values, scales) = Int8Layer.quantizeWeights(weights, rows: rows, preservingRowSums: true)
        let plainValues = Int8Layer.quantizeWeights(weights, rows: rows).values
        var drifted = 0
        for r in 0..<rows {
            let row = weights[(r * k)..<((r + 1) * k)]
            let peak = row.map(abs).max()!
            #expect(scales[r] == peak / 127)
            var sum = 0.0, quantized = 0, plain = 0
            for (i, w) in row.enumerated() {
                let v = Int(values[r * k + i])
                let t = w / scales[r]
                #expect(abs(Float(v) - t) <= 1, "row \(r) weight \(i): \(v) for \(t)")
                #expect(abs(v) <= 127)
                sum += Double(w); quantized += v; plain += Int(t.rounded(.toNearestOrEven))
            }
            let target = Int((sum / Double(scales[r])).rounded(.toNearestOrEven))
            #expect(quantized == target, "row \(r): Σq \(quantized), round(Σw/s) \(target)")
            if plain != target { drifted += 1 }
            // Without the option: plain rounding.
            #expect(plainValues[(r * k)..<((r + 1) * k)].map(Int.init).reduce(0, +) == plain)
        }
        // Plain rounding misses the sum on most such rows: the correction has work to do.
        #expect(drifted > rows / 2)
    }

    @Test func zeroRowsAndExactRowsAreUntouched() {
        let weights: [Float] = [0, 0, 0, 0, 0.5, -1, 0.25, 1]
        let (values, scales) = Int8Layer.quantizeWeights(weights, rows: 2, preservingRowSums: true)
        #expect(values[0..<4].allSatisfy { $0 == 0 } && scales[0] == 1)
        // 0.5·127 = 63.5 rounds to 64 (even); Σ = 0.75·127 = 95.25 → 95 = 64 − 127 + 32 + 127 − 1: one step down, taken
        // from the weight rounded furthest up (63.5 → 64, residual −0.5).
        #expect(Array(values[4..<8]) == [63, -127, 32, 127])
    }
}
