/// Builds the run-time step for each node: picks the kernel, packs weights once, and captures the pointers.
struct StepBuilder {
    unowned let program: Program
    let graph: Graph
    let kernels: KernelTable?
    let threads: Int

    func step(for index: Int) -> Program.Step? {
        let node = graph.nodes[index]
        switch node.op {
        case .input, .constant: return nil
        default: break
        }
        if program.plan.isView[index] { return nil }
        // A band-fused producer runs inside its reader's step.
        if case .bands = program.plan.locations[index] { return nil }
        if let fusion = program.fusions[index], let kernels { return bandFusedStep(fusion, kernels: kernels) }
        // A sibling pair's second conv, and a pool cascade's later pools, run inside the first's step.
        if program.siblingOf[index] != nil || program.cascadeOf[index] != nil { return nil }
        if let pair = program.siblings[index] { return siblingStep(pair) }
        if let cascade = program.cascades[index], let kernels { return poolCascadeStep(cascade, kernels: kernels) }
        if let int8 = int8ConvStep(index) { return int8 }
        guard let kernels else { return referenceStep(index) }
        let out = program.pointer(index)
        let inputs = node.inputs.map { UnsafePointer(program.pointer($0)) }
        let inShapes = node.inputs.map { graph[$0].shape }
        let count = node.elementCount

        switch node.op {
        case .input, .constant:
            return nil
        case .conv(let conv):
            return convStep(index, conv, kernels: kernels)
        case .channelAffine(let scale, let shift):
            let channels = inShapes[0].count > 1 ? inShapes[0][1] : 1
            let inner = inShapes[0].count > 2 ? inShapes[0][2...].reduce(1, *) : 1
            let outer = count / max(channels * inner, 1)
            let s = program.copyOwned(scale), t = program.copyOwned(shift)
            let x = inputs[0]
            return Program.Step(node: index, parallel: count > 4096) { ith, nth in
                let (r0, r1) = StridedKernels.partition(outer * channels, ith, nth)
                for row in r0..<r1 {
                    let c = row % channels
                    let (a, b) = (s[c], t[c])
                    for j in 0..<inner { out[row * inner + j] = x[row * inner + j] * a + b }
                }
            }
        case .unary(let kind):
            let x = inputs[0]
            return Program.Step(node: index, parallel: count > 4096) { ith, nth in
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
            let (a, b) = (inputs[0], inputs[1])
            if inShapes[0] == node.shape, inShapes[1] == node.shape {
                return Program.Step(node: index, parallel: count > 4096) { ith, nth in
                    switch kind {
                    case .add: kernels.add(a, b, out, count, ith, nth)
                    case .sub: kernels.sub(a, b, out, count, ith, nth)
                    case .mul: kernels.mul(a, b, out, count, ith, nth)
                    case .div: kernels.div(a, b, out, count, ith, nth)
                    }
                }
            }
            let shape = node.shape
            let sa = ShapeMath.broadcastStrides(inShapes[0], to: shape), sb = ShapeMath.broadcastStrides(inShapes[1], to: shape)
            return Program.Step(node: index, parallel: count > 4096) { ith, nth in
                StridedKernels.binary(kind, a: a, aStrides: sa, b: b, bStrides: sb, shape: shape, out: out, ith: ith, nth: nth)
            }
        case .concat(let axis):
            let outer = node.shape[..<axis].reduce(1, *)
            let total = node.shape[axis...].reduce(1, *)
            let inPlace = program.plan.concatInputInPlace[index] ?? [Bool](repeating: false, count: inputs.count)
            var copies: [(src: UnsafePointer<Float>, offset: Int, block: Int)] = []
            var offset = 0
            for (slot, shape) in inShapes.enumerated() {
                let block = shape[axis...].reduce(1, *)
                if !inPlace[slot] { copies.append((inputs[slot], offset, block)) }
                offset += block
            }
            if copies.isEmpty { return nil }
            let rows = outer * copies.count
            return Program.Step(node: index, parallel: count > 16384) { ith, nth in
                let (r0, r1) = StridedKernels.partition(rows, ith, nth)
                for row in r0..<r1 {
                    let (o, copy) = (row / copies.count, copies[row % copies.count])
                    (out + o * total + copy.offset).update(from: copy.src + o * copy.block, count: copy.block)
                }
            }
        case .slice(let starts, let steps):
            let inStrides = ShapeMath.strides(inShapes[0])
            let base = zip(starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let strides = zip(inStrides, steps).map { $0 * $1 }
            return copyStep(index, src: inputs[0], base: base, strides: strides, shape: node.shape, out: out)
        case .reshape:
            return copyStep(index, src: inputs[0], base: 0, strides: ShapeMath.strides(node.shape), shape: node.shape, out: out)
        case .transpose(let perm):
            let inStrides = ShapeMath.strides(inShapes[0])
            return copyStep(index, src: inputs[0], base: 0, strides: perm.map { inStrides[$0] }, shape: node.shape, out: out)
        case .maxPool(let pool):
            guard pool.dilation == (1, 1), inShapes[0][0] == 1 else { return referenceStep(index) }
            let (c, h, w) = (inShapes[0][1], inShapes[0][2], inShapes[0][3])
            let x = inputs[0], (oh, ow) = (node.shape[2], node.shape[3])
            // ceil_mode outputs are expressed to the kernel as extra end padding (never read: windows are clipped).
            let padB = max(pool.pads.b, (oh - 1) * pool.stride.h + pool.kernel.h - h - pool.pads.t)
            let padR = max(pool.pads.r, (ow - 1) * pool.stride.w + pool.kernel.w - w - pool.pads.l)
            return Program.Step(node: index, parallel: true) { ith, nth in
                kernels.maxPool2d(x, h * w, c, h, w, pool.kernel.h, pool.kernel.w,
                                  pool.stride.h, pool.stride.w, pool.pads.t, pool.pads.l,
                                  padB, padR, out, oh * ow, ith, nth)
            }
        case .resizeNearest(let sourceIndex):
            let s = inShapes[0]
            if s.count == 4, s[0] == 1, node.shape[1] == s[1], let sh = integerScale(sourceIndex[2]), let sw = integerScale(sourceIndex[3]) {
                let x = inputs[0], outPlane = node.shape[2] * node.shape[3]
                return Program.Step(node: index, parallel: true) { ith, nth in
                    kernels.resizeNearest(x, s[2] * s[3], s[1], s[2], s[3],
                                          sh, sw, out, outPlane, ith, nth)
                }
            }
            return referenceStep(index)
        case .softmax(let axis):
            let shape = node.shape
            let outer = shape[..<axis].reduce(1, *), dim = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
            let x = inputs[0]
            return Program.Step(node: index, parallel: count > 4096) { ith, nth in
                kernels.softmax(x, out, outer, dim, inner, ith, nth)
            }
        case .matMul:
            let (sa, sb) = (inShapes[0], inShapes[1])
            let a2 = sa.count == 1 ? [1] + sa : sa, b2 = sb.count == 1 ? sb + [1] : sb
            let (m, k, n) = (a2[a2.count - 2], a2[a2.count - 1], b2[b2.count - 1])
            let batchA = Array(a2.dropLast(2)), batchB = Array(b2.dropLast(2))
            let batch = ShapeMath.broadcast(batchA, batchB) ?? []
            let stridesA = ShapeMath.broadcastStrides(batchA, to: batch), stridesB = ShapeMath.broadcastStrides(batchB, to: batch)
            var offsetsA: [Int] = [], offsetsB: [Int] = []
            ReferenceOps.forEachIndex(batch) { _, i in
                offsetsA.append(zip(i, stridesA).reduce(0) { $0 + $1.0 * $1.1 } * m * k)
                offsetsB.append(zip(i, stridesB).reduce(0) { $0 + $1.0 * $1.1 } * k * n)
            }
            let (a, b) = (inputs[0], inputs[1])
            return Program.Step(node: index, parallel: count * k > 65536) { ith, nth in
                StridedKernels.matMul(a: a, b: b, out: out, aOffsets: offsetsA, bOffsets: offsetsB, m: m, k: k, n: n, ith: ith, nth: nth)
            }
        case .gather(let axis, let indices, _):
            let s = inShapes[0]
            let outer = s[..<axis].reduce(1, *), inner = s[(axis + 1)...].reduce(1, *), dim = s[axis]
            let x = inputs[0]
            return Program.Step(node: index, parallel: false) { _, _ in
                var o = out
                for row in 0..<outer {
                    for i in indices {
                        o.update(from: x + (row * dim + i) * inner, count: inner)
                        o += inner
                    }
                }
            }
        }
    }

    /// A resize map that is out[i] = in[i / s] for an integer s.
    func integerScale(_ map: [Int]) -> Int? {
        guard let last = map.last, last + 1 > 0, map.count % (last + 1) == 0 else { return nil }
        let s = map.count / (last + 1)
        return map.indices.allSatisfy { map[$0] == $0 / s } ? s : nil
    }

    func copyStep(_ index: Int, src: UnsafePointer<Float>, base: Int, strides: [Int], shape: [Int], out: UnsafeMutablePointer<Float>) -> Program.Step {
        Program.Step(node: index, parallel: shape.reduce(1, *) > 16384) { ith, nth in
            StridedKernels.copy(src: src, base: base, strides: strides, shape: shape, dst: out, ith: ith, nth: nth)
        }
    }

    func convStep(_ index: Int, _ conv: Conv, kernels: KernelTable) -> Program.Step {
        let node = graph.nodes[index]
        let inShape = graph[node.inputs[0]].shape
        let (cin, h, w) = (inShape[1], inShape[2], inShape[3])
        let (cout, oh, ow) = (node.shape[1], node.shape[2], node.shape[3])
        let x = UnsafePointer(program.pointer(node.inputs[0]))
        let out = program.pointer(index)
        let act = activationCode(conv)
        let (kh, kw) = conv.kernel
        // The steps capture these, never `conv`: it holds the unpacked weights, which would then live as long as the
        // program next to their packed copy (peak RSS: YOLOX-Nano 2.2 MB, YOLOv8n@640 12 MB).
        let (stride, pads, dilation) = (conv.stride, conv.pads, conv.dilation)
        if conv.isDepthwise {
            let bias = ownedBias(conv)
            let weights = UnsafePointer(program.copyOwned(conv.weights))
            return Program.Step(node: index, parallel: true) { ith, nth in
                kernels.depthwiseConv2d(x, h * w, cin, h, w, weights, kh, kw,
                                        stride.h, stride.w, pads.t, pads.l,
                                        pads.b, pads.r, dilation.h, dilation.w,
                                        out, oh * ow, bias, act, ith, nth)
            }
        }
        if WinogradConv.applies(conv, inputShape: inShape, outputShape: node.shape) {
            let bias = ownedBias(conv)
            let residual: UnsafePointer<Float>? = conv.hasResidual ? UnsafePointer(program.pointer(node.inputs[1])) : nil
            let packed = program.allocateOwned(kernels.winogradPackedWeightCount(cout, cin))
            conv.weights.withUnsafeBufferPointer {
                kernels.packWinogradWeights($0.baseAddress!, cout: cout, cin: cin, into: packed)
            }
            let scratchCount = kernels.winogradScratchCount(cin, cout)
            let scratch = program.convScratch(partCount: scratchCount, parts: threads)
            let (threads, partStride) = (self.threads, program.convScratchPerPart)
            return Program.Step(node: index, parallel: true) { ith, nth, slot in
                kernels.conv3x3Winograd(x, h * w, cin, h, w, packed, cout, pads.t, pads.l, pads.b,
                                        pads.r, out, oh * ow, bias, residual, oh * ow, act,
                                        scratch + (slot % threads) * partStride, ith, nth)
            }
        }
        let run = directConv(index, conv, kernels: kernels)
        let full = ConvRows(inputRow: 0, rows: h, padTop: pads.t, padBottom: pads.b, output: out, outputChannelStride: oh * ow)
        return Program.Step(node: index, parallel: true) { ith, nth, slot in run(full, ith, nth, slot) }
    }

    /// Which input rows a direct conv call reads and where it writes: the whole map, or a band of output rows
    /// (`BandFusion`): input rows inputRow ..< inputRow + rows with the given padding above and below.
    struct ConvRows {
        var inputRow: Int, rows: Int, padTop: Int, padBottom: Int
        var output: UnsafeMutablePointer<Float>, outputChannelStride: Int
    }

    /// A conv on the direct (im2col-strip or 1×1 GEMM) kernel: packs the weights once, returns the call that runs
    /// part ith of nth of the given rows with a scratch slot.
    func directConv(_ index: Int, _ conv: Conv, kernels: KernelTable) -> (ConvRows, Int, Int, Int) -> Void {
        let node = graph.nodes[index]
        let inShape = graph[node.inputs[0]].shape
        let (cin, h, w) = (inShape[1], inShape[2], inShape[3])
        let cout = node.shape[1]
        let x = UnsafePointer(program.pointer(node.inputs[0]))
        let bias = ownedBias(conv)
        let residual: UnsafePointer<Float>? = conv.hasResidual ? UnsafePointer(program.pointer(node.inputs[1])) : nil
        let act = activationCode(conv)
        let (kh, kw) = conv.kernel
        let (stride, pads, dilation) = (conv.stride, conv.pads, conv.dilation)
        let residualStride = node.shape[2] * node.shape[3]
        // Groups (1 for dense convs) run one after another, each a full conv over its channel slice.
        let groups = conv.group
        let cinG = cin / groups, coutG = cout / groups
        let k = cinG * kh * kw
        let packedCount = kernels.packedWeightCount(coutG, k)
        let packed = program.allocateOwned(packedCount * groups)
        conv.weights.withUnsafeBufferPointer { weights in
            for g in 0..<groups {
                kernels.packWeights(weights.baseAddress! + g * coutG * k, coutG, k, packed + g * packedCount)
            }
        }
        // One scratch area serves every conv; each part (or lane, `Step.slotted`) owns a slice of the largest conv's size.
        let scratchCount = kernels.conv2dScratchCount(cinG, kh, kw)
        let scratch = program.convScratch(partCount: scratchCount, parts: threads)
        let (threads, partStride) = (self.threads, program.convScratchPerPart)
        return { rows, ith, nth, slot in
            let input = x + rows.inputRow * w
            for g in 0..<groups {
                kernels.conv2d(input + g * cinG * h * w, h * w, cinG, rows.rows, w,
                               packed + g * packedCount, coutG, kh, kw,
                               stride.h, stride.w, rows.padTop, pads.l,
                               rows.padBottom, pads.r, dilation.h, dilation.w,
                               rows.output + g * coutG * rows.outputChannelStride, rows.outputChannelStride,
                               bias.map { $0 + g * coutG }, residual.map { $0 + g * coutG * residualStride },
                               residualStride, act,
                               scratch + (slot % threads) * partStride, ith, nth)
            }
        }
    }

    /// The program's own copy of a conv's bias, if it has one (steps must not capture the conv: see `convStep`).
    func ownedBias(_ conv: Conv) -> UnsafePointer<Float>? {
        conv.bias.map { UnsafePointer(program.copyOwned($0)) }
    }

    /// The activation code a conv's kernel takes. The fp32 layers of an int8 model take the int8 layers' SiLU
    /// (code 4): 1e-4 relative, a third cheaper, and their outputs are rounded to 1/255 of a range by the int8 layers
    /// after them anyway. Otherwise the kernel table's own code (a divide form where that is faster).
    func activationCode(_ conv: Conv) -> Int {
        if program.int8 != nil && conv.activation == .silu { return Activation.int8SiLUCode }
        return kernels?.activationCode(conv.activation) ?? conv.activation.rawValue
    }

    /// The scalar reference for any node: slow, allocating, single-threaded. Used wholesale in reference mode
    /// and for rare op variants (dilated pooling, non-integer nearest resize).
    func referenceStep(_ index: Int) -> Program.Step {
        let node = graph.nodes[index]
        let inputs = node.inputs.map { (pointer: UnsafePointer(program.pointer($0)), count: graph[$0].elementCount) }
        let shapes = node.inputs.map { graph[$0].shape }
        let out = program.pointer(index)
        return Program.Step(node: index, parallel: false) { _, _ in
            let values = inputs.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) }
            let result = ReferenceOps.evaluate(node, inputs: values, shapes: shapes)
            result.withUnsafeBufferPointer { if let base = $0.baseAddress { out.update(from: base, count: result.count) } }
        }
    }
}
