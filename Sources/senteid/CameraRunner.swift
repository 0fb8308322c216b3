import Foundation
import Logging
import SenteiCapture
import SenteiDaemon
import SenteiVision
import Synchronization

/// One camera's running pipeline: its frame source, the pipeline over the ladder, and the task running it.
final class CameraRunner: @unchecked Sendable {
    let settings: CameraSettings
    let pipeline: CameraPipeline
    private(set) var task: Task<Void, Never>?
    private let ended = Atomic<Bool>(false)
    private let sink: any EventSink
    private let logger: Logger
    /// The scene guard of the ladder's healed rungs (`[healing]`); replaced on reload.
    private let sceneGuard = Mutex<RungGuardService?>(nil)

    private init(settings: CameraSettings, pipeline: CameraPipeline, sink: any EventSink, logger: Logger) {
        self.settings = settings
        self.pipeline = pipeline
        self.sink = sink
        self.logger = logger
    }

    /// Builds the source (V4L2 or replay), the ladder (the model compiled at each input size) and the pipeline.
    /// Capture events become camera_lost / camera_found events on `sink`.
    static func make(settings: CameraSettings, config: SenteiConfig, manifest: ModelManifest, sink: any EventSink,
                     snapshots: SnapshotWriter?, logger: Logger) throws -> CameraRunner {
        let stopSignal = StopSignal()
        let camera = settings.name
        let announced = AnnouncedState()
        let onEvent: CaptureEventHandler = { event in
            switch event {
            case .negotiated(let format), .found(let format):
                announced.set(lost: false)
                sink.emit(.cameraFound(CameraEvent(camera: camera, source: format.device, reason: "\(format)")))
            case .lost(let device, let reason):
                announced.set(lost: true)
                sink.emit(.cameraLost(CameraEvent(camera: camera, source: device, reason: reason)))
            case .retrying(let device, let attempt, let delayMs, let reason):
                // A device absent at start never "negotiated"; report it lost once so READY=1 and the watchdog
                // treat it as waiting rather than stuck.
                if announced.markLostIfNew() {
                    sink.emit(.cameraLost(CameraEvent(camera: camera, source: device, reason: reason)))
                }
                logger.warning("camera unavailable; retrying", metadata: [
                    "sentei.camera": "\(camera)", "sentei.device": "\(device)", "sentei.attempt": "\(attempt)",
                    "sentei.delay_ms": "\(delayMs)", "sentei.reason": "\(reason)"])
            case .skipped(let source, let reason):
                logger.debug("frame skipped", metadata: ["sentei.camera": "\(camera)", "sentei.source": "\(source)",
                                                         "sentei.reason": "\(reason)"])
            }
        }
        let source: any FrameSource
        switch settings.source {
        case .device(let path):
            var capture = CaptureConfiguration(devicePath: path)
            capture.width = settings.width
            capture.height = settings.height
            capture.fps = settings.fps > 0 ? settings.fps : nil
            capture.format = switch settings.format {
            case .auto: nil
            case .mjpeg: .mjpeg
            case .yuyv: .yuyv
            case .nv12: .nv12
            }
            capture.waitForDeviceAtStart = true
            source = V4L2Camera(configuration: capture, stopSignal: stopSignal, onEvent: onEvent)
        case .replay(let path, let loop):
            source = try ReplaySource.open(path, pacing: settings.fps > 0 ? .fps(settings.fps) : .asFastAsPossible,
                                           loop: loop, stopSignal: stopSignal, onEvent: onEvent)
            sink.emit(.cameraFound(CameraEvent(camera: camera, source: path, reason: "replay")))
        }

        let ladder: Ladder
        if let directory = config.model.ladder {
            ladder = try Ladder.directory(directory, threads: config.model.threads)
        } else {
            let modelPath = SenteiConfig.modelPath(manifestPath: config.model.manifest, manifest: manifest)
            ladder = try Ladder.inputSizes(modelPath: modelPath, manifest: manifest, sizes: config.model.inputSizes,
                                           threads: config.model.threads)
        }
        var pipelineConfig = PipelineConfig(camera: camera)
        pipelineConfig.statsIntervalS = config.daemon.statsIntervalS
        pipelineConfig.detection = detectionOptions(config.detection, labels: manifest.classNames)
        pipelineConfig.controller = controllerConfig(config.budgets, levels: ladder.count)
        pipelineConfig.calibration = calibrationConfig(config, camera: camera)
        let powerMeter = PowerMeterProbe(wattsPerCore: config.budgets.estimateWattsPerCore,
                                         estimateScope: config.budgets.estimateScope).probe(logger: logger)
        var pipelineLogger = logger
        pipelineLogger[metadataKey: "sentei.camera"] = "\(camera)"
        let pipeline = try CameraPipeline(config: pipelineConfig, source: source, stopSignal: stopSignal, ladder: ladder,
                                          sink: sink, powerMeter: powerMeter, snapshots: snapshots,
                                          logger: pipelineLogger)
        let runner = CameraRunner(settings: settings, pipeline: pipeline, sink: sink, logger: logger)
        runner.sceneGuard.withLock { $0 = runner.makeGuard(config) }
        return runner
    }

