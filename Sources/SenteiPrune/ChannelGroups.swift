import SenteiEngine

/// A set of channels that must be removed together: one coupled "column" through the graph.
///
/// Every channel of every member node that belongs to the group is listed per member, aligned by position: removing
/// group channel `i` removes `members[m].channels[i]` from every member `m` at once (the producers' output rows, the
/// consumers' input columns, and every concat/slice/depthwise/residual node the channel passes through).
package struct ChannelGroup: Sendable {
    package struct Member: Sendable {
        package var node: NodeID
        /// The node's output channel (axis 1) for each group channel.
        package var channels: [Int]
    }

    package var id: Int
    package var members: [Member]
    /// Dense convolutions whose output rows are this group's channels (where the values are created).
    package var producers: [NodeID]
    /// Dense convolutions that read a member node (their input columns are this group's channels).
    package var consumers: [NodeID]
    /// nil when the group may be pruned; otherwise why not (shown by `sentei prune --groups`).
    package var frozenReason: String?

    package var size: Int { members.first?.channels.count ?? 0 }
    package var isPrunable: Bool { frozenReason == nil }
}

/// The coupled channel groups of an optimised graph (after `Pipeline.optimize`), found by union-find over individual
/// channels: a dense conv creates fresh channels; depthwise convs, fused residual inputs, element-wise ops, pooling and
/// resizing tie an output channel to the same input channel; concat and channel slices map channel ranges. Channels
/// reaching a graph output, a graph input, a reshape/transpose/matmul/softmax/gather or a grouped (non-depthwise)
/// conv are frozen: their meaning is fixed (image planes, boxes, classes) or their layout cannot be re-laid out.
package struct ChannelGroups: Sendable {
    package var groups: [ChannelGroup]
    /// Per node: the group id of each output channel (rank-4 nodes only; nil for others).
    package var groupOfChannel: [[Int]?]
    /// Per node: position of each output channel inside its group.
    package var positionInGroup: [[Int]?]

    package var prunable: [ChannelGroup] { groups.filter(\.isPrunable) }

    /// - Parameter protectStem: freeze the first dense convolution's output (the stem): cutting it is catastrophic.
    package init(_ graph: Graph, protectStem: Bool = true) {
        let nodeCount = graph.nodes.count
        var base = [Int](repeating: -1, count: nodeCount)
        var total = 0
        for (index, node) in graph.nodes.enumerated() where node.shape.count == 4 {
            base[index] = total
            total += node.shape[1]
        }
        var sets = UnionFind(count: total)
        var frozen = [String?](repeating: nil, count: total)
        var isFresh = [Bool](repeating: false, count: total)

        func channels(_ id: NodeID) -> Int { graph[id].shape.count == 4 ? graph[id].shape[1] : 0 }
        func element(_ id: NodeID, _ c: Int) -> Int { base[id.index] + c }
        func freeze(_ id: NodeID, _ why: String) {
            guard base[id.index] >= 0 else { return }
            for c in 0..<channels(id) where frozen[element(id, c)] == nil { frozen[element(id, c)] = why }
        }
        func tie(_ a: NodeID, _ b: NodeID) {
            for c in 0..<min(channels(a), channels(b)) { sets.union(element(a, c), element(b, c)) }
        }

        var stem: NodeID?
        for (index, node) in graph.nodes.enumerated() {
            let id = NodeID(index)
            guard node.shape.count == 4 else {
                for input in node.inputs { freeze(input, "read by '\(node.name)' (\(node.op.kindName)), whose output is not NCHW") }
                continue
            }
            switch node.op {
            case .input:
                freeze(id, "graph input '\(node.name)'")
            case .constant:
                freeze(id, "constant '\(node.name)'")
            case .conv(let conv):
                if conv.isDepthwise {
                    tie(id, node.inputs[0])
                } else if conv.group > 1 {
                    freeze(node.inputs[0], "read by grouped conv '\(node.name)'")
                    freeze(id, "output of grouped conv '\(node.name)'")
                } else {
                    for c in 0..<channels(id) { isFresh[element(id, c)] = true }
                    if stem == nil { stem = id }
                }
                if conv.hasResidual { tie(id, node.inputs[1]) }
            case .channelAffine, .unary, .maxPool:
                tie(id, node.inputs[0])
            case .binary:
                for input in node.inputs {
                    if graph[input].shape == node.shape { tie(id, input) } else {
                        freeze(input, "broadcast into '\(node.name)'")
                        freeze(id, "broadcast result '\(node.name)'")
                    }
                }
            case .concat(let axis):
                if axis == 1 {
                    var offset = 0
                    for input in node.inputs {
                        for c in 0..<channels(input) { sets.union(element(id, offset + c), element(input, c)) }
                        offset += channels(input)
                    }
                } else {
                    for input in node.inputs { tie(id, input) }
                }
            case .slice(let starts, let steps):
                let input = node.inputs[0]
                if steps[1] == 1 {
                    for c in 0..<channels(id) { sets.union(element(id, c), element(input, starts[1] + c)) }
                } else {
                    freeze(input, "strided channel slice '\(node.name)'")
                    freeze(id, "strided channel slice '\(node.name)'")
                }
            case .resizeNearest(let sourceIndex):
                if sourceIndex[1] == Array(0..<node.shape[1]) { tie(id, node.inputs[0]) } else {
                    freeze(node.inputs[0], "channel-resampling resize '\(node.name)'")
                    freeze(id, "channel-resampling resize '\(node.name)'")
                }
            case .reshape, .transpose, .softmax, .matMul, .gather:
                for input in node.inputs { freeze(input, "read by '\(node.name)' (\(node.op.kindName))") }
                freeze(id, "output of '\(node.name)' (\(node.op.kindName))")
            }
        }
        for output in graph.outputs { freeze(output.node, "graph output '\(output.name)'") }
        if protectStem, let stem { freeze(stem, "stem '\(graph[stem].name)' (protected)") }

        // Classes of single channels, then groups of classes that touch exactly the same nodes.
        var classMembers: [Int: [(node: Int, channel: Int)]] = [:]
        var classFrozen: [Int: String] = [:]
        var classFresh: [Int: Bool] = [:]
        for (index, node) in graph.nodes.enumerated() where base[index] >= 0 {
            for c in 0..<node.shape[1] {
                let e = base[index] + c, root = sets.find(e)
                classMembers[root, default: []].append((index, c))
                if let why = frozen[e], classFrozen[root] == nil { classFrozen[root] = why }
                if isFresh[e] { classFresh[root] = true }
            }
        }
        var groupOfSignature: [[Int]: Int] = [:]
        var groups: [ChannelGroup] = []
        var groupOfChannel = [[Int]?](repeating: nil, count: nodeCount)
        var positionInGroup = [[Int]?](repeating: nil, count: nodeCount)
        for (index, node) in graph.nodes.enumerated() where base[index] >= 0 {
            groupOfChannel[index] = [Int](repeating: -1, count: node.shape[1])
            positionInGroup[index] = [Int](repeating: -1, count: node.shape[1])
        }
        // Visit classes in the order of their first channel so group ids and channel order are deterministic.
        let roots = classMembers.keys.sorted { a, b in
            let x = classMembers[a]![0], y = classMembers[b]![0]
            return (x.node, x.channel) < (y.node, y.channel)
        }
        let consumers = graph.consumers()
        for root in roots {
            let members = classMembers[root]!
            let signature = members.map(\.node)
            let gid: Int
            if let existing = groupOfSignature[signature] {
                gid = existing
            } else {
                gid = groups.count
                groupOfSignature[signature] = gid
                var why = classFrozen[root]
                if why == nil, classFresh[root] != true { why = "no convolution creates these channels" }
                let memberIDs = Set(signature)
                let producerIDs = signature.filter { index in
                    if case .conv(let conv) = graph.nodes[index].op, !conv.isDepthwise { return true }
                    return false
                }.map(NodeID.init)
                var consumerIDs: [NodeID] = []
                for member in signature {
                    for reader in consumers[member] where !memberIDs.contains(reader.index) {
                        if case .conv(let conv) = graph[reader].op, !conv.isDepthwise, graph[reader].inputs[0].index == member {
                            consumerIDs.append(reader)
                        }
                    }
                }
                groups.append(ChannelGroup(id: gid, members: signature.map { ChannelGroup.Member(node: NodeID($0), channels: []) },
                                           producers: producerIDs, consumers: Array(Set(consumerIDs)).sorted(), frozenReason: why))
            }
            let position = groups[gid].size
            for (slot, member) in members.enumerated() {
                groups[gid].members[slot].channels.append(member.channel)
                groupOfChannel[member.node]![member.channel] = gid
                positionInGroup[member.node]![member.channel] = position
            }
        }
        self.groups = groups
        self.groupOfChannel = groupOfChannel
        self.positionInGroup = positionInGroup
    }
}

/// Disjoint sets with path halving and union by size.
struct UnionFind {
    private var parent: [Int]
    private var size: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        size = [Int](repeating: 1, count: count)
    }

    mutating func find(_ x: Int) -> Int {
        var x = x
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    mutating func union(_ a: Int, _ b: Int) {
        var ra = find(a), rb = find(b)
        guard ra != rb else { return }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = ra
        size[ra] += size[rb]
    }
}
