import CSenteiKernels

/// One conv prepared for int8: per-output-channel symmetric s8 weights and the epilogue constants.
/// q(x) = clamp(round(x·inputInvScale), qmin − zp, qmax − zp) + zp with [qmin, qmax] = [0, 255] (u8 activations) or
/// [−32768, 32767] (16-bit, `LayerPrecision.w8a16`); out = act((Σ w8·q − rowOffset)·scale + bias) (+ residual).
package struct Int8Layer: Sendable {
    package var conv: Conv
    /// Row-major [cout, cin·kh·kw] s8 weights.
    package var weights: [Int8]
    package var weightScales: [Float]
    package var inputScale: Float
    package var inputInvScale: Float
    package var zeroPoint: Int
    /// 8 (u8 activations) or 16 (s16 activations).
    package var inputBits: Int
    /// inputScale · weightScales[co]
    package var scale: [Float]
    /// zp · Σ_k weights[co][k]
    package var rowOffset: [Int32]
    /// The conv's bias plus the table's bias correction.
    package var bias: [Float]

    /// Dense (group 1) 2-D convs have int8 kernels; depthwise and grouped convs stay fp32.
    package static func isQuantizable(_ conv: Conv, shape: [Int]) -> Bool {
        conv.group == 1 && shape.count == 4 && shape[0] == 1 && conv.inChannels * conv.kernel.h * conv.kernel.w > 0
    }

    /// 16-bit activations keep the s32 accumulator exact only up to this many k values (127 · 32768 · 512 < 2^31).
    package static let maxSixteenBitK = Int(SK_I8_A16_MAX_K)

    /// Whether the conv may run with 16-bit activations.
    package static func allowsSixteenBitActivations(_ conv: Conv, shape: [Int]) -> Bool {
        isQuantizable(conv, shape: shape) && conv.inChannels * conv.kernel.h * conv.kernel.w <= maxSixteenBitK
    }

    /// Symmetric per-row int8: scale = max|w|/127 (1 for an all-zero row), q = round-half-even(w/scale). With
    /// `preservingRowSums` the row's sum is then kept: when Σq misses round(Σw/scale), the weights rounded furthest
    /// from their value in the needed direction move one step (each at most once, within ±127), so the conv's
    /// response to a constant input is exact to one step. Not used by the engine: on YOLOX-Nano's Focus stem (0–255
    /// input, zero point 0) plain rounding costs ~1.4 mAP (coco128 31.43 vs 32.81 with the stem fp32) and keeping row
    /// sums recovered most of it (32.14), but which weights move depends on their order — the folded 6×6 stem and the
    /// unfolded 3×3 one then round differently and disagree by 0.28 (`Int8StemTests`) — and QAT learned worse around
    /// it (toy detector 0.0175 vs 0.0167). Kept, tested, until the choice is order-independent.
    package static func quantizeWeights(_ weights: [Float], rows: Int, preservingRowSums: Bool = false) -> (values: [Int8], scales: [Float]) {
        let k = weights.count / max(rows, 1)
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: rows)
        var residual = [Float](repeating: 0, count: k)
        for r in 0..<rows {
            var peak: Float = 0
            for i in 0..<k { peak = max(peak, abs(weights[r * k + i])) }
            let scale = peak > 0 ? peak / 127 : 1
            scales[r] = scale
            var sum = 0.0, quantizedSum = 0
            for i in 0..<k {
                let t = weights[r * k + i] / scale
                let q = max(-127, min(127, t.rounded(.toNearestOrEven)))
                values[r * k + i] = Int8(q)
                residual[i] = t - q
                sum += Double(weights[r * k + i])
                quantizedSum += Int(q)
            }
            var deficit = Int((sum / Double(scale)).rounded(.toNearestOrEven)) - quantizedSum
            guard preservingRowSums, deficit != 0 else { continue }
            // Candidates: largest residual first when raising, smallest first when lowering; index breaks ties.
            let up = deficit > 0
            let order = (0..<k).sorted { a, b in
                residual[a] != residual[b] ? (up ? residual[a] > residual[b] : residual[a] < residual[b]) : a < b
            }
            for i in order where deficit != 0 {
                let v = Int(values[r * k + i])
                guard up ? v < 127 : v > -127 else { continue }
                values[r * k + i] = Int8(v + (up ? 1 : -1))
                deficit += up ? -1 : 1
            }
        }
        return (values, scales)
    }

    /// `inputBits` 8 uses the activation's u8 parameters, 16 its `sixteenBit` ones.
    package init(conv: Conv, activation: ActivationQuantization, biasCorrection: [Float]?, inputBits: Int = 8) {
        self.conv = conv
        let (values, scales) = Self.quantizeWeights(conv.weights, rows: conv.outChannels)
        weights = values
        weightScales = scales
        let (aScale, aZero) = inputBits == 16 ? activation.sixteenBit : (activation.scale, activation.zeroPoint)
        self.inputBits = inputBits
        inputScale = aScale
        inputInvScale = 1 / aScale
        zeroPoint = aZero
        scale = scales.map { $0 * aScale }
        let k = conv.weights.count / max(conv.outChannels, 1)
        rowOffset = (0..<conv.outChannels).map { co in
            var sum: Int32 = 0
            for i in 0..<k { sum += Int32(values[co * k + i]) }
            return sum * Int32(aZero)
        }
        var b = conv.bias ?? [Float](repeating: 0, count: conv.outChannels)
        if let biasCorrection { for co in b.indices { b[co] += biasCorrection[co] } }
        bias = b
    }

    /// The input quantizer, exactly as the kernels compute it (multiply, clamp, round half to even, add zp).
    @inline(__always) package static func quantize(_ x: Float, invScale: Float, zeroPoint: Int, bits: Int = 8) -> Int32 {
        let range = quantizedRange(bits: bits)
        let t = min(max(x * invScale, Float(range.lowerBound - zeroPoint)), Float(range.upperBound - zeroPoint))
        return Int32(t.rounded(.toNearestOrEven)) + Int32(zeroPoint)
    }

    /// [0, 255] for u8 activations, [−32768, 32767] for 16-bit ones.
    @inline(__always) package static func quantizedRange(bits: Int) -> ClosedRange<Int> {
        bits == 16 ? -32768...32767 : 0...255
    }
}

extension Conv {
    /// A dense (group 1) conv with unit dilation, for tests and tools that build convs outside the importer.
    package static func dense(
        outChannels: Int, inChannels: Int, kernel: (h: Int, w: Int), stride: (h: Int, w: Int) = (1, 1),
        pads: (t: Int, l: Int, b: Int, r: Int) = (0, 0, 0, 0), weights: [Float], bias: [Float]?,
        activation: Activation = .none, hasResidual: Bool = false
    ) -> Conv {
        Conv(outChannels: outChannels, inChannels: inChannels, group: 1, kernel: kernel, stride: stride, dilation: (1, 1),
             pads: pads, weights: weights, bias: bias, activation: activation, hasResidual: hasResidual)
    }
}
