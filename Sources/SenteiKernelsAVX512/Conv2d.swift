import CSenteiKernels

// Grouped-1 convolution as GEMM over column strips of NR output pixels, one strip at a time per part, so scratch
// stays at about K·NR floats (K = Cin·kh·kw) whatever the image size. Two ways to build a strip's B:
// - staged (output rows at least NR wide): the strip lies in one output row; each input row the part reads is
//   copied once, zero-padded and split into stride phases, into a ring that every strip and output row reading it
//   shares, and the microkernel reads tap (ci, ky, kx) at an offset into it. That copies kw× less than im2col, which
//   dominates when Cout is small, and (kh / strideH)× less than staging per strip (YOLOX's 6×6/s2 stem: 3×;
//   fp32 stem step 1.59 → 1.29–1.33 ms on one thread).
// - im2col (narrow outputs, or shapes whose staging would not fit): the K×NR panel is gathered element-wise and
//   strips may span several output rows.

extension FloatKernels {
    /// Output length along one axis: floor((in + padBegin + padEnd − dilation·(kernel−1) − 1) / stride) + 1.
    /// ONNX ceil_mode is expressed by the caller as extra end padding.
    public static func convOutputSize(input: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int)
        -> Int
    {
        (input &+ padBegin &+ padEnd &- dilation &* (kernel &- 1) &- 1) / stride &+ 1
    }

    /// Scratch floats each part needs for `conv2d`: one K×NR im2col panel (the staged path's row ring depends on the
    /// width and lives in the thread's kernel scratch).
    public static func conv2dScratchCount(cin: Int, kh: Int, kw: Int) -> Int {
        cin &* kh &* kw &* microVectors &* vectorWidth
    }

