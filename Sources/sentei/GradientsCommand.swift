import ArgumentParser
import Foundation
import SenteiEngine

/// `sentei gradients` (hidden; used by scripts/reference/train_parity.py): one forward and backward pass of an ONNX
/// model in the engine's training mode, seeded with dL/dOutput, writing every parameter's gradient and the input's
/// gradient as .npy files named after the ONNX node.
struct GradientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradients", abstract: "Dump training-mode gradients of an ONNX model (reference checks).", shouldDisplay: false)

    @Option(name: .long, help: "The ONNX model (one input).")
    var model: String

    @Option(name: .long, help: "The input tensor (.npy, float32).")
    var input: String

    @Option(name: .long, help: "dLoss/dOutput for output 0 (.npy, float32).")
    var outputGradient: String

    @Option(name: .long, help: "Directory for output.npy, input_grad.npy and <node>.<weight|bias|scale|shift>.npy.")
    var out: String

    @Option(name: .long, help: "Threads.")
    var threads = 1

    func run() throws {
        let onnx = try readONNXModel(path: model)
        let graph = Pipeline.optimize(try ONNXImporter.importModel(onnx, source: (model as NSString).lastPathComponent, inputShapes: [:]))
        let x = try NPY.read(path: input), seed = try NPY.read(path: outputGradient)
        let g = try GradientGraph(graph: graph, options: .init(threads: threads, inputGradients: true))
        try g.forward([x.data])
        let output = graph.outputs[0].node
        try g.backward(seeds: [(output, seed.data)])
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try NPY.write(Tensor(shape: graph[output].shape, data: Array(g.value(of: output))), path: out + "/output.npy")
        try NPY.write(Tensor(shape: graph[graph.inputs[0]].shape, data: Array(g.gradient(of: graph.inputs[0])!)), path: out + "/input_grad.npy")
        for e in g.parameters.entries {
            let name = e.name.map { $0 == "/" || $0 == ":" ? "_" : $0 }
            try NPY.write(Tensor(shape: [e.count], data: Array(g.gradients[e.offset..<(e.offset + e.count)])), path: out + "/" + String(name) + ".npy")
        }
        print("\(g.parameters.entries.count) parameter tensors, \(graph.nodes.count) nodes → \(out)")
    }
}
