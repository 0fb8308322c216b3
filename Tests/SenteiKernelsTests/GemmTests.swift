import SenteiEngine
import Testing

struct GemmCase: CustomTestStringConvertible, Sendable {
    var m: Int, n: Int, k: Int
    var ldbPad = 0, ldcPad = 0
    var bias = true, residual = false
    var activation = 0
    var testDescription: String {
        "m\(m) n\(n) k\(k) ldb+\(ldbPad) ldc+\(ldcPad) bias:\(bias) res:\(residual) act\(activation)"
    }
}

let gemmCases: [GemmCase] = [
    GemmCase(m: 1, n: 1, k: 1),
    GemmCase(m: 3, n: 5, k: 7, activation: 1),
    GemmCase(m: 8, n: 48, k: 16, bias: false),
    GemmCase(m: 9, n: 49, k: 17, residual: true, activation: 3),
    GemmCase(m: 20, n: 10, k: 33, ldbPad: 3, ldcPad: 5, residual: true, activation: 2),
    GemmCase(m: 5, n: 47, k: 3, activation: 3),
    GemmCase(m: 64, n: 200, k: 64, ldcPad: 7, activation: 3),
    GemmCase(m: 17, n: 100, k: 300, ldbPad: 1, residual: true),
    GemmCase(m: 256, n: 169, k: 256, activation: 3),
    GemmCase(m: 32, n: 1000, k: 16, residual: true, activation: 1),
    GemmCase(m: 13, n: 97, k: 0, activation: 2),
    // Rows one vector past a multiple of the tile at every width (26² = 676: 43, 85, 169 vectors): strips end in
    // two narrower ones, the last shifted left over a partial vector (49, 100, 200 above reach the same split).
    GemmCase(m: 24, n: 676, k: 40, ldcPad: 2, activation: 5),
    // The divide forms of silu and sigmoid (codes 5 and 6; codes 3 and 2 where an ISA has none).
    GemmCase(m: 20, n: 113, k: 16, residual: true, activation: 5),
    GemmCase(m: 9, n: 49, k: 17, ldcPad: 3, activation: 6),
]

@Suite("GEMM against the scalar reference")
struct GemmTests {
    @Test(arguments: KernelISA.supported, gemmCases)
    func gemmMatchesReference(isa: KernelISA, c: GemmCase) {
        let table = KernelTable(isa: isa)
        let ldb = c.n + c.ldbPad, ldc = c.n + c.ldcPad, ldr = c.n + 2
        let a = GuardedBuffer(random: c.m * c.k, seed: 1)
        let b = GuardedBuffer(random: max(c.k, 1) * ldb, seed: 2)
        let bias = GuardedBuffer(random: c.m, seed: 3)
        let residual = GuardedBuffer(random: c.m * ldr, seed: 4)
        let packed = GuardedBuffer(count: table.packedWeightCount(c.m, c.k), fill: .nan)
        table.packWeights(a.pointer, c.m, c.k, packed.pointer)
        #expect(packed.guardsIntact)
        let want = GuardedBuffer(count: c.m * ldc, fill: -7)
        ReferenceKernels.gemm(m: c.m, n: c.n, k: c.k, a: a.pointer, b: b.pointer, ldb: ldb, c: want.pointer,
                              ldc: ldc, bias: c.bias ? bias.pointer : nil, residual: c.residual ? residual.pointer : nil,
                              ldr: ldr, activation: c.activation)
        for nth in 1...3 {
            let got = GuardedBuffer(count: c.m * ldc, fill: -7)
            runParts(nth) { ith, nth in
                table.gemm(c.m, c.n, c.k, packed.pointer, b.pointer, ldb, got.pointer, ldc,
                           c.bias ? bias.pointer : nil, c.residual ? residual.pointer : nil, ldr, c.activation, ith, nth)
            }
            #expect(got.guardsIntact, "\(isa) nth=\(nth): write outside C")
            // Columns between n and ldc must keep their fill: the kernel may not write past a row's n columns.
            #expect(firstMismatch(got.array, want.array) == nil,
                    "\(isa) nth=\(nth): \(firstMismatch(got.array, want.array) ?? "")")
        }
        #expect(a.guardsIntact && b.guardsIntact && bias.guardsIntact && residual.guardsIntact)
    }

    @Test(arguments: KernelISA.supported)
    func residualMayAliasOutput(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        let m = 19, n = 131, k = 40
        let a = GuardedBuffer(random: m * k, seed: 5), b = GuardedBuffer(random: k * n, seed: 6)
        let packed = GuardedBuffer(count: table.packedWeightCount(m, k))
        table.packWeights(a.pointer, m, k, packed.pointer)
        let start = GuardedBuffer(random: m * n, seed: 7)
        let want = GuardedBuffer(count: m * n)
        ReferenceKernels.gemm(m: m, n: n, k: k, a: a.pointer, b: b.pointer, ldb: n, c: want.pointer, ldc: n,
                              bias: nil, residual: start.pointer, ldr: n, activation: 3)
        for nth in 1...3 {
            let inout_ = GuardedBuffer(count: m * n)
            inout_.pointer.update(from: start.pointer, count: m * n)
            runParts(nth) { ith, nth in
                table.gemm(m, n, k, packed.pointer, b.pointer, n, inout_.pointer, n, nil, inout_.pointer, n, 3,
                           ith, nth)
            }
            #expect(inout_.guardsIntact)
            #expect(firstMismatch(inout_.array, want.array) == nil, "\(isa) nth=\(nth)")
        }
    }
}
