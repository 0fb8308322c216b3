/// The daemon's whole configuration as plain values, one struct per stage (see `config/sentei.toml` for every key
/// with its unit, default and range). Produced only by `SenteiConfig.load`/`parse`, so every instance is valid.
public struct SenteiConfig: Sendable, Equatable {
    public var daemon = DaemonSettings()
    public var model = ModelSettings()
    /// Never empty: a file without `[[cameras]]` gets one automatic camera (see `CameraSettings.automatic`).
    public var cameras: [CameraSettings] = []
    public var budgets = BudgetSettings()
    public var detection = DetectionSettings()
    public var outputs = OutputSettings()
    public var calibration = CalibrationSettings()
    public var healing = HealingSettings()

    public init() {}
}

public struct DaemonSettings: Sendable, Equatable {
    /// Persistent state (ladder cache, snapshots, calibration samples). systemd's StateDirectory=sentei.
    public var stateDirectory = "/var/lib/sentei"
    /// Seconds between `stats` events and STATUS= lines; 1...3600.
    public var statsIntervalS: Double = 5
}

public struct ModelSettings: Sendable, Equatable {
    /// A model manifest (JSON next to its ONNX file, e.g. `Models/yolox_nano.json`).
    public var manifest = "/usr/share/sentei/models/yolox_nano.json"
    /// A ladder directory (`manifest.json` + one file per level) built by pruning; when set it is used instead of
    /// the plain model and the controller moves between its levels.
    public var ladder: String? = nil
    /// Without a ladder directory: the model compiled at these square input sizes (multiples of 32, 32...1280),
    /// largest first, one ladder level each. Level 0 is the largest.
    public var inputSizes = [416, 352, 320, 256]
    /// Inference worker threads; 1...256. 0 is rejected: the daemon never guesses the core count silently.
    public var threads = 2
}

public enum CameraSource: Sendable, Equatable {
    /// A V4L2 device node.
    case device(String)
    /// A directory of JPEGs, an MJPEG file or a Y4M file, replayed as a camera.
    case replay(path: String, loop: Bool)
}

public enum CameraPixelFormat: String, Sendable, Equatable, CaseIterable {
    case auto, mjpeg, yuyv, nv12
}

public struct CameraSettings: Sendable, Equatable {
    /// Names the camera in events (`"camera":"front"`) and the journal (`SENTEI_CAMERA=front`); [a-z0-9_-], 1...32.
    public var name: String
    public var source: CameraSource
    /// Requested size in pixels; the device's closest offer is used. 16...8192.
    public var width = 640
    public var height = 480
    public var format = CameraPixelFormat.auto
    /// Requested frame rate (devices) or pacing (replay; 0 = as fast as the pipeline takes them). 0...240.
    public var fps: Double = 15

    public init(name: String, source: CameraSource) {
        self.name = name
        self.source = source
    }
}

/// Whose CPU time the power estimate counts (`CPUTimeEstimateMeter`).
public enum EstimateScope: String, Sendable, Equatable, CaseIterable {
    /// Every process on the machine (busy time in /proc/stat), as a package meter (RAPL) would see it: a neighbour
    /// taking a core raises it, which is what a power budget for the device is about.
    case system
    /// This daemon's own threads only: a budget for Sentei's share of the device.
    case process
}

public struct BudgetSettings: Sendable, Equatable {
    /// End-to-end latency budget per frame (capture → events), milliseconds; 1...60000; nil (0 in the file) = none.
    public var latencyMs: Double? = 200
    /// Which latency percentile must stay under the budget; 50...100.
    public var latencyPercentile: Double = 95
    /// Sliding window the percentile is taken over, seconds; 0.1...600.
    public var latencyWindowS: Double = 1
    /// Mean power budget in watts as measured by the best available meter; nil = no power budget. 0.1...1000.
    public var powerW: Double? = nil
    /// Window of the power mean, seconds; 0.1...600.
    public var powerWindowS: Double = 3
    /// Watts per fully busy core for the CPU-time power estimate, used only when no RAPL or hwmon meter is
    /// readable; 0.1...100.
    public var estimateWattsPerCore: Double = 4
    /// Whose CPU time that estimate counts: the whole machine (as RAPL would) or the daemon's own.
    public var estimateScope: EstimateScope = .system
    /// How long budgets must hold with headroom before the controller steps up a level, seconds; 0.1...3600.
    public var stepUpAfterS: Double = 3
    /// Most accurate ladder level allowed (0 = the full model); 0...63.
    public var minLevel = 0
    /// Cheapest level allowed; nil = the ladder's last. 0...63, ≥ min_level.
    public var maxLevel: Int? = nil
    /// Frames per second to process (the rest are skipped evenly); nil = every frame. 0.1...240.
    public var fps: Double? = nil
}

