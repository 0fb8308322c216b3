import CSenteiKernels

/// Geometry of one conv node, and its packed weights for the forward GEMM (W, M=Cout/group) and the input-gradient
/// GEMM (Wᵀ, M=K), repacked whenever the parameters change.
final class ConvPlan {
    let cin, h, w, cout, oh, ow: Int
    let conv: Conv
    let groups, cinG, coutG, k, n: Int
    let depthwise: Bool
    /// 1×1, stride 1, no padding: the input itself is the GEMM operand (no im2col / col2im).
    let pointwise: Bool
    let packedCount, packedTransposedCount: Int
    var packed: UnsafeMutablePointer<Float>?
    var packedTransposed: UnsafeMutablePointer<Float>?

    init(_ conv: Conv, input: [Int], output: [Int], kernels: KernelTable) {
        self.conv = conv
        (cin, h, w) = (input[1], input[2], input[3])
        (cout, oh, ow) = (output[1], output[2], output[3])
        groups = conv.group
        cinG = cin / groups
        coutG = cout / groups
        k = cinG * conv.kernel.h * conv.kernel.w
        n = oh * ow
        depthwise = conv.isDepthwise
        pointwise = conv.kernel == (1, 1) && conv.stride == (1, 1) && conv.pads == (0, 0, 0, 0) && conv.dilation == (1, 1)
        packedCount = depthwise ? 0 : kernels.packedWeightCount(coutG, k)
        packedTransposedCount = depthwise ? 0 : kernels.packedWeightCount(k, coutG)
    }
}

/// Scratch shared by all convs (one conv runs at a time), sized for the largest. A forward-only graph gets none of
/// the backward buffers.
final class ConvScratch {
    let forwardPerPart: Int
    let forward: UnsafeMutablePointer<Float>
    /// dZ = dY ⊙ act′(Z), and σ(Z) while computing it.
    let dz: UnsafeMutablePointer<Float>
    let sigmoid: UnsafeMutablePointer<Float>
    /// dZ of one group packed as the A operand of dW = dZ·colᵀ.
    let packedDZ: UnsafeMutablePointer<Float>
    /// colᵀ: N × K, row n = the K input values output pixel n reads.
    let colT: UnsafeMutablePointer<Float>
    /// Wᵀ·dZ before col2im, K × N.
    let dcol: UnsafeMutablePointer<Float>
    /// One group's Wᵀ before packing.
    let transposed: UnsafeMutablePointer<Float>

    init<S: Sequence>(plans: S, kernels: KernelTable, threads: Int, forwardOnly: Bool, buffers: TrainingBuffers)
    where S.Element == ConvPlan {
        var fwd = 0, dzCount = 0, packedDZCount = 0, colCount = 0, dcolCount = 0, wt = 0
        for p in plans {
            if forwardOnly {
                if !p.depthwise { fwd = max(fwd, kernels.conv2dScratchCount(p.cinG, p.conv.kernel.h, p.conv.kernel.w)) }
                continue
            }
            dzCount = max(dzCount, p.cout * p.n)
            if p.depthwise { continue }
            fwd = max(fwd, kernels.conv2dScratchCount(p.cinG, p.conv.kernel.h, p.conv.kernel.w))
            packedDZCount = max(packedDZCount, kernels.packedWeightCount(p.coutG, p.n))
            colCount = max(colCount, p.n * p.k)
            if !p.pointwise { dcolCount = max(dcolCount, p.n * p.k) }
            wt = max(wt, p.k * p.coutG)
        }
        forwardPerPart = fwd
        forward = buffers.allocate(fwd * threads)
        dz = buffers.allocate(dzCount)
        sigmoid = buffers.allocate(dzCount)
        packedDZ = buffers.allocate(packedDZCount)
        colT = buffers.allocate(colCount)
        dcol = buffers.allocate(dcolCount)
        transposed = buffers.allocate(wt)
    }
}

extension GradientGraph {
    func refreshPackedWeights() {
        guard packedVersion != weightsVersion else { return }
        packedVersion = weightsVersion
        for (i, plan) in convPlans where !plan.depthwise {
            if plan.packed == nil {
                plan.packed = buffers.allocate(plan.packedCount * plan.groups)
                if !options.forwardOnly { plan.packedTransposed = buffers.allocate(plan.packedTransposedCount * plan.groups) }
            }
            let e = parameters.entry(node: i, role: .weight)!
            // A fake-quantized conv multiplies by its weights as int8 inference will see them.
            let quantized = fakeQuant[i] == nil ? nil : parameters.values.withUnsafeBufferPointer {
                FakeQuantLayer.dequantizedWeights(UnsafeBufferPointer(rebasing: $0[e.offset..<(e.offset + e.count)]), rows: plan.cout)
            }
            (quantized ?? parameters.values).withUnsafeBufferPointer { p in
                let weights = p.baseAddress! + (quantized == nil ? e.offset : 0)
                for g in 0..<plan.groups {
                    let wg = weights + g * plan.coutG * plan.k
                    kernels.packWeights(wg, plan.coutG, plan.k, plan.packed! + g * plan.packedCount)
                    guard let packedTransposed = plan.packedTransposed else { continue }
                    TrainingKernels.transpose(wg, rows: plan.coutG, columns: plan.k, into: scratch.transposed)
                    kernels.packWeights(scratch.transposed, plan.k, plan.coutG, packedTransposed + g * plan.packedTransposedCount)
                }
            }
        }
        if !fakeQuant.isEmpty { parameters.values.withUnsafeBufferPointer { refreshFakeQuantBias($0) } }
    }

