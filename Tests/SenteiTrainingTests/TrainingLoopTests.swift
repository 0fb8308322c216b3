import Foundation
import Testing
@testable import SenteiEngine

/// A YOLOX-shaped toy detector: stem → shared feature → (box 4, objectness σ, 2 classes σ) → [1, 64, 7].
func toyDetector(seed: UInt64, input: Int = 16) -> Graph {
    var t = TestGraph()
    let x = t.input([1, 3, input, input])
    let stem = t.conv(x, conv(8, 3, stride: 2, activation: .silu, seed: seed), name: "stem")
    let feature = t.conv(stem, conv(8, 8, activation: .silu, seed: seed &+ 10), name: "feature")
    let box = t.conv(feature, conv(4, 8, k: 1, pad: 0, seed: seed &+ 20), name: "box")
    let obj = t.conv(feature, conv(1, 8, k: 1, pad: 0, activation: .sigmoid, seed: seed &+ 30), name: "obj")
    let cls = t.conv(feature, conv(2, 8, k: 1, pad: 0, activation: .sigmoid, seed: seed &+ 40), name: "cls")
    let side = input / 2
    let cat = t.op(.concat(axis: 1), [box, obj, cls], shape: [1, 7, side, side])
    let flat = t.op(.reshape, [cat], shape: [1, 7, side * side])
    t.output(t.op(.transpose(perm: [0, 2, 1]), [flat], shape: [1, side * side, 7]))
    return t.graph
}

/// Synthetic "frames": a few bright rectangles on a noisy background.
func syntheticFrames(_ count: Int, seed: UInt64, width: Int = 40, height: Int = 30) -> [RGBImage] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        var pixels = (0..<(width * height * 3)).map { _ in UInt8.random(in: 40...80, using: &g) }
        for _ in 0..<3 {
            let x0 = Int.random(in: 0..<(width - 8), using: &g), y0 = Int.random(in: 0..<(height - 8), using: &g)
            let colour = (0..<3).map { _ in UInt8.random(in: 120...255, using: &g) }
            for y in y0..<(y0 + 8) { for x in x0..<(x0 + 8) { for c in 0..<3 { pixels[(y * width + x) * 3 + c] = colour[c] } } }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}

@Suite struct TrainingLoopTests {
    @Test func tinyGraphLearnsKnownFunction() throws {
        // Target: a fixed random conv net; the student (same shape, other weights) regresses its output.
        func net(_ seed: UInt64) -> Graph {
            var t = TestGraph()
            let x = t.input([1, 2, 6, 6])
            let h = t.conv(x, conv(4, 2, activation: .silu, seed: seed))
            t.output(t.conv(h, conv(2, 4, k: 1, pad: 0, seed: seed &+ 5)))
            return t.graph
        }
        let target = try GradientGraph(graph: net(100), options: .init(forwardOnly: true))
        let student = try GradientGraph(graph: net(200))
        var settings = OptimizerSettings()
        settings.learningRate = 0.02
        settings.warmupSteps = 5
        settings.totalSteps = 300
        var optimizer = Optimizer(settings: settings, parameters: student.parameters)
        let output = student.graph.outputs[0].node
        func mse(step: Int, train: Bool) throws -> Double {
            let x = randomFloats(72, seed: UInt64(step) &+ 7777)
            try target.forward([x])
            try student.forward([x])
            let y = Array(target.value(of: target.graph.outputs[0].node)), p = Array(student.value(of: output))
            let loss = zip(p, y).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(y.count)
            if train {
                student.zeroParameterGradients()
                try student.backward(seeds: [(output, zip(p, y).map { 2 * ($0 - $1) / Float(y.count) })])
                var values = student.parameters.values
                optimizer.update(&values, gradients: student.gradients)
                student.parameters.values = values
            }
            return loss
        }
        let before = try (0..<8).map { try mse(step: 1_000_000 + $0, train: false) }.reduce(0, +)
        for step in 0..<300 { _ = try mse(step: step, train: true) }
        let after = try (0..<8).map { try mse(step: 1_000_000 + $0, train: false) }.reduce(0, +)
        #expect(after < before / 20, "held-out MSE \(before / 8) → \(after / 8)")
    }

    @Test func scheduleWarmsUpThenDecays() {
        var s = OptimizerSettings()
        s.learningRate = 1e-3
        s.warmupSteps = 10
        s.totalSteps = 110
        s.finalFraction = 0.1
        #expect(abs(s.learningRate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(s.learningRate(at: 9) - 1e-3) < 1e-9)
        #expect(abs(s.learningRate(at: 60) - 0.55e-3) < 1e-6)
        #expect(abs(s.learningRate(at: 110) - 1e-4) < 1e-8)
        #expect(s.learningRate(at: 30) > s.learningRate(at: 80))
    }

    @Test func adamFirstStepMovesByLearningRate() {
        var graph = TestGraph()
        let x = graph.input([1, 1, 2, 2])
        graph.output(graph.conv(x, conv(1, 1, k: 1, pad: 0, seed: 3)))
        let parameters = ParameterSet(graph: graph.graph)
        var s = OptimizerSettings()
        s.learningRate = 0.01
        s.warmupSteps = 1
        s.weightDecay = 0
        var optimizer = Optimizer(settings: s, parameters: parameters)
        var values = parameters.values
        let gradients: [Float] = [3, -0.5]
        optimizer.update(&values, gradients: gradients)
        // Adam's bias-corrected first step is lr·g/|g| per coordinate.
        #expect(abs(values[0] - (parameters.values[0] - 0.01)) < 1e-6)
        #expect(abs(values[1] - (parameters.values[1] + 0.01)) < 1e-6)
    }

