import CSenteiKernels
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
        shape.withUnsafeBufferPointer { shape in
            strides.withUnsafeBufferPointer { strides in
                if rank >= 2 && strides[rank - 1] != 1 && strides[rank - 2] == 1 {
                    transposeLastAxes(src: src, base: base, strides: strides, shape: shape, dst: dst, ith: ith, nth: nth)
                } else {
                    copyRows(src: src, base: base, strides: strides, shape: shape, dst: dst, ith: ith, nth: nth)
                }
            }
        }
    }

    /// The source offset of output row `row` (all axes but the last), by mixed-radix digits: no index array.
    @inline(__always)
    static func rowOffset(_ row: Int, base: Int, axes: Int, strides: UnsafeBufferPointer<Int>, shape: UnsafeBufferPointer<Int>) -> Int {
        var offset = base, rest = row
        var axis = axes - 1
        while axis >= 0 {
            let n = shape[axis]
            offset += (rest % n) * strides[axis]
            rest /= n
            axis -= 1
        }
        return offset
    }

    static func copyRows(
        src: UnsafePointer<Float>, base: Int, strides: UnsafeBufferPointer<Int>, shape: UnsafeBufferPointer<Int>,
        dst: UnsafeMutablePointer<Float>, ith: Int, nth: Int
    ) {
        let rank = shape.count
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        var rows = 1
        for axis in 0..<(rank - 1) { rows *= shape[axis] }
        let (r0, r1) = partition(rows, ith, nth)
        for row in r0..<r1 {
            let from = src + rowOffset(row, base: base, axes: rank - 1, strides: strides, shape: shape)
            let out = dst + row * inner
            if innerStride == 1 {
                out.update(from: from, count: inner)
            } else {
                for j in 0..<inner { out[j] = from[j * innerStride] }
            }
        }
    }

    /// A copy whose last output axis walks the source with a stride and whose second-to-last walks it contiguously
    /// (a transpose of the last two axes, e.g. YOLOX's [85, 3549] → [3549, 85] head): 16×16 blocks, so both the
    /// reads and the writes of a block stay within a few cache lines instead of one line per element, transposed
    /// in registers on AVX-512 (sk_transpose_f32).
    static func transposeLastAxes(
        src: UnsafePointer<Float>, base: Int, strides: UnsafeBufferPointer<Int>, shape: UnsafeBufferPointer<Int>,
        dst: UnsafeMutablePointer<Float>, ith: Int, nth: Int
    ) {
        let rank = shape.count
        let rowsPer = shape[rank - 2], cols = shape[rank - 1], colStride = strides[rank - 1]
        var outer = 1
        for axis in 0..<(rank - 2) { outer *= shape[axis] }
        let block = 16
        let rowBlocks = (rowsPer + block - 1) / block
        let (b0, b1) = partition(outer * rowBlocks, ith, nth)
        for item in b0..<b1 {
            let o = item / rowBlocks, r0 = (item % rowBlocks) * block
            let r1 = min(rowsPer, r0 + block)
            let from = src + rowOffset(o, base: base, axes: rank - 2, strides: strides, shape: shape)
            let out = dst + o * rowsPer * cols
            // Source rows are the output's columns (stride colStride), contiguous along the output's rows.
            sk_transpose_f32(from + r0, colStride, out + r0 * cols, cols, cols, r1 - r0, Int32(KernelISA.best.rawValue))
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
        let outerRank = max(rank - 1, 0)
        var rows = 1
        for axis in 0..<outerRank { rows *= shape[axis] }
        let (r0, r1) = partition(rows, ith, nth)
        guard r0 < r1 else { return }
        // The row index lives on the stack: this runs per frame (YOLOv8's head), and arrays would allocate.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(outerRank, 1)) { index in
            var rest = r0
            for axis in stride(from: outerRank - 1, through: 0, by: -1) {
                let extent = shape[axis]
                index[axis] = extent > 0 ? rest % extent : 0
                if extent > 0 { rest /= extent }
            }
            for row in r0..<r1 {
                var oa = 0, ob = 0
                for axis in 0..<outerRank { oa += index[axis] * aStrides[axis]; ob += index[axis] * bStrides[axis] }
                let o = out + row * inner
                switch kind {
                case .add: for j in 0..<inner { o[j] = a[oa + j * sa] + b[ob + j * sb] }
                case .sub: for j in 0..<inner { o[j] = a[oa + j * sa] - b[ob + j * sb] }
                case .mul: for j in 0..<inner { o[j] = a[oa + j * sa] * b[ob + j * sb] }
                case .div: for j in 0..<inner { o[j] = a[oa + j * sa] / b[ob + j * sb] }
                }
                var axis = outerRank - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
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



