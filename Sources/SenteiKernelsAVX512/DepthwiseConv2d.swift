import CSenteiKernels

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
            if kh == 3 && kw == 3 && strideW == 1 && dilationH == 1 && dilationW == 1 && wo <= 4096 {
                depthwiseRow3x3s1Padded(plane: plane, h: h, w: w, iy0: iy0, wc: wc, bias: b, dst: dst, wo: wo,
                                        padLeft: padLeft)
                activateRow(dst, wo, activation)
                continue
            }
            if kh == 3 && kw == 3 && strideW == 2 && dilationH == 1 && dilationW == 1 {
                depthwiseRow3x3s2(plane: plane, h: h, w: w, iy0: iy0, wc: wc, bias: b, dst: dst, wo: wo,
                                  padLeft: padLeft, activation: ActivationCode.none)
                activateRow(dst, wo, activation)
                continue
            }
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
            if kh == 3 && kw == 3 && strideW == 1 && dilationH == 1 && dilationW == 1 {
                depthwiseRow3x3s1(plane: plane, h: h, w: w, iy0: iy0, wc: wc, bias: b, dst: dst,
                                  ox0: oxLo, ox1: oxHi, padLeft: padLeft, activation: ActivationCode.none)
            } else {
                depthwiseInterior(plane: plane, h: h, w: w, iy0: iy0, wc: wc, kh: kh, kw: kw, strideW: strideW,
                                  dilationH: dilationH, dilationW: dilationW, padLeft: padLeft, bias: b, dst: dst,
                                  ox0: oxLo, ox1: oxHi, activation: ActivationCode.none)
            }
        }
    }
}

