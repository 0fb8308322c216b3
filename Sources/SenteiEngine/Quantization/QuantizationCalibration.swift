import Foundation

/// How `QuantizationTable.calibrate` chooses ranges and precisions.
public struct CalibrationOptions: Sendable {
    public enum RangeMethod: String, Sendable, CaseIterable, Codable {
        /// Shrink the observed range while the quantization MSE falls.
        case mse
        /// Clip at the `percentile`-th percentile (and its mirror for negative values).
        case percentile
        /// The observed min and max.
        case minMax
    }

    public var rangeMethod: RangeMethod = .mse
    public var percentile: Double = 99.99
    /// Threads for the calibration runs; nil = one per core.
    public var threads: Int?
    /// The first this-many frames measure each layer's sensitivity and the final model error.
    public var sensitivityFrames = 16
    /// A layer whose int8 version alone gives a larger output error than this runs with 16-bit activations
    /// (w8a16) if that version is within it, else stays fp32.
    public var layerErrorThreshold = 0.006
    /// Whether layers too sensitive for u8 activations may take 16-bit ones (w8a16) instead of staying fp32.
    public var sixteenBitActivations = true
    /// Then the layer with the largest error steps up one precision (int8 → w8a16 where allowed, else fp32), one at a
    /// time, until the whole model's error is at most this.
    public var modelErrorBudget = 0.05
    /// Add the expected output shift of quantization (per output channel) back into the bias.
    public var biasCorrection = true
    /// Layers (node names) kept fp32 whatever they measure.
    public var fp32Layers: Set<String> = []
    /// Called as (stage, done, total) while calibrating.
    public var progress: (@Sendable (String, Int, Int) -> Void)?

    public init() {}
}

extension QuantizationTable {
    /// Calibrates the model at `path` (ONNX, or a compact `.sntm` ladder rung, as `Model(path:)` reads) on `frames`
    /// (tensors shaped like its input, e.g. letterboxed images). `inputShapes` applies to ONNX only: a compact model's
    /// shapes are fixed.
    public static func calibrate(modelAt path: String, inputShapes: [String: [Int]] = [:], frames: [Tensor],
                                 options: CalibrationOptions = CalibrationOptions()) throws -> QuantizationTable {
        let bytes = try readWholeFile(path: path)
        let source = (path as NSString).lastPathComponent
        if CompactModel.hasMagic(bytes) {
            return try calibrate(graph: CompactModel.decode(bytes, source: source), frames: frames, options: options)
        }
        let onnx = try readONNXModel(bytes: bytes, source: source)
        let graph = try ONNXImporter.importModel(onnx, source: source, inputShapes: inputShapes)
        return try calibrate(graph: graph, frames: frames, options: options)
    }

