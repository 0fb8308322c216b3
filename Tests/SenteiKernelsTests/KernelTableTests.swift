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

    /// SENTEI_EXPECT_ISA lets scripts/test-isa-qemu.sh assert which ISA the dispatcher picked on an emulated CPU.
    @Test func chosenISAMatchesExpectationWhenGiven() {
        guard let raw = getenv("SENTEI_EXPECT_ISA") else { return }
        #expect(KernelTable.best.name == String(cString: raw))
    }
}
