import CSenteiKernels

#if canImport(Glibc)
import Glibc
#endif

/// A persistent pool for kernel parallelism: `threads − 1` worker threads plus the calling thread, which runs
/// part 0 and then every part no worker has claimed yet. A dispatch is a store and a counter, well under a
/// microsecond while workers spin; a futex wake on this kind of VM costs 6–20 µs, so workers spin with PAUSE for
/// about a millisecond before they sleep, which keeps them awake for a whole forward pass and asleep between frames
/// (engine-notes §3).
///
/// Thread safety: `run` must be called by one thread at a time (it is not reentrant and must not be called from
/// inside a body). Different threads may call it one after another. Nothing else is mutable after `init`.
public final class WorkerPool: @unchecked Sendable {
    /// Parts per `run` (workers + the caller).
    public let threads: Int
    private let shared: PoolShared
    private var workers: [pthread_t] = []
    private let pin: Bool
    /// Every part runs on the caller, unpinned (see `setCallerOnly`).
    public private(set) var callerOnly = false

    /// One part per CPU this process may use.
    public static var defaultThreadCount: Int { Int(sk_allowed_cpu_count()) }

    /// - Parameters:
    ///   - threads: parts per `run`, at least 1 (1 means the caller does everything; no thread is started).
    ///   - pin: pins worker i to the i-th allowed CPU (modulo the count) and each calling thread to the first, so a
    ///     spinning caller and a worker never share a CPU while another idles. The caller's pinning outlives the
    ///     call: run the pool from a dedicated inference thread, not from Swift concurrency's shared executors (or
    ///     pass pin: false).
    public init(threads: Int, pin: Bool = true) {
        precondition(threads >= 1, "WorkerPool needs at least one thread, got \(threads)")
        self.threads = threads
        self.pin = pin
        shared = PoolShared(parts: threads)
        for index in 1..<max(threads, 1) {
            let cpu = pin ? Int(sk_allowed_cpu(Int32(index % Int(sk_allowed_cpu_count())))) : -1
            let context = WorkerContext(shared: shared, cpu: cpu,
                                        seenGeneration: sk_load_acquire(shared.generation))
            workers.append(Self.startThread(context))
        }
    }

    deinit {
        sk_store_release(shared.stop, 1)
        _ = sk_fetch_add(shared.generation, 1)
        sk_fence()
        _ = sk_futex_wake(shared.generation, Int32.max)
        for thread in workers { pthread_join(thread, nil) }
    }

    /// Calls body(ith, threads) once for each ith in 0..<threads — part 0 on the calling thread, each other part on
    /// whichever thread claims it first (a worker, or the caller once its own part is done) — and returns when all
    /// have returned.
    ///
    /// `body` is escaping so that a closure the caller already stores (a compiled step's kernel) is passed with a
    /// retain: a non-escaping body had to be wrapped in a heap-allocated context on every call.
    public func run(_ body: @escaping (Int, Int) -> Void) {
        if threads == 1 || callerOnly {
            body(0, 1)
            return
        }
        if pin { pinCaller() }
        shared.job = body
        sk_store_release(shared.pending, UInt32(threads - 1))
        // Only this thread (and deinit) bumps the generation, so the next value is known before publishing it.
        let generation = sk_load_acquire(shared.generation) &+ 1
        sk_store_release64(shared.claim, UInt64(generation) << 32 | 1)
        // The RMW and the fence order "generation bumped" before "sleepers read": a worker that counted
        // itself as a sleeper either sees the new generation or gets woken.
        _ = sk_fetch_add(shared.generation, 1)
        sk_fence()
        if sk_load_acquire(shared.sleepers) > 0 { _ = sk_futex_wake(shared.generation, Int32.max) }
        body(0, threads)
        // Parts no worker has started yet are run here: a worker the scheduler has not run (another process
        // on its core) costs nothing instead of a timeslice per op.
        shared.runUnclaimedParts(of: generation)
        var spins = 0
        while sk_load_acquire(shared.pending) != 0 {
            if spins < 2000 {
                sk_pause()
                spins += 1
            } else {
                sched_yield()
            }
        }
        shared.job = PoolShared.idle
    }

    /// Pins the calling thread to the first allowed CPU unless it already is (a syscall only on a change).
    private func pinCaller() {
        let cpu = sk_allowed_cpu(0)
        if cpu >= 0 && sk_thread_pinned_cpu() != cpu { _ = sk_pin_thread(cpu) }
    }

