import Foundation
import Testing

@testable import SenteiEngine

/// The official ONNX backend node tests (Debian `libonnx-testdata`) for the ops Sentei supports, run through the
/// engine and compared with the reference outputs at the ONNX backend defaults (rtol 1e-3, atol 1e-4).
///
/// A case is included when every node in it is a supported op. Sentei is float32-only and takes shape and index
/// operands as constants, so:
/// - int32/int64 graph inputs (Reshape shapes, Gather indices, Slice bounds) and float inputs used only as weights
///   (Conv W/B, BatchNormalization parameters, Resize roi/scales) are frozen into initializers from their
///   `input_N.pb` before import, the way real models store them; such cases go through the importer directly (the
///   same steps as `Model(onnx:)`), all others through the public `Model(onnx:source:)`.
/// - int32/int64 outputs (Shape) are compared as floats; any other non-float input or output skips the case.
/// - An import refused with `.unsupportedOp`/`.unsupportedData` is a skip carrying the engine's message.
/// Everything else — a reader error, another import error, a run error, a wrong value — fails the case.
/// `ONNXBackendNodeReportTests` writes the full list with outcomes to `onnx-backend-node-report.txt`.
enum ONNXBackendNodeCases {
    static let supportedOps: Set<String> = [
        "Conv", "BatchNormalization", "Relu", "Sigmoid", "Mul", "Add", "Sub", "Div", "Concat", "Slice", "Split",
        "MaxPool", "Resize", "Reshape", "Transpose", "Softmax", "MatMul", "Constant", "Identity", "Shape", "Gather",
        "Unsqueeze", "Cast",
    ]

    /// `$ONNX_BACKEND_NODE_DATA`, or where Debian's libonnx-testdata installs the node cases.
    static let directory: String? = {
        let path =
            ProcessInfo.processInfo.environment["ONNX_BACKEND_NODE_DATA"]
            ?? "/usr/share/libonnx-testdata/data/node"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()

    /// Names of the cases whose nodes are all supported ops, sorted.
    static let names: [String] = {
        guard let directory else { return [] }
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return all.sorted().filter { name in
            guard let bytes = FileManager.default.contents(atPath: "\(directory)/\(name)/model.onnx"),
                let model = try? readONNXModel(bytes: [UInt8](bytes), source: name)
            else {
                // Unreadable models are kept, so the case fails and names the reader error.
                return true
            }
            return !model.graph.nodes.isEmpty && model.graph.nodes.allSatisfy { supportedOps.contains($0.opType) }
        }
    }()

    /// Input slots from which an op's operands are weights, which the engine requires to be constants (real models
    /// store them as initializers; the node tests feed them as graph inputs).
    static let weightSlotsFrom: [String: Int] = ["Conv": 1, "BatchNormalization": 1, "Resize": 1]

    static func isWeightOnly(_ name: String, in graph: ONNXGraph) -> Bool {
        var used = false
        for node in graph.nodes {
            for (slot, input) in node.inputs.enumerated() where input == name {
                guard let from = weightSlotsFrom[node.opType], slot >= from else { return false }
                used = true
            }
        }
        return used
    }

    enum Outcome: Sendable {
        case passed(maxAbsError: Float, frozenInputs: Int)
        case skipped(String)
        case failed(String)
    }

    static func run(_ name: String) -> Outcome {
        guard let directory else { return .skipped("no test data") }
        let caseDirectory = "\(directory)/\(name)"
        do {
            return try runCase(name, caseDirectory)
        } catch let error as EngineError {
            return .failed("\(error.code): \(error.message)")
        } catch {
            return .failed("\(error)")
        }
    }

    private static func readFile(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError(.io, "cannot read \(path)")
        }
        return [UInt8](data)
    }

