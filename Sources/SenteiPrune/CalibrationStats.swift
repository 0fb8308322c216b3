import SenteiEngine

/// Second moments of one node's output over calibration positions, with a constant-1 channel appended so that a
/// least-squares refit can absorb the mean shift into the bias: G = Σ x̃ x̃ᵀ / n with x̃ = [x; 1].
package struct Gram: Sendable {
    package var channels: Int
    /// (channels + 1)², row-major.
    package var matrix: [Double]
    package var positions: Int

    package init(channels: Int) {
        self.channels = channels
        self.matrix = [Double](repeating: 0, count: (channels + 1) * (channels + 1))
        self.positions = 0
    }

    package subscript(i: Int, j: Int) -> Double { matrix[i * (channels + 1) + j] }
}

/// What the calibration frames tell the pruner about the unpruned model: per-channel mean |activation| of every conv
/// output, and Gram matrices of every 1×1 dense conv's input (for reconstruction).
package struct CalibrationStats: Sendable {
    package var meanAbs: [Int: [Double]] = [:]
    package var grams: [Int: Gram] = [:]
    package var frames = 0

    /// Runs the unpruned `graph` on `frames` with the conv outputs (and reconstruction inputs) marked as extra graph
    /// outputs, and accumulates the statistics. `maxPositions` caps the spatial positions per frame used for Grams
    /// (evenly strided), which bounds the cost on the 104×104 maps.
    package static func collect(_ graph: Graph, frames: [Tensor], threads: Int, maxPositions: Int = 4096) throws -> CalibrationStats {
        guard !frames.isEmpty else { throw PruneError(.invalidCalibration, "no calibration frames") }
        guard graph.inputs.count == 1 else {
            throw PruneError(.invalidCalibration, "calibration supports single-input models; this one has \(graph.inputs.count)")
        }
        let inputShape = graph[graph.inputs[0]].shape
        for (i, frame) in frames.enumerated() where frame.shape != inputShape {
            throw PruneError(.invalidCalibration, "calibration frame \(i) has shape \(frame.shape); the model input '\(graph[graph.inputs[0]].name)' is \(inputShape)")
        }
        var recorded: [NodeID] = []
        var gramNodes = Set<Int>()
        for (index, node) in graph.nodes.enumerated() {
            guard case .conv(let conv) = node.op, node.shape.count == 4 else { continue }
            recorded.append(NodeID(index))
            if isReconstructable(conv) { gramNodes.insert(node.inputs[0].index) }
        }
        for index in gramNodes.sorted() where !recorded.contains(NodeID(index)) { recorded.append(NodeID(index)) }
        var probe = graph
        let firstExtra = probe.outputs.count
        for id in recorded { probe.outputs.append((name: "__calib_\(id.index)", node: id)) }
        let model = Model(graph: probe, options: .init(threads: threads))

        var stats = CalibrationStats()
        for index in gramNodes { stats.grams[index] = Gram(channels: graph.nodes[index].shape[1]) }
        for id in recorded { stats.meanAbs[id.index] = [Double](repeating: 0, count: graph[id].shape[1]) }
        var scratch: [Float] = []
        for frame in frames {
            try model.run(fill: { buffer in
                frame.data.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            }) { outputs in
                for (slot, id) in recorded.enumerated() {
                    let values = outputs[firstExtra + slot]
                    let channels = graph[id].shape[1], plane = graph[id].shape[2] * graph[id].shape[3]
                    for c in 0..<channels {
                        var sum: Float = 0
                        for p in 0..<plane { sum += abs(values[c * plane + p]) }
                        stats.meanAbs[id.index]![c] += Double(sum) / Double(plane)
                    }
                    if gramNodes.contains(id.index) {
                        accumulate(&stats.grams[id.index]!, values, channels: channels, plane: plane, maxPositions: maxPositions, scratch: &scratch)
                    }
                }
            }
        }
        for key in stats.meanAbs.keys { stats.meanAbs[key] = stats.meanAbs[key]!.map { $0 / Double(frames.count) } }
        stats.frames = frames.count
        return stats
    }

    /// Convs whose weights can be refit by linear least squares from their input's Gram matrix: 1×1, ungrouped,
    /// unpadded (every output position is a linear function of one input position).
    package static func isReconstructable(_ conv: Conv) -> Bool {
        conv.group == 1 && conv.kernel == (1, 1) && conv.pads == (0, 0, 0, 0) && conv.dilation == (1, 1)
    }

    static func accumulate(_ gram: inout Gram, _ values: UnsafeBufferPointer<Float>, channels: Int, plane: Int,
                           maxPositions: Int, scratch: inout [Float]) {
        let step = max(1, (plane + maxPositions - 1) / maxPositions)
        let count = (plane + step - 1) / step
        // Pad each row to a multiple of 8 with zeros so the dot products run on whole SIMD8 lanes.
        let padded = (count + 7) / 8 * 8
        if scratch.count < channels * padded { scratch = [Float](repeating: 0, count: channels * padded) }
        let n = channels + 1
        scratch.withUnsafeMutableBufferPointer { xs in
            for c in 0..<channels {
                for (k, p) in stride(from: 0, to: plane, by: step).enumerated() { xs[c * padded + k] = values[c * plane + p] }
                for k in count..<padded { xs[c * padded + k] = 0 }
            }
            let raw = UnsafeRawPointer(xs.baseAddress!)
            for i in 0..<channels {
                let a = raw.advanced(by: i * padded * 4)
                var rowSum: Float = 0
                for k in 0..<count { rowSum += xs[i * padded + k] }
                gram.matrix[i * n + channels] += Double(rowSum)
                gram.matrix[channels * n + i] += Double(rowSum)
                for j in i..<channels {
                    let b = raw.advanced(by: j * padded * 4)
                    var acc = SIMD8<Float>()
                    for v in 0..<(padded / 8) {
                        acc += a.loadUnaligned(fromByteOffset: v * 32, as: SIMD8<Float>.self)
                            * b.loadUnaligned(fromByteOffset: v * 32, as: SIMD8<Float>.self)
                    }
                    let dot = Double(acc.sum())
                    gram.matrix[i * n + j] += dot
                    if j != i { gram.matrix[j * n + i] += dot }
                }
            }
        }
        gram.matrix[channels * n + channels] += Double(count)
        gram.positions += count
    }
}
