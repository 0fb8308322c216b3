import CSenteiKernels

#if canImport(Glibc)
import Glibc
#endif

// Depthwise convolution (groups == channels, one filter per channel). Work is split over (channel, output row)
// pairs so that few channels at a high resolution still share out evenly.

extension FloatKernels {
    /// out[c, oy, ox] = act(bias[c] + Σ w[c, ky·kw + kx] · in[c, oy·sh − padTop + ky·dh, ox·sw − padLeft + kx·dw]).
    /// Channel c of the input starts at input + c·inputChannelStride (h rows of w floats); of the output at
    /// output + c·outputChannelStride (Ho·Wo floats). Weights are [channels, kh·kw], unpacked.
    public static func depthwiseConv2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int,
        weights: UnsafePointer<Float>, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        dilationH: Int, dilationW: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, activation: Int, ith: Int, nth: Int
    ) {
        let ho = convOutputSize(input: h, kernel: kh, stride: strideH, padBegin: padTop, padEnd: padBottom,
                                dilation: dilationH)
        let wo = convOutputSize(input: w, kernel: kw, stride: strideW, padBegin: padLeft, padEnd: padRight,
                                dilation: dilationW)
        if ho <= 0 || wo <= 0 { return }
        let r = partRange(channels &* ho, ith, nth)
        if r.lo >= r.hi { return }
        if kh == 3 && kw == 3 && (strideW == 1 || strideW == 2) && dilationH == 1 && dilationW == 1 {
            depthwise3x3Rows(input: input, inputChannelStride: inputChannelStride, h: h, w: w, weights: weights,
                             strideH: strideH, strideW: strideW, padTop: padTop, padLeft: padLeft, output: output,
                             outputChannelStride: outputChannelStride, ho: ho, wo: wo, bias: bias,
                             activation: activation, items: r.lo..<r.hi)
            return
        }
        let taps = kh &* kw
        // Output columns whose every tap lands inside the row: ox·sw − padLeft ≥ 0 and
        // ox·sw − padLeft + (kw−1)·dw ≤ w − 1.
        let oxLo = min(wo, ceilDiv(padLeft, strideW))
        let rightRoom = w &- 1 &- (kw &- 1) &* dilationW &+ padLeft
        let oxHi = max(oxLo, min(wo, rightRoom < 0 ? 0 : rightRoom / strideW &+ 1))
        for item in r.lo..<r.hi {
            let c = item / ho, oy = item % ho
            let plane = input + c &* inputChannelStride
            let wc = weights + c &* taps
            let dst = output + (c &* outputChannelStride &+ oy &* wo)
            let b: Float = bias?[c] ?? 0
            let iy0 = oy &* strideH &- padTop
            // Border columns: full bounds checks.
            let edge = { (ox: Int) in
                var acc = b
                let ix0 = ox &* strideW &- padLeft
                for ky in 0..<kh {
                    let iy = iy0 &+ ky &* dilationH
                    if iy < 0 || iy >= h { continue }
                    for kx in 0..<kw {
                        let ix = ix0 &+ kx &* dilationW
                        if ix >= 0 && ix < w { acc += wc[ky &* kw &+ kx] * plane[iy &* w &+ ix] }
                    }
                }
                dst[ox] = acc
            }
            // Rows are accumulated raw; the activation runs once over the finished row, in vectors.
            defer { activateRow(dst, wo, activation) }
            for ox in 0..<oxLo { edge(ox) }
            for ox in oxHi..<wo { edge(ox) }
            if oxLo >= oxHi { continue }
            depthwiseInterior(plane: plane, h: h, w: w, iy0: iy0, wc: wc, kh: kh, kw: kw, strideW: strideW,
                              dilationH: dilationH, dilationW: dilationW, padLeft: padLeft, bias: b, dst: dst,
                              ox0: oxLo, ox1: oxHi, activation: ActivationCode.none)
        }
    }
}

