import Foundation

/// Everything the daemon tells the outside world, as one value type: the socket sends each as one NDJSON line
/// (`{"v":1,"type":"track_new",…}`), the journal logs it with `SENTEI_EVENT=<type>`. Field names are the wire
/// schema (snake_case, units in names); bump `schemaVersion` on any incompatible change.
public enum Event: Sendable, Equatable {
    case detections(DetectionsEvent)
    case trackNew(TrackEvent)
    case trackUpdate(TrackEvent)
    case trackEnd(TrackEvent)
    case levelChange(LevelChangeEvent)
    case cameraLost(CameraEvent)
    case cameraFound(CameraEvent)
    case stats(StatsEvent)
    /// Something failed that detection carries on without (a snapshot that could not be written: full disk…).
    case error(ErrorEvent)
    /// The scene guard took a healed ladder rung off the running front (its agreement with the unpruned model fell).
    case rungWithdrawn(RungEvent)
    /// A re-healed rung passed its admission check and is back on the front.
    case rungReadmitted(RungEvent)

    public static let schemaVersion = 1

    /// The wire name, also the journal's `SENTEI_EVENT` value.
    public var type: String {
        switch self {
        case .detections: "detections"
        case .trackNew: "track_new"
        case .trackUpdate: "track_update"
        case .trackEnd: "track_end"
        case .levelChange: "level_change"
        case .cameraLost: "camera_lost"
        case .cameraFound: "camera_found"
        case .stats: "stats"
        case .error: "error"
        case .rungWithdrawn: "rung_withdrawn"
        case .rungReadmitted: "rung_readmitted"
        }
    }
}

/// One detected object in frame pixels.
public struct EventDetection: Codable, Sendable, Equatable {
    public var label: String
    public var classIndex: Int
    public var score: Double
    /// x1, y1, x2, y2 in the camera frame's pixels.
    public var box: [Double]

    enum CodingKeys: String, CodingKey { case label, classIndex = "class", score, box }

    public init(label: String, classIndex: Int, score: Double, box: [Double]) {
        self.label = label
        self.classIndex = classIndex
        self.score = score
        self.box = box
    }
}

/// All detections of one processed frame.
public struct DetectionsEvent: Codable, Sendable, Equatable {
    public var camera: String
    public var frameSequence: UInt64
    /// Monotonic capture time of the frame, nanoseconds.
    public var timestampNs: UInt64
    public var width: Int
    public var height: Int
    public var level: Int
    public var detections: [EventDetection]

    enum CodingKeys: String, CodingKey {
        case camera, frameSequence = "frame_sequence", timestampNs = "timestamp_ns", width, height, level, detections
    }

    public init(camera: String, frameSequence: UInt64, timestampNs: UInt64, width: Int, height: Int, level: Int, detections: [EventDetection]) {
        self.camera = camera
        self.frameSequence = frameSequence
        self.timestampNs = timestampNs
        self.width = width
        self.height = height
        self.level = level
        self.detections = detections
    }
}

/// A tracked object's lifecycle step (new → update… → end).
public struct TrackEvent: Codable, Sendable, Equatable {
    public var camera: String
    public var trackId: UInt64
    public var label: String
    public var score: Double
    public var box: [Double]
    public var frameSequence: UInt64
    public var timestampNs: UInt64
    /// Frames this track has been seen in so far.
    public var hits: Int
    /// True while the object has not moved (stationary objects are reported once, not on every frame).
    public var stationary: Bool

    enum CodingKeys: String, CodingKey {
        case camera, trackId = "track_id", label, score, box, frameSequence = "frame_sequence", timestampNs = "timestamp_ns", hits, stationary
    }

    public init(camera: String, trackId: UInt64, label: String, score: Double, box: [Double], frameSequence: UInt64,
                timestampNs: UInt64, hits: Int, stationary: Bool) {
        self.camera = camera
        self.trackId = trackId
        self.label = label
        self.score = score
        self.box = box
        self.frameSequence = frameSequence
        self.timestampNs = timestampNs
        self.hits = hits
        self.stationary = stationary
    }
}

