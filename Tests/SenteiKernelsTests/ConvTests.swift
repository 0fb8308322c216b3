import SenteiEngine
import Testing

struct ConvCase: CustomTestStringConvertible, Sendable {
    var cin: Int, cout: Int, h: Int, w: Int, kh: Int, kw: Int
    var stride = (1, 1), pads = (0, 0, 0, 0), dilation = (1, 1)  // pads: top, left, bottom, right
    var activation = 0, residual = false, bias = true
    /// Extra floats between channels of input/output (slices of a bigger concat buffer).
    var channelPad = 0
    var testDescription: String {
        "\(cin)->\(cout) \(h)x\(w) k\(kh)x\(kw) s\(stride) p\(pads) d\(dilation) act\(activation) res:\(residual) cpad\(channelPad)"
    }
}

let convCases: [ConvCase] = [
    ConvCase(cin: 1, cout: 1, h: 1, w: 1, kh: 1, kw: 1),
    ConvCase(cin: 3, cout: 5, h: 7, w: 9, kh: 3, kw: 3, pads: (1, 1, 1, 1), activation: 3),
    ConvCase(cin: 16, cout: 16, h: 20, w: 20, kh: 3, kw: 3, pads: (1, 1, 1, 1), activation: 3, residual: true),
    ConvCase(cin: 8, cout: 24, h: 21, w: 19, kh: 3, kw: 3, stride: (2, 2), pads: (1, 1, 1, 1), activation: 3),
    ConvCase(cin: 3, cout: 16, h: 32, w: 30, kh: 3, kw: 3, stride: (2, 2), pads: (1, 1, 1, 1), activation: 1),
    ConvCase(cin: 12, cout: 10, h: 13, w: 13, kh: 1, kw: 1, activation: 2, residual: true, channelPad: 5),
    ConvCase(cin: 4, cout: 9, h: 11, w: 14, kh: 5, kw: 5, pads: (2, 2, 2, 2), residual: true, channelPad: 3),
    ConvCase(cin: 6, cout: 7, h: 12, w: 10, kh: 3, kw: 2, stride: (1, 2), pads: (0, 1, 2, 0), activation: 3),
    ConvCase(cin: 5, cout: 11, h: 15, w: 16, kh: 3, kw: 3, pads: (2, 2, 2, 2), dilation: (2, 2), bias: false),
    ConvCase(cin: 12, cout: 8, h: 26, w: 26, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2), activation: 3),
    ConvCase(cin: 32, cout: 64, h: 13, w: 13, kh: 3, kw: 3, pads: (1, 1, 1, 1), activation: 3),
    // The divide forms (codes 5 and 6): the stem's 6×6/s2 on rows wide enough for the staged path, and a 1×1.
    ConvCase(cin: 3, cout: 16, h: 20, w: 104, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2), activation: 5),
    ConvCase(cin: 12, cout: 10, h: 13, w: 13, kh: 1, kw: 1, activation: 6, residual: true),
    ConvCase(cin: 9, cout: 3, h: 4, w: 5, kh: 1, kw: 1, stride: (2, 2), activation: 0),
    ConvCase(cin: 2, cout: 4, h: 3, w: 3, kh: 3, kw: 3, stride: (1, 1), pads: (0, 0, 0, 0)),
    // Output rows at least one tile wide (48 columns on AVX-512) take the staged path.
    ConvCase(cin: 5, cout: 20, h: 9, w: 100, kh: 3, kw: 3, pads: (1, 1, 1, 1), activation: 3, residual: true,
             channelPad: 2),
    ConvCase(cin: 4, cout: 16, h: 7, w: 130, kh: 3, kw: 3, stride: (2, 2), pads: (1, 1, 1, 1), activation: 1),
    ConvCase(cin: 3, cout: 9, h: 6, w: 96, kh: 3, kw: 3, pads: (0, 2, 1, 0), dilation: (1, 2), activation: 2),
    ConvCase(cin: 2, cout: 8, h: 5, w: 49, kh: 5, kw: 5, stride: (1, 1), pads: (2, 2, 2, 2), residual: true),
    ConvCase(cin: 3, cout: 5, h: 1, w: 64, kh: 1, kw: 3, stride: (1, 1), pads: (0, 1, 0, 1), activation: 3),
    ConvCase(cin: 3, cout: 16, h: 8, w: 200, kh: 3, kw: 3, stride: (2, 3), pads: (1, 1, 1, 1), activation: 3),
    // Staged input rows are reused across output rows (a ring of span rows per channel): YOLOX's folded 6×6/s2 stem,
    // and a vertical dilation (the window's rows two apart).
    ConvCase(cin: 3, cout: 16, h: 14, w: 104, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2), activation: 3),
    ConvCase(cin: 4, cout: 8, h: 11, w: 60, kh: 3, kw: 3, pads: (2, 2, 2, 2), dilation: (2, 2), residual: true),
    // Rows of 13 whole vectors (YOLOX's 208-wide stem rows): on AVX-512 their strips are 3 + 3 + 3 + 2 + 2 vectors.
    // (The 52-, 60- and 100-wide rows above end in two strips over a partial last vector.)
    ConvCase(cin: 3, cout: 16, h: 6, w: 416, kh: 6, kw: 6, stride: (2, 2), pads: (2, 2, 2, 2), activation: 5),
]

