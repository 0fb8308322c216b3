// 3×3 stride-1 convolution by Winograd F(4×4, 3×3): each 4×4 output tile comes from a 6×6 input tile through
// 36 element-wise products in the transformed domain, 4× fewer multiply-adds than the direct form. Per block of
// tiles: the input transform writes V[36][Cin][tiles], 36 GEMMs with the existing microkernel (weights U[36]
// transformed and packed at load) write M[36][Cout][tiles], and the output transform applies the conv epilogue
// (bias, activation, residual) while storing. Transforms run vectorWidth tiles at a time, one tile per lane: the
// input's stride-4 tile columns are split into lanes with register shuffles, and output rows are rebuilt in pixel
// order by spreading each tile's lane over four.

import CSenteiKernels

extension FloatKernels {
    /// Output tile side and transformed tile side of F(4×4, 3×3).
    static let winogradTile = 4
    static let winogradPoints = 36

    /// Tiles one block holds at most: V and M for a block within about 1.5 MiB (the L2 is 1 MiB, but V and M are
    /// each written once and read once, while the GEMMs want wide strips), at least one full microkernel strip, and
    /// a whole number of strips. On yolov8n a 64-channel layer's 32-tile blocks (an L2-sized 640 KiB budget) took
    /// about 20% longer than 48- or 96-tile blocks.
    static func winogradBlockTiles(cin: Int, cout: Int) -> Int {
        let nr = microVectors &* vectorWidth
        let fit = 1536 &* 1024 / (winogradPoints &* 4 &* max(cin &+ cout, 1))
        return max(nr, fit / nr &* nr)
    }

    /// Floats `conv3x3Winograd` reads of its packed weights: 36 matrices Cout×Cin, each packed by `packWeights`.
    public static func winogradPackedWeightCount(cout: Int, cin: Int) -> Int {
        winogradPoints &* packedWeightCount(m: cout, k: cin)
    }

    /// Scratch floats each part needs for `conv3x3Winograd`: one block's V and M (plus one vector of slack each for
    /// the output transform's whole-vector reads), the input transform's lane masks and the transforms' 36-vector
    /// temporary.
    public static func winogradScratchCount(cin: Int, cout: Int) -> Int {
        let tiles = winogradBlockTiles(cin: cin, cout: cout)
        let ld = ceilDiv(tiles, vectorWidth) &* vectorWidth
        return winogradPoints &* (cin &+ cout) &* ld &+ 2 &* vectorWidth &+ winogradLaneFloats
            &+ winogradPoints &* vectorWidth
    }

    /// The input transform's per-chunk bookkeeping: up to vectorWidth tile-row segments, each 8 lane masks and
    /// two Int32.
    static var winogradLaneFloats: Int { 8 &* vectorWidth &* vectorWidth &+ 4 &* vectorWidth }

