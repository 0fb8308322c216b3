import Foundation
public import Logging
public import SenteiCapture
import SenteiVision
import Synchronization

/// One camera, end to end: capture thread → bounded queue (drop oldest) → processing thread (decode/letterbox →
/// infer on the controller's level → head/NMS → tracker → events) → `EventSink`.
///
///     let ladder = try Ladder.inputSizes(modelPath: onnx, manifest: manifest, sizes: [416, 352, 320, 256])
///     let pipeline = try CameraPipeline(config: config, source: camera, stopSignal: stop, ladder: ladder,
///                                       sink: socket, powerMeter: PowerMeterProbe(wattsPerCore: 4).probe(logger: log))
///     try await pipeline.run()   // returns when the source ends, on stop(), or when the task is cancelled
///
/// Both loops run on dedicated threads, never on the cooperative pool: capture blocks in the driver and inference
/// keeps cores busy for tens of milliseconds. The level is read once at the start of each frame and every level has
/// its own buffers, so a switch lands between frames, never pauses and never touches a frame in flight. The first
/// frame is used to profile every level before the controller makes its start-up choice.
public final class CameraPipeline: @unchecked Sendable {
    public let config: PipelineConfig
    public let ladder: Ladder
    private let source: any FrameSource
    private let stopSignal: StopSignal
    private let sink: any EventSink
    /// Replaced only on the processing thread (a reload with another estimate figure).
    private var powerMeter: (any PowerMeter)?
    /// The daemon's CPU share, sampled with each power reading of a meter that also counts other processes.
    private let cpuShare = CPUShareSampler()
    private let snapshots: SnapshotWriter?
    private let clock: any MonotonicClock
    private let logger: Logger
    private let queue: FrameQueue<Frame>
    /// Replaced only on the processing thread (a re-healed rung's new model, see `replaceLevel`).
    private var runners: [LevelRunner]

    // Shared between the two threads.
    private let processEvery = Atomic<Int>(1)
    private let cameraFrames = Atomic<UInt64>(0)
    private let skippedFrames = Atomic<UInt64>(0)
    private let sourceDropped = Atomic<UInt64>(0)
    private let processedFrames = Atomic<UInt64>(0)
    private let failedFrames = Atomic<UInt64>(0)
    private let currentLevel = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let captureError = Mutex<(any Error)?>(nil)
    private let started = Atomic<Bool>(false)
    private let pendingUpdate = Mutex<PendingUpdate>(PendingUpdate())
    // The scene guard's side (`RungGuardService`): which levels are withdrawn and a re-healed level's runner waiting
    // to replace the running one. The processing thread reads one counter per frame and takes the lock only when
    // it moved.
    private let withdrawnLevels = Atomic<UInt64>(0)
    private let rungUpdates = Atomic<UInt64>(0)
    private let replacement = Mutex<RungReplacement?>(nil)

    public init(config: PipelineConfig, source: any FrameSource, stopSignal: StopSignal, ladder: Ladder,
                sink: any EventSink, powerMeter: (any PowerMeter)? = nil, snapshots: SnapshotWriter? = nil,
                clock: any MonotonicClock = SystemMonotonicClock(),
                logger: Logger = Logger(label: "sentei.pipeline")) throws {
        guard config.queueCapacity > 0 else { throw ControllerError("queue_capacity must be > 0") }
        guard config.statsIntervalS > 0 else { throw ControllerError("stats_interval_s must be > 0") }
        // Checks the budgets against the ladder now, before any thread starts.
        _ = try LevelController(config: config.controller, camera: config.camera,
                                profileMs: [Double](repeating: 1, count: ladder.count), nowNs: 0)
        self.config = config
        self.ladder = ladder
        self.source = source
        self.stopSignal = stopSignal
        self.sink = sink
        self.powerMeter = powerMeter
        self.snapshots = snapshots
        self.clock = clock
        var logger = logger
        logger[metadataKey: "sentei.camera"] = "\(config.camera)"
        self.logger = logger
        self.queue = FrameQueue(capacity: config.queueCapacity)
        self.runners = try ladder.levels.map { try LevelRunner(level: $0, options: config.detection, clock: clock) }
    }