/// Interior of one output row for any kernel: every tap is inside the row, so only rows need checks.
/// Stride 1 along x is vectorised across ox; other strides run lane by lane.
@inline(__always) func depthwiseInterior(
    plane: UnsafePointer<Float>, h: Int, w: Int, iy0: Int, wc: UnsafePointer<Float>, kh: Int, kw: Int,
    strideW: Int, dilationH: Int, dilationW: Int, padLeft: Int, bias: Float, dst: UnsafeMutablePointer<Float>,
    ox0: Int, ox1: Int, activation: Int
) {
    var ox = ox0
    if strideW == 1 {
        let out = UnsafeMutableRawPointer(dst)
        while ox &+ vectorWidth <= ox1 {
            var acc = FVec(repeating: bias)
            for ky in 0..<kh {
                let iy = iy0 &+ ky &* dilationH
                if iy < 0 || iy >= h { continue }
                let src = UnsafeRawPointer(plane + (iy &* w &+ ox &- padLeft))
                for kx in 0..<kw {
                    let v = src.loadUnaligned(fromByteOffset: kx &* dilationW &* 4, as: FVec.self)
                    acc = vfma(FVec(repeating: wc[ky &* kw &+ kx]), v, acc)
                }
            }
            out.storeBytes(of: activate(acc, activation), toByteOffset: ox &* 4, as: FVec.self)
            ox &+= vectorWidth
        }
    }
    while ox < ox1 {
        var acc = bias
        let ix0 = ox &* strideW &- padLeft
        for ky in 0..<kh {
            let iy = iy0 &+ ky &* dilationH
            if iy < 0 || iy >= h { continue }
            let src = plane + (iy &* w &+ ix0)
            let wr = wc + ky &* kw
            for kx in 0..<kw { acc += wr[kx] * src[kx &* dilationW] }
        }
        dst[ox] = activateScalar(acc, activation)
        ox &+= 1
    }
}

/// 3×3, dilation-1 depthwise rows with stride 1 or 2 along x (any stride along y, any pads) for the (channel,
/// output row) items of one part. Input rows are zero-padded once into a small cache (stride 2: split into even
/// and odd columns), so a row shared by consecutive output rows is prepared once and every output vector is nine
/// plain loads and FMAs with the bias and activation applied in registers: no border cases and no scalar tails.
@inline(__always) func depthwise3x3Rows(
    input: UnsafePointer<Float>, inputChannelStride: Int, h: Int, w: Int, weights: UnsafePointer<Float>,
    strideH: Int, strideW: Int, padTop: Int, padLeft: Int, output: UnsafeMutablePointer<Float>,
    outputChannelStride: Int, ho: Int, wo: Int, bias: UnsafePointer<Float>?, activation: Int, items: Range<Int>
) {
    let vw = vectorWidth
    let outLanes = ceilDiv(wo, vw) &* vw
    // Output ox (< outLanes) reads padded[ox·sw + 0…2]; stride 2 reads even[ox], odd[ox], even[ox+1].
    let half = outLanes &+ vw
    let rowFloats = strideW == 1 ? half : 2 &* half
    let cacheSlots = 4
    // [zero row][4 cached rows][one output vector][stride 2: the padded row before it is split]
    let total = rowFloats &* (1 &+ cacheSlots) &+ vw &+ (strideW == 2 ? rowFloats : 0)
    // The cache's tags (channel·h + row of each slot) live in front of the floats, one cache line.
    // The thread's kernel scratch (a heap block per call was an allocation per layer per frame).
    do {
        let raw = threadScratch(64 &+ total &* 4)
        let tags = raw.assumingMemoryBound(to: Int.self)
        for slot in 0..<cacheSlots { tags[slot] = -1 }
        let scratch = (raw + 64).assumingMemoryBound(to: Float.self)
        sk_pad_row(scratch, 0, scratch, 0, rowFloats)
        let zeroRow = UnsafePointer(scratch)
        let slots = scratch + rowFloats
        let tail = slots + cacheSlots &* rowFloats
        let staging = tail + vw

        /// Input row iy of channel c, zero-padded (and split for stride 2); out-of-image rows read zeros.
        @inline(__always) func paddedRow(_ c: Int, _ iy: Int) -> UnsafePointer<Float> {
            if iy < 0 || iy >= h { return zeroRow }
            let key = c &* h &+ iy, slot = iy & 3
            let dst = slots + slot &* rowFloats
            if tags[slot] == key { return UnsafePointer(dst) }
            tags[slot] = key
            let src = input + (c &* inputChannelStride &+ iy &* w)
            let row = strideW == 1 ? dst : staging
            // Columns of the padded row that hold input: [lo, hi) ↔ input [lo − padLeft, hi − padLeft).
            let lo = min(max(padLeft, 0), rowFloats), hi = min(max(padLeft &+ w, lo), rowFloats)
            sk_pad_row(src + (lo &- padLeft), hi &- lo, row, lo, rowFloats)
            if strideW == 2 { sk_deinterleave2(staging, dst, dst + half, half) }
            return UnsafePointer(dst)
        }

        // Rows are stored raw and activated in runs of consecutive rows (contiguous in the output plane) while
        // they are still in L1: the activation then has whole vectors of independent work instead of one short
        // dependent chain after every row's convolution.
        var runStart = output, runCount = 0
        for item in items {
            let c = item / ho, oy = item % ho
            let iy0 = oy &* strideH &- padTop
            let rows = (UnsafeRawPointer(paddedRow(c, iy0)), UnsafeRawPointer(paddedRow(c, iy0 &+ 1)),
                        UnsafeRawPointer(paddedRow(c, iy0 &+ 2)))
            let wc = weights + c &* 9
            let w0 = FVec(repeating: wc[0]), w1 = FVec(repeating: wc[1]), w2 = FVec(repeating: wc[2])
            let w3 = FVec(repeating: wc[3]), w4 = FVec(repeating: wc[4]), w5 = FVec(repeating: wc[5])
            let w6 = FVec(repeating: wc[6]), w7 = FVec(repeating: wc[7]), w8 = FVec(repeating: wc[8])
            let bv = FVec(repeating: bias?[c] ?? 0)
            let dst = output + (c &* outputChannelStride &+ oy &* wo)
            if dst != runStart + runCount || runCount >= 2048 {
                activateRow(runStart, runCount, activation)
                runStart = dst
                runCount = 0
            }
            runCount &+= wo
            let weights9 = (w0, w1, w2, w3, w4, w5, w6, w7, w8)
            if strideW == 1 {
                depthwise3x3RowVectors(rows.0, rows.0 + 4, rows.0 + 8, rows.1, rows.1 + 4, rows.1 + 8, rows.2,
                                       rows.2 + 4, rows.2 + 8, weights9, bias: bv, dst: dst, wo: wo, tail: tail)
            } else {
                // Stride 2 reads even[ox], odd[ox] (half floats further) and even[ox+1].
                let odd = half &* 4
                depthwise3x3RowVectors(rows.0, rows.0 + odd, rows.0 + 4, rows.1, rows.1 + odd, rows.1 + 4, rows.2,
                                       rows.2 + odd, rows.2 + 4, weights9, bias: bv, dst: dst, wo: wo, tail: tail)
            }
        }
        activateRow(runStart, runCount, activation)
    }
}

