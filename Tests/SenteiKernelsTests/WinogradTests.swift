import SenteiEngine
import Testing

struct WinogradCase: CustomTestStringConvertible, Sendable {
    var cin: Int, cout: Int, h: Int, w: Int
    var pads = (1, 1, 1, 1)  // top, left, bottom, right
    var activation = 3, residual = false, bias = true
    /// Extra floats between channels of input/output (slices of a bigger concat buffer).
    var channelPad = 0
    var testDescription: String {
        "\(cin)->\(cout) \(h)x\(w) p\(pads) act\(activation) res:\(residual) bias:\(bias) cpad\(channelPad)"
    }
}

let winogradCases: [WinogradCase] = [
    // Odd sizes: partial tiles on the right and bottom, rows of tiles narrower than a vector.
    WinogradCase(cin: 16, cout: 16, h: 21, w: 19, activation: 3, residual: true),
    WinogradCase(cin: 8, cout: 13, h: 9, w: 11, activation: 0),
    WinogradCase(cin: 9, cout: 20, h: 30, w: 33, activation: 1, bias: false, channelPad: 3),
    WinogradCase(cin: 24, cout: 17, h: 40, w: 40, activation: 2, residual: true, channelPad: 5),
    // Rows of tiles wider than one vector of tiles (several chunks per tile row), several blocks.
    WinogradCase(cin: 16, cout: 16, h: 160, w: 150, activation: 3, residual: true),
    WinogradCase(cin: 64, cout: 80, h: 26, w: 27, activation: 3),
    WinogradCase(cin: 130, cout: 12, h: 13, w: 14, activation: 0, residual: true),
    // Unpadded and asymmetric padding.
    WinogradCase(cin: 12, cout: 8, h: 23, w: 18, pads: (0, 0, 0, 0), activation: 3),
    WinogradCase(cin: 10, cout: 11, h: 17, w: 29, pads: (2, 0, 1, 2), activation: 1, residual: true),
]

@Suite("Winograd F(4×4, 3×3) conv against the direct conv")
struct WinogradTests {
    @Test(arguments: KernelISA.supported, winogradCases)
    func winogradMatchesDirectConv(isa: KernelISA, c: WinogradCase) {
        let table = KernelTable(isa: isa)
        let ho = c.h + c.pads.0 + c.pads.2 - 2, wo = c.w + c.pads.1 + c.pads.3 - 2
        let ics = c.h * c.w + c.channelPad, ocs = ho * wo + c.channelPad, rcs = ho * wo + 1
        let k = c.cin * 9
        let input = GuardedBuffer(random: c.cin * ics, seed: 21)
        let weights = GuardedBuffer(random: c.cout * k, seed: 22, range: -0.5...0.5)
        let bias = GuardedBuffer(random: c.cout, seed: 23)
        let residual = GuardedBuffer(random: c.cout * rcs, seed: 24)
        // The direct conv of the same ISA is the reference (itself tested against the scalar reference).
        let packed = GuardedBuffer(count: table.packedWeightCount(c.cout, k))
        table.packWeights(weights.pointer, c.cout, k, packed.pointer)
        let want = GuardedBuffer(count: c.cout * ocs, fill: 3)
        let directScratch = GuardedBuffer(count: table.conv2dScratchCount(c.cin, 3, 3))
        table.conv2d(input.pointer, ics, c.cin, c.h, c.w, packed.pointer, c.cout, 3, 3, 1, 1, c.pads.0, c.pads.1,
                     c.pads.2, c.pads.3, 1, 1, want.pointer, ocs, c.bias ? bias.pointer : nil,
                     c.residual ? residual.pointer : nil, rcs, c.activation, directScratch.pointer, 0, 1)
        let scale = want.array.reduce(Float(0)) { max($0, abs($1)) }

        let transformed = GuardedBuffer(count: table.winogradPackedWeightCount(c.cout, c.cin))
        table.packWinogradWeights(weights.pointer, cout: c.cout, cin: c.cin, into: transformed.pointer)
        let scratchPer = table.winogradScratchCount(c.cin, c.cout)
        for nth in 1...3 {
            let got = GuardedBuffer(count: c.cout * ocs, fill: 3)
            let scratch = (0..<nth).map { _ in GuardedBuffer(count: scratchPer, fill: .nan) }
            runParts(nth) { ith, nth in
                table.conv3x3Winograd(input.pointer, ics, c.cin, c.h, c.w, transformed.pointer, c.cout, c.pads.0,
                                      c.pads.1, c.pads.2, c.pads.3, got.pointer, ocs, c.bias ? bias.pointer : nil,
                                      c.residual ? residual.pointer : nil, rcs, c.activation, scratch[ith].pointer,
                                      ith, nth)
            }
            #expect(got.guardsIntact, "\(isa) nth=\(nth): write outside the output")
            #expect(scratch.allSatisfy { $0.guardsIntact }, "\(isa) nth=\(nth): write outside the scratch")
            // Winograd rounds differently from the direct sum: compare relative to the largest output.
            let g = got.array, wa = want.array
            var worst: Float = 0, worstIndex = 0
            for i in 0..<g.count where !(abs(g[i] - wa[i]) <= worst) {
                worst = g[i].isNaN ? .infinity : abs(g[i] - wa[i])
                worstIndex = i
            }
            #expect(worst <= 1e-4 * scale,
                    "\(isa) nth=\(nth): element \(worstIndex) got \(g[worstIndex]) want \(wa[worstIndex]) (max |y| \(scale))")
        }
        #expect(input.guardsIntact && residual.guardsIntact && transformed.guardsIntact)
    }

    /// F(4×4, 3×3) loses more precision than the direct sum as Cin grows: on the deepest yolov8n shape (256 input
    /// channels, 20×20) it must stay within 1e-4 of the largest output against the double-precision reference.
    @Test func errorStaysSmallOnDeepSums() {
        let table = KernelTable.best
        let (cin, cout, h, w) = (256, 64, 20, 20)
        let input = GuardedBuffer(random: cin * h * w, seed: 31, range: -4...4)
        let weights = GuardedBuffer(random: cout * cin * 9, seed: 32, range: -0.1...0.1)
        let want = GuardedBuffer(count: cout * h * w)
        ReferenceKernels.conv2d(
            input: input.pointer, inputChannelStride: h * w, cin: cin, h: h, w: w, weights: weights.pointer,
            cout: cout, kh: 3, kw: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1,
            dilationH: 1, dilationW: 1, output: want.pointer, outputChannelStride: h * w, bias: nil, residual: nil,
            residualChannelStride: 0, activation: 0)
        let transformed = GuardedBuffer(count: table.winogradPackedWeightCount(cout, cin))
        table.packWinogradWeights(weights.pointer, cout: cout, cin: cin, into: transformed.pointer)
        let scratch = GuardedBuffer(count: table.winogradScratchCount(cin, cout))
        let got = GuardedBuffer(count: cout * h * w)
        table.conv3x3Winograd(input.pointer, h * w, cin, h, w, transformed.pointer, cout, 1, 1, 1, 1, got.pointer,
                              h * w, nil, nil, 0, 0, scratch.pointer, 0, 1)
        let scale = want.array.reduce(Float(0)) { max($0, abs($1)) }
        let worst = zip(got.array, want.array).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(worst <= 1e-4 * scale, "max error \(worst), max |y| \(scale)")
    }
}
