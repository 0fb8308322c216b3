/// The engine's graph: plain data. Nodes live in one array in topological order and refer to their inputs by
/// index; every node has exactly one float32 output with a static shape (batch 1 models, shapes resolved at import).
package struct Graph: Sendable {
    package var nodes: [Node] = []
    /// Nodes whose values are the model's inputs, in ONNX order.
    package var inputs: [NodeID] = []
    /// Nodes whose values are the model's outputs, with their ONNX names.
    package var outputs: [(name: String, node: NodeID)] = []

    package init() {}

    @discardableResult
    package mutating func add(_ op: Op, _ inputs: [NodeID], shape: [Int], name: String) -> NodeID {
        let id = NodeID(nodes.count)
        nodes.append(Node(op: op, inputs: inputs, shape: shape, name: name))
        return id
    }

    package subscript(id: NodeID) -> Node {
        get { nodes[id.index] }
        set { nodes[id.index] = newValue }
    }

    /// How many times each node is read, counting graph outputs as readers.
    package func useCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for input in node.inputs { counts[input.index] += 1 } }
        for output in outputs { counts[output.node.index] += 1 }
        return counts
    }

    /// Readers of each node, in node order.
    package func consumers() -> [[NodeID]] {
        var result = [[NodeID]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() { for input in node.inputs { result[input.index].append(NodeID(index)) } }
        return result
    }
}

package struct NodeID: Hashable, Sendable, Comparable, CustomStringConvertible {
    package let index: Int
    package init(_ index: Int) { self.index = index }
    package static func < (a: NodeID, b: NodeID) -> Bool { a.index < b.index }
    package var description: String { "%\(index)" }
}

package struct Node: Sendable {
    package var op: Op
    package var inputs: [NodeID]
    package var shape: [Int]
    /// The ONNX node (or value) name this node came from; used in every error and in `sentei inspect`.
    package var name: String

    package var elementCount: Int { shape.reduce(1, *) }
}
