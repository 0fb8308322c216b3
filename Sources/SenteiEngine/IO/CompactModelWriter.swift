extension CompactModel {
    /// The graph (already optimised, as `Model(graph:)` takes it) as compact-format bytes.
    package static func encode(_ graph: Graph, source: String) -> [UInt8] {
        var payload = ByteWriter()
        payload.string(source)
        payload.u32(graph.nodes.count)
        for node in graph.nodes {
            payload.string(node.name)
            encode(node.op, into: &payload)
            payload.u32(node.inputs.count)
            for input in node.inputs { payload.u32(input.index) }
            payload.ints(node.shape)
        }
        payload.u32(graph.inputs.count)
        for input in graph.inputs { payload.u32(input.index) }
        payload.u32(graph.outputs.count)
        for output in graph.outputs {
            payload.string(output.name)
            payload.u32(output.node.index)
        }
        var file = ByteWriter()
        file.bytes.append(contentsOf: magic)
        file.u32(Int(version))
        file.u32(0)
        file.u64(UInt64(payload.bytes.count))
        file.bytes.append(contentsOf: payload.bytes)
        return file.bytes
    }

    private static func encode(_ op: Op, into w: inout ByteWriter) {
        switch op {
        case .input(let name):
            w.tag(.input)
            w.string(name)
        case .constant(let data):
            w.tag(.constant)
            switch data.values {
            case .float(let values): w.u8(0); w.floats(values)
            case .int(let values): w.u8(1); w.int64s(values)
            }
        case .conv(let c):
            w.tag(.conv)
            w.ints([c.outChannels, c.inChannels, c.group, c.kernel.h, c.kernel.w, c.stride.h, c.stride.w,
                    c.dilation.h, c.dilation.w, c.pads.t, c.pads.l, c.pads.b, c.pads.r])
            w.floats(c.weights)
            w.u8(c.bias == nil ? 0 : 1)
            if let bias = c.bias { w.floats(bias) }
            w.u8(UInt8(c.activation.rawValue))
            w.u8(c.hasResidual ? 1 : 0)
        case .channelAffine(let scale, let shift):
            w.tag(.channelAffine)
            w.floats(scale)
            w.floats(shift)
        case .unary(let kind):
            w.tag(.unary)
            w.u8(unaryCodes[kind]!)
        case .binary(let kind):
            w.tag(.binary)
            w.u8(binaryCodes[kind]!)
        case .concat(let axis):
            w.tag(.concat)
            w.ints([axis])
        case .slice(let starts, let steps):
            w.tag(.slice)
            w.ints(starts)
            w.ints(steps)
        case .maxPool(let p):
            w.tag(.maxPool)
            w.ints([p.kernel.h, p.kernel.w, p.stride.h, p.stride.w, p.dilation.h, p.dilation.w,
                    p.pads.t, p.pads.l, p.pads.b, p.pads.r])
        case .resizeNearest(let sourceIndex):
            w.tag(.resizeNearest)
            w.u32(sourceIndex.count)
            for axis in sourceIndex { w.ints(axis) }
        case .reshape:
            w.tag(.reshape)
        case .transpose(let perm):
            w.tag(.transpose)
            w.ints(perm)
        case .softmax(let axis):
            w.tag(.softmax)
            w.ints([axis])
        case .matMul:
            w.tag(.matMul)
        case .gather(let axis, let indices, let indexShape):
            w.tag(.gather)
            w.ints([axis])
            w.ints(indices)
            w.ints(indexShape)
        }
    }
}

/// Little-endian append-only byte buffer.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func tag(_ tag: CompactModel.Tag) { bytes.append(tag.rawValue) }
    mutating func u32(_ value: Int) { append(UInt32(truncatingIfNeeded: value).littleEndian) }
    mutating func u64(_ value: UInt64) { append(value.littleEndian) }

    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        u32(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    mutating func ints(_ values: [Int]) {
        u32(values.count)
        for value in values { append(Int64(value).littleEndian) }
    }

    mutating func int64s(_ values: [Int64]) {
        u32(values.count)
        for value in values { append(value.littleEndian) }
    }

    mutating func floats(_ values: [Float]) {
        u32(values.count)
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for value in values { append(value.bitPattern.littleEndian) }
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}