    func makeTrainer() throws -> DistillationTrainer {
        var settings = OptimizerSettings()
        settings.learningRate = 3e-3
        settings.warmupSteps = 2
        settings.totalSteps = 40
        return try DistillationTrainer(student: toyDetector(seed: 2), teacher: toyDetector(seed: 1), settings: settings, threads: 1)
    }

    func batch(step: Int, frames: [RGBImage]) -> [[Float]] {
        let augmenter = Augmenter(width: 16, height: 16, bgr: true, valueScale: 1 / 255)
        return (0..<2).map { i in
            var g = SplitMix64(seed: 5, step: step, index: i)
            return augmenter.sample(frames, using: &g)
        }
    }

    @Test func distillationReducesHeldOutLoss() throws {
        let trainer = try makeTrainer()
        #expect(trainer.features.map(\.name) == ["feature"])
        let frames = syntheticFrames(6, seed: 9), heldOut = syntheticFrames(3, seed: 10)
        let augmenter = Augmenter(width: 16, height: 16, bgr: true, valueScale: 1 / 255)
        let evaluation = heldOut.map { augmenter.letterbox($0) }
        let before = try trainer.evaluate(evaluation).total
        for step in 0..<40 { _ = try trainer.step(batch(step: step, frames: frames)) }
        let after = try trainer.evaluate(evaluation).total
        #expect(after < before * 0.5, "held-out distillation loss \(before) → \(after)")
        // Healed weights go back into the inference structure (sigmoids still in place).
        let healed = trainer.healedGraph
        guard case .conv(let obj) = healed.nodes.first(where: { $0.name == "obj" })!.op else { Issue.record("obj is not a conv"); return }
        #expect(obj.activation == .sigmoid)
        #expect(obj.weights == Array(trainer.student.parameters.values[trainer.student.parameters.entry(node: 4, role: .weight)!.offset...].prefix(8)))
    }

    @Test func resumedRunMatchesUninterruptedRun() throws {
        let frames = syntheticFrames(4, seed: 11)
        let straight = try makeTrainer()
        for step in 0..<6 { _ = try straight.step(batch(step: step, frames: frames)) }

        let first = try makeTrainer()
        for step in 0..<3 { _ = try first.step(batch(step: step, frames: frames)) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sentei-heal-\(getpid()).ckpt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.checkpoint(seed: 5, extra: ["cpu_seconds": 1.5]).write(to: path)

        let resumed = try makeTrainer()
        let saved = try Checkpoint.read(from: path)
        #expect(saved.header.step == 3 && saved.header.extra["cpu_seconds"] == 1.5)
        try resumed.restore(saved, path: path)
        while resumed.optimizer.step < 6 { _ = try resumed.step(batch(step: resumed.optimizer.step, frames: frames)) }
        #expect(resumed.student.parameters.values == straight.student.parameters.values)
        #expect(resumed.optimizer.secondMoment == straight.optimizer.secondMoment)
    }

    @Test func badCheckpointsAreTypedErrors() throws {
        let dir = FileManager.default.temporaryDirectory.path
        let garbage = dir + "/sentei-heal-garbage-\(getpid()).ckpt"
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        #expect(FileManager.default.createFile(atPath: garbage, contents: Data("not a checkpoint at all".utf8)))
        #expect { try Checkpoint.read(from: garbage) } throws: { ($0 as? EngineError)?.code == .malformedModel }

        let trainer = try makeTrainer()
        var bytes = [UInt8]()
        try trainer.checkpoint(seed: 1).write(to: garbage)
        bytes = [UInt8](FileManager.default.contents(atPath: garbage)!)
        #expect(FileManager.default.createFile(atPath: garbage, contents: Data(bytes.dropLast(4))))
        #expect { try Checkpoint.read(from: garbage) } throws: { ($0 as? EngineError)?.code == .malformedModel }

        // A checkpoint of another model is refused by layout.
        try trainer.checkpoint(seed: 1).write(to: garbage)
        let other = try DistillationTrainer(student: toyDetector(seed: 2, input: 32), teacher: toyDetector(seed: 1, input: 32),
                                            settings: OptimizerSettings(), threads: 1)
        var differentGraph = toyDetector(seed: 2)
        differentGraph.nodes.removeAll { $0.name == "cls" }
        _ = other
        let saved = try Checkpoint.read(from: garbage)
        var parameters = ParameterSet(graph: differentGraph)
        var optimizer = Optimizer(settings: OptimizerSettings(), parameters: parameters)
        #expect { try saved.restore(into: &parameters, optimizer: &optimizer, path: garbage) } throws: { ($0 as? EngineError)?.code == .invalidInput }
    }

    @Test func augmentationIsDeterministicAndLetterboxIsTopLeft() {
        let frames = syntheticFrames(3, seed: 12, width: 20, height: 10)
        let augmenter = Augmenter(width: 16, height: 16, bgr: false, valueScale: 1)
        var a = SplitMix64(seed: 3, step: 7, index: 1), b = SplitMix64(seed: 3, step: 7, index: 1), c = SplitMix64(seed: 3, step: 8, index: 1)
        let x = augmenter.sample(frames, using: &a)
        #expect(x.count == 3 * 16 * 16)
        #expect(x == augmenter.sample(frames, using: &b))
        #expect(x != augmenter.sample(frames, using: &c))
        // 20×10 fits as 16×8 at the top: rows 8… are padding (114), row 0 holds image values.
        let plain = augmenter.letterbox(frames[0])
        #expect(plain[12 * 16 + 3] == 114)
        #expect(plain[0] == Float(frames[0].pixels[0]) || abs(plain[0] - Float(frames[0].pixels[0])) < 40)
    }
}
