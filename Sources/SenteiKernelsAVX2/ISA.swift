// The only file that differs between the per-ISA kernel modules: vector type, width, FMA form and microkernel shape.
// Every other file here is a symlink to the canonical copy in Sources/SenteiKernelsAVX512.

import CSenteiKernels

/// One SIMD register of floats (ymm under -march=x86-64-v3).
typealias FVec = SIMD8<Float>
/// The same width as 32-bit integers, for exponent bit tricks.
typealias IVec = SIMD8<Int32>
let vectorWidth = 8
let isaName = "avx2"
/// Depthwise rows are activated after the pass, over the finished rows, whatever their width: the pass's four
/// 9-FMA chains and the SiLU's chains, both latency-bound, overlapped badly in registers on Zen 3 (kernel-bench,
/// 64 channels at 52²: 145 → 128 µs; 16 at 104²: 119 → 107).
let depthwiseDefersActivation = true

/// Fused multiply-add a*b+c. With an ISA flag, `addingProduct` lowers to one vfmadd231ps.
@inline(__always) func vfma(_ a: FVec, _ b: FVec, _ c: FVec) -> FVec { c.addingProduct(a, b) }

/// σ(x) = 1/(1+e^−x) and x·σ(x) without a divide (CSenteiKernels/sk_vecmath.h): the SiLU epilogues' cost. The
/// three- and four-vector forms interleave their steps (one long dependency chain per vector; see sk_sigmoid_n_v)
/// and give the same bits as the one-vector forms.
@inline(__always) func vsigmoid(_ x: FVec) -> FVec { sk_sigmoid_v(x) }
@inline(__always) func vsilu(_ x: FVec) -> FVec { sk_silu_v(x) }
@inline(__always) func vsigmoid3(_ a: FVec, _ b: FVec, _ c: FVec) -> (FVec, FVec, FVec) {
    var v = (a, b, c)
    withUnsafeMutableBytes(of: &v) { sk_sigmoid3_v(floats($0, 0), floats($0, 1), floats($0, 2)) }
    return v
}
@inline(__always) func vsilu3(_ a: FVec, _ b: FVec, _ c: FVec) -> (FVec, FVec, FVec) {
    var v = (a, b, c)
    withUnsafeMutableBytes(of: &v) { sk_silu3_v(floats($0, 0), floats($0, 1), floats($0, 2)) }
    return v
}
@inline(__always) func vsigmoid4(_ a: FVec, _ b: FVec, _ c: FVec, _ d: FVec) -> (FVec, FVec, FVec, FVec) {
    var v = (a, b, c, d)
    withUnsafeMutableBytes(of: &v) { sk_sigmoid4_v(floats($0, 0), floats($0, 1), floats($0, 2), floats($0, 3)) }
    return v
}
@inline(__always) func vsilu4(_ a: FVec, _ b: FVec, _ c: FVec, _ d: FVec) -> (FVec, FVec, FVec, FVec) {
    var v = (a, b, c, d)
    withUnsafeMutableBytes(of: &v) { sk_silu4_v(floats($0, 0), floats($0, 1), floats($0, 2), floats($0, 3)) }
    return v
}
/// The i-th vector of a tuple of vectors, as the float pointer the C forms take.
@inline(__always) private func floats(_ tuple: UnsafeMutableRawBufferPointer, _ i: Int) -> UnsafeMutablePointer<Float> {
    (tuple.baseAddress! + i &* MemoryLayout<FVec>.stride).assumingMemoryBound(to: Float.self)
}

/// Activation codes 5 and 6 (the divide forms) are codes 3 and 2 here: AVX2 keeps its interleaved reciprocal form.
@inline(__always) func vsiluDivide(_ x: FVec) -> FVec { vsilu(x) }
@inline(__always) func vsigmoidDivide(_ x: FVec) -> FVec { vsigmoid(x) }

/// The int8 layers' SiLU (activation code 4, for the fp32 layers of an int8 model): as the int8 kernels compute it.
@inline(__always) func vsiluInt8(_ x: FVec) -> FVec { sk_silu_int8_v(x) }

/// Lane-wise max, one vmaxps (Swift's pointwiseMax is scalarised lane by lane).
@inline(__always) func vmax(_ a: FVec, _ b: FVec) -> FVec { sk_max_v(a, b) }

/// Stores lanes 0..<n (1…vectorWidth) of v to dst, one masked store: a row's last partial vector.
@inline(__always) func storeFirst(_ v: FVec, _ dst: UnsafeMutablePointer<Float>, _ n: Int) { sk_store_first_v(dst, v, n) }

/// Microkernel tile: 4 rows × 3 vectors (4×24) — 12 accumulators + 3 B + 1 broadcast = all 16 ymm.
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
