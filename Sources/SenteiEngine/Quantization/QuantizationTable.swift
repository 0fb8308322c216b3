import Foundation

// int8 inference, the public surface (all of it):
//
//     // Calibrate once (on the device, from letterboxed frames), store the table as JSON:
//     let table = try QuantizationTable.calibrate(modelAt: "yolox_nano.onnx", frames: frames)
//     try table.write(path: "yolox_nano.int8.json")
//     // Load the fp32 ONNX graph as int8 (layers marked fp32 in the table stay fp32):
//     let table = try QuantizationTable.load(path: "yolox_nano.int8.json")
//     let model = try Model(path: "yolox_nano.onnx", options: .init(quantization: table))
//
// The table holds no weights: int8 weights are derived from the fp32 graph at load time (per output channel,
// symmetric, scale = max|w|/127), so a table is only valid for the graph it was calibrated on (layer and tensor
// names are checked at load; a mismatch is an `invalid_quantization` error naming the entry). Activations are u8
// with a zero point (asymmetric), one scale per tensor; `w8a16` layers (too sensitive for u8) quantize the same
// tensor to 16 bits over its observed range instead. Depthwise and grouped convs and every non-conv op run in
// fp32. Calibration: QuantizationCalibration.swift; kernels: Sources/CSenteiKernels/int8_conv.c, int8_a16_conv.c.

/// Per-tensor activation ranges and per-layer precision for running a model in mixed int8/fp32. Codable as JSON.
public struct QuantizationTable: Codable, Sendable, Equatable {
    public static let formatVersion = 1

    public var version: Int
    /// Quantization of every tensor an int8 layer reads, by the producing node's name.
    public var activations: [String: ActivationQuantization]
    /// Every dense conv the calibration considered, by node name, with its chosen precision.
    public var layers: [String: LayerQuantization]
    /// How the table was made and what it measured (informational; not needed to load a model).
    public var calibration: CalibrationReport?

    public init(activations: [String: ActivationQuantization], layers: [String: LayerQuantization],
                calibration: CalibrationReport? = nil) {
        self.version = Self.formatVersion
        self.activations = activations
        self.layers = layers
        self.calibration = calibration
    }

    /// Names of the layers that run in int8 (u8 activations), sorted.
    public var int8Layers: [String] { layers.filter { $0.value.precision == .int8 }.map(\.key).sorted() }
    /// Names of the layers that run with int8 weights and 16-bit activations, sorted.
    public var w8a16Layers: [String] { layers.filter { $0.value.precision == .w8a16 }.map(\.key).sorted() }
    /// Names of the considered layers kept in fp32, sorted.
    public var fp32Layers: [String] { layers.filter { $0.value.precision == .fp32 }.map(\.key).sorted() }

    public static func load(path: String) throws -> QuantizationTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError(.io, "\(path): cannot read the quantization table")
        }
        let table: QuantizationTable
        do {
            table = try JSONDecoder().decode(QuantizationTable.self, from: data)
        } catch {
            throw EngineError(.invalidQuantization, "\(path): not a quantization table (\(error))")
        }
        guard table.version == formatVersion else {
            throw EngineError(.invalidQuantization, "\(path): table version \(table.version); this build reads \(formatVersion)")
        }
        return table
    }

    public func write(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        guard FileManager.default.createFile(atPath: path, contents: data + Data("\n".utf8)) else {
            throw EngineError(.io, "\(path): cannot write the quantization table")
        }
    }
}

/// u8 quantization of one tensor: q = clamp(round(x / scale), −zeroPoint, 255 − zeroPoint) + zeroPoint.
public struct ActivationQuantization: Codable, Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int
    /// The range observed on the calibration frames (before clipping).
    public var observedMin: Float
    public var observedMax: Float

    public init(scale: Float, zeroPoint: Int, observedMin: Float, observedMax: Float) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.observedMin = observedMin
        self.observedMax = observedMax
    }

    /// The representable range [−zp·scale, (255 − zp)·scale].
    public var clipRange: ClosedRange<Float> { Float(-zeroPoint) * scale...Float(255 - zeroPoint) * scale }

    /// The 16-bit parameters for w8a16 layers: the observed range (widened to hold 0) in 65536 steps, no clipping,
    /// with the zero point shifted into s16 (q = clamp(round(x / scale), −32768 − zp, 32767 − zp) + zp).
    public var sixteenBit: (scale: Float, zeroPoint: Int) {
        let lo = min(observedMin.isFinite ? observedMin : 0, 0), hi = max(observedMax.isFinite ? observedMax : 0, 0)
        let scale = hi > lo ? (hi - lo) / 65535 : 1
        let zero = Int(min(max((-lo / scale).rounded(.toNearestOrEven), 0), 65535))
        return (scale, zero - 32768)
    }
}

