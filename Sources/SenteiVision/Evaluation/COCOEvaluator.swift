/// A ground-truth box of one image.
public struct GroundTruth: Sendable, Equatable {
    public var classIndex: Int
    public var box: Box

    public init(classIndex: Int, box: Box) {
        self.classIndex = classIndex
        self.box = box
    }
}

/// COCO bbox metrics: AP averaged over IoU .50:.05:.95 and at .50, overall and per class (APs in 0–1).
public struct EvaluationResult: Sendable, Equatable {
    public var map50_95: Double
    public var map50: Double
    public var images: Int
    /// AP@[.5:.95] per class index, for classes with ground truth.
    public var perClass: [Int: Double]
    /// AP@.5 per class index.
    public var perClass50: [Int: Double]
}

/// pycocotools' COCOeval for bboxes, re-done step for step so the numbers agree to rounding: area range "all",
/// no crowd boxes, maxDets 100 per image and class, IoU thresholds np.linspace(.5, .95, 10), recall thresholds
/// np.linspace(0, 1, 101), precision made monotone from the right and sampled with searchsorted(side='left').
/// Classes without ground truth are skipped (precision −1 in COCOeval, left out of the mean).
/// Detections with equal scores keep their input order (COCOeval sorts with a stable mergesort).
public enum COCOEvaluator {
    /// np.linspace(.5, .95, 10): i·step + start, with the last value set to exactly .95.
    package static let iouThresholds: [Double] = linspace(0.5, 0.95, count: 10)
    /// np.linspace(0, 1, 101).
    package static let recallThresholds: [Double] = linspace(0, 1, count: 101)
    package static let maxDetections = 100

    /// `groundTruth[i]` and `detections[i]` belong to image i (same order). `classCount` bounds the class indices
    /// considered; detections of other classes are ignored, as COCOeval ignores categories not in the GT file.
    public static func evaluate(groundTruth: [[GroundTruth]], detections: [[Detection]], classCount: Int)
        -> EvaluationResult
    {
        precondition(groundTruth.count == detections.count, "one detection list per image")
        let t = iouThresholds.count
        var apSums = [Int: (all: Double, at50: Double)]()
        for c in 0..<classCount {
            // Per image: detections sorted by score (stable) and cut to maxDets, their match flags per IoU threshold.
            var scores: [Double] = []
            var matched: [[Bool]] = Array(repeating: [], count: t)
            var positives = 0
            for image in groundTruth.indices {
                let gts = groundTruth[image].filter { $0.classIndex == c }.map(\.box)
                var dts = detections[image].filter { $0.classIndex == c }
                positives += gts.count
                if dts.isEmpty { continue }
                let order = dts.indices.sorted { dts[$0].score != dts[$1].score ? dts[$0].score > dts[$1].score : $0 < $1 }
                dts = Array(order.prefix(maxDetections).map { dts[$0] })
                let ious = dts.map { d in gts.map { cocoIoU(d.box, $0) } }
                for (ti, threshold) in iouThresholds.enumerated() {
                    var gtTaken = [Bool](repeating: false, count: gts.count)
                    for d in dts.indices {
                        var best = min(threshold, 1 - 1e-10)
                        var match = -1
                        for g in gts.indices where !gtTaken[g] {
                            if ious[d][g] < best { continue }
                            best = ious[d][g]
                            match = g
                        }
                        if match >= 0 { gtTaken[match] = true }
                        matched[ti].append(match >= 0)
                    }
                }
                scores += dts.map(\.score)
            }
            if positives == 0 { continue }
            let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            var apPerThreshold: [Double] = []
            for ti in 0..<t {
                apPerThreshold.append(averagePrecision(order.map { matched[ti][$0] }, positives: positives))
            }
            apSums[c] = (apPerThreshold.reduce(0, +) / Double(t), apPerThreshold[0])
        }
        let classes = apSums.keys.sorted()
        let mean = { (values: [Double]) in values.isEmpty ? -1 : values.reduce(0, +) / Double(values.count) }
        return EvaluationResult(
            map50_95: mean(classes.map { apSums[$0]!.all }), map50: mean(classes.map { apSums[$0]!.at50 }),
            images: groundTruth.count, perClass: apSums.mapValues(\.all), perClass50: apSums.mapValues(\.at50))
    }

    /// numpy's linspace: i·((stop − start)/(count − 1)) + start, the last value exactly `stop`.
    package static func linspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        let step: Double = (stop - start) / Double(count - 1)
        var out: [Double] = []
        for i in 0..<count {
            let value: Double = Double(i) * step + start
            out.append(i == count - 1 ? stop : value)
        }
        return out
    }

    /// 101-point interpolated AP of one class at one IoU threshold, from match flags in score order.
    package static func averagePrecision(_ isTruePositive: [Bool], positives: Int) -> Double {
        var precision: [Double] = []
        var recall: [Double] = []
        var tp = 0.0, fp = 0.0
        for hit in isTruePositive {
            if hit { tp += 1 } else { fp += 1 }
            recall.append(tp / Double(positives))
            precision.append(tp / (fp + tp + Double.ulpOfOne))
        }
        if precision.count > 1 {
            for i in stride(from: precision.count - 1, to: 0, by: -1) where precision[i] > precision[i - 1] {
                precision[i - 1] = precision[i]
            }
        }
        var sum = 0.0
        for threshold in recallThresholds {
            // searchsorted(side='left'): first index with recall >= threshold; beyond the end counts 0.
            var lo = 0, hi = recall.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if recall[mid] < threshold { lo = mid + 1 } else { hi = mid }
            }
            if lo < precision.count { sum += precision[lo] }
        }
        return sum / Double(recallThresholds.count)
    }

    /// pycocotools maskApi bbIou on (x, y, w, h) boxes, no crowd: 0 when the overlap is not positive on an axis.
    package static func cocoIoU(_ d: Box, _ g: Box) -> Double {
        let dw = d.x2 - d.x1, dh = d.y2 - d.y1, gw = g.x2 - g.x1, gh = g.y2 - g.y1
        let w = min(d.x1 + dw, g.x1 + gw) - max(d.x1, g.x1)
        if w <= 0 { return 0 }
        let h = min(d.y1 + dh, g.y1 + gh) - max(d.y1, g.y1)
        if h <= 0 { return 0 }
        let inter = w * h
        return inter / (dw * dh + gw * gh - inter)
    }
}