/// The controller moved to another ladder level; `reason` and the measurements say why.
public struct LevelChangeEvent: Codable, Sendable, Equatable {
    public var camera: String
    public var from: Int
    public var to: Int
    /// e.g. "latency_budget_broken", "power_budget_broken", "sustained_headroom", "config_reload".
    public var reason: String
    public var latencyP95Ms: Double?
    public var latencyBudgetMs: Double?
    public var powerW: Double?
    public var powerBudgetW: Double?
    /// 1 processes every frame; n processes one frame in n, evenly (the lightest level alone cannot fit).
    public var processEvery: Int?
    /// Mean processing time (decode → events) at `from` over the window, ms.
    public var processingMs: Double?
    /// What the controller expects at `to`: latency at the budget's percentile, and mean power.
    public var predictedLatencyMs: Double?
    public var predictedPowerW: Double?
    /// Set when the per-level profile was (re-)measured: processing ms of each level, index = level.
    public var profileMs: [Double]?

    enum CodingKeys: String, CodingKey {
        case camera, from, to, reason, latencyP95Ms = "latency_p95_ms", latencyBudgetMs = "latency_budget_ms",
             powerW = "power_w", powerBudgetW = "power_budget_w", processEvery = "process_every",
             processingMs = "processing_ms", predictedLatencyMs = "predicted_latency_ms",
             predictedPowerW = "predicted_power_w", profileMs = "profile_ms"
    }

    public init(camera: String, from: Int, to: Int, reason: String, latencyP95Ms: Double? = nil, latencyBudgetMs: Double? = nil,
                powerW: Double? = nil, powerBudgetW: Double? = nil, processEvery: Int? = nil, processingMs: Double? = nil,
                predictedLatencyMs: Double? = nil, predictedPowerW: Double? = nil, profileMs: [Double]? = nil) {
        self.camera = camera
        self.from = from
        self.to = to
        self.reason = reason
        self.latencyP95Ms = latencyP95Ms
        self.latencyBudgetMs = latencyBudgetMs
        self.powerW = powerW
        self.powerBudgetW = powerBudgetW
        self.processEvery = processEvery
        self.processingMs = processingMs
        self.predictedLatencyMs = predictedLatencyMs
        self.predictedPowerW = predictedPowerW
        self.profileMs = profileMs
    }
}

public struct CameraEvent: Codable, Sendable, Equatable {
    public var camera: String
    /// Device path or replay source.
    public var source: String
    public var reason: String?

    public init(camera: String, source: String, reason: String? = nil) {
        self.camera = camera
        self.source = source
        self.reason = reason
    }
}

/// Periodic counters for one camera.
public struct StatsEvent: Codable, Sendable, Equatable {
    public var camera: String
    public var cameraFps: Double
    public var processedFps: Double
    public var skippedFps: Double
    public var droppedFrames: UInt64
    public var latencyP50Ms: Double
    public var latencyP95Ms: Double
    public var level: Int
    public var powerW: Double?
    public var joulesPerFrame: Double?
    /// Which meter produced the power figures, e.g. "rapl:package-0", "hwmon:…", "estimate:cpu-time".
    public var powerMeter: String?
    /// Mean milliseconds per pipeline stage over the interval: "queue", "decode", "infer", "postprocess", "track".
    public var stageMs: [String: Double]?
    /// 1 = every frame processed; n = one frame in n (see `LevelChangeEvent.processEvery`).
    public var processEvery: Int?
    /// Threads the level's inference runs on now: all of them, or 1 while another process holds a core.
    public var inferenceThreads: Int?

    enum CodingKeys: String, CodingKey {
        case camera, cameraFps = "camera_fps", processedFps = "processed_fps", skippedFps = "skipped_fps",
             droppedFrames = "dropped_frames", latencyP50Ms = "latency_p50_ms", latencyP95Ms = "latency_p95_ms", level,
             powerW = "power_w", joulesPerFrame = "joules_per_frame", powerMeter = "power_meter", stageMs = "stage_ms",
             processEvery = "process_every", inferenceThreads = "inference_threads"
    }

