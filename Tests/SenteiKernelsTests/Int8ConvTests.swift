import CSenteiKernels
import Foundation
@testable import SenteiEngine
import Testing

/// Every int8 kernel set this CPU runs against the scalar int8 definition (`Int8Reference`): the integer part is
/// exact, so only the float epilogue (scale, bias, vector exp) may differ, by float rounding.
@Suite("Int8Conv")
struct Int8ConvTests {
    struct Case: CustomStringConvertible, Sendable {
        var cin: Int, cout: Int, h: Int, w: Int, k: Int, stride: Int, pad: Int
        var activation: Activation = .none
        var residual = false
        var description: String {
            "cin\(cin) cout\(cout) \(h)x\(w) k\(k) s\(stride) p\(pad) \(activation)\(residual ? " +res" : "")"
        }
    }

    static let cases: [Case] = [
        Case(cin: 16, cout: 32, h: 13, w: 13, k: 1, stride: 1, pad: 0, activation: .silu),          // 1×1, direct strips
        Case(cin: 7, cout: 10, h: 3, w: 5, k: 1, stride: 1, pad: 0),                               // n < tile, odd K and M
        Case(cin: 12, cout: 16, h: 17, w: 19, k: 3, stride: 1, pad: 1, activation: .sigmoid),      // 3×3 im2col
        Case(cin: 24, cout: 20, h: 26, w: 26, k: 3, stride: 2, pad: 1, activation: .relu),         // stride 2
        Case(cin: 32, cout: 24, h: 10, w: 10, k: 1, stride: 1, pad: 0, activation: .silu, residual: true),
        Case(cin: 5, cout: 9, h: 9, w: 11, k: 3, stride: 2, pad: 0),                               // no padding, ragged
    ]

    /// `inputBits` 16: the same conv with 16-bit activations over an observed range narrower than the input's, so
    /// their clamping is exercised too.
    static func layer(_ c: Case, seed: UInt64, inputBits: Int = 8) -> (Int8Layer, GuardedBuffer, GuardedBuffer?) {
        var rng = SplitMix(seed: seed)
        let weights = (0..<(c.cout * c.cin * c.k * c.k)).map { _ in rng.nextFloat(in: -0.5...0.5) }
        let bias = (0..<c.cout).map { _ in rng.nextFloat(in: -1...1) }
        let conv = Conv.dense(outChannels: c.cout, inChannels: c.cin, kernel: (c.k, c.k), stride: (c.stride, c.stride),
                              pads: (c.pad, c.pad, c.pad, c.pad), weights: weights, bias: bias,
                              activation: c.activation, hasResidual: c.residual)
        // Inputs reach beyond the clip range on both sides, so clamping is exercised.
        let input = GuardedBuffer(random: c.cin * c.h * c.w, seed: seed &+ 1, range: -1.5...6)
        let activation = ActivationQuantization(scale: 5.0 / 255, zeroPoint: 30, observedMin: -1.2, observedMax: 5)
        let ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1
        let residual = c.residual ? GuardedBuffer(random: c.cout * ho * wo, seed: seed &+ 2) : nil
        let correction = (0..<c.cout).map { _ in rng.nextFloat(in: -0.1...0.1) }
        return (Int8Layer(conv: conv, activation: activation, biasCorrection: correction, inputBits: inputBits), input, residual)
    }

