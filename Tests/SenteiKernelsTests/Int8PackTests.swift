@testable import SenteiEngine
import Testing

/// The quantizing pack gives the same bytes on every kernel set for any float, including the ones only a broken
/// frame produces: NaN and ±∞ (NaN reads as the real value 0, ±∞ as the range ends), values far past 2^31 after
/// scaling, and exact halves (rounded to even). With scale 1, no bias and no activation the conv's outputs are the
/// exact integer sums of those bytes, so any difference in a single byte shows. The same for 16-bit activations.
@Suite("Int8 quantizing pack")
struct Int8PackTests {
    @Test(arguments: [8, 16])
    func everyKernelSetQuantizesTheSameBytes(inputBits: Int) throws {
        let c = Int8ConvTests.Case(cin: 128, cout: 8, h: 7, w: 16, k: 1, stride: 1, pad: 0)
        var (layer, input, _) = Int8ConvTests.layer(c, seed: 3, inputBits: inputBits)
        layer.scale = [Float](repeating: 1, count: c.cout)
        layer.bias = [Float](repeating: 0, count: c.cout)
        let inv = layer.inputInvScale, zp = Float(layer.zeroPoint)
        let range = Int8Layer.quantizedRange(bits: inputBits)
        let (low, high) = (Float(range.lowerBound), Float(range.upperBound))
        let specials: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, 3e9 / inv, -3e9 / inv,
                                 (low + 0.5 - zp) / inv, (low + 1.5 - zp) / inv, 2.5 / inv, -2.5 / inv, (high + 0.5 - zp) / inv,
                                 (high - 0.5 - zp) / inv, (low - zp - 0.5) / inv, 0, -0.0, .leastNonzeroMagnitude]
        for i in 0..<(c.cin * c.h * c.w) where i % 3 == 0 { input.pointer[i] = specials[(i / 3) % specials.count] }
        let count = c.cout * c.h * c.w
        var outputs: [(Int8ISA, [Float])] = []
        for isa in Int8ISA.supported {
            let got = GuardedBuffer(count: count, fill: .nan)
            try Int8ConvTests().runKernel(isa, layer, c, input: input, residual: nil, output: got, parts: 2)
            #expect(got.array.allSatisfy { $0.isFinite && $0 == $0.rounded() }, "\(isa): not whole numbers")
            outputs.append((isa, got.array))
        }
        for (isa, out) in outputs.dropFirst() {
            let first = out.indices.first { out[$0] != outputs[0].1[$0] }
            #expect(first == nil, "\(inputBits)-bit, \(isa) vs \(outputs[0].0): first difference at output \(first ?? -1)")
        }
    }
}
