import SenteiEngine

/// Writes an optimised engine graph back to ONNX (opset 13) so a pruned variant is an ordinary .onnx file that
/// `sentei run/bench/inspect` and ONNX Runtime load. Fused epilogues are unfused on the way out (SiLU → Sigmoid·Mul,
/// residual → Add); shapes are written as the graph has them (static, batch 1).
package enum ONNXWriter {
    package static let opset: Int64 = 13

    package static func encode(_ graph: Graph, producer: String = "sentei-prune") throws -> [UInt8] {
        var emitter = Emitter(graph: graph)
        try emitter.run()
        var model = ProtoWriter()
        model.int(1, 7)  // ir_version
        model.string(2, producer)
        model.message(8) { $0.string(1, ""); $0.int(2, opset) }
        model.message(7) { g in
            for node in emitter.nodes { g.message(1) { node.encode(into: &$0) } }
            g.string(2, "sentei_pruned")
            for tensor in emitter.initializers { g.message(5) { tensor.encode(into: &$0) } }
            for id in graph.inputs { g.message(11) { valueInfo(&$0, name: emitter.names[id.index], shape: graph[id].shape) } }
            for output in graph.outputs { g.message(12) { valueInfo(&$0, name: output.name, shape: graph[output.node].shape) } }
        }
        return model.bytes
    }

    static func valueInfo(_ w: inout ProtoWriter, name: String, shape: [Int]) {
        w.string(1, name)
        w.message(2) { type in
            type.message(1) { tensor in
                tensor.int(1, 1)  // FLOAT
                tensor.message(2) { s in for dim in shape { s.message(1) { $0.int(1, Int64(dim)) } } }
            }
        }
    }

    struct Attribute {
        enum Value { case int(Int64), ints([Int64]), string(String) }
        var name: String
        var value: Value

        func encode(into w: inout ProtoWriter) {
            w.string(1, name)
            switch value {
            case .int(let v): w.int(3, v); w.int(20, 2)
            case .ints(let v): for x in v { w.int(8, x) }; w.int(20, 7)
            case .string(let s): w.string(4, s); w.int(20, 3)
            }
        }
    }

    struct NodeRecord {
        var name: String
        var op: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [Attribute] = []

        func encode(into w: inout ProtoWriter) {
            for i in inputs { w.string(1, i) }
            for o in outputs { w.string(2, o) }
            w.string(3, name)
            w.string(4, op)
            for a in attributes { w.message(5) { a.encode(into: &$0) } }
        }
    }

    struct TensorRecord {
        enum Data { case float([Float]), int64([Int64]) }
        var name: String
        var dims: [Int]
        var data: Data

        func encode(into w: inout ProtoWriter) {
            for d in dims { w.int(1, Int64(d)) }
            var raw: [UInt8] = []
            switch data {
            case .float(let values):
                w.int(2, 1)
                raw.reserveCapacity(values.count * 4)
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
            case .int64(let values):
                w.int(2, 7)
                raw.reserveCapacity(values.count * 8)
                for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
            }
            w.string(8, name)
            w.bytesField(9, raw)
        }
    }

    struct Emitter {
        let graph: Graph
        var names: [String]
        var nodes: [NodeRecord] = []
        var initializers: [TensorRecord] = []

        init(graph: Graph) {
            self.graph = graph
            var used = Set<String>()
            var names: [String] = []
            let outputNames = Dictionary(graph.outputs.map { ($0.node.index, $0.name) }, uniquingKeysWith: { a, _ in a })
            for name in graph.outputs.map(\.name) { used.insert(name) }
            for (index, node) in graph.nodes.enumerated() {
                // Graph inputs keep their ONNX names: callers feed them by name.
                if case .input(let name) = node.op { names.append(name); used.insert(name); continue }
                if let name = outputNames[index] { names.append(name); continue }
                var name = node.name.isEmpty ? "v\(index)" : node.name
                if used.contains(name) { name += "#\(index)" }
                used.insert(name)
                names.append(name)
            }
            self.names = names
        }

        mutating func constant(_ name: String, _ dims: [Int], ints: [Int]) -> String {
            initializers.append(TensorRecord(name: name, dims: dims, data: .int64(ints.map { Int64($0) })))
            return name
        }

        mutating func constant(_ name: String, _ dims: [Int], floats: [Float]) -> String {
            initializers.append(TensorRecord(name: name, dims: dims, data: .float(floats)))
            return name
        }

        mutating func add(_ op: String, _ inputs: [String], _ output: String, name: String, _ attributes: [Attribute] = []) {
            nodes.append(NodeRecord(name: name, op: op, inputs: inputs, outputs: [output], attributes: attributes))
        }

        /// Emits `value → activation → output`.
        mutating func activation(_ kind: Activation, _ value: String, _ output: String, name: String) {
            switch kind {
            case .none: add("Identity", [value], output, name: name + "/identity")
            case .relu: add("Relu", [value], output, name: name + "/relu")
            case .sigmoid: add("Sigmoid", [value], output, name: name + "/sigmoid")
            case .silu:
                add("Sigmoid", [value], value + "/sigmoid", name: name + "/sigmoid")
                add("Mul", [value, value + "/sigmoid"], output, name: name + "/silu")
            }
        }

        mutating func run() throws {
            let outputIDs = Set(graph.outputs.map(\.node.index))
            for (index, node) in graph.nodes.enumerated() {
                let out = names[index]
                let ins = node.inputs.map { names[$0.index] }
                switch node.op {
                case .input:
                    continue
                case .constant(let data):
                    _ = constant(out, node.shape, floats: data.floats)
                    if outputIDs.contains(index) {
                        throw PruneError(.unsupportedExport, "graph output '\(out)' is a constant")
                    }
                case .conv(let conv):
                    var convInputs = [ins[0], constant(out + ".weight", [conv.outChannels, conv.inChannels / conv.group, conv.kernel.h, conv.kernel.w], floats: conv.weights)]
                    if let bias = conv.bias { convInputs.append(constant(out + ".bias", [conv.outChannels], floats: bias)) }
                    let attributes = [
                        Attribute(name: "dilations", value: .ints([Int64(conv.dilation.h), Int64(conv.dilation.w)])),
                        Attribute(name: "group", value: .int(Int64(conv.group))),
                        Attribute(name: "kernel_shape", value: .ints([Int64(conv.kernel.h), Int64(conv.kernel.w)])),
                        Attribute(name: "pads", value: .ints([conv.pads.t, conv.pads.l, conv.pads.b, conv.pads.r].map { Int64($0) })),
                        Attribute(name: "strides", value: .ints([Int64(conv.stride.h), Int64(conv.stride.w)])),
                    ]
                    let needsEpilogue = conv.activation != .none || conv.hasResidual
                    let raw = needsEpilogue ? out + "/conv" : out
                    add("Conv", convInputs, raw, name: node.name, attributes)
                    if needsEpilogue {
                        let activated = conv.hasResidual ? out + "/act" : out
                        if conv.activation != .none { activation(conv.activation, raw, activated, name: node.name) } else if conv.hasResidual {
                            add("Identity", [raw], activated, name: node.name + "/identity")
                        }
                        if conv.hasResidual { add("Add", [activated, ins[1]], out, name: node.name + "/residual") }
                    }
                case .channelAffine(let scale, let shift):
                    let dims = [scale.count] + [Int](repeating: 1, count: max(node.shape.count - 2, 0))
                    let s = constant(out + ".scale", dims, floats: scale), b = constant(out + ".shift", dims, floats: shift)
                    add("Mul", [ins[0], s], out + "/scaled", name: node.name + "/scale")
                    add("Add", [out + "/scaled", b], out, name: node.name)
                case .unary(let kind):
                    switch kind {
                    case .relu: add("Relu", ins, out, name: node.name)
                    case .sigmoid: add("Sigmoid", ins, out, name: node.name)
                    case .identity: add("Identity", ins, out, name: node.name)
                    case .silu: activation(.silu, ins[0], out, name: node.name)
                    }
                case .binary(let kind):
                    let op = ["add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"][kind.rawValue]!
                    add(op, ins, out, name: node.name)
                case .concat(let axis):
                    add("Concat", ins, out, name: node.name, [Attribute(name: "axis", value: .int(Int64(axis)))])
                case .slice(let starts, let steps):
                    let rank = node.shape.count
                    let ends = (0..<rank).map { axis -> Int in
                        let end = starts[axis] + node.shape[axis] * steps[axis]
                        return end < 0 ? Int(Int32.min) : end
                    }
                    add("Slice", [ins[0], constant(out + ".starts", [rank], ints: starts), constant(out + ".ends", [rank], ints: ends),
                                  constant(out + ".axes", [rank], ints: Array(0..<rank)), constant(out + ".steps", [rank], ints: steps)],
                        out, name: node.name)
                case .maxPool(let pool):
                    let inShape = graph[node.inputs[0]].shape
                    func floorSize(_ size: Int, _ padSum: Int, _ k: Int, _ d: Int, _ s: Int) -> Int { (size + padSum - ((k - 1) * d + 1)) / s + 1 }
                    let floorMatches = floorSize(inShape[2], pool.pads.t + pool.pads.b, pool.kernel.h, pool.dilation.h, pool.stride.h) == node.shape[2]
                        && floorSize(inShape[3], pool.pads.l + pool.pads.r, pool.kernel.w, pool.dilation.w, pool.stride.w) == node.shape[3]
                    add("MaxPool", ins, out, name: node.name, [
                        Attribute(name: "ceil_mode", value: .int(floorMatches ? 0 : 1)),
                        Attribute(name: "dilations", value: .ints([Int64(pool.dilation.h), Int64(pool.dilation.w)])),
                        Attribute(name: "kernel_shape", value: .ints([Int64(pool.kernel.h), Int64(pool.kernel.w)])),
                        Attribute(name: "pads", value: .ints([pool.pads.t, pool.pads.l, pool.pads.b, pool.pads.r].map { Int64($0) })),
                        Attribute(name: "strides", value: .ints([Int64(pool.stride.h), Int64(pool.stride.w)])),
                    ])
                case .resizeNearest(let sourceIndex):
                    let inShape = graph[node.inputs[0]].shape
                    guard let (transform, rounding) = ResizeModes.find(sourceIndex, inShape: inShape, outShape: node.shape) else {
                        throw PruneError(.unsupportedExport, "node '\(node.name)': its nearest-neighbour index map matches no ONNX Resize coordinate mode")
                    }
                    add("Resize", [ins[0], "", "", constant(out + ".sizes", [node.shape.count], ints: node.shape)], out, name: node.name, [
                        Attribute(name: "coordinate_transformation_mode", value: .string(transform)),
                        Attribute(name: "mode", value: .string("nearest")),
                        Attribute(name: "nearest_mode", value: .string(rounding)),
                    ])
                case .reshape:
                    add("Reshape", [ins[0], constant(out + ".shape", [node.shape.count], ints: node.shape)], out, name: node.name)
                case .transpose(let perm):
                    add("Transpose", ins, out, name: node.name, [Attribute(name: "perm", value: .ints(perm.map { Int64($0) }))])
                case .softmax(let axis):
                    add("Softmax", ins, out, name: node.name, [Attribute(name: "axis", value: .int(Int64(axis)))])
                case .matMul:
                    add("MatMul", ins, out, name: node.name)
                case .gather(let axis, let indices, let indexShape):
                    add("Gather", [ins[0], constant(out + ".indices", indexShape, ints: indices)], out, name: node.name,
                        [Attribute(name: "axis", value: .int(Int64(axis)))])
                }
            }
            // An output whose node carries another name (a graph input, or a node exported under two output names)
            // needs a node producing the output name.
            for output in graph.outputs where names[output.node.index] != output.name {
                add("Identity", [names[output.node.index]], output.name, name: output.name + "/identity")
            }
        }
    }
}

