import SenteiEngine
import Testing

// The 3×3 depthwise paths read rows straight from the input: masked loads at both ends of a row (every load when
// the row is narrower than a vector), a zero row above and below the image, four stride-1 rows or two stride-2 rows
// per pass with single rows for the rest, and stride-2 columns split in registers. These shapes reach each of them
// at every vector width (4, 8, 16), with parts that start and end mid-channel and mid-pass.
let depthwiseRowCases: [DepthwiseCase] = [
    // Narrower than every vector: all loads masked on both sides.
    DepthwiseCase(channels: 3, h: 5, w: 3, kh: 3, kw: 3, activation: 3),
    DepthwiseCase(channels: 2, h: 7, w: 2, kh: 3, kw: 3, stride: (2, 2), activation: 1),
    DepthwiseCase(channels: 4, h: 9, w: 7, kh: 3, kw: 3, stride: (2, 2), activation: 3, channelPad: 5),
    // YOLO widths: 13 (one partial vector), 26 (two), 52 (four with a 4-lane tail), 104 (plain vectors between).
    DepthwiseCase(channels: 5, h: 13, w: 13, kh: 3, kw: 3, activation: 3),
    DepthwiseCase(channels: 3, h: 26, w: 26, kh: 3, kw: 3, activation: 3),
    DepthwiseCase(channels: 2, h: 14, w: 52, kh: 3, kw: 3, activation: 2, channelPad: 3),
    DepthwiseCase(channels: 2, h: 10, w: 104, kh: 3, kw: 3, activation: 3),
    DepthwiseCase(channels: 3, h: 26, w: 26, kh: 3, kw: 3, stride: (2, 2), activation: 3),
    DepthwiseCase(channels: 2, h: 12, w: 104, kh: 3, kw: 3, stride: (2, 2), activation: 3),
    // The divide forms (codes 5 and 6) through the four-row pass, its partial vectors and the stride-2 pair.
    DepthwiseCase(channels: 3, h: 13, w: 104, kh: 3, kw: 3, activation: 5),
    DepthwiseCase(channels: 3, h: 9, w: 26, kh: 3, kw: 3, activation: 6),
    DepthwiseCase(channels: 2, h: 13, w: 53, kh: 3, kw: 3, stride: (2, 2), activation: 5),
    // Odd widths and heights: the last vector's tail, the last stride-2 column reading the right pad, a single row
    // after the passes of four (h 13 = 4+4+4+1, 7 = 4+3) or two.
    DepthwiseCase(channels: 3, h: 7, w: 53, kh: 3, kw: 3, activation: 3),
    DepthwiseCase(channels: 3, h: 27, w: 27, kh: 3, kw: 3, stride: (2, 2), activation: 3),
    DepthwiseCase(channels: 2, h: 9, w: 105, kh: 3, kw: 3, stride: (2, 2), activation: 1),
    DepthwiseCase(channels: 2, h: 11, w: 67, kh: 3, kw: 3, stride: (2, 2), activation: 3, channelPad: 1),
    DepthwiseCase(channels: 2, h: 6, w: 37, kh: 3, kw: 3, activation: 0, bias: false),
    // Asymmetric and absent pads: no left pad (a row's first vector is plain), two on one side, more at the end.
    DepthwiseCase(channels: 3, h: 11, w: 40, kh: 3, kw: 3, pads: (0, 0, 1, 1), activation: 3),
    DepthwiseCase(channels: 3, h: 11, w: 40, kh: 3, kw: 3, pads: (1, 1, 0, 0), activation: 3),
    DepthwiseCase(channels: 2, h: 10, w: 35, kh: 3, kw: 3, pads: (2, 0, 1, 2), activation: 2),
    DepthwiseCase(channels: 2, h: 10, w: 35, kh: 3, kw: 3, pads: (0, 2, 2, 0), activation: 1),
    DepthwiseCase(channels: 2, h: 10, w: 36, kh: 3, kw: 3, stride: (2, 2), pads: (0, 2, 2, 0), activation: 3),
    DepthwiseCase(channels: 2, h: 15, w: 49, kh: 3, kw: 3, stride: (2, 2), pads: (2, 0, 0, 2), activation: 3),
    DepthwiseCase(channels: 2, h: 8, w: 70, kh: 3, kw: 3, stride: (2, 2), pads: (0, 0, 0, 0), activation: 3),
    // Inputs of 2^18 floats and more: parts split every channel's rows instead of the channels (2, 3, 5 and 8
    // parts; more parts than rows/8 fall back to the channel split).
    DepthwiseCase(channels: 16, h: 130, w: 131, kh: 3, kw: 3, stride: (2, 2), activation: 3),
    DepthwiseCase(channels: 5, h: 229, w: 230, kh: 3, kw: 3, activation: 3, channelPad: 7),
    // Mixed strides: single-row passes only.
    DepthwiseCase(channels: 3, h: 9, w: 45, kh: 3, kw: 3, stride: (2, 1), pads: (1, 0, 1, 2), activation: 3),
    DepthwiseCase(channels: 3, h: 9, w: 45, kh: 3, kw: 3, stride: (1, 2), pads: (0, 1, 1, 1), activation: 3),
    DepthwiseCase(channels: 2, h: 13, w: 13, kh: 3, kw: 3, stride: (3, 1), activation: 3),
]

