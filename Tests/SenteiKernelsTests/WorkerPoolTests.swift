import SenteiEngine
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Per-part counters on separate cache lines, written only by their own part.
final class PartCounters: @unchecked Sendable {
    let slots: UnsafeMutablePointer<Int>
    let parts: Int
    init(parts: Int) {
        self.parts = parts
        slots = .allocate(capacity: parts * 8)
        slots.initialize(repeating: 0, count: parts * 8)
    }
    deinit { slots.deallocate() }
    subscript(part: Int) -> Int {
        get { slots[part * 8] }
        set { slots[part * 8] = newValue }
    }
}

@Suite("WorkerPool", .serialized)
struct WorkerPoolTests {
    @Test(arguments: [1, 2, 3])
    func everyPartRunsExactlyOncePerRun(threads: Int) {
        let pool = WorkerPool(threads: threads)
        #expect(pool.threads == threads)
        let counters = PartCounters(parts: threads)
        var badArguments = 0
        // More threads than this 2-CPU machine has makes every run a scheduler round trip: fewer runs then.
        let runs = threads <= WorkerPool.defaultThreadCount ? 5000 : 300
        for _ in 0..<runs {
            pool.run { ith, nth in
                if nth != threads || ith < 0 || ith >= threads { return }
                counters[ith] += 1
            }
            // The caller thread sees every part's write once run returns.
        }
        for part in 0..<threads { if counters[part] != runs { badArguments += 1 } }
        #expect(badArguments == 0, "counts: \((0..<threads).map { counters[$0] })")
    }

    @Test(arguments: [1, 2, 3])
    func parallelGemmMatchesSingleThreaded(threads: Int) {
        let table = KernelTable.best
        let m = 70, n = 333, k = 45
        let a = GuardedBuffer(random: m * k, seed: 61), b = GuardedBuffer(random: k * n, seed: 62)
        let packed = GuardedBuffer(count: table.packedWeightCount(m, k))
        table.packWeights(a.pointer, m, k, packed.pointer)
        let want = GuardedBuffer(count: m * n)
        ReferenceKernels.gemm(m: m, n: n, k: k, a: a.pointer, b: b.pointer, ldb: n, c: want.pointer, ldc: n,
                              bias: nil, residual: nil, ldr: 0, activation: 3)
        let pool = WorkerPool(threads: threads)
        for round in 0..<(threads <= WorkerPool.defaultThreadCount ? 200 : 30) {
            let got = GuardedBuffer(count: m * n, fill: .nan)
            pool.run { ith, nth in
                table.gemm(m, n, k, packed.pointer, b.pointer, n, got.pointer, n, nil, nil, 0, 3, ith, nth)
            }
            let mismatch = firstMismatch(got.array, want.array)
            #expect(mismatch == nil && got.guardsIntact, "round \(round): \(mismatch ?? "guard")")
            if mismatch != nil { break }
        }
    }

    @Test func workersWakeFromFutexSleep() {
        let pool = WorkerPool(threads: 2)
        let counters = PartCounters(parts: 2)
        for _ in 0..<3 {
            // Long enough (> the ~1 ms spin) for the worker to go to sleep in futex_wait.
            usleep(20_000)
            pool.run { ith, _ in counters[ith] += 1 }
        }
        #expect(counters[0] == 3 && counters[1] == 3)
    }

    /// A worker the scheduler has not run yet must not hold up an op: the caller claims its part. Here the worker
    /// sleeps in futex_wait (waking takes microseconds) while the caller's part 0 is empty, so the caller gets
    /// to part 1 first. Before parts were claimed, part 1 always waited for the worker.
    @Test func theCallerRunsPartsNoWorkerHasClaimed() {
        let pool = WorkerPool(threads: 2)
        let onCaller = PartCounters(parts: 2)
        let caller = pthread_self()
        for _ in 0..<5 {
            usleep(20_000)
            pool.run { ith, _ in
                if ith == 1 && pthread_equal(pthread_self(), caller) != 0 { onCaller[1] += 1 }
            }
        }
        #expect(onCaller[1] >= 1, "part 1 ran on the caller in \(onCaller[1]) of 5 runs")
    }

    /// Caller-only mode (a daemon that sees another process take a core): every run is one part on the caller, and
    /// switching back restores the parallel parts.
    @Test func callerOnlyRunsOnePartOnTheCallerAndSwitchesBack() {
        let pool = WorkerPool(threads: 2)
        let caller = pthread_self()
        var seen: [(Int, Int, Bool)] = []
        pool.setCallerOnly(true)
        #expect(pool.callerOnly)
        for _ in 0..<3 { pool.run { ith, nth in seen.append((ith, nth, pthread_equal(pthread_self(), caller) != 0)) } }
        #expect(seen.count == 3 && seen.allSatisfy { $0 == (0, 1, true) }, "\(seen)")
        pool.setCallerOnly(false)
        let counters = PartCounters(parts: 2)
        for _ in 0..<100 { pool.run { ith, nth in if nth == 2 { counters[ith] += 1 } } }
        #expect(counters[0] == 100 && counters[1] == 100)
        // A single-thread pool has no mode to switch.
        let single = WorkerPool(threads: 1)
        single.setCallerOnly(true)
        #expect(!single.callerOnly)
    }

    @Test func poolsCanBeCreatedAndDestroyedRepeatedly() {
        for threads in [1, 2, 3, 2] {
            let pool = WorkerPool(threads: threads, pin: threads != 3)
            let counters = PartCounters(parts: threads)
            pool.run { ith, _ in counters[ith] += 1 }
            #expect((0..<threads).allSatisfy { counters[$0] == 1 })
        }
        #expect(WorkerPool.defaultThreadCount >= 1)
    }
}
