import Testing
@testable import SenteiEngine
@testable import SenteiPrune

@Suite struct YOLOXPruneTests {
    func yolox(size: Int = 416) throws -> Graph? {
        guard let shared = sharedDirectory else {
            print("skipping: ../shared/models/yolox_nano.onnx not found (set SENTEI_SHARED)")
            return nil
        }
        return try PrunableModel.load(path: shared + "/models/yolox_nano.onnx", inputShapes: ["images": [1, 3, size, size]])
    }

    @Test func dependencyGraphOfYOLOXNano() throws {
        guard let graph = try yolox() else { return }
        let groups = ChannelGroups(graph)
        assertConsistent(graph, groups)
        // 76 convs, minus the 9 channels-preserving depthwise ones, plus the Focus input planes: 77 groups. Frozen:
        // the image planes, the stem (Conv_41 with its depthwise Conv_44) and the 9 head prediction convs.
        #expect(groups.groups.count == 77)
        #expect(groups.prunable.count == 66)
        let stem = graph.nodes.firstIndex { $0.name == "Conv_41" }!
        #expect(!groups.groups[groups.groupOfChannel[stem]![0]].isPrunable)
        for head in ["Conv_314", "Conv_327", "Conv_328"] {
            let index = graph.nodes.firstIndex { $0.name == head }!
            #expect(!groups.groups[groups.groupOfChannel[index]![0]].isPrunable, "\(head)")
        }
        // A CSP stage: the first 1×1 conv and every bottleneck's residual output form one group with the concat
        // range they feed; each bottleneck's inner 1×1 conv shares its group with the depthwise conv after it.
        func members(_ name: String) -> Set<String> {
            let index = graph.nodes.firstIndex { $0.name == name }!
            return Set(groups.groups[groups.groupOfChannel[index]![0]].members.map { graph[$0.node].name })
        }
        #expect(members("Conv_76") == ["Conv_76", "Conv_88", "Conv_98", "Conv_108", "Concat_112"])
        #expect(members("Conv_82") == ["Conv_82", "Conv_85"])
        // The SPP block: Conv_168's channels pass through three max-pools into four ranges of one concat.
        let spp = groups.groups[groups.groupOfChannel[graph.nodes.firstIndex { $0.name == "Conv_168" }!]![0]]
        #expect(spp.members.filter { graph[$0.node].name == "Concat_174" }.count == 4)
    }

    /// A 25% cut (uniform, L1: no calibration data needed) compiles, runs, keeps multiples of 8 and removes ~25%.
    /// At 224×224 (the head reshapes with -1) to keep the debug-build run short; the MACs share is size-independent.
    @Test func yoloxPrunedByAQuarterRuns() throws {
        guard let graph = try yolox(size: 224) else { return }
        var options = PruneOptions(macsCut: 0.25)
        options.importance = .l1
        options.reconstruct = false
        options.sensitivityAware = false
        let pruner = try StructuredPruner(graph: graph, calibration: [], options: options)
        let result = try pruner.run()
        let cut = 1 - Double(result.macsAfter) / Double(result.macsBefore)
        #expect(cut >= 0.25 && cut < 0.27, "cut \(cut)")
        for keep in result.plan.kept.values { #expect(keep.count % 8 == 0) }
        let model = Model(graph: result.graph, options: .init(threads: 1))
        #expect(model.totalMACs == result.macsAfter)
        var noise = Noise(state: 3)
        let input = Tensor(shape: [1, 3, 224, 224], data: (0..<(3 * 224 * 224)).map { _ in abs(noise.next(255)) })
        let out = try model.run([input])[0]
        #expect(out.shape == [1, 1029, 85])
        #expect(out.data.allSatisfy { $0.isFinite })
        // The written file loads back with the same MACs and output.
        let bytes = try ONNXWriter.encode(result.graph)
        let back = Model(graph: Pipeline.optimize(try ONNXImporter.importModel(try readONNXModel(bytes: bytes, source: "p.onnx"), source: "p.onnx")),
                         options: .init(threads: 1))
        #expect(back.totalMACs == result.macsAfter)
        let reloaded = try back.run([input])[0]
        #expect(maxAbsDifference(reloaded.data, out.data) < 1e-3)
    }
}

