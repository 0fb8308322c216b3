import Foundation
import Testing
@testable import SenteiEngine

/// Lane regions (`LaneSchedule`): which branches run whole on their own thread, the memory plan that lets them run at
/// the same time, and outputs identical to the layer-split run.
@Suite struct LaneScheduleTests {
    /// x → stem → branches of convs (`depths` convs each, `width` channels; 1×1, or 3×3 where `kernels` says so,
    /// with `reduce[b]` channels in branch b's middle) → concat of the branch ends → y.
    static func branchyGraph(depths: [Int], width: Int = 16, kernels: [[Int]] = [], reduce: [Int] = []) throws -> Graph {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 8, 40, 40])
        var seed: UInt32 = 7
        func weights(_ name: String, _ cout: Int, _ cin: Int, _ k: Int = 1) throws {
            try b.floats(name, [cout, cin, k, k], (0..<(cout * cin * k * k)).map { _ in
                seed = seed &* 1_664_525 &+ 1_013_904_223
                return Float(Int(seed >> 20) - 2048) / 8192
            })
        }
        try weights("ws", width, 8)
        b.node("Conv", ["x", "ws"], ["stem"], ["kernel_shape": .ints([1, 1])])
        var ends: [String] = []
        for (branch, depth) in depths.enumerated() {
            var last = "stem"
            var channels = width
            for layer in 0..<depth {
                let name = "b\(branch)_\(layer)"
                let k = branch < kernels.count && layer < kernels[branch].count ? kernels[branch][layer] : 1
                let out = layer == depth - 1 || branch >= reduce.count ? width : reduce[branch]
                try weights("w" + name, out, channels, k)
                let pad = Int64(k / 2)
                b.node("Conv", [last, "w" + name], [name + "_c"],
                       ["kernel_shape": .ints([Int64(k), Int64(k)]), "pads": .ints([pad, pad, pad, pad])])
                channels = out
                b.node("Relu", [name + "_c"], [name])
                last = name
            }
            ends.append(last)
        }
        b.node("Concat", ends, ["y"], ["axis": .int(1)])
        b.output("y")
        return Pipeline.optimize(try b.graph())
    }

    /// Every node once, inputs first.
    func expectValidOrder(_ graph: Graph, _ schedule: LaneSchedule) {
        #expect(schedule.order.sorted() == Array(graph.nodes.indices), "each node exactly once")
        var position = [Int](repeating: -1, count: graph.nodes.count)
        for (p, n) in schedule.order.enumerated() { position[n] = p }
        for n in graph.nodes.indices {
            for input in graph.nodes[n].inputs {
                #expect(position[input.index] < position[n], "\(graph.nodes[n].name) runs before its input \(graph[input].name)")
            }
        }
        for region in schedule.regions {
            // Lanes read nothing another lane of the region makes.
            for (a, lane) in region.lanes.enumerated() {
                let others = Set(region.lanes.enumerated().filter { $0.offset != a }.flatMap(\.element))
                for n in lane {
                    #expect(!graph.nodes[n].inputs.contains { others.contains($0.index) }, "\(graph.nodes[n].name) reads another lane")
                }
            }
        }
    }

    @Test func balancedBranchesRunAsLanes() throws {
        let graph = try Self.branchyGraph(depths: [3, 3])
        // margin 2: the structure only, whatever the estimates say of such small maps.
        let schedule = LaneSchedule.make(graph, threads: 2, int8Layers: [], margin: 2)
        #expect(schedule.regions.count == 1)
        let convs = { (nodes: [Int]) in nodes.filter { if case .conv = graph.nodes[$0].op { return true }; return false } }
        #expect(schedule.regions.first?.lanes.map { convs($0).count } == [3, 3])
        expectValidOrder(graph, schedule)
        #expect(LaneSchedule.make(graph, threads: 1, int8Layers: [], margin: 2).regions.isEmpty, "one thread: nothing to run beside")
    }

    @Test func unevenBranchesStaySplitAcrossThreads() throws {
        let graph = try Self.branchyGraph(depths: [1, 4])
        #expect(LaneSchedule.make(graph, threads: 2, int8Layers: [], margin: 2).regions.isEmpty)
    }

    /// More branches than threads: dealt longest first to the least loaded lane.
    @Test func branchesAreDealtToTheLeastLoadedLane() throws {
        let graph = try Self.branchyGraph(depths: [4, 2, 2])
        let schedule = LaneSchedule.make(graph, threads: 2, int8Layers: [], margin: 2)
        let region = try #require(schedule.regions.first)
        #expect(region.lanes.count == 2)
        #expect(abs(region.laneCosts[0] - region.laneCosts[1]) < 0.01 * region.laneCosts.reduce(0, +))
        expectValidOrder(graph, schedule)
    }

    /// Buffers of different lanes never share memory, whatever their lifetimes; a lane above 0 keeps out of buffers
    /// used just before its region, not out of ones used long before.
    @Test func lanesKeepTheirOwnMemory() {
        typealias Region = MemoryPlan.Region
        let laneZero = Region(count: 64, first: 100, last: 101, lane: (lane: 0, start: 100))
        let laneOne = Region(count: 64, first: 102, last: 103, lane: (lane: 1, start: 100))
        #expect(MemoryPlan.place([laneZero, laneOne]).count == 128, "different lanes: disjoint although their lifetimes are")
        let sameLane = Region(count: 64, first: 104, last: 105, lane: (lane: 1, start: 100))
        #expect(MemoryPlan.place([laneOne, sameLane]).count == 64, "one lane runs its steps in order")
        let recent = Region(count: 64, first: 90, last: 99)
        #expect(MemoryPlan.place([recent, laneOne]).count == 128, "lane 1 keeps out of what the caller just wrote")
        #expect(MemoryPlan.place([recent, laneZero]).count == 64, "lane 0 runs on the caller")
        let cold = Region(count: 64, first: 1, last: 2)
        #expect(MemoryPlan.place([cold, laneOne]).count == 64)
        let later = Region(count: 64, first: 200, last: 210)
        #expect(MemoryPlan.place([later, laneOne]).count == 64)
    }

    /// Two threads with lanes, two threads without, one thread, and two threads in the pool's caller-only mode
    /// compute bit for bit the same outputs, fp32 and int8 (whose kernels use per-thread scratch).
    @Test func lanesChangeNoOutputBit() throws {
        // 3×3 convs of different sizes in different lanes: each lane's slice of the shared conv scratch must be
        // apart from the other's whatever the conv (a slice per conv size let lane 1 write into lane 0's).
        let graph = try Self.branchyGraph(depths: [2, 2, 2], kernels: [[3, 1], [1, 3], [3, 1]], reduce: [16, 4, 16])
        var layers: [String: LayerQuantization] = [:]
        var activations: [String: ActivationQuantization] = [:]
        for node in graph.nodes {
            guard case .conv = node.op, let input = node.inputs.first else { continue }
            let name = graph[input].name
            layers[node.name] = LayerQuantization(precision: .int8, input: name)
            activations[name] = ActivationQuantization(scale: 4.0 / 255, zeroPoint: 128, observedMin: -2, observedMax: 2)
        }
        let input = Tensor(shape: [1, 8, 40, 40], data: (0..<(8 * 40 * 40)).map { Float(($0 * 37) % 101) / 50 - 1 })
        for table in [nil, QuantizationTable(activations: activations, layers: layers)] {
            let reference = try Model(graph: graph, options: .init(threads: 1, quantization: table)).run([input])[0].data
            var options = Model.Options(threads: 2, quantization: table)
            options.laneSplitMargin = 2
            let laned = Model(graph: graph, options: options)
            #expect(!laned.schedule.regions.isEmpty)
            // Many runs: a lane overwriting another's scratch shows only when the two meet in time.
            for _ in 0..<40 { #expect(try laned.run([input])[0].data == reference) }
            laned.singleThreaded = true
            #expect(try laned.run([input])[0].data == reference, "caller-only: one part runs every lane")
            options.lanes = false
            let split = Model(graph: graph, options: options)
            #expect(split.schedule.regions.isEmpty)
            #expect(try split.run([input])[0].data == reference)
        }
    }

    /// Every shared model's schedule is valid, and its plan keeps what lanes write apart from what other lanes use.
    @Test(arguments: ["yolox_nano.onnx", "yolov8n_320.onnx", "yolov8n_640.onnx"]) func sharedModelLanesAreSafe(_ name: String) throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        let onnx = try readONNXModel(path: "\(shared)/models/\(name)")
        let graph = Passes.foldSpaceToDepthIntoConv(Pipeline.optimize(try ONNXImporter.importModel(onnx, source: name)))
        let schedule = LaneSchedule.make(graph, threads: 2, int8Layers: [], margin: 2)
        expectValidOrder(graph, schedule)
        expectLanesApart(graph, schedule, MemoryPlan.make(graph, schedule: schedule))
        // Same outputs, bit for bit, with lanes and without (YOLOv8's lanes run 3×3 convs of different sizes at once:
        // a scratch slice per conv size once let one lane overwrite the other's, and every run differed).
        guard name != "yolov8n_640.onnx" else { return }
        let input = graph.inputs.map { Tensor(shape: graph[$0].shape, data: (0..<graph[$0].elementCount).map { Float(($0 * 7919) % 256) }) }
        let reference = try Model(graph: graph, options: .init(threads: 2, lanes: false)).run(input)[0].data
        // YOLOv8n@320's lanes do not pay (`splitMargin`); taken anyway here, for their 3×3 convs.
        var options = Model.Options(threads: 2)
        options.laneSplitMargin = 2
        let laned = Model(graph: graph, options: options)
        #expect(!laned.schedule.regions.isEmpty)
        for _ in 0..<3 { #expect(try laned.run(input)[0].data == reference, "\(name)") }
    }

    /// What a lane writes never overlaps what another lane of its region writes or reads, except values written in
    /// place into a concat both lanes fill (slices of one buffer).
    func expectLanesApart(_ graph: Graph, _ schedule: LaneSchedule, _ plan: MemoryPlan) {
        func range(_ i: Int) -> Range<Int>? {
            guard case .arena(let offset) = plan.locations[i] else { return nil }
            return offset..<(offset + graph.nodes[i].elementCount)
        }
        for region in schedule.regions {
            for (a, laneA) in region.lanes.enumerated() {
                for (b, laneB) in region.lanes.enumerated() where a != b {
                    let touchedB = laneB.flatMap { [$0] + graph.nodes[$0].inputs.map(\.index) }
                        .filter { plan.container[$0] == nil }.compactMap(range)
                    for n in laneA where plan.container[n] == nil {
                        guard let written = range(n) else { continue }
                        #expect(!touchedB.contains { $0.overlaps(written) },
                                "\(graph.nodes[n].name) (lane \(a)) overlaps lane \(b)'s memory")
                    }
                }
            }
        }
    }

    /// YOLOX-Nano: the cls and reg branches of all three heads form one region (their stems run first); the plan
    /// gives buffers that lanes use at the same time disjoint memory.
    @Test func yoloxHeadsRunAsOneRegion() throws {
        guard let shared = engineSharedDirectory else { print("skipped: shared data absent"); return }
        let onnx = try readONNXModel(path: "\(shared)/models/yolox_nano.onnx")
        let graph = Passes.foldSpaceToDepthIntoConv(Pipeline.optimize(try ONNXImporter.importModel(onnx, source: "yolox_nano.onnx")))
        let schedule = LaneSchedule.make(graph, threads: 2, int8Layers: [])
        expectValidOrder(graph, schedule)
        let region = try #require(schedule.regions.first)
        #expect(schedule.regions.count == 1)
        // Six branches (cls: 2 × (depthwise, 1×1) + prediction; reg: the same + the box and objectness predictions).
        #expect(region.branches.count == 6)
        #expect(region.lanes.joined().count == 3 * (5 + 6))
        let slowest = region.laneCosts.max()!, all = region.laneCosts.reduce(0, +)
        #expect(slowest < 0.55 * all, "lanes \(region.laneCosts)")
        expectLanesApart(graph, schedule, MemoryPlan.make(graph, schedule: schedule))
    }
}
