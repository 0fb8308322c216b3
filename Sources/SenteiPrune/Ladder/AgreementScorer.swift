import SenteiEngine
import SenteiVision

/// How closely a variant reproduces the unpruned model: COCO mAP of the variant's detections on held-out frames,
/// taking the unpruned fp32 model's confident detections as ground truth. The reference scores 1 against itself.
package struct AgreementScorer {
    /// Teacher detections at or above this score are the ground truth.
    package static let groundTruthScore: Float = 0.25
    /// Variants are scored COCO-style: every detection down to this score, class-aware NMS at `nms`.
    package static let detectionScore: Float = 0.01
    package static let nms: Float = 0.65

    package let frames: [(name: String, jpeg: [UInt8])]
    package let groundTruth: [[GroundTruth]]
    package let classCount: Int

    package static var detectionOptions: DetectionOptions {
        DetectionOptions(scoreThreshold: detectionScore, iouThreshold: nms, maxDetections: 300)
    }

    /// Runs the reference detector once over `frames` and keeps its confident detections as the ground truth.
    package init(reference: Detector, frames: [(name: String, jpeg: [UInt8])]) throws {
        self.frames = frames
        self.classCount = reference.manifest.classCount
        var options = Self.detectionOptions
        options.scoreThreshold = Self.groundTruthScore
        let saved = reference.options
        reference.options = options
        defer { reference.options = saved }
        groundTruth = try frames.map { frame in
            try reference.detect(jpeg: frame.jpeg, name: frame.name).detections.map { GroundTruth(classIndex: $0.classIndex, box: $0.box) }
        }
    }

    /// A scorer over frames whose reference detections are already known (the scene guard pools frames checked
    /// one batch at a time).
    package init(frames: [(name: String, jpeg: [UInt8])], groundTruth: [[GroundTruth]], classCount: Int) {
        precondition(frames.count == groundTruth.count, "one ground-truth list per frame")
        self.frames = frames
        self.groundTruth = groundTruth
        self.classCount = classCount
    }

    /// mAP@[.5:.95] and mAP@.5 of `detector` against the reference, each in [0, 1]. `keep`: the model-order classes
    /// of a class-pruned head (its class i is `keep[i]`); the reference then counts only those classes.
    package func score(_ detector: Detector, keep: [Int]? = nil) throws -> EvaluationResult {
        let saved = detector.options
        detector.options = Self.detectionOptions
        defer { detector.options = saved }
        let detections = try frames.map { Self.remap(try detector.detect(jpeg: $0.jpeg, name: $0.name).detections, keep: keep) }
        let truth = keep.map { kept in groundTruth.map { $0.filter { kept.contains($0.classIndex) } } } ?? groundTruth
        return COCOEvaluator.evaluate(groundTruth: truth, detections: detections, classCount: classCount)
    }

    /// A class-pruned head's detections with their class indices mapped back to the full model's.
    package static func remap(_ detections: [Detection], keep: [Int]?) -> [Detection] {
        guard let keep else { return detections }
        return detections.map { d in
            var d = d
            d.classIndex = keep[d.classIndex]
            return d
        }
    }
}
