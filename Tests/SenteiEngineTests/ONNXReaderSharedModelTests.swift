import Testing

@testable import SenteiEngine

/// The shared models, checked against what Python `onnx` 1.23 reports for them (numbers computed once with
/// `onnx.load` + `numpy_helper.to_array`; float sums in float64, int64 sums wrapping like Swift's `&+`).
struct SharedModelFacts: Sendable, CustomStringConvertible {
    let file: String
    let irVersion: Int64
    let opset: Int64
    let graphName: String
    let nodeCount: Int
    let opCounts: [String: Int]
    let initializerCount: Int
    let float32InitializerCount: Int
    let int64InitializerCount: Int
    let valueInfoCount: Int
    let input: (name: String, shape: [Int])
    let output: (name: String, shape: [Int])
    let firstInitializer: (name: String, dims: [Int])
    let floatInitializerSum: Double
    let int64InitializerWrappingSum: Int64

    var description: String { file }

    static let yoloxNano = SharedModelFacts(
        file: "yolox_nano.onnx", irVersion: 6, opset: 11, graphName: "torch-jit-export", nodeCount: 369,
        opCounts: [
            "Add": 7, "Concat": 18, "Conv": 113, "MaxPool": 3, "Mul": 104, "Reshape": 3, "Resize": 2, "Sigmoid": 110,
            "Slice": 8, "Transpose": 1,
        ],
        initializerCount: 236, float32InitializerCount: 228, int64InitializerCount: 8, valueInfoCount: 368,
        input: ("images", [1, 3, 416, 416]), output: ("output", [1, 3549, 85]),
        firstInitializer: ("head.cls_preds.0.weight", [80, 64, 1, 1]),
        floatInitializerSum: -7539.0226266500795, int64InitializerWrappingSum: -9_223_372_036_854_775_548)

    static let yolov8nOps = [
        "Add": 8, "Concat": 17, "Conv": 64, "Div": 1, "MaxPool": 3, "Mul": 58, "Reshape": 8, "Resize": 2, "Sigmoid": 58,
        "Slice": 2, "Softmax": 1, "Split": 8, "Sub": 2, "Transpose": 1,
    ]

    static let yolov8n640 = SharedModelFacts(
        file: "yolov8n_640.onnx", irVersion: 8, opset: 17, graphName: "main_graph", nodeCount: 233,
        opCounts: yolov8nOps,
        initializerCount: 91, float32InitializerCount: 79, int64InitializerCount: 12, valueInfoCount: 481,
        input: ("images", [1, 3, 640, 640]), output: ("output0", [1, 84, 8400]),
        firstInitializer: ("model.0.conv.weight", [16, 3, 3, 3]),
        floatInitializerSum: 1255451.3100936143, int64InitializerWrappingSum: 17457)

    static let yolov8n320 = SharedModelFacts(
        file: "yolov8n_320.onnx", irVersion: 8, opset: 17, graphName: "main_graph", nodeCount: 233,
        opCounts: yolov8nOps,
        initializerCount: 91, float32InitializerCount: 79, int64InitializerCount: 12, valueInfoCount: 481,
        input: ("images", [1, 3, 320, 320]), output: ("output0", [1, 84, 2100]),
        firstInitializer: ("model.0.conv.weight", [16, 3, 3, 3]),
        floatInitializerSum: 166219.38117820403, int64InitializerWrappingSum: 4857)

    static let all = [yoloxNano, yolov8n640, yolov8n320]
}

@Suite(
    .enabled(
        if: sharedModelPath("yolox_nano.onnx") != nil, "shared models not found: set SENTEI_SHARED or provide ../shared"
    ))
