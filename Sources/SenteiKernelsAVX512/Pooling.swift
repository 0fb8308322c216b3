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
                for x in 0..<w { let v = src[x]; dst[2 &* x] = v; dst[2 &* x &+ 1] = v }
            } else {
                for x in 0..<wo { dst[x] = src[x / scaleW] }
            }
        }
    }
}