    /// out[co, oy, ox] = epilogue(Σ w[co, ci, ky, kx] · in[ci, oy − padTop + ky, ox − padLeft + kx]) for a 3×3 kernel,
    /// stride 1, dilation 1: the same operation and arguments as `conv2d` with kh = kw = 3, but `packedWeights` holds
    /// the transformed weights: for each point ξ = 6·i + k of the 6×6 tile, U_ξ[co][ci] = (G·w[co][ci]·Gᵀ)[i][k],
    /// packed by `packWeights(m: cout, k: cin)`, one after another (`winogradPackedWeightCount` floats).
    /// `scratch` is this part's own `winogradScratchCount` floats.
    public static func conv3x3Winograd(
        input: UnsafePointer<Float>, inputChannelStride: Int, cin: Int, h: Int, w: Int,
        packedWeights: UnsafePointer<Float>, cout: Int,
        padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, residualChannelStride: Int, activation: Int,
        scratch: UnsafeMutablePointer<Float>, ith: Int, nth: Int
    ) {
        let ho = h &+ padTop &+ padBottom &- 2, wo = w &+ padLeft &+ padRight &- 2
        if ho <= 0 || wo <= 0 || cout <= 0 { return }
        let tilesW = ceilDiv(wo, winogradTile), tiles = ceilDiv(ho, winogradTile) &* tilesW
        let maxTiles = winogradBlockTiles(cin: cin, cout: cout)
        var blocks = ceilDiv(tiles, maxTiles)
        // As many blocks as parts (or a multiple) when the tiles allow blocks of at least a vector: then parts split
        // blocks, and no part repeats another's input transform.
        if nth > 1 && blocks % nth != 0 {
            let even = (blocks / nth &+ 1) &* nth
            if tiles >= even &* vectorWidth { blocks = even }
        }
        let blockTiles = ceilDiv(tiles, blocks)
        let mr = microRows
        let split = splitTiles(panels: ceilDiv(cout, mr), strips: blocks, ith: ith, nth: nth)
        if split.p0 >= split.p1 || split.s0 >= split.s1 { return }
        let ld = ceilDiv(maxTiles, vectorWidth) &* vectorWidth
        let v = scratch
        let m = v + (winogradPoints &* cin &* ld &+ vectorWidth)
        let lanes = UnsafeMutableRawPointer(m + (winogradPoints &* cout &* ld &+ vectorWidth))
            .assumingMemoryBound(to: Int32.self)
        let segments = lanes + 8 &* vectorWidth &* vectorWidth
        let temp = UnsafeMutableRawPointer(segments + 2 &* vectorWidth).assumingMemoryBound(to: Float.self)
        let geometry: WinogradGeometry = (
            cin: cin, h: h, w: w, inputChannelStride: inputChannelStride, padTop: padTop, padLeft: padLeft,
            ho: ho, wo: wo, tilesW: tilesW)
        let packedCount = packedWeightCount(m: cout, k: cin)
        let co0 = split.p0 &* mr, co1 = min(split.p1 &* mr, cout)
        for b in split.s0..<split.s1 {
            let t0 = b &* blockTiles, t1 = min(t0 &+ blockTiles, tiles)
            if t0 >= t1 { continue }
            let n = ceilDiv(t1 &- t0, vectorWidth) &* vectorWidth
            winogradInputTransform(input, geometry, t0: t0, t1: t1, v: v, ldv: n, segments: segments, lanes: lanes,
                                   temp: temp)
            // 36 independent GEMMs M_ξ = U_ξ · V_ξ over this part's row panels; the epilogue waits for the output
            // transform.
            let none: Epilogue = (bias: nil, residual: nil, ldr: 0, activation: ActivationCode.none)
            let nr = microVectors &* vectorWidth
            for xi in 0..<winogradPoints {
                let u = packedWeights + xi &* packedCount
                let vx = v + xi &* cin &* n, mx = m + xi &* cout &* n
                for s in 0..<ceilDiv(n, nr) {
                    let start = s &* nr
                    let vectors = min(microVectors, (n &- start) / vectorWidth)
                    gemmStrip(vectors: vectors, k: cin, packedA: u, panels: split.p0..<split.p1, m: cout, b: vx + start,
                              ldb: n, c: mx, ldc: n, start: start, from: 0, to: vectors &* vectorWidth, epilogue: none)
                }
            }
            winogradOutputTransform(m, ldm: n, cout: cout, co0: co0, co1: co1, geometry, t0: t0, t1: t1,
                                    output: output, outputChannelStride: outputChannelStride, bias: bias,
                                    residual: residual, residualChannelStride: residualChannelStride,
                                    activation: activation, temp: temp)
        }
    }
}

/// A tuple rather than a struct for the same reason as `Epilogue`.
typealias WinogradGeometry = (
    cin: Int, h: Int, w: Int, inputChannelStride: Int, padTop: Int, padLeft: Int, ho: Int, wo: Int, tilesW: Int
)

