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
        x0 = activate(x0, epilogue.activation)
        x1 = activate(x1, epilogue.activation)
        x2 = activate(x2, epilogue.activation)
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
