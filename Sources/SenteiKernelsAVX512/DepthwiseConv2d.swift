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
/// plain loads and FMAs: no border cases, and a row's last partial vector is one masked store.
/// The items are walked channel by channel (one division per part, weights read once per row pass), two output
/// rows per pass sharing their common input rows: the per-row fixed cost, not the FMAs, dominated the small YOLO
/// maps (13 to 52 wide).
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
    let cacheSlots = 8
    // [zero row][8 cached rows][stride 2: the padded row before it is split]
    let total = rowFloats &* (1 &+ cacheSlots) &+ (strideW == 2 ? rowFloats : 0)
    // The cache's tags (channel·h + row of each slot) live in front of the floats, one cache line.
    // The thread's kernel scratch (a heap block per call was an allocation per layer per frame).
    let raw = threadScratch(64 &+ total &* 4)
    let tags = raw.assumingMemoryBound(to: Int.self)
    for slot in 0..<cacheSlots { tags[slot] = -1 }
    let scratch = (raw + 64).assumingMemoryBound(to: Float.self)
    sk_pad_row(scratch, 0, scratch, 0, rowFloats)
    let zeroRow = UnsafePointer(scratch)
    let slots = scratch + rowFloats
    let staging = slots + cacheSlots &* rowFloats

    /// Input row iy of channel c, zero-padded (and split for stride 2); out-of-image rows read zeros.
    @inline(__always) func paddedRow(_ c: Int, _ iy: Int) -> UnsafeRawPointer {
        if iy < 0 || iy >= h { return UnsafeRawPointer(zeroRow) }
        let key = c &* h &+ iy, slot = iy & 7
        let dst = slots + slot &* rowFloats
        if tags[slot] == key { return UnsafeRawPointer(dst) }
        tags[slot] = key
        let src = input + (c &* inputChannelStride &+ iy &* w)
        let row = strideW == 1 ? dst : staging
        // Columns of the padded row that hold input: [lo, hi) ↔ input [lo − padLeft, hi − padLeft).
        let lo = min(max(padLeft, 0), rowFloats), hi = min(max(padLeft &+ w, lo), rowFloats)
        sk_pad_row(src + (lo &- padLeft), hi &- lo, row, lo, rowFloats)
        if strideW == 2 { sk_deinterleave2(staging, dst, dst + half, half) }
        return UnsafeRawPointer(dst)
    }

    var item = items.lowerBound
    var c = item / ho, oy = item % ho
    while item < items.upperBound {
        let rows = min(ho &- oy, items.upperBound &- item)
        let taps = weights + c &* 9
        let bv = bias?[c] ?? 0
        let plane = output + c &* outputChannelStride
        let end = oy &+ rows
        // Rows are stored raw and activated in runs of consecutive rows (contiguous in the output plane) while
        // they are still in L1: whole vectors of independent work instead of a dependent chain after every FMA
        // block (measured faster than activating in registers, and it keeps the row loops small).
        var runStart = oy
        while oy < end {
            if (oy &- runStart) &* wo >= 2048 {
                activateRow(plane + runStart &* wo, (oy &- runStart) &* wo, activation)
                runStart = oy
            }
            let iy0 = oy &* strideH &- padTop
            let dst = plane + oy &* wo
            let r0 = paddedRow(c, iy0), r1 = paddedRow(c, iy0 &+ 1), r2 = paddedRow(c, iy0 &+ 2)
            if strideW == 1 && strideH == 1 && oy &+ 1 < end {
                // Two rows share the middle two input rows: 12 loads for 18 FMAs.
                let r3 = paddedRow(c, iy0 &+ 3)
                depthwise3x3RowPair(r0, r0 + 4, r0 + 8, r1, r1 + 4, r1 + 8, r2, r2 + 4, r2 + 8, r3, r3 + 4, r3 + 8,
                                    taps, bias: bv, dst: dst, dst2: dst + wo, wo: wo)
                oy &+= 2
                continue
            }
            if strideW == 2 && strideH == 2 && oy &+ 1 < end {
                // Stride 2: the second row starts two input rows lower and shares one of them.
                let r3 = paddedRow(c, iy0 &+ 3), r4 = paddedRow(c, iy0 &+ 4)
                let odd = half &* 4
                depthwise3x3RowPairStride2(r0, r0 + odd, r0 + 4, r1, r1 + odd, r1 + 4, r2, r2 + odd, r2 + 4,
                                           r3, r3 + odd, r3 + 4, r4, r4 + odd, r4 + 4, taps, bias: bv, dst: dst,
                                           dst2: dst + wo, wo: wo)
                oy &+= 2
                continue
            }
            if strideW == 1 {
                depthwise3x3RowVectors(r0, r0 + 4, r0 + 8, r1, r1 + 4, r1 + 8, r2, r2 + 4, r2 + 8, taps, bias: bv,
                                       dst: dst, wo: wo)
            } else {
                // Stride 2 reads even[ox], odd[ox] (half floats further) and even[ox+1].
                let odd = half &* 4
                depthwise3x3RowVectors(r0, r0 + odd, r0 + 4, r1, r1 + odd, r1 + 4, r2, r2 + odd, r2 + 4, taps,
                                       bias: bv, dst: dst, wo: wo)
            }
            oy &+= 1
        }
        activateRow(plane + runStart &* wo, (end &- runStart) &* wo, activation)
        item &+= rows
        c &+= 1
        oy = 0
    }
}

