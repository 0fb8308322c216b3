public import SenteiVision

/// One camera's pipeline settings; the config file's per-camera tables map onto it.
public struct PipelineConfig: Sendable {
    /// Camera name used in every event and log line.
    public var camera: String
    /// Frames waiting between capture and processing; when full the oldest is dropped. Default 1: the processing
    /// thread always takes the newest frame, so queueing adds at most one frame's processing time to latency.
    public var queueCapacity: Int = 1
    /// Seconds between `stats` events; default 5.
    public var statsIntervalS: Double = 5
    /// Score/IoU thresholds and class filter for the detector.
    public var detection = DetectionOptions()
    public var tracker = TrackerConfig()
    public var controller = ControllerConfig()
    /// Emit a `detections` event per processed frame (tracks are always emitted). Default true.
    public var emitDetections = true
    /// Keep sampled frames for self-pruning; nil = off.
    public var calibration: CalibrationConfig?
    /// Timed runs per level for the start-up profile (after one warm-up run); the median is kept. Default 3.
    public var profileRuns: Int = 3
    /// Seconds between power meter readings; default 0.5.
    public var powerSampleIntervalS: Double = 0.5

    public init(camera: String) {
        self.camera = camera
    }
}

/// Running totals of one pipeline, readable from any thread.
public struct PipelineCounters: Sendable, Equatable {
    /// Frames the source delivered.
    public var cameraFrames: UInt64 = 0
    public var processedFrames: UInt64 = 0
    /// Frames left out on purpose (the controller's even skipping).
    public var skippedFrames: UInt64 = 0
    /// Frames lost: dropped by the full queue (oldest first) plus the source's own sequence gaps.
    public var droppedFrames: UInt64 = 0
    /// Frames that failed to decode or run (corrupt JPEG…); the pipeline goes on.
    public var failedFrames: UInt64 = 0
}

/// What a config reload hands a running pipeline (see `CameraPipeline.reconfigure(_:)`).
public struct PipelineUpdate: @unchecked Sendable {
    public var controller: ControllerConfig
    public var detection: DetectionOptions
    public var statsIntervalS: Double
    /// nil switches sampling off.
    public var calibration: CalibrationConfig?
    /// A new meter (another watts-per-core figure); nil keeps the running one. Handed to the processing thread,
    /// which alone uses it afterwards.
    public var powerMeter: (any PowerMeter)?

    public init(controller: ControllerConfig, detection: DetectionOptions, statsIntervalS: Double,
                calibration: CalibrationConfig?, powerMeter: (any PowerMeter)? = nil) {
        self.controller = controller
        self.detection = detection
        self.statsIntervalS = statsIntervalS
        self.calibration = calibration
        self.powerMeter = powerMeter
    }
}

/// A reload waiting for the next frame; a later reload before it replaces it.
struct PendingUpdate: @unchecked Sendable {
    var controller: ControllerConfig?
    var detection: DetectionOptions?
    var statsIntervalS: Double?
    var calibration: CalibrationConfig??
    var powerMeter: (any PowerMeter)?

    init() {}

    init(_ update: PipelineUpdate) {
        controller = update.controller
        detection = update.detection
        statsIntervalS = update.statsIntervalS
        calibration = .some(update.calibration)
        powerMeter = update.powerMeter
    }

    var isEmpty: Bool {
        controller == nil && detection == nil && statsIntervalS == nil && calibration == nil && powerMeter == nil
    }

    mutating func take() -> PendingUpdate? {
        guard !isEmpty else { return nil }
        defer { self = PendingUpdate() }
        return self
    }
}
