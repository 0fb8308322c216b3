import Testing
import SenteiVision

@Suite struct COCOEvaluatorTests {
    func det(_ c: Int, _ score: Double, _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> Detection {
        Detection(classIndex: c, label: "\(c)", score: score, box: Box(x1: x1, y1: y1, x2: x2, y2: y2))
    }
    func gt(_ c: Int, _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> GroundTruth {
        GroundTruth(classIndex: c, box: Box(x1: x1, y1: y1, x2: x2, y2: y2))
    }

    @Test func thresholdsAreNumpysLinspace() {
        // repr() of np.linspace(.5, .95, 10) and np.linspace(0, 1, 101) elements.
        #expect(COCOEvaluator.iouThresholds == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95])
        #expect(COCOEvaluator.recallThresholds.count == 101)
        #expect(COCOEvaluator.recallThresholds[7] == 0.07 && COCOEvaluator.recallThresholds[29] == 0.29)
        #expect(COCOEvaluator.recallThresholds[57] == 0.5700000000000001 && COCOEvaluator.recallThresholds[100] == 1)
    }

    @Test func perfectDetectionsScoreOne() {
        let g = [[gt(0, 0, 0, 10, 10)], [gt(0, 5, 5, 50, 50), gt(2, 1, 1, 3, 3)]]
        let d = [[det(0, 0.9, 0, 0, 10, 10)], [det(0, 0.8, 5, 5, 50, 50), det(2, 0.3, 1, 1, 3, 3)]]
        let r = COCOEvaluator.evaluate(groundTruth: g, detections: d, classCount: 3)
        // 1 − 2.2e-16, not 1: COCOeval's precision is tp / (tp + fp + np.spacing(1)).
        #expect(abs(r.map50_95 - 1) < 1e-12 && abs(r.map50 - 1) < 1e-12 && r.images == 2)
        #expect(r.perClass.keys.sorted() == [0, 2])
    }

    @Test func falsePositiveRankedFirstHalvesPrecision() {
        // Precision [0, 0.5] → interpolated [0.5, 0.5] at recall [0, 1]: every recall threshold samples 0.5.
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 10, 10)]],
                                       detections: [[det(0, 0.9, 50, 50, 60, 60), det(0, 0.8, 0, 0, 10, 10)]],
                                       classCount: 1)
        #expect(abs(r.map50_95 - 0.5) < 1e-12 && abs(r.map50 - 0.5) < 1e-12)
    }

    @Test func halfRecall() {
        // Recall reaches 0.5: thresholds 0.00 … 0.50 (51 of 101) sample precision 1.
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 10, 10), gt(0, 20, 20, 30, 30)]],
                                       detections: [[det(0, 0.9, 0, 0, 10, 10)]], classCount: 1)
        #expect(abs(r.map50 - 51.0 / 101) < 1e-12)
    }

    @Test func iouDecidesPerThreshold() {
        // IoU 0.72: a match at .50 … .70 (5 of 10 thresholds).
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 100, 100)]],
                                       detections: [[det(0, 0.9, 0, 0, 100, 72)]], classCount: 1)
        #expect(abs(r.map50 - 1) < 1e-12 && abs(r.map50_95 - 0.5) < 1e-12)
    }

    @Test func oneDetectionMatchesOneGroundTruth() {
        // Two detections on one object: the second is a false positive; the second object is missed.
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 10, 10), gt(0, 100, 100, 110, 110)]],
                                       detections: [[det(0, 0.9, 0, 0, 10, 10), det(0, 0.8, 0, 0, 10, 10)]],
                                       classCount: 1)
        #expect(abs(r.map50 - 51.0 / 101) < 1e-12)
    }

    @Test func classesWithoutGroundTruthAreSkipped() {
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 10, 10)]],
                                       detections: [[det(0, 0.9, 0, 0, 10, 10), det(5, 0.99, 0, 0, 10, 10)]],
                                       classCount: 80)
        #expect(abs(r.map50_95 - 1) < 1e-12 && r.perClass.keys.sorted() == [0])
    }

    @Test func classWithGroundTruthButNoDetectionsScoresZero() {
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 10, 10), gt(1, 0, 0, 10, 10)]],
                                       detections: [[det(0, 0.9, 0, 0, 10, 10)]], classCount: 2)
        #expect(abs(r.perClass[0]! - 1) < 1e-12 && r.perClass[1] == 0 && abs(r.map50_95 - 0.5) < 1e-12)
    }

    @Test func onlyTheBestHundredPerImageCount() {
        var dets = (0..<100).map { det(0, 0.9 - Double($0) * 0.001, 500, 500, 510, 510) }
        dets.append(det(0, 0.01, 0, 0, 10, 10))  // the true positive, 101st by score: cut
        let r = COCOEvaluator.evaluate(groundTruth: [[gt(0, 0, 0, 10, 10)]], detections: [dets], classCount: 1)
        #expect(r.map50 == 0)
    }

    @Test func cocoIoUIsBoxIoU() {
        #expect(COCOEvaluator.cocoIoU(Box(x1: 0, y1: 0, x2: 10, y2: 10), Box(x1: 5, y1: 0, x2: 15, y2: 10)) == 50.0 / 150)
        #expect(COCOEvaluator.cocoIoU(Box(x1: 0, y1: 0, x2: 10, y2: 10), Box(x1: 10, y1: 0, x2: 20, y2: 10)) == 0)
    }
}

