/// Turns a decoded ONNX model into the engine's `Graph`, resolving every shape statically and folding shape
/// arithmetic (Shape, Gather, Unsqueeze, Cast, Concat on constants) as it goes. Each ONNX op has one importer
/// function, keyed by its ONNX spelling in `ONNXImporter.table`.
package struct ONNXImporter {
    package var graph = Graph()
    /// ONNX value name → the node producing it.
    var values: [String: NodeID] = [:]
    let source: String
    let opset: Int64

    package static func importModel(_ model: ONNXModel, source: String, inputShapes: [String: [Int]] = [:]) throws -> Graph {
        guard let opset = model.opsetVersion(domain: "") ?? model.opsetVersion(domain: "ai.onnx") else {
            throw EngineError(.unsupportedOp, "\(source): the model imports no default ONNX opset")
        }
        guard (7...21).contains(opset) else {
            throw EngineError(.unsupportedOp, "\(source): ONNX opset \(opset) is outside the supported range 7–21")
        }
        var importer = ONNXImporter(source: source, opset: opset)
        try importer.run(model.graph, inputShapes: inputShapes)
        return importer.graph
    }

    init(source: String, opset: Int64) {
        self.source = source
        self.opset = opset
    }

    mutating func run(_ onnx: ONNXGraph, inputShapes: [String: [Int]]) throws {
        for tensor in onnx.initializers {
            values[tensor.name] = try addConstant(tensor, name: tensor.name)
        }
        for input in onnx.inputs where values[input.name] == nil {
            if let type = input.elemType, type != .float {
                throw EngineError(.unsupportedOp, "\(source): graph input '\(input.name)' has element type \(type); only float32 inputs are supported")
            }
            var shape: [Int] = []
            for (axis, dim) in input.shape.enumerated() {
                switch dim {
                case .value(let v): shape.append(v)
                case .param, .unknown:
                    // Batch is always 1; other symbolic dims need an explicit shape.
                    if axis == 0 { shape.append(1) } else { shape.append(-1) }
                }
            }
            if let override = inputShapes[input.name] {
                guard override.count == shape.count || shape.isEmpty else {
                    throw EngineError(.invalidInput, "\(source): input '\(input.name)' has rank \(shape.count), the requested shape \(override) has rank \(override.count)")
                }
                shape = override
            }
            guard !shape.contains(where: { $0 < 0 }), ShapeMath.checkedCount(shape) != nil else {
                throw EngineError(.shapeMismatch, "\(source): input '\(input.name)' has shape \(shape); give every symbolic dimension a size")
            }
            let id = graph.add(.input(input.name), [], shape: shape, name: input.name)
            graph.inputs.append(id)
            values[input.name] = id
        }
        for (index, node) in onnx.nodes.enumerated() {
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw nodeError(node, index, .unsupportedOp, "domain '\(node.domain)' is not supported")
            }
            guard let importer = Self.table[node.opType] else {
                throw nodeError(node, index, .unsupportedOp, "op is not supported by Sentei's engine")
            }
            var inputs: [NodeID?] = []
            for name in node.inputs {
                if name.isEmpty { inputs.append(nil); continue }
                guard let id = values[name] else {
                    throw nodeError(node, index, .danglingEdge, "input '\(name)' is produced by no initializer, graph input or earlier node (a dangling edge, a cycle, or nodes out of topological order)")
                }
                inputs.append(id)
            }
            let context = NodeContext(node: node, index: index, inputs: inputs, source: source, opset: opset)
            let outputs = try importer(&self, context)
            for (name, id) in zip(node.outputs, outputs) where !name.isEmpty {
                values[name] = id
            }
            if outputs.count < node.outputs.filter({ !$0.isEmpty }).count {
                throw context.error(.unsupportedOp, "produces \(node.outputs.count) outputs; Sentei computes only the first \(outputs.count)")
            }
        }
        for output in onnx.outputs {
            guard let id = values[output.name] else {
                throw EngineError(.danglingEdge, "\(source): graph output '\(output.name)' is produced by no node")
            }
            guard case .float = dataKind(of: id) else {
                throw EngineError(.unsupportedOp, "\(source): graph output '\(output.name)' is an integer tensor; only float outputs are supported")
            }
            graph.outputs.append((output.name, id))
        }
    }

    func nodeError(_ node: ONNXNode, _ index: Int, _ code: EngineError.Code, _ reason: String) -> EngineError {
        let name = node.name.isEmpty ? "#\(index)" : "'\(node.name)'"
        return EngineError(code, "\(source): node \(name) (\(node.opType), opset \(opset)): \(reason)")
    }

    enum DataKind { case float, int }
    func dataKind(of id: NodeID) -> DataKind {
        if case .constant(let data) = graph[id].op, data.isInteger { return .int }
        return .float
    }

    mutating func addConstant(_ tensor: ONNXTensor, name: String) throws -> NodeID {
        let data: ConstantData
        switch tensor.dataType {
        case .float, .double, .float16:
            data = ConstantData(values: .float(try tensor.floats()))
        case .int64, .int32, .int8, .uint8, .int16, .uint16, .uint32, .uint64, .bool:
            data = ConstantData(values: .int(try tensor.int64s()))
        default:
            throw EngineError(.unsupportedOp, "\(source): tensor '\(name)' has data type \(tensor.dataType), which Sentei does not support")
        }
        guard data.count == (ShapeMath.checkedCount(tensor.dims) ?? -1) else {
            throw EngineError(.shapeMismatch, "\(source): tensor '\(name)' holds \(data.count) values for dims \(tensor.dims)")
        }
        return graph.add(.constant(data), [], shape: tensor.dims, name: name)
    }

    mutating func constant(_ data: ConstantData, shape: [Int], name: String) -> NodeID {
        graph.add(.constant(data), [], shape: shape, name: name)
    }

    /// Adds a node, or folds it straight into a constant when all its inputs are constants.
    mutating func emit(_ op: Op, _ inputs: [NodeID], shape: [Int], name: String) -> NodeID {
        var constantInputs: [[Float]] = []
        for input in inputs {
            guard case .constant(let data) = graph[input].op else {
                return graph.add(op, inputs, shape: shape, name: name)
            }
            constantInputs.append(data.floats)
        }
        let node = Node(op: op, inputs: inputs, shape: shape, name: name)
        let allInteger = inputs.allSatisfy { dataKind(of: $0) == .int }
        if allInteger, let folded = foldInteger(op, inputs, shape: shape) {
            return constant(ConstantData(values: .int(folded)), shape: shape, name: name)
        }
        let folded = ReferenceOps.evaluate(node, inputs: constantInputs, shapes: inputs.map { graph[$0].shape })
        return constant(ConstantData(values: .float(folded)), shape: shape, name: name)
    }

    /// Exact integer folding for the ops shape subgraphs use (movement ops and integer arithmetic).
    func foldInteger(_ op: Op, _ inputs: [NodeID], shape: [Int]) -> [Int64]? {
        let ints = inputs.map { id -> [Int64] in
            if case .constant(let data) = graph[id].op { return data.ints }
            return []
        }
        switch op {
        case .binary(let kind):
            let a = graph[inputs[0]].shape, b = graph[inputs[1]].shape
            let sa = ShapeMath.broadcastStrides(a, to: shape), sb = ShapeMath.broadcastStrides(b, to: shape)
            var out = [Int64](repeating: 0, count: shape.reduce(1, *))
            var failed = false
            ReferenceOps.forEachIndex(shape) { flat, index in
                var ia = 0, ib = 0
                for axis in 0..<index.count { ia += index[axis] * sa[axis]; ib += index[axis] * sb[axis] }
                let x = ints[0][ia], y = ints[1][ib]
                switch kind {
                case .add: out[flat] = x &+ y
                case .sub: out[flat] = x &- y
                case .mul: out[flat] = x &* y
                case .div:
                    if y == 0 { failed = true } else { out[flat] = x / y }
                }
            }
            return failed ? nil : out
        case .concat, .slice, .reshape, .transpose, .gather, .resizeNearest:
            // Movement ops: run the float reference on exact small integers (|v| < 2^24 for any sane shape).
            guard ints.allSatisfy({ $0.allSatisfy { abs($0) < 1 << 24 } }) else { return nil }
            let node = Node(op: op, inputs: inputs, shape: shape, name: "")
            let floats = ReferenceOps.evaluate(node, inputs: ints.map { $0.map { Float($0) } }, shapes: inputs.map { graph[$0].shape })
            return floats.map { Int64($0) }
        case .input, .constant, .conv, .channelAffine, .unary, .maxPool, .softmax, .matMul:
            return nil
        }
    }
}