    /// Totals so far.
    public var counters: PipelineCounters {
        PipelineCounters(cameraFrames: cameraFrames.load(ordering: .relaxed),
                         processedFrames: processedFrames.load(ordering: .relaxed),
                         skippedFrames: skippedFrames.load(ordering: .relaxed),
                         droppedFrames: queue.dropped + sourceDropped.load(ordering: .relaxed),
                         failedFrames: failedFrames.load(ordering: .relaxed))
    }

    /// The level the next frame runs at.
    public var level: Int { currentLevel.load(ordering: .relaxed) }

    /// New budgets (config reload). Checked against the ladder now; applied between two frames, keeping the measured
    /// profile, with a `level_change` whose reason is "config_reload".
    public func reconfigure(_ controller: ControllerConfig) throws {
        _ = try LevelController(config: controller, camera: config.camera,
                                profileMs: [Double](repeating: 1, count: ladder.count), nowNs: 0)
        pendingUpdate.withLock { $0.controller = controller }
    }

    /// Everything a config reload may change without reopening the camera: budgets and level bounds (a
    /// `config_reload` level change when they differ from the running ones), detection thresholds and classes,
    /// the stats interval, calibration sampling and the power meter. Checked now; applied between two frames.
    public func reconfigure(_ update: PipelineUpdate) throws {
        _ = try LevelController(config: update.controller, camera: config.camera,
                                profileMs: [Double](repeating: 1, count: ladder.count), nowNs: 0)
        guard update.statsIntervalS > 0 else { throw ControllerError("stats_interval_s must be > 0") }
        pendingUpdate.withLock { $0 = PendingUpdate(update) }
    }

    /// Levels (bit i = ladder index i) the scene guard withdrew. Applied between two frames: the controller no longer
    /// chooses them, and a pipeline running one steps to the nearest allowed level (`level_change`, "rung_withdrawn").
    public func setWithdrawnLevels(_ mask: UInt64) {
        withdrawnLevels.store(mask, ordering: .releasing)
        rungUpdates.add(1, ordering: .releasing)
    }

    public var withdrawnLevelMask: UInt64 { withdrawnLevels.load(ordering: .acquiring) }

    /// A re-admitted rung's new model (compiled by the caller, off the inference thread) replaces level `index`
    /// between two frames; the old runner is released on the next replacement or with the pipeline, never on the
    /// processing thread. Call `setWithdrawnLevels` afterwards to allow the level again.
    public func replaceLevel(_ index: Int, with level: LadderLevel) throws {
        guard ladder.levels.indices.contains(index) else { throw ControllerError("no ladder level \(index) to replace") }
        guard level.manifest.input.shape == ladder[index].manifest.input.shape,
              level.manifest.output.shape == ladder[index].manifest.output.shape else {
            throw ControllerError("\(level.name): its input/output shapes differ from level \(index) (\(ladder[index].name))")
        }
        let runner = try LevelRunner(level: level, options: config.detection, clock: clock)
        replacement.withLock { $0 = RungReplacement(index: index, runner: runner) }
        rungUpdates.add(1, ordering: .releasing)
    }

    /// Which model level `index` runs (tests; read only after `run()` returned).
    func runningModelIdentity(at index: Int) -> ObjectIdentifier { ObjectIdentifier(runners[index].level.model) }

    /// Asks both threads to finish; `run()` returns once they have.
    public func stop() {
        stopped.store(true, ordering: .releasing)
        stopSignal.stop()
        queue.close()
    }