/// One output row of a 3×3 depthwise conv from nine tap rows (tap k of output ox at tk + ox floats), raw (no
/// activation), in whole vectors; the last partial vector goes through `tail`.
@inline(__always) func depthwise3x3RowVectors(
    _ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer, _ t2: UnsafeRawPointer, _ t3: UnsafeRawPointer,
    _ t4: UnsafeRawPointer, _ t5: UnsafeRawPointer, _ t6: UnsafeRawPointer, _ t7: UnsafeRawPointer,
    _ t8: UnsafeRawPointer, _ w: (FVec, FVec, FVec, FVec, FVec, FVec, FVec, FVec, FVec), bias: FVec,
    dst: UnsafeMutablePointer<Float>, wo: Int, tail: UnsafeMutablePointer<Float>
) {
    let vw = vectorWidth
    let out = UnsafeMutableRawPointer(dst)
    var ox = 0
    while ox < wo {
        let b = ox &* 4
        // Three partial sums: a chain of three FMAs each instead of nine.
        var a0 = vfma(w.0, t0.loadUnaligned(fromByteOffset: b, as: FVec.self), bias)
        var a1 = w.3 * t3.loadUnaligned(fromByteOffset: b, as: FVec.self)
        var a2 = w.6 * t6.loadUnaligned(fromByteOffset: b, as: FVec.self)
        a0 = vfma(w.1, t1.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        a1 = vfma(w.4, t4.loadUnaligned(fromByteOffset: b, as: FVec.self), a1)
        a2 = vfma(w.7, t7.loadUnaligned(fromByteOffset: b, as: FVec.self), a2)
        a0 = vfma(w.2, t2.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        a1 = vfma(w.5, t5.loadUnaligned(fromByteOffset: b, as: FVec.self), a1)
        a2 = vfma(w.8, t8.loadUnaligned(fromByteOffset: b, as: FVec.self), a2)
        let a = a0 + a1 + a2
        if ox &+ vw <= wo {
            out.storeBytes(of: a, toByteOffset: b, as: FVec.self)
        } else {
            UnsafeMutableRawPointer(tail).storeBytes(of: a, toByteOffset: 0, as: FVec.self)
            sk_pad_row(tail, wo &- ox, dst + ox, 0, wo &- ox)
        }
        ox &+= vw
    }
}
