import SenteiEngine
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("KernelTable")
struct KernelTableTests {
    @Test func bestMatchesTheCPUAndNames() {
        let best = KernelTable.best
        #expect(best.isa == KernelISA.best)
        #expect(best.name == KernelISA.best.description)
        #expect(KernelISA.supported.last == KernelISA.best)
        for isa in KernelISA.supported {
            let table = KernelTable(isa: isa)
            #expect(table.name == isa.description)
            #expect(table.packedWeightCount(10, 3) == (10 + table.tileRows - 1) / table.tileRows * table.tileRows * 3)
        }
    }

    /// The peak probe behind `sentei bench`'s fp32_peak_gflops_per_core: positive, and under what any core could do
    /// (vector lanes × 2 flops × 4 units × 6 GHz). Debug builds compile the C probe unoptimised, so here this catches
    /// a broken probe, not a slightly wrong one; the release figure is in the README (172–179 with AVX-512).
    @Test func measuredPeakIsPlausible() {
        for isa in KernelISA.supported {
            let lanes: Double = isa == .avx512 ? 16 : isa == .avx2 ? 8 : 4
            let peak = isa.measuredFP32PeakGFLOPS(seconds: 0.02)
            #expect(peak > 0.01, "\(isa): \(peak) GFLOP/s")
            #expect(peak < lanes * 2 * 4 * 6, "\(isa): \(peak) GFLOP/s")
        }
    }

    /// SENTEI_EXPECT_ISA lets scripts/test-isa-qemu.sh assert which ISA the dispatcher picked on an emulated CPU.
    @Test func chosenISAMatchesExpectationWhenGiven() {
        guard let raw = getenv("SENTEI_EXPECT_ISA") else { return }
        #expect(KernelTable.best.name == String(cString: raw))
    }
}