/// x with the lanes whose mask is set replaced by src's (a whole vector is read).
@inline(__always) func maskedLoad(_ x: FVec, _ src: UnsafePointer<Float>, _ mask: UnsafePointer<Int32>) -> FVec {
    let m = UnsafeRawPointer(mask).loadUnaligned(as: IVec.self) .!= IVec()
    return x.replacing(with: UnsafeRawPointer(src).loadUnaligned(as: FVec.self), where: m)
}

/// `maskedLoad` reading only the lanes whose mask is set.
@inline(__always) func maskedLanes(_ x: FVec, _ src: UnsafePointer<Float>, _ mask: UnsafePointer<Int32>) -> FVec {
    var r = x
    for q in 0..<vectorWidth where mask[q] != 0 { r[q] = src[q] }
    return r
}

/// Lanes 0, 2, 4, … of a then of b (one two-source permute after inlining).
@inline(__always) func evenLanes(_ a: FVec, _ b: FVec) -> FVec {
    var r = FVec()
    for i in 0..<(vectorWidth / 2) {
        r[i] = a[2 &* i]
        r[i &+ vectorWidth / 2] = b[2 &* i]
    }
    return r
}

/// Lanes 1, 3, 5, … of a then of b.
@inline(__always) func oddLanes(_ a: FVec, _ b: FVec) -> FVec {
    var r = FVec()
    for i in 0..<(vectorWidth / 2) {
        r[i] = a[2 &* i &+ 1]
        r[i &+ vectorWidth / 2] = b[2 &* i &+ 1]
    }
    return r
}

/// Stores lanes 0..<count (1…vectorWidth) of x.
@inline(__always) func storeLanes(_ x: FVec, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count == vectorWidth {
        UnsafeMutableRawPointer(dst).storeBytes(of: x, as: FVec.self)
    } else {
        storeFirst(x, dst, count)
    }
}

