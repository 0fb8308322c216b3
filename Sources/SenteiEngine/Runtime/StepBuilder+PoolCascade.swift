import CSenteiKernels

extension StepBuilder {
    /// One step for a pool chain (`PoolCascade`): each part takes a run of channels through every pool in turn, the
    /// first from the chain's input, each later one from the pool before it (still in the core's cache). With AVX-512,
    /// planes up to 64×64 go through `sk_maxpool_same_f32` (a plane at a time; YOLOX's SPP 0.145 → 0.051 ms on one
    /// thread), the rest through the kernel table's pool.
    func poolCascadeStep(_ cascade: PoolCascade, kernels: KernelTable) -> Program.Step {
        let first = graph.nodes[cascade.pools[0]]
        let (c, h, w) = (first.shape[1], first.shape[2], first.shape[3])
        let plane = h * w
        let x = UnsafePointer(program.pointer(first.inputs[0]))
        let outputs = cascade.pools.map { program.pointer($0) }
        let (k, pad) = (cascade.kernel, cascade.kernel / 2)
        let isa = Int32(kernels.isa.rawValue)
        // Its scalar form (other ISAs) is slower than the kernel table's vector pool.
        let whole = kernels.isa == .avx512
        return Program.Step(node: cascade.pools[0], parallel: true) { ith, nth in
            let (c0, c1) = StridedKernels.partition(c, ith, nth)
            guard c0 < c1 else { return }
            var source = x + c0 * plane
            for out in outputs {
                if !whole || sk_maxpool_same_f32(source, plane, out + c0 * plane, plane, c1 - c0, Int32(h), Int32(w), Int32(k), isa) == 0 {
                    kernels.maxPool2d(source, plane, c1 - c0, h, w, k, k, 1, 1, pad, pad, pad, pad, out + c0 * plane, plane, 0, 1)
                }
                source = UnsafePointer(out + c0 * plane)
            }
        }
    }
}
