// The only file that differs between the per-ISA kernel modules: vector type, width, FMA form and microkernel shape.
// Every other file here is a symlink to the canonical copy in Sources/SenteiKernelsAVX512.

import CSenteiKernels

/// One SIMD register of floats (xmm, SSE2 baseline).
typealias FVec = SIMD4<Float>
/// The same width as 32-bit integers, for exponent bit tricks.
typealias IVec = SIMD4<Int32>
let vectorWidth = 4
let isaName = "base"
/// Depthwise rows are activated in registers unless their last vector wastes lanes (see depthwise3x3Rows).
let depthwiseDefersActivation = false

/// a*b+c as two instructions: without an ISA flag `addingProduct` becomes one libm `fmaf` call per lane.
@inline(__always) func vfma(_ a: FVec, _ b: FVec, _ c: FVec) -> FVec { a * b + c }

/// σ(x) = 1/(1+e^−x); exactly 1 for large x, tiny positive (never NaN) for very negative x. SSE2 has no
/// fast reciprocal worth a Newton step here, so the baseline keeps the divide.
@inline(__always) func vsigmoid(_ x: FVec) -> FVec { FVec(repeating: 1) / (FVec(repeating: 1) + vexp(-x)) }

/// x·σ(x), and σ and x·σ(x) of several vectors: one vector at a time here (the AVX2 module interleaves them).
@inline(__always) func vsilu(_ x: FVec) -> FVec { x * vsigmoid(x) }
@inline(__always) func vsigmoid3(_ a: FVec, _ b: FVec, _ c: FVec) -> (FVec, FVec, FVec) {
    (vsigmoid(a), vsigmoid(b), vsigmoid(c))
}
@inline(__always) func vsilu3(_ a: FVec, _ b: FVec, _ c: FVec) -> (FVec, FVec, FVec) { (vsilu(a), vsilu(b), vsilu(c)) }
@inline(__always) func vsigmoid4(_ a: FVec, _ b: FVec, _ c: FVec, _ d: FVec) -> (FVec, FVec, FVec, FVec) {
    (vsigmoid(a), vsigmoid(b), vsigmoid(c), vsigmoid(d))
}
@inline(__always) func vsilu4(_ a: FVec, _ b: FVec, _ c: FVec, _ d: FVec) -> (FVec, FVec, FVec, FVec) {
    (vsilu(a), vsilu(b), vsilu(c), vsilu(d))
}

/// Activation codes 5 and 6 (the divide forms) are codes 3 and 2 here: the portable form divides already.
@inline(__always) func vsiluDivide(_ x: FVec) -> FVec { vsilu(x) }
@inline(__always) func vsigmoidDivide(_ x: FVec) -> FVec { vsigmoid(x) }

/// The int8 layers' SiLU (activation code 4, for the fp32 layers of an int8 model), the steps of the portable int8
/// kernels' silu_generic (int8/conv_template.h): true FMAs (libm fmaf per lane here) and a divide, bit for bit.
@inline(__always) func vsiluInt8(_ x: FVec) -> FVec {
    let clamped = x.replacing(with: -80, where: x .< -80).replacing(with: 80, where: x .> 80)
    let t = clamped * FVec(repeating: -1.442_695_040_888_963_41)
    let n = t.rounded(.down)
    let f = t - n
    var p = FVec(repeating: sk_silu_c2).addingProduct(FVec(repeating: sk_silu_c3), f)
    p = FVec(repeating: sk_silu_c1).addingProduct(p, f)
    p = FVec(repeating: sk_silu_c0).addingProduct(p, f)
    let bits = (IVec(n, rounding: .towardZero) &+ 127) &* IVec(repeating: 1 << 23)
    let d = p * unsafeBitCast(bits, to: FVec.self) + 1
    return x / d
}

/// Lane-wise max as compare + select (Swift's pointwiseMax is scalarised lane by lane).
@inline(__always) func vmax(_ a: FVec, _ b: FVec) -> FVec { a.replacing(with: b, where: b .> a) }

/// Stores lanes 0..<n (1…vectorWidth) of v to dst (SSE2 has no masked store): a row's last partial vector.
@inline(__always) func storeFirst(_ v: FVec, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { dst[i] = v[i] }
}

/// Microkernel tile: 4 rows × 3 vectors (4×12) — 12 accumulators + 3 B + 1 broadcast = all 16 xmm.
let microRows = 4
let microVectors = 3
/// A tile of `vectors` (1…3) vectors per row; narrower tiles finish rows whose width is not a multiple of the full one.
@inline(__always) func microTile(
    vectors: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, colFrom: Int, colTo: Int, epilogue: Epilogue
) {
    switch vectors {
    case 1: micro4x1(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows, colFrom: colFrom, colTo: colTo, epilogue: epilogue)
    case 2: micro4x2(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows, colFrom: colFrom, colTo: colTo, epilogue: epilogue)
    default: micro4x3(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows, colFrom: colFrom, colTo: colTo, epilogue: epilogue)
    }
}
@inline(__always) func microTileIndirect(
    vectors: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int32>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, colFrom: Int, colTo: Int, epilogue: Epilogue
) {
    switch vectors {
    case 1:
        micro4x1Indirect(k: k, a: a, b: b, rowOffsets: rowOffsets, c: c, ldc: ldc, rows: rows, colFrom: colFrom,
                      colTo: colTo, epilogue: epilogue)
    case 2:
        micro4x2Indirect(k: k, a: a, b: b, rowOffsets: rowOffsets, c: c, ldc: ldc, rows: rows, colFrom: colFrom,
                      colTo: colTo, epilogue: epilogue)
    default:
        micro4x3Indirect(k: k, a: a, b: b, rowOffsets: rowOffsets, c: c, ldc: ldc, rows: rows, colFrom: colFrom,
                      colTo: colTo, epilogue: epilogue)
    }
}
