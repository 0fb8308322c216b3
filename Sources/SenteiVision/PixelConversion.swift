/// Row converters from each `PixelFormat` to three float planes R, G, B in 0–255.
///
/// YUV uses BT.601 limited range (what V4L2 webcams send for YUYV/NV12/YU12 unless told otherwise), computed in
/// float and clamped to 0–255 without rounding; chroma is taken from the nearest sample (no chroma interpolation).

@inline(__always)
private func yuvToRGB(_ y: Float, _ u: Float, _ v: Float) -> (Float, Float, Float) {
    let c = 1.164383 * (y - 16), d = u - 128, e = v - 128
    let r = c + 1.596027 * e
    let g = c - 0.391762 * d - 0.812968 * e
    let b = c + 2.017232 * d
    return (min(max(r, 0), 255), min(max(g, 0), 255), min(max(b, 0), 255))
}

/// Planar luma with one chroma sample per pixel pair, pair by pair so the compiler can vectorise.
@inline(__always)
private func convertPairs(_ luma: UnsafePointer<UInt8>, width: Int, r: UnsafeMutablePointer<Float>,
                          g: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>,
                          chroma: (Int) -> (Float, Float)) {
    let pairs = width / 2
    for k in 0..<pairs {
        let (u, v) = chroma(k)
        let (r0, g0, b0) = yuvToRGB(Float(luma[2 * k]), u, v)
        let (r1, g1, b1) = yuvToRGB(Float(luma[2 * k + 1]), u, v)
        r[2 * k] = r0
        g[2 * k] = g0
        b[2 * k] = b0
        r[2 * k + 1] = r1
        g[2 * k + 1] = g1
        b[2 * k + 1] = b1
    }
    if width & 1 == 1 {
        let (u, v) = chroma(pairs)
        (r[width - 1], g[width - 1], b[width - 1]) = yuvToRGB(Float(luma[width - 1]), u, v)
    }
}

/// Converts row `y` of `frame` into `r`, `g`, `b` (each `frame.width` floats). `PixelBuffer.init` checked the buffer
/// size, so the indexing below stays inside it.
package func convertRow(_ y: Int, of frame: PixelBuffer, r: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>,
                        b: UnsafeMutablePointer<Float>) {
    let base = frame.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let width = frame.width, stride = frame.bytesPerLine
    let line = base + y * stride
    switch frame.format {
    case .rgb24, .bgr24:
        let (ri, bi) = frame.format == .rgb24 ? (0, 2) : (2, 0)
        for x in 0..<width {
            let p = line + 3 * x
            r[x] = Float(p[ri])
            g[x] = Float(p[1])
            b[x] = Float(p[bi])
        }
    case .grey:
        for x in 0..<width {
            let v = Float(line[x])
            r[x] = v
            g[x] = v
            b[x] = v
        }
    case .yuyv:
        // Pair by pair (Y0 U Y1 V): fixed-stride loads and stores the compiler can vectorise.
        let pairs = width / 2
        for k in 0..<pairs {
            let p = line + 4 * k
            let u = Float(p[1]), v = Float(p[3])
            let (r0, g0, b0) = yuvToRGB(Float(p[0]), u, v)
            let (r1, g1, b1) = yuvToRGB(Float(p[2]), u, v)
            r[2 * k] = r0
            g[2 * k] = g0
            b[2 * k] = b0
            r[2 * k + 1] = r1
            g[2 * k + 1] = g1
            b[2 * k + 1] = b1
        }
        if width & 1 == 1 {
            let p = line + 4 * pairs
            let (rv, gv, bv) = yuvToRGB(Float(p[0]), Float(p[1]), Float(p[3]))
            r[width - 1] = rv
            g[width - 1] = gv
            b[width - 1] = bv
        }
    case .nv12:
        let uv = base + stride * frame.height + (y >> 1) * stride
        convertPairs(line, width: width, r: r, g: g, b: b) { k in (Float(uv[2 * k]), Float(uv[2 * k + 1])) }
    case .yu12:
        let chromaStride = (stride + 1) / 2, chromaRows = (frame.height + 1) / 2
        let uPlane = base + stride * frame.height
        let u = uPlane + (y >> 1) * chromaStride
        let v = uPlane + chromaStride * chromaRows + (y >> 1) * chromaStride
        convertPairs(line, width: width, r: r, g: g, b: b) { k in (Float(u[k]), Float(v[k])) }
    }
}

/// Scalar reference: the whole frame as packed RGB bytes-as-floats (H·W·3), used by tests to check the fused path
/// against "convert everything, then letterbox packed RGB".
package func convertFrameReference(_ frame: PixelBuffer) -> [Float] {
    var out = [Float](repeating: 0, count: frame.width * frame.height * 3)
    var r = [Float](repeating: 0, count: frame.width), g = r, b = r
    for y in 0..<frame.height {
        r.withUnsafeMutableBufferPointer { rp in
            g.withUnsafeMutableBufferPointer { gp in
                b.withUnsafeMutableBufferPointer { bp in
                    convertRow(y, of: frame, r: rp.baseAddress!, g: gp.baseAddress!, b: bp.baseAddress!)
                }
            }
        }
        for x in 0..<frame.width {
            out[(y * frame.width + x) * 3] = r[x]
            out[(y * frame.width + x) * 3 + 1] = g[x]
            out[(y * frame.width + x) * 3 + 2] = b[x]
        }
    }
    return out
}
