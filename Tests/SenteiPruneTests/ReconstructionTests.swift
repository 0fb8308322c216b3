import Testing
@testable import SenteiEngine
@testable import SenteiPrune

@Suite struct ReconstructionTests {
    func frames(_ count: Int, seed: UInt64) -> [Tensor] {
        var noise = Noise(state: seed)
        return (0..<count).map { _ in Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2)) }
    }

    /// The same plan with and without the least-squares refit: the refit brings the head output closer to the
    /// unpruned model's, on the calibration frames and on frames it never saw.
    @Test func refitReducesTheOutputError() throws {
        let graph = couplingGraph(seed: 11)
        var options = PruneOptions(macsCut: 0.3)
        options.sensitivityAware = false
        options.roundTo = 4
        options.sensitivityFrames = 8
        options.reconstruction = .teacher
        let calibration = frames(32, seed: 1)
        let withRefit = try StructuredPruner(graph: graph, calibration: calibration, options: options).run()
        options.reconstruct = false
        let plain = try StructuredPruner(graph: graph, calibration: calibration, options: options).run()
        #expect(withRefit.plan == plain.plan)
        #expect(withRefit.refitConvs > 0 && plain.refitConvs == 0)
        #expect(withRefit.error < plain.error)

        let unseen = frames(8, seed: 99)
        func error(_ pruned: Graph) throws -> Double {
            try unseen.reduce(0) { total, frame in
                let s = try run(pruned, frame)[1], t = try run(graph, frame)[1]
                return total + HeadError.measure(student: s.data, teacher: t.data, shape: s.shape)
            }
        }
        #expect(try error(withRefit.graph) < error(plain.graph))
    }

    /// The sequential refit on the pruned model's own activations lowers the error of the teacher-statistics refit.
    @Test func sequentialRefitImprovesOnTheTeacherRefit() throws {
        let graph = couplingGraph(seed: 11)
        var options = PruneOptions(macsCut: 0.4)
        options.sensitivityAware = false
        options.roundTo = 4
        options.sensitivityFrames = 32
        options.reconstruction = .teacher
        let calibration = frames(32, seed: 1)
        let teacherOnly = try StructuredPruner(graph: graph, calibration: calibration, options: options).run()
        options.reconstruction = .sequential
        options.refitFrames = 32
        let both = try StructuredPruner(graph: graph, calibration: calibration, options: options).run()
        #expect(both.plan == teacherOnly.plan)
        #expect(both.error < teacherOnly.error, "\(both.error) vs \(teacherOnly.error)")
    }

    /// `.best` keeps whichever refit has the lower head error on the sensitivity frames: the sequential one normally;
    /// the teacher one when the sequential refit is crippled (an enormous ridge shrinks its weights towards zero).
    @Test func bestKeepsTheRefitWithTheLowerHeadError() throws {
        let graph = couplingGraph(seed: 11)
        let calibration = frames(32, seed: 1)
        for ridge in [1e-3, 100] {
            var options = PruneOptions(macsCut: 0.4)
            options.sensitivityAware = false
            options.roundTo = 4
            options.sensitivityFrames = 8
            options.refitFrames = 32
            options.refitRidge = ridge
            var results: [ReconstructionKind: PruneResult] = [:]
            for kind in [ReconstructionKind.teacher, .sequential, .best] {
                options.reconstruction = kind
                results[kind] = try StructuredPruner(graph: graph, calibration: calibration, options: options).run()
            }
            let teacher = results[.teacher]!, sequential = results[.sequential]!, best = results[.best]!
            #expect(best.plan == teacher.plan)
            #expect(best.error == min(teacher.error, sequential.error))
            #expect(best.refit == (ridge < 1 ? .sequential : .teacher), "ridge \(ridge): teacher \(teacher.error), sequential \(sequential.error)")
        }
    }

    /// Allocation in two rounds: the second round's curves are measured on top of the first round's plan (each point
    /// cuts deeper and saves more), and the plan still meets the target.
    @Test func allocationRoundsBuildOnTheFirstRound() throws {
        let graph = couplingGraph(seed: 5)
        var options = PruneOptions(macsCut: 0.3)
        options.roundTo = 4
        options.levels = [0.25, 0.5, 0.75]
        options.reconstruction = .teacher
        let pruner = try StructuredPruner(graph: graph, calibration: frames(8, seed: 3), options: options)
        let firstRound = try pruner.run(cut: 0.15)
        let base = firstRound.plan.kept.mapValues(\.count)
        #expect(!base.isEmpty)
        let curves = try pruner.sensitivities(base: base)
        #expect(!curves.isEmpty)
        for (gid, points) in curves {
            let removedBefore = pruner.groups.groups[gid].size - (base[gid] ?? pruner.groups.groups[gid].size)
            for point in points { #expect(point.removed > removedBefore && point.macsSaved > 0) }
        }
        options.allocationRounds = 2
        let twoRounds = try StructuredPruner(graph: graph, calibration: frames(8, seed: 3), options: options).run()
        #expect(Double(twoRounds.macsAfter) <= 0.7 * Double(twoRounds.macsBefore))
    }

    /// With nothing removed from its input, the refit reproduces the original weights (the least-squares optimum
    /// is W itself), up to the ridge term.
    @Test func refitOfAnUnprunedInputIsTheIdentity() throws {
        let graph = couplingGraph(seed: 4)
        let stats = try CalibrationStats.collect(graph, frames: frames(32, seed: 2), threads: 1)
        let index = graph.nodes.firstIndex { $0.name == "d" }!
        guard case .conv(let conv) = graph.nodes[index].op else { Issue.record("d is not a conv"); return }
        let gram = try #require(stats.grams[graph.nodes[index].inputs[0].index])
        let solved = try #require(Reconstruction.solve(conv, gram: gram, rows: Array(0..<conv.outChannels),
                                                       columns: Array(0..<conv.inChannels), ridge: 1e-9))
        #expect(maxAbsDifference(solved.weights, conv.weights) < 1e-3)
        #expect(maxAbsDifference(solved.bias, conv.bias!) < 1e-3)
    }

    @Test func uniformAndSensitivityAwareMeetTheTarget() throws {
        let graph = couplingGraph(seed: 5)
        for aware in [false, true] {
            var options = PruneOptions(macsCut: 0.2)
            options.sensitivityAware = aware
            options.roundTo = 4
            options.levels = [0.25, 0.5]
            let result = try StructuredPruner(graph: graph, calibration: frames(8, seed: 3), options: options).run()
            #expect(Double(result.macsAfter) <= 0.8 * Double(result.macsBefore))
            for keep in result.plan.kept.values { #expect(keep.count % 4 == 0) }
        }
        var impossible = PruneOptions(macsCut: 0.95)
        impossible.sensitivityAware = false
        #expect(throws: PruneError.self) { try StructuredPruner(graph: graph, calibration: frames(2, seed: 3), options: impossible).run() }
    }
}
