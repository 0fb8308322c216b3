import Foundation

/// Movement and broadcasting kernels over N-d strided views, in portable Swift: slices, transposes, concat copies,
/// gathers and broadcasting arithmetic. They are off the hot path in the supported detectors (head reshuffles and
/// a few small copies), so they favour generality; each splits its outermost loop across parts.
enum StridedKernels {
    /// dst[i0…in] (row-major over `shape`) = src[base + Σ i_k · strides[k]].
    static func copy(
        src: UnsafePointer<Float>, base: Int, strides: [Int], shape: [Int], dst: UnsafeMutablePointer<Float>,
        ith: Int, nth: Int
    ) {
        let rank = shape.count
        guard rank > 0 else { if ith == 0 { dst[0] = src[base] }; return }
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        let rows = shape.dropLast().reduce(1, *)
        let (r0, r1) = partition(rows, ith, nth)
        guard r0 < r1 else { return }
        var index = unflatten(r0, Array(shape.dropLast()))
        for row in r0..<r1 {
            var offset = base
            for axis in 0..<(rank - 1) { offset += index[axis] * strides[axis] }
            let out = dst + row * inner
            if innerStride == 1 {
                out.update(from: src + offset, count: inner)
            } else {
                for j in 0..<inner { out[j] = src[offset + j * innerStride] }
            }
            increment(&index, Array(shape.dropLast()))
        }
    }

    /// out = a ∘ b with numpy broadcasting; `aStrides`/`bStrides` already broadcast to `shape`.
    static func binary(
        _ kind: BinaryKind, a: UnsafePointer<Float>, aStrides: [Int], b: UnsafePointer<Float>, bStrides: [Int],
        shape: [Int], out: UnsafeMutablePointer<Float>, ith: Int, nth: Int
    ) {
        let rank = shape.count
        let inner = rank > 0 ? shape[rank - 1] : 1
        let sa = rank > 0 ? aStrides[rank - 1] : 0, sb = rank > 0 ? bStrides[rank - 1] : 0
        let outer = Array(shape.dropLast())
        let rows = outer.reduce(1, *)
        let (r0, r1) = partition(rows, ith, nth)
        guard r0 < r1 else { return }
        var index = unflatten(r0, outer)
        for row in r0..<r1 {
            var oa = 0, ob = 0
            for axis in 0..<outer.count { oa += index[axis] * aStrides[axis]; ob += index[axis] * bStrides[axis] }
            let o = out + row * inner
            switch kind {
            case .add: for j in 0..<inner { o[j] = a[oa + j * sa] + b[ob + j * sb] }
            case .sub: for j in 0..<inner { o[j] = a[oa + j * sa] - b[ob + j * sb] }
            case .mul: for j in 0..<inner { o[j] = a[oa + j * sa] * b[ob + j * sb] }
            case .div: for j in 0..<inner { o[j] = a[oa + j * sa] / b[ob + j * sb] }
            }
            increment(&index, outer)
        }
    }

    /// Softmax over `dim` elements spaced `inner` apart, for `outer·inner` independent rows.
    static func softmax(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, dim: Int, inner: Int, ith: Int, nth: Int) {
        let (r0, r1) = partition(outer * inner, ith, nth)
        for row in r0..<r1 {
            let base = (row / inner) * dim * inner + row % inner
            var maxValue = -Float.infinity
            for d in 0..<dim { maxValue = max(maxValue, x[base + d * inner]) }
            var sum: Float = 0
            for d in 0..<dim {
                let e = expf(x[base + d * inner] - maxValue)
                y[base + d * inner] = e
                sum += e
            }
            let scale = 1 / sum
            for d in 0..<dim { y[base + d * inner] *= scale }
        }
    }

    /// Batched matmul: batch offsets precomputed; rows of the output split across parts.
    static func matMul(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        aOffsets: [Int], bOffsets: [Int], m: Int, k: Int, n: Int, ith: Int, nth: Int
    ) {
        let (r0, r1) = partition(aOffsets.count * m, ith, nth)
        for row in r0..<r1 {
            let batch = row / m, i = row % m
            let pa = a + aOffsets[batch] + i * k, pb = b + bOffsets[batch]
            let o = out + row * n
            for j in 0..<n { o[j] = 0 }
            for l in 0..<k {
                let s = pa[l]
                let brow = pb + l * n
                for j in 0..<n { o[j] += s * brow[j] }
            }
        }
    }

    static func partition(_ count: Int, _ ith: Int, _ nth: Int) -> (Int, Int) {
        let chunk = (count + nth - 1) / nth
        return (min(ith * chunk, count), min((ith + 1) * chunk, count))
    }

    static func unflatten(_ flat: Int, _ shape: [Int]) -> [Int] {
        var index = [Int](repeating: 0, count: shape.count)
        var rest = flat
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return index
    }

    static func increment(_ index: inout [Int], _ shape: [Int]) {
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { return }
            index[axis] = 0
            axis -= 1
        }
    }
}



