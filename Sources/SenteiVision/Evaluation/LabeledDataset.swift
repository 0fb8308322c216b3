#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// Images with ground truth, in a fixed order (sorted paths): what `Evaluator` runs over.
public struct LabeledDataset: Sendable {
    public struct Image: Sendable {
        public var path: String
        public var groundTruth: [GroundTruth]
    }

    public var images: [Image]
    /// True for a MOTChallenge sequence: only the person class (index 0) is evaluated.
    public var personOnly: Bool

    /// A YOLO-format dataset: `root/images/**.jpg` with `root/labels/**.txt` beside them (same relative path, .txt),
    /// one "class cx cy w h" line per box, normalised to 0–1. An image without a label file has no objects.
    /// Box pixels need the image size, which is read from the JPEG header; an unreadable image is an error.
    public static func yolo(root: String) throws -> LabeledDataset {
        let imagesDir = root + "/images"
        let relative = try listJPEGs(under: imagesDir)
        guard !relative.isEmpty else {
            throw VisionError(.invalidDataset, "\(imagesDir): no .jpg images found")
        }
        let decoder = try JPEGDecoder()
        var images: [Image] = []
        for rel in relative {
            let path = imagesDir + "/" + rel
            let (width, height) = try readFile(path).withUnsafeBytes { try decoder.size(of: $0, name: path) }
            let labelPath = root + "/labels/" + stripExtension(rel) + ".txt"
            var boxes: [GroundTruth] = []
            if FileManager.default.fileExists(atPath: labelPath) {
                boxes = try parseYOLOLabels(String(decoding: try readFile(labelPath), as: UTF8.self), name: labelPath,
                                            width: Double(width), height: Double(height))
            }
            images.append(Image(path: path, groundTruth: boxes))
        }
        return LabeledDataset(images: images, personOnly: false)
    }

    /// A MOTChallenge sequence: frames in `root/img1` or `root/frames` (named by frame number) and `root/gt/gt.txt` or
    /// `root/gt.txt` with rows "frame,id,x,y,w,h,conf,class,visibility". Rows with conf 0 (ignore regions) or a class
    /// other than −1 (MOT15: unlabelled, all pedestrians) or 1 (MOT16+: pedestrian) are dropped; boxes are used as
    /// written (MOT's 1-based top-left, as the MOT devkit does).
    public static func mot(root: String) throws -> LabeledDataset {
        let fm = FileManager.default
        let framesDir = fm.fileExists(atPath: root + "/img1") ? root + "/img1" : root + "/frames"
        let gtPath = fm.fileExists(atPath: root + "/gt/gt.txt") ? root + "/gt/gt.txt" : root + "/gt.txt"
        let frames = try listJPEGs(under: framesDir)
        guard !frames.isEmpty else { throw VisionError(.invalidDataset, "\(framesDir): no .jpg frames found") }
        var byFrame: [Int: Int] = [:]
        var images: [Image] = []
        for (i, name) in frames.enumerated() {
            guard let number = Int(stripExtension(name.split(separator: "/").last.map(String.init) ?? name)) else {
                throw VisionError(.invalidDataset, "\(framesDir)/\(name): frame file name is not a frame number")
            }
            byFrame[number] = i
            images.append(Image(path: framesDir + "/" + name, groundTruth: []))
        }
        let text = String(decoding: try readFile(gtPath), as: UTF8.self)
        for (lineIndex, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
        where !line.allSatisfy({ $0 == " " }) {
            let fields = line.split(separator: ",").map { Double($0.trimmingSpaces()) }
            guard fields.count >= 6, fields.allSatisfy({ $0 != nil }) else {
                throw VisionError(.invalidDataset, "\(gtPath):\(lineIndex + 1): expected numbers 'frame,id,x,y,w,h[,conf,class,vis]', got '\(line)'")
            }
            let v = fields.map { $0! }
            let conf = v.count > 6 ? v[6] : 1, cls = v.count > 7 ? Int(v[7]) : -1
            guard conf != 0, cls == -1 || cls == 1, let image = byFrame[Int(v[0])] else { continue }
            images[image].groundTruth.append(
                GroundTruth(classIndex: 0, box: Box(x1: v[2], y1: v[3], x2: v[2] + v[4], y2: v[3] + v[5])))
        }
        return LabeledDataset(images: images, personOnly: true)
    }

    /// Only the frames whose file name is a frame number in `frames` (a MOT sequence's test part, e.g. 41…71).
    /// Throws when none is left, so a mistyped range cannot score an empty set.
    public func restricted(toFrames frames: ClosedRange<Int>) throws -> LabeledDataset {
        var out = self
        out.images = images.filter { image in
            let name = image.path.split(separator: "/").last.map(String.init) ?? image.path
            return Int(stripExtension(name)).map { frames.contains($0) } ?? false
        }
        guard !out.images.isEmpty else {
            throw VisionError(.invalidDataset, "no frame numbered \(frames.lowerBound)…\(frames.upperBound) in the sequence")
        }
        return out
    }
}

/// Parses YOLO label text; a malformed line is an error naming the file and line.
package func parseYOLOLabels(_ text: String, name: String, width: Double, height: Double) throws -> [GroundTruth] {
    var out: [GroundTruth] = []
    // isNewline, not "\n": Swift reads "\r\n" as one Character.
    for (lineIndex, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if fields.isEmpty { continue }
        guard fields.count == 5, let cls = Int(fields[0]), cls >= 0,
              let cx = Double(fields[1]), let cy = Double(fields[2]), let w = Double(fields[3]), let h = Double(fields[4]),
              w >= 0, h >= 0 else {
            throw VisionError(.invalidDataset, "\(name):\(lineIndex + 1): expected 'class cx cy w h', got '\(line)'")
        }
        // Same arithmetic as vision_cocoeval.py: x = (cx − w/2)·W, box width = w·W.
        let x = (cx - w / 2) * width, y = (cy - h / 2) * height
        out.append(GroundTruth(classIndex: cls, box: Box(x1: x, y1: y, x2: x + w * width, y2: y + h * height)))
    }
    return out
}

/// Sorted relative paths of .jpg/.jpeg files under `dir` (recursively).
package func listJPEGs(under dir: String) throws -> [String] {
    try listFiles(under: dir) { item in
        let lower = item.lowercased()
        return lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg")
    }
}

/// Sorted relative paths under `dir` (recursively) that `include` accepts.
package func listFiles(under dir: String, where include: (String) -> Bool) throws -> [String] {
    let items: [String]
    do {
        items = try FileManager.default.subpathsOfDirectory(atPath: dir)
    } catch {
        throw VisionError(.invalidDataset, "\(dir): not a readable directory (\(error))")
    }
    return items.filter(include).sorted()
}

package func stripExtension(_ path: String) -> String {
    guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return path }
    return String(path[..<dot])
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " || s.last == "\r" { s.removeLast() }
        return s
    }
}
