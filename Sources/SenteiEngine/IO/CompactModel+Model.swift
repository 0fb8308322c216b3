import Foundation

extension Model {
    /// Compiles a compact-format model (`CompactModel`). Its shapes are fixed when it is written, so
    /// `options.inputShapes` may only repeat them; an int8 table in `options` is checked against the graph.
    public convenience init(compact bytes: [UInt8], source: String, options: Options = Options()) throws {
        let graph = try CompactModel.decode(bytes, source: source)
        for (name, shape) in options.inputShapes {
            guard let input = graph.inputs.first(where: { graph[$0].name == name }) else {
                throw EngineError(.invalidInput, "\(source): the model has no input '\(name)'")
            }
            guard graph[input].shape == shape else {
                throw EngineError(.invalidInput,
                                  "\(source): input '\(name)' is fixed at \(graph[input].shape) in a compact model; \(shape) needs the ONNX file")
            }
        }
        try options.quantization?.validate(against: graph, source: "quantization table for \(source)")
        self.init(graph: graph, options: options)
    }

    /// Writes the model's graph in the compact format; only for graphs that still hold their weights (see
    /// `CompactModel.encode(_:source:)` for graphs in hand).
    package static func writeCompact(_ graph: Graph, source: String, to path: String) throws {
        let bytes = CompactModel.encode(graph, source: source)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw EngineError(.io, "\(path): cannot write the compact model")
        }
    }
}