    func forwardConv(_ i: Int, _ conv: Conv) {
        let node = graph.nodes[i]
        let plan = convPlans[i]!
        let fakeQuantized = fakeQuant[i]
        let x = fakeQuantized.map { fakeQuantizedInput(i, $0) } ?? UnsafePointer(value[node.inputs[0].index]!)
        let y = value[i]!
        let z = preActivation[i] ?? y
        let weightEntry = parameters.entry(node: i, role: .weight)!
        let biasEntry = parameters.entry(node: i, role: .bias)
        let (kh, kw) = conv.kernel
        let n = plan.n, hw = plan.h * plan.w
        parameters.values.withUnsafeBufferPointer { p in
            let bias = fakeQuantBias[i].map { UnsafePointer($0) } ?? biasEntry.map { p.baseAddress! + $0.offset }
            if plan.depthwise {
                let weights = p.baseAddress! + weightEntry.offset
                parallel(plan.cout * n * kh * kw) { ith, nth in
                    kernels.depthwiseConv2d(x, hw, plan.cin, plan.h, plan.w, weights, kh, kw, conv.stride.h, conv.stride.w,
                                            conv.pads.t, conv.pads.l, conv.pads.b, conv.pads.r, conv.dilation.h, conv.dilation.w,
                                            z, n, bias, 0, ith, nth)
                }
            } else {
                let perPart = scratch.forwardPerPart, threads = pool.threads
                parallel(plan.cout * n * plan.k) { ith, nth in
                    for g in 0..<plan.groups {
                        kernels.conv2d(x + g * plan.cinG * hw, hw, plan.cinG, plan.h, plan.w,
                                       plan.packed! + g * plan.packedCount, plan.coutG, kh, kw,
                                       conv.stride.h, conv.stride.w, conv.pads.t, conv.pads.l, conv.pads.b, conv.pads.r,
                                       conv.dilation.h, conv.dilation.w, z + g * plan.coutG * n, n,
                                       bias.map { $0 + g * plan.coutG }, nil, 0, 0,
                                       scratch.forward + (ith % threads) * perPart, ith, nth)
                    }
                }
            }
        }
        let count = node.elementCount
        if conv.activation != .none {
            let zc = UnsafePointer(z)
            // With a quantization table every conv applies the int8 kernels' own SiLU, as the engine does for the
            // int8 layers and the fp32 layers between them (code 4), so training sees the function inference runs
            // on this machine (the gradient stays the exact SiLU's: the two differ by < 1e-4 relative).
            let int8SiLU = options.quantization != nil && conv.activation == .silu
            // sk_i8_silu's form per int8 kernel set; an fp32 conv's code-4 SiLU is the form of its own ISA's number
            // (the AVX-512 module computes the VNNI form, also on a CPU whose int8 kernels are AVX2).
            let int8ISA = fakeQuantized != nil ? Int8ISA(kernels.isa).rawValue : Int32(kernels.isa.rawValue)
            parallel(count) { ith, nth in
                switch conv.activation {
                case .none: break
                case .relu: kernels.relu(zc, y, count, ith, nth)
                case .sigmoid: kernels.sigmoid(zc, y, count, ith, nth)
                case .silu where int8SiLU:
                    let (lo, hi) = StridedKernels.partition(count, ith, nth)
                    if lo < hi { sk_i8_silu(int8ISA, zc + lo, y + lo, hi - lo) }
                case .silu: kernels.silu(zc, y, count, ith, nth)
                }
            }
        }
        if conv.hasResidual {
            let r = UnsafePointer(value[node.inputs[1].index]!), yc = UnsafePointer(y)
            parallel(count) { ith, nth in kernels.add(yc, r, y, count, ith, nth) }
        }
    }

