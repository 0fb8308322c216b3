// The only file that differs between the per-ISA kernel modules: vector type, width, FMA form and microkernel shape.
// Every other file in Sources/SenteiKernelsAVX512 is symlinked into SenteiKernelsAVX2 and SenteiKernelsBase.

import CSenteiKernels

/// One SIMD register of floats (zmm under -march=x86-64-v4).
typealias FVec = SIMD16<Float>
/// The same width as 32-bit integers, for exponent bit tricks.
typealias IVec = SIMD16<Int32>
let vectorWidth = 16
let isaName = "avx512"
/// Depthwise rows are activated in registers unless their last vector wastes lanes (see depthwise3x3Rows).
let depthwiseDefersActivation = false

/// Fused multiply-add a*b+c. With an ISA flag, `addingProduct` lowers to one vfmadd231ps.
@inline(__always) func vfma(_ a: FVec, _ b: FVec, _ c: FVec) -> FVec { c.addingProduct(a, b) }

/// σ(x) = 1/(1+e^−x) without a divide (CSenteiKernels/sk_vecmath.h): the SiLU epilogues' cost.
@inline(__always) func vsigmoid(_ x: FVec) -> FVec { sk_sigmoid_v(x) }

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

/// The int8 layers' SiLU (activation code 4, for the fp32 layers of an int8 model): as the int8 kernels compute it.
@inline(__always) func vsiluInt8(_ x: FVec) -> FVec { sk_silu_int8_v(x) }

/// x·σ(x) and σ(x) with one vdivps each (activation codes 5 and 6, where `sk_divide_is_fast`).
@inline(__always) func vsiluDivide(_ x: FVec) -> FVec { sk_silu_divide_v(x) }
@inline(__always) func vsigmoidDivide(_ x: FVec) -> FVec { sk_sigmoid_divide_v(x) }

/// Lane-wise max, one vmaxps (Swift's pointwiseMax is scalarised lane by lane).
@inline(__always) func vmax(_ a: FVec, _ b: FVec) -> FVec { sk_max_v(a, b) }

/// Stores lanes 0..<n (1…vectorWidth) of v to dst, one masked store: a row's last partial vector.
@inline(__always) func storeFirst(_ v: FVec, _ dst: UnsafeMutablePointer<Float>, _ n: Int) { sk_store_first_v(dst, v, n) }

/// Microkernel tile: 8 rows × 3 vectors (8×48) — 24 accumulators in 32 zmm, and MR=8 divides the usual Cout.
let microRows = 8
let microVectors = 3
/// A tile of `vectors` (1…3) vectors per row; narrower tiles finish rows whose width is not a multiple of the full one.
@inline(__always) func microTile(
    vectors: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, colFrom: Int, colTo: Int, epilogue: Epilogue
) {
    switch vectors {
    case 1: micro8x1(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows, colFrom: colFrom, colTo: colTo, epilogue: epilogue)
    case 2: micro8x2(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows, colFrom: colFrom, colTo: colTo, epilogue: epilogue)
    default: micro8x3(k: k, a: a, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows, colFrom: colFrom, colTo: colTo, epilogue: epilogue)
    }
}
@inline(__always) func microTileIndirect(
    vectors: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rowOffsets: UnsafePointer<Int32>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, colFrom: Int, colTo: Int, epilogue: Epilogue
) {
    switch vectors {
    case 1:
        micro8x1Indirect(k: k, a: a, b: b, rowOffsets: rowOffsets, c: c, ldc: ldc, rows: rows, colFrom: colFrom,
                      colTo: colTo, epilogue: epilogue)
    case 2:
        micro8x2Indirect(k: k, a: a, b: b, rowOffsets: rowOffsets, c: c, ldc: ldc, rows: rows, colFrom: colFrom,
                      colTo: colTo, epilogue: epilogue)
    default:
        micro8x3Indirect(k: k, a: a, b: b, rowOffsets: rowOffsets, c: c, ldc: ldc, rows: rows, colFrom: colFrom,
                      colTo: colTo, epilogue: epilogue)
    }
}
