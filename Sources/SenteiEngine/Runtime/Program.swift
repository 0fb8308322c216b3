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
        let body: (Int, Int) -> Void
    }

    let plan: MemoryPlan
    let arena: UnsafeMutablePointer<Float>
    let arenaCount: Int
    private(set) var weightCount = 0
    private var owned: [UnsafeMutablePointer<Float>] = []
    private var constantPointers: [Int: UnsafeMutablePointer<Float>] = [:]
    private(set) var steps: [Step] = []
    let kernelName: String
    /// The int8 layers and their kernel set when the model was loaded with a quantization table.
    let int8: Int8Plan?

    init(graph: Graph, plan: MemoryPlan, kernels: KernelTable?, threads: Int, int8: Int8Plan? = nil) {
        self.plan = plan
        self.int8 = int8
        self.arenaCount = plan.arenaCount
        // calloc, not allocate + initialize: a large calloc is fresh zero pages from the kernel, so the arena costs
        // resident memory only as the first run reaches it, after the load-time buffers below are gone.
        self.arena = calloc(max(plan.arenaCount, 1), MemoryLayout<Float>.stride)!.assumingMemoryBound(to: Float.self)
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
            reserveConvScratch(largest * threads)
        }
        let builder = StepBuilder(program: self, graph: graph, kernels: kernels, threads: threads)
        for index in graph.nodes.indices {
            if let step = builder.step(for: index) { steps.append(step) }
        }
        // Hand the heap freed while loading (parsed initializers, pre-fusion weights) back to the system:
        // otherwise it stays resident next to the packed copies for the program's lifetime.
        sk_release_free_memory()
    }

    /// Per-step accumulated nanoseconds once `Model.enableProfiling()` (`sentei bench --profile`) turned profiling on.
    var profile: [UInt64]?
    /// Per-step fastest run while profiling: on a shared host the mean carries other tenants' time, the minimum is
    /// what the step itself costs.
    var profileMinimum: [UInt64] = []

    func executeProfiled(pool: WorkerPool) {
        for (i, step) in steps.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            if step.parallel && pool.threads > 1 { pool.run(step.body) } else { step.body(0, 1) }
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            profile![i] += elapsed
            profileMinimum[i] = min(profileMinimum[i], elapsed)
        }
    }

    deinit {
        scratch.deallocate()
        free(arena)
        for buffer in owned { buffer.deallocate() }
    }

    func pointer(_ id: NodeID) -> UnsafeMutablePointer<Float> { pointer(id.index) }

    func pointer(_ index: Int) -> UnsafeMutablePointer<Float> {
        switch plan.locations[index] {
        case .arena(let offset): return arena + offset
        case .constant: return constantPointers[index]!
        }
    }

    /// Allocates a buffer the program owns for its lifetime (packed weights, constants, scratch).
    func allocateOwned(_ count: Int) -> UnsafeMutablePointer<Float> {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        buffer.initialize(repeating: 0, count: max(count, 1))
        owned.append(buffer)
        weightCount += count
        return buffer
    }

    /// The shared conv scratch, grown to fit `parts` slices of `partCount` floats. Steps capture the base pointer at
    /// build time, so the final size is fixed by a sizing pass before any step is built (`reserveConvScratch`).
    func convScratch(partCount: Int, parts: Int) -> UnsafeMutablePointer<Float> {
        precondition(partCount * parts <= scratchCount, "conv scratch was not reserved for this conv")
        return scratch
    }

    private(set) var scratch = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var scratchCount = 0

    func reserveConvScratch(_ count: Int) {
        guard count > scratchCount else { return }
        scratch.deallocate()
        scratch = .allocate(capacity: count)
        scratch.initialize(repeating: 0, count: count)
        scratchCount = count
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
        for step in steps {
            if step.parallel && pool.threads > 1 {
                pool.run(step.body)
            } else {
                step.body(0, 1)
            }
        }
    }
}
