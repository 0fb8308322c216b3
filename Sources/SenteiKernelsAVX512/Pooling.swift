import CSenteiKernels

#if canImport(Glibc)
import Glibc
#endif

// Max pooling and nearest-neighbour upsampling. Both split work over (channel, output row) pairs.

extension FloatKernels {
    /// out[c, oy, ox] = max over the window in[c, oy·sh − padTop + ky, ox·sw − padLeft + kx] that lies inside
    /// the image (padding never wins). Output size follows `convOutputSize` with dilation 1; ONNX ceil_mode is
    /// extra end padding. Every window must overlap the image (true whenever pad < kernel).
    public static func maxPool2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int, ith: Int, nth: Int
    ) {
        let ho = convOutputSize(input: h, kernel: kh, stride: strideH, padBegin: padTop, padEnd: padBottom,
                                dilation: 1)
        let wo = convOutputSize(input: w, kernel: kw, stride: strideW, padBegin: padLeft, padEnd: padRight,
                                dilation: 1)
        if ho <= 0 || wo <= 0 { return }
        if strideH == 1 && strideW == 1 && kh <= maxPoolCacheSlots {
            let r = partRange(channels &* ho, ith, nth)
            if r.lo < r.hi {
                maxPoolRowsStride1(input: input, inputChannelStride: inputChannelStride, h: h, w: w, kh: kh, kw: kw,
                                   padTop: padTop, padLeft: padLeft, output: output,
                                   outputChannelStride: outputChannelStride, ho: ho, wo: wo, items: r.lo..<r.hi)
            }
            return
        }
        let oxLo = min(wo, ceilDiv(padLeft, strideW))
        let rightRoom = w &- kw &+ padLeft
        let oxHi = max(oxLo, min(wo, rightRoom < 0 ? 0 : rightRoom / strideW &+ 1))
        let r = partRange(channels &* ho, ith, nth)
        for item in r.lo..<r.hi {
            let c = item / ho, oy = item % ho
            let plane = input + c &* inputChannelStride
            let dst = output + (c &* outputChannelStride &+ oy &* wo)
            let iyA = max(0, oy &* strideH &- padTop), iyB = min(h, oy &* strideH &- padTop &+ kh)
            let edge = { (ox: Int) in
                let ixA = max(0, ox &* strideW &- padLeft), ixB = min(w, ox &* strideW &- padLeft &+ kw)
                var m = -Float.infinity
                for iy in iyA..<max(iyA, iyB) {
                    for ix in ixA..<max(ixA, ixB) { m = max(m, plane[iy &* w &+ ix]) }
                }
                dst[ox] = m
            }
            for ox in 0..<oxLo { edge(ox) }
            for ox in oxHi..<wo { edge(ox) }
            var ox = oxLo
            if strideW == 1 && iyA < iyB {
                let out = UnsafeMutableRawPointer(dst)
                while ox &+ vectorWidth <= oxHi {
                    var m = FVec(repeating: -Float.infinity)
                    for iy in iyA..<iyB {
                        let src = UnsafeRawPointer(plane + (iy &* w &+ ox &- padLeft))
                        for kx in 0..<kw {
                            let v = src.loadUnaligned(fromByteOffset: kx &* 4, as: FVec.self)
                            m = m.replacing(with: v, where: v .> m)
                        }
                    }
                    out.storeBytes(of: m, toByteOffset: ox &* 4, as: FVec.self)
                    ox &+= vectorWidth
                }
            }
            while ox < oxHi { edge(ox); ox &+= 1 }
        }
    }

    /// out[c, y, x] = in[c, y / scaleH, x / scaleW] for integer scales (output is h·scaleH × w·scaleW).
    public static func resizeNearest(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int,
        scaleH: Int, scaleW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int, ith: Int, nth: Int
    ) {
        let ho = h &* scaleH, wo = w &* scaleW
        let r = partRange(channels &* ho, ith, nth)
        for item in r.lo..<r.hi {
            let c = item / ho, oy = item % ho
            let src = input + (c &* inputChannelStride &+ (oy / scaleH) &* w)
            let dst = output + (c &* outputChannelStride &+ oy &* wo)
            if scaleW == 2 {
                sk_repeat2(src, dst, w)
            } else {
                for x in 0..<wo { dst[x] = src[x / scaleW] }
            }
        }
    }
}

