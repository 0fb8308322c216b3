#if canImport(Glibc)
import Glibc
#endif

/// The order a program runs its nodes in, and the regions where independent branches of the graph run whole, one
/// lane (thread) each, instead of every layer being split across all threads.
///
/// Why: a layer split between cores reads the part of its input map the other core wrote, and overwrites lines the
/// other core holds; on this kind of VM a megabyte of such lines costs 40–55 µs more than local ones. YOLOX-Nano's
/// head layers (13–52 px maps, 10–80 µs each) ran only 1.0–1.4× faster on two threads than on one. Its cls and reg
/// branches are independent chains from one stem to one concat: run whole, each on its own core, every map a branch
/// makes stays in that core's cache.
package struct LaneSchedule: Sendable {
    /// Every node index once, inputs before readers. A region's nodes are contiguous: lane 0's, then lane 1's, ….
    package var order: [Int]
    package var regions: [Region]

    package struct Region: Sendable {
        /// Independent chains of nodes, each in dependency order; none reads a node of another.
        package var branches: [[Int]]
        /// The branches dealt to lanes: node indices per lane, in dependency order.
        package var lanes: [[Int]]
        /// Estimated run time of each lane on one thread (nanoseconds, from `nodeCost`).
        package var laneCosts: [Double]
        /// Estimated run time of the same nodes each split across the threads (`splitNodeCost`).
        package var splitCost: Double

        /// Deals the branches to min(threads, branches) lanes, longest first, each to the least loaded lane; nil when
        /// the result does not pay (fewer than two lanes, too little work, or too uneven: `balanceLimit`).
        init?(branches: [[Int]], cost: [Double], splitCost: [Double], threads: Int) {
            let laneCount = min(threads, branches.count)
            guard laneCount >= 2 else { return nil }
            func total(_ nodes: [Int]) -> Double { nodes.reduce(0) { $0 + cost[$1] } }
            var lanes = [[Int]](repeating: [], count: laneCount)
            var loads = [Double](repeating: 0, count: laneCount)
            for nodes in branches.sorted(by: { total($0) > total($1) }) {
                let lane = loads.indices.min { loads[$0] < loads[$1] }!
                lanes[lane] += nodes
                loads[lane] += total(nodes)
            }
            let all = loads.reduce(0, +)
            guard all >= LaneSchedule.minimumRegionCost, loads.max()! <= LaneSchedule.balanceLimit * all else { return nil }
            self.splitCost = branches.joined().reduce(0) { $0 + splitCost[$1] }
            self.branches = branches
            self.lanes = lanes.map { $0.sorted() }
            self.laneCosts = loads
        }
    }

    /// Graph order, no regions.
    package static func sequential(_ graph: Graph) -> LaneSchedule {
        LaneSchedule(order: Array(graph.nodes.indices), regions: [])
    }

    /// A region is kept when its slowest lane is estimated at most this share of all its lanes' work (two lanes:
    /// 0.6 means at least 1.67× faster than running the branches one after another on one thread). Layers split over
    /// threads do no better than that on these small maps, so a less even region would only lose.
    static let balanceLimit = 0.6
    /// A region (after merging) is kept when its busiest lane is estimated under this share of its nodes' split
    /// estimate (`splitNodeCost`): the estimates are rough, and a region costs arena memory (its lanes' buffers live at
    /// the same time). YOLOX-Nano: 0.44 (int8) and 0.61 (fp32), both faster in lanes; YOLOv8n@640's last head and
    /// decoder 0.79, slower in lanes when measured.
    static let splitMargin = 0.7
    /// Smaller regions (estimated nanoseconds on one thread) are left to the fork around them, whose lanes then
    /// include them: a region of two 1×1 prediction convs would otherwise cut YOLOX's reg branch in two.
    static let minimumRegionCost = 20_000.0

    /// Finds fork nodes whose readers start branches that meet again only at a join (a node reached from two of
    /// them), and runs those branches as lanes when they balance over `threads` lanes. `int8Layers` are the nodes the
    /// program runs in int8 (cheaper per MAC). A region is kept when its busiest lane is estimated under `margin` times
    /// the same nodes split across the threads. `SENTEI_LANES=off` turns regions off (A/B measurements).
    package static func make(_ graph: Graph, threads: Int, int8Layers: Set<Int>, margin: Double = splitMargin)
        -> LaneSchedule
    {
        if threads < 2 || lanesDisabled { return sequential(graph) }
        let count = graph.nodes.count
        let consumers = graph.consumers().map { Array(Set($0.map(\.index))).sorted() }
        let cost = graph.nodes.indices.map { nodeCost(graph, $0, int8: int8Layers.contains($0)) }
        let splitCost = graph.nodes.indices.map { splitNodeCost(graph, $0, cost: cost[$0], threads: threads) }
        var claimed = [Bool](repeating: false, count: count)
        var regions: [Region] = []
        // Latest forks first: a fork's branches then stop where a later fork's lanes begin, so the regions are the
        // innermost ones (YOLOX: each head's cls and reg branches, not the whole neck against one head).
        for fork in graph.nodes.indices.reversed() where consumers[fork].count >= 2 && !isConstant(graph.nodes[fork].op) {
            let heads = consumers[fork]
            // How many heads reach each node: a node reached from two is a join, and so is everything after it.
            var reached = [Int](repeating: 0, count: count)
            var owner = [Int](repeating: -1, count: count)
            for (b, head) in heads.enumerated() {
                var seen = [Bool](repeating: false, count: count)
                var stack = [head]
                seen[head] = true
                while let n = stack.popLast() {
                    reached[n] += 1
                    owner[n] = b
                    for c in consumers[n] where !seen[c] { seen[c] = true; stack.append(c) }
                }
            }
            // Branch b: the nodes only head b reaches whose inputs are constants, made before the fork, or in b.
            var branch = [[Int]](repeating: [], count: heads.count)
            var member = [Int](repeating: -1, count: count)
            for n in (fork + 1)..<count where reached[n] == 1 && !claimed[n] {
                let b = owner[n]
                let ready = graph.nodes[n].inputs.allSatisfy { input in
                    let i = input.index
                    return i <= fork || member[i] == b || isConstant(graph.nodes[i].op)
                }
                if ready { member[n] = b; branch[b].append(n) }
            }
            let work = branch.filter { !$0.isEmpty }
            guard work.count >= 2, let region = Region(branches: work, cost: cost, splitCost: splitCost, threads: threads)
            else { continue }
            for n in region.lanes.joined() { claimed[n] = true }
            regions.append(region)
        }
        // Each region runs where its first node stood; every other node keeps its place relative to the others.
        enum Unit { case node(Int), region(Region) }
        let regionAt = Dictionary(uniqueKeysWithValues: regions.map { ($0.lanes.joined().min()!, $0) })
        var units: [Unit] = graph.nodes.indices.compactMap { n in
            if let region = regionAt[n] { return .region(region) }
            return claimed[n] ? nil : .node(n)
        }
        // A region merges with the next one when the nodes between them that the next needs (YOLOX: the other heads'
        // stems) can run before both: their branches then balance over the lanes together instead of one region at
        // a time (YOLOX-Nano int8, estimated: three regions 641 µs on the busiest lane, one region 590).
        var i = 0
        while i < units.count {
            guard case .region(let first) = units[i],
                  let j = units[(i + 1)...].firstIndex(where: { if case .region = $0 { return true } else { return false } }),
                  case .region(let second) = units[j]
            else { i += 1; continue }
            var inFirst = Set(first.lanes.joined())
            var before: [Int] = [], after: [Int] = []
            for case .node(let n) in units[(i + 1)..<j] {
                if graph.nodes[n].inputs.contains(where: { inFirst.contains($0.index) }) {
                    after.append(n)
                    inFirst.insert(n)  // what reads it stays after too
                } else {
                    before.append(n)
                }
            }
            // The second region may read neither the first (their lanes would run at once) nor what must follow it.
            let needsFirst = second.lanes.joined().contains { n in graph.nodes[n].inputs.contains { inFirst.contains($0.index) } }
            guard !needsFirst,
                  let merged = Region(branches: first.branches + second.branches, cost: cost, splitCost: splitCost, threads: threads),
                  merged.laneCosts.max()! < first.laneCosts.max()! + second.laneCosts.max()!
            else { i += 1; continue }
            units.replaceSubrange(i...j, with: before.map { .node($0) } + [.region(merged)] + after.map { .node($0) })
            i += before.count
        }
        var order: [Int] = []
        var merged: [Region] = []
        order.reserveCapacity(count)
        for unit in units {
            switch unit {
            case .node(let n): order.append(n)
            case .region(let region) where region.laneCosts.max()! < margin * region.splitCost:
                order += region.lanes.joined()
                merged.append(region)
            case .region(let region):
                // Not worth its lanes after merging: its nodes run split, in graph order, where the region stood.
                order += region.lanes.joined().sorted()
            }
        }
        return LaneSchedule(order: order, regions: merged)
    }

    static let lanesDisabled: Bool = {
        guard let value = getenv("SENTEI_LANES") else { return false }
        return String(cString: value) == "off"
    }()

    /// Estimated single-thread nanoseconds of a node on this kind of machine (YOLOX-Nano's per-layer minima with
    /// AVX-512: int8 1×1 convs 7 ns per thousand MACs, fp32 dense 20, depthwise 43, about 3 µs fixed per layer;
    /// copies and pools about half a nanosecond per element). Used only to balance lanes.
    static func nodeCost(_ graph: Graph, _ index: Int, int8: Bool) -> Double {
        let node = graph.nodes[index]
        switch node.op {
        case .input, .constant, .reshape: return 0
        case .conv(let conv):
            let macs = Double(node.elementCount * conv.macsPerOutput)
            let perMAC = conv.isDepthwise ? 0.043 : int8 ? 0.0072 : 0.020
            return macs * perMAC + 3000
        default: return Double(node.elementCount) * 0.5 + 1000
        }
    }

    /// Estimated nanoseconds of a node split across `threads` parts, as it runs outside lanes: its share of the work,
    /// a fixed 3 µs for the dispatch and the slower part, and 30 µs per MB it reads and writes for the lines that
    /// cross cores (about half of them, at the 40–55 µs per MB measured here). A region must beat this: lanes pay on
    /// small maps (YOLOX's heads: 2 threads, fp32 7.3 → 6.8 ms), not on large ones (YOLOv8n@640's 80×80 heads split
    /// well, and lanes there only cost arena memory).
    static func splitNodeCost(_ graph: Graph, _ index: Int, cost: Double, threads: Int) -> Double {
        let node = graph.nodes[index]
        guard cost > 0 else { return 0 }
        let bytes = Double(node.elementCount + node.inputs.reduce(0) { $0 + graph[$1].elementCount }) * 4
        return cost / Double(threads) + 3000 + bytes * 0.03
    }

    private static func isConstant(_ op: Op) -> Bool {
        if case .constant = op { return true }
        return false
    }
}

extension LaneSchedule {
    /// Where a node runs inside a lane region: the region's index and the lane's.
    package struct Place: Equatable {
        package var region: Int
        package var lane: Int
    }

    /// The place of every node inside a lane region (nodes outside any region have none).
    var placeOf: [Int: Place] {
        var places = [Int: Place]()
        for (r, region) in regions.enumerated() {
            for (l, nodes) in region.lanes.enumerated() { for n in nodes { places[n] = Place(region: r, lane: l) } }
        }
        return places
    }

    /// This schedule with `node` moved to right after `anchor`, in the order and in their lane (both in the same one,
    /// or outside lane regions). Still inputs before readers when `node` reads only what is ready once `anchor` has
    /// run (a sibling's shared input, a chained pool's predecessor).
    func placing(_ node: Int, after anchor: Int) -> LaneSchedule {
        func moved(_ list: [Int]) -> [Int] {
            guard list.contains(node), list.contains(anchor) else { return list }
            var list = list
            list.removeAll { $0 == node }
            list.insert(node, at: list.firstIndex(of: anchor)! + 1)
            return list
        }
        var result = self
        result.order = moved(order)
        for r in result.regions.indices { result.regions[r].lanes = result.regions[r].lanes.map(moved) }
        return result
    }
}
