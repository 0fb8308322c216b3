import CSenteiKernels
import Foundation
@testable import SenteiEngine
import Testing

/// The space-to-depth int8 conv (sk_i8_s2d_* in int8_conv.c, used for image stems) against the scalar int8
/// definition (`Int8Reference`), for every int8 kernel set this CPU runs: the integer part is exact, so outputs
/// differ only by the float epilogue's rounding.
@Suite("Int8SpaceToDepthConv")
struct Int8SpaceToDepthConvTests {
    struct Case: CustomStringConvertible, Sendable {
        var cin: Int, cout: Int, h: Int, w: Int, kh: Int, kw: Int
        var stride: (h: Int, w: Int)
        var pads: (t: Int, l: Int, b: Int, r: Int)
        var activation: Activation = .none
        var residual = false
        /// Extra floats between input channel planes (the kernel must honour inputChannelStride).
        var channelGap = 0
        var ho: Int { (h + pads.t + pads.b - kh) / stride.h + 1 }
        var wo: Int { (w + pads.l + pads.r - kw) / stride.w + 1 }
        var description: String {
            "cin\(cin) cout\(cout) \(h)x\(w) k\(kh)x\(kw) s\(stride.h)x\(stride.w) p\(pads) \(activation)\(residual ? " +res" : "")"
        }
    }

