import Foundation

/// A name and static shape of a model input or output.
public struct TensorInfo: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let shape: [Int]
    public var description: String { "\(name) \(shape.map(String.init).joined(separator: "×"))" }
}

/// A compiled model, ready to run: ONNX → graph → passes → memory plan → steps over one arena.
///
///     let model = try Model(path: "yolox_nano.onnx")
///     let outputs = try model.run([Tensor(shape: [1, 3, 416, 416], data: pixels)])
///
/// Runs are serialised (one at a time per model); nothing is allocated per run except the returned tensors
/// (the closure form of `run` allocates nothing).
public final class Model: @unchecked Sendable {
    public struct Options: Sendable {
        /// Parts each kernel is split into; default one per core.
        public var threads: Int
        /// Fixed shapes for inputs with symbolic dims, or a different input size (e.g. 320×320 for YOLOX).
        public var inputShapes: [String: [Int]]
        /// Run the scalar reference of every op instead of the optimised kernels (tests, bisecting).
        public var useReferenceKernels: Bool
        /// Lower the kernel ISA below the best the CPU has (`.base`, `.avx2`); nil = best.
        public var isa: KernelISA?
        /// Run the table's int8 layers in int8 (see Quantization/QuantizationTable.swift); nil = all fp32.
        public var quantization: QuantizationTable?
        /// Run independent branches whole, one per thread, where they balance (`LaneSchedule`); false splits every
        /// layer across the threads (also `SENTEI_LANES=off`).
        public var lanes: Bool
        /// Tests: the share of the split estimate a lane region must stay under (`LaneSchedule.splitMargin`).
        package var laneSplitMargin = LaneSchedule.splitMargin
        /// Which dense conv → depthwise conv pairs run fused, a band of rows at a time (`BandFusion`); nil runs every
        /// layer as its own step (also `SENTEI_DISABLE_PASSES=band-fusion`).
        package var bandFusion: BandFusion.Policy? = BandFusion.Policy()
        /// Whether int8 1×1 convs that read the same tensor run as one kernel call (`SiblingFusion`).
        package var siblingFusion = true
        /// Whether chains of same-window max pools run as one step (`PoolCascade`).
        package var poolCascade = true

        public init(threads: Int? = nil, inputShapes: [String: [Int]] = [:], useReferenceKernels: Bool = false, isa: KernelISA? = nil,
                    quantization: QuantizationTable? = nil, lanes: Bool = true) {
            self.lanes = lanes
            self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
            self.inputShapes = inputShapes
            self.useReferenceKernels = useReferenceKernels
            self.isa = isa
            self.quantization = quantization
        }
    }

    public let inputs: [TensorInfo]
    public let outputs: [TensorInfo]
    /// Bytes of the activation arena (all intermediate tensors share it).
    public var arenaBytes: Int { program.arenaCount * MemoryLayout<Float>.stride }
    /// Bytes of packed weights and constants.
    public var weightBytes: Int { program.weightCount * MemoryLayout<Float>.stride }
    /// The kernel ISA in use ("avx512", "avx2", "base", or "reference").
    public var kernelName: String { program.kernelName }
    public let threads: Int

    /// Runs every kernel on the calling thread alone (and lets it leave its pinned CPU) while true; the worker
    /// threads stay, asleep, so switching back costs nothing. For a daemon that sees another process take a core:
    /// see `WorkerPool.setCallerOnly`. Set it between runs, from the thread that runs the model.
    public var singleThreaded: Bool {
        get { pool.callerOnly }
        set { pool.setCallerOnly(newValue) }
    }

    package let graph: Graph
    let program: Program
    let pool: WorkerPool
    /// The run order and the lane regions (independent branches run whole, one per thread).
    package let schedule: LaneSchedule
    private let lock = NSLock()
    /// Views of the outputs in the arena, in `outputs` order.
    private let outputBuffers: [UnsafeBufferPointer<Float>]

    public convenience init(path: String, options: Options = Options()) throws {
        let name = (path as NSString).lastPathComponent
        // One read straight into the decoder's buffer (not Data plus an [UInt8] copy), dropped once the graph is
        // imported: the file's bytes never sit next to the packed weights (peak RSS).
        var bytes = try readWholeFile(path: path)
        if CompactModel.hasMagic(bytes) { try self.init(compact: bytes, source: name, options: options) } else {
            let graph = try Self.optimizedGraph(onnx: bytes, source: name, options: options)
            bytes = []
            self.init(graph: graph, options: options)
        }
    }

    public convenience init(onnx bytes: [UInt8], source: String, options: Options = Options()) throws {
        self.init(graph: try Self.optimizedGraph(onnx: bytes, source: source, options: options), options: options)
    }

