import CSenteiKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The executable form of a planned graph: owned buffers (arena, packed weights, constants, kernel scratch) and one
/// step per node that computes something. Steps capture raw pointers that stay valid for the program's lifetime,
/// so a run is a walk over closures with no allocation and no lookups.
final class Program: @unchecked Sendable {
    struct Step {
        let node: Int
        /// Whether the step is split across the pool's parts; small steps run on the caller alone.
        let parallel: Bool
        /// Part ith of nth, with scratch slot ith.
        let body: (Int, Int) -> Void
        /// Part ith of nth with the given scratch slot (< the program's threads): a step run whole inside a lane
        /// (ith 0 of 1) takes its lane's slot.
        let slotted: (Int, Int, Int) -> Void

        init(node: Int, parallel: Bool, body: @escaping (Int, Int) -> Void) {
            self.node = node
            self.parallel = parallel
            self.body = body
            self.slotted = { ith, nth, _ in body(ith, nth) }
        }

        /// A step that uses per-part kernel scratch.
        init(node: Int, parallel: Bool, slotted: @escaping (Int, Int, Int) -> Void) {
            self.node = node
            self.parallel = parallel
            self.body = { ith, nth in slotted(ith, nth, ith) }
            self.slotted = slotted
        }
    }

    /// What `execute` walks: a step, or a lane region (`LaneSchedule`) whose lanes run at once, one per part.
    enum Item {
        case step(Int)
        case lanes(LaneRun)
    }

    /// One lane region's run: lane l is the steps `lanes[l]` (indices into `steps`), run whole one after another.
    final class LaneRun: @unchecked Sendable {
        let lanes: [[Int]]
        let body: (Int, Int) -> Void
        /// Per-step nanoseconds of the last profiled run (lanes write disjoint entries).
        let times: UnsafeMutablePointer<UInt64>
        /// Whether the lanes time their steps (profiling); set between runs only.
        let flag: UnsafeMutablePointer<Bool>

        init(lanes: [[Int]], steps: [Step]) {
            self.lanes = lanes
            let times = UnsafeMutablePointer<UInt64>.allocate(capacity: max(steps.count, 1))
            times.initialize(repeating: 0, count: max(steps.count, 1))
            self.times = times
            let work = lanes.map { $0.map { (index: $0, run: steps[$0].slotted) } }
            let flag = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
            flag.initialize(to: false)
            self.flag = flag
            // With fewer parts than lanes (one thread, or the pool's caller-only mode), a part runs several lanes;
            // in lane order, which is a dependency order.
            body = { ith, nth in
                var lane = ith
                while lane < work.count {
                    for step in work[lane] {
                        let profiling = flag.pointee
                        let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
                        step.run(0, 1, ith)
                        if profiling { times[step.index] = DispatchTime.now().uptimeNanoseconds - start }
                    }
                    lane += nth
                }
            }
        }

        deinit {
            times.deallocate()
            flag.deallocate()
        }
    }

    let plan: MemoryPlan
    let arena: UnsafeMutablePointer<Float>
    /// calloc's block behind `arena` (which starts at its first cache-line boundary).
    private let arenaBlock: UnsafeMutableRawPointer
    let arenaCount: Int
    private(set) var weightCount = 0
    private var owned: [UnsafeMutablePointer<Float>] = []
    private var constantPointers: [Int: UnsafeMutablePointer<Float>] = [:]
    /// One step per node that computes something, in run order (the profile's rows).
    private(set) var steps: [Step] = []
    private var items: [Item] = []
    let kernelName: String
    /// The int8 layers and their kernel set when the model was loaded with a quantization table.
    let int8: Int8Plan?

    /// Producers computed inside their depthwise reader's step, by reader (`BandFusion`).
    let fusions: [Int: BandFusion]
    /// int8 sibling pairs run as one call (`SiblingFusion`), by first conv; and each second conv's first.
    let siblings: [Int: SiblingFusion]
    let siblingOf: [Int: Int]
    /// Max pool chains run as one step (`PoolCascade`), by first pool; and each later pool's first.
    let cascades: [Int: PoolCascade]
    let cascadeOf: [Int: Int]