/// Interior of one output row for 3×3, stride-1-along-x, dilation 1 (any stride along y, any pad):
/// vectors across ox with the 9 weights held in registers.
@inline(__always) func depthwiseRow3x3s1(
    plane: UnsafePointer<Float>, h: Int, w: Int, iy0: Int, wc: UnsafePointer<Float>, bias: Float,
    dst: UnsafeMutablePointer<Float>, ox0: Int, ox1: Int, padLeft: Int, activation: Int
) {
    // Rows outside the image contribute nothing: point them at row 0 with zero weights.
    var rows = (plane, plane, plane)
    var wv = (FVec(), FVec(), FVec(), FVec(), FVec(), FVec(), FVec(), FVec(), FVec())
    var ws: (Float, Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    let valid0 = iy0 >= 0 && iy0 < h, valid1 = iy0 &+ 1 >= 0 && iy0 &+ 1 < h, valid2 = iy0 &+ 2 >= 0 && iy0 &+ 2 < h
    if valid0 { rows.0 = plane + iy0 &* w; ws.0 = wc[0]; ws.1 = wc[1]; ws.2 = wc[2] }
    if valid1 { rows.1 = plane + (iy0 &+ 1) &* w; ws.3 = wc[3]; ws.4 = wc[4]; ws.5 = wc[5] }
    if valid2 { rows.2 = plane + (iy0 &+ 2) &* w; ws.6 = wc[6]; ws.7 = wc[7]; ws.8 = wc[8] }
    wv = (FVec(repeating: ws.0), FVec(repeating: ws.1), FVec(repeating: ws.2), FVec(repeating: ws.3),
          FVec(repeating: ws.4), FVec(repeating: ws.5), FVec(repeating: ws.6), FVec(repeating: ws.7),
          FVec(repeating: ws.8))
    let bv = FVec(repeating: bias)
    var ox = ox0
    // Input column of output ox's first tap is ox − padLeft.
    let r0 = UnsafeRawPointer(rows.0 - padLeft), r1 = UnsafeRawPointer(rows.1 - padLeft)
    let r2 = UnsafeRawPointer(rows.2 - padLeft)
    let out = UnsafeMutableRawPointer(dst)
    while ox &+ vectorWidth <= ox1 {
        let o = ox &* 4
        var acc = bv
        acc = vfma(wv.0, r0.loadUnaligned(fromByteOffset: o, as: FVec.self), acc)
        acc = vfma(wv.1, r0.loadUnaligned(fromByteOffset: o &+ 4, as: FVec.self), acc)
        acc = vfma(wv.2, r0.loadUnaligned(fromByteOffset: o &+ 8, as: FVec.self), acc)
        acc = vfma(wv.3, r1.loadUnaligned(fromByteOffset: o, as: FVec.self), acc)
        acc = vfma(wv.4, r1.loadUnaligned(fromByteOffset: o &+ 4, as: FVec.self), acc)
        acc = vfma(wv.5, r1.loadUnaligned(fromByteOffset: o &+ 8, as: FVec.self), acc)
        acc = vfma(wv.6, r2.loadUnaligned(fromByteOffset: o, as: FVec.self), acc)
        acc = vfma(wv.7, r2.loadUnaligned(fromByteOffset: o &+ 4, as: FVec.self), acc)
        acc = vfma(wv.8, r2.loadUnaligned(fromByteOffset: o &+ 8, as: FVec.self), acc)
        out.storeBytes(of: activate(acc, activation), toByteOffset: o, as: FVec.self)
        ox &+= vectorWidth
    }
    let s0 = rows.0 - padLeft, s1 = rows.1 - padLeft, s2 = rows.2 - padLeft
    while ox < ox1 {
        var acc = bias
        acc += ws.0 * s0[ox] + ws.1 * s0[ox &+ 1] + ws.2 * s0[ox &+ 2]
        acc += ws.3 * s1[ox] + ws.4 * s1[ox &+ 1] + ws.5 * s1[ox &+ 2]
        acc += ws.6 * s2[ox] + ws.7 * s2[ox &+ 1] + ws.8 * s2[ox &+ 2]
        dst[ox] = activateScalar(acc, activation)
        ox &+= 1
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

/// One whole output row of a 3×3, stride-2-along-x, dilation-1 depthwise conv (any stride along y, any pads).
/// Each input row is zero-padded and split into even and odd columns once, so output ox reads
/// even[ox], odd[ox], even[ox+1]: plain vector loads, no gathers and no border cases.
@inline(__always) func depthwiseRow3x3s2(
    plane: UnsafePointer<Float>, h: Int, w: Int, iy0: Int, wc: UnsafePointer<Float>, bias: Float,
    dst: UnsafeMutablePointer<Float>, wo: Int, padLeft: Int, activation: Int
) {
    // padded[j] = row[j − padLeft] (0 outside); output ox needs padded[2·ox … 2·ox+2].
    let padded = 2 &* wo &+ 2
    let half = wo &+ 1
    let lanes = ceilDiv(half, vectorWidth) &* vectorWidth
    withUnsafeTemporaryAllocation(of: Float.self, capacity: padded &+ 6 &* lanes) { scratch in
        let row = scratch.baseAddress!
        let even = row + padded, odd = even + 3 &* lanes
        // Deinterleave the three input rows (zero rows outside the image).
        for ky in 0..<3 {
            let iy = iy0 &+ ky
            let e = even + ky &* lanes, o = odd + ky &* lanes
            if iy < 0 || iy >= h {
                e.update(repeating: 0, count: lanes)
                o.update(repeating: 0, count: lanes)
                continue
            }
            let src = plane + iy &* w
            let lo = min(max(padLeft, 0), padded), hi = min(max(padLeft &+ w, lo), padded)
            if lo > 0 { row.update(repeating: 0, count: lo) }
            if hi > lo { (row + lo).update(from: src + (lo &- padLeft), count: hi &- lo) }
            if padded > hi { (row + hi).update(repeating: 0, count: padded &- hi) }
            sk_deinterleave2(row, e, o, half)
            if lanes > half {
                (e + half).update(repeating: 0, count: lanes &- half)
                (o + half).update(repeating: 0, count: lanes &- half)
            }
        }
        let bv = FVec(repeating: bias)
        let w0 = FVec(repeating: wc[0]), w1 = FVec(repeating: wc[1]), w2 = FVec(repeating: wc[2])
        let w3 = FVec(repeating: wc[3]), w4 = FVec(repeating: wc[4]), w5 = FVec(repeating: wc[5])
        let w6 = FVec(repeating: wc[6]), w7 = FVec(repeating: wc[7]), w8 = FVec(repeating: wc[8])
        let e0 = UnsafeRawPointer(even), e1 = UnsafeRawPointer(even + lanes), e2 = UnsafeRawPointer(even + 2 &* lanes)
        let o0 = UnsafeRawPointer(odd), o1 = UnsafeRawPointer(odd + lanes), o2 = UnsafeRawPointer(odd + 2 &* lanes)
        let out = UnsafeMutableRawPointer(dst)
        var ox = 0
        while ox &+ vectorWidth <= wo {
            let b = ox &* 4
            var a = bv
            a = vfma(w0, e0.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w1, o0.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w2, e0.loadUnaligned(fromByteOffset: b &+ 4, as: FVec.self), a)
            a = vfma(w3, e1.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w4, o1.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w5, e1.loadUnaligned(fromByteOffset: b &+ 4, as: FVec.self), a)
            a = vfma(w6, e2.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w7, o2.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w8, e2.loadUnaligned(fromByteOffset: b &+ 4, as: FVec.self), a)
            out.storeBytes(of: activate(a, activation), toByteOffset: b, as: FVec.self)
            ox &+= vectorWidth
        }
        let E0 = even, E1 = even + lanes, E2 = even + 2 &* lanes
        let O0 = odd, O1 = odd + lanes, O2 = odd + 2 &* lanes
        while ox < wo {
            var a = bias
            a += wc[0] * E0[ox] + wc[1] * O0[ox] + wc[2] * E0[ox &+ 1]
            a += wc[3] * E1[ox] + wc[4] * O1[ox] + wc[5] * E1[ox &+ 1]
            a += wc[6] * E2[ox] + wc[7] * O2[ox] + wc[8] * E2[ox &+ 1]
            dst[ox] = activateScalar(a, activation)
            ox &+= 1
        }
    }
}

/// One whole output row of a 3×3, stride-1, dilation-1 depthwise conv, fully in vectors: the three input rows are
/// copied into zero-padded rows first, so edge columns and the tail need no scalar code (on 13- and 26-wide maps
/// the scalar remainder was most of the row).
@inline(__always) func depthwiseRow3x3s1Padded(
    plane: UnsafePointer<Float>, h: Int, w: Int, iy0: Int, wc: UnsafePointer<Float>, bias: Float,
    dst: UnsafeMutablePointer<Float>, wo: Int, padLeft: Int
) {
    let lanes = ceilDiv(wo, vectorWidth) &* vectorWidth
    let padded = lanes &+ vectorWidth  // output ox reads padded[ox … ox+2]
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 &* padded &+ lanes) { scratch in
        let rows = scratch.baseAddress!, out = rows + 3 &* padded
        for ky in 0..<3 {
            let row = rows + ky &* padded
            let iy = iy0 &+ ky
            if iy < 0 || iy >= h {
                row.update(repeating: 0, count: padded)
                continue
            }
            let src = plane + iy &* w
            let lo = min(max(padLeft, 0), padded), hi = min(max(padLeft &+ w, lo), padded)
            if lo > 0 { row.update(repeating: 0, count: lo) }
            if hi > lo { (row + lo).update(from: src + (lo &- padLeft), count: hi &- lo) }
            if padded > hi { (row + hi).update(repeating: 0, count: padded &- hi) }
        }
        let w0 = FVec(repeating: wc[0]), w1 = FVec(repeating: wc[1]), w2 = FVec(repeating: wc[2])
        let w3 = FVec(repeating: wc[3]), w4 = FVec(repeating: wc[4]), w5 = FVec(repeating: wc[5])
        let w6 = FVec(repeating: wc[6]), w7 = FVec(repeating: wc[7]), w8 = FVec(repeating: wc[8])
        let r0 = UnsafeRawPointer(rows), r1 = UnsafeRawPointer(rows + padded), r2 = UnsafeRawPointer(rows + 2 &* padded)
        let o = UnsafeMutableRawPointer(out)
        let bv = FVec(repeating: bias)
        var ox = 0
        while ox < lanes {
            let b = ox &* 4
            var a = bv
            a = vfma(w0, r0.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w1, r0.loadUnaligned(fromByteOffset: b &+ 4, as: FVec.self), a)
            a = vfma(w2, r0.loadUnaligned(fromByteOffset: b &+ 8, as: FVec.self), a)
            a = vfma(w3, r1.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w4, r1.loadUnaligned(fromByteOffset: b &+ 4, as: FVec.self), a)
            a = vfma(w5, r1.loadUnaligned(fromByteOffset: b &+ 8, as: FVec.self), a)
            a = vfma(w6, r2.loadUnaligned(fromByteOffset: b, as: FVec.self), a)
            a = vfma(w7, r2.loadUnaligned(fromByteOffset: b &+ 4, as: FVec.self), a)
            a = vfma(w8, r2.loadUnaligned(fromByteOffset: b &+ 8, as: FVec.self), a)
            o.storeBytes(of: a, toByteOffset: b, as: FVec.self)
            ox &+= vectorWidth
        }
        dst.update(from: out, count: wo)
    }
}
