import CSenteiKernels

// Vector exp/sigmoid and the GEMM epilogue. Concrete, @inline(__always) code only: a non-inlined generic
// specialization here would be a weak symbol that the linker may share with another ISA module (engine-notes §2).

/// Activation codes shared by every kernel: 0 none, 1 relu, 2 sigmoid, 3 silu (x·sigmoid(x)), 4 the int8 layers'
/// SiLU (`vsiluInt8`: cheaper, 1e-4 relative), which the fp32 layers of an int8 model use; 5 and 6 are silu and
/// sigmoid computed with a divide (`vsiluDivide`, `vsigmoidDivide`), for CPUs where that is faster
/// (`sk_divide_is_fast`; the same function within the polynomial's error, and codes 3 and 2 where an ISA has no
/// divide form).
enum ActivationCode {
    static let none = 0
    static let relu = 1
    static let sigmoid = 2
    static let silu = 3
    static let siluInt8 = 4
    static let siluDivide = 5
    static let sigmoidDivide = 6
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

/// `activate` on three vectors at once: after inlining, the three sigmoids are independent chains the CPU overlaps.
@inline(__always) func activate3(_ v0: FVec, _ v1: FVec, _ v2: FVec, _ activation: Int) -> (FVec, FVec, FVec) {
    switch activation {
    case ActivationCode.relu: return (vrelu(v0), vrelu(v1), vrelu(v2))
    case ActivationCode.sigmoid: return vsigmoid3(v0, v1, v2)
    case ActivationCode.silu: return vsilu3(v0, v1, v2)
    case ActivationCode.siluInt8: return (vsiluInt8(v0), vsiluInt8(v1), vsiluInt8(v2))
    case ActivationCode.siluDivide: return (vsiluDivide(v0), vsiluDivide(v1), vsiluDivide(v2))
    case ActivationCode.sigmoidDivide: return (vsigmoidDivide(v0), vsigmoidDivide(v1), vsigmoidDivide(v2))
    default: return (v0, v1, v2)
    }
}

@inline(__always) func vrelu(_ x: FVec) -> FVec {
    x.replacing(with: 0, where: x .< 0)
}

@inline(__always) func activate(_ v: FVec, _ activation: Int) -> FVec {
    switch activation {
    case ActivationCode.relu: return vrelu(v)
    case ActivationCode.sigmoid: return vsigmoid(v)
    case ActivationCode.silu: return vsilu(v)
    case ActivationCode.siluInt8: return vsiluInt8(v)
    case ActivationCode.siluDivide: return vsiluDivide(v)
    case ActivationCode.sigmoidDivide: return vsigmoidDivide(v)
    default: return v
    }
}

/// Applies the activation in place to count contiguous floats, all in vectors: the tail goes through one
/// zero-padded vector, so no element pays for a whole vector exp of its own (as a per-element scalar form would).
@inline(__always) func activateRow(_ p: UnsafeMutablePointer<Float>, _ count: Int, _ activation: Int) {
    if activation == ActivationCode.none || count <= 0 { return }
    let raw = UnsafeMutableRawPointer(p)
    var i = 0
    while i &+ 4 &* vectorWidth <= count {
        let b = i &* 4, step = vectorWidth &* 4
        let (y0, y1, y2, y3) = activate4(raw.loadUnaligned(fromByteOffset: b, as: FVec.self),
                                         raw.loadUnaligned(fromByteOffset: b &+ step, as: FVec.self),
                                         raw.loadUnaligned(fromByteOffset: b &+ 2 &* step, as: FVec.self),
                                         raw.loadUnaligned(fromByteOffset: b &+ 3 &* step, as: FVec.self), activation)
        raw.storeBytes(of: y0, toByteOffset: b, as: FVec.self)
        raw.storeBytes(of: y1, toByteOffset: b &+ step, as: FVec.self)
        raw.storeBytes(of: y2, toByteOffset: b &+ 2 &* step, as: FVec.self)
        raw.storeBytes(of: y3, toByteOffset: b &+ 3 &* step, as: FVec.self)
        i &+= 4 &* vectorWidth
    }
    while i &+ vectorWidth <= count {
        let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: FVec.self)
        raw.storeBytes(of: activate(v, activation), toByteOffset: i &* 4, as: FVec.self)
        i &+= vectorWidth
    }
    let rest = count &- i
    if rest > 0 {
        // The tail through one zero-padded vector on the stack, copied with masked vector moves.
        var v = FVec()
        withUnsafeMutableBytes(of: &v) { sk_pad_row(p + i, rest, $0.baseAddress!.assumingMemoryBound(to: Float.self), 0, vectorWidth) }
        let a = activate(v, activation)
        withUnsafeBytes(of: a) { sk_pad_row($0.baseAddress!.assumingMemoryBound(to: Float.self), rest, p + i, 0, rest) }
    }
}