    @Test(arguments: cases, [8, 16])
    func kernelsMatchTheScalarReference(_ c: Case, inputBits: Int) throws {
        let (layer, input, residual) = Self.layer(c, seed: UInt64(c.cin * 1000 + c.cout), inputBits: inputBits)
        let ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1
        let want = GuardedBuffer(count: c.cout * ho * wo)
        Int8Reference.conv2d(layer, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w,
                             output: want.pointer, outputChannelStride: ho * wo,
                             residual: residual.map { UnsafePointer($0.pointer) }, residualChannelStride: ho * wo)
        #expect(Int8ISA.supported.contains(.portable))
        for isa in Int8ISA.supported {
            let got = GuardedBuffer(count: c.cout * ho * wo, fill: .nan)
            try runKernel(isa, layer, c, input: input, residual: residual, output: got, parts: 3)
            #expect(got.guardsIntact, "\(isa): wrote outside the output")
            // The reference applies this machine's int8 SiLU (sk_i8_silu of Int8ISA.best): a lower ISA's kernel
            // differs from VNNI's vrcp14ps by up to 2^−14 relative (siluIsTheReferenceFunction).
            let (atol, rtol): (Float, Float) = isa != .best && c.activation == .silu ? (3e-4, 1e-4) : (2e-5, 2e-5)
            #expect(firstMismatch(got.array, want.array, atol: atol, rtol: rtol) == nil,
                    "\(isa) \(c): \(firstMismatch(got.array, want.array, atol: atol, rtol: rtol) ?? "")")
        }
    }

    /// The integer accumulation alone is exact: with scale 1, no bias or zero point, outputs are whole numbers equal
    /// to the reference's. For 16-bit activations also at the largest k they take (512), with inputs past both ends
    /// of the range and weights at ±127, where one more k value could overflow the 32-bit accumulator.
    @Test(arguments: [(Case(cin: 37, cout: 11, h: 7, w: 9, k: 3, stride: 1, pad: 1), 8),
                      (Case(cin: 37, cout: 11, h: 7, w: 9, k: 3, stride: 1, pad: 1), 16),
                      (Case(cin: Int8Layer.maxSixteenBitK, cout: 9, h: 5, w: 11, k: 1, stride: 1, pad: 0), 16)])
    func accumulationIsExact(_ c: Case, inputBits: Int) throws {
        var (layer, input, _) = Self.layer(c, seed: 99, inputBits: inputBits)
        if c.cin == Int8Layer.maxSixteenBitK {
            // Every weight ±127 with one sign per output channel, every input clamped to the range's far end.
            for co in 0..<c.cout { for i in 0..<c.cin { layer.weights[co * c.cin + i] = co % 2 == 0 ? 127 : -127 } }
            for i in 0..<(c.cin * c.h * c.w) { input.pointer[i] = i % 3 == 0 ? 100 : -100 }
            layer.rowOffset = [Int32](repeating: 0, count: c.cout)
        }
        layer.scale = [Float](repeating: 1, count: c.cout)
        layer.bias = [Float](repeating: 0, count: c.cout)
        let want = GuardedBuffer(count: c.cout * c.h * c.w)
        Int8Reference.conv2d(layer, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w,
                             output: want.pointer, outputChannelStride: c.h * c.w, residual: nil, residualChannelStride: 0)
        for isa in Int8ISA.supported {
            let got = GuardedBuffer(count: c.cout * c.h * c.w)
            try runKernel(isa, layer, c, input: input, residual: nil, output: got, parts: 2)
            #expect(got.array == want.array, "\(isa) \(inputBits)-bit")
        }
    }

    /// 16-bit activations remove the input rounding: on weights that int8 represents exactly, the w8a16 conv lands
    /// far closer to the float conv than the u8 one.
    @Test func sixteenBitActivationsTrackTheFloatConvCloser() throws {
        let c = Self.cases[0]
        let q = ActivationQuantization(scale: 7.5 / 255, zeroPoint: 51, observedMin: -1.5, observedMax: 6)
        var (base, input, _) = Self.layer(c, seed: 7)
        let (values, scales) = Int8Layer.quantizeWeights(base.conv.weights, rows: c.cout)
        base.conv.weights = values.indices.map { Float(values[$0]) * scales[$0 / c.cin] }
        let u8 = try relativeErrorAgainstFloat(Int8Layer(conv: base.conv, activation: q, biasCorrection: nil), c, input)
        let s16 = try relativeErrorAgainstFloat(Int8Layer(conv: base.conv, activation: q, biasCorrection: nil, inputBits: 16), c, input)
        #expect(s16 > 0 && s16 * 20 < u8, "relative RMS error: 16-bit \(s16), u8 \(u8)")
    }

    /// The int8 SiLU inside the conv epilogue is exactly `sk_i8_silu` of the same ISA (what the QAT forward runs), and
    /// on the portable and AVX2 kernels exactly `Int8Reference.silu`; VNNI's vrcp14ps keeps it within 2^−14. With a
    /// scale of 2^−10 and whole-number biases the epilogue's input is exact: accumulators / 1024 (from about −100 to
    /// 100, and below −80 on the channels with a bias of −300).
    @Test func siluIsTheReferenceFunction() throws {
        let c = Case(cin: 40, cout: 13, h: 9, w: 11, k: 1, stride: 1, pad: 0, activation: .silu)
        var (layer, input, _) = Self.layer(c, seed: 7)
        layer.scale = [Float](repeating: 1.0 / 1024, count: c.cout)
        layer.bias = (0..<c.cout).map { $0 % 2 == 0 ? 0 : -300 }
        var linear = layer
        linear.conv.activation = .none
        let count = c.cout * c.h * c.w
        let z = GuardedBuffer(count: count)
        Int8Reference.conv2d(linear, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w,
                             output: z.pointer, outputChannelStride: c.h * c.w, residual: nil, residualChannelStride: 0)
        #expect(z.array.contains { $0 > 80 } && z.array.contains { $0 < -80 } && z.array.contains { abs($0) < 20 })
        let definition = z.array.map(Int8Reference.silu)
        for isa in Int8ISA.supported {
            let got = GuardedBuffer(count: count)
            try runKernel(isa, layer, c, input: input, residual: nil, output: got, parts: 2)
            var rows = [Float](repeating: .nan, count: count)
            sk_i8_silu(isa.rawValue, z.pointer, &rows, count)
            #expect(got.array.map(\.bitPattern) == rows.map(\.bitPattern), "\(isa): epilogue vs sk_i8_silu")
            if isa == .avx512vnni || isa == .amx {
                #expect(firstMismatch(got.array, definition, atol: 1e-30, rtol: 7e-5) == nil, "\(isa)")
            } else {
                #expect(got.array.map(\.bitPattern) == definition.map(\.bitPattern), "\(isa): epilogue vs Int8Reference.silu")
            }
        }
    }

    /// The int8 SiLU against x·σ(x) in Double on a dense grid: within 1e-4 relative (8e-5 measured) where σ's input
    /// is not clamped, finite everywhere, within 1e-5 of x for large x, and a tiny negative below −80.
    @Test func int8SiLUIsAccurate() {
        var worst = 0.0
        var x: Float = -120
        while x <= 120 {
            let got = Double(Int8Reference.silu(x)), want = Double(x) / (1 + exp(-Double(x)))
            #expect(got.isFinite)
            if x >= -80 {
                worst = max(worst, abs(got - want) / max(abs(want), 1e-300))
            } else {
                #expect(got <= 0 && got > -1e-30)
            }
            x += 0.0007
        }
        #expect(worst < 1e-4, "worst relative error \(worst)")
        #expect(abs(Int8Reference.silu(100) - 100) < 1e-3 && Int8Reference.silu(0) == 0)
    }

    /// Quantized against float: with the input range covering the data and no bias correction, the int8 conv's
    /// error is quantization noise, a small fraction of the output's spread.
    @Test(arguments: [cases[0], cases[2], cases[3]])
    func quantizedConvTracksTheFloatConv(_ c: Case) throws {
        var (layer, input, residual) = Self.layer(c, seed: 7)
        // Input range [−1.5, 6] exactly: nothing clipped. Bias without correction.
        let q = ActivationQuantization(scale: 7.5 / 255, zeroPoint: 51, observedMin: -1.5, observedMax: 6)
        layer = Int8Layer(conv: layer.conv, activation: q, biasCorrection: nil)
        let conv = layer.conv
        let ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1
        let got = GuardedBuffer(count: c.cout * ho * wo)
        try runKernel(Int8ISA.supported.last!, layer, c, input: input, residual: residual, output: got, parts: 2)
        var squared = 0.0, spread = 0.0, mean = 0.0
        var want = [Double](repeating: 0, count: c.cout * ho * wo)
        for co in 0..<c.cout {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var acc = Double(conv.bias![co])
                    for ci in 0..<c.cin {
                        for ky in 0..<c.k {
                            for kx in 0..<c.k {
                                let iy = oy * c.stride - c.pad + ky, ix = ox * c.stride - c.pad + kx
                                guard iy >= 0, iy < c.h, ix >= 0, ix < c.w else { continue }
                                acc += Double(conv.weights[((co * c.cin + ci) * c.k + ky) * c.k + kx]) * Double(input.pointer[(ci * c.h + iy) * c.w + ix])
                            }
                        }
                    }
                    switch c.activation {
                    case .none: break
                    case .relu: acc = max(acc, 0)
                    case .sigmoid: acc = 1 / (1 + exp(-acc))
                    case .silu: acc = acc / (1 + exp(-acc))
                    }
                    let p = (co * ho + oy) * wo + ox
                    if let residual { acc += Double(residual.pointer[p]) }
                    want[p] = acc
                    mean += acc
                }
            }
        }
        mean /= Double(want.count)
        for (i, w) in want.enumerated() {
            squared += (Double(got.pointer[i]) - w) * (Double(got.pointer[i]) - w)
            spread += (w - mean) * (w - mean)
        }
        let relative = (squared / spread).squareRoot()
        #expect(relative < 0.02, "\(c): int8 vs float relative RMS error \(relative)")
        #expect(relative > 0, "int8 should not be bit-equal to float")
    }

    /// Relative RMS error of the best kernel set's output against the float conv (1×1, stride 1, any activation).
    func relativeErrorAgainstFloat(_ layer: Int8Layer, _ c: Case, _ input: GuardedBuffer) throws -> Double {
        precondition(c.k == 1 && c.stride == 1 && c.pad == 0 && !c.residual)
        let n = c.h * c.w
        let got = GuardedBuffer(count: c.cout * n)
        try runKernel(Int8ISA.supported.last!, layer, c, input: input, residual: nil, output: got, parts: 2)
        var want = [Double](repeating: 0, count: c.cout * n)
        for co in 0..<c.cout {
            for p in 0..<n {
                var acc = Double(layer.conv.bias![co])
                for ci in 0..<c.cin { acc += Double(layer.conv.weights[co * c.cin + ci]) * Double(input.pointer[ci * n + p]) }
                want[co * n + p] = c.activation == .silu ? acc / (1 + exp(-acc)) : acc
            }
        }
        let mean = want.reduce(0, +) / Double(want.count)
        var squared = 0.0, spread = 0.0
        for (i, w) in want.enumerated() {
            squared += (Double(got.pointer[i]) - w) * (Double(got.pointer[i]) - w)
            spread += (w - mean) * (w - mean)
        }
        return (squared / spread).squareRoot()
    }

    func runKernel(_ isa: Int8ISA, _ layer: Int8Layer, _ c: Case, input: GuardedBuffer, residual: GuardedBuffer?,
                   output: GuardedBuffer, parts: Int) throws {
        let ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1
        isa.conv2dOnce(layer, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w, output: output.pointer,
                       outputChannelStride: ho * wo, residual: residual.map { UnsafePointer($0.pointer) },
                       residualChannelStride: ho * wo, parts: parts)
    }
}