    /// Decode, import and optimise; the decoded ONNX tensors are released when this returns.
    private static func optimizedGraph(onnx bytes: [UInt8], source: String, options: Options) throws -> Graph {
        let onnx = try readONNXModel(bytes: bytes, source: source)
        let graph = try ONNXImporter.importModel(onnx, source: source, inputShapes: options.inputShapes)
        let optimized = Pipeline.optimize(graph)
        try options.quantization?.validate(against: optimized, source: "quantization table for \(source)")
        return optimized
    }

    /// Compiles an already optimised graph (tests, and derived variants such as pruned models).
    package init(graph: Graph, options: Options = Options()) {
        self.threads = options.threads
        self.pool = WorkerPool(threads: options.threads)
        let isa = min(options.isa?.rawValue ?? KernelISA.best.rawValue, KernelISA.best.rawValue)
        let kernels = options.useReferenceKernels ? nil : KernelTable(isa: KernelISA(rawValue: isa) ?? .base)
        // Kernel-level lowering (the reference mode runs the graph as given: it is the definition).
        var graph = graph
        if kernels != nil {
            // An int8 stem folds too: the int8 plan runs the folded conv with the space-to-depth int8 kernel.
            graph = Passes.foldSpaceToDepthIntoConv(graph)
            graph = Passes.transposeIntoConcat(graph)
        }
        let int8 = options.quantization.map {
            Int8Plan(table: $0, graph: graph, isa: kernels.map { Int8ISA($0.isa) }, threads: options.threads)
        }
        // Independent branches run whole, one per thread, where they balance (LaneSchedule); not in reference mode.
        let int8Layers = Set(graph.nodes.indices.filter { int8?.layers[$0] != nil })
        let lanes = kernels == nil || !options.lanes ? LaneSchedule.sequential(graph)
            : LaneSchedule.make(graph, threads: options.threads, int8Layers: int8Layers, margin: options.laneSplitMargin)
        let fusions = kernels == nil ? [:] : options.bandFusion.map {
            BandFusion.plan(graph, schedule: lanes, int8: int8, policy: $0)
        } ?? [:]
        let (siblings, paired) = options.siblingFusion
            ? SiblingFusion.plan(graph, schedule: lanes, int8: int8,
                                 excluding: Set(fusions.values.flatMap { [$0.producer, $0.consumer] }))
            : ([], lanes)
        let (cascades, schedule) = kernels != nil && options.poolCascade ? PoolCascade.plan(graph, schedule: paired)
            : ([], paired)
        self.schedule = schedule
        // Nodes computed in another node's step: their buffers are live from that step on.
        let sameStep = siblings.flatMap(\.carried) + cascades.flatMap(\.carried)
        let plan = MemoryPlan.make(graph, schedule: schedule,
                                   fused: fusions.mapValues { ($0.producer, $0.bufferFloats(threads: options.threads)) },
                                   sameStep: Dictionary(uniqueKeysWithValues: sameStep.map { ($0.node, $0.by) }))
        self.program = Program(graph: graph, plan: plan, schedule: schedule, kernels: kernels, threads: options.threads,
                               int8: int8, fusions: fusions, siblings: siblings, cascades: cascades)
        // The program holds packed copies of the weights; keep the graph's structure only (inspect, profiles).
        self.graph = kernels == nil ? graph : Self.strippingWeights(graph)
        self.inputs = graph.inputs.map { TensorInfo(name: graph[$0].name, shape: graph[$0].shape) }
        self.outputs = graph.outputs.map { TensorInfo(name: $0.name, shape: graph[$0.node].shape) }
        // The arena never moves, so the output views are made once instead of an array per run.
        let program = self.program
        self.outputBuffers = graph.outputs.map {
            UnsafeBufferPointer(start: UnsafePointer(program.pointer($0.node)), count: graph[$0.node].elementCount)
        }
    }

    /// Runs the model on `inputs` (in `self.inputs` order) and returns copies of the outputs.
    public func run(_ inputs: [Tensor]) throws -> [Tensor] {
        guard inputs.count == self.inputs.count else {
            throw EngineError(.invalidInput, "the model takes \(self.inputs.count) inputs, \(inputs.count) were given")
        }
        for (tensor, info) in zip(inputs, self.inputs) where tensor.shape != info.shape {
            throw EngineError(.invalidInput, "input '\(info.name)' must have shape \(info.shape), got \(tensor.shape)")
        }
        lock.lock()
        defer { lock.unlock() }
        for (tensor, id) in zip(inputs, graph.inputs) {
            tensor.data.withUnsafeBufferPointer { program.pointer(id).update(from: $0.baseAddress!, count: $0.count) }
        }
        program.execute(pool: pool)
        return graph.outputs.map { output in
            let node = graph[output.node]
            return Tensor(shape: node.shape, data: Array(UnsafeBufferPointer(start: program.pointer(output.node), count: node.elementCount)))
        }
    }

