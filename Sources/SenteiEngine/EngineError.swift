/// Every failure the engine reports: a stable `code` to match on, and a message that names the file, node,
/// op or field at fault. Compare errors by `code` only; the message is for people.
public struct EngineError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The bytes are not a well-formed ONNX protobuf (truncated, wrong wire type, bad length, wrong magic).
        public static let malformedModel = Code("malformed_model")
        /// A node's op (or an attribute value of it) is outside what the engine runs.
        public static let unsupportedOp = Code("unsupported_op")
        /// Shapes that cannot go together, absurd or negative dims, element counts that do not match dims.
        public static let shapeMismatch = Code("shape_mismatch")
        /// A node input that no initializer, graph input or earlier node provides.
        public static let danglingEdge = Code("dangling_edge")
        /// The graph has a cycle.
        public static let cyclicGraph = Code("cyclic_graph")
        /// A tensor refers to external data files; refused by design.
        public static let externalData = Code("external_data")
        /// Data the engine does not read: a tensor type it cannot convert, sparse tensors, non-tensor values.
        public static let unsupportedData = Code("unsupported_data")
        /// Reading or writing a file failed.
        public static let io = Code("io")
        /// Inputs given at run time do not match the model.
        public static let invalidInput = Code("invalid_input")
        /// A quantization table that does not fit the model (unknown layer, missing or invalid activation range).
        public static let invalidQuantization = Code("invalid_quantization")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
