import CSenteiKernels
@testable import SenteiEngine
import Testing

/// The AMX-INT8 kernel set (ISA code 3) puts GEMMs of k a multiple of 64 and ≥ 128 (and space-to-depth stems whose
/// k pads to ≥ 128) on tiles and leaves the rest to VNNI, with VNNI's quantizing pack and epilogue: its outputs are
/// bit-identical to VNNI's, and its integer part is exact. Runs where this machine can use AMX (CPU, OS and permission: `sk_has_amx`); elsewhere it says so.
@Suite("Int8 AMX")
struct Int8AMXTests {
    typealias Case = Int8ConvTests.Case

    static let cases: [Case] = [
        Case(cin: 128, cout: 64, h: 13, w: 13, k: 1, stride: 1, pad: 0, activation: .silu),     // k 128, direct strips
        Case(cin: 512, cout: 37, h: 9, w: 11, k: 1, stride: 1, pad: 0, activation: .silu),      // ragged m and n
        Case(cin: 192, cout: 16, h: 26, w: 26, k: 1, stride: 1, pad: 0, activation: .sigmoid, residual: false),
        Case(cin: 256, cout: 40, h: 7, w: 7, k: 1, stride: 1, pad: 0, activation: .silu, residual: true),  // n ≥ 48
        Case(cin: 64, cout: 24, h: 12, w: 10, k: 3, stride: 1, pad: 1, activation: .relu),       // im2col, k 576
        Case(cin: 128, cout: 20, h: 15, w: 15, k: 1, stride: 2, pad: 0, activation: .silu),      // strided 1×1 im2col
        Case(cin: 96, cout: 32, h: 13, w: 13, k: 1, stride: 1, pad: 0, activation: .silu),       // k 96: VNNI path
    ]

    @Test(arguments: cases)
    func tilesGiveVNNIsOutputsBitForBit(_ c: Case) throws {
        guard sk_has_amx() != 0 else {
            print("Int8AMXTests: this machine cannot use AMX (CPU, OS or permission); the AMX path was not run")
            return
        }
        #expect(Int8ISA.supported.contains(.amx) && Int8ISA.supported.contains(.avx512vnni))
        let (layer, input, residual) = Int8ConvTests.layer(c, seed: UInt64(c.cin * 31 + c.cout))
        let ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1
        let vnni = GuardedBuffer(count: c.cout * ho * wo, fill: .nan)
        try Int8ConvTests().runKernel(.avx512vnni, layer, c, input: input, residual: residual, output: vnni, parts: 1)
        for parts in [1, 2, 3, 5] {
            let amx = GuardedBuffer(count: c.cout * ho * wo, fill: .nan)
            try Int8ConvTests().runKernel(.amx, layer, c, input: input, residual: residual, output: amx, parts: parts)
            #expect(amx.guardsIntact, "\(c) parts \(parts): wrote outside the output")
            #expect(amx.array.map(\.bitPattern) == vnni.array.map(\.bitPattern), "\(c) parts \(parts)")
        }
    }

    /// With scale 1 and no bias the outputs are the exact integer sums, equal to the reference's.
    @Test func tileAccumulationIsExact() throws {
        guard sk_has_amx() != 0 else { return }
        let c = Case(cin: 320, cout: 19, h: 8, w: 9, k: 1, stride: 1, pad: 0)
        var (layer, input, _) = Int8ConvTests.layer(c, seed: 5)
        layer.scale = [Float](repeating: 1, count: c.cout)
        layer.bias = [Float](repeating: 0, count: c.cout)
        let want = GuardedBuffer(count: c.cout * c.h * c.w)
        Int8Reference.conv2d(layer, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w,
                             output: want.pointer, outputChannelStride: c.h * c.w, residual: nil, residualChannelStride: 0)
        let got = GuardedBuffer(count: c.cout * c.h * c.w)
        try Int8ConvTests().runKernel(.amx, layer, c, input: input, residual: nil, output: got, parts: 2)
        #expect(got.array == want.array)
        #expect(want.array.contains { abs($0) > 1000 }, "sums large enough to need 32-bit accumulators")
    }

    /// The space-to-depth stem on tiles (YOLOX's folded Focus: k 108, padded to 128): VNNI's outputs bit for bit,
    /// split into 1–4 parts (bands of rows), and its weights in the tiles' layout.
    @Test func spaceToDepthStemGivesVNNIsOutputs() throws {
        guard sk_has_amx() != 0 else { return }
        let c = Int8SpaceToDepthConvTests.Case(cin: 3, cout: 16, h: 62, w: 50, kh: 6, kw: 6, stride: (2, 2),
                                               pads: (2, 2, 2, 2), activation: .silu)
        let (layer, input, _) = Int8SpaceToDepthConvTests.layer(c, seed: 11)
        var params = layer.kernelParams(input: nil, inputChannelStride: c.h * c.w, h: c.h, w: c.w, packedWeights: nil,
                                        output: nil, outputChannelStride: 0, residual: nil, residualChannelStride: 0,
                                        scale: nil, bias: nil, rowOffset: nil)
        #expect(sk_i8_s2d_packed_weight_bytes(Int8ISA.amx.rawValue, &params) == 16 * 128)
        #expect(sk_i8_s2d_packed_weight_bytes(Int8ISA.avx512vnni.rawValue, &params) == 16 * 108)
        func run(_ isa: Int8ISA, parts: Int) -> GuardedBuffer {
            let out = GuardedBuffer(count: c.cout * c.ho * c.wo, fill: .nan)
            isa.conv2dOnce(layer, input: input.pointer, inputChannelStride: c.h * c.w, h: c.h, w: c.w, output: out.pointer,
                           outputChannelStride: c.ho * c.wo, residual: nil, residualChannelStride: 0, parts: parts,
                           spaceToDepth: true)
            return out
        }
        let vnni = run(.avx512vnni, parts: 1)
        for parts in [1, 2, 4] {
            let amx = run(.amx, parts: parts)
            #expect(amx.guardsIntact && amx.array.map(\.bitPattern) == vnni.array.map(\.bitPattern), "parts \(parts)")
        }
    }

    /// The AMX weight layout is used exactly where the tiles run: k a multiple of 64 and at least 128.
    @Test func packedLayoutFollowsK() {
        guard sk_has_amx() != 0 else { return }
        #expect(Int8ISA.amx.packedWeightBytes(m: 37, k: 128) == 48 * 128)
        #expect(Int8ISA.amx.packedWeightBytes(m: 37, k: 96) == Int8ISA.avx512vnni.packedWeightBytes(m: 37, k: 96))
        #expect(Int8ISA.amx.packedWeightBytes(m: 37, k: 64) == Int8ISA.avx512vnni.packedWeightBytes(m: 37, k: 64))
    }
}