    /// A scene guard when `[healing]` is on, the model is a ladder directory and frames are sampled; nil otherwise.
    private func makeGuard(_ config: SenteiConfig) -> RungGuardService? {
        guard config.healing.enabled, let ladder = config.model.ladder,
              let calibration = Self.calibrationConfig(config, camera: settings.name) else { return nil }
        return RungGuardService(settings: RungGuardSettings(config.healing), ladderDirectory: ladder,
                                calibrationDirectory: calibration.directory, pipeline: pipeline, sink: sink,
                                modelThreads: config.model.threads, logger: logger)
    }

    /// A reload changed `[healing]` (or calibration): the old guard stops, a new one starts with the new settings.
    /// The pipeline keeps its withdrawn levels; the new guard watches the rungs still on the front.
    func restartGuard(_ config: SenteiConfig) {
        let next = makeGuard(config)
        let previous = sceneGuard.withLock { current -> RungGuardService? in
            defer { current = next }
            return current
        }
        previous?.stop()
        if task != nil { next?.start() }
    }

    /// The `[budgets]` table as the controller takes it; `max_level` beyond the ladder means its last level.
    static func controllerConfig(_ budgets: BudgetSettings, levels: Int) -> ControllerConfig {
        var controller = ControllerConfig(budgets: Budgets(
            latencyMs: budgets.latencyMs, latencyPercentile: budgets.latencyPercentile,
            latencyWindowS: budgets.latencyWindowS, powerW: budgets.powerW, powerWindowS: budgets.powerWindowS,
            minLevel: budgets.minLevel, maxLevel: budgets.maxLevel.map { min($0, levels - 1) }, fps: budgets.fps))
        controller.stepUpAfterS = budgets.stepUpAfterS
        return controller
    }

    static func calibrationConfig(_ config: SenteiConfig, camera: String) -> CalibrationConfig? {
        guard config.calibration.enabled else { return nil }
        return CalibrationConfig(directory: config.calibrationDirectory + "/" + camera,
                                 everyS: config.calibration.intervalS, maxFiles: config.calibration.count,
                                 maxBytes: config.calibration.maxBytes)
    }

    /// Applies a reloaded config to the running pipeline (budgets, level bounds, detection, stats interval,
    /// calibration; a new power meter when the estimate figure changed). The camera keeps capturing.
    func applyLive(_ config: SenteiConfig, labels: [String], newMeter: Bool, logger: Logger) throws {
        let powerMeter = newMeter
            ? PowerMeterProbe(wattsPerCore: config.budgets.estimateWattsPerCore,
                                         estimateScope: config.budgets.estimateScope).probe(logger: logger) : nil
        try pipeline.reconfigure(PipelineUpdate(
            controller: Self.controllerConfig(config.budgets, levels: pipeline.ladder.count),
            detection: Self.detectionOptions(config.detection, labels: labels),
            statsIntervalS: config.daemon.statsIntervalS,
            calibration: Self.calibrationConfig(config, camera: settings.name), powerMeter: powerMeter))
    }

    /// Class names become the detector's class indices; the config was checked against the same labels.
    static func detectionOptions(_ settings: DetectionSettings, labels: [String]) -> DetectionOptions {
        func index(_ label: String) -> Int? { labels.firstIndex(of: label) }
        var options = DetectionOptions(scoreThreshold: Float(settings.threshold), iouThreshold: Float(settings.nmsIoU))
        for (label, threshold) in settings.classThresholds {
            if let i = index(label) { options.classThresholds[i] = Float(threshold) }
        }
        if !settings.classes.isEmpty { options.classFilter = Set(settings.classes.compactMap(index)) }
        return options
    }

    /// Starts the pipeline; `onEnd` runs when it returns (source exhausted, stopped, or failed).
    func start(onEnd: @escaping @Sendable (CameraRunner, (any Error)?) -> Void) {
        sceneGuard.withLock { $0?.start() }
        task = Task { [self] in
            var failure: (any Error)? = nil
            do { try await pipeline.run() } catch { failure = error }
            ended.store(true, ordering: .releasing)
            onEnd(self, failure)
        }
    }

    /// Stops the pipeline and waits up to `timeout` for it to finish; false when it did not (a thread stuck in a
    /// driver call), in which case the caller goes on without it.
    @discardableResult
    func stop(timeout: Duration) async -> Bool {
        sceneGuard.withLock { $0?.stop() }
        pipeline.stop()
        guard task != nil else { return true }
        let deadline = ContinuousClock.now + timeout
        while !ended.load(ordering: .acquiring) {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}

/// Whether a camera was last announced lost, shared with the capture thread's event handler.
private final class AnnouncedState: @unchecked Sendable {
    private let lock = NSLock()
    private var lost = false
    func set(lost: Bool) { lock.lock(); self.lost = lost; lock.unlock() }
    func markLostIfNew() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if lost { return false }
        lost = true
        return true
    }
}