/// V[ξ][ci][t − t0] = (Bᵀ d B)[ξ] for the 6×6 input tile d of every tile t in t0..<t1 (raster order over the
/// tile grid) and every input channel. Columns from t1 − t0 up to ldv are zeroed, so the GEMMs read only numbers.
/// A chunk is vectorWidth consecutive tiles, one per lane, even across tile rows (maps 20 or 40 pixels wide would
/// otherwise leave most lanes idle): each tile-row segment of the chunk is loaded into its own lanes under masks,
/// `lanes` holds those masks (8 vectors per segment: the four loads of columns 4l…4l+3 and the four of 4l+4…4l+7).
@inline(__always) func winogradInputTransform(
    _ input: UnsafePointer<Float>, _ g: WinogradGeometry, t0: Int, t1: Int, v: UnsafeMutablePointer<Float>, ldv: Int,
    segments segmentInfo: UnsafeMutablePointer<Int32>, lanes: UnsafeMutablePointer<Int32>,
    temp: UnsafeMutablePointer<Float>
) {
    let vw = vectorWidth, vb = vw &* 4
    if t1 &- t0 < ldv {
        for r in 0..<(36 &* g.cin) {
            let dst = v + r &* ldv
            for j in (t1 &- t0)..<ldv { dst[j] = 0 }
        }
    }
    let raw = UnsafeMutableRawPointer(temp)
    let inputExtent = (g.cin &- 1) &* g.inputChannelStride &+ g.h &* g.w
    let readLength = 4 &* vw &+ 4
    var t = t0
    while t < t1 {
        let count = min(vw, t1 &- t)
        // Segments: (first input row of the tile row, input column of lane 0's first column).
        var segments = 0
        var u = t
        while u < t &+ count {
            let ty = u / g.tilesW, tx = u % g.tilesW
            let n = min(g.tilesW &- tx, t &+ count &- u)
            let l0 = u &- t
            let xBase = tx &* 4 &- g.padLeft &- 4 &* l0
            segmentInfo[2 &* segments] = Int32(truncatingIfNeeded: ty &* 4 &- g.padTop)
            segmentInfo[2 &* segments &+ 1] = Int32(truncatingIfNeeded: xBase)
            let mask = lanes + segments &* 8 &* vw
            for c in 0..<8 {
                let shift = c >= 4 ? 4 : 0
                for q in 0..<vw {
                    let index = (c & 3) &* vw &+ q
                    let x = xBase &+ shift &+ index
                    let mine = index >= 4 &* l0 && index < 4 &* (l0 &+ n) && x >= 0 && x < g.w
                    mask[c &* vw &+ q] = mine ? -1 : 0
                }
            }
            segments &+= 1
            u &+= n
        }
        let column = t &- t0
        for ci in 0..<g.cin {
            let channel = ci &* g.inputChannelStride
            // Row pass: for each of the six input rows, the tiles' six columns d0…d5 (one tile per lane) and
            // R[r][k] = (d·B)[k] into temp.
            for r in 0..<6 {
                var x0 = FVec(), x1 = FVec(), x2 = FVec(), x3 = FVec()
                var s0 = FVec(), s1 = FVec(), s2 = FVec(), s3 = FVec()
                for segment in 0..<segments {
                    let iy = Int(segmentInfo[2 &* segment]) &+ r
                    if iy < 0 || iy >= g.h { continue }
                    let start = channel &+ iy &* g.w &+ Int(segmentInfo[2 &* segment &+ 1])
                    let mask = lanes + segment &* 8 &* vw
                    let src = input + start
                    if start >= 0 && start &+ readLength <= inputExtent {
                        x0 = maskedLoad(x0, src, mask)
                        x1 = maskedLoad(x1, src + vw, mask + vw)
                        x2 = maskedLoad(x2, src + 2 &* vw, mask + 2 &* vw)
                        x3 = maskedLoad(x3, src + 3 &* vw, mask + 3 &* vw)
                        s0 = maskedLoad(s0, src + 4, mask + 4 &* vw)
                        s1 = maskedLoad(s1, src + (4 &+ vw), mask + 5 &* vw)
                        s2 = maskedLoad(s2, src + (4 &+ 2 &* vw), mask + 6 &* vw)
                        s3 = maskedLoad(s3, src + (4 &+ 3 &* vw), mask + 7 &* vw)
                    } else {
                        // Near the ends of the input only the lanes inside it are read.
                        x0 = maskedLanes(x0, src, mask)
                        x1 = maskedLanes(x1, src + vw, mask + vw)
                        x2 = maskedLanes(x2, src + 2 &* vw, mask + 2 &* vw)
                        x3 = maskedLanes(x3, src + 3 &* vw, mask + 3 &* vw)
                        s0 = maskedLanes(s0, src + 4, mask + 4 &* vw)
                        s1 = maskedLanes(s1, src + (4 &+ vw), mask + 5 &* vw)
                        s2 = maskedLanes(s2, src + (4 &+ 2 &* vw), mask + 6 &* vw)
                        s3 = maskedLanes(s3, src + (4 &+ 3 &* vw), mask + 7 &* vw)
                    }
                }
                let e01 = evenLanes(x0, x1), e23 = evenLanes(x2, x3)
                let o01 = oddLanes(x0, x1), o23 = oddLanes(x2, x3)
                let d0 = evenLanes(e01, e23), d2 = oddLanes(e01, e23)
                let d1 = evenLanes(o01, o23), d3 = oddLanes(o01, o23)
                let d4 = evenLanes(evenLanes(s0, s1), evenLanes(s2, s3))
                let d5 = evenLanes(oddLanes(s0, s1), oddLanes(s2, s3))
                let base = r &* 6 &* vb
                let four = FVec(repeating: 4), five = FVec(repeating: -5), two = FVec(repeating: 2)
                raw.storeBytes(of: vfma(five, d2, vfma(four, d0, d4)), toByteOffset: base, as: FVec.self)
                raw.storeBytes(of: vfma(FVec(repeating: -4), d1 + d2, d3 + d4), toByteOffset: base &+ vb, as: FVec.self)
                raw.storeBytes(of: vfma(four, d1 - d2, d4 - d3), toByteOffset: base &+ 2 &* vb, as: FVec.self)
                let d31 = d3 - d1, d42 = d4 - d2
                raw.storeBytes(of: vfma(two, d31, d42), toByteOffset: base &+ 3 &* vb, as: FVec.self)
                raw.storeBytes(of: vfma(FVec(repeating: -2), d31, d42), toByteOffset: base &+ 4 &* vb, as: FVec.self)
                raw.storeBytes(of: vfma(five, d3, vfma(four, d1, d5)), toByteOffset: base &+ 5 &* vb, as: FVec.self)
            }
            // Column pass: V[6i + k] = (Bᵀ·R)[i][k].
            for k in 0..<6 {
                let r0 = raw.loadUnaligned(fromByteOffset: k &* vb, as: FVec.self)
                let r1 = raw.loadUnaligned(fromByteOffset: (6 &+ k) &* vb, as: FVec.self)
                let r2 = raw.loadUnaligned(fromByteOffset: (12 &+ k) &* vb, as: FVec.self)
                let r3 = raw.loadUnaligned(fromByteOffset: (18 &+ k) &* vb, as: FVec.self)
                let r4 = raw.loadUnaligned(fromByteOffset: (24 &+ k) &* vb, as: FVec.self)
                let r5 = raw.loadUnaligned(fromByteOffset: (30 &+ k) &* vb, as: FVec.self)
                let four = FVec(repeating: 4), five = FVec(repeating: -5), two = FVec(repeating: 2)
                let r31 = r3 - r1, r42 = r4 - r2
                let values = (vfma(five, r2, vfma(four, r0, r4)),
                              vfma(FVec(repeating: -4), r1 + r2, r3 + r4),
                              vfma(four, r1 - r2, r4 - r3),
                              vfma(two, r31, r42),
                              vfma(FVec(repeating: -2), r31, r42),
                              vfma(five, r3, vfma(four, r1, r5)))
                let dst = v + ((k &* g.cin &+ ci) &* ldv &+ column), step = 6 &* g.cin &* ldv
                storeLanes(values.0, dst, count)
                storeLanes(values.1, dst + step, count)
                storeLanes(values.2, dst + 2 &* step, count)
                storeLanes(values.3, dst + 3 &* step, count)
                storeLanes(values.4, dst + 4 &* step, count)
                storeLanes(values.5, dst + 5 &* step, count)
            }
        }
        t &+= count
    }
}

