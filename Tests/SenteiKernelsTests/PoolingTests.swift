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

    @Test(arguments: KernelISA.supported, [(1, 1, 1, 1, 1), (3, 13, 13, 2, 2), (2, 5, 7, 3, 2), (4, 1, 9, 1, 4)])
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
