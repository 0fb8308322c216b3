/// Importers for the ops that shape subgraphs are made of. They fold to constants whenever their inputs are
/// constant, which is always the case for the supported detector exports once input shapes are fixed.
extension ONNXImporter {
    static func importConstantNode(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        switch c.node.attributes.first?.value {
        case .tensor(let tensor)?: return [try im.addConstant(tensor, name: c.name)]
        case .float(let v)?: return [im.constant(ConstantData(values: .float([v])), shape: [], name: c.name)]
        case .floats(let v)?: return [im.constant(ConstantData(values: .float(v)), shape: [v.count], name: c.name)]
        case .int(let v)?: return [im.constant(ConstantData(values: .int([v])), shape: [], name: c.name)]
        case .ints(let v)?: return [im.constant(ConstantData(values: .int(v)), shape: [v.count], name: c.name)]
        case let other?: throw c.error(.unsupportedOp, "a \(other.typeName) constant is not supported")
        case nil: throw c.error(.malformedModel, "has no value attribute")
        }
    }

    static func importShape(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let xs = im.graph[try c.input(0)].shape
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + xs.count : v, 0), xs.count) }
        let start = clamp(try c.int("start", default: 0)), end = clamp(try c.int("end", default: xs.count))
        let dims = start < end ? Array(xs[start..<end]) : []
        return [im.constant(ConstantData(values: .int(dims.map { Int64($0) })), shape: [dims.count], name: c.name)]
    }

    static func importGather(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let data = try c.input(0), indicesID = try c.input(1)
        let ds = im.graph[data].shape
        guard !ds.isEmpty else { throw c.error(.shapeMismatch, "cannot gather from a scalar") }
        let axis = try im.normalizedAxis(try c.int("axis", default: 0), rank: ds.count, c)
        let raw = try im.constantInts(indicesID, c, what: "indices")
        let indices = try raw.map { index -> Int in
            let normalized = index < 0 ? index + ds[axis] : index
            guard normalized >= 0, normalized < ds[axis] else {
                throw c.error(.shapeMismatch, "index \(index) is out of range for axis \(axis) of size \(ds[axis])")
            }
            return normalized
        }
        let indexShape = im.graph[indicesID].shape
        let shape = Array(ds[..<axis]) + indexShape + Array(ds[(axis + 1)...])
        return [im.emit(.gather(axis: axis, indices: indices, indexShape: indexShape), [data], shape: shape, name: c.name)]
    }

    static func importUnsqueeze(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        let axes = c.opset < 13 ? (try c.ints("axes") ?? []) : try im.constantInts(try c.input(1), c, what: "axes")
        let rank = xs.count + axes.count
        let normalized = try Set(axes.map { try im.normalizedAxis($0, rank: rank, c) })
        guard normalized.count == axes.count else { throw c.error(.shapeMismatch, "axes \(axes) repeat an axis") }
        var shape: [Int] = []
        var next = xs.makeIterator()
        for axis in 0..<rank { shape.append(normalized.contains(axis) ? 1 : next.next()!) }
        return [try im.reshape(x, to: shape, c)]
    }

    static func importSqueeze(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let xs = im.graph[x].shape
        var axes: [Int]?
        if c.opset < 13 { axes = try c.ints("axes") } else if let a = c.optionalInput(1) { axes = try im.constantInts(a, c, what: "axes") }
        let drop = try Set((axes ?? xs.indices.filter { xs[$0] == 1 }).map { try im.normalizedAxis($0, rank: xs.count, c) })
        for axis in drop where xs[axis] != 1 { throw c.error(.shapeMismatch, "axis \(axis) of \(xs) is not 1") }
        return [try im.reshape(x, to: xs.indices.filter { !drop.contains($0) }.map { xs[$0] }, c)]
    }

    static func importCast(_ im: inout ONNXImporter, _ c: NodeContext) throws -> [NodeID] {
        let x = try c.input(0)
        let to = try c.int("to", default: 1)
        let isConstant: Bool
        if case .constant = im.graph[x].op { isConstant = true } else { isConstant = false }
        switch to {
        case 1, 10, 11:  // FLOAT, FLOAT16, DOUBLE: the engine computes all of them in float32
            if case .constant(let data) = im.graph[x].op {
                return [im.constant(ConstantData(values: .float(data.floats)), shape: im.graph[x].shape, name: c.name)]
            }
            return [x]
        case 6 where isConstant, 7 where isConstant:  // INT32, INT64 on constants: shape arithmetic
            guard case .constant(let data) = im.graph[x].op else { return [x] }
            let ints: [Int64] = data.isInteger ? data.ints : data.floats.map { Int64($0.rounded(.towardZero)) }
            return [im.constant(ConstantData(values: .int(ints)), shape: im.graph[x].shape, name: c.name)]
        default:
            throw c.error(.unsupportedOp, "cast to ONNX data type \(to) is supported only for float targets or constant inputs")
        }
    }
}