@Suite("conv2d against the scalar reference")
struct ConvTests {
    @Test(arguments: KernelISA.supported, convCases)
    func convMatchesReference(isa: KernelISA, c: ConvCase) {
        let table = KernelTable(isa: isa)
        let ho = ReferenceKernels.convOutputSize(input: c.h, kernel: c.kh, stride: c.stride.0, padBegin: c.pads.0,
                                                 padEnd: c.pads.2, dilation: c.dilation.0)
        let wo = ReferenceKernels.convOutputSize(input: c.w, kernel: c.kw, stride: c.stride.1, padBegin: c.pads.1,
                                                 padEnd: c.pads.3, dilation: c.dilation.1)
        let ics = c.h * c.w + c.channelPad, ocs = ho * wo + c.channelPad, rcs = ho * wo + 1
        let k = c.cin * c.kh * c.kw
        let input = GuardedBuffer(random: c.cin * ics, seed: 11)
        let weights = GuardedBuffer(random: c.cout * k, seed: 12, range: -0.5...0.5)
        let bias = GuardedBuffer(random: c.cout, seed: 13)
        let residual = GuardedBuffer(random: c.cout * rcs, seed: 14)
        let packed = GuardedBuffer(count: table.packedWeightCount(c.cout, k))
        table.packWeights(weights.pointer, c.cout, k, packed.pointer)
        let want = GuardedBuffer(count: c.cout * ocs, fill: 3)
        ReferenceKernels.conv2d(
            input: input.pointer, inputChannelStride: ics, cin: c.cin, h: c.h, w: c.w, weights: weights.pointer,
            cout: c.cout, kh: c.kh, kw: c.kw, strideH: c.stride.0, strideW: c.stride.1, padTop: c.pads.0,
            padLeft: c.pads.1, padBottom: c.pads.2, padRight: c.pads.3, dilationH: c.dilation.0,
            dilationW: c.dilation.1, output: want.pointer, outputChannelStride: ocs,
            bias: c.bias ? bias.pointer : nil, residual: c.residual ? residual.pointer : nil,
            residualChannelStride: rcs, activation: c.activation)
        let scratchPer = table.conv2dScratchCount(c.cin, c.kh, c.kw)
        for nth in 1...3 {
            let got = GuardedBuffer(count: c.cout * ocs, fill: 3)
            let scratch = (0..<nth).map { _ in GuardedBuffer(count: scratchPer, fill: .nan) }
            runParts(nth) { ith, nth in
                table.conv2d(input.pointer, ics, c.cin, c.h, c.w, packed.pointer, c.cout, c.kh, c.kw, c.stride.0,
                             c.stride.1, c.pads.0, c.pads.1, c.pads.2, c.pads.3, c.dilation.0, c.dilation.1,
                             got.pointer, ocs, c.bias ? bias.pointer : nil, c.residual ? residual.pointer : nil, rcs,
                             c.activation, scratch[ith].pointer, ith, nth)
            }
            #expect(got.guardsIntact, "\(isa) nth=\(nth): write outside the output")
            let scratchIntact = scratch.allSatisfy { $0.guardsIntact }
            #expect(scratchIntact, "\(isa) nth=\(nth): write outside the scratch")
            let mismatch = firstMismatch(got.array, want.array)
            #expect(mismatch == nil, "\(isa) nth=\(nth): \(mismatch ?? "")")
        }
        #expect(input.guardsIntact && residual.guardsIntact && packed.guardsIntact)
    }
}

struct DepthwiseCase: CustomTestStringConvertible, Sendable {
    var channels: Int, h: Int, w: Int, kh: Int, kw: Int
    var stride = (1, 1), pads = (1, 1, 1, 1), dilation = (1, 1)
    var activation = 0, bias = true, channelPad = 0
    var testDescription: String {
        "c\(channels) \(h)x\(w) k\(kh)x\(kw) s\(stride) p\(pads) d\(dilation) act\(activation) cpad\(channelPad)"
    }
}

