import Foundation

/// One importer per ONNX op, keyed by the ONNX spelling so that searching for a spec name finds the code.
extension ONNXImporter {
    typealias OpImporter = @Sendable (inout ONNXImporter, NodeContext) throws -> [NodeID]

    static let table: [String: OpImporter] = [
        "Conv": importConv,
        "BatchNormalization": importBatchNormalization,
        "Relu": { im, c in [try im.unary(.relu, c)] },
        "Sigmoid": { im, c in [try im.unary(.sigmoid, c)] },
        "Identity": { _, c in [try c.input(0)] },
        "Dropout": { _, c in [try c.input(0)] },
        "Add": { im, c in [try im.binary(.add, c)] },
        "Sub": { im, c in [try im.binary(.sub, c)] },
        "Mul": { im, c in [try im.binary(.mul, c)] },
        "Div": { im, c in [try im.binary(.div, c)] },
        "Concat": importConcat,
        "Slice": importSlice,
        "Split": importSplit,
        "MaxPool": importMaxPool,
        "Resize": importResize,
        "Reshape": importReshape,
        "Flatten": importFlatten,
        "Transpose": importTranspose,
        "Softmax": importSoftmax,
        "MatMul": importMatMul,
        "Constant": importConstantNode,
        "Shape": importShape,
        "Gather": importGather,
        "Unsqueeze": importUnsqueeze,
        "Squeeze": importSqueeze,
        "Cast": importCast,
    ]

    // MARK: helpers

    func constantInts(_ id: NodeID, _ c: NodeContext, what: String) throws -> [Int] {
        guard case .constant(let data) = graph[id].op else {
            throw c.error(.unsupportedOp, "\(what) must be a constant (it is computed at run time by '\(graph[id].name)')")
        }
        return try data.ints.map {
            guard let v = Int(exactly: $0) else { throw c.error(.shapeMismatch, "\(what) value \($0) is out of range") }
            return v
        }
    }

    func constantFloats(_ id: NodeID, _ c: NodeContext, what: String) throws -> [Float] {
        guard case .constant(let data) = graph[id].op else {
            throw c.error(.unsupportedOp, "\(what) must be a constant (it is computed at run time by '\(graph[id].name)')")
        }
        return data.floats
    }

