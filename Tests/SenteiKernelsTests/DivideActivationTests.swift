import CSenteiKernels
import Foundation
import SenteiEngine
import Testing

// Activation codes 5 and 6 (x·σ(x) and σ(x) with a divide, which AVX-512 tables take where the divider is fast)
// drop the −87 clamp of the reciprocal form: vscalefps saturates e^−x to ∞ for very negative x, and x/∞ must give
// −0 and 1/∞ 0, never NaN. Every ISA's kernels take the codes; where an ISA has no divide form they are 3 and 2.
@Suite struct DivideActivationTests {
    static let inputs: [Float] = [-1e30, -1000, -120, -104, -89, -88, -87.5, -40, -20, -3, -0.5, 0, 0.25, 2, 9, 30,
                                  88, 89, 1000, 1e30]

    /// One 1×1 conv over inputs laid out as one channel: the GEMM epilogue's full tiles and its edge tiles.
    static func conv(_ table: KernelTable, _ x: [Float], activation: Int) -> [Float] {
        let weight: [Float] = [1], packed = GuardedBuffer(count: table.packedWeightCount(1, 1))
        weight.withUnsafeBufferPointer { table.packWeights($0.baseAddress!, 1, 1, packed.pointer) }
        let scratch = GuardedBuffer(count: table.conv2dScratchCount(1, 1, 1))
        let y = GuardedBuffer(count: x.count)
        x.withUnsafeBufferPointer { x in
            table.conv2d(x.baseAddress!, x.count, 1, 1, x.count, packed.pointer, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1,
                         y.pointer, x.count, nil, nil, 0, activation, scratch.pointer, 0, 1)
        }
        #expect(y.guardsIntact)
        return y.array
    }

    @Test(arguments: KernelISA.supported)
    func divideFormsSaturateWithoutNaN(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        // 60 copies: two full 16-lane tiles and a tail on every ISA.
        let x = Array(repeating: Self.inputs, count: 3).flatMap { $0 }
        let silu = Self.conv(table, x, activation: Activation.siluDivideCode)
        let sigmoid = Self.conv(table, x, activation: Activation.sigmoidDivideCode)
        for (i, v) in x.enumerated() {
            let s = Float(1 / (1 + exp(-Double(v))))
            #expect(abs(sigmoid[i] - s) <= 1e-5 * s + 1e-37, "\(isa) σ(\(v)) = \(sigmoid[i]), want \(s)")
            let want = v * s
            // The reciprocal forms clamp x at −87 (σ ≥ 1.6e-38), so far below it they give a tiny −|x|·1.6e-38.
            #expect(!silu[i].isNaN && abs(silu[i] - want) <= 1e-5 * abs(want) + 1e-7,
                    "\(isa) silu(\(v)) = \(silu[i]), want \(want)")
            if table.dividesSigmoid && v <= -104 {
                #expect(silu[i] == 0 && sigmoid[i] == 0, "\(isa) x = \(v): e^−x saturates, so σ and silu are 0")
            }
        }
    }

    @Test(arguments: KernelISA.supported)
    func onlyAVX512TablesTakeTheDivideCodes(isa: KernelISA) {
        let table = KernelTable(isa: isa)
        let divides = isa == .avx512 && sk_divide_is_fast() != 0
        #expect(table.dividesSigmoid == divides)
        #expect(table.activationCode(.silu) == (divides ? Activation.siluDivideCode : 3))
        #expect(table.activationCode(.sigmoid) == (divides ? Activation.sigmoidDivideCode : 2))
        #expect(table.activationCode(.relu) == 1 && table.activationCode(.none) == 0)
    }

    /// The CPU check (`__builtin_cpu_is("amd")` and AVX-512 F) against what the kernel reports in /proc/cpuinfo: the
    /// divide forms run exactly on AMD CPUs with AVX-512 (Zen 4 and Zen 5 guests here; Intel and Zen 3 keep the
    /// reciprocal form). Not checked when SENTEI_SIGMOID overrides it, nor under scripts/test-isa-qemu.sh
    /// (SENTEI_EXPECT_ISA set), whose emulated CPU is not the one /proc/cpuinfo describes.
    @Test func divideFormsFollowTheCPUVendorAndAVX512() throws {
        #if os(Linux) && arch(x86_64)
        let environment = ProcessInfo.processInfo.environment
        if environment["SENTEI_SIGMOID"] != nil || environment["SENTEI_EXPECT_ISA"] != nil { return }
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let firstCPU = cpuinfo.components(separatedBy: "\n\n")[0].split(separator: "\n")
        func field(_ name: String) -> String? {
            firstCPU.first { $0.hasPrefix(name) && $0.dropFirst(name.count).trimmingCharacters(in: .whitespaces).hasPrefix(":") }
                .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
        }
        let vendor = try #require(field("vendor_id"), "no vendor_id in /proc/cpuinfo")
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        let expected = vendor == "AuthenticAMD" && flags.contains("avx512f")
        #expect((sk_divide_is_fast() != 0) == expected, "vendor \(vendor), avx512f \(flags.contains("avx512f"))")
        #endif
    }
}
