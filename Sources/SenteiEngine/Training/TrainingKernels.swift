import Foundation

/// The backward-pass loops that are not GEMMs: layout changes around the GEMMs (transposes, colᵀ, col2im), the
/// depthwise conv's two gradients, activation derivatives, and scatter-adds for data movement ops. Plain Swift over
/// raw pointers, written so the compiler vectorises the inner loops.
enum TrainingKernels {
    /// dst (columns × rows) = srcᵀ for a rows × columns row-major src, in cache-sized tiles.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>) {
        transposeRows(src, rows: rows, columns: columns, columnRange: 0..<columns, into: dst)
    }

    /// dst[c·rows + r] = src[r·columns + c] for c in `columnRange` only (parts split the columns).
    static func transposeRows(_ src: UnsafePointer<Float>, rows: Int, columns: Int, columnRange: Range<Int>,
                              into dst: UnsafeMutablePointer<Float>) {
        let tile = 32
        var c0 = columnRange.lowerBound
        while c0 < columnRange.upperBound {
            let c1 = min(c0 + tile, columnRange.upperBound)
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + tile, rows)
                for c in c0..<c1 {
                    let out = dst + c &* rows
                    for r in r0..<r1 { out[r] = src[r &* columns &+ c] }
                }
                r0 = r1
            }
            c0 = c1
        }
    }

    /// Rows `pixels` of colᵀ (N × K): row n holds, for (ci, ky, kx) in order, the input value output pixel n reads
    /// (0 in the padding).
    static func buildColumnsTransposed(_ p: ConvPlan, x: UnsafePointer<Float>, pixels: Range<Int>,
                                       into colT: UnsafeMutablePointer<Float>) {
        let c = p.conv
        let (kh, kw) = c.kernel
        for n in pixels {
            let oy = n / p.ow, ox = n % p.ow
            var row = colT + n &* p.k
            let iy0 = oy &* c.stride.h &- c.pads.t, ix0 = ox &* c.stride.w &- c.pads.l
            for ci in 0..<p.cinG {
                let plane = x + ci &* p.h &* p.w
                for ky in 0..<kh {
                    let iy = iy0 &+ ky &* c.dilation.h
                    if iy < 0 || iy >= p.h {
                        for kx in 0..<kw { row[kx] = 0 }
                    } else {
                        let line = plane + iy &* p.w
                        for kx in 0..<kw {
                            let ix = ix0 &+ kx &* c.dilation.w
                            row[kx] = ix >= 0 && ix < p.w ? line[ix] : 0
                        }
                    }
                    row += kw
                }
            }
        }
    }

    /// dx[ci] += col2im(dcol) for the input channels in `channels` (disjoint between parts).
    static func col2imAdd(_ p: ConvPlan, dcol: UnsafePointer<Float>, channels: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
        let c = p.conv
        let (kh, kw) = c.kernel
        let sw = c.stride.w
        for ci in channels {
            let plane = dx + ci &* p.h &* p.w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let row = dcol + ((ci &* kh &+ ky) &* kw &+ kx) &* p.n
                    let xOffset = kx &* c.dilation.w &- c.pads.l
                    // ox with 0 ≤ ox·sw + xOffset < w
                    let lo = xOffset >= 0 ? 0 : (-xOffset + sw - 1) / sw
                    let last = p.w - 1 - xOffset
                    let hi = last < 0 ? 0 : min(p.ow, last / sw + 1)
                    guard lo < hi else { continue }
                    for oy in 0..<p.oh {
                        let iy = oy &* c.stride.h &- c.pads.t &+ ky &* c.dilation.h
                        if iy < 0 || iy >= p.h { continue }
                        let src = row + oy &* p.ow
                        let dst = plane + (iy &* p.w &+ xOffset)
                        if sw == 1 {
                            for ox in lo..<hi { dst[ox] += src[ox] }
                        } else {
                            for ox in lo..<hi { dst[ox &* sw] += src[ox] }
                        }
                    }
                }
            }
        }
    }

    /// One channel of a depthwise conv: dw[tap] += Σ dz·x, dx += w[tap]·dz.
    static func depthwiseBackward(_ p: ConvPlan, channel: Int, x: UnsafePointer<Float>, dz: UnsafePointer<Float>,
                                  weights: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                                  dx: UnsafeMutablePointer<Float>?) {
        let c = p.conv
        let (kh, kw) = c.kernel
        let sw = c.stride.w
        for ky in 0..<kh {
            for kx in 0..<kw {
                let xOffset = kx &* c.dilation.w &- c.pads.l
                let lo = xOffset >= 0 ? 0 : (-xOffset + sw - 1) / sw
                let last = p.w - 1 - xOffset
                let hi = last < 0 ? 0 : min(p.ow, last / sw + 1)
                guard lo < hi else { continue }
                let wt = weights[ky &* kw &+ kx]
                var acc: Float = 0
                for oy in 0..<p.oh {
                    let iy = oy &* c.stride.h &- c.pads.t &+ ky &* c.dilation.h
                    if iy < 0 || iy >= p.h { continue }
                    let g = dz + oy &* p.ow
                    let xs = x + (iy &* p.w &+ xOffset)
                    var rowAcc: Float = 0
                    if sw == 1 {
                        // Explicit vectors: a float reduction is not vectorised by the compiler on its own.
                        var vacc = SIMD8<Float>()
                        let wv = SIMD8<Float>(repeating: wt)
                        var ox = lo
                        let d = dx.map { $0 + (iy &* p.w &+ xOffset) }
                        while ox &+ 8 <= hi {
                            let gv = UnsafeRawPointer(g + ox).loadUnaligned(as: SIMD8<Float>.self)
                            vacc += gv * UnsafeRawPointer(xs + ox).loadUnaligned(as: SIMD8<Float>.self)
                            if let d {
                                let dv = UnsafeRawPointer(d + ox).loadUnaligned(as: SIMD8<Float>.self)
                                UnsafeMutableRawPointer(d + ox).storeBytes(of: dv + wv * gv, as: SIMD8<Float>.self)
                            }
                            ox &+= 8
                        }
                        rowAcc = vacc.sum()
                        while ox < hi {
                            rowAcc += g[ox] * xs[ox]
                            d?[ox] += wt * g[ox]
                            ox &+= 1
                        }
                    } else {
                        for ox in lo..<hi { rowAcc += g[ox] * xs[ox &* sw] }
                        if let dx {
                            let d = dx + (iy &* p.w &+ xOffset)
                            for ox in lo..<hi { d[ox &* sw] += wt * g[ox] }
                        }
                    }
                    acc += rowAcc
                }
                dw[ky &* kw &+ kx] += acc
            }
        }
    }

    /// dz = dy ⊙ act′(z); `sigmoid` holds σ(z) (unused for relu).
    static func activationBackward(_ activation: Activation, z: UnsafePointer<Float>, sigmoid s: UnsafePointer<Float>,
                                   dy: UnsafePointer<Float>, dz: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .none: for j in 0..<count { dz[j] = dy[j] }
        case .relu: for j in 0..<count { dz[j] = z[j] > 0 ? dy[j] : 0 }
        case .sigmoid: for j in 0..<count { dz[j] = dy[j] * s[j] * (1 - s[j]) }
        case .silu: for j in 0..<count { dz[j] = dy[j] * s[j] * (1 + z[j] * (1 - s[j])) }
        }
    }

    /// dx += dy ⊙ f′ for a standalone unary node with input x and output y.
    static func unaryBackward(_ kind: UnaryKind, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                              dx: UnsafeMutablePointer<Float>, count: Int) {
        switch kind {
        case .identity: for j in 0..<count { dx[j] += dy[j] }
        case .relu: for j in 0..<count where x[j] > 0 { dx[j] += dy[j] }
        case .sigmoid: for j in 0..<count { dx[j] += dy[j] * y[j] * (1 - y[j]) }
        case .silu:
            for j in 0..<count {
                let s = 1 / (1 + expf(-x[j]))
                dx[j] += dy[j] * s * (1 + x[j] * (1 - s))
            }
        }
    }

    /// Same-shape binary op: da += ∂/∂a, db += ∂/∂b (either may be nil; they may be the same buffer).
    static func binaryBackward(_ kind: BinaryKind, a: UnsafePointer<Float>, b: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                               da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, count: Int) {
        switch kind {
        case .add:
            if let da { accumulate(dy, into: da, count: count) }
            if let db { accumulate(dy, into: db, count: count) }
        case .sub:
            if let da { accumulate(dy, into: da, count: count) }
            if let db { for j in 0..<count { db[j] -= dy[j] } }
        case .mul:
            if let da { for j in 0..<count { da[j] += dy[j] * b[j] } }
            if let db { for j in 0..<count { db[j] += dy[j] * a[j] } }
        case .div:
            if let da { for j in 0..<count { da[j] += dy[j] / b[j] } }
            if let db { for j in 0..<count { db[j] -= dy[j] * a[j] / (b[j] * b[j]) } }
        }
    }

    static func accumulate(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        for j in 0..<count { dst[j] += src[j] }
    }

    static func sum(_ src: UnsafePointer<Float>, count: Int) -> Float {
        // Eight partial sums: vectorised, and less rounding drift than one running sum over 10⁴ values.
        var partial = SIMD8<Float>()
        var j = 0
        while j + 8 <= count {
            partial += UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self)
            j += 8
        }
        var total = partial.sum()
        while j < count { total += src[j]; j += 1 }
        return total
    }

    /// dx[base + Σ i_k·strides_k] += dy[i] over `shape` (backward of a strided copy: slice, transpose).
    static func scatterAdd(_ dy: UnsafePointer<Float>, shape: [Int], into dx: UnsafeMutablePointer<Float>, base: Int, strides: [Int]) {
        let rank = shape.count
        guard rank > 0 else { dx[base] += dy[0]; return }
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        let outer = Array(shape.dropLast())
        var index = [Int](repeating: 0, count: outer.count)
        for row in 0..<outer.reduce(1, *) {
            var offset = base
            for axis in 0..<outer.count { offset += index[axis] * strides[axis] }
            let src = dy + row * inner
            for j in 0..<inner { dx[offset + j * innerStride] += src[j] }
            StridedKernels.increment(&index, outer)
        }
    }

    /// Routes each output's gradient to the first maximum of its window (the value the forward pass picked).
    static func maxPoolBackward(_ pool: Pool, x: UnsafePointer<Float>, inShape: [Int], dy: UnsafePointer<Float>,
                                outShape: [Int], dx: UnsafeMutablePointer<Float>) {
        let (c, h, w) = (inShape[1], inShape[2], inShape[3])
        let (oh, ow) = (outShape[2], outShape[3])
        for ch in 0..<c {
            let plane = x + ch * h * w, grad = dx + ch * h * w
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity, at = -1
                    for ky in 0..<pool.kernel.h {
                        let iy = oy * pool.stride.h - pool.pads.t + ky * pool.dilation.h
                        guard iy >= 0, iy < h else { continue }
                        for kx in 0..<pool.kernel.w {
                            let ix = ox * pool.stride.w - pool.pads.l + kx * pool.dilation.w
                            guard ix >= 0, ix < w else { continue }
                            let v = plane[iy * w + ix]
                            if v > best { best = v; at = iy * w + ix }
                        }
                    }
                    if at >= 0 { grad[at] += dy[(ch * oh + oy) * ow + ox] }
                }
            }
        }
    }
}
