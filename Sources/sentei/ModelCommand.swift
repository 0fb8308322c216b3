import ArgumentParser
import SenteiEngine
import SenteiVision

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Model files: verify one against its manifest.",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that a model loads (every op supported) and has the manifest's inputs and outputs.")

        @Option(name: .long, help: "The model's manifest (Models/<name>.json).")
        var manifest: String

        @Argument(help: "The ONNX file to check.")
        var file: String

        func run() throws {
            let manifest = try ModelManifest.load(path: manifest)
            let model = try Model(path: file, options: .init(threads: 1))
            try manifest.verify(inputs: model.inputs.map { ($0.name, $0.shape) }, outputs: model.outputs.map { ($0.name, $0.shape) })
            print("\(file): matches \(manifest.name): inputs \(model.inputs.map(\.description)), outputs \(model.outputs.map(\.description)), \(model.layers.count) layers, \(String(format: "%.3f", Double(model.totalMACs) / 1e9)) GMACs")
        }
    }
}
