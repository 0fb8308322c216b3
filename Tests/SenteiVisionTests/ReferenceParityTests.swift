#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SenteiEngine
import Testing
import SenteiVision

/// Our pre/post-processing against scripts/reference/vision_reference.py, with ONNX Runtime's outputs standing in
/// for the model. Opt-in: `SENTEI_VISION_ORT_DUMP=<dir>` holding `<stem>.input.f32`, `<stem>.output.f32` and
/// `reference.jsonl`, written by `vision_reference.py --threshold 0.01 --nms 0.65 --max-det 300 --dump <dir>
/// --out <dir>/reference.jsonl <coco128>/images`. Writes our detections to `<dir>/swift.jsonl` and our mAP to
/// `<dir>/swift_eval.json` so vision_check.sh can compare them with pycocotools.
@Suite(.enabled(if: environment("SENTEI_VISION_ORT_DUMP") != nil && sharedRoot != nil,
                "set SENTEI_VISION_ORT_DUMP (see scripts/reference/vision_check.sh) and provide shared data"))
struct ReferenceParityTests {
    let dump = environment("SENTEI_VISION_ORT_DUMP") ?? ""

    func floats(_ path: String) throws -> [Float] {
        let bytes = try readFile(path)
        var out = [Float](repeating: 0, count: bytes.count / 4)
        out.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<dst.count])) } }
        return out
    }

    struct ReferenceLine: Decodable {
        struct Det: Decodable { var `class`: Int; var score: Double; var box: [Double] }
        var image: String
        var detections: [Det]?
    }

    @Test func coco128MatchesReference() throws {
        let manifest = try loadYOLOXManifest()
        let dataset = try LabeledDataset.yolo(root: sharedRoot! + "/data/coco128")
        var reference: [String: [ReferenceLine.Det]] = [:]
        let text = String(decoding: try readFile(dump + "/reference.jsonl"), as: UTF8.self)
        for line in text.split(separator: "\n") {
            let rec = try JSONDecoder().decode(ReferenceLine.self, from: Data(line.utf8))
            reference[stripExtension(String(rec.image.split(separator: "/").last!))] = rec.detections ?? []
        }
        var worstInput: Float = 0
        var current = ""
        let detector = try Detector(
            manifest: manifest, options: DetectionOptions(scoreThreshold: 0.01, iouThreshold: 0.65, maxDetections: 300)
        ) { input in
            let expected = try floats(dump + "/\(current).input.f32")
            let diff = zip(input.data, expected).map { abs($0 - $1) }
            let worst = diff.max() ?? .infinity
            if worst > 1e-3, let at = diff.firstIndex(of: worst) {
                print("parity: \(current) input differs by \(worst) at \(at) (ours \(input.data[at]), reference \(expected[at]))")
            }
            worstInput = max(worstInput, worst)
            return Tensor(shape: manifest.output.shape, data: try floats(dump + "/\(current).output.f32"))
        }
        detector.allowDCTScaling = false
        var lines: [String] = []
        var all: [[Detection]] = []
        var matched = 0, total = 0, unmatched: [String] = []
        for image in dataset.images {
            current = stripExtension(String(image.path.split(separator: "/").last!))
            let ours = try detector.detect(jpeg: try readFile(image.path), name: image.path)
            lines.append(ours.jsonLine)
            all.append(ours.detections)
            let theirs = try #require(reference[current], "no reference line for \(current)")
            total += max(theirs.count, ours.detections.count)
            // Each reference detection must have a same-class partner with IoU ≥ 0.99 and |Δscore| ≤ 0.01.
            var used = Set<Int>()
            for t in theirs {
                let tb = Box(x1: t.box[0], y1: t.box[1], x2: t.box[2], y2: t.box[3])
                if let j = ours.detections.indices.first(where: {
                    !used.contains($0) && ours.detections[$0].classIndex == t.class
                        && ours.detections[$0].box.iou(tb) >= 0.99 && abs(ours.detections[$0].score - t.score) <= 0.01
                }) {
                    used.insert(j)
                    matched += 1
                } else {
                    unmatched.append("\(current): class \(t.class) score \(t.score) box \(t.box)")
                }
            }
            if ours.detections.count != theirs.count {
                unmatched.append("\(current): \(ours.detections.count) detections, reference \(theirs.count)")
            }
        }
        print("parity: input max |Δ| \(worstInput); \(matched) of \(total) detections matched; \(unmatched.count) problems")
        for u in unmatched.prefix(10) { print("  \(u)") }
        #expect(worstInput <= 1e-3)
        #expect(unmatched.isEmpty)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dump + "/swift.jsonl"))
        let result = Evaluator.evaluate(dataset: dataset, detections: all, classCount: manifest.classCount)
        try Data((result.jsonLine(labels: manifest.classNames) + "\n").utf8)
            .write(to: URL(fileURLWithPath: dump + "/swift_eval.json"))
        print("parity: our mAP@[.5:.95] \(result.map50_95), mAP@.5 \(result.map50)")
    }
}