/// Input rows a stride-1 pooling window may span (and the size of its row cache).
let maxPoolCacheSlots = 16

/// Stride-1 max pooling, separable: each input row is padded with −∞ once and reduced along x into a cached
/// row of window maxima (kw loads per vector), and an output row is the max of the cached rows its window spans
/// (kh loads per vector) — kw + kh instead of kw·kh, in full vectors even when the map is narrower than one.
@inline(__always) func maxPoolRowsStride1(
    input: UnsafePointer<Float>, inputChannelStride: Int, h: Int, w: Int, kh: Int, kw: Int, padTop: Int,
    padLeft: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int, ho: Int, wo: Int,
    items: Range<Int>
) {
    let vw = vectorWidth
    let outLanes = ceilDiv(wo, vw) &* vw
    // Output ox reads padded[ox ..< ox + kw].
    let paddedFloats = ceilDiv(outLanes &+ kw, vw) &* vw
    let slots = maxPoolCacheSlots
    // [tags][window row pointers][padded row][cached row maxima × slots][one output vector], in the thread's
    // kernel scratch (a malloc per call was an allocation per layer per frame).
    do {
        let raw = threadScratch(slots &* 16 &+ (paddedFloats &+ slots &* outLanes &+ vw) &* 4)
        let tags = raw.assumingMemoryBound(to: Int.self)
        for slot in 0..<slots { tags[slot] = -1 }
        let window = (raw + slots &* 8).assumingMemoryBound(to: UnsafeRawPointer.self)
        let padded = (raw + slots &* 16).assumingMemoryBound(to: Float.self)
        let cache = padded + paddedFloats
        let tail = cache + slots &* outLanes

        /// max over the kw-wide windows of input row iy of channel c (window start ox − padLeft).
        @inline(__always) func rowMaxima(_ c: Int, _ iy: Int) -> UnsafeRawPointer {
            let key = c &* h &+ iy, slot = iy & (slots &- 1)
            let dst = cache + slot &* outLanes
            if tags[slot] == key { return UnsafeRawPointer(dst) }
            tags[slot] = key
            let lo = min(max(padLeft, 0), paddedFloats), hi = min(max(padLeft &+ w, lo), paddedFloats)
            sk_fill_row(input + (c &* inputChannelStride &+ iy &* w &+ lo &- padLeft), hi &- lo, padded, lo,
                        paddedFloats, -Float.infinity)
            let src = UnsafeRawPointer(padded), out = UnsafeMutableRawPointer(dst)
            var ox = 0
            while ox < outLanes {
                var m = src.loadUnaligned(fromByteOffset: ox &* 4, as: FVec.self)
                for kx in 1..<max(kw, 1) {
                    m = vmax(m, src.loadUnaligned(fromByteOffset: (ox &+ kx) &* 4, as: FVec.self))
                }
                out.storeBytes(of: m, toByteOffset: ox &* 4, as: FVec.self)
                ox &+= vw
            }
            return UnsafeRawPointer(dst)
        }

        for item in items {
            let c = item / ho, oy = item % ho
            // Window rows inside the image (padding never wins; every window overlaps the image).
            let iyA = max(0, oy &- padTop), iyB = min(h, oy &- padTop &+ kh)
            let rows = max(0, iyB &- iyA)
            for j in 0..<rows { window[j] = rowMaxima(c, iyA &+ j) }
            let dst = output + (c &* outputChannelStride &+ oy &* wo)
            let out = UnsafeMutableRawPointer(dst)
            var ox = 0
            while ox < outLanes {
                var m = FVec(repeating: -Float.infinity)
                for j in 0..<rows { m = vmax(m, window[j].loadUnaligned(fromByteOffset: ox &* 4, as: FVec.self)) }
                if ox &+ vw <= wo {
                    out.storeBytes(of: m, toByteOffset: ox &* 4, as: FVec.self)
                } else {
                    UnsafeMutableRawPointer(tail).storeBytes(of: m, toByteOffset: 0, as: FVec.self)
                    sk_pad_row(tail, wo &- ox, dst + ox, 0, wo &- ox)
                }
                ox &+= vw
            }
        }
    }
}
