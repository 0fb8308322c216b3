/// Quantization-aware training: a `GradientGraph` built with a quantization table runs every conv the table puts
/// in int8 on quantized-then-dequantized operands, as the int8 inference path computes them:
/// - weights: per output channel, symmetric, scale = max|w|/127 of the current fp32 master weights
///   (`Int8Layer.quantizeWeights`, the function int8 inference derives its weights with);
/// - input activation: u8 with the table's calibrated scale and zero point, or 16-bit for its w8a16 layers
///   (`Int8Layer.quantize`);
/// - bias: the master bias plus the table's bias correction (int8 inference adds it too).
/// Backward is the straight-through estimator: the weight gradient (computed against the quantized operands) goes
/// to the fp32 master weights unchanged; the input gradient passes where the input lies inside the clip range and
/// is zero where quantization clamps it. The optimiser keeps moving fp32 master weights.
package struct FakeQuantLayer: Sendable {
    package var scale: Float
    package var invScale: Float
    package var zeroPoint: Int
    /// 8 or 16 (w8a16 layers).
    package var bits = 8
    package var biasCorrection: [Float]?

    /// The table's int8 layers found in `graph`, by node index (after `QuantizationTable.validate` has checked them).
    static func resolve(_ table: QuantizationTable, graph: Graph) -> [Int: FakeQuantLayer] {
        var layers: [Int: FakeQuantLayer] = [:]
        for (index, node) in graph.nodes.enumerated() {
            guard case .conv(let conv) = node.op, let entry = table.layers[node.name], entry.precision != .fp32,
                  Int8Layer.isQuantizable(conv, shape: node.shape), let a = table.activations[entry.input] else { continue }
            let bits = entry.precision == .w8a16 ? 16 : 8
            let (scale, zero) = bits == 16 ? a.sixteenBit : (a.scale, a.zeroPoint)
            layers[index] = FakeQuantLayer(scale: scale, invScale: 1 / scale, zeroPoint: zero, bits: bits,
                                           biasCorrection: entry.biasCorrection)
        }
        return layers
    }

    /// x → dequantize(quantize(x)) over `lo..<hi`, exactly as the int8 kernels quantize their input.
    func quantizeDequantize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
        let zp = Int32(zeroPoint)
        for j in lo..<hi {
            out[j] = Float(Int8Layer.quantize(x[j], invScale: invScale, zeroPoint: zeroPoint, bits: bits) - zp) * scale
        }
    }

    /// dx += g where x is inside the clip range (the straight-through estimator of the clamp), over `lo..<hi`.
    func accumulateInsideRange(_ g: UnsafePointer<Float>, x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                               _ lo: Int, _ hi: Int) {
        let range = Int8Layer.quantizedRange(bits: bits)
        let low = Float(range.lowerBound - zeroPoint), high = Float(range.upperBound - zeroPoint)
        for j in lo..<hi {
            let t = x[j] * invScale
            if t >= low && t <= high { dx[j] += g[j] }
        }
    }

    /// Row-major [rows, k] weights quantized per row and dequantized (what an int8 layer multiplies by, in float).
    static func dequantizedWeights(_ weights: UnsafeBufferPointer<Float>, rows: Int) -> [Float] {
        let (values, scales) = Int8Layer.quantizeWeights(Array(weights), rows: rows)
        let k = values.count / max(rows, 1)
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for i in 0..<k { out[r * k + i] = Float(values[r * k + i]) * scales[r] } }
        return out
    }
}

extension GradientGraph {
    /// Convs that run fake-quantized (the table's int8 layers), by node name, sorted.
    package var fakeQuantizedLayers: [String] { fakeQuant.keys.map { graph.nodes[$0].name }.sorted() }

    /// The dequantized input of fake-quantized conv `i`, written into the shared scratch.
    func fakeQuantizedInput(_ i: Int, _ layer: FakeQuantLayer) -> UnsafePointer<Float> {
        let input = graph.nodes[i].inputs[0]
        let x = UnsafePointer(value[input.index]!), out = fakeQuantInput!
        let count = graph[input].elementCount
        parallel(count) { ith, nth in
            let (lo, hi) = StridedKernels.partition(count, ith, nth)
            layer.quantizeDequantize(x, into: out, lo, hi)
        }
        return UnsafePointer(out)
    }

    /// Master bias plus the table's correction of every fake-quantized conv, refreshed with the packed weights.
    func refreshFakeQuantBias(_ values: UnsafeBufferPointer<Float>) {
        for (i, layer) in fakeQuant {
            guard let bias = fakeQuantBias[i], case .conv(let conv) = graph.nodes[i].op else { continue }
            let entry = parameters.entry(node: i, role: .bias)
            for co in 0..<conv.outChannels {
                bias[co] = (entry.map { values[$0.offset + co] } ?? 0) + (layer.biasCorrection?[co] ?? 0)
            }
        }
    }
}
