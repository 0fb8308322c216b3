import Foundation

/// Training mode over an engine graph: a forward pass that keeps every value the backward pass reads, and reverse-mode
/// gradients of every op, accumulated into one flat gradient array laid out like `parameters`.
///
/// Memory plan: the graph is batch 1, so a batch is run image by image (forward, backward, accumulate), and the
/// activation memory is that of one image whatever the batch size. Per node it keeps the output and the pre-activation
/// of convs with a fused activation (their derivative needs it); reshapes are views of their input (value and
/// gradient). Gradients live in one arena, each only from its first writer's backward step to its own, so most share
/// memory (`MemoryPlan.place`); a forward-only graph (a distillation teacher) places its values the same way and keeps
/// only its outputs and `retained` nodes past their last reader. Max-pool backward re-finds each window's maximum from
/// the stored input instead of keeping indices. Heavy parts run on the fast kernels: dense conv = packed GEMMs (dW = dZ·colᵀ, dcol = Wᵀ·dZ then col2im),
/// depthwise = direct loops.
///
/// Not thread-safe: one forward/backward at a time per instance.
package final class GradientGraph {
    package struct Options: Sendable {
        package var threads: Int
        /// Compute gradients of the graph inputs too (gradient checks); off for training, which saves the first conv's
        /// input-gradient GEMM.
        package var inputGradients: Bool
        /// Lower the kernel ISA (tests of the other paths); nil = best.
        package var isa: KernelISA?
        /// Forward only (a distillation teacher): no gradient or pre-activation buffers.
        package var forwardOnly: Bool
        /// Nodes read from outside besides the graph's inputs and outputs: forward only, the values still read after
        /// `forward` (matched features); training, the nodes `backward` may be seeded at.
        package var retained: [NodeID]
        /// Quantization-aware training: the table's int8 convs run fake-quantized (`FakeQuantization.swift`); nil = fp32.
        package var quantization: QuantizationTable?

        package init(threads: Int = 1, inputGradients: Bool = false, isa: KernelISA? = nil, forwardOnly: Bool = false,
                     retained: [NodeID] = [], quantization: QuantizationTable? = nil) {
            self.threads = max(1, threads)
            self.inputGradients = inputGradients
            self.isa = isa
            self.forwardOnly = forwardOnly
            self.retained = retained
            self.quantization = quantization
        }
    }

    package let graph: Graph
    package let options: Options
    package var parameters: ParameterSet { didSet { weightsVersion &+= 1 } }
    /// Gradient of the loss with respect to `parameters.values`, same layout; accumulated by `backward`.
    package var gradients: [Float]
    let kernels: KernelTable
    package let pool: WorkerPool
    let buffers = TrainingBuffers()

    /// Output of each node (views share their input's buffer).
    var value: [UnsafeMutablePointer<Float>?]
    /// Pre-activation of convs with a fused activation.
    var preActivation: [UnsafeMutablePointer<Float>?]
    /// Gradient of each node that needs one (views share their input's).
    var grad: [UnsafeMutablePointer<Float>?]
    let needsGrad: [Bool]
    /// Gradient buffers to zero before backward starts (seeds), and before node i's backward step (those i writes first).
    var zeroBeforeSeeding: [(UnsafeMutablePointer<Float>, Int)] = []
    var zeroBeforeStep: [[(UnsafeMutablePointer<Float>, Int)]]
    /// Nodes `backward` accepts seeds at.
    let seedable: Set<Int>
    /// Bytes of the shared gradient arena (part of `memoryBytes`).
    package private(set) var gradientBytes = 0
    let convPlans: [Int: ConvPlan]
    let scratch: ConvScratch
    /// Fake-quantized convs by node index, each with its bias buffer (master bias + correction), and scratch for one
    /// such conv's dequantized input and (training) its own input gradient before the clip mask.
    let fakeQuant: [Int: FakeQuantLayer]
    var fakeQuantBias: [Int: UnsafeMutablePointer<Float>] = [:]
    var fakeQuantInput: UnsafeMutablePointer<Float>?
    var fakeQuantGradient: UnsafeMutablePointer<Float>?
    var weightsVersion = 0
    var packedVersion = -1

    /// `pool`: share one worker pool between graphs that run one after another (student and teacher), so two sets of
    /// spinning workers never compete for the cores.
    package init(graph: Graph, options: Options = Options(), pool: WorkerPool? = nil) throws {
        self.graph = graph
        self.options = options
        self.parameters = ParameterSet(graph: graph)
        self.gradients = [Float](repeating: 0, count: parameters.count)
        let isa = min(options.isa?.rawValue ?? KernelISA.best.rawValue, KernelISA.best.rawValue)
        self.kernels = KernelTable(isa: KernelISA(rawValue: isa) ?? .base)
        self.pool = pool ?? WorkerPool(threads: options.threads, pin: false)
        let count = graph.nodes.count
        value = Array(repeating: nil, count: count)
        preActivation = Array(repeating: nil, count: count)
        grad = Array(repeating: nil, count: count)
        zeroBeforeStep = Array(repeating: [], count: count)

        var needs = [Bool](repeating: false, count: count)
        var plans: [Int: ConvPlan] = [:]
        for (i, node) in graph.nodes.enumerated() {
            try Self.check(node, graph: graph)
            switch node.op {
            case _ where options.forwardOnly: needs[i] = false
            case .input: needs[i] = options.inputGradients
            case .constant: needs[i] = false
            case .conv, .channelAffine: needs[i] = true
            default: needs[i] = node.inputs.contains { needs[$0.index] }
            }
            if case .conv(let conv) = node.op { plans[i] = ConvPlan(conv, input: graph[node.inputs[0]].shape, output: node.shape, kernels: kernels) }
        }
        needsGrad = needs
        convPlans = plans
        if let table = options.quantization {
            try table.validate(against: graph, source: "fake quantization")
            fakeQuant = FakeQuantLayer.resolve(table, graph: graph)
        } else {
            fakeQuant = [:]
        }
        scratch = ConvScratch(plans: plans.values, kernels: kernels, threads: self.pool.threads,
                              forwardOnly: options.forwardOnly, buffers: buffers)
        if !fakeQuant.isEmpty {
            let largest = fakeQuant.keys.map { graph[graph.nodes[$0].inputs[0]].elementCount }.max()!
            fakeQuantInput = buffers.allocate(largest)
            if !options.forwardOnly { fakeQuantGradient = buffers.allocate(largest) }
            for i in fakeQuant.keys { fakeQuantBias[i] = buffers.allocate(graph.nodes[i].shape[1]) }
        }

        // Storage roots: a reshape shares its input's value and gradient.
        var root = Array(0..<count)
        var lastReader = Array(0..<count)
        for (i, node) in graph.nodes.enumerated() {
            if case .reshape = node.op { root[i] = root[node.inputs[0].index] }
            for input in node.inputs { lastReader[root[input.index]] = max(lastReader[root[input.index]], i) }
        }
        let readOutside = Set(graph.outputs.map { root[$0.node.index] } + options.retained.map { root[$0.index] })
        seedable = Set(graph.outputs.map(\.node.index) + options.retained.map(\.index))

        var valueRegions: [(node: Int, region: MemoryPlan.Region)] = []
        for (i, node) in graph.nodes.enumerated() where root[i] == i {
            switch node.op {
            case .constant(let data):
                let p = buffers.allocate(data.count)
                data.floats.withUnsafeBufferPointer { if let b = $0.baseAddress { p.update(from: b, count: data.count) } }
                value[i] = p
                continue
            case .conv(let conv) where conv.activation != .none && !options.forwardOnly:
                preActivation[i] = buffers.allocate(node.elementCount)
            default: break
            }
            if options.forwardOnly {
                // Inputs are written before the pass (step -1); what is read outside lives past the last step.
                let first = Self.isInput(node) ? -1 : i
                let last = readOutside.contains(i) ? count : lastReader[i]
                valueRegions.append((i, MemoryPlan.Region(count: node.elementCount, first: first, last: last)))
            } else {
                value[i] = buffers.allocate(node.elementCount)
            }
        }
        if !valueRegions.isEmpty {
            let placement = MemoryPlan.place(valueRegions.map(\.region))
            let arena = buffers.allocate(placement.count)
            for (k, entry) in valueRegions.enumerated() { value[entry.node] = arena + placement.offsets[k] }
        }

        // Gradients on the backward pass's own clock: node i's backward step is count − 1 − i. A gradient is first
        // written by its newest reader's step (seeds: before step 0) and last read by its own node's step (graph
        // inputs' gradients are read after the pass).
        var gradientRegions: [(node: Int, firstWriter: Int?, region: MemoryPlan.Region)] = []
        for i in graph.nodes.indices where root[i] == i && needs[i] {
            let seeded = seedable.contains { root[$0] == i }
            let firstWriter = lastReader[i] > i ? lastReader[i] : nil
            let first = seeded ? -1 : count - 1 - (firstWriter ?? i)
            let last = Self.isInput(graph.nodes[i]) ? count : count - 1 - i
            gradientRegions.append((i, seeded ? nil : (firstWriter ?? i), MemoryPlan.Region(count: graph.nodes[i].elementCount, first: first, last: last)))
        }
        if !gradientRegions.isEmpty {
            let placement = MemoryPlan.place(gradientRegions.map(\.region))
            let arena = buffers.allocate(placement.count)
            gradientBytes = placement.count * MemoryLayout<Float>.stride
            for (k, entry) in gradientRegions.enumerated() {
                let g = arena + placement.offsets[k], n = graph.nodes[entry.node].elementCount
                grad[entry.node] = g
                if let step = entry.firstWriter { zeroBeforeStep[step].append((g, n)) } else { zeroBeforeSeeding.append((g, n)) }
            }
        }
        for i in graph.nodes.indices where root[i] != i {
            value[i] = value[root[i]]
            grad[i] = needs[i] ? grad[root[i]] : nil
        }
    }

    static func isInput(_ node: Node) -> Bool {
        if case .input = node.op { return true }
        return false
    }

    /// Ops with shapes the training kernels do not handle are refused up front, naming the node.
    static func check(_ node: Node, graph: Graph) throws {
        switch node.op {
        case .conv, .maxPool:
            let input = graph[node.inputs[0]].shape
            guard input.count == 4, input[0] == 1, node.shape.count == 4 else {
                throw EngineError(.unsupportedOp, "training: node '\(node.name)' (\(node.op.kindName)) needs a batch-1 NCHW input, got \(input)")
            }
        default: break
        }
    }

    /// Bytes held for training (values, pre-activations, gradients, scratch, packed weights).
    package var memoryBytes: Int { buffers.totalCount * MemoryLayout<Float>.stride }

    // MARK: forward

    /// Runs the graph on `inputs` (one buffer per graph input, in order) and keeps what backward needs.
    package func forward(_ inputs: [[Float]]) throws {
        guard inputs.count == graph.inputs.count else {
            throw EngineError(.invalidInput, "training: the graph takes \(graph.inputs.count) inputs, \(inputs.count) were given")
        }
        for (data, id) in zip(inputs, graph.inputs) {
            guard data.count == graph[id].elementCount else {
                throw EngineError(.invalidInput, "training: input '\(graph[id].name)' needs \(graph[id].elementCount) values, got \(data.count)")
            }
            data.withUnsafeBufferPointer { value[id.index]!.update(from: $0.baseAddress!, count: data.count) }
        }
        forwardFromInputs()
    }

    /// Forward pass with the inputs already written (`inputPointer`).
    package func forwardFromInputs() {
        refreshPackedWeights()
        for i in graph.nodes.indices { forwardNode(i) }
    }

    /// The input buffer of graph input `slot`, to fill in place.
    package func inputPointer(_ slot: Int = 0) -> UnsafeMutableBufferPointer<Float> {
        let id = graph.inputs[slot]
        return UnsafeMutableBufferPointer(start: value[id.index]!, count: graph[id].elementCount)
    }

    package func value(of node: NodeID) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: value[node.index]!, count: graph[node].elementCount)
    }

    /// A graph input's gradient after `backward` (with `inputGradients`); other nodes' gradient memory is reused
    /// during the pass, so they have none to read.
    package func gradient(of node: NodeID) -> UnsafeBufferPointer<Float>? {
        guard graph.inputs.contains(node) else { return nil }
        return grad[node.index].map { UnsafeBufferPointer(start: $0, count: graph[node].elementCount) }
    }

    func parallel(_ work: Int, _ body: (Int, Int) -> Void) {
        if work > 32768 && pool.threads > 1 { withoutActuallyEscaping(body) { pool.run($0) } } else { body(0, 1) }
    }

    func forwardNode(_ i: Int) {
        let node = graph.nodes[i]
        let out = value[i]!
        let count = node.elementCount
        switch node.op {
        case .input, .constant, .reshape:
            return
        case .conv(let conv):
            forwardConv(i, conv)
        case .channelAffine:
            let e = parameters.entry(node: i, role: .scale)!
            let shiftEntry = parameters.entry(node: i, role: .shift)!
            let x = value[node.inputs[0].index]!
            let (channels, inner) = Self.channelLayout(graph[node.inputs[0]].shape)
            parameters.values.withUnsafeBufferPointer { p in
                for j in 0..<count {
                    let c = (j / inner) % channels
                    out[j] = x[j] * p[e.offset + c] + p[shiftEntry.offset + c]
                }
            }
        case .unary(let kind):
            let x = UnsafePointer(value[node.inputs[0].index]!)
            parallel(count) { ith, nth in
                switch kind {
                case .relu: kernels.relu(x, out, count, ith, nth)
                case .sigmoid: kernels.sigmoid(x, out, count, ith, nth)
                case .silu: kernels.silu(x, out, count, ith, nth)
                case .identity:
                    let (lo, hi) = StridedKernels.partition(count, ith, nth)
                    if lo < hi { (out + lo).update(from: x + lo, count: hi - lo) }
                }
            }
        case .binary(let kind):
            let a = UnsafePointer(value[node.inputs[0].index]!), b = UnsafePointer(value[node.inputs[1].index]!)
            let sa = graph[node.inputs[0]].shape, sb = graph[node.inputs[1]].shape
            if sa == node.shape, sb == node.shape {
                parallel(count) { ith, nth in
                    switch kind {
                    case .add: kernels.add(a, b, out, count, ith, nth)
                    case .sub: kernels.sub(a, b, out, count, ith, nth)
                    case .mul: kernels.mul(a, b, out, count, ith, nth)
                    case .div: kernels.div(a, b, out, count, ith, nth)
                    }
                }
            } else {
                let shape = node.shape
                let stridesA = ShapeMath.broadcastStrides(sa, to: shape), stridesB = ShapeMath.broadcastStrides(sb, to: shape)
                StridedKernels.binary(kind, a: a, aStrides: stridesA, b: b, bStrides: stridesB, shape: shape, out: out, ith: 0, nth: 1)
            }
        case .concat(let axis):
            let outer = node.shape[..<axis].reduce(1, *), total = node.shape[axis...].reduce(1, *)
            var offset = 0
            for input in node.inputs {
                let block = graph[input].shape[axis...].reduce(1, *)
                let src = value[input.index]!
                for o in 0..<outer { (out + o * total + offset).update(from: src + o * block, count: block) }
                offset += block
            }
        case .slice(let starts, let steps):
            let inStrides = ShapeMath.strides(graph[node.inputs[0]].shape)
            let base = zip(starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            StridedKernels.copy(src: value[node.inputs[0].index]!, base: base, strides: zip(inStrides, steps).map { $0 * $1 },
                                shape: node.shape, dst: out, ith: 0, nth: 1)
        case .transpose(let perm):
            let inStrides = ShapeMath.strides(graph[node.inputs[0]].shape)
            StridedKernels.copy(src: value[node.inputs[0].index]!, base: 0, strides: perm.map { inStrides[$0] },
                                shape: node.shape, dst: out, ith: 0, nth: 1)
        case .maxPool(let pool):
            let s = graph[node.inputs[0]].shape
            let x = UnsafePointer(value[node.inputs[0].index]!)
            if pool.dilation == (1, 1) {
                let (c, h, w) = (s[1], s[2], s[3]), (oh, ow) = (node.shape[2], node.shape[3])
                let padB = max(pool.pads.b, (oh - 1) * pool.stride.h + pool.kernel.h - h - pool.pads.t)
                let padR = max(pool.pads.r, (ow - 1) * pool.stride.w + pool.kernel.w - w - pool.pads.l)
                parallel(count * pool.kernel.h * pool.kernel.w) { ith, nth in
                    kernels.maxPool2d(x, h * w, c, h, w, pool.kernel.h, pool.kernel.w, pool.stride.h, pool.stride.w,
                                      pool.pads.t, pool.pads.l, padB, padR, out, oh * ow, ith, nth)
                }
            } else {
                referenceForward(i)
            }
        case .resizeNearest(let sourceIndex):
            let inStrides = ShapeMath.strides(graph[node.inputs[0]].shape)
            let x = value[node.inputs[0].index]!
            forEachSource(node.shape, sourceIndex, inStrides) { flat, source in out[flat] = x[source] }
        case .softmax(let axis):
            let shape = node.shape
            StridedKernels.softmax(x: value[node.inputs[0].index]!, y: out, outer: shape[..<axis].reduce(1, *), dim: shape[axis],
                                   inner: shape[(axis + 1)...].reduce(1, *), ith: 0, nth: 1)
        case .matMul, .gather:
            referenceForward(i)
        }
    }

    func referenceForward(_ i: Int) {
        let node = graph.nodes[i]
        let inputs = node.inputs.map { Array(UnsafeBufferPointer(start: value[$0.index]!, count: graph[$0].elementCount)) }
        let result = ReferenceOps.evaluate(node, inputs: inputs, shapes: node.inputs.map { graph[$0].shape })
        result.withUnsafeBufferPointer { value[i]!.update(from: $0.baseAddress!, count: result.count) }
    }

    /// Calls body(flat output index, flat source index) for a nearest resize.
    func forEachSource(_ shape: [Int], _ sourceIndex: [[Int]], _ inStrides: [Int], _ body: (Int, Int) -> Void) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerMap = sourceIndex[rank - 1].map { $0 * inStrides[rank - 1] }
        let outer = Array(shape.dropLast())
        var index = [Int](repeating: 0, count: outer.count)
        for row in 0..<outer.reduce(1, *) {
            var base = 0
            for axis in 0..<outer.count { base += sourceIndex[axis][index[axis]] * inStrides[axis] }
            for j in 0..<inner { body(row * inner + j, base + innerMap[j]) }
            StridedKernels.increment(&index, outer)
        }
    }

    static func channelLayout(_ shape: [Int]) -> (channels: Int, inner: Int) {
        (shape.count > 1 ? shape[1] : 1, shape.count > 2 ? shape[2...].reduce(1, *) : 1)
    }

    // MARK: backward

    /// Sets every parameter gradient to zero (start of a batch).
    package func zeroParameterGradients() {
        for i in gradients.indices { gradients[i] = 0 }
    }

    /// Back-propagates `seeds` (dLoss/dValue of some nodes, e.g. the outputs and matched features) through the graph
    /// of the last `forward`, adding into `gradients` (and the input gradients when enabled).
    package func backward(seeds: [(node: NodeID, gradient: [Float])]) throws {
        precondition(!options.forwardOnly, "backward on a forward-only GradientGraph")
        for (g, n) in zeroBeforeSeeding { g.update(repeating: 0, count: n) }
        for seed in seeds {
            guard seedable.contains(seed.node.index) else {
                throw EngineError(.invalidInput, "training: '\(graph[seed.node].name)' is neither an output nor a retained node, so it cannot seed backward")
            }
            guard seed.gradient.count == graph[seed.node].elementCount else {
                throw EngineError(.invalidInput, "training: gradient for '\(graph[seed.node].name)' has \(seed.gradient.count) values, needs \(graph[seed.node].elementCount)")
            }
            guard let g = grad[seed.node.index] else { continue }
            seed.gradient.withUnsafeBufferPointer { s in for j in 0..<s.count { g[j] += s[j] } }
        }
        refreshPackedWeights()
        for i in graph.nodes.indices.reversed() where needsGrad[i] {
            for (g, n) in zeroBeforeStep[i] { g.update(repeating: 0, count: n) }
            backwardNode(i)
        }
    }

    /// The gradient buffer of input `k` of a node, or nil when that input needs none.
    func inputGrad(_ node: Node, _ k: Int) -> UnsafeMutablePointer<Float>? {
        needsGrad[node.inputs[k].index] ? grad[node.inputs[k].index] : nil
    }

    func backwardNode(_ i: Int) {
        let node = graph.nodes[i]
        let dy = grad[i]!
        let count = node.elementCount
        switch node.op {
        case .input, .constant, .reshape:
            return
        case .conv(let conv):
            backwardConv(i, conv)
        case .channelAffine:
            let x = value[node.inputs[0].index]!
            let (channels, inner) = Self.channelLayout(graph[node.inputs[0]].shape)
            let scale = parameters.entry(node: i, role: .scale)!, shift = parameters.entry(node: i, role: .shift)!
            let dx = inputGrad(node, 0)
            parameters.values.withUnsafeBufferPointer { p in
                gradients.withUnsafeMutableBufferPointer { g in
                    for j in 0..<count {
                        let c = (j / inner) % channels
                        g[scale.offset + c] += dy[j] * x[j]
                        g[shift.offset + c] += dy[j]
                        if let dx { dx[j] += dy[j] * p[scale.offset + c] }
                    }
                }
            }
        case .unary(let kind):
            guard let dx = inputGrad(node, 0) else { return }
            let x = value[node.inputs[0].index]!, y = value[i]!
            parallel(count) { ith, nth in
                let (lo, hi) = StridedKernels.partition(count, ith, nth)
                TrainingKernels.unaryBackward(kind, x: x + lo, y: y + lo, dy: dy + lo, dx: dx + lo, count: hi - lo)
            }
        case .binary(let kind):
            backwardBinary(i, kind)
        case .concat(let axis):
            let outer = node.shape[..<axis].reduce(1, *), total = node.shape[axis...].reduce(1, *)
            var offset = 0
            for (k, input) in node.inputs.enumerated() {
                let block = graph[input].shape[axis...].reduce(1, *)
                if let dx = inputGrad(node, k) {
                    for o in 0..<outer { TrainingKernels.accumulate(dy + o * total + offset, into: dx + o * block, count: block) }
                }
                offset += block
            }
        case .slice(let starts, let steps):
            guard let dx = inputGrad(node, 0) else { return }
            let inStrides = ShapeMath.strides(graph[node.inputs[0]].shape)
            let base = zip(starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            TrainingKernels.scatterAdd(dy, shape: node.shape, into: dx, base: base, strides: zip(inStrides, steps).map { $0 * $1 })
        case .transpose(let perm):
            guard let dx = inputGrad(node, 0) else { return }
            let inStrides = ShapeMath.strides(graph[node.inputs[0]].shape)
            TrainingKernels.scatterAdd(dy, shape: node.shape, into: dx, base: 0, strides: perm.map { inStrides[$0] })
        case .maxPool(let pool):
            guard let dx = inputGrad(node, 0) else { return }
            TrainingKernels.maxPoolBackward(pool, x: value[node.inputs[0].index]!, inShape: graph[node.inputs[0]].shape,
                                            dy: dy, outShape: node.shape, dx: dx)
        case .resizeNearest(let sourceIndex):
            guard let dx = inputGrad(node, 0) else { return }
            forEachSource(node.shape, sourceIndex, ShapeMath.strides(graph[node.inputs[0]].shape)) { flat, source in
                dx[source] += dy[flat]
            }
        case .softmax(let axis):
            guard let dx = inputGrad(node, 0) else { return }
            let shape = node.shape, y = value[i]!
            let dim = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
            for row in 0..<(outer * inner) {
                let base = (row / inner) * dim * inner + row % inner
                var dot: Float = 0
                for d in 0..<dim { dot += dy[base + d * inner] * y[base + d * inner] }
                for d in 0..<dim { dx[base + d * inner] += y[base + d * inner] * (dy[base + d * inner] - dot) }
            }
        case .matMul:
            backwardMatMul(i)
        case .gather(let axis, let indices, _):
            guard let dx = inputGrad(node, 0) else { return }
            let s = graph[node.inputs[0]].shape
            let outer = s[..<axis].reduce(1, *), inner = s[(axis + 1)...].reduce(1, *), dim = s[axis]
            var o = 0
            for row in 0..<outer {
                for index in indices {
                    TrainingKernels.accumulate(dy + o, into: dx + (row * dim + index) * inner, count: inner)
                    o += inner
                }
            }
        }
    }

    func backwardBinary(_ i: Int, _ kind: BinaryKind) {
        let node = graph.nodes[i]
        let dy = grad[i]!
        let a = value[node.inputs[0].index]!, b = value[node.inputs[1].index]!
        let da = inputGrad(node, 0), db = inputGrad(node, 1)
        if da == nil && db == nil { return }
        let shape = node.shape
        let sa = ShapeMath.broadcastStrides(graph[node.inputs[0]].shape, to: shape)
        let sb = ShapeMath.broadcastStrides(graph[node.inputs[1]].shape, to: shape)
        // Same shapes: flat loops. Otherwise walk the broadcast index (small tensors in practice: scales, grids).
        if graph[node.inputs[0]].shape == shape, graph[node.inputs[1]].shape == shape {
            TrainingKernels.binaryBackward(kind, a: a, b: b, dy: dy, da: da, db: db, count: node.elementCount)
            return
        }
        ReferenceOps.forEachIndex(shape) { flat, index in
            var ia = 0, ib = 0
            for axis in 0..<index.count { ia += index[axis] * sa[axis]; ib += index[axis] * sb[axis] }
            let g = dy[flat], x = a[ia], y = b[ib]
            switch kind {
            case .add: da?[ia] += g; db?[ib] += g
            case .sub: da?[ia] += g; db?[ib] -= g
            case .mul: da?[ia] += g * y; db?[ib] += g * x
            case .div: da?[ia] += g / y; db?[ib] -= g * x / (y * y)
            }
        }
    }

    func backwardMatMul(_ i: Int) {
        let node = graph.nodes[i]
        let dy = grad[i]!
        let sa = graph[node.inputs[0]].shape, sb = graph[node.inputs[1]].shape
        let a2 = sa.count == 1 ? [1] + sa : sa, b2 = sb.count == 1 ? sb + [1] : sb
        let (m, k, n) = (a2[a2.count - 2], a2[a2.count - 1], b2[b2.count - 1])
        let batch = ShapeMath.broadcast(Array(a2.dropLast(2)), Array(b2.dropLast(2))) ?? []
        let stridesA = ShapeMath.broadcastStrides(Array(a2.dropLast(2)), to: batch)
        let stridesB = ShapeMath.broadcastStrides(Array(b2.dropLast(2)), to: batch)
        let a = value[node.inputs[0].index]!, b = value[node.inputs[1].index]!
        let da = inputGrad(node, 0), db = inputGrad(node, 1)
        ReferenceOps.forEachIndex(batch) { flat, index in
            let offA = zip(index, stridesA).reduce(0) { $0 + $1.0 * $1.1 } * m * k
            let offB = zip(index, stridesB).reduce(0) { $0 + $1.0 * $1.1 } * k * n
            let offY = flat * m * n
            for r in 0..<m {
                for c in 0..<n {
                    let g = dy[offY + r * n + c]
                    for l in 0..<k {
                        da?[offA + r * k + l] += g * b[offB + l * n + c]
                        db?[offB + l * n + c] += g * a[offA + r * k + l]
                    }
                }
            }
        }
    }
}

/// Owns the raw buffers of a `GradientGraph` (zero-filled on allocation, freed together).
final class TrainingBuffers {
    private var owned: [UnsafeMutablePointer<Float>] = []
    private(set) var totalCount = 0

    /// Line-aligned, like the inference arena: the kernels read and write these in 64-byte vectors.
    func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = Program.allocateLineAligned(count)
        p.initialize(repeating: 0, count: max(count, 1))
        owned.append(p)
        totalCount += count
        return p
    }

    deinit { for p in owned { UnsafeMutableRawPointer(p).deallocate() } }
}