    private static func runCase(_ name: String, _ caseDirectory: String) throws -> Outcome {
        let modelBytes = try readFile("\(caseDirectory)/model.onnx")
        var onnx = try readONNXModel(bytes: modelBytes, source: "\(name)/model.onnx")
        let integerTypes: Set<ONNXDataType> = [.int32, .int64]
        for value in onnx.graph.inputs + onnx.graph.outputs {
            guard let type = value.elemType else { return .skipped("'\(value.name)' is not a tensor") }
            guard type == .float || integerTypes.contains(type) else {
                return .skipped("'\(value.name)' is \(type.name); the engine is float32-only")
            }
        }
        let dataSet = "\(caseDirectory)/test_data_set_0"
        let inputTensors = try onnx.graph.inputs.indices.map {
            try readONNXTensor(bytes: readFile("\(dataSet)/input_\($0).pb"), source: "\(name)/input_\($0).pb")
        }
        let expected = try onnx.graph.outputs.indices.map {
            try readONNXTensor(bytes: readFile("\(dataSet)/output_\($0).pb"), source: "\(name)/output_\($0).pb")
        }

        // Freeze integer inputs, and float inputs used only as weights, into initializers; the rest are fed at run
        // time, in the engine's input order.
        var floatInputs: [String: ONNXTensor] = [:]
        var frozenNames: Set<String> = []
        var frozen = 0
        for (info, tensor) in zip(onnx.graph.inputs, inputTensors) {
            if info.elemType == .float && !isWeightOnly(info.name, in: onnx.graph) {
                floatInputs[info.name] = tensor
            } else {
                frozenNames.insert(info.name)
                var constant = tensor
                constant.name = info.name
                onnx.graph.initializers.append(constant)
                frozen += 1
            }
        }
        onnx.graph.inputs.removeAll { frozenNames.contains($0.name) }
        let options = Model.Options(threads: 1, inputShapes: floatInputs.mapValues(\.dims))

        let model: Model
        do {
            if frozen == 0 {
                model = try Model(onnx: modelBytes, source: "\(name)/model.onnx", options: options)
            } else {
                let graph = try ONNXImporter.importModel(
                    onnx, source: "\(name)/model.onnx", inputShapes: options.inputShapes)
                model = Model(graph: Pipeline.optimize(graph), options: options)
            }
        } catch let error as EngineError where error.code == .unsupportedOp || error.code == .unsupportedData {
            return .skipped("engine refuses: \(error.message)")
        }

        let inputs = try model.inputs.map { info -> Tensor in
            guard let tensor = floatInputs[info.name] else {
                throw EngineError(.invalidInput, "engine input '\(info.name)' is not a graph input of the case")
            }
            return Tensor(shape: tensor.dims, data: try tensor.floats())
        }
        let outputs = try model.run(inputs)
        guard outputs.count == expected.count, model.outputs.count == expected.count else {
            return .failed("engine gives \(outputs.count) outputs, the case expects \(expected.count)")
        }
        var maxError: Float = 0
        for (index, info) in model.outputs.enumerated() {
            guard let position = onnx.graph.outputs.firstIndex(where: { $0.name == info.name }) else {
                return .failed("engine output '\(info.name)' is not a graph output")
            }
            let want = expected[position]
            let got = outputs[index]
            guard got.shape == want.dims else {
                return .failed("output '\(info.name)' has shape \(got.shape), expected \(want.dims)")
            }
            for (offset, (actual, reference)) in zip(got.data, try want.floats()).enumerated() {
                if actual.isNaN && reference.isNaN { continue }
                let error = abs(actual - reference)
                guard error <= 1e-4 + 1e-3 * abs(reference) else {
                    return .failed("output '\(info.name)'[\(offset)] = \(actual), expected \(reference)")
                }
                maxError = max(maxError, error)
            }
        }
        return .passed(maxAbsError: maxError, frozenInputs: frozen)
    }
}

@Suite(
    .enabled(if: ONNXBackendNodeCases.directory != nil, "libonnx-testdata not installed (apt install libonnx-testdata)")
)
struct ONNXBackendNodeTests {
    @Test(arguments: ONNXBackendNodeCases.names)
    func nodeCase(_ name: String) {
        if case .failed(let reason) = ONNXBackendNodeCases.run(name) {
            Issue.record("\(name): \(reason)")
        }
    }
}

@Suite(
    .enabled(if: ONNXBackendNodeCases.directory != nil, "libonnx-testdata not installed (apt install libonnx-testdata)")
)
struct ONNXBackendNodeReportTests {
    /// Writes every case with its outcome to `$SENTEI_TEST_OUTPUT/onnx-backend-node-report.txt` (default: the
    /// temporary directory), and guards against silently losing coverage: the cases must exist and none may fail.
    @Test func writeReport() throws {
        let names = ONNXBackendNodeCases.names
        #expect(names.count >= 150, "expected the ~166 supported-op cases of libonnx-testdata, found \(names.count)")
        var lines: [String] = []
        var passed = 0
        var skipped = 0
        var failed = 0
        for name in names {
            switch ONNXBackendNodeCases.run(name) {
            case .passed(let maxError, let frozen):
                passed += 1
                lines.append(
                    "PASS  \(name)  max |error| \(maxError)"
                        + (frozen > 0 ? "  (\(frozen) constant input(s) frozen)" : ""))
            case .skipped(let reason):
                skipped += 1
                lines.append("SKIP  \(name)  \(reason)")
            case .failed(let reason):
                failed += 1
                lines.append("FAIL  \(name)  \(reason)")
            }
        }
        let summary =
            "ONNX backend node cases for Sentei's ops: \(names.count) cases, \(passed) passed, "
            + "\(skipped) skipped, \(failed) failed"
        let directory = ProcessInfo.processInfo.environment["SENTEI_TEST_OUTPUT"] ?? NSTemporaryDirectory()
        let path = (directory as NSString).appendingPathComponent("onnx-backend-node-report.txt")
        try ([summary, ""] + lines).joined(separator: "\n").appending("\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        print("\(summary); report: \(path)")
        #expect(failed == 0, "\(failed) cases failed; see \(path)")
    }
}