public struct DetectionSettings: Sendable, Equatable {
    /// Minimum score to report a detection; 0.01...1.
    public var threshold: Double = 0.35
    /// Per-class overrides of `threshold`, by label.
    public var classThresholds: [String: Double] = [:]
    /// Labels to keep; empty keeps all classes.
    public var classes: [String] = []
    /// IoU above which NMS suppresses the weaker box; 0.05...0.95.
    public var nmsIoU: Double = 0.45
}

public struct SocketSettings: Sendable, Equatable {
    public var enabled = true
    public var path = "/run/sentei/events.sock"
    /// File mode of the socket node; clients need write permission to connect.
    public var mode: UInt32 = 0o660
    /// Group owning the socket (clients in it may connect); nil keeps the daemon's group.
    public var group: String? = nil
    /// Lines a client may fall behind before it is dropped; 16...1_000_000.
    public var clientQueueLines = 4096
    /// Concurrent clients; 1...4096.
    public var maxClients = 256
}

public struct JournalSettings: Sendable, Equatable {
    public var enabled = true
    /// Event types written to the journal (detections and track updates would flood it).
    public var events: [String] = ["track_new", "track_end", "level_change", "camera_lost", "camera_found", "error",
                                   "rung_withdrawn", "rung_readmitted"]
}

public struct SnapshotSettings: Sendable, Equatable {
    public var enabled = false
    /// nil = `<state_dir>/snapshots`.
    public var directory: String? = nil
    /// Total size cap; the oldest snapshots are removed first. 1 MiB...1 TiB.
    public var maxBytes: Int = 256 << 20
}

public struct OutputSettings: Sendable, Equatable {
    public var socket = SocketSettings()
    public var journal = JournalSettings()
    public var snapshots = SnapshotSettings()
}

public struct CalibrationSettings: Sendable, Equatable {
    /// Keep a sample of real camera frames for int8 calibration and pruning of the ladder.
    public var enabled = false
    /// nil = `<state_dir>/calibration`.
    public var directory: String? = nil
    /// Frames to keep; 1...100000.
    public var count = 200
    /// Minimum seconds between two kept frames; 0...86400.
    public var intervalS: Double = 30
    /// Size cap of the sample directory; 1 MiB...1 TiB.
    public var maxBytes: Int = 128 << 20
}

/// The scene guard of healed ladder rungs (`[healing]`): checks them against the unpruned model on the sampled
/// calibration frames, withdraws one whose agreement falls, and re-heals it in the background.
public struct HealingSettings: Sendable, Equatable {
    /// Guard the healed rungs of `[model] ladder`; needs `[calibration] enabled` (the sampled frames are its data).
    public var enabled = false
    /// Seconds between agreement checks; 10...86400.
    public var checkEveryS: Double = 300
    /// Newest sampled frames per check; 1...64.
    public var checkFrames = 4
    /// A check fails below this fraction of the rung's admitted agreement; 0.05...1.
    public var ratio = 0.7
    /// Failed checks in a row that withdraw the rung; 1...100.
    public var sustained = 3
    /// When re-healing may run, local time "HH:MM-HH:MM" (may wrap past midnight); nil = any time.
    public var hours: HealingHours? = nil
    /// CPU-minute budget of one re-healing run (the guard thread's own CPU time); 0.1...600.
    public var minutes: Double = 10
    /// A re-healed rung is re-admitted only if its held-out agreement beats the withdrawn one by this much; 0...1.
    public var minGain: Double = 0.05
    /// Frames sampled after the withdrawal that a re-healing run uses, the last `holdout` of them held out; 8...10000.
    public var rehealFrames = 48
    /// 1...1000, less than `reheal_frames`.
    public var holdout = 8
}

/// A daily window of local time, minutes after midnight; `start > end` wraps past midnight.
public struct HealingHours: Sendable, Equatable, CustomStringConvertible {
    public var startMinute: Int
    public var endMinute: Int

    /// "01:00-05:00"; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        func minute(_ s: Substring) -> Int? {
            let hm = s.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
            guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
                  (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 24 * 60 else { return nil }
            return h * 60 + m
        }
        guard parts.count == 2, let start = minute(parts[0]), let end = minute(parts[1]), start != end else { return nil }
        startMinute = start
        endMinute = end
    }

    public func contains(minuteOfDay m: Int) -> Bool {
        startMinute < endMinute ? (startMinute..<endMinute).contains(m) : (m >= startMinute || m < endMinute)
    }

    public var description: String {
        String(format: "%02d:%02d-%02d:%02d", startMinute / 60, startMinute % 60, endMinute / 60, endMinute % 60)
    }
}

extension SenteiConfig {
    /// Event types the socket and journal know.
    public static let eventTypes = ["detections", "track_new", "track_update", "track_end", "level_change",
                                    "camera_lost", "camera_found", "stats", "error", "rung_withdrawn", "rung_readmitted"]

    public var snapshotDirectory: String { outputs.snapshots.directory ?? daemon.stateDirectory + "/snapshots" }
    public var calibrationDirectory: String { calibration.directory ?? daemon.stateDirectory + "/calibration" }
}