    init(graph: Graph, plan: MemoryPlan, schedule: LaneSchedule? = nil, kernels: KernelTable?, threads: Int,
         int8: Int8Plan? = nil, fusions: [Int: BandFusion] = [:], siblings: [SiblingFusion] = [],
         cascades: [PoolCascade] = []) {
        self.plan = plan
        self.int8 = int8
        self.fusions = fusions
        self.siblings = Dictionary(uniqueKeysWithValues: siblings.map { ($0.first, $0) })
        self.siblingOf = Dictionary(uniqueKeysWithValues: siblings.flatMap(\.carried).map { ($0.node, $0.by) })
        self.cascades = Dictionary(uniqueKeysWithValues: cascades.map { ($0.pools[0], $0) })
        self.cascadeOf = Dictionary(uniqueKeysWithValues: cascades.flatMap(\.carried).map { ($0.node, $0.by) })
        self.arenaCount = plan.arenaCount
        // calloc, not allocate + initialize: a large calloc is fresh zero pages from the kernel, so the arena costs
        // resident memory only as the first run reaches it, after the load-time buffers below are gone. Its block
        // starts 16 bytes into a page (glibc's header), so the arena starts at the next cache line: the plan's
        // offsets keep rows of whole lines aligned, and a 64-byte vector that straddles two lines costs two L1
        // accesses (every load and store of a frame did; YOLOX-Nano's 32×10816×16 1×1 conv alone 109 → 76 µs).
        arenaBlock = calloc(max(plan.arenaCount, 1) + Self.lineFloats, MemoryLayout<Float>.stride)!
        self.arena = Self.lineAligned(arenaBlock)
        self.kernelName = kernels?.name ?? "reference"
        // Only constants something reads at run time (a node input or a graph output) need a buffer.
        let uses = graph.useCounts()
        for (index, node) in graph.nodes.enumerated() {
            if case .constant(let data) = node.op, uses[index] > 0 {
                constantPointers[index] = copyOwned(data.floats)
            }
        }
        if let kernels {
            var largest = 0
            for node in graph.nodes {
                guard case .conv(let conv) = node.op, !conv.isDepthwise else { continue }
                largest = max(largest, kernels.conv2dScratchCount(conv.inChannels / conv.group, conv.kernel.h, conv.kernel.w))
                if WinogradConv.applies(conv, inputShape: graph[node.inputs[0]].shape, outputShape: node.shape) {
                    largest = max(largest, kernels.winogradScratchCount(conv.inChannels, conv.outChannels))
                }
            }
            // Whole lines, so that every part's slice starts line-aligned like the block.
            convScratchPerPart = (largest + Self.lineFloats - 1) / Self.lineFloats * Self.lineFloats
            reserveConvScratch(convScratchPerPart * threads)
        }
        let builder = StepBuilder(program: self, graph: graph, kernels: kernels, threads: threads)
        let schedule = schedule ?? .sequential(graph)
        let laneOf = schedule.placeOf
        var pending: [[Int]] = []
        var pendingRegion = -1
        func flushLanes() {
            if pendingRegion >= 0 { items.append(.lanes(LaneRun(lanes: pending, steps: steps))) }
            pending = []
            pendingRegion = -1
        }
        for index in schedule.order {
            let lane = laneOf[index]
            if lane?.region != pendingRegion {
                flushLanes()
                if let lane {
                    pendingRegion = lane.region
                    pending = Array(repeating: [], count: schedule.regions[lane.region].lanes.count)
                }
            }
            guard let step = builder.step(for: index) else { continue }
            steps.append(step)
            if let lane { pending[lane.lane].append(steps.count - 1) } else { items.append(.step(steps.count - 1)) }
        }
        flushLanes()
        laneOfStep = steps.map { laneOf[$0.node]?.lane }
        int8?.releaseWeights()
        // Hand the heap freed while loading (parsed initializers, pre-fusion weights) back to the system:
        // otherwise it stays resident next to the packed copies for the program's lifetime.
        sk_release_free_memory()
    }

    /// Per-step accumulated nanoseconds once `Model.enableProfiling()` (`sentei bench --profile`) turned profiling on.
    var profile: [UInt64]?
    /// Per-step fastest run while profiling: on a shared host the mean carries other tenants' time, the minimum is
    /// what the step itself costs.
    var profileMinimum: [UInt64] = []

    /// The lane each step runs in, nil outside lane regions (profiles mark lane steps: they overlap in time).
    private(set) var laneOfStep: [Int?] = []

    func executeProfiled(pool: WorkerPool) {
        func record(_ i: Int, _ elapsed: UInt64) {
            profile![i] += elapsed
            profileMinimum[i] = min(profileMinimum[i], elapsed)
        }
        for item in items {
            switch item {
            case .step(let i):
                let step = steps[i]
                let start = DispatchTime.now().uptimeNanoseconds
                if step.parallel && pool.threads > 1 { pool.run(step.body) } else { step.body(0, 1) }
                record(i, DispatchTime.now().uptimeNanoseconds - start)
            case .lanes(let run):
                run.flag.pointee = true
                pool.run(run.body)
                run.flag.pointee = false
                for i in run.lanes.joined() { record(i, run.times[i]) }
            }
        }
    }

