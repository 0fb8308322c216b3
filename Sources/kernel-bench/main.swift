// Times the fp32 GEMM and 3×3 convolution kernels on YOLO-like shapes, 1 and 2 threads, for every ISA this CPU
// runs (or those named on the command line: kernel-bench [base|avx2|avx512 ...] [gemm MxNxK ...]). Reports the best
// (minimum) time of many single calls, since the machine is shared, as GFLOP/s (2·M·N·K per GEMM; GEMMs also with
// the SiLU epilogue, "silu", in the form the engine picks for this CPU: `KernelTable.activationCode`).
import SenteiEngine

#if canImport(Glibc)
import Glibc
#endif

func now(_ clock: clockid_t = CLOCK_MONOTONIC) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// x with one decimal, without Foundation.
func fixed1(_ x: Double) -> String {
    let tenths = Int((x * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
}

/// `count` floats starting on a cache line, as the engine's arena and buffers do (a malloc'd block starts 16 bytes
/// past one, and every 64-byte vector access then straddles two lines).
func lineAlignedBuffer(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 1))
}

func randomBuffer(_ count: Int) -> UnsafeMutablePointer<Float> {
    let p = lineAlignedBuffer(count)
    var state: UInt32 = 12345
    for i in 0..<count {
        state = state &* 1_664_525 &+ 1_013_904_223
        p[i] = Float(Int(state >> 9) % 2001 - 1000) / 1000
    }
    return p
}

/// Best seconds of a single call over up to 400 calls or ~0.6 s: on a shared machine the minimum is the call that
/// ran without being preempted, which is what the kernel itself costs.
/// Single-threaded runs use the thread's CPU clock, which stops while other tenants have the CPU.
func bestTime(threads: Int = 2, _ body: () -> Void) -> Double {
    let clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
    body()
    var best = Double.infinity
    let deadline = now() + 0.6
    var calls = 0
    while calls < 400 && (calls < 5 || now() < deadline) {
        let start = now(clock)
        body()
        best = min(best, now(clock) - start)
        calls += 1
    }
    return best
}

// `kernel-bench [ISA ...] [gemm MxNxK ...]`: GEMM shapes given after "gemm" replace the built-in list and skip the
// conv and depthwise lines (for probing one shape, e.g. how a map size scales on two threads).
let allArgs = Array(CommandLine.arguments.dropFirst())
let gemmFlag = allArgs.firstIndex(of: "gemm")
let args = gemmFlag.map { Array(allArgs[..<$0]) } ?? allArgs
let customShapes: [(Int, Int, Int)] = gemmFlag.map { i in
    allArgs[(i + 1)...].map { spec in
        let d = spec.split(separator: "x").compactMap { Int($0) }
        guard d.count == 3, d.allSatisfy({ $0 > 0 }) else {
            fatalError("kernel-bench: bad GEMM shape '\(spec)' (want MxNxK, e.g. 32x10816x16)")
        }
        return (d[0], d[1], d[2])
    }
} ?? []
if gemmFlag != nil && customShapes.isEmpty {
    fatalError("kernel-bench: 'gemm' needs at least one shape MxNxK (e.g. gemm 32x10816x16)")
}
let isas = args.isEmpty ? Array(KernelISA.supported.reversed()) : args.map { name in
    guard let isa = KernelISA.allCases.first(where: { $0.description == name }) else {
        let known = KernelISA.allCases.map(\.description).joined(separator: ", ")
        fatalError("kernel-bench: unknown ISA '\(name)' (want \(known))")
    }
    guard KernelISA.supported.contains(isa) else { fatalError("kernel-bench: this CPU cannot run \(name)") }
    return isa
}
let pools = [WorkerPool(threads: 1), WorkerPool(threads: 2)]