/// One output row of a 3×3 depthwise conv from nine tap rows (tap k of output ox at tk + ox floats), with bias and
/// without activation, in whole vectors; the last partial vector is a masked store.
@inline(__always) func depthwise3x3RowVectors(
    _ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer, _ t2: UnsafeRawPointer, _ t3: UnsafeRawPointer,
    _ t4: UnsafeRawPointer, _ t5: UnsafeRawPointer, _ t6: UnsafeRawPointer, _ t7: UnsafeRawPointer,
    _ t8: UnsafeRawPointer, _ taps: UnsafePointer<Float>, bias: Float, dst: UnsafeMutablePointer<Float>, wo: Int
) {
    // Weights and bias arrive as scalars and are broadcast here: a tuple of nine vectors passed to a function the
    // compiler did not inline cost more than the row's FMAs (it went through the stack in 128-bit pieces).
    let w = depthwiseTaps(taps), bias = FVec(repeating: bias)
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
            storeFirst(a, dst + ox, wo &- ox)
        }
        ox &+= vw
    }
}

/// Two consecutive stride-1 output rows (dst, dst2) from four zero-padded input rows, each given at its three
/// tap offsets (rK, rK + 1 float, rK + 2 floats): input rows 1 and 2 feed both outputs, so each of their vectors is
/// loaded once for both. The shifted pointers are separate arguments on purpose: loads through one pointer at
/// offsets 0, 4 and 8 bytes let LLVM see the overlap and rebuild them from 128-bit pieces and shuffles.
@inline(__always) func depthwise3x3RowPair(
    _ x0: UnsafeRawPointer, _ x1: UnsafeRawPointer, _ x2: UnsafeRawPointer,
    _ y0: UnsafeRawPointer, _ y1: UnsafeRawPointer, _ y2: UnsafeRawPointer,
    _ z0: UnsafeRawPointer, _ z1: UnsafeRawPointer, _ z2: UnsafeRawPointer,
    _ u0: UnsafeRawPointer, _ u1: UnsafeRawPointer, _ u2: UnsafeRawPointer,
    _ taps: UnsafePointer<Float>, bias: Float, dst: UnsafeMutablePointer<Float>, dst2: UnsafeMutablePointer<Float>,
    wo: Int
) {
    let w = depthwiseTaps(taps), bias = FVec(repeating: bias)
    let vw = vectorWidth
    let out = UnsafeMutableRawPointer(dst), out2 = UnsafeMutableRawPointer(dst2)
    var ox = 0
    while ox < wo {
        let b = ox &* 4
        // Middle rows first: each loaded vector feeds one FMA of each output row.
        let m0 = y0.loadUnaligned(fromByteOffset: b, as: FVec.self)
        let m1 = y1.loadUnaligned(fromByteOffset: b, as: FVec.self)
        let m2 = y2.loadUnaligned(fromByteOffset: b, as: FVec.self)
        var a0 = vfma(w.3, m0, bias)
        var a1 = w.4 * m1
        a0 = vfma(w.5, m2, a0)
        var c0 = vfma(w.0, m0, bias)
        var c1 = w.1 * m1
        c0 = vfma(w.2, m2, c0)
        let n0 = z0.loadUnaligned(fromByteOffset: b, as: FVec.self)
        let n1 = z1.loadUnaligned(fromByteOffset: b, as: FVec.self)
        let n2 = z2.loadUnaligned(fromByteOffset: b, as: FVec.self)
        a1 = vfma(w.6, n0, a1)
        a0 = vfma(w.7, n1, a0)
        a1 = vfma(w.8, n2, a1)
        c1 = vfma(w.3, n0, c1)
        c0 = vfma(w.4, n1, c0)
        c1 = vfma(w.5, n2, c1)
        a0 = vfma(w.0, x0.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        a1 = vfma(w.1, x1.loadUnaligned(fromByteOffset: b, as: FVec.self), a1)
        a0 = vfma(w.2, x2.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        c1 = vfma(w.6, u0.loadUnaligned(fromByteOffset: b, as: FVec.self), c1)
        c0 = vfma(w.7, u1.loadUnaligned(fromByteOffset: b, as: FVec.self), c0)
        c1 = vfma(w.8, u2.loadUnaligned(fromByteOffset: b, as: FVec.self), c1)
        let p = a0 + a1, q = c0 + c1
        if ox &+ vw <= wo {
            out.storeBytes(of: p, toByteOffset: b, as: FVec.self)
            out2.storeBytes(of: q, toByteOffset: b, as: FVec.self)
        } else {
            storeFirst(p, dst + ox, wo &- ox)
            storeFirst(q, dst2 + ox, wo &- ox)
        }
        ox &+= vw
    }
}

/// Two consecutive stride-2 output rows (dst, dst2) from five padded, even/odd-split input rows, each given as
/// (even, odd, even shifted by one): row 2 is the last tap row of the first output and the first of the second.
@inline(__always) func depthwise3x3RowPairStride2(
    _ e0: UnsafeRawPointer, _ o0: UnsafeRawPointer, _ s0: UnsafeRawPointer,
    _ e1: UnsafeRawPointer, _ o1: UnsafeRawPointer, _ s1: UnsafeRawPointer,
    _ e2: UnsafeRawPointer, _ o2: UnsafeRawPointer, _ s2: UnsafeRawPointer,
    _ e3: UnsafeRawPointer, _ o3: UnsafeRawPointer, _ s3: UnsafeRawPointer,
    _ e4: UnsafeRawPointer, _ o4: UnsafeRawPointer, _ s4: UnsafeRawPointer,
    _ taps: UnsafePointer<Float>, bias: Float, dst: UnsafeMutablePointer<Float>, dst2: UnsafeMutablePointer<Float>,
    wo: Int
) {
    let w = depthwiseTaps(taps), bias = FVec(repeating: bias)
    let vw = vectorWidth
    let out = UnsafeMutableRawPointer(dst), out2 = UnsafeMutableRawPointer(dst2)
    var ox = 0
    while ox < wo {
        let b = ox &* 4
        let m0 = e2.loadUnaligned(fromByteOffset: b, as: FVec.self)
        let m1 = o2.loadUnaligned(fromByteOffset: b, as: FVec.self)
        let m2 = s2.loadUnaligned(fromByteOffset: b, as: FVec.self)
        var a0 = vfma(w.6, m0, bias)
        var a1 = w.7 * m1
        a0 = vfma(w.8, m2, a0)
        var c0 = vfma(w.0, m0, bias)
        var c1 = w.1 * m1
        c0 = vfma(w.2, m2, c0)
        a1 = vfma(w.0, e0.loadUnaligned(fromByteOffset: b, as: FVec.self), a1)
        a0 = vfma(w.1, o0.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        a1 = vfma(w.2, s0.loadUnaligned(fromByteOffset: b, as: FVec.self), a1)
        c1 = vfma(w.3, e3.loadUnaligned(fromByteOffset: b, as: FVec.self), c1)
        c0 = vfma(w.4, o3.loadUnaligned(fromByteOffset: b, as: FVec.self), c0)
        c1 = vfma(w.5, s3.loadUnaligned(fromByteOffset: b, as: FVec.self), c1)
        a0 = vfma(w.3, e1.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        a1 = vfma(w.4, o1.loadUnaligned(fromByteOffset: b, as: FVec.self), a1)
        a0 = vfma(w.5, s1.loadUnaligned(fromByteOffset: b, as: FVec.self), a0)
        c0 = vfma(w.6, e4.loadUnaligned(fromByteOffset: b, as: FVec.self), c0)
        c1 = vfma(w.7, o4.loadUnaligned(fromByteOffset: b, as: FVec.self), c1)
        c0 = vfma(w.8, s4.loadUnaligned(fromByteOffset: b, as: FVec.self), c0)
        let p = a0 + a1, q = c0 + c1
        if ox &+ vw <= wo {
            out.storeBytes(of: p, toByteOffset: b, as: FVec.self)
            out2.storeBytes(of: q, toByteOffset: b, as: FVec.self)
        } else {
            storeFirst(p, dst + ox, wo &- ox)
            storeFirst(q, dst2 + ox, wo &- ox)
        }
        ox &+= vw
    }
}

/// The nine 3×3 weights of one channel, each broadcast to a vector.
@inline(__always) func depthwiseTaps(_ t: UnsafePointer<Float>)
    -> (FVec, FVec, FVec, FVec, FVec, FVec, FVec, FVec, FVec)
{
    (FVec(repeating: t[0]), FVec(repeating: t[1]), FVec(repeating: t[2]), FVec(repeating: t[3]),
     FVec(repeating: t[4]), FVec(repeating: t[5]), FVec(repeating: t[6]), FVec(repeating: t[7]),
     FVec(repeating: t[8]))
}