/// out[co][4ty + a][4tx + b] = epilogue((Aᵀ M A)[a][b]) for the tiles t0..<t1 and output channels co0..<co1, only
/// inside the output map.
@inline(__always) func winogradOutputTransform(
    _ m: UnsafePointer<Float>, ldm: Int, cout: Int, co0: Int, co1: Int, _ g: WinogradGeometry, t0: Int, t1: Int,
    output: UnsafeMutablePointer<Float>, outputChannelStride: Int, bias: UnsafePointer<Float>?,
    residual: UnsafePointer<Float>?, residualChannelStride: Int, activation: Int, temp: UnsafeMutablePointer<Float>
) {
    let vw = vectorWidth, vb = vw &* 4
    let raw = UnsafeMutableRawPointer(temp)
    let coefficients = raw + 24 &* vb
    writeWinogradOutputCoefficients(coefficients)
    let k: WinogradOutputCoefficients = (
        coefficients.loadUnaligned(as: FVec.self), coefficients.loadUnaligned(fromByteOffset: vb, as: FVec.self),
        coefficients.loadUnaligned(fromByteOffset: 2 &* vb, as: FVec.self),
        coefficients.loadUnaligned(fromByteOffset: 3 &* vb, as: FVec.self),
        coefficients.loadUnaligned(fromByteOffset: 4 &* vb, as: FVec.self),
        coefficients.loadUnaligned(fromByteOffset: 5 &* vb, as: FVec.self))
    for co in co0..<co1 {
        let b = FVec(repeating: bias?[co] ?? 0)
        let plane = output + co &* outputChannelStride
        let resPlane = residual.map { $0 + co &* residualChannelStride }
        var t = t0
        while t < t1 {
            let ty = t / g.tilesW, tx = t % g.tilesW
            let count = min(vw, g.tilesW &- tx, t1 &- t)
            let column = t &- t0
            // Column pass: S[a][k] = (Aᵀ·M)[a][k] into temp.
            for k in 0..<6 {
                let src = UnsafeRawPointer(m + ((k &* cout &+ co) &* ldm &+ column)), step = 6 &* cout &* ldm &* 4
                let m0 = src.loadUnaligned(as: FVec.self)
                let m1 = src.loadUnaligned(fromByteOffset: step, as: FVec.self)
                let m2 = src.loadUnaligned(fromByteOffset: 2 &* step, as: FVec.self)
                let m3 = src.loadUnaligned(fromByteOffset: 3 &* step, as: FVec.self)
                let m4 = src.loadUnaligned(fromByteOffset: 4 &* step, as: FVec.self)
                let m5 = src.loadUnaligned(fromByteOffset: 5 &* step, as: FVec.self)
                let p12 = m1 + m2, n12 = m1 - m2, p34 = m3 + m4, n34 = m3 - m4
                let sum = m0 + p12
                raw.storeBytes(of: sum + p34, toByteOffset: k &* vb, as: FVec.self)
                raw.storeBytes(of: vfma(FVec(repeating: 2), n34, n12), toByteOffset: (6 &+ k) &* vb, as: FVec.self)
                raw.storeBytes(of: vfma(FVec(repeating: 4), p34, p12), toByteOffset: (12 &+ k) &* vb, as: FVec.self)
                raw.storeBytes(of: vfma(FVec(repeating: 8), n34, n12 + m5), toByteOffset: (18 &+ k) &* vb,
                               as: FVec.self)
            }
            // Row pass per output row a straight into pixel order: pixel vector c holds pixels 4l + b of tiles
            // l in c·vw/4 ..< (c+1)·vw/4, Y[a][b] = Σ_k S[a][k]·A[k][b], each S spread to four lanes per tile.
            let x0 = tx &* 4
            let valid = min(4 &* count, g.wo &- x0)
            for a in 0..<4 {
                let oy = ty &* 4 &+ a
                if oy >= g.ho { break }
                let base = a &* 6 &* vb
                let s0 = raw.loadUnaligned(fromByteOffset: base, as: FVec.self)
                let s1 = raw.loadUnaligned(fromByteOffset: base &+ vb, as: FVec.self)
                let s2 = raw.loadUnaligned(fromByteOffset: base &+ 2 &* vb, as: FVec.self)
                let s3 = raw.loadUnaligned(fromByteOffset: base &+ 3 &* vb, as: FVec.self)
                let s4 = raw.loadUnaligned(fromByteOffset: base &+ 4 &* vb, as: FVec.self)
                let s5 = raw.loadUnaligned(fromByteOffset: base &+ 5 &* vb, as: FVec.self)
                let p12 = s1 + s2, n12 = s1 - s2, p34 = s3 + s4, n34 = s3 - s4
                let dst = plane + (oy &* g.wo &+ x0)
                let res = resPlane.map { $0 + (oy &* g.wo &+ x0) }
                let terms = (s0, p12, n12, p34, n34, s5)
                storeWinogradPixels(winogradPixels(terms, k, b, 0), dst, res, valid, activation)
                if valid > vw {
                    storeWinogradPixels(winogradPixels(terms, k, b, 1), dst + vw, res.map { $0 + vw }, valid &- vw,
                                        activation)
                }
                if valid > 2 &* vw {
                    storeWinogradPixels(winogradPixels(terms, k, b, 2), dst + 2 &* vw, res.map { $0 + 2 &* vw },
                                        valid &- 2 &* vw, activation)
                }
                if valid > 3 &* vw {
                    storeWinogradPixels(winogradPixels(terms, k, b, 3), dst + 3 &* vw, res.map { $0 + 3 &* vw },
                                        valid &- 3 &* vw, activation)
                }
            }
            t &+= count
        }
    }
}