struct ONNXReaderSharedModelTests {
    @Test(arguments: SharedModelFacts.all)
    func matchesPythonONNX(_ facts: SharedModelFacts) throws {
        let path = try #require(sharedModelPath(facts.file))
        let model = try readONNXModel(path: path)
        let graph = model.graph
        #expect(model.irVersion == facts.irVersion)
        #expect(model.producerName == "pytorch")
        #expect(model.opsetVersion() == facts.opset)
        #expect(graph.name == facts.graphName)
        #expect(graph.nodes.count == facts.nodeCount)
        #expect(Dictionary(graph.nodes.map { ($0.opType, 1) }, uniquingKeysWith: +) == facts.opCounts)
        #expect(graph.nodes.allSatisfy { $0.domain.isEmpty && !$0.name.isEmpty && $0.source == facts.file })
        #expect(graph.initializers.count == facts.initializerCount)
        #expect(graph.valueInfo.count == facts.valueInfoCount)
        #expect(
            graph.inputs == [
                ONNXValueInfo(name: facts.input.name, elemType: .float, shape: facts.input.shape.map { .value($0) })
            ])
        #expect(
            graph.outputs == [
                ONNXValueInfo(name: facts.output.name, elemType: .float, shape: facts.output.shape.map { .value($0) })
            ])
        #expect(graph.initializers[0].name == facts.firstInitializer.name)
        #expect(graph.initializers[0].dims == facts.firstInitializer.dims)

        var floatSum = 0.0
        var intSum: Int64 = 0
        var floatCount = 0
        var intCount = 0
        for initializer in graph.initializers {
            switch initializer.dataType {
            case .float:
                floatCount += 1
                let values = try initializer.floats()
                #expect(values.count == initializer.elementCount)
                for value in values { floatSum += Double(value) }
            case .int64:
                intCount += 1
                for value in try initializer.int64s() { intSum &+= value }
            default:
                Issue.record("unexpected initializer type \(initializer.dataType) for \(initializer.name)")
            }
        }
        #expect(floatCount == facts.float32InitializerCount)
        #expect(intCount == facts.int64InitializerCount)
        // numpy sums pairwise, we sum in order: equal to ~1e-9 relative.
        #expect(abs(floatSum - facts.floatInitializerSum) <= 1e-8 * max(1, abs(facts.floatInitializerSum)))
        #expect(intSum == facts.int64InitializerWrappingSum)
    }

    @Test func yoloxNanoAttributes() throws {
        let graph = try readONNXModel(path: try #require(sharedModelPath("yolox_nano.onnx"))).graph
        let pool = graph.nodes[141]
        #expect(pool.name == "MaxPool_173")
        #expect(try pool.ints("kernel_shape") == [13, 13])
        #expect(try pool.ints("pads") == [6, 6, 6, 6])
        #expect(try pool.int("ceil_mode", default: 1) == 0)
        let resize = graph.nodes[168]
        #expect(resize.name == "Resize_201")
        #expect(try resize.string("mode") == "nearest")
        #expect(try resize.string("coordinate_transformation_mode") == "asymmetric")
        #expect(try resize.float("cubic_coeff_a") == -0.75)
        #expect(try graph.nodes[368].ints("perm") == [0, 2, 1])
        // The one initializer stored without raw_data: an empty FLOAT tensor used as Resize's roi.
        let roi = try #require(graph.initializers.first { $0.name == "onnx::Resize_894" })
        #expect(roi.dims == [0])
        #expect(try roi.floats() == [])
        let reshape = try #require(graph.initializers.first { $0.name == "onnx::Reshape_1173" })
        #expect(try reshape.int64s() == [1, 85, -1])
    }

    @Test func yolov8nAttributes() throws {
        let graph = try readONNXModel(path: try #require(sharedModelPath("yolov8n_640.onnx"))).graph
        let softmax = graph.nodes[220]
        #expect(softmax.name == "/model.22/dfl/Softmax")
        #expect(try softmax.int("axis") == 1)
        #expect(try graph.nodes[219].ints("perm") == [0, 2, 1, 3])
        #expect(try graph.nodes[9].int("axis") == 1)
        #expect(graph.nodes[9].inputs == ["/model.2/cv1/act/Mul_output_0", "onnx::Split_137"])
        let last = try #require(graph.initializers.last)
        #expect(last.name == "/model.22/Constant_15_output_0")
        #expect(last.dims == [1, 8400])
        #expect(try last.floats().prefix(3) == [8, 8, 8])
    }

    /// Every prefix of a real model's first 4 KiB, and a few cuts deep inside the weights, must throw cleanly.
    @Test func truncatedSharedModelThrows() throws {
        let bytes = try readWholeFile(path: try #require(sharedModelPath("yolox_nano.onnx")))
        var cuts = Array(stride(from: 0, to: 4096, by: 7))
        cuts += [bytes.count / 3, bytes.count / 2, bytes.count - 1]
        for cut in cuts {
            let error = engineError { _ = try readONNXModel(bytes: Array(bytes[..<cut]), source: "yolox_nano.onnx") }
            #expect(error?.code == .malformedModel, "cut at \(cut)")
        }
    }
}