let depthwiseCases: [DepthwiseCase] = [
    DepthwiseCase(channels: 1, h: 1, w: 1, kh: 3, kw: 3),
    DepthwiseCase(channels: 3, h: 40, w: 37, kh: 3, kw: 3, activation: 3),
    DepthwiseCase(channels: 5, h: 41, w: 40, kh: 3, kw: 3, stride: (2, 2), activation: 1, channelPad: 3),
    DepthwiseCase(channels: 4, h: 26, w: 52, kh: 5, kw: 5, pads: (2, 2, 2, 2), activation: 2),
    DepthwiseCase(channels: 2, h: 17, w: 33, kh: 3, kw: 3, pads: (2, 2, 2, 2), dilation: (2, 2), bias: false),
    DepthwiseCase(channels: 6, h: 9, w: 20, kh: 3, kw: 1, stride: (2, 1), pads: (0, 0, 1, 0), activation: 3),
    DepthwiseCase(channels: 3, h: 12, w: 12, kh: 3, kw: 3, stride: (1, 1), pads: (0, 0, 0, 0)),
    DepthwiseCase(channels: 7, h: 13, w: 13, kh: 3, kw: 3, stride: (2, 2), pads: (0, 0, 1, 1), activation: 3),
    DepthwiseCase(channels: 16, h: 64, w: 64, kh: 3, kw: 3, activation: 3, channelPad: 1),
    // Two-row passes: odd row counts leave a single row, parts split channels mid-way, widths end in partial vectors.
    DepthwiseCase(channels: 5, h: 13, w: 13, kh: 3, kw: 3, activation: 3, channelPad: 2),
    DepthwiseCase(channels: 4, h: 52, w: 52, kh: 3, kw: 3, stride: (2, 2), activation: 3, channelPad: 1),
    DepthwiseCase(channels: 3, h: 27, w: 34, kh: 3, kw: 3, stride: (2, 2), activation: 1),
    DepthwiseCase(channels: 3, h: 11, w: 40, kh: 3, kw: 3, stride: (2, 1), activation: 3),
    DepthwiseCase(channels: 3, h: 12, w: 21, kh: 3, kw: 3, stride: (1, 2), pads: (0, 1, 2, 1), activation: 2),
    // Rows activated in several runs (a plane of more than 2048 floats).
    DepthwiseCase(channels: 2, h: 70, w: 70, kh: 3, kw: 3, activation: 3),
]

@Suite("depthwise conv against the scalar reference")
struct DepthwiseTests {
    @Test(arguments: KernelISA.supported, depthwiseCases)
    func depthwiseMatchesReference(isa: KernelISA, c: DepthwiseCase) {
        let table = KernelTable(isa: isa)
        let ho = ReferenceKernels.convOutputSize(input: c.h, kernel: c.kh, stride: c.stride.0, padBegin: c.pads.0,
                                                 padEnd: c.pads.2, dilation: c.dilation.0)
        let wo = ReferenceKernels.convOutputSize(input: c.w, kernel: c.kw, stride: c.stride.1, padBegin: c.pads.1,
                                                 padEnd: c.pads.3, dilation: c.dilation.1)
        let ics = c.h * c.w + c.channelPad, ocs = ho * wo + c.channelPad
        let input = GuardedBuffer(random: c.channels * ics, seed: 21)
        let weights = GuardedBuffer(random: c.channels * c.kh * c.kw, seed: 22)
        let bias = GuardedBuffer(random: c.channels, seed: 23)
        let want = GuardedBuffer(count: c.channels * ocs, fill: 5)
        ReferenceKernels.depthwiseConv2d(
            input: input.pointer, inputChannelStride: ics, channels: c.channels, h: c.h, w: c.w,
            weights: weights.pointer, kh: c.kh, kw: c.kw, strideH: c.stride.0, strideW: c.stride.1,
            padTop: c.pads.0, padLeft: c.pads.1, padBottom: c.pads.2, padRight: c.pads.3, dilationH: c.dilation.0,
            dilationW: c.dilation.1, output: want.pointer, outputChannelStride: ocs,
            bias: c.bias ? bias.pointer : nil, activation: c.activation)
        for nth in 1...3 {
            let got = GuardedBuffer(count: c.channels * ocs, fill: 5)
            runParts(nth) { ith, nth in
                table.depthwiseConv2d(input.pointer, ics, c.channels, c.h, c.w, weights.pointer, c.kh, c.kw,
                                      c.stride.0, c.stride.1, c.pads.0, c.pads.1, c.pads.2, c.pads.3, c.dilation.0,
                                      c.dilation.1, got.pointer, ocs, c.bias ? bias.pointer : nil, c.activation,
                                      ith, nth)
            }
            #expect(got.guardsIntact, "\(isa) nth=\(nth): write outside the output")
            let mismatch = firstMismatch(got.array, want.array)
            #expect(mismatch == nil, "\(isa) nth=\(nth): \(mismatch ?? "")")
        }
        #expect(input.guardsIntact && weights.guardsIntact)
    }
}
