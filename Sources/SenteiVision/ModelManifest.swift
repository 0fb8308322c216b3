public import SenteiEngine
#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// Which decoder turns the raw output tensor into boxes.
public enum HeadKind: String, Codable, Sendable {
    /// YOLOX: [1, N, 5 + C] of raw (x, y, log w, log h) per anchor plus sigmoided objectness and class scores.
    case yolox
    /// Ultralytics YOLOv8/YOLO11: [1, 4 + C, N] of decoded (cx, cy, w, h) in input pixels plus class scores.
    case ultralytics
}

/// Order of the output's last two axes: anchors × channels (YOLOX) or channels × anchors (Ultralytics).
public enum OutputLayout: String, Codable, Sendable {
    case nac = "NAC"
    case nca = "NCA"
}

/// Everything the vision code needs to know about a detection model, read from `Models/<name>.json`.
public struct ModelManifest: Codable, Sendable, Equatable {
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        /// [1, 3, H, W].
        public var shape: [Int]
        /// Only "NCHW" is supported.
        public var layout: String
        public var colourOrder: ColourOrder
        /// [0, 255] or [0, 1]: what a 255 pixel becomes.
        public var valueRange: [Float]
    }

    public struct Letterbox: Codable, Sendable, Equatable {
        public var placement: LetterboxPlacement
        public var padValue: Float
    }

    public struct Output: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var layout: OutputLayout
    }

    public struct Head: Codable, Sendable, Equatable {
        public var kind: HeadKind
        /// YOLOX grid strides, e.g. [8, 16, 32]; unused by Ultralytics heads.
        public var strides: [Int]?
    }

    public var name: String
    /// The ONNX file name, looked up next to the other shared models.
    public var file: String
    public var sha256: String
    public var licence: String
    public var source: String
    public var input: Input
    public var letterbox: Letterbox
    public var output: Output
    public var head: Head
    /// Class names inline, in model order …
    public var labels: [String]?
    /// … or a file of one name per line, relative to the manifest.
    public var labelsFile: String?

    /// Decodes and checks a manifest. Errors name the file and the field.
    public static func decode(_ data: [UInt8], name: String) throws -> ModelManifest {
        let manifest: ModelManifest
        do {
            manifest = try JSONDecoder().decode(ModelManifest.self, from: Data(data))
        } catch let error as DecodingError {
            throw VisionError(.invalidManifest, "\(name): \(describe(error))")
        } catch {
            throw VisionError(.invalidManifest, "\(name): \(error)")
        }
        try manifest.validate(name: name)
        return manifest
    }

    /// Loads `path`, resolving `labelsFile` relative to it.
    public static func load(path: String) throws -> ModelManifest {
        var manifest = try decode(try readFile(path), name: path)
        if manifest.labels == nil, let labelsFile = manifest.labelsFile {
            let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            let labelsPath = labelsFile.hasPrefix("/") || dir.isEmpty ? labelsFile : dir + "/" + labelsFile
            let text = String(decoding: try readFile(labelsPath), as: UTF8.self)
            manifest.labels = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            try manifest.validate(name: path)
        }
        return manifest
    }

    public var inputWidth: Int { input.shape[3] }
    public var inputHeight: Int { input.shape[2] }
    public var classNames: [String] { labels ?? [] }

    /// Class count the output implies: channels − 5 (YOLOX) or − 4 (Ultralytics).
    public var classCount: Int {
        let channels = output.layout == .nac ? output.shape[2] : output.shape[1]
        return channels - (head.kind == .yolox ? 5 : 4)
    }

    public var letterboxSpec: LetterboxSpec {
        LetterboxSpec(width: inputWidth, height: inputHeight, placement: letterbox.placement,
                      padValue: letterbox.padValue, colourOrder: input.colourOrder,
                      valueScale: input.valueRange[1] / 255)
    }

    /// Checks fields against each other; the error names the field.
    public func validate(name: String) throws {
        func fail(_ field: String, _ why: String) -> VisionError {
            VisionError(.invalidManifest, "\(name): field '\(field)' \(why)")
        }
        guard input.layout == "NCHW" else { throw fail("input.layout", "is '\(input.layout)', only NCHW is supported") }
        guard input.shape.count == 4, input.shape[0] == 1, input.shape[1] == 3,
              (1...8192).contains(input.shape[2]), (1...8192).contains(input.shape[3]) else {
            throw fail("input.shape", "is \(input.shape), expected [1, 3, H, W] with 1 ≤ H, W ≤ 8192")
        }
        guard input.valueRange.count == 2, input.valueRange[0] == 0, input.valueRange[1] > 0 else {
            throw fail("input.valueRange", "is \(input.valueRange), expected [0, 255] or [0, 1]")
        }
        guard (0...255).contains(letterbox.padValue) else {
            throw fail("letterbox.padValue", "is \(letterbox.padValue), expected 0…255")
        }
        guard output.shape.count == 3, output.shape[0] == 1, output.shape.allSatisfy({ $0 > 0 }) else {
            throw fail("output.shape", "is \(output.shape), expected [1, A, B]")
        }
        let expectedLayout: OutputLayout = head.kind == .yolox ? .nac : .nca
        guard output.layout == expectedLayout else {
            throw fail("output.layout", "is \(output.layout.rawValue), a \(head.kind.rawValue) head gives \(expectedLayout.rawValue)")
        }
        guard classCount > 0 else { throw fail("output.shape", "\(output.shape) leaves no class channels") }
        if head.kind == .yolox {
            guard let strides = head.strides, !strides.isEmpty, strides.allSatisfy({ $0 > 0 }) else {
                throw fail("head.strides", "must list the YOLOX grid strides, e.g. [8, 16, 32]")
            }
            let anchors = strides.reduce(0) { $0 + (inputHeight / $1) * (inputWidth / $1) }
            guard anchors == output.shape[1] else {
                throw fail("head.strides", "\(strides) give \(anchors) anchors for \(inputWidth)x\(inputHeight), output.shape says \(output.shape[1])")
            }
        }
        if let labels {
            guard labels.count == classCount else {
                throw fail("labels", "has \(labels.count) names, the output has \(classCount) classes")
            }
        } else if labelsFile == nil {
            throw fail("labels", "is missing (give 'labels' or 'labelsFile')")
        }
        guard sha256.count == 64, sha256.allSatisfy(\.isHexDigit) else {
            throw fail("sha256", "is not 64 hex digits")
        }
    }

    /// Checks a loaded model's inputs and outputs (name and shape of each, as the engine reports them) against the
    /// manifest. The error names the manifest field that differs and both values.
    public func verify(inputs: [(name: String, shape: [Int])], outputs: [(name: String, shape: [Int])]) throws {
        guard let modelInput = inputs.first(where: { $0.name == input.name }) else {
            throw VisionError(.manifestMismatch,
                "\(name): field 'input.name' is '\(input.name)', the model's inputs are \(inputs.map(\.name))")
        }
        guard modelInput.shape == input.shape else {
            throw VisionError(.manifestMismatch,
                "\(name): field 'input.shape' is \(input.shape), the model's '\(input.name)' is \(modelInput.shape)")
        }
        guard let modelOutput = outputs.first(where: { $0.name == output.name }) else {
            throw VisionError(.manifestMismatch,
                "\(name): field 'output.name' is '\(output.name)', the model's outputs are \(outputs.map(\.name))")
        }
        guard modelOutput.shape == output.shape else {
            throw VisionError(.manifestMismatch,
                "\(name): field 'output.shape' is \(output.shape), the model's '\(output.name)' is \(modelOutput.shape)")
        }
    }

    /// `verify(inputs:outputs:)` with an engine model's `inputs` and `outputs`.
    public func verify(model: Model) throws {
        try verify(inputs: model.inputs.map { ($0.name, $0.shape) }, outputs: model.outputs.map { ($0.name, $0.shape) })
    }
}

private func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacing(".[", with: "[")
    }
    switch error {
    case .keyNotFound(let key, let context):
        let parent = path(context.codingPath)
        return "field '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)' is missing"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
        return "field '\(path(context.codingPath))' has the wrong type: \(context.debugDescription)"
    case .dataCorrupted(let context):
        let at = path(context.codingPath)
        return at.isEmpty ? "not valid JSON: \(context.debugDescription)"
            : "field '\(at)' is invalid: \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

/// Reads a whole file; the error names the path.
package func readFile(_ path: String) throws -> [UInt8] {
    do {
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        throw VisionError(.io, "cannot read \(path): \(error)")
    }
}