/// Scalar forms for tails, matching the vector ones closely enough for the tests' tolerances.
@inline(__always) func activateScalar(_ v: Float, _ activation: Int) -> Float {
    switch activation {
    case ActivationCode.relu: return v < 0 ? 0 : v
    case ActivationCode.sigmoid: return vsigmoid(FVec(repeating: v))[0]
    case ActivationCode.silu: return vsilu(FVec(repeating: v))[0]
    case ActivationCode.siluInt8: return vsiluInt8(FVec(repeating: v))[0]
    case ActivationCode.siluDivide: return vsiluDivide(FVec(repeating: v))[0]
    case ActivationCode.sigmoidDivide: return vsigmoidDivide(FVec(repeating: v))[0]
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

/// Stores one full microkernel row (one to three vectors; the accumulators started at the bias): the
/// register-to-memory half of a full tile's epilogue. Inlined into the microkernels, so the vectors never cross a call.
@inline(__always) func storeRow3(_ c: UnsafeMutablePointer<Float>, _ v0: FVec, _ v1: FVec, _ v2: FVec) {
    let out = UnsafeMutableRawPointer(c), vb = vectorWidth &* 4
    out.storeBytes(of: v0, toByteOffset: 0, as: FVec.self)
    out.storeBytes(of: v1, toByteOffset: vb, as: FVec.self)
    out.storeBytes(of: v2, toByteOffset: 2 &* vb, as: FVec.self)
}

@inline(__always) func storeRow2(_ c: UnsafeMutablePointer<Float>, _ v0: FVec, _ v1: FVec) {
    let out = UnsafeMutableRawPointer(c), vb = vectorWidth &* 4
    out.storeBytes(of: v0, toByteOffset: 0, as: FVec.self)
    out.storeBytes(of: v1, toByteOffset: vb, as: FVec.self)
}

@inline(__always) func storeRow1(_ c: UnsafeMutablePointer<Float>, _ v0: FVec) {
    UnsafeMutableRawPointer(c).storeBytes(of: v0, toByteOffset: 0, as: FVec.self)
}

/// Activates a full microkernel tile in place (rows × three vectors, row stride ldc) while it is still in L1.
/// Out of line on purpose: one call per tile, and it keeps the microkernels small enough to be inlined.
@inline(never) func activateTile3(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, activation: Int) {
    let vb = vectorWidth &* 4
    for r in 0..<rows {
        let p = UnsafeMutableRawPointer(c + r &* ldc)
        let (y0, y1, y2) = activate3(p.loadUnaligned(fromByteOffset: 0, as: FVec.self),
                                     p.loadUnaligned(fromByteOffset: vb, as: FVec.self),
                                     p.loadUnaligned(fromByteOffset: 2 &* vb, as: FVec.self), activation)
        p.storeBytes(of: y0, toByteOffset: 0, as: FVec.self)
        p.storeBytes(of: y1, toByteOffset: vb, as: FVec.self)
        p.storeBytes(of: y2, toByteOffset: 2 &* vb, as: FVec.self)
    }
}

/// C[r][0 ..< vectors·vectorWidth] += residual[r][…] for the tile's rows (residual row stride ldr): the fused Add of
/// a full tile, in vectors (the edge path adds element by element).
@inline(never) func addResidualTile(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, vectors: Int,
                                    residual: UnsafePointer<Float>, ldr: Int) {
    let vb = vectorWidth &* 4
    for r in 0..<rows {
        let p = UnsafeMutableRawPointer(c + r &* ldc), q = UnsafeRawPointer(residual + r &* ldr)
        for v in 0..<vectors {
            let sum = p.loadUnaligned(fromByteOffset: v &* vb, as: FVec.self) + q.loadUnaligned(fromByteOffset: v &* vb, as: FVec.self)
            p.storeBytes(of: sum, toByteOffset: v &* vb, as: FVec.self)
        }
    }
}

/// `activateTile3` for tiles one or two vectors wide: every vector of the tile is independent work.
@inline(never) func activateTile2(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, activation: Int) {
    activateTileVectors(c, ldc: ldc, rows: rows, vectors: 2, activation: activation)
}

@inline(never) func activateTile1(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, activation: Int) {
    activateTileVectors(c, ldc: ldc, rows: rows, vectors: 1, activation: activation)
}

@inline(__always) func activateTileVectors(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, vectors: Int, activation: Int) {
    let vb = vectorWidth &* 4
    // Three vectors of the tile at a time, taken in row-major order across rows.
    let total = rows &* vectors
    var i = 0
    while i < total {
        let n = min(3, total &- i)
        @inline(__always) func address(_ j: Int) -> UnsafeMutableRawPointer {
            UnsafeMutableRawPointer(c + (j / vectors) &* ldc) + (j % vectors) &* vb
        }
        let p0 = address(i), p1 = address(n > 1 ? i &+ 1 : i), p2 = address(n > 2 ? i &+ 2 : i)
        let (y0, y1, y2) = activate3(p0.loadUnaligned(as: FVec.self), p1.loadUnaligned(as: FVec.self),
                                     p2.loadUnaligned(as: FVec.self), activation)
        // Duplicated addresses (n < 3) get the same value stored twice.
        p2.storeBytes(of: y2, as: FVec.self)
        p1.storeBytes(of: y1, as: FVec.self)
        p0.storeBytes(of: y0, as: FVec.self)
        i &+= n
    }
}

/// The rest of the epilogue of a tile that is partial (columns from..<to only) or has a residual: `tile` holds the
/// accumulators, rows of `vectors` vectors, which started at the bias (`epilogue.bias` is not added again). Each
/// row is finished in registers, then only columns from..<to are
/// written, residual added lane by lane, so memory outside them (another part's columns, or past the end of a
/// narrow matrix) is never touched; the residual is read before C is written, so it may alias C.
@inline(never) func finishEdgeTile(
    _ tile: UnsafeRawPointer, vectors: Int, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, from: Int, to: Int,
    epilogue: Epilogue
) {
    let vb = vectorWidth &* 4
    for r in 0..<rows {
        let src = tile + r &* vectors &* vb
        var x0 = src.loadUnaligned(fromByteOffset: 0, as: FVec.self)
        var x1 = vectors > 1 ? src.loadUnaligned(fromByteOffset: vb, as: FVec.self) : FVec()
        var x2 = vectors > 2 ? src.loadUnaligned(fromByteOffset: 2 &* vb, as: FVec.self) : FVec()
        (x0, x1, x2) = activate3(x0, x1, x2, epilogue.activation)
        let row = c + r &* ldc
        let finished = (x0, x1, x2)
        withUnsafeBytes(of: finished) { raw in
            let values = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            if let residual = epilogue.residual {
                let res = residual + r &* epilogue.ldr
                for col in from..<to { row[col] = values[col] + res[col] }
            } else {
                for col in from..<to { row[col] = values[col] }
            }
        }
    }
}