    /// Calibrates a graph (optimised here, as `Model` does, so names match what `Model` loads): activation ranges from
    /// histograms over all frames, bias correction from per-channel means, then the per-layer sensitivity and the
    /// mixed-precision choice on the first `sensitivityFrames` frames.
    package static func calibrate(graph unoptimized: Graph, frames: [Tensor], options: CalibrationOptions) throws -> QuantizationTable {
        let started = Date()
        let graph = Pipeline.optimize(unoptimized)
        guard !frames.isEmpty else { throw EngineError(.invalidQuantization, "calibration needs at least one frame") }
        guard graph.inputs.count == 1 else {
            throw EngineError(.invalidQuantization, "calibration supports single-input models; this one has \(graph.inputs.count)")
        }
        let inputShape = graph[graph.inputs[0]].shape
        for (i, frame) in frames.enumerated() where frame.shape != inputShape {
            throw EngineError(.invalidQuantization, "calibration frame \(i) has shape \(frame.shape); input '\(graph[graph.inputs[0]].name)' is \(inputShape)")
        }
        let threads = max(1, options.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        var candidates: [(index: Int, conv: Conv)] = []
        for (index, node) in graph.nodes.enumerated() {
            if case .conv(let conv) = node.op, Int8Layer.isQuantizable(conv, shape: node.shape) { candidates.append((index, conv)) }
        }
        var seen: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            if let other = seen.updateValue(index, forKey: node.name) {
                throw EngineError(.invalidQuantization, "node name '\(node.name)' is used by nodes \(other) and \(index); a table needs unique names")
            }
        }
        let tensors = Array(Set(candidates.map { graph.nodes[$0.index].inputs[0].index })).sorted()
        let stats = try ActivationStatistics.collect(graph, tensors: tensors, frames: frames, threads: threads, options: options)

        // Per-layer bias correction: E[W·x] − E[Ŵ·x̂] per output channel, from the per-channel input means (padding
        // contributes 0 to both).
        var activations: [String: ActivationQuantization] = [:]
        for t in tensors { activations[graph.nodes[t].name] = stats.parameters[t] }
        // w8a16 layers: the same with the fp32 means on both sides (16-bit rounding moves the mean by ~1e-5 of the
        // range), i.e. the weights' rounding alone.
        var corrections: [Int: [Float]] = [:], sixteenBitCorrections: [Int: [Float]] = [:]
        if options.biasCorrection {
            for (index, conv) in candidates {
                let t = graph.nodes[index].inputs[0].index
                guard let mean = stats.means[t], let meanQ = stats.quantizedMeans[t] else { continue }
                let (w8, scales) = Int8Layer.quantizeWeights(conv.weights, rows: conv.outChannels)
                let taps = conv.kernel.h * conv.kernel.w, k = conv.inChannels * taps
                func correction(_ quantizedMean: [Double]) -> [Float] {
                    (0..<conv.outChannels).map { co in
                        var delta = 0.0
                        for ci in 0..<conv.inChannels {
                            for tap in 0..<taps {
                                let i = co * k + ci * taps + tap
                                delta += Double(conv.weights[i]) * mean[ci] - Double(w8[i]) * Double(scales[co]) * quantizedMean[ci]
                            }
                        }
                        return Float(delta)
                    }
                }
                corrections[index] = correction(meanQ)
                sixteenBitCorrections[index] = correction(mean)
            }
        }

        func table(int8 names: Set<String>, w8a16 wide: Set<String> = [], sensitivity: [String: Double],
                   sixteenBitSensitivity: [String: Double] = [:], reasons: [String: String]) -> QuantizationTable {
            var layers: [String: LayerQuantization] = [:]
            for (index, _) in candidates {
                let node = graph.nodes[index]
                let precision: LayerPrecision = names.contains(node.name) ? .int8 : wide.contains(node.name) ? .w8a16 : .fp32
                layers[node.name] = LayerQuantization(
                    precision: precision, input: graph[node.inputs[0]].name, sensitivity: sensitivity[node.name],
                    sixteenBitSensitivity: sixteenBitSensitivity[node.name],
                    biasCorrection: precision == .w8a16 ? sixteenBitCorrections[index] : corrections[index],
                    reason: precision == .int8 ? nil : reasons[node.name])
            }
            let used = Set(layers.values.filter { $0.precision != .fp32 }.map(\.input))
            return QuantizationTable(activations: activations.filter { used.contains($0.key) }, layers: layers)
        }

        // Sensitivity: the output error with one layer at a time in int8, against the fp32 outputs.
        let probeFrames = Array(frames.prefix(max(1, options.sensitivityFrames)))
        let error = try OutputError(graph: graph, frames: probeFrames, threads: threads)
        // A Focus stem is measured like every other conv: the engine folds it into one strided conv and runs that in
        // int8 with the space-to-depth kernel (Int8Layer.usesSpaceToDepthKernel), so its sensitivity is that kernel's.
        let eligible = candidates.map { graph.nodes[$0.index].name }.filter { !options.fp32Layers.contains($0) }
        var sensitivity: [String: Double] = [:]
        for (done, name) in eligible.enumerated() {
            options.progress?("sensitivity", done, eligible.count)
            sensitivity[name] = try error.measure(table(int8: [name], sensitivity: [:], reasons: [:]))
        }
        options.progress?("sensitivity", eligible.count, eligible.count)
        var reasons: [String: String] = [:]
        for name in options.fp32Layers { reasons[name] = "kept fp32 by request" }
        var chosen = Set<String>(), wide = Set<String>()
        var sixteenBitSensitivity: [String: Double] = [:]
        let convsByName = Dictionary(candidates.map { (graph.nodes[$0.index].name, $0) }, uniquingKeysWith: { a, _ in a })
        func allowsSixteenBit(_ name: String) -> Bool {
            guard options.sixteenBitActivations, let (index, conv) = convsByName[name] else { return false }
            return Int8Layer.allowsSixteenBitActivations(conv, shape: graph.nodes[index].shape)
        }
        /// The output error with only this layer in w8a16, measured once and recorded for the table.
        func measureSixteenBit(_ name: String) throws -> Double {
            if let known = sixteenBitSensitivity[name] { return known }
            let measured = try error.measure(table(int8: [], w8a16: [name], sensitivity: [:], reasons: [:]))
            sixteenBitSensitivity[name] = measured
            return measured
        }
        for name in eligible {
            if sensitivity[name]! <= options.layerErrorThreshold {
                chosen.insert(name)
                continue
            }
            let reason = String(format: "sensitivity %.3g > layer threshold %.3g", sensitivity[name]!, options.layerErrorThreshold)
            reasons[name] = reason
            guard allowsSixteenBit(name) else { continue }
            let wideError = try measureSixteenBit(name)
            if wideError <= options.layerErrorThreshold {
                wide.insert(name)
                reasons[name] = reason + String(format: "; 16-bit activations %.3g", wideError)
            } else {
                reasons[name] = reason + String(format: "; with 16-bit activations %.3g", wideError)
            }
        }
        // A layer's error at the precision it was given (the budget loop steps the worst up first).
        func chosenError(_ name: String) -> Double { wide.contains(name) ? sixteenBitSensitivity[name]! : sensitivity[name]! }
        let allInt8Error = try error.measure(table(int8: Set(eligible), sensitivity: [:], reasons: [:]))
        var modelError = try error.measure(table(int8: chosen, w8a16: wide, sensitivity: [:], reasons: [:]))
        // Over the budget, the layer with the largest error steps up one precision: int8 → w8a16 where allowed, else
        // (and from w8a16) → fp32.
        while modelError > options.modelErrorBudget, let worst = chosen.union(wide).max(by: { chosenError($0) < chosenError($1) }) {
            options.progress?("budget", eligible.count - chosen.count, eligible.count)
            let over = String(format: "model error %.3g > budget %.3g", modelError, options.modelErrorBudget)
            if chosen.remove(worst) != nil, allowsSixteenBit(worst) {
                wide.insert(worst)
                _ = try measureSixteenBit(worst)
                reasons[worst] = "16-bit activations: " + over
            } else {
                wide.remove(worst)
                reasons[worst] = "returned to fp32: " + over
            }
            modelError = try error.measure(table(int8: chosen, w8a16: wide, sensitivity: [:], reasons: [:]))
        }
        var result = table(int8: chosen, w8a16: wide, sensitivity: sensitivity, sixteenBitSensitivity: sixteenBitSensitivity,
                           reasons: reasons)
        result.calibration = CalibrationReport(
            frames: frames.count, rangeMethod: options.rangeMethod == .percentile ? "percentile \(options.percentile)" : options.rangeMethod.rawValue,
            sensitivityFrames: probeFrames.count, layerErrorThreshold: options.layerErrorThreshold,
            modelErrorBudget: options.modelErrorBudget, errorMetric: OutputError.metricDescription, modelError: modelError,
            allInt8Error: allInt8Error, seconds: Date().timeIntervalSince(started))
        return result
    }
}

