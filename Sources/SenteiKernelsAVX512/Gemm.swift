#if canImport(Glibc)
import Glibc
#endif

/// fp32 kernels for this module's ISA. Layout NCHW, batch 1. Every kernel splits its own work: part `ith` of `nth`
/// does a disjoint share, so calling it once for each ith in 0..<nth (in any order, on any threads) does the whole op.
/// Activation codes: 0 none, 1 relu, 2 sigmoid, 3 silu. Epilogue order: y = act(acc + bias[row]); y += residual.
public enum FloatKernels {
    /// The name of the ISA this module was compiled for ("avx512", "avx2" or "base").
    public static var isa: String { isaName }
    /// Microkernel tile (rows of A × columns of B); the packed weight layout depends on it.
    public static var tileRows: Int { microRows }
    public static var tileColumns: Int { microVectors &* vectorWidth }

    /// Floats needed by `packWeights` for an M×K matrix: M rounded up to the tile rows, times K.
    public static func packedWeightCount(m: Int, k: Int) -> Int { ceilDiv(m, microRows) &* microRows &* k }

    /// Packs row-major A (M×K, e.g. Cout × Cin·kh·kw) into panels of `tileRows` rows, k-major inside a panel
    /// (panel p holds A[p·MR + r][kk] at p·MR·K + kk·MR + r); rows past M are zero.
    public static func packWeights(src: UnsafePointer<Float>, m: Int, k: Int, dst: UnsafeMutablePointer<Float>) {
        let mr = microRows
        for p in 0..<ceilDiv(m, mr) {
            let panel = dst + p &* mr &* k
            for r in 0..<mr {
                let row = p &* mr &+ r
                if row < m {
                    let s = src + row &* k
                    for kk in 0..<k { panel[kk &* mr &+ r] = s[kk] }
                } else {
                    for kk in 0..<k { panel[kk &* mr &+ r] = 0 }
                }
            }
        }
    }

    /// C = epilogue(A·B): A packed by `packWeights` (M×K), B row-major K×N with row stride ldb, C M×N with row
    /// stride ldc, bias[M] or nil, residual M×N with row stride ldr or nil (may alias C).
    public static func gemm(
        m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
        ldr: Int, activation: Int, ith: Int, nth: Int
    ) {
        if m <= 0 || n <= 0 { return }
        let mr = microRows, nr = microVectors &* vectorWidth
        let t = splitTiles(panels: ceilDiv(m, mr), strips: ceilDiv(n, nr), ith: ith, nth: nth)
        if t.p0 >= t.p1 || t.s0 >= t.s1 { return }
        let epilogue = (bias: bias, residual: residual, ldr: ldr, activation: activation)
        if n < nr {
            // Narrower than one tile: B is copied into a zero-padded K×NR panel (tiny shapes only).
            let panel = threadScratch(max(k, 1) &* nr &* 4).assumingMemoryBound(to: Float.self)
            for kk in 0..<k {
                let src = b + kk &* ldb, dst = panel + kk &* nr
                for j in 0..<nr { dst[j] = j < n ? src[j] : 0 }
            }
            gemmStrip(vectors: ceilDiv(n, vectorWidth), k: k, packedA: packedA, panels: t.p0..<t.p1, m: m, b: panel,
                      ldb: nr, c: c, ldc: ldc, start: 0, from: 0, to: n, epilogue: epilogue)
            return
        }
        for s in t.s0..<t.s1 {
            // A last strip narrower than a tile uses the narrowest kernel that covers it, shifted left to end at
            // N, so B is always read in whole vectors inside the matrix; the columns it shares with the previous
            // strip are recomputed but not stored again.
            let vectors = min(microVectors, ceilDiv(n &- s &* nr, vectorWidth))
            let start = min(s &* nr, n &- vectors &* vectorWidth)
            gemmStrip(vectors: vectors, k: k, packedA: packedA, panels: t.p0..<t.p1, m: m, b: b + start, ldb: ldb,
                      c: c, ldc: ldc, start: start, from: s &* nr &- start, to: vectors &* vectorWidth,
                      epilogue: epilogue)
        }
    }
}

/// The tiles of one strip over a range of row panels of packed A (M rows): B is the strip's own K rows (`vectors`
/// wide, row stride ldb), its results go to C's columns start + from ..< start + to. One call per strip, with the tile
/// kernel inlined into the panel loop rather than called per tile; the GEMM, im2col-conv and Winograd paths share it.
@inline(never) func gemmStrip(
    vectors: Int, k: Int, packedA: UnsafePointer<Float>, panels: Range<Int>, m: Int, b: UnsafePointer<Float>,
    ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, start: Int, from: Int, to: Int, epilogue: Epilogue
) {
    let mr = microRows
    for p in panels {
        let row0 = p &* mr
        microTile(vectors: vectors, k: k, a: packedA + row0 &* k, b: b, ldb: ldb, c: c + (row0 &* ldc &+ start),
                  ldc: ldc, rows: min(mr, m &- row0), colFrom: from, colTo: to,
                  epilogue: offsetEpilogue(epilogue, row: row0, col: start))
    }
}
