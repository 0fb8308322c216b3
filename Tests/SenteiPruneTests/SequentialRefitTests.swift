import Foundation
import Testing
@testable import SenteiEngine
@testable import SenteiPrune
import SenteiVision

/// The layer-by-layer refit on real frames: YOLOX-Nano at 64 px (the graph is size-agnostic; small keeps CI short),
/// calibrated on the first coco128 images, scored on images it never saw.
@Suite struct SequentialRefitTests {
    /// Letterboxed coco128 frames at `size`, in sorted order; nil (skip) without the shared data.
    func coco(size: Int, range: Range<Int>) throws -> [Tensor]? {
        guard let shared = sharedDirectory else { return nil }
        let manifest = try ModelManifest.load(path: modelsDirectory + "/yolox_nano.json").atInputSize(size)
        let detector = try Detector(manifest: manifest) { _ in Tensor(zeros: [1]) }
        let directory = shared + "/data/coco128/images/train2017"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jpg") }.sorted()
        return try names[range].map { name in
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + name))
            return try [UInt8](bytes).withUnsafeBytes { try detector.prepare(jpeg: $0, name: name).tensor }
        }
    }

    /// At the same uniform 25% cut, the head error on unseen frames orders: sequential < teacher-statistics refit < no
    /// refit. A regression of the sequential refit (fitting to the wrong inputs or targets) breaks the first `<`.
    @Test func sequentialRefitBeatsTheTeacherRefitOnUnseenFrames() throws {
        guard let shared = sharedDirectory, let calibration = try coco(size: 64, range: 0..<4),
              let unseen = try coco(size: 64, range: 64..<66) else {
            print("skipping: ../shared (yolox_nano.onnx, coco128) not found (set SENTEI_SHARED)")
            return
        }
        let graph = try PrunableModel.load(path: shared + "/models/yolox_nano.onnx", inputShapes: ["images": [1, 3, 64, 64]])
        let teacher = try unseen.map { try run(graph, $0)[0] }
        func unseenError(_ kind: ReconstructionKind) throws -> Double {
            var options = PruneOptions(macsCut: 0.25)
            options.sensitivityAware = false
            options.reconstruction = kind
            options.refitFrames = 4
            options.sensitivityFrames = 1
            let result = try StructuredPruner(graph: graph, calibration: calibration, options: options).run()
            let model = Model(graph: result.graph, options: .init(threads: 1))
            return try zip(unseen, teacher).reduce(0) { total, pair in
                let out = try model.run([pair.0])[0]
                return total + HeadError.measure(student: out.data, teacher: pair.1.data, shape: out.shape)
            } / Double(unseen.count)
        }
        let none = try unseenError(.none), teacherRefit = try unseenError(.teacher), sequential = try unseenError(.sequential)
        print("head error on unseen frames at a 25% cut: none \(none), teacher refit \(teacherRefit), sequential \(sequential)")
        #expect(teacherRefit < none)
        #expect(sequential < teacherRefit)
    }

    /// Nothing removed: nothing is refit and the output is the unpruned model's.
    @Test func aZeroCutIsTheUnprunedModel() throws {
        let graph = couplingGraph(seed: 3)
        var noise = Noise(state: 5)
        let frames = (0..<4).map { _ in Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2)) }
        var pruned = graph
        let kept = try ChannelPruner.keptChannels(graph, ChannelGroups(graph), PrunePlan())
        #expect(try StudentRefit.refit(original: graph, pruned: &pruned, kept: kept, frames: frames, threads: 1) == 0)
        #expect(maxAbsDifference(try run(pruned, frames[0])[0].data, try run(graph, frames[0])[0].data) == 0)
    }

    /// Stages follow the data flow: every refit conv sits in a later stage than any refit conv upstream of it.
    @Test func stagesFollowTheDataFlow() throws {
        let graph = couplingGraph(seed: 11)
        let groups = ChannelGroups(graph)
        let a = graph.nodes.firstIndex { $0.name == "a" }!
        let gid = groups.groupOfChannel[a]![0]
        let plan = PrunePlan(kept: [gid: Array(0..<(groups.groups[gid].size - 4))])
        let pruned = try ChannelPruner.apply(graph, groups, plan)
        let stages = StudentRefit.plan(graph, pruned: pruned, kept: try ChannelPruner.keptChannels(graph, groups, plan))
        var stageOf: [Int: Int] = [:]
        for (number, stage) in stages.enumerated() { for entry in stage { stageOf[entry.node] = number } }
        let name = { (index: Int) in graph.nodes[index].name }
        #expect(Set(stageOf.keys.map(name)).isSuperset(of: ["dw", "b_res", "d", "e", "head", "head2"]))
        #expect(!stageOf.keys.map(name).contains("c"))  // reads the stem, which lost nothing
        func upstream(_ index: Int) -> Set<Int> {
            var seen = Set<Int>(), stack = graph.nodes[index].inputs.map(\.index)
            while let next = stack.popLast() {
                if seen.insert(next).inserted { stack += graph.nodes[next].inputs.map(\.index) }
            }
            return seen
        }
        for (node, stage) in stageOf {
            for earlier in upstream(node) { if let other = stageOf[earlier] { #expect(other < stage, "\(name(earlier)) before \(name(node))") } }
        }
    }
}