    /// out[co, oy, ox] = epilogue(Σ w[co, ci, ky, kx] · in[ci, oy·sh − padTop + ky·dh, ox·sw − padLeft + kx·dw]).
    /// Input channel ci starts at input + ci·inputChannelStride (rows of w floats, h rows); output channel co at
    /// output + co·outputChannelStride (Ho·Wo floats); the residual likewise with residualChannelStride. Weights
    /// are packed by `packWeights(m: cout, k: cin·kh·kw)`. `scratch` is this part's own
    /// `conv2dScratchCount` floats.
    public static func conv2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, cin: Int, h: Int, w: Int,
        packedWeights: UnsafePointer<Float>, cout: Int, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        dilationH: Int, dilationW: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, residualChannelStride: Int, activation: Int,
        scratch: UnsafeMutablePointer<Float>, ith: Int, nth: Int
    ) {
        let ho = convOutputSize(input: h, kernel: kh, stride: strideH, padBegin: padTop, padEnd: padBottom,
                                dilation: dilationH)
        let wo = convOutputSize(input: w, kernel: kw, stride: strideW, padBegin: padLeft, padEnd: padRight,
                                dilation: dilationW)
        if ho <= 0 || wo <= 0 || cout <= 0 { return }
        let k = cin &* kh &* kw
        if kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0
            && padRight == 0
        {
            // A 1×1 convolution is a plain GEMM over the input rows: no gather needed.
            gemm(m: cout, n: h &* w, k: cin, packedA: packedWeights, b: input, ldb: inputChannelStride,
                 c: output, ldc: outputChannelStride, bias: bias, residual: residual, ldr: residualChannelStride,
                 activation: activation, ith: ith, nth: nth)
            return
        }
        let mr = microRows, nr = microVectors &* vectorWidth
        let n = ho &* wo
        let epilogue = (bias: bias, residual: residual, ldr: residualChannelStride, activation: activation)
        // Staging pays where a strip's staged rows (stride phases of nr + taps floats each) are no longer than its
        // im2col rows (kw·nr floats per (ci, ky)).
        let stageRow = strideW &* (nr &+ (kw &- 1) &* dilationW / strideW)
        if wo >= nr && stageRow <= kw &* nr {
            // Each output row in strips (`stripSpan`: YOLOX's stem rows, 13 vectors of 208 columns, as 3+3+3+2+2).
            let stripsPerRow = ceilDiv(wo, nr)
            let ts = splitTiles(panels: ceilDiv(cout, mr), strips: ho &* stripsPerRow, ith: ith, nth: nth)
            if ts.p0 >= ts.p1 || ts.s0 >= ts.s1 { return }
            // Whole input rows are staged (phases split) into a ring, once each: every strip of an output row reads
            // the same rows, and the next output row shares all but strideH of its kh rows (the stride-2 6×6 stem:
            // each input row staged once instead of three times per strip). Slot ci·span + iy mod span: the rows of
            // one output row's window are distinct modulo its span.
            let span = (kh &- 1) &* dilationH &+ 1
            let rowPhase = wo &+ (kw &- 1) &* dilationW / strideW
            let ringRow = strideW &* rowPhase
            let slots = cin &* span
            let ringBytes: Int = slots &* ringRow &* 4
            let offsetBytes: Int = k &* 4
            let raw = threadScratch(ringBytes &+ offsetBytes &+ slots &* 8 &+ kw &* 4)
            let ring = raw.assumingMemoryBound(to: Float.self)
            let offsets = (raw + ringBytes).assumingMemoryBound(to: Int32.self)
            let tags = (raw + (ringBytes &+ offsetBytes)).assumingMemoryBound(to: Int.self)
            let tapOffsets = (raw + (ringBytes &+ offsetBytes &+ slots &* 8)).assumingMemoryBound(to: Int32.self)
            for slot in 0..<slots { tags[slot] = Int.min }
            // Where tap kx sits in a staged row (its phase's start plus its index in the phase), once per call: these
            // divisions by the stride ran for every output row.
            for kx in 0..<kw {
                let tap = kx &* dilationW
                tapOffsets[kx] = Int32((tap % strideW) &* rowPhase &+ tap / strideW)
            }
            var stagedRow = -1
            for s in ts.s0..<ts.s1 {
                let oy = s / stripsPerRow, j = s % stripsPerRow
                if oy != stagedRow {
                    stagedRow = oy
                    for ci in 0..<cin {
                        for ky in 0..<kh {
                            let iy = oy &* strideH &- padTop &+ ky &* dilationH
                            let slot = ci &* span &+ ((iy % span) &+ span) % span
                            if tags[slot] != iy {
                                tags[slot] = iy
                                stageInputRow(input + ci &* inputChannelStride, h: h, w: w, iy: iy, strideW: strideW,
                                              ix0: -padLeft, phaseLen: rowPhase, stage: ring + slot &* ringRow)
                            }
                            let rowStart = Int32(slot &* ringRow), first = (ci &* kh &+ ky) &* kw
                            for kx in 0..<kw { offsets[first &+ kx] = rowStart &+ tapOffsets[kx] }
                        }
                    }
                }
                let (start, ox0, vectors) = stripSpan(j, strips: stripsPerRow, n: wo)
                let n0 = oy &* wo &+ ox0
                for p in ts.p0..<ts.p1 {
                    let row0 = p &* mr
                    microTileIndirect(vectors: vectors, k: k, a: packedWeights + row0 &* k, b: ring + ox0,
                                      rowOffsets: offsets, c: output + (row0 &* outputChannelStride &+ n0),
                                      ldc: outputChannelStride, rows: min(mr, cout &- row0), colFrom: start &- ox0,
                                      colTo: vectors &* vectorWidth,
                                      epilogue: offsetEpilogue(epilogue, row: row0, col: n0))
                }
            }
            return
        }
        let t = splitTiles(panels: ceilDiv(cout, mr), strips: ceilDiv(n, nr), ith: ith, nth: nth)
        if t.p0 >= t.p1 || t.s0 >= t.s1 { return }
        let geometry: Im2colGeometry = (
            cin: cin, h: h, w: w, channelStride: inputChannelStride, kh: kh, kw: kw, strideH: strideH,
            strideW: strideW, padTop: padTop, padLeft: padLeft, dilationH: dilationH, dilationW: dilationW, wo: wo)
        for s in t.s0..<t.s1 {
            let n0 = s &* nr
            let cols = min(nr, n &- n0)
            im2colStrip(input, geometry, n0: n0, cols: cols, panel: scratch, nr: nr)
            gemmStrip(vectors: ceilDiv(cols, vectorWidth), k: k, packedA: packedWeights, panels: t.p0..<t.p1, m: cout,
                      b: scratch, ldb: nr, c: output, ldc: outputChannelStride, start: n0, from: 0, to: cols,
                      epilogue: epilogue)
        }
    }
}

/// A tuple rather than a struct for the same reason as `Epilogue`.
typealias Im2colGeometry = (
    cin: Int, h: Int, w: Int, channelStride: Int, kh: Int, kw: Int, strideH: Int, strideW: Int, padTop: Int,
    padLeft: Int, dilationH: Int, dilationW: Int, wo: Int
)

