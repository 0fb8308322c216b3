import SenteiEngine
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("elementwise kernels against the scalar reference")
struct ElementwiseTests {
    static let counts = [1, 3, 16, 17, 63, 1000, 4099]

    @Test(arguments: KernelISA.supported, counts)
    func unaryMatchesReference(isa: KernelISA, count: Int) {
        let table = KernelTable(isa: isa)
        let x = GuardedBuffer(random: count, seed: UInt64(count), range: -20...20)
        for (activation, kernel) in [(1, table.relu), (2, table.sigmoid), (3, table.silu)] {
            let want = GuardedBuffer(count: count)
            ReferenceKernels.unary(x: x.pointer, y: want.pointer, count: count, activation: activation)
            for nth in 1...3 {
                let got = GuardedBuffer(count: count)
                runParts(nth) { ith, nth in kernel(x.pointer, got.pointer, count, ith, nth) }
                #expect(got.guardsIntact)
                let mismatch = firstMismatch(got.array, want.array, atol: 1e-6, rtol: 2e-6)
                #expect(mismatch == nil, "\(isa) act\(activation) nth=\(nth): \(mismatch ?? "")")
            }
            // In place.
            let inPlace = GuardedBuffer(count: count)
            inPlace.pointer.update(from: x.pointer, count: count)
            runParts(2) { ith, nth in kernel(inPlace.pointer, inPlace.pointer, count, ith, nth) }
            #expect(firstMismatch(inPlace.array, want.array, atol: 1e-6, rtol: 2e-6) == nil)
        }
    }

    /// (outer, dim, inner): YOLOv8's DFL shape scaled down, whole and partial vectors, the last axis (inner 1).
    static let softmaxShapes = [(1, 16, 4 * 84), (3, 5, 37), (7, 9, 1), (2, 1, 20), (1, 16, 4), (2, 4, 33)]

    @Test(arguments: KernelISA.supported)
    func softmaxMatchesReference(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        for (outer, dim, inner) in Self.softmaxShapes {
            let count = outer * dim * inner
            let x = GuardedBuffer(random: count, seed: UInt64(count), range: -30...30)
            var want = [Float](repeating: 0, count: count)
            for o in 0..<outer {
                for i in 0..<inner {
                    let at = { (d: Int) in (o * dim + d) * inner + i }
                    let m = (0..<dim).map { Double(x.pointer[at($0)]) }.max()!
                    let sum = (0..<dim).reduce(0.0) { $0 + exp(Double(x.pointer[at($1)]) - m) }
                    for d in 0..<dim { want[at(d)] = Float(exp(Double(x.pointer[at(d)]) - m) / sum) }
                }
            }
            for nth in 1...3 {
                let got = GuardedBuffer(count: count)
                runParts(nth) { ith, nth in table.softmax(x.pointer, got.pointer, outer, dim, inner, ith, nth) }
                #expect(got.guardsIntact)
                let mismatch = firstMismatch(got.array, want, atol: 1e-7, rtol: 2e-6)
                #expect(mismatch == nil, "\(isa) \(outer)x\(dim)x\(inner) nth=\(nth): \(mismatch ?? "")")
            }
            // In place (the memory plan may reuse the input's buffer).
            let inPlace = GuardedBuffer(count: count)
            inPlace.pointer.update(from: x.pointer, count: count)
            runParts(2) { ith, nth in table.softmax(inPlace.pointer, inPlace.pointer, outer, dim, inner, ith, nth) }
            #expect(firstMismatch(inPlace.array, want, atol: 1e-7, rtol: 2e-6) == nil, "\(isa) in place")
        }
    }

    @Test(arguments: KernelISA.supported)
    func sigmoidIsFiniteAndAccurateEverywhere(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        let inputs: [Float] = [-1e30, -1000, -100, -88.8, -87.5, -87.3, -50, -20, -10, -1, -1e-3, -1e-30, 0, 1e-30,
                               1e-3, 0.5, 1, 2, 10, 17, 20, 50, 88, 88.5, 100, 1000, 1e30, .greatestFiniteMagnitude,
                               -.greatestFiniteMagnitude]
        let x = GuardedBuffer(count: inputs.count)
        for (i, v) in inputs.enumerated() { x.pointer[i] = v }
        let sig = GuardedBuffer(count: inputs.count), silu = GuardedBuffer(count: inputs.count)
        table.sigmoid(x.pointer, sig.pointer, inputs.count, 0, 1)
        table.silu(x.pointer, silu.pointer, inputs.count, 0, 1)
        for (i, v) in inputs.enumerated() {
            let want = 1 / (1 + exp(-Double(v)))
            let got = sig.pointer[i]
            #expect(got.isFinite && got >= 0 && got <= 1, "\(isa) sigmoid(\(v)) = \(got)")
            // 4e-6 relative where σ matters; below x = −20 (σ < 2e-9) the AVX-512 and AVX2 forms' exponent reduction
            // allows up to 8e-6 (see sk_vecmath.h; measured 3.6e-6 / 6.4e-6 and 3.8e-6 / 6.6e-6 on a dense grid).
            let rtol = v >= -20 ? 4e-6 : 8e-6
            #expect(abs(Double(got) - want) <= rtol * want + 1e-37, "\(isa) sigmoid(\(v)) = \(got), want \(want)")
            #expect(!silu.pointer[i].isNaN, "\(isa) silu(\(v)) is NaN")
        }
        #expect(sig.pointer[2] < 1e-30)  // sigmoid(-100) ≈ 0
        #expect(sig.pointer[inputs.firstIndex(of: 100)!] == 1)
    }

    @Test(arguments: KernelISA.supported, counts)
    func binaryMatchesReference(isa: KernelISA, count: Int) {
        let table = KernelTable(isa: isa)
        let a = GuardedBuffer(random: count, seed: 51), b = GuardedBuffer(random: count, seed: 52, range: 0.5...2)
        let kernels: [(ReferenceKernels.BinaryOp, KernelTable.Binary)] =
            [(.add, table.add), (.sub, table.sub), (.mul, table.mul), (.div, table.div)]
        for (op, kernel) in kernels {
            let want = GuardedBuffer(count: count)
            ReferenceKernels.binary(op, a: a.pointer, b: b.pointer, y: want.pointer, count: count)
            for nth in 1...3 {
                let got = GuardedBuffer(count: count)
                runParts(nth) { ith, nth in kernel(a.pointer, b.pointer, got.pointer, count, ith, nth) }
                #expect(got.guardsIntact)
                #expect(got.array == want.array, "\(isa) \(op) nth=\(nth)")
            }
        }
    }
}