/// Lanes j of pixel vector c take lane c·vectorWidth/4 + j/4 of s: one single-source permute.
@inline(__always) func spreadLanes(_ s: FVec, _ c: Int) -> FVec {
    var r = FVec()
    for j in 0..<vectorWidth { r[j] = s[c &* (vectorWidth / 4) &+ j / 4] }
    return r
}

/// Pixel vector c of one output row: bias + Σ spread(term)·coefficients, terms (S0, S1+S2, S1−S2, S3+S4, S3−S4, S5).
@inline(__always) func winogradPixels(
    _ s: WinogradOutputCoefficients, _ k: WinogradOutputCoefficients, _ bias: FVec, _ c: Int
) -> FVec {
    var y = vfma(spreadLanes(s.s0, c), k.s0, bias)
    y = vfma(spreadLanes(s.p12, c), k.p12, y)
    y = vfma(spreadLanes(s.n12, c), k.n12, y)
    y = vfma(spreadLanes(s.p34, c), k.p34, y)
    y = vfma(spreadLanes(s.n34, c), k.n34, y)
    return vfma(spreadLanes(s.s5, c), k.s5, y)
}

/// A[k][b] repeated over the lanes of a pixel vector (lane j is column phase b = j mod 4), for the combinations
/// the output transform uses: S0, S1 ± S2, S3 ± S4, S5.
typealias WinogradOutputCoefficients = (s0: FVec, p12: FVec, n12: FVec, p34: FVec, n34: FVec, s5: FVec)

