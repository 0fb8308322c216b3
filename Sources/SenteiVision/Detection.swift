/// An axis-aligned box in pixels, corners (x1, y1) top-left and (x2, y2) bottom-right.
public struct Box: Sendable, Equatable, Codable {
    public var x1: Double
    public var y1: Double
    public var x2: Double
    public var y2: Double

    public init(x1: Double, y1: Double, x2: Double, y2: Double) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    public var width: Double { x2 - x1 }
    public var height: Double { y2 - y1 }
    public var area: Double { max(0, x2 - x1) * max(0, y2 - y1) }

    /// Intersection over union; 0 when either box is empty.
    public func iou(_ other: Box) -> Double {
        let iw = max(0, min(x2, other.x2) - max(x1, other.x1))
        let ih = max(0, min(y2, other.y2) - max(y1, other.y1))
        let inter = iw * ih
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }
}

/// One detected object in original image pixels.
public struct Detection: Sendable, Equatable {
    public var classIndex: Int
    public var label: String
    public var score: Double
    public var box: Box

    public init(classIndex: Int, label: String, score: Double, box: Box) {
        self.classIndex = classIndex
        self.label = label
        self.score = score
        self.box = box
    }
}

/// Thresholds and filters applied after the head decode.
public struct DetectionOptions: Sendable, Equatable {
    /// Keep candidates with score ≥ this (score = objectness × class for YOLOX, class score for Ultralytics).
    public var scoreThreshold: Float
    /// Per-class overrides of `scoreThreshold`, by class index.
    public var classThresholds: [Int: Float]
    /// Greedy NMS suppresses a box whose IoU with a better box of the same class is > this.
    public var iouThreshold: Float
    /// Only these class indices, or all when nil.
    public var classFilter: Set<Int>?
    /// At most this many detections per image, best first.
    public var maxDetections: Int

    public init(scoreThreshold: Float = 0.25, classThresholds: [Int: Float] = [:], iouThreshold: Float = 0.45,
                classFilter: Set<Int>? = nil, maxDetections: Int = 300) {
        self.scoreThreshold = scoreThreshold
        self.classThresholds = classThresholds
        self.iouThreshold = iouThreshold
        self.classFilter = classFilter
        self.maxDetections = maxDetections
    }

    /// Class indices for names such as `["person", "car"]`; an unknown name is an error naming it.
    public static func classIndices(_ names: [String], labels: [String]) throws -> Set<Int> {
        var out = Set<Int>()
        for name in names {
            let trimmed = String(name.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
            guard let index = labels.firstIndex(of: trimmed) else {
                throw VisionError(.unknownClass, "unknown class '\(trimmed)'; the model's classes are: \(labels.joined(separator: ", "))")
            }
            out.insert(index)
        }
        return out
    }
}
