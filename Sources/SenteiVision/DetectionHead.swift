#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A candidate box in model-input pixels, before NMS.
package struct Candidate: Equatable {
    package var box: Box
    package var score: Float
    package var classIndex: Int

    package init(box: Box, score: Float, classIndex: Int) {
        self.box = box
        self.score = score
        self.classIndex = classIndex
    }
}

/// Decodes a raw head output into candidates above their class's threshold: one per anchor, its best class.
package struct DetectionHead: Sendable, Equatable {
    package var kind: HeadKind
    package var anchors: Int
    package var classes: Int
    package var inputWidth: Int
    package var inputHeight: Int
    package var strides: [Int]

    package init(manifest: ModelManifest) {
        kind = manifest.head.kind
        anchors = kind == .yolox ? manifest.output.shape[1] : manifest.output.shape[2]
        classes = manifest.classCount
        inputWidth = manifest.inputWidth
        inputHeight = manifest.inputHeight
        strides = manifest.head.strides ?? [8, 16, 32]
    }

    package init(kind: HeadKind, anchors: Int, classes: Int, inputWidth: Int, inputHeight: Int,
                 strides: [Int] = [8, 16, 32]) {
        self.kind = kind
        self.anchors = anchors
        self.classes = classes
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        self.strides = strides
    }

    /// Picks the head from an output shape when there is no manifest: YOLOX is [1, N, 5 + C] and Ultralytics is
    /// [1, 4 + C, N], where N is the anchor count of strides 8/16/32 at this input size. Both or neither matching is an
    /// error that says so.
    package static func infer(outputShape: [Int], inputWidth: Int, inputHeight: Int) throws -> DetectionHead {
        guard outputShape.count == 3, outputShape[0] == 1 else {
            throw VisionError(.invalidOutput, "cannot choose a head: output shape \(outputShape) is not [1, A, B]")
        }
        let strides = [8, 16, 32]
        let n = strides.reduce(0) { $0 + (inputHeight / $1) * (inputWidth / $1) }
        let yolox = outputShape[1] == n && outputShape[2] > 5
        let ultralytics = outputShape[2] == n && outputShape[1] > 4
        switch (yolox, ultralytics) {
        case (true, false):
            return DetectionHead(kind: .yolox, anchors: n, classes: outputShape[2] - 5, inputWidth: inputWidth,
                                 inputHeight: inputHeight, strides: strides)
        case (false, true):
            return DetectionHead(kind: .ultralytics, anchors: n, classes: outputShape[1] - 4, inputWidth: inputWidth,
                                 inputHeight: inputHeight, strides: strides)
        case (true, true):
            throw VisionError(.invalidOutput,
                "cannot choose a head: output shape \(outputShape) fits both YOLOX [1, \(n), 5+C] and Ultralytics [1, 4+C, \(n)]; give a manifest")
        case (false, false):
            throw VisionError(.invalidOutput,
                "cannot choose a head: output shape \(outputShape) is neither YOLOX [1, \(n), 5+C] nor Ultralytics [1, 4+C, \(n)] for a \(inputWidth)x\(inputHeight) input; give a manifest")
        }
    }

    package var expectedShape: [Int] {
        kind == .yolox ? [1, anchors, 5 + classes] : [1, 4 + classes, anchors]
    }

    /// Candidates whose score reaches their class's threshold (and pass the class filter), in anchor order.
    package func decode(_ output: UnsafeBufferPointer<Float>, shape: [Int], options: DetectionOptions) throws
        -> [Candidate]
    {
        guard shape == expectedShape, output.count == expectedShape.reduce(1, *) else {
            throw VisionError(.invalidOutput,
                "\(kind.rawValue) head expects output shape \(expectedShape), got \(shape) with \(output.count) values")
        }
        var thresholds = [Float](repeating: options.scoreThreshold, count: classes)
        for (c, t) in options.classThresholds where c >= 0 && c < classes { thresholds[c] = t }
        if let filter = options.classFilter {
            for c in 0..<classes where !filter.contains(c) { thresholds[c] = .infinity }
        }
        switch kind {
        case .yolox: return try decodeYOLOX(output, thresholds: thresholds)
        case .ultralytics: return decodeUltralytics(output, thresholds: thresholds)
        }
    }

    /// YOLOX, exported without the decode (the graph ends Sigmoid(obj), Sigmoid(cls) → Concat with the raw box
    /// regression → Reshape → Transpose): x = (px + gx)·s, y = (py + gy)·s, w = e^pw·s, h = e^ph·s, anchors ordered by
    /// stride, then row, then column; score = obj × best class.
    private func decodeYOLOX(_ output: UnsafeBufferPointer<Float>, thresholds: [Float]) throws -> [Candidate] {
        let channels = 5 + classes
        var out: [Candidate] = []
        var anchor = 0
        for stride in strides {
            let gridH = inputHeight / stride, gridW = inputWidth / stride
            let s = Float(stride)
            for gy in 0..<gridH {
                for gx in 0..<gridW {
                    defer { anchor += 1 }
                    guard anchor < anchors else { continue }
                    let p = output.baseAddress! + anchor * channels
                    var best = 0
                    var bestScore = p[5]
                    for c in 1..<classes where p[5 + c] > bestScore {
                        best = c
                        bestScore = p[5 + c]
                    }
                    let score = p[4] * bestScore
                    guard score >= thresholds[best] else { continue }
                    let cx = (p[0] + Float(gx)) * s, cy = (p[1] + Float(gy)) * s
                    let w = _expf(p[2]) * s, h = _expf(p[3]) * s
                    out.append(Candidate(box: Box(x1: Double(cx - w / 2), y1: Double(cy - h / 2),
                                                  x2: Double(cx + w / 2), y2: Double(cy + h / 2)),
                                         score: score, classIndex: best))
                }
            }
        }
        guard anchor == anchors else {
            throw VisionError(.invalidOutput, "YOLOX head: strides \(strides) give \(anchor) anchors, the output has \(anchors)")
        }
        return out
    }

    /// Ultralytics: channel-major rows cx, cy, w, h, then class scores; score = best class.
    private func decodeUltralytics(_ output: UnsafeBufferPointer<Float>, thresholds: [Float]) -> [Candidate] {
        let n = anchors
        let base = output.baseAddress!
        var out: [Candidate] = []
        for a in 0..<n {
            var best = 0
            var bestScore = base[4 * n + a]
            for c in 1..<classes where base[(4 + c) * n + a] > bestScore {
                best = c
                bestScore = base[(4 + c) * n + a]
            }
            guard bestScore >= thresholds[best] else { continue }
            let cx = base[a], cy = base[n + a], w = base[2 * n + a], h = base[3 * n + a]
            out.append(Candidate(box: Box(x1: Double(cx - w / 2), y1: Double(cy - h / 2),
                                          x2: Double(cx + w / 2), y2: Double(cy + h / 2)),
                                 score: bestScore, classIndex: best))
        }
        return out
    }
}

@inline(__always)
private func _expf(_ x: Float) -> Float { Float(exp(Double(x))) }