/// Writes the coefficient vectors to memory. Out of line on purpose: with constant vectors in sight, LLVM turns the
/// spread-and-multiply into scalar code lane by lane.
@inline(never) func writeWinogradOutputCoefficients(_ dst: UnsafeMutableRawPointer) {
    @inline(__always) func row(_ i: Int, _ c0: Float, _ c1: Float, _ c2: Float, _ c3: Float) {
        let p = (dst + i &* vectorWidth &* 4).assumingMemoryBound(to: Float.self)
        var j = 0
        while j < vectorWidth {
            p[j] = c0; p[j &+ 1] = c1; p[j &+ 2] = c2; p[j &+ 3] = c3
            j &+= 4
        }
    }
    row(0, 1, 0, 0, 0); row(1, 1, 0, 1, 0); row(2, 0, 1, 0, 1); row(3, 1, 0, 4, 0); row(4, 0, 2, 0, 8); row(5, 0, 0, 0, 1)
}

/// Stores the first `valid` (clamped to 0…vectorWidth) lanes of act(x) (+ residual): the epilogue of one output vector.
@inline(__always) func storeWinogradPixels(
    _ x: FVec, _ dst: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?, _ valid: Int, _ activation: Int
) {
    if valid <= 0 { return }
    var y = activate(x, activation)
    if valid >= vectorWidth {
        if let residual { y += UnsafeRawPointer(residual).loadUnaligned(as: FVec.self) }
        UnsafeMutableRawPointer(dst).storeBytes(of: y, as: FVec.self)
        return
    }
    if let residual {
        // A partial vector: the residual row may end right after its valid lanes, so it is read through a
        // zero-padded copy.
        var r = FVec()
        withUnsafeMutableBytes(of: &r) {
            sk_pad_row(residual, valid, $0.baseAddress!.assumingMemoryBound(to: Float.self), 0, vectorWidth)
        }
        y += r
    }
    storeFirst(y, dst, valid)
}