    deinit {
        UnsafeMutableRawPointer(scratch).deallocate()
        free(arenaBlock)
        for buffer in owned { UnsafeMutableRawPointer(buffer).deallocate() }
    }

    func pointer(_ id: NodeID) -> UnsafeMutablePointer<Float> { pointer(id.index) }

    func pointer(_ index: Int) -> UnsafeMutablePointer<Float> {
        switch plan.locations[index] {
        case .arena(let offset): return arena + offset
        case .constant: return constantPointers[index]!
        case .bands: preconditionFailure("node \(index) is computed inside its reader's step and has no buffer")
        }
    }

    /// The node's buffer, or nil for a band-fused producer (`BandFusion`), which has none.
    func storedPointer(_ index: Int) -> UnsafeMutablePointer<Float>? {
        if case .bands = plan.locations[index] { return nil }
        return pointer(index)
    }

    /// A band-fused producer's band buffers (`BandFusion.bufferFloats`), in the arena.
    func bandBuffers(_ index: Int) -> UnsafeMutablePointer<Float> {
        guard case .bands(let offset) = plan.locations[index] else { preconditionFailure("node \(index) is not band-fused") }
        return arena + offset
    }

    /// Allocates a buffer the program owns for its lifetime (packed weights, constants, scratch).
    /// Line-aligned, like the arena, for the kernels that read them in vectors.
    func allocateOwned(_ count: Int) -> UnsafeMutablePointer<Float> {
        let buffer = Self.allocateLineAligned(count)
        buffer.initialize(repeating: 0, count: max(count, 1))
        owned.append(buffer)
        weightCount += count
        return buffer
    }

    /// Floats between two parts' slices of the conv scratch: the largest any conv needs, so that convs running at the
    /// same time in different lanes (each with its lane's slot) never share floats.
    private(set) var convScratchPerPart = 0

    /// The shared conv scratch, grown to fit `parts` slices of `partCount` floats. Steps capture the base pointer at
    /// build time, so the final size is fixed by a sizing pass before any step is built (`reserveConvScratch`).
    func convScratch(partCount: Int, parts: Int) -> UnsafeMutablePointer<Float> {
        precondition(partCount <= convScratchPerPart && convScratchPerPart * parts <= scratchCount,
                     "conv scratch was not reserved for this conv")
        return scratch
    }

    private(set) var scratch = Program.allocateLineAligned(1)
    private var scratchCount = 0

    func reserveConvScratch(_ count: Int) {
        guard count > scratchCount else { return }
        UnsafeMutableRawPointer(scratch).deallocate()
        // Line-aligned like the arena: the microkernels read im2col rows from it in whole vectors.
        scratch = Self.allocateLineAligned(count)
        scratch.initialize(repeating: 0, count: count)
        scratchCount = count
    }

    /// Floats in a cache line.
    static let lineFloats = 16

    /// `count` floats (at least one) from a cache-line boundary; free with `UnsafeMutableRawPointer(p).deallocate()`.
    static func allocateLineAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: lineFloats * 4)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// The first cache-line boundary at or after `block` (which has room for `lineFloats` floats more than used).
    static func lineAligned(_ block: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Float> {
        let address = UInt(bitPattern: block)
        let mask = UInt(lineFloats * 4 - 1)
        let aligned = (address + mask) & ~mask
        return (block + Int(aligned - address)).bindMemory(to: Float.self, capacity: 1)
    }

    func copyOwned(_ values: [Float]) -> UnsafeMutablePointer<Float> {
        let buffer = allocateOwned(values.count)
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { buffer.update(from: base, count: values.count) } }
        return buffer
    }

    func execute(pool: WorkerPool) {
        // Denormals flushed to zero for the pass, as TensorFlow's executor does; the caller's float mode is restored
        // after it. They change no output beyond 1e-38 and cost ~100 cycles per instruction that meets one.
        let floatMode = sk_flush_denormals()
        defer { sk_restore_float_mode(floatMode) }
        if profile != nil { return executeProfiled(pool: pool) }
        for item in items {
            switch item {
            case .step(let i):
                let step = steps[i]
                if step.parallel && pool.threads > 1 { pool.run(step.body) } else { step.body(0, 1) }
            case .lanes(let run):
                pool.run(run.body)
            }
        }
    }
}