    func backwardConv(_ i: Int, _ conv: Conv) {
        let node = graph.nodes[i]
        let plan = convPlans[i]!
        let dy = grad[i]!
        let count = node.elementCount
        if conv.hasResidual, let dr = inputGrad(node, 1) { TrainingKernels.accumulate(dy, into: dr, count: count) }
        // dZ = dY ⊙ act′(Z)
        var dz = UnsafePointer(dy)
        if conv.activation != .none {
            let z = UnsafePointer(preActivation[i]!)
            let s = scratch.sigmoid, out = scratch.dz
            parallel(count) { ith, nth in
                let (lo, hi) = StridedKernels.partition(count, ith, nth)
                guard lo < hi else { return }
                if conv.activation != .relu { kernels.sigmoid(z + lo, s + lo, hi - lo, 0, 1) }
                TrainingKernels.activationBackward(conv.activation, z: z + lo, sigmoid: s + lo, dy: dy + lo, dz: out + lo, count: hi - lo)
            }
            dz = UnsafePointer(out)
        }
        // A fake-quantized conv: dW against the quantized input; its input gradient goes to scratch first, then
        // through the clip mask (straight-through estimator).
        let fakeQuantized = fakeQuant[i]
        let x = fakeQuantized.map { fakeQuantizedInput(i, $0) } ?? UnsafePointer(value[node.inputs[0].index]!)
        let inputCount = graph[node.inputs[0]].elementCount
        let dxFinal = inputGrad(node, 0)
        var dx = dxFinal
        if fakeQuantized != nil, dxFinal != nil {
            dx = fakeQuantGradient!
            dx!.update(repeating: 0, count: inputCount)
        }
        let weightEntry = parameters.entry(node: i, role: .weight)!
        let biasEntry = parameters.entry(node: i, role: .bias)
        let n = plan.n, hw = plan.h * plan.w
        parameters.values.withUnsafeBufferPointer { p in
            gradients.withUnsafeMutableBufferPointer { gp in
                let gw = gp.baseAddress! + weightEntry.offset
                if let biasEntry {
                    let gb = gp.baseAddress! + biasEntry.offset
                    for co in 0..<plan.cout { gb[co] += TrainingKernels.sum(dz + co * n, count: n) }
                }
                if plan.depthwise {
                    let weights = p.baseAddress! + weightEntry.offset
                    parallel(count * conv.kernel.h * conv.kernel.w) { ith, nth in
                        let (c0, c1) = StridedKernels.partition(plan.cout, ith, nth)
                        for c in c0..<c1 {
                            TrainingKernels.depthwiseBackward(plan, channel: c, x: x + c * hw, dz: dz + c * n,
                                                              weights: weights + c * conv.kernel.h * conv.kernel.w,
                                                              dw: gw + c * conv.kernel.h * conv.kernel.w, dx: dx.map { $0 + c * hw })
                        }
                    }
                    return
                }
                for g in 0..<plan.groups {
                    let dzg = dz + g * plan.coutG * n
                    let xg = x + g * plan.cinG * hw
                    let gwg = gw + g * plan.coutG * plan.k
                    // dW += dZ · colᵀ  (M = Cout/group, reduction over output pixels)
                    kernels.packWeights(dzg, plan.coutG, n, scratch.packedDZ)
                    let colT = scratch.colT
                    parallel(n * plan.k) { ith, nth in
                        let (lo, hi) = StridedKernels.partition(n, ith, nth)
                        if plan.pointwise {
                            TrainingKernels.transposeRows(xg, rows: plan.cinG, columns: n, columnRange: lo..<hi, into: colT)
                        } else {
                            TrainingKernels.buildColumnsTransposed(plan, x: xg, pixels: lo..<hi, into: colT)
                        }
                    }
                    let packedDZ = UnsafePointer(scratch.packedDZ)
                    parallel(plan.coutG * plan.k * n) { ith, nth in
                        kernels.gemm(plan.coutG, plan.k, n, packedDZ, colT, plan.k, gwg, plan.k, nil, gwg, plan.k, 0, ith, nth)
                    }
                    // dX += col2im(Wᵀ · dZ)
                    guard let dx else { continue }
                    let dxg = dx + g * plan.cinG * hw
                    let packedWT = UnsafePointer(plan.packedTransposed! + g * plan.packedTransposedCount)
                    if plan.pointwise {
                        parallel(plan.coutG * plan.k * n) { ith, nth in
                            kernels.gemm(plan.k, n, plan.coutG, packedWT, dzg, n, dxg, n, nil, dxg, n, 0, ith, nth)
                        }
                    } else {
                        let dcol = scratch.dcol
                        parallel(plan.coutG * plan.k * n) { ith, nth in
                            kernels.gemm(plan.k, n, plan.coutG, packedWT, dzg, n, dcol, n, nil, nil, 0, 0, ith, nth)
                        }
                        parallel(plan.k * n) { ith, nth in
                            let (c0, c1) = StridedKernels.partition(plan.cinG, ith, nth)
                            TrainingKernels.col2imAdd(plan, dcol: dcol, channels: c0..<c1, into: dxg)
                        }
                    }
                }
            }
        }
        if let fakeQuantized, let dxFinal, let local = dx {
            let raw = UnsafePointer(value[node.inputs[0].index]!), g = UnsafePointer(local)
            parallel(inputCount) { ith, nth in
                let (lo, hi) = StridedKernels.partition(inputCount, ith, nth)
                fakeQuantized.accumulateInsideRange(g, x: raw, into: dxFinal, lo, hi)
            }
        }
    }
}