print("kernel-bench: best single call (1T: thread CPU time, 2T: wall time); GFLOP/s = 2·M·N·K / time")
for isa in isas {
    let table = KernelTable(isa: isa)
    let silu = table.activationCode(.silu)  // the SiLU form the engine runs on this CPU
    print("== \(table.name) (tile \(table.tileRows)x\(table.tileColumns))")
    let gemmShapes = customShapes.isEmpty
        ? [(64, 2704, 64), (32, 10816, 16), (128, 676, 128), (256, 169, 256), (32, 43264, 16), (64, 2704, 288),
           (512, 512, 512), (128, 1600, 576)]
        : customShapes
    for (m, n, k) in gemmShapes {
        let a = randomBuffer(m * k), b = randomBuffer(k * n), bias = randomBuffer(m)
        let c = lineAlignedBuffer(m * n)
        let packed = lineAlignedBuffer(table.packedWeightCount(m, k))
        table.packWeights(a, m, k, packed)
        var line = "gemm M=\(m) N=\(n) K=\(k):"
        for pool in pools {
            let t = bestTime(threads: pool.threads) {
                pool.run { ith, nth in table.gemm(m, n, k, packed, b, n, c, n, bias, nil, 0, 1, ith, nth) }
            }
            let gflops: Double = 2 * Double(m * n * k) / t / 1e9
            line += "  \(pool.threads)T \(fixed1(gflops)) GFLOP/s (\(fixed1(t * 1e6)) us)"
            // With the SiLU epilogue the YOLO graphs fuse into nearly every conv.
            let tSilu = bestTime(threads: pool.threads) {
                pool.run { ith, nth in table.gemm(m, n, k, packed, b, n, c, n, bias, nil, 0, silu, ith, nth) }
            }
            line += " silu \(fixed1(2 * Double(m * n * k) / tSilu / 1e9))"
        }
        print(line)
        a.deallocate(); b.deallocate(); bias.deallocate(); c.deallocate(); packed.deallocate()
    }
    if !customShapes.isEmpty { continue }
    // yolov8n@640-like 3×3 convolutions: (Cin, Cout, H=W, stride).
    let convShapes = [(16, 16, 160, 1), (16, 32, 320, 2), (32, 32, 80, 1), (32, 64, 160, 2), (64, 64, 40, 1),
                      (64, 128, 80, 2), (128, 128, 20, 1), (128, 128, 40, 2), (3, 16, 640, 2)]
    for (cin, cout, hw, s) in convShapes {
        let input = randomBuffer(cin * hw * hw), w = randomBuffer(cout * cin * 9), bias = randomBuffer(cout)
        let ho = (hw + 2 - 3) / s + 1
        let out = lineAlignedBuffer(cout * ho * ho)
        let packed = lineAlignedBuffer(table.packedWeightCount(cout, cin * 9))
        table.packWeights(w, cout, cin * 9, packed)
        let scratchPer = (table.conv2dScratchCount(cin, 3, 3) + 15) / 16 * 16  // whole lines per part
        let scratch = lineAlignedBuffer(scratchPer * 2)
        let flops = 2 * Double(cout * ho * ho * cin * 9)
        var line = "conv3x3 s\(s) \(cin)->\(cout) @\(hw)²:"
        for pool in pools {
            let t = bestTime(threads: pool.threads) {
                pool.run { ith, nth in
                    table.conv2d(input, hw * hw, cin, hw, hw, packed, cout, 3, 3, s, s, 1, 1, 1, 1, 1, 1, out,
                                 ho * ho, bias, nil, 0, silu, scratch + ith * scratchPer, ith, nth)
                }
            }
            let gflops: Double = flops / t / 1e9
            line += "  \(pool.threads)T \(fixed1(gflops)) GFLOP/s (\(fixed1(t * 1e6)) us)"
        }
        print(line)
        input.deallocate(); w.deallocate(); bias.deallocate(); out.deallocate(); packed.deallocate()
        scratch.deallocate()
    }
    // Depthwise 3×3 stride 1 (YOLOX-Nano's head: 64 channels at 52², SiLU), cycles per output vector at ~3.2 GHz.
    for (ch, hw) in [(64, 52), (64, 26), (16, 104)] {
        let input = randomBuffer(ch * hw * hw), w = randomBuffer(ch * 9), bias = randomBuffer(ch)
        let out = lineAlignedBuffer(ch * hw * hw)
        var line = "dw3x3 s1 \(ch)ch @\(hw)²:"
        for act in [0, silu] {
            let t = bestTime(threads: 1) {
                table.depthwiseConv2d(input, hw * hw, ch, hw, hw, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, out, hw * hw, bias,
                                      act, 0, 1)
            }
            line += " act\(act) \(fixed1(t * 1e6)) us"
        }
        print(line)
    }
}
// Pool dispatch overhead with trivial parts.
let pool = pools[1]
let t = bestTime { for _ in 0..<100 { pool.run { _, _ in } } } / 100
print("pool: \(fixed1(t * 1e9)) ns per run (2 parts, empty body)")