    /// Runs until the source is exhausted, `stop()` is called or the task is cancelled. Throws what ended capture
    /// abnormally (the source's error) or what kept processing from starting. Runs once per instance.
    public func run() async throws {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else {
            throw ControllerError("pipeline \(config.camera) was already run")
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let capture = Thread { [self] in
                    nameCurrentThread("sentei-capture")
                    captureLoop()
                }
                capture.name = "sentei-capture-\(config.camera)"
                let processing = Thread { [self] in
                    nameCurrentThread("sentei-infer")
                    let result = Result { try processingLoop() }
                    // Capture may still be blocked in the source; it ends on its own once the stop signal is seen.
                    stop()
                    switch result {
                    case .failure(let error): continuation.resume(throwing: error)
                    case .success:
                        if let error = captureError.withLock({ $0 }) {
                            continuation.resume(throwing: error)
                        } else {
                            continuation.resume()
                        }
                    }
                }
                processing.name = "sentei-infer-\(config.camera)"
                processing.stackSize = 8 << 20
                capture.start()
                processing.start()
            }
        } onCancel: {
            stop()
        }
    }

    // MARK: Capture thread

    private func captureLoop() {
        var index: UInt64 = 0
        do {
            while !stopped.load(ordering: .acquiring), let frame = try source.nextFrame() {
                cameraFrames.add(1, ordering: .relaxed)
                if frame.droppedSinceLast > 0 { sourceDropped.add(UInt64(frame.droppedSinceLast), ordering: .relaxed) }
                // Even skipping: frame k is processed when k is a multiple of n, so kept frames are evenly spaced.
                let every = UInt64(max(1, processEvery.load(ordering: .relaxed)))
                defer { index += 1 }
                if every > 1 && index % every != 0 {
                    skippedFrames.add(1, ordering: .relaxed)
                    continue
                }
                queue.push(frame)
            }
        } catch {
            if !stopped.load(ordering: .acquiring) {
                logger.error("capture failed", metadata: ["sentei.source": "\(source.name)", "sentei.error": "\(error)"])
                captureError.withLock { $0 = error }
            }
        }
        queue.close()
    }

    // MARK: Processing thread

    private func processingLoop() throws {
        let decoder = try JPEGDecoder()
        var state: ProcessingState?
        while let frame = queue.pop() {
            if stopped.load(ordering: .acquiring) { break }
            // The frame used for profiling waited through it; its latency says nothing about any level.
            var timed = true
            if state == nil {
                timed = false
                let profile: [Double]
                do {
                    profile = try measureProfile(frame, decoder: decoder)
                } catch {
                    // A corrupt first frame must not stop the camera: profile on the next one.
                    noteFailure(frame, error)
                    continue
                }
                let now = clock.nowNs()
                let controller = try LevelController(config: config.controller, camera: config.camera,
                                                     profileMs: profile, nowNs: now)
                state = ProcessingState(controller: controller, tracker: IoUTracker(config: config.tracker),
                                        calibration: try config.calibration.map(CalibrationSampler.init),
                                        statsIntervalS: config.statsIntervalS,
                                        nowNs: now, cameraFrames: cameraFrames.load(ordering: .relaxed))
                let decision = controller.start(nowNs: now)
                apply(decision, controller: controller)
                queue.discardAll()
                logger.notice("ladder profiled", metadata: [
                    "sentei.profile_ms": "\(profile.map { ($0 * 100).rounded() / 100 })",
                    "sentei.levels": "\(ladder.levels.map(\.name))",
                    // The run-time dispatch's choice (avx512, avx2, base): a VM or an old CPU shows here.
                    "sentei.kernels": "\(ladder.levels[0].model.kernelName)",
                    "sentei.threads": "\(ladder.levels[0].model.threads)",
                ])
            }
            if let current = state, let update = pendingUpdate.withLock({ $0.take() }) {
                applyReload(update, state: current)
            }
            if let current = state {
                let updates = rungUpdates.load(ordering: .acquiring)
                if updates != current.rungUpdatesSeen {
                    current.rungUpdatesSeen = updates
                    applyRungUpdate(current)
                }
            }
            process(frame, decoder: decoder, state: state!, timed: timed)
        }
        if let state {
            let now = clock.nowNs()
            for change in state.tracker.finish() { sink.emit(trackEvent(change, frame: nil, nowNs: now)) }
            // The last partial interval, unless nothing happened since the previous stats event.
            if !state.latencies.isEmpty || cameraFrames.load(ordering: .relaxed) > state.statsSinceFrames {
                emitStats(state, nowNs: now)
            }
        }
    }

    /// Median processing time per level on `frame` (one warm-up run each, then `profileRuns` timed runs).
    private func measureProfile(_ frame: Frame, decoder: JPEGDecoder) throws -> [Double] {
        var profile: [Double] = []
        var times = StageTimes()
        for runner in runners {
            _ = try runner.detect(frame, decoder: decoder, times: &times)
            var runs: [Double] = []
            for _ in 0..<max(1, config.profileRuns) {
                let t0 = clock.nowNs()
                _ = try runner.detect(frame, decoder: decoder, times: &times)
                runs.append(Double(clock.nowNs() - t0) / 1e6)
            }
            runs.sort()
            profile.append(runs[runs.count / 2])
        }
        return profile
    }

    private func process(_ frame: Frame, decoder: JPEGDecoder, state: ProcessingState, timed: Bool) {
        let controller = state.controller
        let t0 = clock.nowNs()
        let level = controller.level
        var times = StageTimes()
        let detections: [Detection]
        do {
            detections = try runners[level].detect(frame, decoder: decoder, times: &times)
        } catch {
            noteFailure(frame, error)
            return
        }
        let t1 = clock.nowNs()
        let changes = state.tracker.update(detections)
        let t2 = clock.nowNs()
        if config.emitDetections {
            sink.emit(.detections(DetectionsEvent(
                camera: config.camera, frameSequence: frame.sequence, timestampNs: frame.timestampNs, width: frame.width,
                height: frame.height, level: level,
                detections: detections.map {
                    EventDetection(label: $0.label, classIndex: $0.classIndex, score: $0.score,
                                   box: [$0.box.x1, $0.box.y1, $0.box.x2, $0.box.y2])
                })))
        }
        for change in changes { sink.emit(trackEvent(change, frame: frame, nowNs: t2)) }
        if let snapshots, snapshots.isEnabled, changes.contains(where: { $0.step == .new }) {
            snapshots.submit(camera: config.camera, frame: frame, changes: changes)
        }
        let end = clock.nowNs()
        processedFrames.add(1, ordering: .relaxed)

        let latencyMs = Double(end &- min(frame.timestampNs, end)) / 1e6
        let processingMs = Double(end - t0) / 1e6
        if timed {
            controller.recordFrame(level: level, latencyMs: latencyMs, processingMs: processingMs, nowNs: end)
            state.record(latencyMs: latencyMs, queueMs: Double(t0 &- min(frame.timestampNs, t0)) / 1e6, times: times,
                         trackMs: Double(t2 - t1) / 1e6)
        }

        samplePower(state, nowNs: end)
        updateCameraRate(state, nowNs: end)
        if let decision = controller.decide(nowNs: end) { apply(decision, controller: controller) }
        if controller.wantsReprofile { reprofile(frame, decoder: decoder, controller: controller) }
        if Double(end - state.statsSinceNs) / 1e9 >= state.statsIntervalS { emitStats(state, nowNs: end) }
        if let calibration = state.calibration {
            do {
                try calibration.offer(frame, nowNs: end)
            } catch {
                logger.warning("calibration sample failed", metadata: ["sentei.error": "\(error)"])
            }
        }
    }

    private func applyReload(_ update: PendingUpdate, state: ProcessingState) {
        if let detection = update.detection {
            for runner in runners { runner.options = detection }
        }
        if let interval = update.statsIntervalS { state.statsIntervalS = interval }
        if let meter = update.powerMeter {
            powerMeter = meter
            state.lastPowerSampleNs = 0
        }
        if let calibration = update.calibration {
            do {
                state.calibration = try calibration.map(CalibrationSampler.init)
            } catch {
                logger.error("calibration settings rejected on reload; keeping the running ones",
                             metadata: ["sentei.error": "\(error)"])
            }
        }
        if let controller = update.controller, controller != state.controller.config {
            applyReload(controller, state: state)
        }
    }

    /// Between two frames: a waiting replacement runner goes in (the old one stays in the slot), then the withdrawn
    /// set goes to the controller, which leaves a withdrawn level it is on.
    private func applyRungUpdate(_ state: ProcessingState) {
        replacement.withLock { slot in
            guard let waiting = slot, !waiting.applied, runners.indices.contains(waiting.index) else { return }
            waiting.runner.options = runners[waiting.index].options
            swap(&runners[waiting.index], &slot!.runner)
            slot!.applied = true
        }
        let controller = state.controller
        if let decision = controller.setWithdrawn(withdrawnLevels.load(ordering: .acquiring), nowNs: clock.nowNs()) {
            apply(decision, controller: controller)
        }
    }

    private func applyReload(_ controllerConfig: ControllerConfig, state: ProcessingState) {
        let now = clock.nowNs()
        let old = state.controller
        do {
            let controller = try LevelController(config: controllerConfig, camera: config.camera,
                                                 profileMs: old.measuredProfileMs, nowNs: now)
            controller.cameraFps = old.cameraFps
            _ = controller.setWithdrawn(old.withdrawnMask, nowNs: now)
            state.controller = controller
            apply(controller.start(nowNs: now, from: old.level, reason: "config_reload"), controller: controller)
        } catch {
            logger.error("budgets rejected on reload", metadata: ["sentei.error": "\(error)"])
        }
    }

    private func noteFailure(_ frame: Frame, _ error: any Error) {
        let failed = failedFrames.add(1, ordering: .relaxed).newValue
        // Logged for the first few and then sparsely: a corrupt stream must not flood the journal.
        if failed <= 3 || failed.isMultiple(of: 100) {
            logger.warning("frame failed", metadata: ["sentei.sequence": "\(frame.sequence)", "sentei.error": "\(error)",
                                                      "sentei.failed_total": "\(failed)"])
        }
    }

    private func apply(_ decision: LevelChangeEvent, controller: LevelController) {
        currentLevel.store(controller.level, ordering: .relaxed)
        processEvery.store(controller.processEvery, ordering: .relaxed)
        sink.emit(.levelChange(decision))
        logger.info("level decision", metadata: [
            "sentei.from": "\(decision.from)", "sentei.to": "\(decision.to)", "sentei.reason": "\(decision.reason)",
            "sentei.process_every": "\(controller.processEvery)",
        ])
    }

    private func reprofile(_ frame: Frame, decoder: JPEGDecoder, controller: LevelController) {
        do {
            let profile = try measureProfile(frame, decoder: decoder)
            if let event = controller.profileMeasured(profile, nowNs: clock.nowNs()) { apply(event, controller: controller) }
            queue.discardAll()
        } catch {
            logger.warning("re-profiling failed", metadata: ["sentei.error": "\(error)"])
        }
    }

    private func samplePower(_ state: ProcessingState, nowNs: UInt64) {
        guard let powerMeter else { return }
        guard Double(nowNs &- state.lastPowerSampleNs) / 1e9 >= config.powerSampleIntervalS else { return }
        state.lastPowerSampleNs = nowNs
        do {
            let share = powerMeter.includesOtherProcesses ? cpuShare.sample() : nil
            if let watts = try powerMeter.sample(nowNs: nowNs) {
                state.controller.recordPower(watts: watts, ownShare: share, nowNs: nowNs)
                state.powerSum += watts
                state.powerCount += 1
            }
        } catch {
            state.controller.recordPowerFailure(reason: error.message, nowNs: nowNs)
        }
    }

    /// Keeps the controller's idea of the camera's frame rate current (once a second).
    private func updateCameraRate(_ state: ProcessingState, nowNs: UInt64) {
        let elapsed = Double(nowNs - state.rateSinceNs) / 1e9
        guard elapsed >= 1 else { return }
        let frames = cameraFrames.load(ordering: .relaxed)
        state.controller.cameraFps = Double(frames - state.rateSinceFrames) / elapsed
        state.rateSinceNs = nowNs
        state.rateSinceFrames = frames
    }

    private func emitStats(_ state: ProcessingState, nowNs: UInt64) {
        let elapsed = max(Double(nowNs - state.statsSinceNs) / 1e9, 1e-9)
        let frames = cameraFrames.load(ordering: .relaxed)
        let skipped = skippedFrames.load(ordering: .relaxed)
        let processed = Double(state.latencies.count)
        let processedFps = processed / elapsed
        let powerW = state.powerCount > 0 ? state.powerSum / Double(state.powerCount) : nil
        var sorted = state.latencies
        sorted.sort()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
        }
        let stage = processed > 0 ? [
            "queue": state.stageSums.queue / processed, "decode": state.stageSums.decode / processed,
            "infer": state.stageSums.infer / processed, "postprocess": state.stageSums.postprocess / processed,
            "track": state.stageSums.track / processed,
        ] : [:]
        sink.emit(.stats(StatsEvent(
            camera: config.camera, cameraFps: Double(frames - state.statsSinceFrames) / elapsed,
            processedFps: processedFps, skippedFps: Double(skipped - state.statsSinceSkipped) / elapsed,
            droppedFrames: counters.droppedFrames, latencyP50Ms: percentile(0.5), latencyP95Ms: percentile(0.95),
            level: state.controller.level, powerW: powerW,
            joulesPerFrame: powerW.flatMap { processedFps > 0 ? $0 / processedFps : nil },
            powerMeter: powerMeter?.name, stageMs: stage, processEvery: state.controller.processEvery,
            inferenceThreads: runners[state.controller.level].inferenceThreads)))
        state.resetInterval(nowNs: nowNs, cameraFrames: frames, skipped: skipped)
    }

    private func trackEvent(_ change: IoUTracker.Change, frame: Frame?, nowNs: UInt64) -> Event {
        let payload = TrackEvent(
            camera: config.camera, trackId: change.trackId, label: change.label, score: change.score,
            box: [change.box.x1, change.box.y1, change.box.x2, change.box.y2], frameSequence: frame?.sequence ?? 0,
            timestampNs: frame?.timestampNs ?? nowNs, hits: change.hits, stationary: change.stationary)
        switch change.step {
        case .new: return .trackNew(payload)
        case .update: return .trackUpdate(payload)
        case .end: return .trackEnd(payload)
        }
    }
}

