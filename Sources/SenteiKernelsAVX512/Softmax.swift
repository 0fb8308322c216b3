// Softmax along one axis of an [outer, dim, inner] view, vectorised across the contiguous inner axis.

#if canImport(Glibc)
import Glibc
#endif

extension FloatKernels {
    /// y = softmax(x) along the middle axis of an [outer, dim, inner] tensor: for every (o, i),
    /// y[o, d, i] = e^(x[o, d, i] − m) / Σ_d' e^(x[o, d', i] − m) with m = max_d x[o, d, i].
    /// Vectorised across `inner` (contiguous), so YOLOv8's DFL softmax (dim 16 over 4·8400 columns) runs in whole
    /// vectors; columns past the last whole vector, and inner = 1, take the scalar form. y may alias x.
    public static func softmax(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, dim: Int, inner: Int, ith: Int, nth: Int
    ) {
        if outer <= 0 || dim <= 0 || inner <= 0 { return }
        let vw = vectorWidth
        let blocks = ceilDiv(inner, vw)
        let r = partRange(outer &* blocks, ith, nth)
        if r.lo >= r.hi { return }
        var o = r.lo / blocks, j = (r.lo % blocks) &* vw
        for _ in r.lo..<r.hi {
            let base = o &* dim &* inner &+ j
            if j &+ vw <= inner {
                softmaxColumns(x + base, y + base, dim: dim, stride: inner)
            } else {
                for i in 0..<(inner &- j) { softmaxScalar(x + (base &+ i), y + (base &+ i), dim: dim, stride: inner) }
            }
            j &+= vw
            if j >= inner { j = 0; o &+= 1 }
        }
    }
}

/// Softmax down `dim` rows `stride` floats apart, for vectorWidth adjacent columns at once.
@inline(__always) func softmaxColumns(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, dim: Int, stride: Int) {
    let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(y)
    let step = stride &* 4
    var m = src.loadUnaligned(fromByteOffset: 0, as: FVec.self)
    for d in 1..<dim { m = vmax(m, src.loadUnaligned(fromByteOffset: d &* step, as: FVec.self)) }
    var sum = FVec(repeating: 0)
    for d in 0..<dim {
        let e = vexp(src.loadUnaligned(fromByteOffset: d &* step, as: FVec.self) - m)
        dst.storeBytes(of: e, toByteOffset: d &* step, as: FVec.self)
        sum += e
    }
    let scale = FVec(repeating: 1) / sum
    for d in 0..<dim {
        let e = dst.loadUnaligned(fromByteOffset: d &* step, as: FVec.self)
        dst.storeBytes(of: e * scale, toByteOffset: d &* step, as: FVec.self)
    }
}

/// Softmax down `dim` values `stride` floats apart (one column).
@inline(__always) func softmaxScalar(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, dim: Int, stride: Int) {
    var m = x[0]
    for d in 1..<dim { m = max(m, x[d &* stride]) }
    var sum: Float = 0
    for d in 0..<dim {
        let e = expf(x[d &* stride] - m)
        y[d &* stride] = e
        sum += e
    }
    let scale = 1 / sum
    for d in 0..<dim { y[d &* stride] *= scale }
}
