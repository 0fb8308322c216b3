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
                dst[ox] = activateScalar(acc, activation)
            }
            for ox in 0..<oxLo { edge(ox) }
            for ox in oxHi..<wo { edge(ox) }
            if oxLo >= oxHi { continue }
            if kh == 3 && kw == 3 && strideW == 1 && dilationH == 1 && dilationW == 1 {
                depthwiseRow3x3s1(plane: plane, h: h, w: w, iy0: iy0, wc: wc, bias: b, dst: dst,
                                  ox0: oxLo, ox1: oxHi, padLeft: padLeft, activation: activation)
            } else {
                depthwiseInterior(plane: plane, h: h, w: w, iy0: iy0, wc: wc, kh: kh, kw: kw, strideW: strideW,
                                  dilationH: dilationH, dilationW: dilationW, padLeft: padLeft, bias: b, dst: dst,
                                  ox0: oxLo, ox1: oxHi, activation: activation)
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