/// Fills panel[r·nr + j] with the input value feeding output pixel n0+j for GEMM row r = (ci·kh + ky)·kw + kx;
/// zero for padding and for columns j ≥ cols.
@inline(__always) func im2colStrip(
    _ input: UnsafePointer<Float>, _ g: Im2colGeometry, n0: Int, cols: Int, panel: UnsafeMutablePointer<Float>, nr: Int
) {
    let oy0 = n0 / g.wo, ox0 = n0 % g.wo
    var row = panel
    for ci in 0..<g.cin {
        let plane = input + ci &* g.channelStride
        for ky in 0..<g.kh {
            for kx in 0..<g.kw {
                var j = 0, oy = oy0, ox = ox0
                while j < cols {
                    let run = min(g.wo &- ox, cols &- j)
                    let iy = oy &* g.strideH &- g.padTop &+ ky &* g.dilationH
                    let dst = row + j
                    if iy < 0 || iy >= g.h {
                        for t in 0..<run { dst[t] = 0 }
                    } else {
                        // ix = ixBase + t·sw; only t in t0..<t1 lands inside the row.
                        let ixBase = ox &* g.strideW &- g.padLeft &+ kx &* g.dilationW
                        let sw = g.strideW
                        let t0 = min(run, ixBase >= 0 ? 0 : (sw &- 1 &- ixBase) / sw)
                        let last = g.w &- 1 &- ixBase
                        let t1 = max(t0, min(run, last < 0 ? 0 : last / sw &+ 1))
                        for t in 0..<t0 { dst[t] = 0 }
                        let src = plane + (iy &* g.w &+ ixBase)
                        if sw == 1 {
                            for t in t0..<t1 { dst[t] = src[t] }
                        } else {
                            for t in t0..<t1 { dst[t] = src[t &* sw] }
                        }
                        for t in t1..<run { dst[t] = 0 }
                    }
                    j &+= run
                    ox = 0
                    oy &+= 1
                }
                for t in cols..<nr { row[t] = 0 }
                row += nr
            }
        }
    }
}

/// Stages input row iy of one channel plane split into its strideW phases: stage[p·phaseLen + t] =
/// plane[iy][ix0 + p + t·sw], zero outside the image (all zero when the row is outside it).
@inline(__always) func stageInputRow(
    _ plane: UnsafePointer<Float>, h: Int, w: Int, iy: Int, strideW: Int, ix0: Int, phaseLen: Int,
    stage: UnsafeMutablePointer<Float>
) {
    let sw = strideW
    if iy < 0 || iy >= h {
        for t in 0..<(sw &* phaseLen) { stage[t] = 0 }
        return
    }
    let src = plane + iy &* w
    // Phase p reads in-row only for t in lo(p)..<hi(p): 0 ≤ ix0 + p + t·sw ≤ w − 1.
    @inline(__always) func bounds(_ p: Int) -> (lo: Int, hi: Int) {
        let first = ix0 &+ p
        let lo = min(phaseLen, first >= 0 ? 0 : (sw &- 1 &- first) / sw)
        let last = w &- 1 &- first
        return (lo, max(lo, min(phaseLen, last < 0 ? 0 : last / sw &+ 1)))
    }
    if sw == 2 {
        // Both phases at once: the common in-row range is deinterleaved with vector shuffles.
        let b0 = bounds(0), b1 = bounds(1)
        let lo = max(b0.lo, b1.lo), hi = max(lo, min(b0.hi, b1.hi))
        let even = stage, odd = stage + phaseLen, row = src + ix0
        for t in 0..<lo {
            even[t] = t >= b0.lo && t < b0.hi ? row[2 &* t] : 0
            odd[t] = t >= b1.lo && t < b1.hi ? row[2 &* t &+ 1] : 0
        }
        sk_deinterleave2(row + 2 &* lo, even + lo, odd + lo, hi &- lo)
        for t in hi..<phaseLen {
            even[t] = t >= b0.lo && t < b0.hi ? row[2 &* t] : 0
            odd[t] = t >= b1.lo && t < b1.hi ? row[2 &* t &+ 1] : 0
        }
        return
    }
    for p in 0..<sw {
        let (t0, t1) = bounds(p)
        let dst = stage + p &* phaseLen, first = src + (ix0 &+ p)
        for t in 0..<t0 { dst[t] = 0 }
        if sw == 1 {
            for t in t0..<t1 { dst[t] = first[t] }
        } else {
            for t in t0..<t1 { dst[t] = first[t &* sw] }
        }
        for t in t1..<phaseLen { dst[t] = 0 }
    }
}
