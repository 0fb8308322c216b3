public import SenteiEngine

/// One image's result, as `sentei detect --json` prints it.
public struct ImageDetections: Sendable {
    public var image: String
    public var width: Int
    public var height: Int
    public var detections: [Detection]
}

/// Pixels in, detections out, for one model: decode/convert + letterbox, run the model (an engine `Model`, or any
/// closure from input to output tensor), decode the head, NMS, map back to original pixels.
///
/// Holds a JPEG decoder and letterbox scratch buffers: one detector per thread.
public final class Detector {
    /// How the model is run: an engine `Model` (the letterbox writes straight into its input buffer) or any closure
    /// from input tensor to output tensor (tests, other runtimes).
    private enum Backend {
        case model(Model, outputIndex: Int)
        case closure((Tensor) throws -> Tensor)
    }

    public let manifest: ModelManifest
    public var options: DetectionOptions
    private let backend: Backend
    private let head: DetectionHead
    private let letterboxer: Letterboxer
    private let decoder: JPEGDecoder
    /// DCT-downscale large JPEGs (on by default; parity checks against a full-size reference switch it off).
    public var allowDCTScaling = true

    /// `infer` runs the model on the [1, 3, H, W] input and returns the output named in the manifest.
    public init(manifest: ModelManifest, options: DetectionOptions = DetectionOptions(),
                infer: @escaping (Tensor) throws -> Tensor) throws {
        try manifest.validate(name: manifest.name)
        self.manifest = manifest
        self.options = options
        self.backend = .closure(infer)
        self.head = DetectionHead(manifest: manifest)
        self.letterboxer = Letterboxer(spec: manifest.letterboxSpec)
        self.decoder = try JPEGDecoder()
    }

    /// Runs `model` through the engine after checking it against the manifest (input/output names and shapes).
    public init(manifest: ModelManifest, model: Model, options: DetectionOptions = DetectionOptions()) throws {
        try manifest.validate(name: manifest.name)
        try manifest.verify(model: model)
        guard model.inputs.count == 1, let outputIndex = model.outputs.firstIndex(where: { $0.name == manifest.output.name })
        else {
            throw VisionError(.manifestMismatch, "\(manifest.name): the model must have one input and an output named '\(manifest.output.name)'")
        }
        self.manifest = manifest
        self.options = options
        self.backend = .model(model, outputIndex: outputIndex)
        self.head = DetectionHead(manifest: manifest)
        self.letterboxer = Letterboxer(spec: manifest.letterboxSpec)
        self.decoder = try JPEGDecoder()
    }

    /// Decodes a JPEG (DCT-scaled when it is much larger than the input) and letterboxes it.
    public func prepare(jpeg: UnsafeRawBufferPointer, name: String) throws -> InputTensor {
        let spec = manifest.letterboxSpec
        let image = allowDCTScaling ? try decoder.decode(jpeg, name: name, for: spec)
            : try decoder.decode(jpeg, name: name, order: spec.colourOrder)
        return try image.withPixelBuffer {
            letterboxer.letterbox($0, originalWidth: image.originalWidth, originalHeight: image.originalHeight)
        }
    }

    public func prepare(frame: PixelBuffer) -> InputTensor { letterboxer.letterbox(frame) }

    public func detect(jpeg: UnsafeRawBufferPointer, name: String) throws -> ImageDetections {
        let spec = manifest.letterboxSpec
        let image = allowDCTScaling ? try decoder.decode(jpeg, name: name, for: spec)
            : try decoder.decode(jpeg, name: name, order: spec.colourOrder)
        let detections = try image.withPixelBuffer {
            try run($0, originalWidth: image.originalWidth, originalHeight: image.originalHeight)
        }
        return ImageDetections(image: name, width: image.originalWidth, height: image.originalHeight,
                               detections: detections)
    }

    public func detect(jpeg: [UInt8], name: String) throws -> ImageDetections {
        try jpeg.withUnsafeBytes { try detect(jpeg: $0, name: name) }
    }

    public func detect(frame: PixelBuffer) throws -> [Detection] {
        try run(frame, originalWidth: frame.width, originalHeight: frame.height)
    }

    private func run(_ frame: PixelBuffer, originalWidth: Int, originalHeight: Int) throws -> [Detection] {
        switch backend {
        case .closure(let infer):
            let input = letterboxer.letterbox(frame, originalWidth: originalWidth, originalHeight: originalHeight)
            return try postprocess(try infer(input.tensor), mapping: input.mapping)
        case .model(let model, let outputIndex):
            var mapping: LetterboxMapping?
            return try model.run(fill: { input in
                mapping = letterboxer.letterbox(frame, into: input, originalWidth: originalWidth,
                                                originalHeight: originalHeight)
            }) { outputs in
                try postprocess(outputs[outputIndex], shape: manifest.output.shape, mapping: mapping!)
            }
        }
    }

    /// Head decode, thresholds, NMS, mapping back to original pixels and clipping.
    public func postprocess(_ output: Tensor, mapping: LetterboxMapping) throws -> [Detection] {
        try output.data.withUnsafeBufferPointer { try postprocess($0, shape: output.shape, mapping: mapping) }
    }

    public func postprocess(_ output: UnsafeBufferPointer<Float>, shape: [Int], mapping: LetterboxMapping) throws
        -> [Detection]
    {
        let candidates = try head.decode(output, shape: shape, options: options)
        let kept = nonMaxSuppression(candidates, iouThreshold: options.iouThreshold, limit: options.maxDetections)
        let labels = manifest.classNames
        return kept.map { i in
            let c = candidates[i]
            return Detection(classIndex: c.classIndex, label: c.classIndex < labels.count ? labels[c.classIndex] : "\(c.classIndex)",
                             score: Double(c.score), box: mapping.toOriginal(c.box))
        }
    }
}