    public init(camera: String, cameraFps: Double, processedFps: Double, skippedFps: Double, droppedFrames: UInt64,
                latencyP50Ms: Double, latencyP95Ms: Double, level: Int, powerW: Double?, joulesPerFrame: Double?, powerMeter: String?,
                stageMs: [String: Double]? = nil, processEvery: Int? = nil, inferenceThreads: Int? = nil) {
        self.stageMs = stageMs
        self.processEvery = processEvery
        self.inferenceThreads = inferenceThreads
        self.camera = camera
        self.cameraFps = cameraFps
        self.processedFps = processedFps
        self.skippedFps = skippedFps
        self.droppedFrames = droppedFrames
        self.latencyP50Ms = latencyP50Ms
        self.latencyP95Ms = latencyP95Ms
        self.level = level
        self.powerW = powerW
        self.joulesPerFrame = joulesPerFrame
        self.powerMeter = powerMeter
    }
}

/// A failure the daemon survives. `code` is stable (`snapshot_write_failed`); `errno` names the system error
/// (`ENOSPC`, `EDQUOT`) when there is one; `count` is how many times it happened since the previous error event of
/// the same code, so a full disk is reported once a minute rather than once per track.
public struct ErrorEvent: Codable, Sendable, Equatable {
    public var camera: String?
    public var code: String
    public var errno: String?
    public var path: String?
    public var message: String
    public var count: Int

    public init(camera: String?, code: String, errno: String? = nil, path: String? = nil, message: String, count: Int = 1) {
        self.camera = camera
        self.code = code
        self.errno = errno
        self.path = path
        self.message = message
        self.count = count
    }
}

/// A healed (specialist) rung of a ladder directory left or rejoined the running front: the scene guard compares it
/// with the unpruned model on sampled frames (agreement = AP50 weighted by the unpruned model's boxes per class).
public struct RungEvent: Codable, Sendable, Equatable {
    public var camera: String
    /// The rung's name in the ladder's manifest.json, e.g. "s416_c25_fp32".
    public var rung: String
    /// Its index in the running ladder (the `level` of level_change and stats events).
    public var level: Int
    /// Why: the withdrawal's reason, or what the re-healing measured.
    public var reason: String
    /// The agreement the rung was admitted with (withdrawn) or is admitted with now (readmitted).
    public var admittedMAP50: Double
    /// The latest checks' agreements, oldest first (withdrawn: the failing ones).
    public var recentMAP50: [Double]
    /// Re-healing only: held-out agreement before and after, optimiser steps and CPU seconds spent, the new file.
    public var beforeMAP50: Double?
    public var afterMAP50: Double?
    public var steps: Int?
    public var cpuS: Double?
    public var file: String?

    enum CodingKeys: String, CodingKey {
        case camera, rung, level, reason, admittedMAP50 = "admitted_map50", recentMAP50 = "recent_map50",
             beforeMAP50 = "before_map50", afterMAP50 = "after_map50", steps, cpuS = "cpu_s", file
    }

    public init(camera: String, rung: String, level: Int, reason: String, admittedMAP50: Double, recentMAP50: [Double],
                beforeMAP50: Double? = nil, afterMAP50: Double? = nil, steps: Int? = nil, cpuS: Double? = nil,
                file: String? = nil) {
        self.camera = camera
        self.rung = rung
        self.level = level
        self.reason = reason
        self.admittedMAP50 = admittedMAP50
        self.recentMAP50 = recentMAP50
        self.beforeMAP50 = beforeMAP50
        self.afterMAP50 = afterMAP50
        self.steps = steps
        self.cpuS = cpuS
        self.file = file
    }
}

extension Event {
    /// One NDJSON line (no trailing newline): the payload's fields plus `v` and `type`.
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payload: Data?
        switch self {
        case .detections(let e): payload = try? encoder.encode(e)
        case .trackNew(let e), .trackUpdate(let e), .trackEnd(let e): payload = try? encoder.encode(e)
        case .levelChange(let e): payload = try? encoder.encode(e)
        case .cameraLost(let e), .cameraFound(let e): payload = try? encoder.encode(e)
        case .stats(let e): payload = try? encoder.encode(e)
        case .error(let e): payload = try? encoder.encode(e)
        case .rungWithdrawn(let e), .rungReadmitted(let e): payload = try? encoder.encode(e)
        }
        let body = payload.map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? ""
        return "{\"v\":\(Self.schemaVersion),\"type\":\"\(type)\"" + (body.isEmpty ? "" : ",") + body + "}"
    }
}
