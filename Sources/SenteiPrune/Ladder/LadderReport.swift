import Foundation
import SenteiEngine
import SenteiVision

/// One level of a ladder, measured for `sentei ladder report`.
package struct LadderReportRow: Sendable {
    package var level: LadderManifest.Level
    package var latency1: LatencyMeasurement?
    package var latency2: LatencyMeasurement?
    /// Against the dataset's labels.
    package var labelled: EvaluationResult?
    /// Person AP on a MOT sequence.
    package var mot: EvaluationResult?
    /// Against the unpruned fp32 model's detections on the dataset's images.
    package var agreement: EvaluationResult?
    /// The same two over the images from `--split` on (e.g. the 64 coco128 images the ladder never saw).
    package var labelledSplit: EvaluationResult?
    package var agreementSplit: EvaluationResult?

    package init(level: LadderManifest.Level) { self.level = level }
}

/// Loads and measures ladder levels: accuracy on labelled data, agreement with the ladder's reference rung, latency.
package struct LadderReporter {
    package let directory: String
    package let ladder: LadderManifest
    package let manifest: ModelManifest
    package var threads = 2

    package init(directory: String) throws {
        self.directory = directory
        ladder = try LadderManifest.load(directory: directory)
        guard let file = ladder.modelManifest else {
            throw LadderError(.invalidManifest, file: directory + "/" + LadderManifest.fileName, field: "model_manifest",
                              "is required to decode detections")
        }
        manifest = try ModelManifest.load(path: directory + "/" + file)
    }

    /// The rung that stands for the unpruned fp32 model: cut 0, fp32, at the base model's input size.
    package var reference: LadderManifest.Level? {
        ladder.levels.first { $0.cut == 0 && $0.precision == .fp32 && $0.inputSize == manifest.inputWidth }
    }

    package func model(_ level: LadderManifest.Level, threads: Int) throws -> Model {
        try ladder.verifyFile(of: level, directory: directory)
        let table = try level.int8Table.map { try QuantizationTable.load(path: directory + "/" + $0) }
        return try Model(path: directory + "/" + level.file, options: .init(threads: threads, quantization: table))
    }

    package func detector(_ level: LadderManifest.Level) throws -> Detector {
        try Detector(manifest: try manifest.forLevel(level), model: try model(level, threads: threads),
                     options: AgreementScorer.detectionOptions)
    }

    /// COCO-style detections (score ≥ 0.01, NMS 0.65) of `level` on every image of `dataset`, in order, with the
    /// full model's class indices (a class-pruned head's are mapped back).
    package func detections(_ level: LadderManifest.Level, on dataset: LabeledDataset) throws -> [[Detection]] {
        let detector = try detector(level)
        let keep = try manifest.classIndices(of: level)
        return try dataset.images.map { image in
            guard let data = FileManager.default.contents(atPath: image.path) else { throw PruneError(.io, "\(image.path): cannot read") }
            return AgreementScorer.remap(try detector.detect(jpeg: [UInt8](data), name: image.path).detections, keep: keep)
        }
    }

    /// Ground truth restricted to a class-pruned level's classes (unchanged for a full head).
    package func restrict(_ truth: [[GroundTruth]], to level: LadderManifest.Level) throws -> [[GroundTruth]] {
        guard let keep = try manifest.classIndices(of: level) else { return truth }
        return truth.map { $0.filter { keep.contains($0.classIndex) } }
    }

    /// The reference's confident detections as ground truth (see `AgreementScorer`).
    package static func groundTruth(from detections: [[Detection]]) -> [[GroundTruth]] {
        detections.map { list in
            list.filter { Float($0.score) >= AgreementScorer.groundTruthScore }.map { GroundTruth(classIndex: $0.classIndex, box: $0.box) }
        }
    }
}
