import Foundation

/// Heals a pruned student by distillation from its unpruned teacher, both run by this engine: per step, each image
/// of the batch goes through the teacher (forward only) and the student (forward + backward), gradients are averaged
/// over the batch, and the optimiser moves the student's fp32 master weights.
package final class DistillationTrainer {
    package let student: GradientGraph
    package let teacher: GradientGraph
    package var optimizer: Optimizer
    package var loss = DistillationLoss()
    /// The student as given (probabilities at its output): healed weights are written back into this structure.
    package let inferenceGraph: Graph
    package let output: (student: NodeID, teacher: NodeID)
    /// Neck features matched by name (same shape in both graphs).
    package let features: [(name: String, student: NodeID, teacher: NodeID)]

    package struct StepResult: Sendable {
        package var terms: DistillationLoss.Terms
        package var gradientNorm: Float
        package var learningRate: Float
    }

    /// - Parameters:
    ///   - student, teacher: optimised graphs with one input of the same shape and a YOLOX-layout output 0.
    ///   - featureNames: nodes to match; nil = the head's input features (`headFeatures`) present in both with one shape.
    ///   - quantization: quantization-aware training: the student runs this table's int8 convs fake-quantized (the
    ///     teacher stays fp32); nil = fp32.
    package init(student: Graph, teacher: Graph, settings: OptimizerSettings, threads: Int, featureNames: [String]? = nil,
                 quantization: QuantizationTable? = nil) throws {
        guard student.inputs.count == 1, teacher.inputs.count == 1, student[student.inputs[0]].shape == teacher[teacher.inputs[0]].shape else {
            throw EngineError(.invalidInput, "distillation: student and teacher must take one input of the same shape")
        }
        guard let so = student.outputs.first, let to = teacher.outputs.first, student[so.node].shape == teacher[to.node].shape,
              LogitGraph.isYOLOXLayout(student[so.node].shape) else {
            throw EngineError(.invalidInput, "distillation: student and teacher need the same YOLOX-layout output [1, anchors, 5 + classes]")
        }
        inferenceGraph = student
        let (studentLogits, _) = LogitGraph.exposeLogits(student)
        let (teacherLogits, _) = LogitGraph.exposeLogits(teacher)
        let names = featureNames ?? Self.headFeatures(student).map { student[$0].name }
        var pairs: [(String, NodeID, NodeID)] = []
        let teacherByName = Dictionary(teacherLogits.nodes.enumerated().map { ($1.name, NodeID($0)) }, uniquingKeysWith: { a, _ in a })
        let studentByName = Dictionary(studentLogits.nodes.enumerated().map { ($1.name, NodeID($0)) }, uniquingKeysWith: { a, _ in a })
        for name in names {
            guard let s = studentByName[name], let t = teacherByName[name] else {
                if featureNames != nil { throw EngineError(.invalidInput, "distillation: feature '\(name)' is not in both graphs") }
                continue
            }
            if studentLogits[s].shape == teacherLogits[t].shape { pairs.append((name, s, t)) } else if featureNames != nil {
                throw EngineError(.shapeMismatch, "distillation: feature '\(name)' is \(studentLogits[s].shape) in the student, \(teacherLogits[t].shape) in the teacher")
            }
        }
        features = pairs.map { (name: $0.0, student: $0.1, teacher: $0.2) }
        let pool = WorkerPool(threads: max(1, threads), pin: false)
        // Matched features seed the student's backward pass and are read from the teacher after its forward pass.
        self.student = try GradientGraph(graph: studentLogits, options: .init(threads: threads, retained: pairs.map(\.1),
                                                                              quantization: quantization), pool: pool)
        self.teacher = try GradientGraph(graph: teacherLogits,
                                         options: .init(threads: threads, forwardOnly: true, retained: pairs.map(\.2)), pool: pool)
        output = (so.node, to.node)
        optimizer = Optimizer(settings: settings, parameters: self.student.parameters)
    }

    /// Features the head reads: walking back from each head output conv through single-reader convs, the first
    /// value read by more than one node (YOLOX: the stem output shared by the class and box branches).
    package static func headFeatures(_ graph: Graph) -> [NodeID] {
        let consumers = graph.consumers()
        var heads: [NodeID] = []
        var stack = graph.outputs.map(\.node)
        var seen = Set<Int>()
        while let id = stack.popLast() {
            guard seen.insert(id.index).inserted else { continue }
            switch graph[id].op {
            case .concat, .reshape, .transpose, .slice, .unary: stack.append(contentsOf: graph[id].inputs)
            case .conv: heads.append(id)
            default: break
            }
        }
        var result: [NodeID] = []
        for head in heads {
            var current = graph[head].inputs[0]
            while consumers[current.index].count == 1, case .conv = graph[current].op { current = graph[current].inputs[0] }
            if !result.contains(current) { result.append(current) }
        }
        return result.sorted()
    }

    /// Loss terms of one image and (when `train`) its gradient added into the student's parameter gradients, scaled.
    func accumulate(_ image: [Float], scale: Float, train: Bool) throws -> DistillationLoss.Terms {
        try teacher.forward([image])
        try student.forward([image])
        let shape = student.graph[output.student].shape
        var headGradient = [Float](repeating: 0, count: shape.reduce(1, *))
        var terms = loss.head(student: student.value(of: output.student), teacher: teacher.value(of: output.teacher),
                              shape: shape, scale: scale, gradient: &headGradient)
        var seeds: [(node: NodeID, gradient: [Float])] = [(output.student, headGradient)]
        for pair in features where loss.featureWeight > 0 {
            var g = [Float](repeating: 0, count: student.graph[pair.student].elementCount)
            terms.features += loss.feature(student: student.value(of: pair.student), teacher: teacher.value(of: pair.teacher),
                                           scale: scale, gradient: &g) / Double(features.count)
            for j in g.indices { g[j] /= Float(features.count) }
            seeds.append((pair.student, g))
        }
        if train { try student.backward(seeds: seeds) }
        return terms
    }

    /// One optimiser step on a batch of preprocessed input tensors.
    package func step(_ batch: [[Float]]) throws -> StepResult {
        guard !batch.isEmpty else { throw EngineError(.invalidInput, "distillation: empty batch") }
        student.zeroParameterGradients()
        var total = DistillationLoss.Terms()
        let scale = 1 / Float(batch.count)
        for image in batch { total = total + (try accumulate(image, scale: scale, train: true)) }
        var values = student.parameters.values
        let (norm, lr) = optimizer.update(&values, gradients: student.gradients)
        student.parameters.values = values
        return StepResult(terms: total.scaled(Double(scale)), gradientNorm: norm, learningRate: lr)
    }

    /// Mean loss on images without training.
    package func evaluate(_ images: [[Float]]) throws -> DistillationLoss.Terms {
        var total = DistillationLoss.Terms()
        for image in images { total = total + (try accumulate(image, scale: 1, train: false)) }
        return total.scaled(1 / Double(max(images.count, 1)))
    }

    /// Student and teacher outputs (probabilities, as the inference graph gives them) of the last `evaluate`/`step` image.
    package func lastOutputs() -> (student: [Float], teacher: [Float]) {
        func probabilities(_ values: UnsafeBufferPointer<Float>, width: Int) -> [Float] {
            var out = Array(values)
            for j in out.indices where j % width >= 4 { out[j] = DistillationLoss.sigmoid(out[j]) }
            return out
        }
        let width = student.graph[output.student].shape[2]
        return (probabilities(student.value(of: output.student), width: width), probabilities(teacher.value(of: output.teacher), width: width))
    }

    /// The student's inference graph with the current weights.
    package var healedGraph: Graph { student.parameters.applied(to: inferenceGraph) }

    package func checkpoint(seed: UInt64, extra: [String: Double] = [:]) -> Checkpoint {
        Checkpoint(parameters: student.parameters, optimizer: optimizer, seed: seed, extra: extra)
    }

    package func restore(_ checkpoint: Checkpoint, path: String) throws {
        var parameters = student.parameters
        try checkpoint.restore(into: &parameters, optimizer: &optimizer, path: path)
        student.parameters = parameters
    }
}