@Suite struct DatasetTests {
    @Test func yoloLabelsParse() throws {
        let boxes = try parseYOLOLabels("0 0.5 0.5 0.5 0.25\n\n16 0.25 0.75 0.1 0.1\r\n", name: "a.txt", width: 640, height: 480)
        #expect(boxes.count == 2)
        #expect(boxes[0] == GroundTruth(classIndex: 0, box: Box(x1: 160, y1: 180, x2: 480, y2: 300)))
        #expect(boxes[1].classIndex == 16)
    }

    @Test(arguments: ["0 0.5 0.5 0.5", "x 0.5 0.5 0.5 0.5", "1 0.5 0.5 -0.5 0.5", "1 a b c d"])
    func malformedLabelLinesNameFileAndLine(line: String) throws {
        let error = #expect(throws: VisionError.self) {
            try parseYOLOLabels("0 0.1 0.1 0.1 0.1\n" + line, name: "labels/x.txt", width: 10, height: 10)
        }
        #expect(error?.code == .invalidDataset && error?.message.contains("labels/x.txt:2") == true)
    }

    @Test(.enabled(if: sharedRoot != nil, "\(sharedMissing)"))
    func coco128() throws {
        let d = try LabeledDataset.yolo(root: sharedRoot! + "/data/coco128")
        #expect(d.images.count == 128 && !d.personOnly)
        // 941 label lines, 12 of them in 000000000656/659.txt, which have no image.
        #expect(d.images.map(\.groundTruth.count).reduce(0, +) == 929)
        #expect(Set(d.images.flatMap { $0.groundTruth.map(\.classIndex) }).count == 71)
        #expect(d.images.filter { $0.groundTruth.isEmpty }.count == 2)
    }

    @Test(.enabled(if: sharedRoot != nil, "\(sharedMissing)"))
    func tudCampus() throws {
        let d = try LabeledDataset.mot(root: sharedRoot! + "/data/tud-campus")
        #expect(d.images.count == 71 && d.personOnly)
        #expect(d.images.map(\.groundTruth.count).reduce(0, +) == 359)
        // gt.txt row 1: frame 1, box 399,182 121×229.
        #expect(d.images[0].groundTruth[0].box == Box(x1: 399, y1: 182, x2: 520, y2: 411))
    }

    @Test func missingDatasetIsAnError() {
        let error = #expect(throws: VisionError.self) { try LabeledDataset.yolo(root: "/nonexistent/data") }
        #expect(error?.message.contains("/nonexistent/data") == true)
    }
}
