extension CompactModel {
    /// Decodes and verifies compact-format bytes. `source` (usually the file name) labels every error, together with
    /// the byte offset or the node at fault.
    package static func decode(_ bytes: [UInt8], source: String) throws -> Graph {
        try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw, source: source)
            guard raw.count >= headerBytes else {
                throw EngineError(.malformedModel, "\(source): \(raw.count) bytes is shorter than the \(headerBytes)-byte compact model header")
            }
            guard hasMagic(raw) else { throw EngineError(.malformedModel, "\(source): not a Sentei compact model (bad magic)") }
            r.offset = magic.count
            let fileVersion = try r.u32("version")
            guard fileVersion == version else {
                throw EngineError(.malformedModel, "\(source): compact model version \(fileVersion); this sentei reads version \(version)")
            }
            guard try r.u32("flags") == 0 else { throw EngineError(.malformedModel, "\(source): unknown flags are set") }
            let length = try r.u64("payload length")
            guard length == UInt64(raw.count - headerBytes) else {
                throw EngineError(.malformedModel,
                                  "\(source): the header announces \(length) payload bytes but the file holds \(raw.count - headerBytes) (truncated or padded)")
            }
            let graph = try decodePayload(&r)
            guard r.remaining == 0 else {
                throw EngineError(.malformedModel, "\(source): \(r.remaining) stray bytes after the graph")
            }
            try CompactModelVerifier.verify(graph, source: source)
            return graph
        }
    }

    private static func decodePayload(_ r: inout ByteReader) throws -> Graph {
        _ = try r.string("source name")
        // The smallest node is a name length, a tag, an input count and a rank: 13 bytes.
        let nodeCount = try r.count("node count", elementBytes: 13)
        var graph = Graph()
        graph.nodes.reserveCapacity(nodeCount)
        for index in 0..<nodeCount {
            let name = try r.string("node \(index) name")
            let context = "node \(index) '\(name)'"
            let op = try decodeOp(&r, context: context)
            let inputCount = try r.count("\(context) input count", elementBytes: 4)
            var inputs: [NodeID] = []
            inputs.reserveCapacity(inputCount)
            for _ in 0..<inputCount {
                let input = try r.u32("\(context) input")
                guard input < index else {
                    throw EngineError(.danglingEdge, "\(r.source): \(context) reads node \(input), which does not come before it")
                }
                inputs.append(NodeID(Int(input)))
            }
            let shape = try r.ints("\(context) shape")
            guard shape.count <= 8, ShapeMath.checkedCount(shape) != nil else {
                throw EngineError(.shapeMismatch, "\(r.source): \(context) has an absurd shape \(shape)")
            }
            graph.nodes.append(Node(op: op, inputs: inputs, shape: shape, name: name))
        }
        let inputCount = try r.count("graph input count", elementBytes: 4)
        for _ in 0..<inputCount {
            graph.inputs.append(try r.nodeID("graph input", below: nodeCount))
        }
        let outputCount = try r.count("graph output count", elementBytes: 8)
        for _ in 0..<outputCount {
            let name = try r.string("graph output name")
            graph.outputs.append((name: name, node: try r.nodeID("graph output '\(name)'", below: nodeCount)))
        }
        return graph
    }

    private static func decodeOp(_ r: inout ByteReader, context: String) throws -> Op {
        let raw = try r.u8("\(context) op")
        guard let tag = Tag(rawValue: raw) else {
            throw EngineError(.unsupportedOp, "\(r.source): \(context) has unknown op tag \(raw)")
        }
        switch tag {
        case .input:
            return .input(try r.string("\(context) input name"))
        case .constant:
            switch try r.u8("\(context) constant kind") {
            case 0: return .constant(ConstantData(values: .float(try r.floats("\(context) constant"))))
            case 1: return .constant(ConstantData(values: .int(try r.int64s("\(context) constant"))))
            case let kind: throw EngineError(.unsupportedData, "\(r.source): \(context) has unknown constant kind \(kind)")
            }
        case .conv:
            let g = try r.fixedInts("\(context) conv geometry", count: 13)
            let weights = try r.floats("\(context) weights")
            let bias = try r.u8("\(context) has bias") != 0 ? try r.floats("\(context) bias") : nil
            let code = try r.u8("\(context) activation")
            guard let activation = Activation(rawValue: Int(code)) else {
                throw EngineError(.unsupportedOp, "\(r.source): \(context) has unknown activation \(code)")
            }
            var conv = Conv(outChannels: g[0], inChannels: g[1], group: g[2], kernel: (g[3], g[4]), stride: (g[5], g[6]),
                            dilation: (g[7], g[8]), pads: (g[9], g[10], g[11], g[12]), weights: weights, bias: bias)
            conv.activation = activation
            conv.hasResidual = try r.u8("\(context) residual flag") != 0
            return .conv(conv)
        case .channelAffine:
            return .channelAffine(scale: try r.floats("\(context) scale"), shift: try r.floats("\(context) shift"))
        case .unary:
            let code = try r.u8("\(context) unary kind")
            guard let kind = unaryCodes.first(where: { $0.value == code })?.key else {
                throw EngineError(.unsupportedOp, "\(r.source): \(context) has unknown unary kind \(code)")
            }
            return .unary(kind)
        case .binary:
            let code = try r.u8("\(context) binary kind")
            guard let kind = binaryCodes.first(where: { $0.value == code })?.key else {
                throw EngineError(.unsupportedOp, "\(r.source): \(context) has unknown binary kind \(code)")
            }
            return .binary(kind)
        case .concat:
            return .concat(axis: try r.fixedInts("\(context) axis", count: 1)[0])
        case .slice:
            return .slice(starts: try r.ints("\(context) starts"), steps: try r.ints("\(context) steps"))
        case .maxPool:
            let p = try r.fixedInts("\(context) pool geometry", count: 10)
            return .maxPool(Pool(kernel: (p[0], p[1]), stride: (p[2], p[3]), dilation: (p[4], p[5]), pads: (p[6], p[7], p[8], p[9])))
        case .resizeNearest:
            let axes = try r.count("\(context) resize axes", elementBytes: 4)
            guard axes <= 8 else { throw EngineError(.shapeMismatch, "\(r.source): \(context) resizes \(axes) axes") }
            return .resizeNearest(sourceIndex: try (0..<axes).map { try r.ints("\(context) source index \($0)") })
        case .reshape:
            return .reshape
        case .transpose:
            return .transpose(perm: try r.ints("\(context) perm"))
        case .softmax:
            return .softmax(axis: try r.fixedInts("\(context) axis", count: 1)[0])
        case .matMul:
            return .matMul
        case .gather:
            let axis = try r.fixedInts("\(context) axis", count: 1)[0]
            return .gather(axis: axis, indices: try r.ints("\(context) indices"), indexShape: try r.ints("\(context) index shape"))
        }
    }
}

