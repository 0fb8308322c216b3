import SenteiEngine

package enum PrunableModel {
    /// Imports and optimises an ONNX file the way `Model(path:)` does, returning the plain graph to prune.
    package static func load(path: String, inputShapes: [String: [Int]] = [:]) throws -> Graph {
        let onnx = try readONNXModel(path: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return Pipeline.optimize(try ONNXImporter.importModel(onnx, source: name, inputShapes: inputShapes))
    }
}