@Suite("3×3 depthwise rows against the scalar reference")
struct DepthwiseRowTests {
    @Test(arguments: KernelISA.supported, depthwiseRowCases)
    func depthwiseRowsMatchReference(isa: KernelISA, c: DepthwiseCase) {
        let table = KernelTable(isa: isa)
        let ho = ReferenceKernels.convOutputSize(input: c.h, kernel: 3, stride: c.stride.0, padBegin: c.pads.0,
                                                 padEnd: c.pads.2, dilation: 1)
        let wo = ReferenceKernels.convOutputSize(input: c.w, kernel: 3, stride: c.stride.1, padBegin: c.pads.1,
                                                 padEnd: c.pads.3, dilation: 1)
        let ics = c.h * c.w + c.channelPad, ocs = ho * wo + c.channelPad
        let input = GuardedBuffer(random: c.channels * ics, seed: 31, range: -3...3)
        let weights = GuardedBuffer(random: c.channels * 9, seed: 32)
        let bias = GuardedBuffer(random: c.channels, seed: 33)
        let want = GuardedBuffer(count: c.channels * ocs, fill: 5)
        ReferenceKernels.depthwiseConv2d(
            input: input.pointer, inputChannelStride: ics, channels: c.channels, h: c.h, w: c.w,
            weights: weights.pointer, kh: 3, kw: 3, strideH: c.stride.0, strideW: c.stride.1,
            padTop: c.pads.0, padLeft: c.pads.1, padBottom: c.pads.2, padRight: c.pads.3, dilationH: 1,
            dilationW: 1, output: want.pointer, outputChannelStride: ocs,
            bias: c.bias ? bias.pointer : nil, activation: c.activation)
        // 5 and 8 parts start mid-channel and mid-pass; more parts than rows leave some parts empty.
        for nth in [1, 2, 3, 5, 8, c.channels * ho + 3] {
            let got = GuardedBuffer(count: c.channels * ocs, fill: 5)
            runParts(nth) { ith, nth in
                table.depthwiseConv2d(input.pointer, ics, c.channels, c.h, c.w, weights.pointer, 3, 3,
                                      c.stride.0, c.stride.1, c.pads.0, c.pads.1, c.pads.2, c.pads.3, 1, 1,
                                      got.pointer, ocs, c.bias ? bias.pointer : nil, c.activation, ith, nth)
            }
            #expect(got.guardsIntact, "\(isa) nth=\(nth): write outside the output")
            let mismatch = firstMismatch(got.array, want.array)
            #expect(mismatch == nil, "\(isa) nth=\(nth): \(mismatch ?? "")")
        }
        #expect(input.guardsIntact && weights.guardsIntact)
    }
}
