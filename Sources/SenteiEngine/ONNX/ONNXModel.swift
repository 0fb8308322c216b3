/// The part of an ONNX `ModelProto` the engine uses, decoded into plain values by `readONNXModel`.
/// Fields not listed here (doc strings, metadata, training info, local functions) are skipped on reading.
package struct ONNXModel: Sendable, Equatable {
    package var irVersion: Int64
    package var producerName: String
    package var opsetImports: [ONNXOpsetImport]
    package var graph: ONNXGraph

    package init(irVersion: Int64, producerName: String, opsetImports: [ONNXOpsetImport], graph: ONNXGraph) {
        self.irVersion = irVersion
        self.producerName = producerName
        self.opsetImports = opsetImports
        self.graph = graph
    }

    /// The imported opset version of `domain`; "" and "ai.onnx" both name the default ONNX domain.
    package func opsetVersion(domain: String = "") -> Int64? {
        let wanted = domain == "ai.onnx" ? "" : domain
        return opsetImports.first { ($0.domain == "ai.onnx" ? "" : $0.domain) == wanted }?.version
    }
}

package struct ONNXOpsetImport: Sendable, Equatable {
    package var domain: String
    package var version: Int64

    package init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
    }
}

/// A `GraphProto`. Sparse initializers are refused while reading, so `initializers` holds every constant.
package struct ONNXGraph: Sendable, Equatable {
    package var name: String
    /// In file order, which ONNX requires to be topological.
    package var nodes: [ONNXNode]
    package var initializers: [ONNXTensor]
    package var inputs: [ONNXValueInfo]
    package var outputs: [ONNXValueInfo]
    /// Shapes and types of intermediate values, where the exporter recorded them.
    package var valueInfo: [ONNXValueInfo]

    package init(
        name: String, nodes: [ONNXNode], initializers: [ONNXTensor], inputs: [ONNXValueInfo],
        outputs: [ONNXValueInfo], valueInfo: [ONNXValueInfo]
    ) {
        self.name = name
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
        self.valueInfo = valueInfo
    }
}

/// A `NodeProto`. Attribute getters throw an error naming the file, node and attribute when the attribute has
/// another type than asked for; absent attributes give nil or the default.
package struct ONNXNode: Sendable, Equatable {
    package var name: String
    package var opType: String
    /// "" is the default ONNX domain.
    package var domain: String
    /// An empty string marks an omitted optional input, as ONNX specifies.
    package var inputs: [String]
    package var outputs: [String]
    package var attributes: [ONNXAttribute]
    /// The file this node was read from, for error messages.
    package var source: String

    package init(
        name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
        attributes: [ONNXAttribute] = [], source: String
    ) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.source = source
    }
}

/// An `AttributeProto`: its name and its decoded value.
package struct ONNXAttribute: Sendable, Equatable {
    package var name: String
    package var value: ONNXAttributeValue

    package init(name: String, value: ONNXAttributeValue) {
        self.name = name
        self.value = value
    }
}

package enum ONNXAttributeValue: Sendable, Equatable {
    case float(Float)
    case int(Int64)
    case string(String)
    case tensor(ONNXTensor)
    case floats([Float])
    case ints([Int64])
    case strings([String])
    /// A subgraph (If, Loop, Scan bodies). Not decoded: the engine runs no control flow.
    case graph
    /// Attribute kinds the engine never reads (tensor lists, sparse tensors, type protos, graph lists),
    /// kept by their ONNX type name so an importer can name them in its refusal.
    case unsupported(String)

    /// The ONNX `AttributeType` name, for messages.
    package var typeName: String {
        switch self {
        case .float: "FLOAT"
        case .int: "INT"
        case .string: "STRING"
        case .tensor: "TENSOR"
        case .floats: "FLOATS"
        case .ints: "INTS"
        case .strings: "STRINGS"
        case .graph: "GRAPH"
        case .unsupported(let name): name
        }
    }
}

/// A `ValueInfoProto` of a tensor: graph inputs, outputs and recorded intermediate shapes.
package struct ONNXValueInfo: Sendable, Equatable {
    package var name: String
    /// nil when the value is not a tensor (sequence, map, optional) or its element type is not recorded.
    package var elemType: ONNXDataType?
    /// Empty both for scalars and for values without a recorded shape; `hasShape` tells them apart.
    package var shape: [ONNXDim]
    package var hasShape: Bool

    package init(name: String, elemType: ONNXDataType?, shape: [ONNXDim], hasShape: Bool = true) {
        self.name = name
        self.elemType = elemType
        self.shape = shape
        self.hasShape = hasShape
    }
}

/// One dimension of a `TensorShapeProto`.
package enum ONNXDim: Sendable, Equatable {
    case value(Int)
    /// A named symbolic dimension such as "batch".
    case param(String)
    case unknown
}
