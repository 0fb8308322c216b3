// Vector exp/sigmoid and the GEMM epilogue. Concrete, @inline(__always) code only: a non-inlined generic
// specialization here would be a weak symbol that the linker may share with another ISA module (engine-notes §2).

/// Activation codes shared by every kernel: 0 none, 1 relu, 2 sigmoid, 3 silu (x·sigmoid(x)).
enum ActivationCode {
    static let none = 0
    static let relu = 1
    static let sigmoid = 2
    static let silu = 3
}

/// e^x, Cephes-style: x = n·ln2 + r, |r| ≤ ln2/2, degree-5 polynomial for e^r, 2^n built in the exponent bits.
/// Inputs are clamped so that 2^n stays a normal float: no inf or NaN comes out for any finite input
/// (e^x saturates at about 2.4e38 above x≈88.4 and at about 1.2e-38 below x≈-87.3).
@inline(__always) func vexp(_ input: FVec) -> FVec {
    // min/max rather than masked selects: those legalise into 128-bit pieces.
    let x = pointwiseMax(pointwiseMin(input, FVec(repeating: 88.37)), FVec(repeating: -87.33))
    // Adding 1.5·2^23 rounds x·log2(e) to the nearest integer and leaves that integer in the low mantissa bits.
    let magic = FVec(repeating: 12_582_912.0)
    let shifted = vfma(x, FVec(repeating: 1.442_695_04), magic)
    let n = shifted - magic
    var r = vfma(n, FVec(repeating: -0.693_359_375), x)  // ln2 split in two for an exact reduction
    r = vfma(n, FVec(repeating: 2.121_944_4e-4), r)
    var p = FVec(repeating: 1.987_569_15e-4)
    p = vfma(p, r, FVec(repeating: 1.398_199_95e-3))
    p = vfma(p, r, FVec(repeating: 8.333_451_9e-3))
    p = vfma(p, r, FVec(repeating: 4.166_579_59e-2))
    p = vfma(p, r, FVec(repeating: 1.666_666_55e-1))
    p = vfma(p, r, FVec(repeating: 5.000_000_12e-1))
    let r2 = r * r
    let er = vfma(p, r2, r) + 1
    let bits = unsafeBitCast(shifted, to: IVec.self) &- IVec(repeating: 0x4B40_0000) &+ IVec(repeating: 127)
    // A multiply, not `&<< 23`: Swift's masked SIMD shift is split into 128-bit pieces by the backend.
    let scale = unsafeBitCast(bits &* IVec(repeating: 1 << 23), to: FVec.self)
    return er * scale
}

/// Three independent `vexp`s with their steps interleaved: one exp is a chain of ~10 dependent FMAs and a divide
/// follows it, so a lone exp is latency-bound; three in flight keep both FMA pipes busy.
@inline(__always) func vexp3(_ i0: FVec, _ i1: FVec, _ i2: FVec) -> (FVec, FVec, FVec) {
    let hi = FVec(repeating: 88.37), lo = FVec(repeating: -87.33)
    let x0 = pointwiseMax(pointwiseMin(i0, hi), lo), x1 = pointwiseMax(pointwiseMin(i1, hi), lo)
    let x2 = pointwiseMax(pointwiseMin(i2, hi), lo)
    let magic = FVec(repeating: 12_582_912.0), log2e = FVec(repeating: 1.442_695_04)
    let s0 = vfma(x0, log2e, magic), s1 = vfma(x1, log2e, magic), s2 = vfma(x2, log2e, magic)
    let n0 = s0 - magic, n1 = s1 - magic, n2 = s2 - magic
    let c1 = FVec(repeating: -0.693_359_375), c2 = FVec(repeating: 2.121_944_4e-4)
    var r0 = vfma(n0, c1, x0), r1 = vfma(n1, c1, x1), r2 = vfma(n2, c1, x2)
    r0 = vfma(n0, c2, r0); r1 = vfma(n1, c2, r1); r2 = vfma(n2, c2, r2)
    let k0 = FVec(repeating: 1.987_569_15e-4), k1 = FVec(repeating: 1.398_199_95e-3)
    let k2 = FVec(repeating: 8.333_451_9e-3), k3 = FVec(repeating: 4.166_579_59e-2)
    let k4 = FVec(repeating: 1.666_666_55e-1), k5 = FVec(repeating: 5.000_000_12e-1)
    var p0 = vfma(k0, r0, k1), p1 = vfma(k0, r1, k1), p2 = vfma(k0, r2, k1)
    p0 = vfma(p0, r0, k2); p1 = vfma(p1, r1, k2); p2 = vfma(p2, r2, k2)
    p0 = vfma(p0, r0, k3); p1 = vfma(p1, r1, k3); p2 = vfma(p2, r2, k3)
    p0 = vfma(p0, r0, k4); p1 = vfma(p1, r1, k4); p2 = vfma(p2, r2, k4)
    p0 = vfma(p0, r0, k5); p1 = vfma(p1, r1, k5); p2 = vfma(p2, r2, k5)
    let e0 = vfma(p0, r0 * r0, r0) + 1, e1 = vfma(p1, r1 * r1, r1) + 1, e2 = vfma(p2, r2 * r2, r2) + 1
    let bias = IVec(repeating: 0x4B40_0000 - 127), shift = IVec(repeating: 1 << 23)
    let b0 = (unsafeBitCast(s0, to: IVec.self) &- bias) &* shift
    let b1 = (unsafeBitCast(s1, to: IVec.self) &- bias) &* shift
    let b2 = (unsafeBitCast(s2, to: IVec.self) &- bias) &* shift
    return (e0 * unsafeBitCast(b0, to: FVec.self), e1 * unsafeBitCast(b1, to: FVec.self),
            e2 * unsafeBitCast(b2, to: FVec.self))
}