/// Recovers ONNX Resize's coordinate_transformation_mode and nearest_mode from a resolved index map, the inverse of
/// the importer's computation; tries the combinations exporters use.
enum ResizeModes {
    static let candidates: [(String, String)] = [
        ("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"), ("asymmetric", "round_prefer_floor"),
        ("align_corners", "round_prefer_floor"), ("half_pixel", "floor"), ("pytorch_half_pixel", "round_prefer_floor"),
        ("tf_half_pixel_for_nearest", "floor"), ("asymmetric", "ceil"), ("half_pixel", "round_prefer_ceil"),
    ]

    static func find(_ sourceIndex: [[Int]], inShape: [Int], outShape: [Int]) -> (String, String)? {
        candidates.first { mode in
            (0..<outShape.count).allSatisfy { axis in map(mode, inSize: inShape[axis], outSize: outShape[axis]) == sourceIndex[axis] }
        }
    }

    static func map(_ mode: (String, String), inSize: Int, outSize: Int) -> [Int] {
        let scale = Double(outSize) / Double(inSize)
        return (0..<outSize).map { i in
            let x: Double
            switch mode.0 {
            case "half_pixel": x = (Double(i) + 0.5) / scale - 0.5
            case "pytorch_half_pixel": x = outSize > 1 ? (Double(i) + 0.5) / scale - 0.5 : 0
            case "align_corners": x = outSize == 1 ? 0 : Double(i) * Double(inSize - 1) / Double(outSize - 1)
            case "tf_half_pixel_for_nearest": x = (Double(i) + 0.5) / scale
            default: x = Double(i) / scale
            }
            let r: Double
            switch mode.1 {
            case "round_prefer_floor": r = x - x.rounded(.down) == 0.5 ? x.rounded(.down) : x.rounded()
            case "round_prefer_ceil": r = x - x.rounded(.down) == 0.5 ? x.rounded(.up) : x.rounded()
            case "ceil": r = x.rounded(.up)
            default: r = x.rounded(.down)
            }
            return min(max(Int(r), 0), inSize - 1)
        }
    }
}