    /// Runs a single-input model without copying: `fill` writes the input in place, `body` reads the outputs.
    public func run<R>(
        fill: (UnsafeMutableBufferPointer<Float>) throws -> Void, _ body: ([UnsafeBufferPointer<Float>]) throws -> R
    ) throws -> R {
        guard graph.inputs.count == 1 else {
            throw EngineError(.invalidInput, "the model takes \(graph.inputs.count) inputs; use run(_:) instead")
        }
        lock.lock()
        defer { lock.unlock() }
        let input = graph.inputs[0]
        try fill(UnsafeMutableBufferPointer(start: program.pointer(input), count: graph[input].elementCount))
        program.execute(pool: pool)
        return try body(outputBuffers)
    }

    /// Per-node description for `sentei inspect`: name, kernel, output shape, multiply-accumulates.
    public var layers: [LayerInfo] {
        graph.nodes.enumerated().compactMap { index, node in
            switch node.op {
            case .input, .constant: return nil
            default: break
            }
            let inPlace = program.plan.isView[index]
            let fusedInto = program.fusions.values.first { $0.producer == index }
                .map { " (fused into \(graph.nodes[$0.consumer].name))" }
                ?? program.siblingOf[index].map { " (one call with \(graph.nodes[$0].name))" }
                ?? program.cascadeOf[index].map { " (chained in \(graph.nodes[$0].name)'s step)" } ?? ""
            return LayerInfo(name: node.name, kind: node.op.kindName + (inPlace ? " (view)" : "") + (program.int8?.layers[index] != nil ? " int8" : "") + fusedInto, shape: node.shape, macs: Self.macs(node))
        }
    }

    /// Turns per-layer timing on (accumulating from now on) and returns the previous totals.
    public func enableProfiling() {
        lock.lock()
        program.profile = [UInt64](repeating: 0, count: program.steps.count)
        program.profileMinimum = [UInt64](repeating: .max, count: program.steps.count)
        lock.unlock()
    }

    /// Time per executed step since `enableProfiling()`: (layer name, kind, accumulated nanoseconds, fastest run).
    public var profile: [(name: String, kind: String, nanoseconds: UInt64, minimumNanoseconds: UInt64)] {
        guard let times = program.profile else { return [] }
        return program.steps.indices.map { i in
            let node = program.steps[i].node
            let lane = program.laneOfStep[i].map { " ‖ lane \($0)" } ?? ""
            func kind(_ n: Int) -> String { graph.nodes[n].op.kindName + (program.int8?.layers[n] != nil ? " int8" : "") }
            // A band-fused pair is one step: "Conv_41+Conv_44", "Conv6x6/s2+silu int8 → DepthwiseConv3x3/s2+silu".
            if let producer = program.fusions[node]?.producer {
                return (graph.nodes[producer].name + "+" + graph.nodes[node].name, kind(producer) + " → " + kind(node) + lane,
                        times[i], program.profileMinimum[i])
            }
            // A sibling pair or a pool cascade too: "Conv_50&Conv_53", "Conv1x1+silu int8 & Conv1x1+silu int8".
            if let group = program.siblings[node].map({ [$0.first, $0.second] }) ?? program.cascades[node]?.pools {
                return (group.map { graph.nodes[$0].name }.joined(separator: "&"), group.map(kind).joined(separator: " & ") + lane,
                        times[i], program.profileMinimum[i])
            }
            return (graph.nodes[node].name, kind(node) + lane, times[i], program.profileMinimum[i])
        }
    }

    /// One line per lane region: each lane's first and last layer, its layer count and estimated one-thread time, and
    /// the estimate for the same layers split across the threads.
    public var laneSummary: [String] {
        schedule.regions.map { region in
            zip(region.lanes, region.laneCosts).map { nodes, cost in
                let names = nodes.filter { !program.plan.isView[$0] }.map { graph.nodes[$0].name }
                return "\(names.first ?? "")…\(names.last ?? "") (\(names.count) layers, ~\(Int(cost / 1000)) µs)"
            }.joined(separator: " ‖ ") + "; split across threads ~\(Int(region.splitCost / 1000)) µs"
        }
    }

    public var totalMACs: Int { layers.reduce(0) { $0 + $1.macs } }

    static func strippingWeights(_ graph: Graph) -> Graph {
        var graph = graph
        for index in graph.nodes.indices {
            switch graph.nodes[index].op {
            case .conv(var conv):
                conv.weights = []
                graph.nodes[index].op = .conv(conv)
            case .constant:
                graph.nodes[index].op = .constant(ConstantData(values: .float([])))
            default: break
            }
        }
        return graph
    }

    static func macs(_ node: Node) -> Int {
        switch node.op {
        case .conv(let conv): return node.elementCount * conv.macsPerOutput
        case .matMul: return 0
        default: return 0
        }
    }
}

public struct LayerInfo: Sendable {
    public let name: String
    public let kind: String
    public let shape: [Int]
    public let macs: Int
}
