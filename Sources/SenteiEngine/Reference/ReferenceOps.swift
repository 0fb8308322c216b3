import Foundation

/// Scalar reference semantics of every op: the definition the fast runtime is tested against, and the evaluator the
/// importer uses to fold constant subgraphs. Written for clarity, not speed.
package enum ReferenceOps {
    package static func evaluate(_ node: Node, inputs: [[Float]], shapes: [[Int]]) -> [Float] {
        let outShape = node.shape
        let outCount = outShape.reduce(1, *)
        switch node.op {
        case .input, .constant:
            preconditionFailure("inputs and constants are not evaluated")
        case .conv(let conv):
            return convolve(conv, input: inputs[0], shape: shapes[0], outShape: outShape,
                            residual: conv.hasResidual ? inputs[1] : nil)
        case .channelAffine(let scale, let shift):
            let channels = shapes[0].count > 1 ? shapes[0][1] : 1
            let inner = shapes[0].count > 2 ? shapes[0][2...].reduce(1, *) : 1
            var out = inputs[0]
            for i in 0..<out.count {
                let c = (i / inner) % channels
                out[i] = out[i] * scale[c] + shift[c]
            }
            return out
        case .unary(let kind):
            return inputs[0].map { apply(kind, $0) }
        case .binary(let kind):
            let sa = ShapeMath.broadcastStrides(shapes[0], to: outShape)
            let sb = ShapeMath.broadcastStrides(shapes[1], to: outShape)
            var out = [Float](repeating: 0, count: outCount)
            forEachIndex(outShape) { flat, index in
                var ia = 0, ib = 0
                for axis in 0..<index.count { ia += index[axis] * sa[axis]; ib += index[axis] * sb[axis] }
                out[flat] = apply(kind, inputs[0][ia], inputs[1][ib])
            }
            return out
        case .concat(let axis):
            let outer = outShape[..<axis].reduce(1, *)
            var out = [Float]()
            out.reserveCapacity(outCount)
            for o in 0..<outer {
                for (input, shape) in zip(inputs, shapes) {
                    let block = shape[axis...].reduce(1, *)
                    out.append(contentsOf: input[(o * block)..<((o + 1) * block)])
                }
            }
            return out
        case .slice(let starts, let steps):
            let inStrides = ShapeMath.strides(shapes[0])
            var out = [Float](repeating: 0, count: outCount)
            forEachIndex(outShape) { flat, index in
                var source = 0
                for axis in 0..<index.count { source += (starts[axis] + index[axis] * steps[axis]) * inStrides[axis] }
                out[flat] = inputs[0][source]
            }
            return out
        case .maxPool(let pool):
            return maxPool(pool, input: inputs[0], shape: shapes[0], outShape: outShape)
        case .resizeNearest(let sourceIndex):
            let inStrides = ShapeMath.strides(shapes[0])
            var out = [Float](repeating: 0, count: outCount)
            forEachIndex(outShape) { flat, index in
                var source = 0
                for axis in 0..<index.count { source += sourceIndex[axis][index[axis]] * inStrides[axis] }
                out[flat] = inputs[0][source]
            }
            return out
        case .reshape:
            return inputs[0]
        case .transpose(let perm):
            let inStrides = ShapeMath.strides(shapes[0])
            var out = [Float](repeating: 0, count: outCount)
            forEachIndex(outShape) { flat, index in
                var source = 0
                for axis in 0..<index.count { source += index[axis] * inStrides[perm[axis]] }
                out[flat] = inputs[0][source]
            }
            return out
        case .softmax(let axis):
            let dim = outShape[axis]
            let inner = outShape[(axis + 1)...].reduce(1, *)
            let outer = outShape[..<axis].reduce(1, *)
            var out = inputs[0]
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * dim * inner + i
                    var maxValue = -Float.infinity
                    for d in 0..<dim { maxValue = max(maxValue, out[base + d * inner]) }
                    var sum: Float = 0
                    for d in 0..<dim {
                        let e = Float(exp(Double(out[base + d * inner] - maxValue)))
                        out[base + d * inner] = e
                        sum += e
                    }
                    for d in 0..<dim { out[base + d * inner] /= sum }
                }
            }
            return out
        case .matMul:
            return matMul(inputs[0], shapes[0], inputs[1], shapes[1], outShape: outShape)
        case .gather(let axis, let indices, _):
            let shape = shapes[0]
            let outer = shape[..<axis].reduce(1, *)
            let inner = shape[(axis + 1)...].reduce(1, *)
            var out = [Float]()
            out.reserveCapacity(outCount)
            for o in 0..<outer {
                for index in indices {
                    let base = (o * shape[axis] + index) * inner
                    out.append(contentsOf: inputs[0][base..<(base + inner)])
                }
            }
            return out
        }
    }

    package static func apply(_ kind: UnaryKind, _ x: Float) -> Float {
        switch kind {
        case .relu: return max(x, 0)
        case .sigmoid: return Float(1 / (1 + exp(-Double(x))))
        case .silu: return Float(Double(x) / (1 + exp(-Double(x))))
        case .identity: return x
        }
    }

    package static func apply(_ activation: Activation, _ x: Float) -> Float {
        switch activation {
        case .none: return x
        case .relu: return apply(UnaryKind.relu, x)
        case .sigmoid: return apply(UnaryKind.sigmoid, x)
        case .silu: return apply(UnaryKind.silu, x)
        }
    }

    package static func apply(_ kind: BinaryKind, _ a: Float, _ b: Float) -> Float {
        switch kind {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }

    /// Calls body(flatIndex, multiIndex) for every element of `shape` in row-major order.
    package static func forEachIndex(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        var index = [Int](repeating: 0, count: shape.count)
        for flat in 0..<count {
            body(flat, index)
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    static func convolve(_ conv: Conv, input: [Float], shape: [Int], outShape: [Int], residual: [Float]?) -> [Float] {
        let (cin, h, w) = (shape[1], shape[2], shape[3])
        let (cout, oh, ow) = (outShape[1], outShape[2], outShape[3])
        let cinPerGroup = cin / conv.group, coutPerGroup = cout / conv.group
        var out = [Float](repeating: 0, count: cout * oh * ow)
        for co in 0..<cout {
            let g = co / coutPerGroup
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc: Double = Double(conv.bias?[co] ?? 0)
                    for ci in 0..<cinPerGroup {
                        for ky in 0..<conv.kernel.h {
                            let iy = oy * conv.stride.h - conv.pads.t + ky * conv.dilation.h
                            guard iy >= 0, iy < h else { continue }
                            for kx in 0..<conv.kernel.w {
                                let ix = ox * conv.stride.w - conv.pads.l + kx * conv.dilation.w
                                guard ix >= 0, ix < w else { continue }
                                let weight = conv.weights[((co * cinPerGroup + ci) * conv.kernel.h + ky) * conv.kernel.w + kx]
                                acc += Double(weight) * Double(input[((g * cinPerGroup + ci) * h + iy) * w + ix])
                            }
                        }
                    }
                    let flat = (co * oh + oy) * ow + ox
                    var y = apply(conv.activation, Float(acc))
                    if let residual { y += residual[flat] }
                    out[flat] = y
                }
            }
        }
        return out
    }

    static func maxPool(_ pool: Pool, input: [Float], shape: [Int], outShape: [Int]) -> [Float] {
        let (c, h, w) = (shape[1], shape[2], shape[3])
        let (oh, ow) = (outShape[2], outShape[3])
        var out = [Float](repeating: 0, count: c * oh * ow)
        for ch in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity
                    for ky in 0..<pool.kernel.h {
                        let iy = oy * pool.stride.h - pool.pads.t + ky * pool.dilation.h
                        guard iy >= 0, iy < h else { continue }
                        for kx in 0..<pool.kernel.w {
                            let ix = ox * pool.stride.w - pool.pads.l + kx * pool.dilation.w
                            guard ix >= 0, ix < w else { continue }
                            best = max(best, input[(ch * h + iy) * w + ix])
                        }
                    }
                    out[(ch * oh + oy) * ow + ox] = best
                }
            }
        }
        return out
    }

    static func matMul(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], outShape: [Int]) -> [Float] {
        // Promote 1-D operands as numpy does; outShape already has the promoted axes removed.
        let a2 = sa.count == 1 ? [1] + sa : sa
        let b2 = sb.count == 1 ? sb + [1] : sb
        let (m, k, n) = (a2[a2.count - 2], a2[a2.count - 1], b2[b2.count - 1])
        let batchShape = ShapeMath.broadcast(Array(a2.dropLast(2)), Array(b2.dropLast(2))) ?? []
        let batchA = ShapeMath.broadcastStrides(Array(a2.dropLast(2)), to: batchShape)
        let batchB = ShapeMath.broadcastStrides(Array(b2.dropLast(2)), to: batchShape)
        var out = [Float]()
        out.reserveCapacity(outShape.reduce(1, *))
        forEachIndex(batchShape) { _, index in
            var offA = 0, offB = 0
            for axis in 0..<index.count { offA += index[axis] * batchA[axis]; offB += index[axis] * batchB[axis] }
            offA *= m * k
            offB *= k * n
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Double = 0
                    for l in 0..<k { acc += Double(a[offA + i * k + l]) * Double(b[offB + l * n + j]) }
                    out.append(Float(acc))
                }
            }
        }
        if batchShape.isEmpty && out.isEmpty { return [] }
        return out
    }
}
