/// A histogram of one tensor's values over the calibration frames, and the u8 range chosen from it.
package struct ActivationHistogram: Sendable {
    package static let binCount = 2048
    package let lower: Float
    package let upper: Float
    package var counts: [Double]

    /// Bins span [min(lower, 0), max(upper, 0)] so that zero is always representable (padding is exact).
    package init(lower: Float, upper: Float) {
        let lo = min(lower, 0), hi = max(upper, 0)
        self.lower = lo
        self.upper = hi > lo ? hi : lo + 1
        counts = [Double](repeating: 0, count: Self.binCount)
    }

    package var binWidth: Float { (upper - lower) / Float(Self.binCount) }

    package mutating func add(_ values: UnsafeBufferPointer<Float>) {
        let scale = Float(Self.binCount) / (upper - lower), top = Self.binCount - 1
        for v in values where v.isFinite {
            let bin = Int((v - lower) * scale)
            counts[max(0, min(top, bin))] += 1
        }
    }

    /// The u8 parameters for the clip range [lo, hi] (lo ≤ 0 ≤ hi): scale = (hi − lo)/255, zero point = round(−lo/scale).
    package static func parameters(lo: Float, hi: Float, observedMin: Float, observedMax: Float) -> ActivationQuantization {
        let span = max(hi - lo, 1e-8)
        let scale = span / 255
        let zeroPoint = max(0, min(255, Int((-lo / scale).rounded(.toNearestOrEven))))
        return ActivationQuantization(scale: scale, zeroPoint: zeroPoint, observedMin: observedMin, observedMax: observedMax)
    }

    /// Mean squared quantization error (clipping plus rounding) of the histogram's values under `q`, evaluated at bin
    /// centres.
    package func meanSquaredError(_ q: ActivationQuantization) -> Double {
        let width = Double(binWidth)
        var error = 0.0, total = 0.0
        let inv = 1 / q.scale
        for (bin, count) in counts.enumerated() where count > 0 {
            let x = Float(Double(lower) + (Double(bin) + 0.5) * width)
            let deq = Float(Int8Layer.quantize(x, invScale: inv, zeroPoint: q.zeroPoint) - Int32(q.zeroPoint)) * q.scale
            let d = Double(x - deq)
            error += d * d * count
            total += count
        }
        return total > 0 ? error / total : 0
    }

    /// The value below which `fraction` of the samples lie (linear within a bin).
    package func quantile(_ fraction: Double) -> Float {
        let total = counts.reduce(0, +)
        guard total > 0 else { return upper }
        var seen = 0.0
        for (bin, count) in counts.enumerated() {
            if seen + count >= fraction * total {
                let within = count > 0 ? (fraction * total - seen) / count : 0
                return lower + (Float(bin) + Float(within)) * binWidth
            }
            seen += count
        }
        return upper
    }

    /// Chooses the clip range: `.minMax` keeps the observed range; `.percentile(p)` clips at the p-th percentile on
    /// each side that has negative/positive values; `.mse` shrinks the observed range by a factor α ∈ (0, 1] and keeps
    /// the α with the least quantization MSE.
    package func choose(_ method: CalibrationOptions.RangeMethod, percentile: Double) -> ActivationQuantization {
        switch method {
        case .minMax:
            return Self.parameters(lo: lower, hi: upper, observedMin: lower, observedMax: upper)
        case .percentile:
            let p = min(max(percentile, 50), 100) / 100
            let hi = upper > 0 ? min(upper, max(quantile(p), 0)) : 0
            let lo = lower < 0 ? max(lower, min(quantile(1 - p), 0)) : 0
            return Self.parameters(lo: lo, hi: hi, observedMin: lower, observedMax: upper)
        case .mse:
            var best = Self.parameters(lo: lower, hi: upper, observedMin: lower, observedMax: upper)
            var bestError = meanSquaredError(best)
            for step in 1..<100 {
                let alpha = 1 - Float(step) * 0.0095  // 1 … 0.06
                let candidate = Self.parameters(lo: lower * alpha, hi: upper * alpha, observedMin: lower, observedMax: upper)
                let error = meanSquaredError(candidate)
                if error < bestError { best = candidate; bestError = error }
            }
            return best
        }
    }
}
