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
        let strips = ceilDiv(n, nr)
        for s in t.s0..<t.s1 {
            let span = stripSpan(s, strips: strips, n: n)
            gemmStrip(vectors: span.vectors, k: k, packedA: packedA, panels: t.p0..<t.p1, m: m, b: b + span.start,
                      ldb: ldb, c: c, ldc: ldc, start: span.start, from: span.first &- span.start,
                      to: span.vectors &* vectorWidth, epilogue: epilogue)
        }
    }
}

/// The columns of strip j of the `strips` = ⌈n / tile columns⌉ strips over n ≥ one tile of columns: it stores
/// columns first ..< first + vectors·vw (clipped to n) and computes `vectors` whole vectors from `start` ≤ first. A
/// last strip narrower than a tile uses the narrowest kernel that covers it, shifted left to end at n, so B is always
/// read in whole vectors inside the row; the columns it shares with the previous strip are recomputed, not stored
/// again. Strips that would end in a one-vector strip end in two narrower ones (3 + 1 vectors → 2 + 2): the
/// one-vector tile is bound by its eight broadcasts (the staged stem's indirect tile ran at about half the FMA rate;
/// the GEMM's, Zen 5: 128×64×512 228–237 → 237–243 GFLOP/s, 128×676×128 about 1% faster). YOLO's 26² maps are 43
/// vectors, 52² and 104² one vector past a multiple of three.
@inline(__always) func stripSpan(_ j: Int, strips: Int, n: Int) -> (first: Int, start: Int, vectors: Int) {
    let rowVectors = ceilDiv(n, vectorWidth)
    let first: Int, vectors: Int
    if microVectors >= 3 && strips >= 2 && rowVectors % microVectors == 1 && j >= strips &- 2 {
        let tailStart = (strips &- 2) &* microVectors, tailFirst = (microVectors &+ 2) / 2
        let last = j == strips &- 1
        first = (last ? tailStart &+ tailFirst : tailStart) &* vectorWidth
        vectors = last ? microVectors &+ 1 &- tailFirst : tailFirst
    } else {
        first = j &* microVectors &* vectorWidth
        vectors = min(microVectors, ceilDiv(n &- first, vectorWidth))
    }
    return (first, min(first, n &- vectors &* vectorWidth), vectors)
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