/// `activate` on three vectors at once (see `vexp3`).
@inline(__always) func activate3(_ v0: FVec, _ v1: FVec, _ v2: FVec, _ activation: Int) -> (FVec, FVec, FVec) {
    switch activation {
    case ActivationCode.relu: return (vrelu(v0), vrelu(v1), vrelu(v2))
    case ActivationCode.sigmoid, ActivationCode.silu:
        let (e0, e1, e2) = vexp3(-v0, -v1, -v2)
        let one = FVec(repeating: 1)
        let g0 = one / (one + e0), g1 = one / (one + e1), g2 = one / (one + e2)
        if activation == ActivationCode.sigmoid { return (g0, g1, g2) }
        return (v0 * g0, v1 * g1, v2 * g2)
    default: return (v0, v1, v2)
    }
}

/// 1/(1+e^-x); exactly 1 for large x, tiny positive (never NaN) for very negative x.
@inline(__always) func vsigmoid(_ x: FVec) -> FVec {
    FVec(repeating: 1) / (FVec(repeating: 1) + vexp(-x))
}

@inline(__always) func vrelu(_ x: FVec) -> FVec {
    x.replacing(with: 0, where: x .< 0)
}

@inline(__always) func activate(_ v: FVec, _ activation: Int) -> FVec {
    switch activation {
    case ActivationCode.relu: return vrelu(v)
    case ActivationCode.sigmoid: return vsigmoid(v)
    case ActivationCode.silu: return v * vsigmoid(v)
    default: return v
    }
}

/// Applies the activation in place to count contiguous floats, all in vectors: the tail goes through one
/// zero-padded vector, so no element pays for a whole vector exp of its own (as a per-element scalar form would).
@inline(__always) func activateRow(_ p: UnsafeMutablePointer<Float>, _ count: Int, _ activation: Int) {
    if activation == ActivationCode.none || count <= 0 { return }
    let raw = UnsafeMutableRawPointer(p)
    var i = 0
    while i &+ 3 &* vectorWidth <= count {
        let b = i &* 4, step = vectorWidth &* 4
        let (y0, y1, y2) = activate3(raw.loadUnaligned(fromByteOffset: b, as: FVec.self),
                                     raw.loadUnaligned(fromByteOffset: b &+ step, as: FVec.self),
                                     raw.loadUnaligned(fromByteOffset: b &+ 2 &* step, as: FVec.self), activation)
        raw.storeBytes(of: y0, toByteOffset: b, as: FVec.self)
        raw.storeBytes(of: y1, toByteOffset: b &+ step, as: FVec.self)
        raw.storeBytes(of: y2, toByteOffset: b &+ 2 &* step, as: FVec.self)
        i &+= 3 &* vectorWidth
    }
    while i &+ vectorWidth <= count {
        let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: FVec.self)
        raw.storeBytes(of: activate(v, activation), toByteOffset: i &* 4, as: FVec.self)
        i &+= vectorWidth
    }
    let rest = count &- i
    if rest > 0 {
        var v = FVec()
        for j in 0..<rest { v[j] = p[i &+ j] }
        let a = activate(v, activation)
        for j in 0..<rest { p[i &+ j] = a[j] }
    }
}

