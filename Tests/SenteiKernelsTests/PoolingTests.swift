import CSenteiKernels
import SenteiEngine
import Testing

struct MaxPoolCase: CustomTestStringConvertible, Sendable {
    var channels: Int, h: Int, w: Int, k: (Int, Int), stride: (Int, Int), pads: (Int, Int, Int, Int)
    var channelPad = 0
    var testDescription: String { "c\(channels) \(h)x\(w) k\(k) s\(stride) p\(pads) cpad\(channelPad)" }
}

let maxPoolCases: [MaxPoolCase] = [
    MaxPoolCase(channels: 1, h: 1, w: 1, k: (1, 1), stride: (1, 1), pads: (0, 0, 0, 0)),
    MaxPoolCase(channels: 4, h: 20, w: 20, k: (5, 5), stride: (1, 1), pads: (2, 2, 2, 2)),  // SPPF
    MaxPoolCase(channels: 3, h: 13, w: 13, k: (9, 9), stride: (1, 1), pads: (4, 4, 4, 4), channelPad: 2),  // SPP
    MaxPoolCase(channels: 3, h: 13, w: 45, k: (13, 13), stride: (1, 1), pads: (6, 6, 6, 6)),  // SPP
    MaxPoolCase(channels: 5, h: 17, w: 18, k: (2, 2), stride: (2, 2), pads: (0, 0, 0, 0)),
    MaxPoolCase(channels: 2, h: 15, w: 15, k: (3, 3), stride: (2, 2), pads: (1, 1, 1, 1)),
    MaxPoolCase(channels: 2, h: 7, w: 9, k: (2, 3), stride: (1, 2), pads: (0, 1, 1, 1)),
]

@Suite("max pool and nearest resize against the scalar reference")
struct PoolingTests {
    @Test(arguments: KernelISA.supported, maxPoolCases)
    func maxPoolMatchesReference(isa: KernelISA, c: MaxPoolCase) {
        let table = KernelTable(isa: isa)
        let ho = ReferenceKernels.convOutputSize(input: c.h, kernel: c.k.0, stride: c.stride.0, padBegin: c.pads.0,
                                                 padEnd: c.pads.2, dilation: 1)
        let wo = ReferenceKernels.convOutputSize(input: c.w, kernel: c.k.1, stride: c.stride.1, padBegin: c.pads.1,
                                                 padEnd: c.pads.3, dilation: 1)
        let ics = c.h * c.w + c.channelPad, ocs = ho * wo + c.channelPad
        let input = GuardedBuffer(random: c.channels * ics, seed: 31, range: -100...100)
        let want = GuardedBuffer(count: c.channels * ocs, fill: 9)
        ReferenceKernels.maxPool2d(input: input.pointer, inputChannelStride: ics, channels: c.channels, h: c.h,
                                   w: c.w, kh: c.k.0, kw: c.k.1, strideH: c.stride.0, strideW: c.stride.1,
                                   padTop: c.pads.0, padLeft: c.pads.1, padBottom: c.pads.2, padRight: c.pads.3,
                                   output: want.pointer, outputChannelStride: ocs)
        for nth in 1...3 {
            let got = GuardedBuffer(count: c.channels * ocs, fill: 9)
            runParts(nth) { ith, nth in
                table.maxPool2d(input.pointer, ics, c.channels, c.h, c.w, c.k.0, c.k.1, c.stride.0, c.stride.1,
                                c.pads.0, c.pads.1, c.pads.2, c.pads.3, got.pointer, ocs, ith, nth)
            }
            #expect(got.guardsIntact, "\(isa) nth=\(nth)")
            #expect(got.array == want.array, "\(isa) nth=\(nth): \(firstMismatch(got.array, want.array, atol: 0, rtol: 0) ?? "")")
        }
    }

    /// sk_maxpool_same_f32 (whole small planes, `PoolCascade`'s kernel) against the reference: stride 1, k/2 padding,
    /// odd windows up to 31 (shifts across one to three neighbouring vectors), planes narrower than, equal to and wider
    /// than a vector, channel strides wider than the plane (nothing written between planes).
    @Test(arguments: KernelISA.supported)
    func smallPlanePoolMatchesReference(isa: KernelISA) {
        for (h, w) in [(1, 1), (13, 13), (16, 16), (17, 5), (3, 40), (64, 64), (20, 33)] {
            for k in [1, 3, 5, 7, 13, 31] {
                let channels = 3, ics = h * w + 5, ocs = h * w + 2
                let input = GuardedBuffer(random: channels * ics, seed: UInt64(h * 97 + w * 7 + k), range: -100...100)
                let want = GuardedBuffer(count: channels * ocs, fill: 9)
                ReferenceKernels.maxPool2d(input: input.pointer, inputChannelStride: ics, channels: channels, h: h, w: w,
                                           kh: k, kw: k, strideH: 1, strideW: 1, padTop: k / 2, padLeft: k / 2,
                                           padBottom: k / 2, padRight: k / 2, output: want.pointer, outputChannelStride: ocs)
                let got = GuardedBuffer(count: channels * ocs, fill: 9)
                let handled = sk_maxpool_same_f32(input.pointer, ics, got.pointer, ocs, channels, Int32(h), Int32(w),
                                                  Int32(k), Int32(isa.rawValue))
                #expect(handled == 1 && got.guardsIntact, "\(isa) \(h)×\(w) k\(k)")
                #expect(got.array == want.array, "\(isa) \(h)×\(w) k\(k): \(firstMismatch(got.array, want.array, atol: 0, rtol: 0) ?? "")")
            }
        }
        // Larger planes and windows are left to the row-cached kernel.
        let big = GuardedBuffer(count: 65 * 65, fill: 1)
        #expect(sk_maxpool_same_f32(big.pointer, 0, big.pointer, 0, 1, 65, 65, 5, Int32(isa.rawValue)) == 0)
        #expect(sk_maxpool_same_f32(big.pointer, 0, big.pointer, 0, 1, 40, 40, 33, Int32(isa.rawValue)) == 0)
        #expect(sk_maxpool_same_f32(big.pointer, 0, big.pointer, 0, 1, 40, 40, 4, Int32(isa.rawValue)) == 0)
    }

    @Test(arguments: KernelISA.supported, [(1, 1, 1, 1, 1), (3, 13, 13, 2, 2), (2, 5, 7, 3, 2), (4, 1, 9, 1, 4),
                                           (2, 3, 26, 2, 2), (1, 2, 32, 2, 2)])
    func resizeNearestMatchesReference(isa: KernelISA, shape: (Int, Int, Int, Int, Int)) {
        let (channels, h, w, sh, sw) = shape
        let table = KernelTable(isa: isa)
        let ics = h * w + 3, ocs = h * sh * w * sw + 1
        let input = GuardedBuffer(random: channels * ics, seed: 41)
        let want = GuardedBuffer(count: channels * ocs, fill: 2)
        ReferenceKernels.resizeNearest(input: input.pointer, inputChannelStride: ics, channels: channels, h: h, w: w,
                                       scaleH: sh, scaleW: sw, output: want.pointer, outputChannelStride: ocs)
        for nth in 1...3 {
            let got = GuardedBuffer(count: channels * ocs, fill: 2)
            runParts(nth) { ith, nth in
                table.resizeNearest(input.pointer, ics, channels, h, w, sh, sw, got.pointer, ocs, ith, nth)
            }
            #expect(got.guardsIntact)
            #expect(got.array == want.array, "\(isa) nth=\(nth)")
        }
    }
}
