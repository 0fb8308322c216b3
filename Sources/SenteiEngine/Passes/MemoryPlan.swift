/// Where every node's value lives: in a constant, or at an element offset inside one arena shared by all
/// activations. Reshapes, contiguous slices and concat inputs become views (no copy); everything else gets a
/// region that is reused once its last reader has run. Planned once per model; nothing is allocated per frame.
package struct MemoryPlan: Sendable {
    package enum Location: Sendable, Equatable {
        case constant
        /// Element offset into the arena.
        case arena(Int)
        /// Never stored whole: computed a band at a time inside its reader's step (`BandFusion`), into the band
        /// buffers at this element offset, which live only during that step.
        case bands(Int)
    }

    package var locations: [Location]
    /// Arena size in floats.
    package var arenaCount: Int
    /// Nodes that need no step at run time because their value is a view of another node's.
    package var isView: [Bool]
    /// For concat nodes: which inputs were written in place by their producers (their copy is skipped).
    package var concatInputInPlace: [Int: [Bool]]
    /// The node whose storage holds this node's value (views and in-place concat inputs), else nil.
    package var container: [Int?]

    static let alignment = 16  // floats: 64-byte alignment for vector loads

    /// - Parameter schedule: the order the program runs the nodes in and its lane regions (graph order when nil).
    /// - Parameter fused: producers computed inside their reader's step, by reader (`BandFusion`), with the floats
    ///   of their band buffers: those replace the producer's map and live during the reader's step alone, and the
    ///   producer's inputs live until the reader has run.
    /// - Parameter sameStep: nodes written by another node's step (a `SiblingFusion` pair's second conv by its first,
    ///   a `PoolCascade` chain's later pools by its first): their buffers are live from that step on.
    package static func make(_ graph: Graph, schedule: LaneSchedule? = nil, disableViews: Bool = false,
                             fused: [Int: (producer: Int, bufferFloats: Int)] = [:],
                             sameStep: [Int: Int] = [:]) -> MemoryPlan {
        let count = graph.nodes.count
        // parent[i] = (node, element offset) when node i's value lives inside node parent's value.
        var parent = [(node: Int, offset: Int)?](repeating: nil, count: count)
        var isView = [Bool](repeating: false, count: count)
        var concatInPlace: [Int: [Bool]] = [:]
        let outputs = Set(graph.outputs.map(\.node.index))
        let inputs = Set(graph.inputs.map(\.index))

        func writesOwnBuffer(_ index: Int) -> Bool {
            switch graph.nodes[index].op {
            case .input, .constant, .reshape: return false
            case .slice: return !isView[index]
            case .conv, .channelAffine, .unary, .binary, .concat, .maxPool, .resizeNearest, .transpose, .softmax, .matMul, .gather:
                return true
            }
        }

        /// The slots from `first` on whose inputs are views of `source` (parent = source directly) at offsets 0, n₀,
        /// n₀ + n₁, … covering all of it in order, when there are such slots; nil otherwise.
        func viewSlotsTiling(_ source: Int, from first: Int, of node: Node, slotOffsets: [Int]) -> [Int]? {
            let total = graph.nodes[source].elementCount
            var covered = 0, slot = first, slots: [Int] = []
            while covered < total, slot < node.inputs.count {
                let i = node.inputs[slot].index
                guard isView[i], let p = parent[i], p.node == source, p.offset == covered,
                      slotOffsets[slot] - slotOffsets[first] == covered else { return nil }
                covered += graph.nodes[i].elementCount
                slots.append(slot)
                slot += 1
            }
            return covered == total ? slots : nil
        }

        if !disableViews {
            for (index, node) in graph.nodes.enumerated() {
                let source = node.inputs.first?.index
                switch node.op {
                case .reshape:
                    if let source, !isConstant(graph, source) { parent[index] = (source, 0); isView[index] = true }
                case .slice(let starts, let steps):
                    if let source, !isConstant(graph, source),
                       let offset = contiguousSliceOffset(input: graph.nodes[source].shape, output: node.shape, starts: starts, steps: steps) {
                        parent[index] = (source, offset)
                        isView[index] = true
                    }
                default: break
                }
            }
            // Concat inputs written in place: later concats first, so a concat that is itself an input of a later one
            // is already placed when its own inputs are considered.
            for index in stride(from: count - 1, through: 0, by: -1) {
                guard case .concat(let axis) = graph.nodes[index].op else { continue }
                let node = graph.nodes[index]
                guard node.shape[..<axis].reduce(1, *) == 1 else { continue }
                var flags = [Bool](repeating: false, count: node.inputs.count)
                var offset = 0
                var seen = Set<Int>()
                func placeable(_ i: Int) -> Bool {
                    writesOwnBuffer(i) && parent[i] == nil && !outputs.contains(i) && !inputs.contains(i) && !seen.contains(i)
                }
                var slotOffsets: [Int] = []
                for input in node.inputs {
                    slotOffsets.append(offset)
                    offset += graph.nodes[input.index].elementCount
                }
                for (slot, input) in node.inputs.enumerated() {
                    let i = input.index
                    if placeable(i) {
                        seen.insert(i)
                        parent[i] = (index, slotOffsets[slot])
                        flags[slot] = true
                    } else if isView[i], let (source, _) = parent[i], placeable(source),
                              let slots = viewSlotsTiling(source, from: slot, of: node, slotOffsets: slotOffsets) {
                        // Consecutive inputs that are views tiling one tensor in order (YOLOv8's C2f concatenates both
                        // halves of a Split): that tensor is written straight into the concat, and its views with it.
                        seen.insert(source)
                        parent[source] = (index, slotOffsets[slot])
                        for s in slots { flags[s] = true }
                    }
                }
                concatInPlace[index] = flags
            }
        }

        // Resolve every node to its root region and offset within it.
        func root(_ index: Int) -> (node: Int, offset: Int) {
            var current = index, offset = 0
            while let p = parent[current] { offset += p.offset; current = p.node }
            return (current, offset)
        }
        let roots = (0..<count).map(root)

        // Lifetime of each root region, in run positions: from its first writer to its last reader (outputs live to
        // the end).
        let schedule = schedule ?? .sequential(graph)
        var position = [Int](repeating: 0, count: count)
        for (p, n) in schedule.order.enumerated() { position[n] = p }
        for (node, writer) in sameStep { position[node] = min(position[node], position[writer]) }
        var first = [Int](repeating: Int.max, count: count)
        var last = [Int](repeating: -1, count: count)
        // The nodes that write into or read each root region.
        var touching = [[Int]](repeating: [], count: count)
        for (index, node) in graph.nodes.enumerated() {
            let r = roots[index].node
            first[r] = min(first[r], inputs.contains(index) ? -1 : position[index])
            last[r] = max(last[r], position[index])
            touching[r].append(index)
            let fusedInputs = fused[index].map { graph.nodes[$0.producer].inputs } ?? []
            for input in node.inputs + fusedInputs {
                let ri = roots[input.index].node
                last[ri] = max(last[ri], position[index])
                touching[ri].append(index)
            }
        }
        for output in outputs { last[roots[output].node] = Int.max }
        var bandFloats = [Int: Int]()
        for (consumer, fusion) in fused {
            first[fusion.producer] = position[consumer]
            last[fusion.producer] = position[consumer]
            bandFloats[fusion.producer] = fusion.bufferFloats
        }
        // Lanes run at the same time: a region only one lane touches keeps its lifetime and is tagged with that lane
        // (`Region.conflicts` says what it may share memory with); any other region a lane touches lives through the
        // whole span of the lane region.
        var lane = [(region: Int, lane: Int)?](repeating: nil, count: count)
        var span: [(start: Int, end: Int)] = []
        for (g, region) in schedule.regions.enumerated() {
            let positions = region.lanes.joined().map { position[$0] }
            span.append((positions.min()!, positions.max()!))
            for (l, nodes) in region.lanes.enumerated() { for n in nodes { lane[n] = (g, l) } }
        }
        var laneOfRegion = [(lane: Int, start: Int)?](repeating: nil, count: count)
        for r in 0..<count where roots[r].node == r && !touching[r].isEmpty {
            let lanes = touching[r].map { lane[$0] }
            guard let g = lanes.compactMap({ $0?.region }).first else { continue }
            if let l = lanes[0]?.lane, lanes.allSatisfy({ $0?.region == g && $0?.lane == l }), last[r] != Int.max {
                laneOfRegion[r] = (l, span[g].start)
            } else {
                for h in Set(lanes.compactMap { $0?.region }) {
                    first[r] = min(first[r], span[h].start)
                    last[r] = max(last[r], span[h].end)
                }
            }
        }

        let regionIDs = (0..<count).filter { roots[$0].node == $0 && !isConstant(graph, $0) }
        let placement = place(regionIDs.map {
            Region(count: bandFloats[$0] ?? graph.nodes[$0].elementCount, first: first[$0], last: last[$0],
                   lane: laneOfRegion[$0])
        })
        var regionOffset = [Int](repeating: 0, count: count)
        for (k, r) in regionIDs.enumerated() { regionOffset[r] = placement.offsets[k] }
        let arenaCount = placement.count

        let locations: [Location] = (0..<count).map { index in
            let (r, offset) = roots[index]
            if bandFloats[r] != nil { return .bands(regionOffset[r]) }
            return isConstant(graph, r) ? .constant : .arena(regionOffset[r] + offset)
        }
        return MemoryPlan(locations: locations, arenaCount: arenaCount, isView: isView, concatInputInPlace: concatInPlace,
                          container: parent.map { $0?.node })
    }

    /// A buffer of `count` floats in use from step `first` to step `last` (inclusive; any common axis of steps).
    package struct Region {
        package var count: Int
        package var first: Int
        package var last: Int
        /// The lane that alone uses this buffer, when one does, and the first run position of its lane region.
        package var lane: (lane: Int, start: Int)?

        package init(count: Int, first: Int, last: Int, lane: (lane: Int, start: Int)? = nil) {
            self.count = count
            self.first = first
            self.last = last
            self.lane = lane
        }

        /// Whether the two may not share memory: their lifetimes overlap, they belong to different lanes (lanes run
        /// at the same time, and a lane's buffers stay with its thread), or one belongs to a lane above 0 and the other
        /// was last used shortly before that lane's region. The last keeps the worker threads' lanes out of lines the
        /// caller's core may still hold: a lane that overwrote them paid for every line (YOLOX-Nano's reg-branch
        /// layers ran 1.2–1.8× slower than on one thread). Buffers last used `coldDistance` steps or more before have
        /// left that core's cache (each step writes 0.1–1 MB; a core has 2 MB of L2).
        func conflicts(with other: Region) -> Bool {
            if first <= other.last && other.first <= last { return true }
            switch (lane, other.lane) {
            case (nil, nil): return false
            case (let a?, let b?): return a.lane != b.lane
            case (let a?, nil): return a.lane > 0 && other.last < first && other.last > a.start - MemoryPlan.coldDistance
            case (nil, let b?): return b.lane > 0 && last < other.first && last > b.start - MemoryPlan.coldDistance
            }
        }
    }

    static let coldDistance = 24

    /// Offsets (in floats, each a multiple of `alignment`) that let regions share memory when their lifetimes do not
    /// overlap, and the total size. Greedy: largest first, each into the lowest gap free during its lifetime.
    package static func place(_ regions: [Region]) -> (offsets: [Int], count: Int) {
        func aligned(_ n: Int) -> Int { (max(n, 1) + alignment - 1) / alignment * alignment }
        var offsets = [Int](repeating: 0, count: regions.count)
        var placed: [(start: Int, end: Int, region: Region)] = []
        var total = 0
        for k in regions.indices.sorted(by: { (aligned(regions[$0].count), -$0) > (aligned(regions[$1].count), -$1) }) {
            let r = regions[k], need = aligned(r.count)
            let busy = placed.filter { $0.region.conflicts(with: r) }.sorted { $0.start < $1.start }
            var candidate = 0
            for region in busy {
                if candidate + need <= region.start { break }
                candidate = max(candidate, region.end)
            }
            offsets[k] = candidate
            placed.append((candidate, candidate + need, r))
            total = max(total, candidate + need)
        }
        return (offsets, total)
    }

    static func isConstant(_ graph: Graph, _ index: Int) -> Bool {
        if case .constant = graph.nodes[index].op { return true }
        return false
    }

    /// The element offset of a slice when its result is one contiguous run of the input, else nil.
    static func contiguousSliceOffset(input: [Int], output: [Int], starts: [Int], steps: [Int]) -> Int? {
        let strides = ShapeMath.strides(input)
        // Leading axes must be singletons in the output, then one axis sliced with step 1, then full axes.
        guard let cut = (0..<input.count).first(where: { output[$0] != 1 || input[$0] != 1 }) else { return 0 }
        for axis in 0..<cut where output[axis] != 1 { return nil }
        guard steps[cut] == 1 || output[cut] == 1 else { return nil }
        for axis in (cut + 1)..<input.count where output[axis] != input[axis] || starts[axis] != 0 || (steps[axis] != 1 && output[axis] > 1) { return nil }
        return (0..<input.count).reduce(0) { $0 + starts[$1] * strides[$1] }
    }
}
