import CSenteiKernels
import SenteiEngine
import Testing

// Activation code 4 (the int8 layers' SiLU, which the fp32 layers of an int8 model use) is, in every fp32 kernel of
// every ISA, exactly `sk_i8_silu` of that ISA's number applied to the code-0 output: what the QAT forward computes.
// Depthwise rows of 13, 26 and 53 columns reach the in-register path, the deferred row pass and the vector tails;
// the GEMM-shaped conv reaches full and edge tiles.
@Suite struct Int8SiLUCodeTests {
    static let code = 4

    static func siluRows(_ isa: KernelISA, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        sk_i8_silu(Int32(isa.rawValue), x, &y, x.count)
        return y
    }

    @Test(arguments: KernelISA.supported)
    func depthwiseAppliesTheInt8SiLU(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        for (channels, size, stride) in [(3, 13, 1), (4, 26, 1), (2, 53, 2), (3, 26, 2)] {
            let input = GuardedBuffer(random: channels * size * size, seed: UInt64(size), range: -30...30)
            let weights = GuardedBuffer(random: channels * 9, seed: 5, range: -1...1)
            let bias = GuardedBuffer(random: channels, seed: 6, range: -2...2)
            let out = (size + 2 - 3) / stride + 1
            func run(_ activation: Int) -> [Float] {
                let y = GuardedBuffer(count: channels * out * out)
                runParts(2) { ith, nth in
                    table.depthwiseConv2d(input.pointer, size * size, channels, size, size, weights.pointer, 3, 3,
                                          stride, stride, 1, 1, 1, 1, 1, 1, y.pointer, out * out, bias.pointer,
                                          activation, ith, nth)
                }
                #expect(y.guardsIntact)
                return y.array
            }
            let linear = run(0), got = run(Self.code)
            #expect(got.map(\.bitPattern) == Self.siluRows(isa, linear).map(\.bitPattern), "\(isa) \(size)×\(size) s\(stride)")
        }
    }

    @Test(arguments: KernelISA.supported)
    func convAppliesTheInt8SiLU(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        let (cin, cout, size) = (12, 19, 11)
        let input = GuardedBuffer(random: cin * size * size, seed: 8, range: -4...4)
        let weights = GuardedBuffer(random: cout * cin, seed: 9, range: -1...1)
        let packed = GuardedBuffer(count: table.packedWeightCount(cout, cin))
        table.packWeights(weights.pointer, cout, cin, packed.pointer)
        let scratch = GuardedBuffer(count: table.conv2dScratchCount(cin, 1, 1) * 2)
        func run(_ activation: Int) -> [Float] {
            let y = GuardedBuffer(count: cout * size * size)
            runParts(2) { ith, nth in
                table.conv2d(input.pointer, size * size, cin, size, size, packed.pointer, cout, 1, 1, 1, 1, 0, 0, 0, 0,
                             1, 1, y.pointer, size * size, nil, nil, 0, activation,
                             scratch.pointer + ith * table.conv2dScratchCount(cin, 1, 1), ith, nth)
            }
            #expect(y.guardsIntact)
            return y.array
        }
        let linear = run(0), got = run(Self.code)
        #expect(got.map(\.bitPattern) == Self.siluRows(isa, linear).map(\.bitPattern), "\(isa)")
    }
}
