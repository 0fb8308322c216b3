import SenteiCapture
import SenteiEngine
import SenteiVision

/// Milliseconds each stage of one frame took.
struct StageTimes {
    var decodeMs = 0.0
    var inferMs = 0.0
    var postprocessMs = 0.0
}

/// Runs one ladder level on the processing thread: decode (DCT-scaled for this level's size) → letterbox straight
/// into the model's input buffer → run → head decode → NMS → frame pixels. Holds per-level scratch (letterbox rows),
/// so switching levels allocates nothing and a frame in flight only ever touches its own level's buffers.
final class LevelRunner {
    let level: LadderLevel
    /// Replaced between frames on a config reload (processing thread only).
    var options: DetectionOptions
    private let letterboxer: Letterboxer
    private let head: DetectionHead
    private let outputIndex: Int
    private let labels: [String]
    private let clock: any MonotonicClock
    /// One thread or all, from measured times (processing thread only).
    private(set) var threadMode: ThreadModeChooser
    /// Threads the level's inference prefers now (exploring frames aside).
    var inferenceThreads: Int { threadMode.prefersSingle ? 1 : level.model.threads }

    init(level: LadderLevel, options: DetectionOptions, clock: any MonotonicClock) throws {
        guard let outputIndex = level.model.outputs.firstIndex(where: { $0.name == level.manifest.output.name }) else {
            throw ControllerError("\(level.name): the model has no output '\(level.manifest.output.name)'")
        }
        self.level = level
        self.options = options
        self.letterboxer = Letterboxer(spec: level.manifest.letterboxSpec)
        self.head = DetectionHead(manifest: level.manifest)
        self.outputIndex = outputIndex
        self.labels = level.manifest.classNames
        self.clock = clock
        self.threadMode = ThreadModeChooser(threads: level.model.threads)
    }

    func detect(_ frame: Frame, decoder: JPEGDecoder, times: inout StageTimes) throws -> [Detection] {
        let single = threadMode.nextRunsSingle()
        if level.model.singleThreaded != single { level.model.singleThreaded = single }
        let t0 = clock.nowNs()
        let spec = letterboxer.spec
        let outputShape = level.manifest.output.shape
        var candidates: [Candidate] = []
        var mapping: LetterboxMapping?
        var t1 = t0, t2 = t0
        let fill = { (input: UnsafeMutableBufferPointer<Float>, pixels: PixelBuffer, width: Int, height: Int) in
            mapping = self.letterboxer.letterbox(pixels, into: input, originalWidth: width, originalHeight: height)
        }
        switch frame.format {
        case .mjpeg:
            let image = try frame.bytes.withUnsafeBytes { try decoder.decode($0, name: "frame \(frame.sequence)", for: spec) }
            t1 = clock.nowNs()
            try image.withPixelBuffer { pixels in
                candidates = try level.model.run(fill: { fill($0, pixels, image.originalWidth, image.originalHeight) }) {
                    t2 = clock.nowNs()
                    return try head.decode($0[outputIndex], shape: outputShape, options: options)
                }
            }
        default:
            let format = try visionFormat(frame.format)
            try frame.bytes.withUnsafeBytes { bytes in
                let pixels = try PixelBuffer(bytes: bytes, format: format, width: frame.width, height: frame.height,
                                             bytesPerLine: frame.bytesPerLine, name: "frame \(frame.sequence)")
                t1 = clock.nowNs()
                candidates = try level.model.run(fill: { fill($0, pixels, frame.width, frame.height) }) {
                    t2 = clock.nowNs()
                    return try head.decode($0[outputIndex], shape: outputShape, options: options)
                }
            }
        }
        guard let mapping else { return [] }
        let kept = nonMaxSuppression(candidates, iouThreshold: options.iouThreshold, limit: options.maxDetections)
        let detections = kept.map { i in
            let c = candidates[i]
            return Detection(classIndex: c.classIndex, label: c.classIndex < labels.count ? labels[c.classIndex] : "\(c.classIndex)",
                             score: Double(c.score), box: mapping.toOriginal(c.box))
        }
        let t3 = clock.nowNs()
        // Letterboxing happens inside the model's fill closure, so it is counted with inference.
        times.decodeMs = Double(t1 - t0) / 1e6
        times.inferMs = Double(t2 - t1) / 1e6
        times.postprocessMs = Double(t3 - t2) / 1e6
        threadMode.record(single: single, inferMs: times.inferMs)
        return detections
    }
}

/// Capture's pixel formats as vision names them; compressed or unknown ones other than MJPEG cannot be processed.
func visionFormat(_ format: SenteiCapture.PixelFormat) throws -> SenteiVision.PixelFormat {
    switch format {
    case .yuyv: return .yuyv
    case .nv12: return .nv12
    case .yu12: return .yu12
    case .grey: return .grey
    case .mjpeg, .other: throw VisionError(.invalidFrame, "frames in \(format) cannot be processed")
    }
}