    func normalizedAxis(_ axis: Int, rank: Int, _ c: NodeContext) throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard normalized >= 0, normalized < max(rank, 1) else {
            throw c.error(.shapeMismatch, "axis \(axis) is out of range for rank \(rank)")
        }
        return normalized
    }

    func checkedShape(_ shape: [Int], _ c: NodeContext) throws -> [Int] {
        guard ShapeMath.checkedCount(shape) != nil else {
            throw c.error(.shapeMismatch, "output shape \(shape) is negative or absurdly large")
        }
        return shape
    }

    mutating func unary(_ kind: UnaryKind, _ c: NodeContext) throws -> NodeID {
        let x = try c.input(0)
        return emit(.unary(kind), [x], shape: graph[x].shape, name: c.name)
    }

    mutating func binary(_ kind: BinaryKind, _ c: NodeContext) throws -> NodeID {
        let a = try c.input(0), b = try c.input(1)
        guard let shape = ShapeMath.broadcast(graph[a].shape, graph[b].shape) else {
            throw c.error(.shapeMismatch, "shapes \(graph[a].shape) and \(graph[b].shape) do not broadcast")
        }
        return emit(.binary(kind), [a, b], shape: shape, name: c.name)
    }

    mutating func reshape(_ x: NodeID, to shape: [Int], _ c: NodeContext) throws -> NodeID {
        guard shape.reduce(1, *) == graph[x].elementCount else {
            throw c.error(.shapeMismatch, "cannot reshape \(graph[x].shape) (\(graph[x].elementCount) elements) to \(shape)")
        }
        return emit(.reshape, [x], shape: shape, name: c.name)
    }

    // MARK: convolution and normalisation

    static func importConv(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0), w = try c.input(1)
        let xs = im.graph[x].shape, ws = im.graph[w].shape
        guard xs.count == 4, ws.count == 4 else {
            throw c.error(.unsupportedOp, "only 2-D convolution is supported (input \(xs), weights \(ws))")
        }
        let weights = try im.constantFloats(w, c, what: "the weight tensor")
        let group = try c.int("group", default: 1)
        let (cout, cinPerGroup, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        guard group >= 1, cout % group == 0, xs[1] == cinPerGroup * group, cout > 0, kh > 0, kw > 0 else {
            throw c.error(.shapeMismatch, "weights \(ws) with group \(group) do not fit input \(xs)")
        }
        if let kernel = try c.ints("kernel_shape"), kernel != [kh, kw] {
            throw c.error(.shapeMismatch, "kernel_shape \(kernel) disagrees with weights \(ws)")
        }
        var bias: [Float]?
        if let b = c.optionalInput(2) {
            bias = try im.constantFloats(b, c, what: "the bias")
            guard bias!.count == cout else { throw c.error(.shapeMismatch, "bias has \(bias!.count) values for \(cout) output channels") }
        }
        let window = try windowGeometry(c, input: (xs[2], xs[3]), kernel: (kh, kw), ceilMode: false)
        let conv = Conv(outChannels: cout, inChannels: xs[1], group: group, kernel: (kh, kw), stride: window.stride,
                        dilation: window.dilation, pads: window.pads, weights: weights, bias: bias)
        let shape = try im.checkedShape([xs[0], cout, window.out.h, window.out.w], c)
        return [im.emit(.conv(conv), [x], shape: shape, name: c.name)]
    }

    struct Window {
        var stride: (h: Int, w: Int)
        var dilation: (h: Int, w: Int)
        var pads: (t: Int, l: Int, b: Int, r: Int)
        var out: (h: Int, w: Int)
    }

    /// Strides, dilations, pads (explicit or auto_pad) and output size shared by Conv and MaxPool.
    static func windowGeometry(_ c: NodeContext, input: (h: Int, w: Int), kernel: (h: Int, w: Int), ceilMode: Bool) throws -> Window {
        let strides = try c.ints("strides") ?? [1, 1]
        let dilations = try c.ints("dilations") ?? [1, 1]
        var pads = try c.ints("pads") ?? [0, 0, 0, 0]
        guard strides.count == 2, dilations.count == 2, pads.count == 4,
              strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 && $0 < 1 << 16 })
        else { throw c.error(.shapeMismatch, "strides \(strides), dilations \(dilations) or pads \(pads) are invalid for a 2-D window") }
        let extent = (h: (kernel.h - 1) * dilations[0] + 1, w: (kernel.w - 1) * dilations[1] + 1)
        let autoPad = try c.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET": break
        case "VALID": pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            for (axis, (size, ext)) in [(input.h, extent.h), (input.w, extent.w)].enumerated() {
                let out = (size + strides[axis] - 1) / strides[axis]
                let total = max((out - 1) * strides[axis] + ext - size, 0)
                let small = total / 2, large = total - small
                pads[axis] = autoPad == "SAME_UPPER" ? small : large
                pads[axis + 2] = autoPad == "SAME_UPPER" ? large : small
            }
        default: throw c.error(.unsupportedOp, "auto_pad '\(autoPad)' is not supported")
        }
        func outSize(_ size: Int, _ padSum: Int, _ ext: Int, _ stride: Int, begin: Int) -> Int {
            let span = size + padSum - ext
            guard span >= 0 else { return 0 }
            var out = ceilMode ? (span + stride - 1) / stride + 1 : span / stride + 1
            // In ceil mode the last window must start inside the input or the leading pad.
            if ceilMode, (out - 1) * stride >= size + begin { out -= 1 }
            return out
        }
        let out = (h: outSize(input.h, pads[0] + pads[2], extent.h, strides[0], begin: pads[0]),
                   w: outSize(input.w, pads[1] + pads[3], extent.w, strides[1], begin: pads[1]))
        guard out.h > 0, out.w > 0 else {
            throw c.error(.shapeMismatch, "the window (\(kernel.h)×\(kernel.w)) does not fit the input \(input.h)×\(input.w) with pads \(pads)")
        }
        return Window(stride: (strides[0], strides[1]), dilation: (dilations[0], dilations[1]),
                      pads: (pads[0], pads[1], pads[2], pads[3]), out: out)
    }

    static func importBatchNormalization(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        guard xs.count >= 2 else { throw c.error(.shapeMismatch, "input \(xs) has no channel axis") }
        if try c.int("training_mode", default: 0) != 0 { throw c.error(.unsupportedOp, "training_mode is not supported") }
        let epsilon = try c.float("epsilon", default: 1e-5)
        let scale = try im.constantFloats(try c.input(1), c, what: "scale")
        let bias = try im.constantFloats(try c.input(2), c, what: "B")
        let mean = try im.constantFloats(try c.input(3), c, what: "input_mean")
        let variance = try im.constantFloats(try c.input(4), c, what: "input_var")
        let channels = xs[1]
        guard [scale, bias, mean, variance].allSatisfy({ $0.count == channels }) else {
            throw c.error(.shapeMismatch, "parameters do not have \(channels) values each")
        }
        var factor = [Float](repeating: 0, count: channels), shift = factor
        for ch in 0..<channels {
            factor[ch] = Float(Double(scale[ch]) / (Double(variance[ch]) + Double(epsilon)).squareRoot())
            shift[ch] = bias[ch] - mean[ch] * factor[ch]
        }
        return [im.emit(.channelAffine(scale: factor, shift: shift), [x], shape: xs, name: c.name)]
    }

    // MARK: pooling and resizing

    static func importMaxPool(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        guard xs.count == 4 else { throw c.error(.unsupportedOp, "only 2-D max pooling is supported (input \(xs))") }
        guard let kernel = try c.ints("kernel_shape"), kernel.count == 2, kernel.allSatisfy({ $0 >= 1 && $0 < 1 << 16 }) else {
            throw c.error(.shapeMismatch, "kernel_shape must list 2 positive sizes")
        }
        if c.node.outputs.count > 1, !c.node.outputs[1].isEmpty {
            throw c.error(.unsupportedOp, "the Indices output is not supported")
        }
        let ceil = try c.int("ceil_mode", default: 0) != 0
        let window = try windowGeometry(c, input: (xs[2], xs[3]), kernel: (kernel[0], kernel[1]), ceilMode: ceil)
        let pool = Pool(kernel: (kernel[0], kernel[1]), stride: window.stride, dilation: window.dilation, pads: window.pads)
        return [im.emit(.maxPool(pool), [x], shape: [xs[0], xs[1], window.out.h, window.out.w], name: c.name)]
    }

    static func importResize(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        let mode = try c.string("mode", default: "nearest")
        guard mode == "nearest" else { throw c.error(.unsupportedOp, "mode '\(mode)' is not supported (only nearest)") }
        if try c.int("antialias", default: 0) != 0 { throw c.error(.unsupportedOp, "antialias is not supported") }
        if c.attribute("axes") != nil { throw c.error(.unsupportedOp, "the axes attribute is not supported") }
        let policy = try c.string("keep_aspect_ratio_policy", default: "stretch")
        guard policy == "stretch" else { throw c.error(.unsupportedOp, "keep_aspect_ratio_policy '\(policy)' is not supported") }
        let scalesInput = c.opset < 11 ? 1 : 2
        var scales: [Double] = []
        var sizes: [Int] = []
        if let s = c.optionalInput(scalesInput), im.graph[s].elementCount > 0 {
            scales = try im.constantFloats(s, c, what: "scales").map { Double($0) }
        }
        if c.opset >= 11, let z = c.optionalInput(3), im.graph[z].elementCount > 0 {
            sizes = try im.constantInts(z, c, what: "sizes")
        }
        if sizes.isEmpty {
            guard scales.count == xs.count, scales.allSatisfy({ $0 > 0 && $0 < 1e4 }) else {
                throw c.error(.shapeMismatch, "needs \(xs.count) positive scales or sizes, found scales \(scales)")
            }
            sizes = zip(xs, scales).map { Int((Double($0) * $1).rounded(.down)) }
        } else {
            guard sizes.count == xs.count, sizes.allSatisfy({ $0 > 0 }) else {
                throw c.error(.shapeMismatch, "sizes \(sizes) do not fit input rank \(xs.count)")
            }
            scales = zip(sizes, xs).map { Double($0) / Double($1) }
        }
        let transform = try c.string("coordinate_transformation_mode", default: c.opset < 11 ? "asymmetric" : "half_pixel")
        let rounding = try c.string("nearest_mode", default: c.opset < 11 ? "floor" : "round_prefer_floor")
        var sourceIndex: [[Int]] = []
        for axis in 0..<xs.count {
            let (inSize, outSize, scale) = (xs[axis], sizes[axis], scales[axis])
            var map = [Int](repeating: 0, count: outSize)
            for i in 0..<outSize {
                let coordinate: Double
                switch transform {
                case "half_pixel": coordinate = (Double(i) + 0.5) / scale - 0.5
                case "pytorch_half_pixel": coordinate = outSize > 1 ? (Double(i) + 0.5) / scale - 0.5 : 0
                case "align_corners": coordinate = outSize == 1 ? 0 : Double(i) * Double(inSize - 1) / Double(outSize - 1)
                case "asymmetric": coordinate = Double(i) / scale
                case "tf_half_pixel_for_nearest": coordinate = (Double(i) + 0.5) / scale
                default: throw c.error(.unsupportedOp, "coordinate_transformation_mode '\(transform)' is not supported")
                }
                let rounded: Double
                switch rounding {
                case "round_prefer_floor": rounded = coordinate - coordinate.rounded(.down) == 0.5 ? coordinate.rounded(.down) : coordinate.rounded()
                case "round_prefer_ceil": rounded = coordinate - coordinate.rounded(.down) == 0.5 ? coordinate.rounded(.up) : coordinate.rounded()
                case "floor": rounded = coordinate.rounded(.down)
                case "ceil": rounded = coordinate.rounded(.up)
                default: throw c.error(.unsupportedOp, "nearest_mode '\(rounding)' is not supported")
                }
                map[i] = min(max(Int(rounded), 0), inSize - 1)
            }
            sourceIndex.append(map)
        }
        let shape = try im.checkedShape(sizes, c)
        return [im.emit(.resizeNearest(sourceIndex: sourceIndex), [x], shape: shape, name: c.name)]
    }

    // MARK: joining, slicing, movement

    static func importConcat(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let parts = try (0..<c.inputs.count).map { try c.input($0) }
        guard let first = parts.first else { throw c.error(.shapeMismatch, "has no inputs") }
        let rank = im.graph[first].shape.count
        let axis = try im.normalizedAxis(try c.int("axis", default: 0), rank: rank, c)
        var shape = im.graph[first].shape
        shape[axis] = 0
        for part in parts {
            let ps = im.graph[part].shape
            guard ps.count == rank, (0..<rank).allSatisfy({ $0 == axis || ps[$0] == shape[$0] }) else {
                throw c.error(.shapeMismatch, "input '\(im.graph[part].name)' has shape \(ps), which cannot join \(im.graph[first].shape) along axis \(axis)")
            }
            shape[axis] += ps[axis]
        }
        let nonEmpty = parts.filter { im.graph[$0].elementCount > 0 }
        if nonEmpty.count == 1 { return [try im.reshape(nonEmpty[0], to: shape, c)] }
        return [im.emit(.concat(axis: axis), nonEmpty.isEmpty ? parts : nonEmpty, shape: shape, name: c.name)]
    }

    static func importSlice(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        let starts, ends: [Int]
        var axes: [Int]?, steps: [Int]?
        if c.opset < 10 {
            guard let s = try c.ints("starts"), let e = try c.ints("ends") else { throw c.error(.malformedModel, "needs starts and ends") }
            (starts, ends, axes) = (s, e, try c.ints("axes"))
        } else {
            starts = try im.constantInts(try c.input(1), c, what: "starts")
            ends = try im.constantInts(try c.input(2), c, what: "ends")
            if let a = c.optionalInput(3) { axes = try im.constantInts(a, c, what: "axes") }
            if let s = c.optionalInput(4) { steps = try im.constantInts(s, c, what: "steps") }
        }
        let axisList = try (axes ?? Array(0..<starts.count)).map { try im.normalizedAxis($0, rank: xs.count, c) }
        let stepList = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, axisList.count == starts.count, stepList.count == starts.count, Set(axisList).count == axisList.count else {
            throw c.error(.shapeMismatch, "starts, ends, axes and steps must have equal lengths and distinct axes")
        }
        var outStarts = [Int](repeating: 0, count: xs.count)
        var outSteps = [Int](repeating: 1, count: xs.count)
        var shape = xs
        for (i, axis) in axisList.enumerated() {
            let dim = xs[axis], step = stepList[i]
            guard step != 0 else { throw c.error(.shapeMismatch, "step is 0 on axis \(axis)") }
            var start = starts[i], end = ends[i]
            if start < 0 { start += dim }
            if end < 0 { end += dim }
            if step > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                shape[axis] = max(0, (end - start + step - 1) / step)
            } else {
                start = min(max(start, 0), dim - 1)
                end = min(max(end, -1), dim - 1)
                shape[axis] = max(0, (start - end + (-step) - 1) / (-step))
            }
            outStarts[axis] = start
            outSteps[axis] = step
        }
        return [im.emit(.slice(starts: outStarts, steps: outSteps), [x], shape: shape, name: c.name)]
    }

    static func importSplit(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        let axis = try im.normalizedAxis(try c.int("axis", default: 0), rank: xs.count, c)
        let outputs = c.node.outputs.count
        var sizes: [Int]
        if c.opset < 13, let attr = try c.ints("split") {
            sizes = attr
        } else if c.opset >= 13, let s = c.optionalInput(1) {
            sizes = try im.constantInts(s, c, what: "split")
        } else {
            let parts = try c.int("num_outputs", default: outputs)
            guard parts >= 1 else { throw c.error(.shapeMismatch, "cannot split into \(parts) parts") }
            let chunk = (xs[axis] + parts - 1) / parts
            sizes = (0..<parts).map { min(chunk, max(0, xs[axis] - $0 * chunk)) }
        }
        guard sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == xs[axis] else {
            throw c.error(.shapeMismatch, "split sizes \(sizes) do not cover axis \(axis) of \(xs) with \(outputs) outputs")
        }
        var results: [NodeID] = []
        var offset = 0
        for (i, size) in sizes.enumerated() {
            var starts = [Int](repeating: 0, count: xs.count)
            starts[axis] = offset
            var shape = xs
            shape[axis] = size
            let name = c.node.outputs[i].isEmpty ? "\(c.name):\(i)" : c.node.outputs[i]
            results.append(im.emit(.slice(starts: starts, steps: [Int](repeating: 1, count: xs.count)), [x], shape: shape, name: name))
            offset += size
        }
        return results
    }

    static func importReshape(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let requested = c.opset < 5 ? (try c.ints("shape") ?? []) : try im.constantInts(try c.input(1), c, what: "shape")
        let allowZero = try c.int("allowzero", default: 0) != 0
        let xs = im.graph[x].shape
        var shape: [Int] = []
        var inferred: Int?
        for (i, dim) in requested.enumerated() {
            switch dim {
            case 0 where !allowZero:
                guard i < xs.count else { throw c.error(.shapeMismatch, "shape \(requested) copies dim \(i), which input \(xs) lacks") }
                shape.append(xs[i])
            case -1:
                guard inferred == nil else { throw c.error(.shapeMismatch, "shape \(requested) has more than one -1") }
                inferred = i
                shape.append(1)
            case let d where d < 0:
                throw c.error(.shapeMismatch, "shape \(requested) has a negative dim")
            default:
                shape.append(dim)
            }
        }
        if let i = inferred {
            let known = shape.reduce(1, *)
            guard known > 0, im.graph[x].elementCount % known == 0 else {
                throw c.error(.shapeMismatch, "cannot infer the -1 in \(requested) for \(xs)")
            }
            shape[i] = im.graph[x].elementCount / known
        }
        return [try im.reshape(x, to: shape, c)]
    }

    static func importFlatten(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        var axis = try c.int("axis", default: 1)
        if axis < 0 { axis += xs.count }
        guard axis >= 0, axis <= xs.count else { throw c.error(.shapeMismatch, "axis \(axis) is out of range for \(xs)") }
        return [try im.reshape(x, to: [xs[..<axis].reduce(1, *), xs[axis...].reduce(1, *)], c)]
    }

    static func importTranspose(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        let perm = try c.ints("perm") ?? Array((0..<xs.count).reversed())
        guard perm.count == xs.count, Set(perm) == Set(0..<xs.count) else {
            throw c.error(.shapeMismatch, "perm \(perm) is not a permutation of \(xs.count) axes")
        }
        return [im.emit(.transpose(perm: perm), [x], shape: perm.map { xs[$0] }, name: c.name)]
    }

    static func importSoftmax(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        if c.opset >= 13 {
            let axis = try im.normalizedAxis(try c.int("axis", default: -1), rank: xs.count, c)
            return [im.emit(.softmax(axis: axis), [x], shape: xs, name: c.name)]
        }
        // Before opset 13 Softmax flattens to 2-D at `axis` and normalises over the whole second part.
        var axis = try c.int("axis", default: 1)
        if axis < 0 { axis += xs.count }
        guard axis >= 0, axis <= xs.count else { throw c.error(.shapeMismatch, "axis \(axis) is out of range for \(xs)") }
        let flat = try im.reshape(x, to: [xs[..<axis].reduce(1, *), xs[axis...].reduce(1, *)], c)
        let soft = im.emit(.softmax(axis: 1), [flat], shape: im.graph[flat].shape, name: c.name)
        return [try im.reshape(soft, to: xs, c)]
    }

    static func importMatMul(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let a = try c.input(0), b = try c.input(1)
        let sa = im.graph[a].shape, sb = im.graph[b].shape
        guard !sa.isEmpty, !sb.isEmpty else { throw c.error(.shapeMismatch, "MatMul needs operands of rank ≥ 1") }
        let a2 = sa.count == 1 ? [1] + sa : sa, b2 = sb.count == 1 ? sb + [1] : sb
        guard a2[a2.count - 1] == b2[b2.count - 2],
              let batch = ShapeMath.broadcast(Array(a2.dropLast(2)), Array(b2.dropLast(2))) else {
            throw c.error(.shapeMismatch, "shapes \(sa) and \(sb) do not multiply")
        }
        var shape = batch
        if sa.count > 1 { shape.append(a2[a2.count - 2]) }
        if sb.count > 1 { shape.append(b2[b2.count - 1]) }
        return [im.emit(.matMul, [a, b], shape: shape, name: c.name)]
    }
}
