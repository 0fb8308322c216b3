/// The trainable numbers of a graph — conv weights and biases, channel-affine scales and shifts — laid out in one
/// flat fp32 array (the master weights), in node order. Optimisers, checkpoints and gradient buffers all use this
/// one layout, so a parameter is an (offset, count) pair everywhere.
package struct ParameterSet: Sendable {
    package enum Role: String, Sendable, Codable { case weight, bias, scale, shift }

    package struct Entry: Sendable, Equatable {
        package var node: Int
        package var role: Role
        package var offset: Int
        package var count: Int
        /// The node's name plus the role, for reports and checkpoint checks.
        package var name: String
    }

    package private(set) var entries: [Entry] = []
    package var values: [Float] = []
    private var index: [Int: [Role: Int]] = [:]

    package init(graph: Graph) {
        for (node, item) in graph.nodes.enumerated() {
            switch item.op {
            case .conv(let conv):
                append(node, .weight, conv.weights, item.name)
                if let bias = conv.bias { append(node, .bias, bias, item.name) }
            case .channelAffine(let scale, let shift):
                append(node, .scale, scale, item.name)
                append(node, .shift, shift, item.name)
            case .input, .constant, .unary, .binary, .concat, .slice, .maxPool, .resizeNearest, .reshape, .transpose,
                 .softmax, .matMul, .gather:
                break
            }
        }
    }

    private mutating func append(_ node: Int, _ role: Role, _ data: [Float], _ name: String) {
        index[node, default: [:]][role] = entries.count
        entries.append(Entry(node: node, role: role, offset: values.count, count: data.count, name: "\(name).\(role.rawValue)"))
        values.append(contentsOf: data)
    }

    package var count: Int { values.count }

    package func entry(node: Int, role: Role) -> Entry? {
        index[node]?[role].map { entries[$0] }
    }

    /// `graph` (same structure as the one this set was made from) with these values as its weights.
    package func applied(to graph: Graph) -> Graph {
        var graph = graph
        for e in entries {
            let slice = Array(values[e.offset..<(e.offset + e.count)])
            switch (graph.nodes[e.node].op, e.role) {
            case (.conv(var conv), .weight):
                conv.weights = slice
                graph.nodes[e.node].op = .conv(conv)
            case (.conv(var conv), .bias):
                conv.bias = slice
                graph.nodes[e.node].op = .conv(conv)
            case (.channelAffine(_, let shift), .scale):
                graph.nodes[e.node].op = .channelAffine(scale: slice, shift: shift)
            case (.channelAffine(let scale, _), .shift):
                graph.nodes[e.node].op = .channelAffine(scale: scale, shift: slice)
            default:
                preconditionFailure("parameter \(e.name) does not fit node \(e.node) (\(graph.nodes[e.node].op.kindName))")
            }
        }
        return graph
    }

    /// A one-line fingerprint of the layout (entry names and sizes) so a checkpoint is only resumed into the same model.
    package var layoutSignature: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for e in entries {
            for byte in "\(e.name):\(e.count);".utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        return String(hash, radix: 16) + "-\(entries.count)-\(values.count)"
    }
}
