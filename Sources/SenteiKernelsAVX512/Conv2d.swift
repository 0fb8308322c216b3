import CSenteiKernels

// Grouped-1 convolution as GEMM over column strips of NR output pixels, one strip at a time per part, so scratch
// stays at about K·NR floats (K = Cin·kh·kw) whatever the image size. Two ways to build a strip's B:
// - staged (output rows at least NR wide): the strip lies in one output row; for each (ci, ky) the input row
//   segment it needs is copied once, zero-padded and split into stride phases, and the microkernel reads tap
//   (ci, ky, kx) at a fixed offset into it. That copies kw× less than im2col, which dominates when Cout is small.
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

    /// Scratch floats each part needs for `conv2d`: one K×NR strip plus K row offsets.
    public static func conv2dScratchCount(cin: Int, kh: Int, kw: Int) -> Int {
        let k = cin &* kh &* kw
        return k &* microVectors &* vectorWidth &+ k
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
        // Staging: phase p of row (ci, ky) holds input[ix0 + p + t·sw] for t < phaseLen.
        let phaseLen = nr &+ (kw &- 1) &* dilationW / strideW
        let stageRow = strideW &* phaseLen
        if wo >= nr && stageRow <= kw &* nr {
            let stripsPerRow = ceilDiv(wo, nr)
            let ts = splitTiles(panels: ceilDiv(cout, mr), strips: ho &* stripsPerRow, ith: ith, nth: nth)
            if ts.p0 >= ts.p1 || ts.s0 >= ts.s1 { return }
            let stage = scratch
            let offsets = UnsafeMutableRawPointer(scratch + k &* nr).assumingMemoryBound(to: Int32.self)
            for g in 0..<(cin &* kh) {
                for kx in 0..<kw {
                    let tap = kx &* dilationW
                    offsets[g &* kw &+ kx] = Int32(g &* stageRow &+ (tap % strideW) &* phaseLen &+ tap / strideW)
                }
            }
            for s in ts.s0..<ts.s1 {
                let oy = s / stripsPerRow, j = s % stripsPerRow
                // The last strip of a row uses the narrowest kernel that covers it, shifted left to end at wo:
                // always whole vectors, overlap not stored twice.
                let vectors = min(microVectors, ceilDiv(wo &- j &* nr, vectorWidth))
                let ox0 = min(j &* nr, wo &- vectors &* vectorWidth)
                stageStrip(input, channelStride: inputChannelStride, cin: cin, h: h, w: w, kh: kh, strideH: strideH,
                           strideW: strideW, padTop: padTop, dilationH: dilationH, oy: oy,
                           ix0: ox0 &* strideW &- padLeft, phaseLen: phaseLen, stage: stage)
                let n0 = oy &* wo &+ ox0
                for p in ts.p0..<ts.p1 {
                    let row0 = p &* mr
                    microTileIndirect(vectors: vectors, k: k, a: packedWeights + row0 &* k, b: stage,
                                      rowOffsets: offsets, c: output + (row0 &* outputChannelStride &+ n0),
                                      ldc: outputChannelStride, rows: min(mr, cout &- row0), colFrom: j &* nr &- ox0,
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
            for p in t.p0..<t.p1 {
                let row0 = p &* mr
                microTile(vectors: ceilDiv(cols, vectorWidth), k: k, a: packedWeights + row0 &* k, b: scratch, ldb: nr,
                          c: output + (row0 &* outputChannelStride &+ n0), ldc: outputChannelStride,
                          rows: min(mr, cout &- row0), colFrom: 0, colTo: cols,
                          epilogue: offsetEpilogue(epilogue, row: row0, col: n0))
            }
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

/// Copies, for every (ci, ky), the input row segment one output-row strip needs: stage[(ci·kh + ky)·sw·phaseLen +
/// p·phaseLen + t] = input[ci][iy][ix0 + p + t·sw], zero outside the image.
@inline(__always) func stageStrip(
    _ input: UnsafePointer<Float>, channelStride: Int, cin: Int, h: Int, w: Int, kh: Int, strideH: Int,
    strideW: Int, padTop: Int, dilationH: Int, oy: Int, ix0: Int, phaseLen: Int, stage: UnsafeMutablePointer<Float>
) {
    let sw = strideW
    let stageRow = sw &* phaseLen
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
        var dst = stage
        for ci in 0..<cin {
            let plane = input + ci &* channelStride
            for ky in 0..<kh {
                let iy = oy &* strideH &- padTop &+ ky &* dilationH
                let even = dst, odd = dst + phaseLen
                if iy < 0 || iy >= h {
                    for t in 0..<stageRow { dst[t] = 0 }
                } else {
                    let src = plane + (iy &* w &+ ix0)
                    for t in 0..<lo {
                        even[t] = t >= b0.lo && t < b0.hi ? src[2 &* t] : 0
                        odd[t] = t >= b1.lo && t < b1.hi ? src[2 &* t &+ 1] : 0
                    }
                    sk_deinterleave2(src + 2 &* lo, even + lo, odd + lo, hi &- lo)
                    for t in hi..<phaseLen {
                        even[t] = t >= b0.lo && t < b0.hi ? src[2 &* t] : 0
                        odd[t] = t >= b1.lo && t < b1.hi ? src[2 &* t &+ 1] : 0
                    }
                }
                dst += stageRow
            }
        }
        return
    }
    for p in 0..<sw {
        let (t0, t1) = bounds(p)
        let first = ix0 &+ p
        var dst = stage + p &* phaseLen
        for ci in 0..<cin {
            let plane = input + ci &* channelStride
            for ky in 0..<kh {
                let iy = oy &* strideH &- padTop &+ ky &* dilationH
                if iy < 0 || iy >= h {
                    for t in 0..<phaseLen { dst[t] = 0 }
                } else {
                    let src = plane + (iy &* w &+ first)
                    for t in 0..<t0 { dst[t] = 0 }
                    if sw == 1 {
                        for t in t0..<t1 { dst[t] = src[t] }
                    } else {
                        for t in t0..<t1 { dst[t] = src[t &* sw] }
                    }
                    for t in t1..<phaseLen { dst[t] = 0 }
                }
                dst += stageRow
            }
        }
    }
}
