import ArgumentParser
import Foundation
import SenteiEngine
import SenteiPrune
import SenteiVision

/// Model + thresholds shared by `detect` and `eval`.
struct DetectorOptions: ParsableArguments {
    @Option(name: .long, help: "A model manifest (Models/yolox_nano.json), an ONNX file whose manifest is in ./Models, or a ladder directory.")
    var model: String

    @Option(name: .long, help: "With a ladder directory: the level to run (default: its most accurate Pareto level).")
    var level: String?

    @Option(name: .long, help: "The ONNX file, when not next to the manifest or in $SENTEI_SHARED/models or ../shared/models.")
    var onnx: String?

    @Option(name: .long, help: "Threads for the engine; default: one per core.")
    var threads: Int?

    @Option(name: .long, help: "Only these classes, by name (e.g. person,car).")
    var classes: String?

    @Option(name: .long, help: "NMS IoU threshold.")
    var nms: Float?

    @Option(name: .long, help: "At most this many detections per image.")
    var maxDet: Int = 300

    @Option(name: .long, help: "Run in mixed int8/fp32 with this quantization table (from `sentei quantize`).")
    var int8: String?

    func manifestAndModelPath() throws -> (ModelManifest, String) {
        let fm = FileManager.default
        if model.hasSuffix(".onnx") {
            let file = (model as NSString).lastPathComponent
            let dir = "Models"
            let candidates = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
            for name in candidates {
                let manifest = try ModelManifest.load(path: dir + "/" + name)
                if manifest.file == file { return (manifest, onnx ?? model) }
            }
            throw ValidationError("no manifest in ./Models names '\(file)'; pass the manifest with --model Models/<name>.json")
        }
        let manifest = try ModelManifest.load(path: model)
        if let onnx { return (manifest, onnx) }
        let manifestDir = (model as NSString).deletingLastPathComponent
        var places = [manifestDir.isEmpty ? "." : manifestDir]
        if let shared = ProcessInfo.processInfo.environment["SENTEI_SHARED"] { places.append(shared + "/models") }
        places += ["../shared/models", (manifestDir.isEmpty ? "." : manifestDir) + "/../../shared/models"]
        for place in places where fm.fileExists(atPath: place + "/" + manifest.file) {
            return (manifest, place + "/" + manifest.file)
        }
        throw ValidationError("cannot find \(manifest.file) (looked in \(places.joined(separator: ", "))); pass --onnx")
    }

    func makeDetector(defaultThreshold: Float, threshold: Float?, defaultNMS: Float) throws -> Detector {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        let selection = try ModelResolution.ladderSelection(model: model, level: level)
        let (manifest, path) = try selection.map { (try $0.detectorManifest(), $0.modelPath) } ?? manifestAndModelPath()
        let filter = try classes.map {
            try DetectionOptions.classIndices($0.split(separator: ",").map(String.init), labels: manifest.classNames)
        }
        let options = DetectionOptions(scoreThreshold: threshold ?? defaultThreshold, iouThreshold: nms ?? defaultNMS,
                                       classFilter: filter, maxDetections: maxDet)
        let quantization = try selection?.quantizationTable(override: int8) ?? int8.map { try QuantizationTable.load(path: $0) }
        let model = try Model(path: path, options: .init(threads: threads, quantization: quantization))
        return try Detector(manifest: manifest, model: model, options: options)
    }
}