/// What one op importer sees: the ONNX node, its resolved inputs, and helpers that read attributes and raise errors
/// naming the node.
struct NodeContext {
    let node: ONNXNode
    let index: Int
    let inputs: [NodeID?]
    let source: String
    let opset: Int64

    var name: String { node.name.isEmpty ? "\(node.opType)#\(index)" : node.name }

    func error(_ code: EngineError.Code, _ reason: String) -> EngineError {
        let label = node.name.isEmpty ? "#\(index)" : "'\(node.name)'"
        return EngineError(code, "\(source): node \(label) (\(node.opType), opset \(opset)): \(reason)")
    }

    func input(_ i: Int) throws -> NodeID {
        guard i < inputs.count, let id = inputs[i] else { throw error(.danglingEdge, "input \(i) is missing") }
        return id
    }

    func optionalInput(_ i: Int) -> NodeID? { i < inputs.count ? inputs[i] : nil }

    func attribute(_ name: String) -> ONNXAttributeValue? {
        node.attributes.first { $0.name == name }?.value
    }

    func int(_ name: String, default value: Int) throws -> Int {
        switch attribute(name) {
        case nil: return value
        case .int(let v)?:
            guard let i = Int(exactly: v), abs(i) < 1 << 40 else { throw error(.shapeMismatch, "attribute '\(name)' = \(v) is out of range") }
            return i
        case let other?: throw error(.malformedModel, "attribute '\(name)' should be INT, found \(other.typeName)")
        }
    }

    func ints(_ name: String) throws -> [Int]? {
        switch attribute(name) {
        case nil: return nil
        case .ints(let v)?:
            return try v.map {
                guard let i = Int(exactly: $0), abs(i) < 1 << 40 else { throw error(.shapeMismatch, "attribute '\(name)' has out-of-range value \($0)") }
                return i
            }
        case let other?: throw error(.malformedModel, "attribute '\(name)' should be INTS, found \(other.typeName)")
        }
    }

    func float(_ name: String, default value: Float) throws -> Float {
        switch attribute(name) {
        case nil: return value
        case .float(let v)?: return v
        case let other?: throw error(.malformedModel, "attribute '\(name)' should be FLOAT, found \(other.typeName)")
        }
    }

    func string(_ name: String, default value: String) throws -> String {
        switch attribute(name) {
        case nil: return value
        case .string(let v)?: return v
        case let other?: throw error(.malformedModel, "attribute '\(name)' should be STRING, found \(other.typeName)")
        }
    }
}