/// Per-tensor statistics of the fp32 model over the calibration frames: ranges (two passes: min/max, then a
/// histogram), chosen u8 parameters, and per-channel means of x and of its quantized-dequantized value.
struct ActivationStatistics {
    var parameters: [Int: ActivationQuantization] = [:]
    var means: [Int: [Double]] = [:]
    var quantizedMeans: [Int: [Double]] = [:]

    static func collect(_ graph: Graph, tensors: [Int], frames: [Tensor], threads: Int, options: CalibrationOptions) throws -> ActivationStatistics {
        var probe = graph
        let first = probe.outputs.count
        for t in tensors { probe.outputs.append((name: "__int8_\(t)", node: NodeID(t))) }
        let model = Model(graph: probe, options: .init(threads: threads))
        func forEachFrame(_ stage: String, _ body: (_ slot: Int, _ t: Int, _ values: UnsafeBufferPointer<Float>) -> Void) throws {
            for (i, frame) in frames.enumerated() {
                options.progress?(stage, i, frames.count)
                try model.run(fill: { buffer in
                    frame.data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
                }) { outputs in
                    for (slot, t) in tensors.enumerated() { body(slot, t, outputs[first + slot]) }
                }
            }
            options.progress?(stage, frames.count, frames.count)
        }
        var lower = [Float](repeating: .infinity, count: tensors.count)
        var upper = [Float](repeating: -.infinity, count: tensors.count)
        var stats = ActivationStatistics()
        var sums = tensors.map { [Double](repeating: 0, count: graph.nodes[$0].shape[1]) }
        try forEachFrame("ranges") { slot, t, values in
            let channels = graph.nodes[t].shape[1], plane = values.count / channels
            for c in 0..<channels {
                var s = 0.0
                for v in values[(c * plane)..<((c + 1) * plane)] where v.isFinite {
                    lower[slot] = min(lower[slot], v); upper[slot] = max(upper[slot], v); s += Double(v)
                }
                sums[slot][c] += s / Double(plane)
            }
        }
        var histograms = tensors.indices.map { ActivationHistogram(lower: lower[$0], upper: upper[$0]) }
        try forEachFrame("histograms") { slot, _, values in histograms[slot].add(values) }
        for (slot, t) in tensors.enumerated() {
            var q = histograms[slot].choose(options.rangeMethod, percentile: options.percentile)
            q.observedMin = lower[slot]; q.observedMax = upper[slot]
            stats.parameters[t] = q
            stats.means[t] = sums[slot].map { $0 / Double(frames.count) }
        }
        guard options.biasCorrection else { return stats }
        var quantizedSums = tensors.map { [Double](repeating: 0, count: graph.nodes[$0].shape[1]) }
        try forEachFrame("bias correction") { slot, t, values in
            let q = stats.parameters[t]!, inv = 1 / q.scale
            let channels = graph.nodes[t].shape[1], plane = values.count / channels
            for c in 0..<channels {
                var s = 0.0
                for v in values[(c * plane)..<((c + 1) * plane)] {
                    s += Double(Float(Int8Layer.quantize(v, invScale: inv, zeroPoint: q.zeroPoint) - Int32(q.zeroPoint)) * q.scale)
                }
                quantizedSums[slot][c] += s / Double(plane)
            }
        }
        for (slot, t) in tensors.enumerated() { stats.quantizedMeans[t] = quantizedSums[slot].map { $0 / Double(frames.count) } }
        return stats
    }
}

