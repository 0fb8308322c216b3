/// One conv prepared for int8: per-output-channel symmetric s8 weights and the epilogue constants.
/// q(x) = clamp(round(x·inputInvScale), −zp, 255 − zp) + zp; out = act((Σ w8·q − rowOffset)·scale + bias) (+ residual).
package struct Int8Layer: Sendable {
    package var conv: Conv
    /// Row-major [cout, cin·kh·kw] s8 weights.
    package var weights: [Int8]
    package var weightScales: [Float]
    package var inputScale: Float
    package var inputInvScale: Float
    package var zeroPoint: Int
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

    /// Symmetric per-row int8: scale = max|w|/127 (1 for an all-zero row), q = round-half-even(w/scale).
    package static func quantizeWeights(_ weights: [Float], rows: Int) -> (values: [Int8], scales: [Float]) {
        let k = weights.count / max(rows, 1)
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            var peak: Float = 0
            for i in 0..<k { peak = max(peak, abs(weights[r * k + i])) }
            let scale = peak > 0 ? peak / 127 : 1
            scales[r] = scale
            for i in 0..<k {
                let q = (weights[r * k + i] / scale).rounded(.toNearestOrEven)
                values[r * k + i] = Int8(max(-127, min(127, q)))
            }
        }
        return (values, scales)
    }

    package init(conv: Conv, activation: ActivationQuantization, biasCorrection: [Float]?) {
        self.conv = conv
        let (values, scales) = Self.quantizeWeights(conv.weights, rows: conv.outChannels)
        weights = values
        weightScales = scales
        inputScale = activation.scale
        inputInvScale = 1 / activation.scale
        zeroPoint = activation.zeroPoint
        scale = scales.map { $0 * activation.scale }
        let k = conv.weights.count / max(conv.outChannels, 1)
        rowOffset = (0..<conv.outChannels).map { co in
            var sum: Int32 = 0
            for i in 0..<k { sum += Int32(values[co * k + i]) }
            return sum * Int32(activation.zeroPoint)
        }
        var b = conv.bias ?? [Float](repeating: 0, count: conv.outChannels)
        if let biasCorrection { for co in b.indices { b[co] += biasCorrection[co] } }
        bias = b
    }

    /// The input quantizer, exactly as the kernels compute it (multiply, clamp, round half to even, add zp).
    @inline(__always) package static func quantize(_ x: Float, invScale: Float, zeroPoint: Int) -> Int32 {
        let t = min(max(x * invScale, Float(-zeroPoint)), Float(255 - zeroPoint))
        return Int32(t.rounded(.toNearestOrEven)) + Int32(zeroPoint)
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