/// Scalar forms for tails, matching the vector ones closely enough for the tests' tolerances.
@inline(__always) func activateScalar(_ v: Float, _ activation: Int) -> Float {
    switch activation {
    case ActivationCode.relu: return v < 0 ? 0 : v
    case ActivationCode.sigmoid: return vsigmoid(FVec(repeating: v))[0]
    case ActivationCode.silu: return v * vsigmoid(FVec(repeating: v))[0]
    default: return v
    }
}

/// What a GEMM/conv tile does after accumulating: y = act(acc + bias[row]); y += residual. Pointers are already
/// offset to the tile's first row (bias) and first element (residual, row stride ldr). A tuple, not a struct:
/// a struct would get type metadata and value-witness helpers (__swift_memcpy…) in -enable-testing builds, weak
/// symbols shared by name with the other ISA modules (see scripts/check_isa_symbols.sh).
typealias Epilogue = (bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, ldr: Int, activation: Int)

@inline(__always) func offsetEpilogue(_ e: Epilogue, row: Int, col: Int) -> Epilogue {
    (bias: e.bias.map { $0 + row }, residual: e.residual.map { $0 + (row &* e.ldr &+ col) }, ldr: e.ldr,
     activation: e.activation)
}

/// Finishes one microkernel row of three vectors: bias, activation, residual, then stores tile columns
/// from..<to (c and the residual point at tile column 0).
@inline(__always) func storeRow3(
    _ c: UnsafeMutablePointer<Float>, row: Int, _ v0: FVec, _ v1: FVec, _ v2: FVec, from: Int, to: Int,
    epilogue: Epilogue
) {
    var x0 = v0, x1 = v1, x2 = v2
    if let bias = epilogue.bias {
        let bv = FVec(repeating: bias[row])
        x0 += bv; x1 += bv; x2 += bv
    }
    if epilogue.activation != ActivationCode.none {
        (x0, x1, x2) = activate3(x0, x1, x2, epilogue.activation)
    }
    let residualRow = epilogue.residual.map { $0 + row &* epilogue.ldr }
    let vw = vectorWidth
    if from == 0 && to == 3 &* vw {
        let out = UnsafeMutableRawPointer(c)
        let vb = vw &* 4
        if let res = residualRow {
            let rr = UnsafeRawPointer(res)
            x0 += rr.loadUnaligned(fromByteOffset: 0, as: FVec.self)
            x1 += rr.loadUnaligned(fromByteOffset: vb, as: FVec.self)
            x2 += rr.loadUnaligned(fromByteOffset: 2 &* vb, as: FVec.self)
        }
        out.storeBytes(of: x0, toByteOffset: 0, as: FVec.self)
        out.storeBytes(of: x1, toByteOffset: vb, as: FVec.self)
        out.storeBytes(of: x2, toByteOffset: 2 &* vb, as: FVec.self)
        return
    }
    // Edge tile: lane by lane, never touching memory outside from..<to.
    storeLanes(c, x0, base: 0, from: from, to: to, residual: residualRow)
    storeLanes(c, x1, base: vw, from: from, to: to, residual: residualRow)
    storeLanes(c, x2, base: 2 &* vw, from: from, to: to, residual: residualRow)
}

/// Stores the lanes of v that fall in tile columns from..<to; v holds columns base..<base+vectorWidth.
@inline(__always) func storeLanes(
    _ c: UnsafeMutablePointer<Float>, _ v: FVec, base: Int, from: Int, to: Int, residual: UnsafePointer<Float>?
) {
    let lo = max(from, base), hi = min(to, base &+ vectorWidth)
    if lo >= hi { return }
    for col in lo..<hi {
        var y = v[col &- base]
        if let res = residual { y += res[col] }
        c[col] = y
    }
}
