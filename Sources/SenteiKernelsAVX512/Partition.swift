// How kernels split their own work between parts (ith of nth).
import CSenteiKernels

/// Part ith's half-open share [lo, hi) of `total` items, in nth near-equal contiguous ranges.
@inline(__always) func partRange(_ total: Int, _ ith: Int, _ nth: Int) -> (lo: Int, hi: Int) {
    let parts = max(nth, 1)
    let base = total / parts, extra = total % parts
    let lo = ith &* base &+ min(ith, extra)
    return (lo, lo &+ base &+ (ith < extra ? 1 : 0))
}

@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { (a &+ b &- 1) / b }

/// GEMM-shaped work is a grid of row panels × column strips. Splitting strips shares B and never duplicates
/// packing; splitting panels is what balances a small N (13×13=169 is only 4 strips) against a large M.
/// Returns the panel and strip ranges of part ith, choosing the split with the smaller largest share.
@inline(__always) func splitTiles(
    panels: Int, strips: Int, ith: Int, nth: Int
) -> (p0: Int, p1: Int, s0: Int, s1: Int) {
    if nth <= 1 { return (0, panels, 0, strips) }
    let byStrips = ceilDiv(strips, nth) &* panels
    let byPanels = ceilDiv(panels, nth) &* strips
    // Strips win unless they balance clearly worse: split by panels, every part reads all of B (each B strip is
    // loaded twice and reused half as often), and parts leave the pixels the layer before left in their caches.
    // Measured on YOLOX-Nano's 64×2704 maps: the 1×1 convs took 25% less time on two threads.
    if byStrips &* 4 <= byPanels &* 5 {
        let r = partRange(strips, ith, nth)
        return (0, panels, r.lo, r.hi)
    }
    let r = partRange(panels, ith, nth)
    return (r.lo, r.hi, 0, strips)
}

/// The calling thread's kernel scratch (CSenteiKernels `sk_thread_scratch`): allocated once per thread and grown
/// on demand, so kernels allocate nothing per call. A kernel holds it for its call only.
@inline(__always) func threadScratch(_ bytes: Int) -> UnsafeMutableRawPointer {
    guard let block = sk_thread_scratch(bytes) else { fatalError("out of memory: \(bytes) bytes of kernel scratch") }
    return block
}
