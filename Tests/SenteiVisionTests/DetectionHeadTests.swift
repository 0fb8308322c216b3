#if canImport(Glibc)
import Glibc
#endif
import Testing
import SenteiVision

@Suite struct DetectionHeadTests {
    // 64×64 input, strides 8/16/32: 64 + 16 + 4 = 84 anchors; 3 classes.
    let yolox = DetectionHead(kind: .yolox, anchors: 84, classes: 3, inputWidth: 64, inputHeight: 64)
    let ultralytics = DetectionHead(kind: .ultralytics, anchors: 84, classes: 3, inputWidth: 64, inputHeight: 64)

    func yoloxOutput() -> [Float] {
        var out = [Float](repeating: 0, count: 84 * 8)
        // Stride 8, grid (x 3, y 2) → anchor 2·8 + 3.
        out.replaceSubrange(19 * 8..<20 * 8, with: [0.5, 0.5, log(2), log(4), 0.9, 0.1, 0.8, 0.2])
        // Stride 16, grid (1, 0) → anchor 64 + 1: score 0.5 · 0.3 = 0.15, class 0.
        out.replaceSubrange(65 * 8..<66 * 8, with: [0, 0, 0, 0, 0.5, 0.3, 0.1, 0.2])
        return out
    }

    @Test func yoloxGridAndStrideDecode() throws {
        let out = yoloxOutput()
        let c = try out.withUnsafeBufferPointer { try yolox.decode($0, shape: [1, 84, 8], options: DetectionOptions()) }
        #expect(c.count == 1)
        #expect(c[0].classIndex == 1 && abs(c[0].score - 0.72) < 1e-6)
        // cx = 3.5·8 = 28, cy = 2.5·8 = 20, w = 2·8, h = 4·8.
        let b = c[0].box
        #expect(abs(b.x1 - 20) < 1e-4 && abs(b.y1 - 4) < 1e-4 && abs(b.x2 - 36) < 1e-4 && abs(b.y2 - 36) < 1e-4)
    }

    @Test func perClassThresholdsAndFilter() throws {
        let out = yoloxOutput()
        let low = DetectionOptions(scoreThreshold: 0.25, classThresholds: [0: 0.1])
        let both = try out.withUnsafeBufferPointer { try yolox.decode($0, shape: [1, 84, 8], options: low) }
        #expect(both.map(\.classIndex) == [1, 0])
        // The stride-16 anchor: cx = (0 + 1)·16, w = e^0·16.
        #expect(abs(both[1].box.x1 - 8) < 1e-4 && abs(both[1].box.x2 - 24) < 1e-4)
        let onlyZero = DetectionOptions(scoreThreshold: 0.1, classFilter: [0])
        let filtered = try out.withUnsafeBufferPointer { try yolox.decode($0, shape: [1, 84, 8], options: onlyZero) }
        #expect(filtered.map(\.classIndex) == [0])
    }

    @Test func ultralyticsChannelMajor() throws {
        var out = [Float](repeating: 0, count: 7 * 84)
        let a = 10
        for (row, v) in [Float(30), 40, 20, 10, 0.1, 0.2, 0.9].enumerated() { out[row * 84 + a] = v }
        let c = try out.withUnsafeBufferPointer { try ultralytics.decode($0, shape: [1, 7, 84], options: DetectionOptions()) }
        #expect(c.count == 1 && c[0].classIndex == 2 && abs(c[0].score - 0.9) < 1e-6)
        #expect(c[0].box == Box(x1: 20, y1: 35, x2: 40, y2: 45))
    }

    @Test func wrongShapeIsAnError() throws {
        let out = [Float](repeating: 0, count: 84 * 8)
        let error = #expect(throws: VisionError.self) {
            try out.withUnsafeBufferPointer { try yolox.decode($0, shape: [1, 8, 84], options: DetectionOptions()) }
        }
        #expect(error?.code == .invalidOutput)
    }

    @Test func headInferredFromShape() throws {
        #expect(try DetectionHead.infer(outputShape: [1, 3549, 85], inputWidth: 416, inputHeight: 416).kind == .yolox)
        let v8 = try DetectionHead.infer(outputShape: [1, 84, 8400], inputWidth: 640, inputHeight: 640)
        #expect(v8.kind == .ultralytics && v8.classes == 80)
        // 64×64: N = 84, so [1, 84, 84] reads as either head.
        let ambiguous = #expect(throws: VisionError.self) {
            try DetectionHead.infer(outputShape: [1, 84, 84], inputWidth: 64, inputHeight: 64)
        }
        #expect(ambiguous?.message.contains("both") == true)
        let neither = #expect(throws: VisionError.self) {
            try DetectionHead.infer(outputShape: [1, 100, 85], inputWidth: 416, inputHeight: 416)
        }
        #expect(neither?.message.contains("neither") == true)
    }
}

@Suite struct NonMaxSuppressionTests {
    func candidate(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ score: Float, _ c: Int) -> Candidate {
        Candidate(box: Box(x1: x1, y1: y1, x2: x2, y2: y2), score: score, classIndex: c)
    }

    @Test func classAwareGreedy() {
        let cs = [
            candidate(1, 0, 11, 10, 0.8, 0),   // IoU 0.818 with the next: suppressed
            candidate(0, 0, 10, 10, 0.9, 0),
            candidate(1, 0, 11, 10, 0.85, 1),  // other class: kept
            candidate(20, 20, 30, 30, 0.7, 0),
            candidate(5, 0, 15, 10, 0.6, 0),   // IoU 1/3 with the best: kept at 0.45
        ]
        #expect(nonMaxSuppression(cs, iouThreshold: 0.45, limit: 100) == [1, 2, 3, 4])
        #expect(nonMaxSuppression(cs, iouThreshold: 0.3, limit: 100) == [1, 2, 3])
        #expect(nonMaxSuppression(cs, iouThreshold: 0.45, limit: 2) == [1, 2])
        // A threshold above the pair's IoU keeps both.
        #expect(nonMaxSuppression(cs, iouThreshold: 0.9, limit: 100) == [1, 2, 0, 3, 4])
    }

    @Test func tiesKeepInputOrder() {
        let cs = [candidate(0, 0, 1, 1, 0.5, 0), candidate(5, 5, 6, 6, 0.5, 0), candidate(0, 0, 1, 1, 0.5, 0)]
        #expect(nonMaxSuppression(cs, iouThreshold: 0.5, limit: 10) == [0, 1])
    }
}