/// JPEG paths from files and directories (directories are searched recursively, sorted).
func jpegPaths(_ arguments: [String]) -> [String] {
    var out: [String] = []
    let fm = FileManager.default
    for arg in arguments {
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: arg, isDirectory: &isDir), isDir.boolValue {
            let items = (try? fm.subpathsOfDirectory(atPath: arg)) ?? []
            out += items.filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".jpeg") }.sorted()
                .map { arg + "/" + $0 }
        } else {
            out.append(arg)
        }
    }
    return out
}

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect", abstract: "Detect objects in JPEG images; one line (or JSON line) per image.")

    @OptionGroup var detector: DetectorOptions

    @Option(name: .long, help: "Score threshold (default 0.25).")
    var threshold: Float?

    @Flag(name: .long, help: "Print one JSON object per image.")
    var json = false

    @Option(name: .long, help: "Also write each image with boxes and labels drawn, as JPEG, into this directory.")
    var annotate: String?

    @Argument(help: "JPEG files or directories.")
    var images: [String]

    func run() throws {
        let detector = try self.detector.makeDetector(defaultThreshold: 0.25, threshold: threshold, defaultNMS: 0.45)
        let decoder = try JPEGDecoder()
        let encoder = try JPEGEncoder()
        if let annotate { try FileManager.default.createDirectory(atPath: annotate, withIntermediateDirectories: true) }
        var failures = 0
        for path in jpegPaths(images) {
            do {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw VisionError(.io, "\(path): cannot read the file")
                }
                let bytes = [UInt8](data)
                let result = try detector.detect(jpeg: bytes, name: path)
                if json {
                    print(result.jsonLine)
                } else {
                    let list = result.detections.map { d in
                        "\(d.label) \(String(format: "%.2f", d.score)) [\([d.box.x1, d.box.y1, d.box.x2, d.box.y2].map { String(format: "%.0f", $0) }.joined(separator: " "))]"
                    }
                    print("\(path) \(result.width)x\(result.height): \(result.detections.count) detections\(list.isEmpty ? "" : ": ")\(list.joined(separator: ", "))")
                }
                if let annotate {
                    var image = try decoder.decode(bytes, name: path, order: .rgb)
                    Annotator.draw(result.detections, on: &image)
                    let out = annotate + "/" + (path as NSString).lastPathComponent
                    guard FileManager.default.createFile(atPath: out, contents: Data(try encoder.encode(image))) else {
                        throw VisionError(.io, "\(out): cannot write the annotated image")
                    }
                }
            } catch {
                failures += 1
                if json { print("{\"image\": \(jsonQuoted(path)), \"error\": \(jsonQuoted("\(error)"))}") }
                FileHandle.standardError.write(Data("sentei detect: \(error)\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode(2) }
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "COCO mAP over a YOLO-format dataset (images/ + labels/), or person AP over a MOTChallenge sequence (gt.txt).")

    @OptionGroup var detector: DetectorOptions

    @Option(name: .long, help: "Score threshold (default 0.01, as COCO evaluation).")
    var threshold: Float?

    @Option(name: .long, help: "Dataset root: images/ + labels/, or a MOTChallenge sequence with gt.txt or gt/gt.txt.")
    var data: String

    @Option(name: .long, help: "MOT sequence: score only frames FIRST-LAST by frame number, e.g. 41-71 (a test split).")
    var frames: String?

    @Option(name: .long, help: "Write the detections, one JSON line per image, to this file (for pycocotools).")
    var detections: String?

    @Flag(name: .long, help: "Print the result as one JSON object.")
    var json = false

    func run() throws {
        let fm = FileManager.default
        let isMOT = fm.fileExists(atPath: data + "/gt.txt") || fm.fileExists(atPath: data + "/gt/gt.txt")
        if frames != nil && !isMOT { throw ValidationError("--frames needs a MOTChallenge sequence (gt.txt); \(data) has none") }
        var dataset = isMOT ? try LabeledDataset.mot(root: data) : try LabeledDataset.yolo(root: data)
        if let frames { dataset = try dataset.restricted(toFrames: parseRange(frames, option: "--frames")) }
        let detector = try self.detector.makeDetector(defaultThreshold: 0.01, threshold: threshold, defaultNMS: 0.65)
        let run = Evaluator.run(dataset: dataset, detector: detector)
        for failure in run.failures {
            FileHandle.standardError.write(Data("sentei eval: \(failure.message)\n".utf8))
        }
        if let detections {
            let lines = run.detections.compactMap { $0?.jsonLine }.joined(separator: "\n") + "\n"
            guard fm.createFile(atPath: detections, contents: Data(lines.utf8)) else {
                throw VisionError(.io, "\(detections): cannot write the detections")
            }
        }
        let labels = dataset.personOnly ? ["person"] : detector.manifest.classNames
        if json {
            print(run.result.jsonLine(labels: labels))
        } else {
            print(String(format: "%@: %d images, mAP@[.5:.95] %.4f, mAP@.5 %.4f (%d classes with ground truth)",
                         data, run.result.images, run.result.map50_95, run.result.map50, run.result.perClass.count))
        }
        if !run.failures.isEmpty { throw ExitCode(2) }
    }
}

private func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out += c.value < 0x20 ? String(format: "\\u%04x", c.value) : String(c)
        }
    }
    return out + "\""
}
