import CSenteiKernels
@testable import SenteiEngine
import Testing

/// Two int8 1×1 convs of one input run as one kernel call (`Int8Layer.merging`, `sk_i8_conv.output2`): each output is
/// bit for bit what its own call gives, on every kernel set this CPU runs, at both activation widths and any split of
/// the output channels (inside a microkernel tile or on its edge).
@Suite("Int8 sibling calls")
struct Int8SiblingTests {
    typealias Case = Int8ConvTests.Case

    @Test(arguments: [
        // (cin, first cout, second cout, h, w, first activation, second activation): YOLOX's CSP entry pair, its
        // box + objectness pair (4 + 1 rows in one tile), splits off the tile edge, maps narrower than a tile, and a
        // k that AMX takes (≥ 128, a multiple of 64).
        (32, 16, 16, 13, 13, Activation.silu, Activation.silu), (64, 4, 1, 12, 11, .none, .sigmoid),
        (24, 12, 20, 9, 7, .relu, .silu), (16, 5, 3, 3, 4, .silu, .none), (128, 24, 40, 10, 10, .silu, .sigmoid),
    ], [8, 16])
    func mergedCallMatchesSeparateCalls(_ p: (Int, Int, Int, Int, Int, Activation, Activation), bits: Int) throws {
        let (cin, ma, mb, h, w) = (p.0, p.1, p.2, p.3, p.4)
        let caseA = Case(cin: cin, cout: ma, h: h, w: w, k: 1, stride: 1, pad: 0, activation: p.5)
        let caseB = Case(cin: cin, cout: mb, h: h, w: w, k: 1, stride: 1, pad: 0, activation: p.6)
        let (a, input, _) = Int8ConvTests.layer(caseA, seed: 11, inputBits: bits)
        let (b, _, _) = Int8ConvTests.layer(caseB, seed: 12, inputBits: bits)
        let merged = Int8Layer.merging(a, b)
        #expect(merged.conv.outChannels == ma + mb)
        for isa in Int8ISA.supported {
            let wantA = GuardedBuffer(count: ma * h * w, fill: .nan), wantB = GuardedBuffer(count: mb * h * w, fill: .nan)
            try Int8ConvTests().runKernel(isa, a, caseA, input: input, residual: nil, output: wantA, parts: 1)
            try Int8ConvTests().runKernel(isa, b, caseB, input: input, residual: nil, output: wantB, parts: 1)
            for parts in [1, 2, 3] {
                let gotA = GuardedBuffer(count: ma * h * w, fill: .nan), gotB = GuardedBuffer(count: mb * h * w, fill: .nan)
                isa.conv2dOnce(merged, input: input.pointer, inputChannelStride: h * w, h: h, w: w,
                               output: gotA.pointer, outputChannelStride: h * w, residual: nil, residualChannelStride: 0,
                               parts: parts, second: (gotB.pointer, ma, p.6))
                #expect(gotA.guardsIntact && gotB.guardsIntact, "\(isa) \(p) \(bits)-bit: wrote outside an output")
                #expect(gotA.array.map(\.bitPattern) == wantA.array.map(\.bitPattern), "\(isa) \(p) \(bits)-bit, \(parts) parts: first")
                #expect(gotB.array.map(\.bitPattern) == wantB.array.map(\.bitPattern), "\(isa) \(p) \(bits)-bit, \(parts) parts: second")
            }
        }
    }
}
