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
        let is3x3 = kh == 3 && kw == 3 && (strideW == 1 || strideW == 2) && dilationH == 1 && dilationW == 1
        if is3x3 && nth > 1 && ho >= 8 &* nth && channels &* h &* w >= 1 << 18 {
            // Large maps (≥ 1 MB of input, half a core's L2): parts split the rows of every channel, not the
            // channels. The layers around split pixels (the 1×1 convs' column strips, the stem's rows), so each part
            // reads what its own core wrote and writes where it will read next; split by channels, half of a map
            // that no longer fits one core's cache crossed cores (YOLOX-Nano, two threads, per-step minima: the
            // stride-2 Conv_44 0.108 → 0.077 ms, Conv_70 0.053 → 0.041, and the 1×1 convs after them faster). On
            // smaller maps the second call per channel costs more than it saves (26×26: +0.011 ms a layer).
            let rows = partRange(ho, ith, nth)
            if rows.lo >= rows.hi { return }
            for c in 0..<channels {
                depthwise3x3Rows(input: input, inputChannelStride: inputChannelStride, h: h, w: w, weights: weights,
                                 strideH: strideH, strideW: strideW, padTop: padTop, padLeft: padLeft, output: output,
                                 outputChannelStride: outputChannelStride, ho: ho, wo: wo, bias: bias,
                                 activation: activation, items: (c &* ho &+ rows.lo)..<(c &* ho &+ rows.hi))
            }
            return
        }
        let r = partRange(channels &* ho, ith, nth)
        if r.lo >= r.hi { return }
        if is3x3 {
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
/// output row) items of one part, straight from the input: no padded row copies. A vector that reaches past a row's
/// ends loads only the lanes inside it (a masked load; the rest read as the zero padding), rows above or below the
/// image are a zero row, and stride 2 splits even and odd columns in registers. Stride 1 computes four output rows
/// per pass from six input rows (4.5 loads per 9 FMAs instead of 9; the per-row fixed cost, not the FMAs, dominated
/// the small YOLO maps, 13 to 52 wide); stride 2 two rows from five. Each kind of pass is one call per channel (or
/// chunk of rows), so the weights are broadcast once. Measured per layer against the padded-row-cache version it
/// replaced (AVX-512, YOLOX-Nano's 30 depthwise layers, fused SiLU): 1.96 → 1.31 ms on one thread. On AVX-512 the
/// whole channels of a part take the same passes written in C (sk_depthwise.h), one call for the run of channels.
@inline(__always) func depthwise3x3Rows(
    input: UnsafePointer<Float>, inputChannelStride: Int, h: Int, w: Int, weights: UnsafePointer<Float>,
    strideH: Int, strideW: Int, padTop: Int, padLeft: Int, output: UnsafeMutablePointer<Float>,
    outputChannelStride: Int, ho: Int, wo: Int, bias: UnsafePointer<Float>?, activation: Int, items: Range<Int>
) {
    // Input rows outside the image read from a zero row: every load touches columns [0, w) only.
    let zero = threadScratch(max(w, 1) &* 4).assumingMemoryBound(to: Float.self)
    sk_pad_row(zero, 0, zero, 0, w)
    let zeroRow = UnsafePointer(zero)
    // Rows that waste more than an eighth of their last vector's lanes (52 = 3·16 + 4) are activated afterwards,
    // over the contiguous finished rows in whole vectors while they are in L1 (chunks of at most 4096 floats, a
    // multiple of four rows), instead of on every padded lane in registers: the sigmoid costs as much as the nine
    // FMAs. Measured on the YOLO maps (AVX-512, cycles per vector): 52 wide 24 vs 29, 26 wide 31 vs 33; 104 wide
    // (7% waste) 30 vs 27 and 13 wide (a single vector per row) 43 vs 38 stay faster in registers. Where the ISA
    // says so (`depthwiseDefersActivation`, AVX2) every row wider than a vector is activated afterwards.
    let lanesWasted = ceilDiv(wo, vectorWidth) &* vectorWidth &- wo
    let deferActivation = activation != ActivationCode.none && wo > vectorWidth
        && (depthwiseDefersActivation || lanesWasted &* 8 > wo)
    // The whole channels among the items in one C call where the ISA has it (sk_depthwise.h, AVX-512: 20–30% faster
    // than the passes below on the YOLO maps, which were called per channel); a channel the items cut stays here, and
    // so do the few-row bands of a band-fused pair (4 rows: the C column loop's setup per channel did not pay,
    // YOLOX's stem pair +0.015 ms).
    let wholeFirst = ceilDiv(items.lowerBound, ho), wholeEnd = items.upperBound / ho
    var head = items, tail = items.upperBound ..< items.upperBound
    if wholeFirst < wholeEnd && strideH == strideW && ho >= 8
        && sk_dw3x3_channels_f32(input, inputChannelStride, wholeFirst, wholeEnd, h, w, weights, bias, padTop, padLeft,
                                 strideW == 2 ? 1 : 0, output, outputChannelStride, ho, wo, zeroRow, Int32(activation),
                                 deferActivation ? 1 : 0) != 0
    {
        head = items.lowerBound ..< wholeFirst &* ho
        tail = wholeEnd &* ho ..< items.upperBound
    }
    // Two calls, not a loop over [head, tail]: no array per call.
    if !head.isEmpty {
        depthwise3x3Passes(input: input, inputChannelStride: inputChannelStride, h: h, w: w, weights: weights,
                           strideH: strideH, strideW: strideW, padTop: padTop, padLeft: padLeft, output: output,
                           outputChannelStride: outputChannelStride, ho: ho, wo: wo, bias: bias,
                           activation: activation, deferActivation: deferActivation, items: head, zeroRow: zeroRow)
    }
    if !tail.isEmpty {
        depthwise3x3Passes(input: input, inputChannelStride: inputChannelStride, h: h, w: w, weights: weights,
                           strideH: strideH, strideW: strideW, padTop: padTop, padLeft: padLeft, output: output,
                           outputChannelStride: outputChannelStride, ho: ho, wo: wo, bias: bias,
                           activation: activation, deferActivation: deferActivation, items: tail, zeroRow: zeroRow)
    }
}

/// The Swift passes of `depthwise3x3Rows` over (channel, output row) items: the other ISAs', and on AVX-512 the
/// channels a part's boundary cuts, the row ranges of large maps split across parts, and band-fused bands.
@inline(__always) func depthwise3x3Passes(
    input: UnsafePointer<Float>, inputChannelStride: Int, h: Int, w: Int, weights: UnsafePointer<Float>,
    strideH: Int, strideW: Int, padTop: Int, padLeft: Int, output: UnsafeMutablePointer<Float>,
    outputChannelStride: Int, ho: Int, wo: Int, bias: UnsafePointer<Float>?, activation: Int, deferActivation: Bool,
    items: Range<Int>, zeroRow: UnsafePointer<Float>
) {
    let s2 = strideW == 2
    let chunkRows = deferActivation ? max(4, 4096 / wo / 4 * 4) : ho
    var item = items.lowerBound
    var c = item / ho, oy = item % ho
    while item < items.upperBound {
        let rows = min(ho &- oy, items.upperBound &- item)
        let k = weights + c &* 9
        let b = bias?[c] ?? 0
        let plane = input + c &* inputChannelStride
        let out = output + c &* outputChannelStride
        let end = oy &+ rows
        while oy < end {
            let stop = min(end, oy &+ chunkRows)
            let passActivation = deferActivation ? ActivationCode.none : activation
            var y = oy
            // Passes of four (stride 1) or two (stride 2) rows, one call per chunk and kind of pass, then single rows.
            if !s2 && strideH == 1 && stop &- y >= 4 {
                let n = (stop &- y) / 4
                depthwise3x3Stride1Rows4(plane, zeroRow, h: h, w: w, iy: y &- padTop, passes: n, padLeft: padLeft, k,
                                         b, dst: out + y &* wo, wo: wo, activation: passActivation)
                y &+= 4 &* n
            } else if s2 && strideH == 2 && stop &- y >= 2 {
                let n = (stop &- y) / 2
                depthwise3x3Stride2Rows2(plane, zeroRow, h: h, w: w, iy: 2 &* y &- padTop, passes: n,
                                         padLeft: padLeft, k, b, dst: out + y &* wo, wo: wo,
                                         activation: passActivation)
                y &+= 2 &* n
            }
            if y < stop {
                depthwise3x3Rows1(plane, zeroRow, h: h, w: w, iy: y &* strideH &- padTop, strideH: strideH,
                                  rows: stop &- y, stride2: s2, padLeft: padLeft, k, b, dst: out + y &* wo, wo: wo,
                                  activation: passActivation)
            }
            if deferActivation { activateRow(out + oy &* wo, (stop &- oy) &* wo, activation) }
            oy = stop
        }
        item &+= rows
        c &+= 1
        oy = 0
    }
}

/// The nine 3×3 weights of one channel, each broadcast to a vector.
typealias DepthwiseTaps = (FVec, FVec, FVec, FVec, FVec, FVec, FVec, FVec, FVec)

@inline(__always) func depthwiseTaps(_ t: UnsafePointer<Float>) -> DepthwiseTaps {
    (FVec(repeating: t[0]), FVec(repeating: t[1]), FVec(repeating: t[2]), FVec(repeating: t[3]),
     FVec(repeating: t[4]), FVec(repeating: t[5]), FVec(repeating: t[6]), FVec(repeating: t[7]),
     FVec(repeating: t[8]))
}

/// The vector of row p starting at column `start`, with the columns outside [0, w) read as zero (masked) or, when
/// `masked` is false, a plain load the caller has checked to lie inside the row.
@inline(__always) func depthwiseLoad(_ p: UnsafePointer<Float>, _ start: Int, _ w: Int, _ masked: Bool) -> FVec {
    if !masked { return UnsafeRawPointer(p + start).loadUnaligned(as: FVec.self) }
    let lo = min(max(0 &- start, 0), vectorWidth), hi = max(min(w &- start, vectorWidth), lo)
    return sk_load_lanes_v(p + start, lo, hi)
}

/// acc + the three taps (k0, k1, k2) of one input row for output columns ox…ox+vw−1: columns s+kx (stride 1) or
/// s+2·lane+kx (stride 2), kx = 0, 1, 2, where s = ox·stride − padLeft. sk_fmadd_v, not addingProduct: in kernels
/// this size LLVM split addingProduct into 128-bit pieces.
@inline(__always) func depthwiseRowTaps(
    _ acc: FVec, _ x: (FVec, FVec, FVec), _ k0: FVec, _ k1: FVec, _ k2: FVec
) -> FVec {
    sk_fmadd_v(k2, x.2, sk_fmadd_v(k1, x.1, sk_fmadd_v(k0, x.0, acc)))
}

/// The three taps of one input row alone, k0·x0 + k1·x1 + k2·x2: the second and third rows' parts of an output (the
/// first starts from the bias), summed last (sk_depthwise.h's SK_DW_PART, the same bits).
@inline(__always) func depthwiseRowPart(_ x: (FVec, FVec, FVec), _ k0: FVec, _ k1: FVec, _ k2: FVec) -> FVec {
    sk_fmadd_v(k2, x.2, sk_fmadd_v(k1, x.1, sk_mul_v(k0, x.0)))
}

/// (first + second) + third: an output from its rows' parts, in the order of every depthwise path.
@inline(__always) func depthwiseSum(_ first: FVec, _ second: FVec, _ third: FVec) -> FVec {
    sk_add_v(sk_add_v(first, second), third)
}

@inline(__always) func depthwiseTapRow(
    _ p: UnsafePointer<Float>, _ s: Int, _ w: Int, _ masked: Bool, stride2: Bool
) -> (FVec, FVec, FVec) {
    if !stride2 {
        return (depthwiseLoad(p, s, w, masked), depthwiseLoad(p, s &+ 1, w, masked),
                depthwiseLoad(p, s &+ 2, w, masked))
    }
    let vw = vectorWidth
    let a = depthwiseLoad(p, s, w, masked), b = depthwiseLoad(p, s &+ vw, w, masked)
    if !masked { return (sk_even_v(a, b), sk_odd_v(a, b), sk_even_next_v(a, b, p + (s &+ 2 &* vw))) }
    let a2 = depthwiseLoad(p, s &+ 2, w, masked), b2 = depthwiseLoad(p, s &+ 2 &+ vw, w, masked)
    return (sk_even_v(a, b), sk_odd_v(a, b), sk_even_v(a2, b2))
}

/// Whether the vector at output column ox reads columns outside [0, w) (then its loads are masked).
@inline(__always) func depthwiseNeedsMask(_ s: Int, _ w: Int, stride2: Bool) -> Bool {
    s < 0 || s &+ (stride2 ? 2 &* vectorWidth &+ 2 : vectorWidth &+ 2) > w
}

@inline(__always) func depthwiseStore(_ v: FVec, _ dst: UnsafeMutablePointer<Float>, _ ox: Int, _ wo: Int) {
    if ox &+ vectorWidth <= wo {
        UnsafeMutableRawPointer(dst + ox).storeBytes(of: v, as: FVec.self)
    } else {
        storeFirst(v, dst + ox, wo &- ox)
    }
}

@_transparent func activate4(_ v0: FVec, _ v1: FVec, _ v2: FVec, _ v3: FVec, _ activation: Int)
    -> (FVec, FVec, FVec, FVec)
{
    switch activation {
    case ActivationCode.relu: return (vrelu(v0), vrelu(v1), vrelu(v2), vrelu(v3))
    case ActivationCode.sigmoid: return vsigmoid4(v0, v1, v2, v3)
    case ActivationCode.silu: return vsilu4(v0, v1, v2, v3)
    case ActivationCode.siluInt8: return (vsiluInt8(v0), vsiluInt8(v1), vsiluInt8(v2), vsiluInt8(v3))
    case ActivationCode.siluDivide: return (vsiluDivide(v0), vsiluDivide(v1), vsiluDivide(v2), vsiluDivide(v3))
    case ActivationCode.sigmoidDivide:
        return (vsigmoidDivide(v0), vsigmoidDivide(v1), vsigmoidDivide(v2), vsigmoidDivide(v3))
    default: return (v0, v1, v2, v3)
    }
}

@_transparent func activate2(_ v0: FVec, _ v1: FVec, _ activation: Int) -> (FVec, FVec) {
    switch activation {
    case ActivationCode.relu: return (vrelu(v0), vrelu(v1))
    case ActivationCode.sigmoid: return (vsigmoid(v0), vsigmoid(v1))
    case ActivationCode.silu: return (vsilu(v0), vsilu(v1))
    case ActivationCode.siluInt8: return (vsiluInt8(v0), vsiluInt8(v1))
    case ActivationCode.siluDivide: return (vsiluDivide(v0), vsiluDivide(v1))
    case ActivationCode.sigmoidDivide: return (vsigmoidDivide(v0), vsigmoidDivide(v1))
    default: return (v0, v1)
    }
}

/// Four stride-1 output rows at columns ox…ox+vw−1 (s = ox − padLeft) from input rows i0…i5, before activation:
/// each loaded input row feeds up to three of them. Each output sums its three rows' parts, (b + row 0) + row 1 +
/// row 2, as a single row does (`depthwiseVector`) and the C kernel (sk_depthwise.h): three short FMA chains in
/// place of one of nine.
@inline(__always) func depthwiseStride1Vectors4(
    _ i0: UnsafePointer<Float>, _ i1: UnsafePointer<Float>, _ i2: UnsafePointer<Float>,
    _ i3: UnsafePointer<Float>, _ i4: UnsafePointer<Float>, _ i5: UnsafePointer<Float>,
    _ s: Int, _ w: Int, _ masked: Bool, _ k: DepthwiseTaps, _ b: FVec
) -> (FVec, FVec, FVec, FVec) {
    let x0 = depthwiseTapRow(i0, s, w, masked, stride2: false)
    let a0 = depthwiseRowTaps(b, x0, k.0, k.1, k.2)
    let x1 = depthwiseTapRow(i1, s, w, masked, stride2: false)
    let q0 = depthwiseRowPart(x1, k.3, k.4, k.5)
    let a1 = depthwiseRowTaps(b, x1, k.0, k.1, k.2)
    let x2 = depthwiseTapRow(i2, s, w, masked, stride2: false)
    let y0 = depthwiseSum(a0, q0, depthwiseRowPart(x2, k.6, k.7, k.8))
    let q1 = depthwiseRowPart(x2, k.3, k.4, k.5)
    let a2 = depthwiseRowTaps(b, x2, k.0, k.1, k.2)
    let x3 = depthwiseTapRow(i3, s, w, masked, stride2: false)
    let y1 = depthwiseSum(a1, q1, depthwiseRowPart(x3, k.6, k.7, k.8))
    let q2 = depthwiseRowPart(x3, k.3, k.4, k.5)
    let a3 = depthwiseRowTaps(b, x3, k.0, k.1, k.2)
    let x4 = depthwiseTapRow(i4, s, w, masked, stride2: false)
    let y2 = depthwiseSum(a2, q2, depthwiseRowPart(x4, k.6, k.7, k.8))
    let q3 = depthwiseRowPart(x4, k.3, k.4, k.5)
    let x5 = depthwiseTapRow(i5, s, w, masked, stride2: false)
    let y3 = depthwiseSum(a3, q3, depthwiseRowPart(x5, k.6, k.7, k.8))
    return (y0, y1, y2, y3)
}

/// Input row iy of a channel plane, or the zero row above and below the image.
@inline(__always) func depthwiseInputRow(
    _ plane: UnsafePointer<Float>, _ zeroRow: UnsafePointer<Float>, _ iy: Int, _ h: Int, _ w: Int
) -> UnsafePointer<Float> {
    iy < 0 || iy >= h ? zeroRow : plane + iy &* w
}

/// `passes` passes of four consecutive stride-1 output rows (dst + r·wo), the first from input rows iy…iy+5 of one
/// channel. Out of line, one call per channel: the weights are broadcast once and every helper stays inlined.
@inline(never) func depthwise3x3Stride1Rows4(
    _ plane: UnsafePointer<Float>, _ zeroRow: UnsafePointer<Float>, h: Int, w: Int, iy: Int, passes: Int,
    padLeft: Int, _ taps: UnsafePointer<Float>, _ bias: Float, dst: UnsafeMutablePointer<Float>, wo: Int,
    activation: Int
) {
    let k = depthwiseTaps(taps), b = FVec(repeating: bias)
    for pass in 0..<passes {
        let y = iy &+ 4 &* pass
        let i0 = depthwiseInputRow(plane, zeroRow, y, h, w), i1 = depthwiseInputRow(plane, zeroRow, y &+ 1, h, w)
        let i2 = depthwiseInputRow(plane, zeroRow, y &+ 2, h, w), i3 = depthwiseInputRow(plane, zeroRow, y &+ 3, h, w)
        let i4 = depthwiseInputRow(plane, zeroRow, y &+ 4, h, w), i5 = depthwiseInputRow(plane, zeroRow, y &+ 5, h, w)
        let d0 = dst + 4 &* pass &* wo
        let d1 = d0 + wo, d2 = d1 + wo, d3 = d2 + wo
        var ox = 0
        while ox < wo {
            let s = ox &- padLeft
            let a = depthwiseNeedsMask(s, w, stride2: false)
                ? depthwiseStride1Vectors4(i0, i1, i2, i3, i4, i5, s, w, true, k, b)
                : depthwiseStride1Vectors4(i0, i1, i2, i3, i4, i5, s, w, false, k, b)
            let y = activate4(a.0, a.1, a.2, a.3, activation)
            depthwiseStore(y.0, d0, ox, wo)
            depthwiseStore(y.1, d1, ox, wo)
            depthwiseStore(y.2, d2, ox, wo)
            depthwiseStore(y.3, d3, ox, wo)
            ox &+= vectorWidth
        }
    }
}

/// Two stride-2 output rows at columns ox…ox+vw−1 (s = 2·ox − padLeft) from input rows i0…i4 (i2 is the last tap
/// row of the first and the first of the second), before activation; each sums its rows' parts as above.
@inline(__always) func depthwiseStride2Vectors2(
    _ i0: UnsafePointer<Float>, _ i1: UnsafePointer<Float>, _ i2: UnsafePointer<Float>,
    _ i3: UnsafePointer<Float>, _ i4: UnsafePointer<Float>,
    _ s: Int, _ w: Int, _ masked: Bool, _ k: DepthwiseTaps, _ b: FVec
) -> (FVec, FVec) {
    let a0 = depthwiseRowTaps(b, depthwiseTapRow(i0, s, w, masked, stride2: true), k.0, k.1, k.2)
    let q0 = depthwiseRowPart(depthwiseTapRow(i1, s, w, masked, stride2: true), k.3, k.4, k.5)
    let x2 = depthwiseTapRow(i2, s, w, masked, stride2: true)
    let y0 = depthwiseSum(a0, q0, depthwiseRowPart(x2, k.6, k.7, k.8))
    let a1 = depthwiseRowTaps(b, x2, k.0, k.1, k.2)
    let q1 = depthwiseRowPart(depthwiseTapRow(i3, s, w, masked, stride2: true), k.3, k.4, k.5)
    let y1 = depthwiseSum(a1, q1, depthwiseRowPart(depthwiseTapRow(i4, s, w, masked, stride2: true), k.6, k.7, k.8))
    return (y0, y1)
}

/// `passes` passes of two consecutive stride-2 output rows, the first from input rows iy…iy+4.
@inline(never) func depthwise3x3Stride2Rows2(
    _ plane: UnsafePointer<Float>, _ zeroRow: UnsafePointer<Float>, h: Int, w: Int, iy: Int, passes: Int,
    padLeft: Int, _ taps: UnsafePointer<Float>, _ bias: Float, dst: UnsafeMutablePointer<Float>, wo: Int,
    activation: Int
) {
    let k = depthwiseTaps(taps), b = FVec(repeating: bias)
    for pass in 0..<passes {
        let y = iy &+ 4 &* pass
        let i0 = depthwiseInputRow(plane, zeroRow, y, h, w), i1 = depthwiseInputRow(plane, zeroRow, y &+ 1, h, w)
        let i2 = depthwiseInputRow(plane, zeroRow, y &+ 2, h, w), i3 = depthwiseInputRow(plane, zeroRow, y &+ 3, h, w)
        let i4 = depthwiseInputRow(plane, zeroRow, y &+ 4, h, w)
        let d0 = dst + 2 &* pass &* wo, d1 = d0 + wo
        var ox = 0
        while ox < wo {
            let s = 2 &* ox &- padLeft
            let a = depthwiseNeedsMask(s, w, stride2: true)
                ? depthwiseStride2Vectors2(i0, i1, i2, i3, i4, s, w, true, k, b)
                : depthwiseStride2Vectors2(i0, i1, i2, i3, i4, s, w, false, k, b)
            let y = activate2(a.0, a.1, activation)
            depthwiseStore(y.0, d0, ox, wo)
            depthwiseStore(y.1, d1, ox, wo)
            ox &+= vectorWidth
        }
    }
}

/// One output row at columns ox…ox+vw−1 from input rows i0, i1, i2, in three partial sums, before activation.
@inline(__always) func depthwiseVector(
    _ i0: UnsafePointer<Float>, _ i1: UnsafePointer<Float>, _ i2: UnsafePointer<Float>, stride2: Bool,
    _ s: Int, _ w: Int, _ masked: Bool, _ k: DepthwiseTaps, _ b: FVec
) -> FVec {
    let a0 = depthwiseRowTaps(b, depthwiseTapRow(i0, s, w, masked, stride2: stride2), k.0, k.1, k.2)
    let a1 = depthwiseRowPart(depthwiseTapRow(i1, s, w, masked, stride2: stride2), k.3, k.4, k.5)
    let a2 = depthwiseRowPart(depthwiseTapRow(i2, s, w, masked, stride2: stride2), k.6, k.7, k.8)
    return depthwiseSum(a0, a1, a2)
}

/// `rows` single output rows (either stride along x, any along y), the first from input rows iy…iy+2: what the
/// passes of two or four leave, and the strides they do not cover.
@inline(never) func depthwise3x3Rows1(
    _ plane: UnsafePointer<Float>, _ zeroRow: UnsafePointer<Float>, h: Int, w: Int, iy: Int, strideH: Int, rows: Int,
    stride2: Bool, padLeft: Int, _ taps: UnsafePointer<Float>, _ bias: Float, dst: UnsafeMutablePointer<Float>,
    wo: Int, activation: Int
) {
    let k = depthwiseTaps(taps), b = FVec(repeating: bias)
    for r in 0..<rows {
        let y = iy &+ r &* strideH
        let i0 = depthwiseInputRow(plane, zeroRow, y, h, w), i1 = depthwiseInputRow(plane, zeroRow, y &+ 1, h, w)
        let i2 = depthwiseInputRow(plane, zeroRow, y &+ 2, h, w)
        let d = dst + r &* wo
        var ox = 0
        while ox < wo {
            let s = (stride2 ? 2 &* ox : ox) &- padLeft
            let a: FVec
            if stride2 {
                a = depthwiseNeedsMask(s, w, stride2: true)
                    ? depthwiseVector(i0, i1, i2, stride2: true, s, w, true, k, b)
                    : depthwiseVector(i0, i1, i2, stride2: true, s, w, false, k, b)
            } else {
                a = depthwiseNeedsMask(s, w, stride2: false)
                    ? depthwiseVector(i0, i1, i2, stride2: false, s, w, true, k, b)
                    : depthwiseVector(i0, i1, i2, stride2: false, s, w, false, k, b)
            }
            depthwiseStore(activate(a, activation), d, ox, wo)
            ox &+= vectorWidth
        }
    }
}
