/// Runs a detector over a labelled dataset and scores it with `COCOEvaluator`.
public enum Evaluator {
    public struct Run: Sendable {
        public var result: EvaluationResult
        /// Per image, in dataset order (nil where the image failed).
        public var detections: [ImageDetections?]
        /// Images that could not be read or decoded: the run goes on without them (their ground truth still counts).
        public var failures: [(image: String, message: String)]
    }

    public static func run(dataset: LabeledDataset, detector: Detector) -> Run {
        var detections: [ImageDetections?] = []
        var failures: [(image: String, message: String)] = []
        for image in dataset.images {
            do {
                let bytes = try readFile(image.path)
                detections.append(try detector.detect(jpeg: bytes, name: image.path))
            } catch {
                detections.append(nil)
                failures.append((image.path, "\(error)"))
            }
        }
        let result = evaluate(dataset: dataset, detections: detections.map { $0?.detections ?? [] },
                              classCount: detector.manifest.classCount)
        return Run(result: result, detections: detections, failures: failures)
    }

    /// Scores detections (one list per dataset image, same order). A MOTChallenge dataset scores the person class
    /// (index 0) only.
    public static func evaluate(dataset: LabeledDataset, detections: [[Detection]], classCount: Int)
        -> EvaluationResult
    {
        let gt = dataset.images.map(\.groundTruth)
        if dataset.personOnly {
            return COCOEvaluator.evaluate(groundTruth: gt.map { $0.filter { $0.classIndex == 0 } },
                                          detections: detections.map { $0.filter { $0.classIndex == 0 } },
                                          classCount: 1)
        }
        return COCOEvaluator.evaluate(groundTruth: gt, detections: detections, classCount: classCount)
    }
}