/// Bounds-checked little-endian reads; every failure names the source, the field and the byte offset.
struct ByteReader {
    let raw: UnsafeRawBufferPointer
    let source: String
    var offset = 0

    init(_ raw: UnsafeRawBufferPointer, source: String) {
        self.raw = raw
        self.source = source
    }

    var remaining: Int { raw.count - offset }

    func truncated(_ field: String, needs: Int) -> EngineError {
        EngineError(.malformedModel, "\(source): truncated at byte \(offset): \(field) needs \(needs) bytes, \(remaining) left")
    }

    mutating func take<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated(field, needs: size) }
        let value = T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    mutating func u8(_ field: String) throws -> UInt8 { try take(UInt8.self, field) }
    mutating func u32(_ field: String) throws -> UInt32 { try take(UInt32.self, field) }
    mutating func u64(_ field: String) throws -> UInt64 { try take(UInt64.self, field) }

    /// A u32 element count, refused unless that many elements of at least `elementBytes` each fit in the bytes left
    /// (so no allocation is ever sized by an unchecked field).
    mutating func count(_ field: String, elementBytes: Int) throws -> Int {
        let start = offset
        let count = Int(try u32(field))
        guard count <= remaining / elementBytes else {
            offset = start
            throw EngineError(.malformedModel,
                              "\(source): byte \(start): \(field) is \(count), but only \(remaining) bytes are left for \(elementBytes)-byte elements")
        }
        return count
    }

    mutating func nodeID(_ field: String, below limit: Int) throws -> NodeID {
        let id = Int(try u32(field))
        guard id < limit else { throw EngineError(.danglingEdge, "\(source): \(field) refers to node \(id) of \(limit)") }
        return NodeID(id)
    }

    mutating func string(_ field: String) throws -> String {
        let count = try self.count(field, elementBytes: 1)
        let bytes = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)])
        offset += count
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw EngineError(.malformedModel, "\(source): \(field) is not valid UTF-8")
        }
        return text
    }

    mutating func int64s(_ field: String) throws -> [Int64] {
        let count = try self.count(field, elementBytes: 8)
        return try (0..<count).map { _ in try take(Int64.self, field) }
    }

    /// Integers that must lie within ±2^40 (dims, offsets, indices): keeps later arithmetic far from overflow.
    mutating func ints(_ field: String) throws -> [Int] {
        let values = try int64s(field)
        guard values.allSatisfy({ abs($0) <= 1 << 40 }) else {
            throw EngineError(.shapeMismatch, "\(source): \(field) holds an absurd value")
        }
        return values.map { Int($0) }
    }

    mutating func fixedInts(_ field: String, count expected: Int) throws -> [Int] {
        let values = try ints(field)
        guard values.count == expected else {
            throw EngineError(.malformedModel, "\(source): \(field) has \(values.count) values, expected \(expected)")
        }
        return values
    }

    mutating func floats(_ field: String) throws -> [Float] {
        let count = try self.count(field, elementBytes: 4)
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count * 4)]))
        }
        offset += count * 4
        #if _endian(big)
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        #endif
        return values
    }
}