public enum LayerPrecision: String, Codable, Sendable {
    /// int8 weights, u8 activations.
    case int8
    /// int8 weights, 16-bit activations: for layers whose u8 activations cost too much accuracy (at most
    /// `Int8Layer.maxSixteenBitK` k values).
    case w8a16
    case fp32
}

public struct LayerQuantization: Codable, Sendable, Equatable {
    public var precision: LayerPrecision
    /// Name of the tensor the layer reads (a key of `activations` when int8).
    public var input: String
    /// Output error with only this layer in int8 (see `CalibrationReport.errorMetric`); nil if not measured.
    public var sensitivity: Double?
    /// The same with only this layer in w8a16; measured for the layers too sensitive for int8.
    public var sixteenBitSensitivity: Double?
    /// Added to the float bias in int8: the expected output shift from quantizing weights and input (per output
    /// channel); nil = none.
    public var biasCorrection: [Float]?
    /// Why the layer is not int8 (fp32 or w8a16), when it is not.
    public var reason: String?

    public init(precision: LayerPrecision, input: String, sensitivity: Double? = nil, sixteenBitSensitivity: Double? = nil,
                biasCorrection: [Float]? = nil, reason: String? = nil) {
        self.precision = precision
        self.input = input
        self.sensitivity = sensitivity
        self.sixteenBitSensitivity = sixteenBitSensitivity
        self.biasCorrection = biasCorrection
        self.reason = reason
    }
}

public struct CalibrationReport: Codable, Sendable, Equatable {
    public var frames: Int
    public var rangeMethod: String
    public var sensitivityFrames: Int
    public var layerErrorThreshold: Double
    public var modelErrorBudget: Double
    /// "mean over output channels of Σ(int8 − fp32)² / Σ(fp32 − channel mean)²" (channel = the smallest non-batch
    /// axis of each output), measured on the sensitivity frames.
    public var errorMetric: String
    /// That error for the chosen mixed-precision model, and with every considered layer in int8.
    public var modelError: Double
    public var allInt8Error: Double
    public var seconds: Double
}

extension QuantizationTable {
    /// Checks the table against an optimised graph: every layer is a dense conv of the graph, every int8 layer's
    /// input names its real input tensor and has valid activation parameters and a bias correction of the right size.
    package func validate(against graph: Graph, source: String = "quantization table") throws {
        let byName = Dictionary(graph.nodes.indices.map { (graph.nodes[$0].name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, layer) in layers.sorted(by: { $0.key < $1.key }) {
            guard let index = byName[name], case .conv(let conv) = graph.nodes[index].op else {
                throw EngineError(.invalidQuantization, "\(source): layer '\(name)' is not a conv of this model")
            }
            guard layer.precision != .fp32 else { continue }
            guard Int8Layer.isQuantizable(conv, shape: graph.nodes[index].shape) else {
                throw EngineError(.invalidQuantization, "\(source): layer '\(name)' (\(graph.nodes[index].op.kindName)) has no int8 kernel")
            }
            if layer.precision == .w8a16, !Int8Layer.allowsSixteenBitActivations(conv, shape: graph.nodes[index].shape) {
                throw EngineError(.invalidQuantization, "\(source): layer '\(name)' has \(conv.inChannels * conv.kernel.h * conv.kernel.w) k values; w8a16 takes at most \(Int8Layer.maxSixteenBitK)")
            }
            let inputName = graph[graph.nodes[index].inputs[0]].name
            guard layer.input == inputName else {
                throw EngineError(.invalidQuantization, "\(source): layer '\(name)' reads '\(inputName)', the table says '\(layer.input)'")
            }
            guard let a = activations[layer.input] else {
                throw EngineError(.invalidQuantization, "\(source): no activations entry for '\(layer.input)' (input of '\(name)')")
            }
            guard a.scale.isFinite, a.scale > 0, (0...255).contains(a.zeroPoint) else {
                throw EngineError(.invalidQuantization, "\(source): activations['\(layer.input)'] has scale \(a.scale), zeroPoint \(a.zeroPoint); need scale > 0 and zeroPoint in 0...255")
            }
            if let correction = layer.biasCorrection {
                guard correction.count == conv.outChannels, correction.allSatisfy(\.isFinite) else {
                    throw EngineError(.invalidQuantization, "\(source): layer '\(name)' biasCorrection has \(correction.count) values for \(conv.outChannels) channels (or a non-finite one)")
                }
            }
        }
    }
}