    /// With `true`, `run` calls body(0, 1) on the calling thread alone, and the caller, if pinned, may run on any
    /// allowed CPU again; workers are not woken and fall asleep. For when another process holds a core: a worker
    /// that shares its CPU with a busy process is descheduled for whole timeslices, and every kernel waits for it
    /// (bench/adapt: level 3 went 6 → 20–25 ms per frame with two threads). Call it from the thread that calls `run`,
    /// between runs.
    public func setCallerOnly(_ on: Bool) {
        guard threads > 1, on != callerOnly else { return }
        callerOnly = on
        if on && pin && sk_thread_pinned_cpu() >= 0 { _ = sk_unpin_thread() }
    }

    private static func startThread(_ context: WorkerContext) -> pthread_t {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, 8 << 20)
        var thread = pthread_t()
        let arg = Unmanaged.passRetained(context).toOpaque()
        let rc = pthread_create(&thread, &attr, { raw in
            let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
            context.loop()
            return nil
        }, arg)
        precondition(rc == 0, "pthread_create failed with errno \(rc)")
        return thread
    }
}

/// State shared by the pool and its workers. The words live in one malloc'd block because C atomics and the
/// futex need stable addresses; each sits on its own cache line.
private final class PoolShared: @unchecked Sendable {
    let words: UnsafeMutableRawPointer
    /// Futex word: bumped once per `run` (and once at shutdown).
    var generation: UnsafeMutablePointer<UInt32> { (words + 0).assumingMemoryBound(to: UInt32.self) }
    /// Worker parts of the current run not yet finished.
    var pending: UnsafeMutablePointer<UInt32> { (words + 64).assumingMemoryBound(to: UInt32.self) }
    /// Workers inside (or about to enter) futex_wait; the caller skips the wake syscall when 0.
    var sleepers: UnsafeMutablePointer<UInt32> { (words + 128).assumingMemoryBound(to: UInt32.self) }
    /// Set once by deinit.
    var stop: UnsafeMutablePointer<UInt32> { (words + 192).assumingMemoryBound(to: UInt32.self) }
    /// generation << 32 | next unclaimed part of that run (part 0 is always the caller's).
    var claim: UnsafeMutablePointer<UInt64> { (words + 256).assumingMemoryBound(to: UInt64.self) }
    /// The current body; written before the generation bump, read after a part is claimed. Not optional: an
    /// optional closure is stored through a reabstraction thunk, a heap allocation per `run`.
    var job: (Int, Int) -> Void = PoolShared.idle
    static func idle(_: Int, _: Int) {}
    let parts: Int

    init(parts: Int) {
        self.parts = parts
        words = UnsafeMutableRawPointer.allocate(byteCount: 320, alignment: 64)
        words.initializeMemory(as: UInt8.self, repeating: 0, count: 320)
    }

    /// Runs parts of run `generation` until none is left unclaimed; whoever claims a part runs it. The job is read
    /// only after a claim succeeds: the run cannot finish (and replace it) before that part is done.
    func runUnclaimedParts(of generation: UInt32) {
        while true {
            let part = sk_claim_part(claim, generation, UInt32(parts))
            if part < 0 { return }
            job(Int(part), parts)
            _ = sk_fetch_sub(pending, 1)
        }
    }

    deinit { words.deallocate() }
}

private final class WorkerContext {
    let shared: PoolShared
    let cpu: Int
    /// Initialised when the pool is created, not when the thread starts: a run that begins before the thread
    /// is scheduled must still count as new for it.
    var seenGeneration: UInt32

    init(shared: PoolShared, cpu: Int, seenGeneration: UInt32) {
        self.shared = shared
        self.cpu = cpu
        self.seenGeneration = seenGeneration
    }

    func loop() {
        if cpu >= 0 { _ = sk_pin_thread(Int32(cpu)) }
        // Named so that per-thread tools (top -H, perf, scripts/check-allocations.py) can tell the workers apart.
        sk_name_thread("sentei-pool")
        // Workers run only kernel parts: denormals flushed for good (the caller's thread does it per forward pass).
        _ = sk_flush_denormals()
        let generation = shared.generation
        while true {
            var spins = 0
            var now = sk_load_acquire(generation)
            while now == seenGeneration {
                if spins < 20_000 {
                    sk_pause()
                    spins += 1
                } else {
                    _ = sk_fetch_add(shared.sleepers, 1)
                    sk_fence()
                    // futex_wait re-checks the word atomically, so a bump after this load is never slept through.
                    if sk_load_acquire(generation) == seenGeneration { _ = sk_futex_wait(generation, seenGeneration) }
                    _ = sk_fetch_sub(shared.sleepers, 1)
                    spins = 0
                }
                now = sk_load_acquire(generation)
            }
            seenGeneration = now
            if sk_load_acquire(shared.stop) != 0 { return }
            shared.runUnclaimedParts(of: now)
        }
    }
}