/// The output error of a quantized model against the fp32 one on fixed frames: for every output and every index
/// along its channel axis (the smallest non-batch axis: YOLOX [1, 3549, 85] → 85 channels, YOLOv8 [1, 84, 8400] →
/// 84), Σ(q − y)² / Σ(y − mean)², averaged over channels and outputs. Scale-free, so boxes in pixels and scores in
/// [0, 1] weigh alike.
package struct OutputError {
    static let metricDescription = "mean over output channels of sum((int8 - fp32)^2) / sum((fp32 - channel mean)^2)"
    let graph: Graph
    let frames: [Tensor]
    let threads: Int
    let reference: [[[Float]]]  // frame → output → values
    let layout: [(outer: Int, channels: Int, inner: Int)]
    let variance: [[Double]]  // output → channel → Σ(y − mean)²

    package init(graph: Graph, frames: [Tensor], threads: Int) throws {
        self.graph = graph
        self.frames = frames
        self.threads = threads
        let model = Model(graph: graph, options: .init(threads: threads))
        reference = try frames.map { try model.run([$0]).map(\.data) }
        layout = graph.outputs.map { output in
            let shape = graph[output.node].shape
            guard shape.count > 1 else { return (1, 1, shape.reduce(1, *)) }
            let axis = (1..<shape.count).min { shape[$0] < shape[$1] }!
            return (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        }
        var variance: [[Double]] = []
        for (o, l) in layout.enumerated() {
            var sum = [Double](repeating: 0, count: l.channels), square = sum
            var n = 0.0
            for frame in reference {
                Self.forEach(frame[o], l) { c, v in sum[c] += Double(v); square[c] += Double(v) * Double(v) }
                n += Double(l.outer * l.inner)
            }
            variance.append((0..<l.channels).map { square[$0] - sum[$0] * sum[$0] / max(n, 1) })
        }
        self.variance = variance
    }

    static func forEach(_ values: [Float], _ l: (outer: Int, channels: Int, inner: Int), _ body: (Int, Float) -> Void) {
        var i = 0
        for _ in 0..<l.outer { for c in 0..<l.channels { for _ in 0..<l.inner { body(c, values[i]); i += 1 } } }
    }

    package func measure(_ table: QuantizationTable) throws -> Double {
        let model = Model(graph: graph, options: .init(threads: threads, quantization: table))
        var squared = layout.map { [Double](repeating: 0, count: $0.channels) }
        for (f, frame) in frames.enumerated() {
            let outputs = try model.run([frame])
            for (o, l) in layout.enumerated() {
                let want = reference[f][o]
                var i = 0
                outputs[o].data.withUnsafeBufferPointer { got in
                    for _ in 0..<l.outer { for c in 0..<l.channels { for _ in 0..<l.inner {
                        let d = Double(got[i] - want[i]); squared[o][c] += d * d; i += 1
                    } } }
                }
            }
        }
        var total = 0.0, count = 0
        for (o, l) in layout.enumerated() {
            for c in 0..<l.channels where variance[o][c] > 1e-12 { total += squared[o][c] / variance[o][c]; count += 1 }
        }
        return count > 0 ? total / Double(count) : 0
    }
}
