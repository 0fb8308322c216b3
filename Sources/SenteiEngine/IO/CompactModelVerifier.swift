/// Re-derives every node's output shape from its inputs and attributes, as the ONNX importer does, so that a
/// compact file can never hand the runtime a shape its kernels would read or write out of bounds.
package enum CompactModelVerifier {
    package static func verify(_ graph: Graph, source: String) throws {
        for index in graph.nodes.indices {
            try verifyNode(graph, index, source: source)
        }
        var seen = Set<Int>()
        for input in graph.inputs {
            guard case .input = graph[input].op, seen.insert(input.index).inserted else {
                throw EngineError(.malformedModel, "\(source): graph input \(input) is not a distinct input node")
            }
        }
        for (index, node) in graph.nodes.enumerated() {
            if case .input = node.op, !seen.contains(index) {
                throw EngineError(.malformedModel, "\(source): input node '\(node.name)' is not a graph input")
            }
        }
        guard !graph.outputs.isEmpty else { throw EngineError(.malformedModel, "\(source): the graph has no outputs") }
    }

    private static func verifyNode(_ graph: Graph, _ index: Int, source: String) throws {
        let node = graph.nodes[index]
        let shapes = node.inputs.map { graph[$0].shape }
        func fail(_ reason: String) -> EngineError {
            EngineError(.shapeMismatch, "\(source): node \(index) '\(node.name)' (\(node.op.kindName)): \(reason)")
        }
        func inputs(_ count: Int) throws {
            guard shapes.count == count else { throw fail("has \(shapes.count) inputs, expected \(count)") }
        }
        func expect(_ shape: [Int]?) throws {
            guard let shape, shape == node.shape else {
                throw fail("output shape \(node.shape) does not follow from inputs \(shapes) (expected \(shape.map { "\($0)" } ?? "none"))")
            }
        }
        func window(_ size: Int, kernel: Int, stride: Int, dilation: Int, begin: Int, end: Int) -> Int {
            ReferenceKernels.convOutputSize(input: size, kernel: kernel, stride: stride, padBegin: begin, padEnd: end, dilation: dilation)
        }
        let sane = 1 << 16

        switch node.op {
        case .input(let name):
            try inputs(0)
            guard !name.isEmpty, !node.shape.isEmpty, node.shape.allSatisfy({ $0 > 0 }) else {
                throw fail("an input needs a name and positive dims")
            }
        case .constant(let data):
            try inputs(0)
            guard data.count == node.elementCount else { throw fail("holds \(data.count) values for shape \(node.shape)") }
        case .conv(let c):
            try inputs(c.hasResidual ? 2 : 1)
            let x = shapes[0]
            guard x.count == 4, x[1] == c.inChannels else { throw fail("input \(x) is not [n, \(c.inChannels), h, w]") }
            let geometry = [c.kernel.h, c.kernel.w, c.stride.h, c.stride.w, c.dilation.h, c.dilation.w]
            guard c.group >= 1, c.inChannels >= 1, c.outChannels >= 1, c.inChannels % c.group == 0, c.outChannels % c.group == 0,
                  geometry.allSatisfy({ $0 >= 1 && $0 < sane }),
                  [c.pads.t, c.pads.l, c.pads.b, c.pads.r].allSatisfy({ $0 >= 0 && $0 < sane }) else {
                throw fail("invalid conv geometry")
            }
            guard c.weights.count == c.outChannels * (c.inChannels / c.group) * c.kernel.h * c.kernel.w else {
                throw fail("has \(c.weights.count) weights for \(c.outChannels)×\(c.inChannels / c.group)×\(c.kernel.h)×\(c.kernel.w)")
            }
            if let bias = c.bias, bias.count != c.outChannels { throw fail("has \(bias.count) biases for \(c.outChannels) channels") }
            let h = window(x[2], kernel: c.kernel.h, stride: c.stride.h, dilation: c.dilation.h, begin: c.pads.t, end: c.pads.b)
            let w = window(x[3], kernel: c.kernel.w, stride: c.stride.w, dilation: c.dilation.w, begin: c.pads.l, end: c.pads.r)
            guard h >= 1, w >= 1 else { throw fail("the kernel does not fit the input \(x)") }
            let out = [x[0], c.outChannels, h, w]
            try expect(out)
            if c.hasResidual, shapes[1] != out { throw fail("residual \(shapes[1]) does not match the output \(out)") }
        case .channelAffine(let scale, let shift):
            try inputs(1)
            guard shapes[0].count >= 2, scale.count == shapes[0][1], shift.count == shapes[0][1] else {
                throw fail("\(scale.count)/\(shift.count) channel parameters for input \(shapes[0])")
            }
            try expect(shapes[0])
        case .unary:
            try inputs(1)
            try expect(shapes[0])
        case .softmax(let axis):
            try inputs(1)
            guard axis >= 0, axis < shapes[0].count else { throw fail("axis \(axis) is outside rank \(shapes[0].count)") }
            try expect(shapes[0])
        case .binary:
            try inputs(2)
            try expect(ShapeMath.broadcast(shapes[0], shapes[1]))
        case .concat(let axis):
            guard let first = shapes.first, axis >= 0, axis < first.count else { throw fail("no inputs or axis \(axis) out of range") }
            var out = first
            out[axis] = 0
            for shape in shapes {
                guard shape.count == first.count,
                      shape.indices.allSatisfy({ $0 == axis || shape[$0] == first[$0] }) else {
                    throw fail("input \(shape) cannot join \(first) along axis \(axis)")
                }
                out[axis] += shape[axis]
            }
            try expect(out)
        case .slice(let starts, let steps):
            try inputs(1)
            let x = shapes[0]
            guard starts.count == x.count, steps.count == x.count, node.shape.count == x.count else {
                throw fail("slice parameters do not cover rank \(x.count)")
            }
            for axis in x.indices where node.shape[axis] > 0 {
                let last = starts[axis] + (node.shape[axis] - 1) * steps[axis]
                guard steps[axis] != 0, (0..<x[axis]).contains(starts[axis]), (0..<x[axis]).contains(last) else {
                    throw fail("axis \(axis) reads outside 0..<\(x[axis])")
                }
            }
        case .maxPool(let p):
            try inputs(1)
            let x = shapes[0]
            guard x.count == 4,
                  [p.kernel.h, p.kernel.w, p.stride.h, p.stride.w, p.dilation.h, p.dilation.w].allSatisfy({ $0 >= 1 && $0 < sane }),
                  [p.pads.t, p.pads.l, p.pads.b, p.pads.r].allSatisfy({ $0 >= 0 && $0 < sane }) else {
                throw fail("invalid pool geometry for input \(x)")
            }
            // Floor mode, or ceil mode with its last window starting inside the input or the leading pad.
            func allowed(_ size: Int, _ k: Int, _ s: Int, _ d: Int, _ b: Int, _ e: Int) -> Set<Int> {
                let floor = window(size, kernel: k, stride: s, dilation: d, begin: b, end: e)
                var ceil = floor + ((size + b + e - ((k - 1) * d + 1)) % s == 0 ? 0 : 1)
                if (ceil - 1) * s >= size + b { ceil -= 1 }
                return [floor, ceil]
            }
            guard node.shape.count == 4, node.shape[0] == x[0], node.shape[1] == x[1],
                  node.shape[2] >= 1, node.shape[3] >= 1,
                  allowed(x[2], p.kernel.h, p.stride.h, p.dilation.h, p.pads.t, p.pads.b).contains(node.shape[2]),
                  allowed(x[3], p.kernel.w, p.stride.w, p.dilation.w, p.pads.l, p.pads.r).contains(node.shape[3]) else {
                throw fail("output \(node.shape) does not follow from the window over \(x)")
            }
        case .resizeNearest(let sourceIndex):
            try inputs(1)
            let x = shapes[0]
            guard sourceIndex.count == x.count, node.shape.count == x.count else { throw fail("source indices do not cover rank \(x.count)") }
            for axis in x.indices {
                guard sourceIndex[axis].count == node.shape[axis], sourceIndex[axis].allSatisfy({ (0..<x[axis]).contains($0) }) else {
                    throw fail("axis \(axis) source indices do not map \(node.shape[axis]) outputs into 0..<\(x[axis])")
                }
            }
        case .reshape:
            try inputs(1)
            guard ShapeMath.checkedCount(shapes[0]) == node.elementCount else { throw fail("reshape changes the element count") }
        case .transpose(let perm):
            try inputs(1)
            guard perm.sorted() == Array(shapes[0].indices) else { throw fail("perm \(perm) is not a permutation of rank \(shapes[0].count)") }
            try expect(perm.map { shapes[0][$0] })
        case .matMul:
            try inputs(2)
            let (sa, sb) = (shapes[0], shapes[1])
            guard !sa.isEmpty, !sb.isEmpty else { throw fail("operands need rank ≥ 1") }
            let a2 = sa.count == 1 ? [1] + sa : sa, b2 = sb.count == 1 ? sb + [1] : sb
            guard a2[a2.count - 1] == b2[b2.count - 2],
                  var out = ShapeMath.broadcast(Array(a2.dropLast(2)), Array(b2.dropLast(2))) else {
                throw fail("shapes \(sa) and \(sb) do not multiply")
            }
            if sa.count > 1 { out.append(a2[a2.count - 2]) }
            if sb.count > 1 { out.append(b2[b2.count - 1]) }
            try expect(out)
        case .gather(let axis, let indices, let indexShape):
            try inputs(1)
            let x = shapes[0]
            guard axis >= 0, axis < x.count, ShapeMath.checkedCount(indexShape) == indices.count,
                  indices.allSatisfy({ (0..<x[axis]).contains($0) }) else {
                throw fail("gather axis \(axis) or indices out of range for \(x)")
            }
            try expect(Array(x[..<axis]) + indexShape + Array(x[(axis + 1)...]))
        }
    }
}