    static let cases: [Case] = [
        // YOLOX's Focus folded into one conv (6×6/s2, pads 2), on a small odd-sized image.
        Case(cin: 3, cout: 16, h: 38, w: 46, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2), activation: .silu),
        // YOLOv8's stem: 3×3/s2, pads 1, ragged output (odd input).
        Case(cin: 3, cout: 16, h: 25, w: 31, kh: 3, kw: 3, stride: (2, 2), pads: (1, 1, 1, 1), activation: .silu),
        // Stride 1 (space-to-depth is the identity), odd counts, residual, sigmoid, padded channel planes.
        Case(cin: 3, cout: 10, h: 11, w: 13, kh: 3, kw: 3, stride: (1, 1), pads: (1, 1, 1, 1), activation: .sigmoid,
             residual: true, channelGap: 5),
        // 16 channels at stride 1 (4 full groups), 1×1, n smaller than one tile.
        Case(cin: 16, cout: 9, h: 3, w: 5, kh: 1, kw: 1, stride: (1, 1), pads: (0, 0, 0, 0), activation: .relu),
        // Asymmetric pads and strides, no padding on some sides, cout not a multiple of any tile's rows.
        Case(cin: 2, cout: 13, h: 17, w: 23, kh: 5, kw: 4, stride: (2, 3), pads: (0, 3, 2, 0)),
        // One channel, stride 4 (16 s2d channels), kernel smaller than the stride (taps that read nothing).
        Case(cin: 1, cout: 7, h: 21, w: 19, kh: 3, kw: 3, stride: (4, 4), pads: (1, 0, 1, 2), activation: .silu),
    ]

    static func layer(_ c: Case, seed: UInt64) -> (Int8Layer, GuardedBuffer, GuardedBuffer?) {
        var rng = SplitMix(seed: seed)
        let weights = (0..<(c.cout * c.cin * c.kh * c.kw)).map { _ in rng.nextFloat(in: -0.5...0.5) }
        let bias = (0..<c.cout).map { _ in rng.nextFloat(in: -1...1) }
        let conv = Conv.dense(outChannels: c.cout, inChannels: c.cin, kernel: (c.kh, c.kw), stride: c.stride, pads: c.pads,
                              weights: weights, bias: bias, activation: c.activation, hasResidual: c.residual)
        // Inputs reach beyond the clip range on both sides, so clamping is exercised.
        let plane = c.h * c.w + c.channelGap
        let input = GuardedBuffer(random: c.cin * plane, seed: seed &+ 1, range: -1.5...6)
        let activation = ActivationQuantization(scale: 5.0 / 255, zeroPoint: 30, observedMin: -1.5, observedMax: 6)
        let residual = c.residual ? GuardedBuffer(random: c.cout * c.ho * c.wo, seed: seed &+ 2) : nil
        let correction = (0..<c.cout).map { _ in rng.nextFloat(in: -0.1...0.1) }
        return (Int8Layer(conv: conv, activation: activation, biasCorrection: correction), input, residual)
    }

    static func reference(_ c: Case, _ layer: Int8Layer, _ input: GuardedBuffer, _ residual: GuardedBuffer?) -> [Float] {
        let want = GuardedBuffer(count: c.cout * c.ho * c.wo)
        Int8Reference.conv2d(layer, input: input.pointer, inputChannelStride: c.h * c.w + c.channelGap, h: c.h, w: c.w,
                             output: want.pointer, outputChannelStride: c.ho * c.wo,
                             residual: residual.map { UnsafePointer($0.pointer) }, residualChannelStride: c.ho * c.wo)
        return want.array
    }

    @Test(arguments: cases)
    func kernelMatchesTheScalarReference(_ c: Case) throws {
        let (layer, input, residual) = Self.layer(c, seed: UInt64(c.cin * 1000 + c.cout * 10 + c.kh))
        #expect(layer.usesSpaceToDepthKernel(h: c.h, w: c.w) == (c.cin <= 4))
        let want = Self.reference(c, layer, input, residual)
        for isa in Int8ISA.supported {
            for parts in [1, 3] {
                let got = GuardedBuffer(count: c.cout * c.ho * c.wo, fill: .nan)
                isa.conv2dOnce(layer, input: input.pointer, inputChannelStride: c.h * c.w + c.channelGap, h: c.h, w: c.w,
                               output: got.pointer, outputChannelStride: c.ho * c.wo,
                               residual: residual.map { UnsafePointer($0.pointer) }, residualChannelStride: c.ho * c.wo,
                               parts: parts, spaceToDepth: true)
                #expect(got.guardsIntact, "\(isa) parts \(parts): wrote outside the output")
                // The reference applies this machine's int8 SiLU: a lower ISA's differs by up to 2^−14 relative.
                let (atol, rtol): (Float, Float) = isa != .best && c.activation == .silu ? (3e-4, 1e-4) : (2e-5, 2e-5)
                let mismatch = firstMismatch(got.array, want, atol: atol, rtol: rtol)
                #expect(mismatch == nil, "\(isa) parts \(parts) \(c): \(mismatch ?? "")")
            }
        }
        #expect(input.guardsIntact)
    }

    /// The integer accumulation alone is exact: with scale 1, no bias and no activation, outputs are whole numbers
    /// equal to the reference's.
    @Test func accumulationIsExact() throws {
        let c = Case(cin: 3, cout: 16, h: 30, w: 34, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2))
        var (layer, input, _) = Self.layer(c, seed: 5)
        layer.scale = [Float](repeating: 1, count: c.cout)
        layer.bias = [Float](repeating: 0, count: c.cout)
        let want = Self.reference(c, layer, input, nil)
        for isa in Int8ISA.supported {
            let got = GuardedBuffer(count: c.cout * c.ho * c.wo)
            isa.conv2dOnce(layer, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w, output: got.pointer,
                           outputChannelStride: c.ho * c.wo, residual: nil, residualChannelStride: 0, parts: 2,
                           spaceToDepth: true)
            #expect(got.array == want, "\(isa)")
        }
    }

    /// Any ith/nth split writes every output exactly once: each part alone, into its own NaN-filled buffer, writes a
    /// set of elements disjoint from the other parts', and together they cover the output.
    @Test(arguments: [1, 2, 3, 5, 16, 40])
    func partsWriteDisjointOutputs(_ nth: Int) throws {
        let c = Case(cin: 3, cout: 11, h: 26, w: 30, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2), activation: .silu)
        let (layer, input, _) = Self.layer(c, seed: 11)
        let want = Self.reference(c, layer, input, nil)
        for isa in Int8ISA.supported {
            try layer.scale.withUnsafeBufferPointer { scale in
                try layer.bias.withUnsafeBufferPointer { bias in
                    try layer.rowOffset.withUnsafeBufferPointer { rowOffset in
                        var params = layer.kernelParams(
                            input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w, packedWeights: nil,
                            output: nil, outputChannelStride: c.ho * c.wo, residual: nil, residualChannelStride: 0,
                            scale: scale.baseAddress, bias: bias.baseAddress, rowOffset: rowOffset.baseAddress)
                        let packed = UnsafeMutableRawPointer.allocate(byteCount: isa.spaceToDepthPackedWeightBytes(&params), alignment: 64)
                        defer { packed.deallocate() }
                        let ok = layer.weights.withUnsafeBufferPointer { isa.spaceToDepthPackWeights(&params, $0.baseAddress!, into: packed) }
                        try #require(ok)
                        params.packedWeights = UnsafeRawPointer(packed)
                        let scratchBytes = isa.spaceToDepthScratchBytes(&params)
                        try #require(scratchBytes > 0)
                        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
                        defer { scratch.deallocate() }
                        var writers = [Int](repeating: 0, count: want.count)
                        var merged = [Float](repeating: .nan, count: want.count)
                        for ith in (0..<nth).reversed() {
                            let got = GuardedBuffer(count: want.count, fill: .nan)
                            params.output = got.pointer
                            isa.spaceToDepthConv2d(&params, scratch: scratch, ith: ith, nth: nth)
                            #expect(got.guardsIntact, "\(isa) part \(ith)/\(nth) wrote outside the output")
                            for (i, v) in got.array.enumerated() where !v.isNaN { writers[i] += 1; merged[i] = v }
                        }
                        #expect(writers.allSatisfy { $0 == 1 }, "\(isa) nth \(nth): an output written \(writers.min()!)…\(writers.max()!) times")
                        let (atol, rtol): (Float, Float) = isa != .best ? (3e-4, 1e-4) : (2e-5, 2e-5)  // SiLU, as above
                        #expect(firstMismatch(merged, want, atol: atol, rtol: rtol) == nil, "\(isa) nth \(nth)")
                    }
                }
            }
        }
    }

    /// Geometries the kernel leaves to the generic int8 conv.
    @Test func rejectsWhatItDoesNotHandle() {
        func supported(cin: Int, k: Int, stride: Int, dilation: Int = 1) -> Bool {
            var p = sk_i8_conv()
            p.cin = Int32(cin); p.h = 20; p.w = 20; p.cout = 4; p.kh = Int32(k); p.kw = Int32(k)
            p.strideH = Int32(stride); p.strideW = Int32(stride); p.dilationH = Int32(dilation); p.dilationW = Int32(dilation)
            return sk_i8_s2d_supported(&p) != 0
        }
        #expect(supported(cin: 3, k: 6, stride: 2))
        #expect(!supported(cin: 5, k: 3, stride: 2), "20 s2d channels: more than 4 groups")
        #expect(!supported(cin: 3, k: 3, stride: 1, dilation: 2))
        #expect(!supported(cin: 3, k: 30, stride: 1), "taller than the input")
        var p = sk_i8_conv()
        #expect(sk_i8_s2d_supported(&p) == 0 && sk_i8_s2d_scratch_bytes(Int8ISA.portable.rawValue, &p) == 0)
    }
}