/// A re-healed level's runner handed to the processing thread; after the swap it holds the old runner.
private struct RungReplacement: @unchecked Sendable {
    var index: Int
    var runner: LevelRunner
    var applied = false
}

/// What only the processing thread touches.
private final class ProcessingState {
    var controller: LevelController
    /// The `rungUpdates` count last applied.
    var rungUpdatesSeen: UInt64 = 0
    let tracker: IoUTracker
    var calibration: CalibrationSampler?
    var statsIntervalS: Double
    var latencies: [Double] = []
    var stageSums = (queue: 0.0, decode: 0.0, infer: 0.0, postprocess: 0.0, track: 0.0)
    var statsSinceNs: UInt64
    var statsSinceFrames: UInt64
    var statsSinceSkipped: UInt64 = 0
    var powerSum = 0.0
    var powerCount = 0
    var lastPowerSampleNs: UInt64 = 0
    var rateSinceNs: UInt64
    var rateSinceFrames: UInt64

    init(controller: LevelController, tracker: IoUTracker, calibration: CalibrationSampler?, statsIntervalS: Double,
         nowNs: UInt64, cameraFrames: UInt64) {
        self.controller = controller
        self.tracker = tracker
        self.calibration = calibration
        self.statsIntervalS = statsIntervalS
        self.statsSinceNs = nowNs
        self.statsSinceFrames = cameraFrames
        self.rateSinceNs = nowNs
        self.rateSinceFrames = cameraFrames
        // A stats interval at 30 fps × 5 s fits without growing.
        latencies.reserveCapacity(1024)
    }

    func record(latencyMs: Double, queueMs: Double, times: StageTimes, trackMs: Double) {
        if latencies.count < 100_000 { latencies.append(latencyMs) }
        stageSums.queue += queueMs
        stageSums.decode += times.decodeMs
        stageSums.infer += times.inferMs
        stageSums.postprocess += times.postprocessMs
        stageSums.track += trackMs
    }

    func resetInterval(nowNs: UInt64, cameraFrames: UInt64, skipped: UInt64) {
        latencies.removeAll(keepingCapacity: true)
        stageSums = (0, 0, 0, 0, 0)
        statsSinceNs = nowNs
        statsSinceFrames = cameraFrames
        statsSinceSkipped = skipped
        powerSum = 0
        powerCount = 0
    }
}
