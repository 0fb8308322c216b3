import Foundation
import Logging
import SenteiDaemon
import SenteiVision
import ServiceLifecycle
import UnixSignals

/// The daemon's lifetime, in order: sinks (socket, journal) → cameras → READY=1 → heartbeats, STATUS= and SIGHUP
/// reloads until graceful shutdown → STOPPING=1 → cameras stopped → sinks closed.
final class DaemonService: Service, @unchecked Sendable {
    private let reloader: ConfigReloader
    private let writer: JournalWriter
    private let notifier: SystemdNotifier
    private let heartbeats: Heartbeats
    private let logger: Logger
    private let progress = ProgressMonitor()
    private let status: DaemonStatus
    private let sink: SwitchableSink
    private let snapshots: SnapshotWriter
    private let lock = NSLock()

    // Guarded by `lock`.
    private var manifest: ModelManifest
    private var socket: EventSocketServer?
    private var journal: JournalEventSink?
    private var cameras: [String: CameraRunner] = [:]
    private var ready = false

    init(configPath: String, initial: (config: SenteiConfig, manifest: ModelManifest), writer: JournalWriter,
         notifier: SystemdNotifier, heartbeats: Heartbeats, logger: Logger) throws {
        self.reloader = ConfigReloader(path: configPath, initial: initial.config, labels: { model in
            Self.detectorManifest(model)?.classNames
        })
        self.manifest = initial.manifest
        self.writer = writer
        self.notifier = notifier
        self.heartbeats = heartbeats
        self.logger = logger
        let progress = self.progress
        self.status = DaemonStatus(onCameraState: { camera, lost in
            // A lost camera's stages wait for the device; they are idle, not stuck.
            for stage in progress.stages(prefix: camera + "/") { stage.setIdle(lost) }
        })
        self.sink = SwitchableSink()
        self.snapshots = SnapshotWriter(sink: sink, logger: logger)
    }

    /// The detector manifest of `[model]`: the ladder directory's when one is set, else `model.manifest`.
    static func detectorManifest(_ model: ModelSettings) -> ModelManifest? {
        if let ladder = model.ladder { return try? Ladder.detectorManifest(directory: ladder) }
        return try? ModelManifest.load(path: model.manifest)
    }

    /// `[outputs.snapshots]` as the writer takes it; nil when off.
    static func snapshotConfig(_ config: SenteiConfig) -> SnapshotConfig? {
        guard config.outputs.snapshots.enabled else { return nil }
        return SnapshotConfig(directory: config.snapshotDirectory, maxBytes: config.outputs.snapshots.maxBytes)
    }

    func run() async throws {
        // Trap SIGHUP before anything else: its default action would end the process during startup.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let config = reloader.current
        try startOutputs(config.outputs)
        snapshots.configure(Self.snapshotConfig(config))
        snapshots.start()
        notifier.notify(.status("loading model, starting \(config.cameras.count) camera(s)"))
        for camera in config.cameras { startCamera(camera, config: config) }

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.tick() }
                group.addTask { await self.handleReloads(hangups) }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.notifier.notify(.stopping)
            let socketPath = self.lock.withLock { self.socket?.options.path }
            Self.armStopDeadline(logger: self.logger, socketPath: socketPath)
        }
        await shutdown()
    }

    // MARK: Ticks: READY=1, progress sampling, STATUS=

    private func tick() async {
        var lastStatus = ContinuousClock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(250))
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            // Every configured camera must have processed a frame or be known lost (a camera that failed to start
            // reports camera_lost), so READY=1 never comes from an empty or half-rebuilt set.
            let names = reloader.current.cameras.map(\.name)
            if !lock.withLock({ ready }), status.accountedFor(names) {
                lock.withLock { ready = true }
                for name in names { registerProgress(name) }
                notifier.notify(.ready, .status(status.statusLine))
                logger.notice("ready", metadata: ["sentei.cameras": "\(names.sorted().joined(separator: ","))"])
            }
            progress.sample()
            if ContinuousClock.now - lastStatus >= .seconds(reloader.current.daemon.statsIntervalS) {
                lastStatus = ContinuousClock.now
                notifier.notify(.status(status.statusLine))
            }
        }
    }

    private func registerProgress(_ name: String) {
        guard let runner = lock.withLock({ cameras[name] }) else { return }
        let pipeline = runner.pipeline
        progress.add(.init(stage: heartbeats.stage(name + "/capture"), read: { pipeline.counters.cameraFrames }))
        progress.add(.init(stage: heartbeats.stage(name + "/process"), read: {
            let c = pipeline.counters
            return c.processedFrames + c.skippedFrames + c.failedFrames
        }))
    }

    private func unregisterProgress(_ name: String) {
        for stage in progress.remove(stagesNamed: name + "/") { heartbeats.remove(stage) }
    }

    // MARK: Cameras

    private func startCamera(_ settings: CameraSettings, config: SenteiConfig) {
        let manifest = lock.withLock { self.manifest }
        do {
            let runner = try CameraRunner.make(settings: settings, config: config, manifest: manifest, sink: sink,
                                               snapshots: snapshots, logger: logger)
            lock.withLock { cameras[settings.name] = runner }
            if lock.withLock({ ready }) { registerProgress(settings.name) }
            runner.start { [weak self] runner, error in self?.cameraEnded(runner, error: error) }
            logger.info("camera started", metadata: ["sentei.camera": "\(settings.name)", "sentei.source": "\(settings.source)"])
        } catch {
            logger.error("camera could not start", metadata: [
                "sentei.camera": "\(settings.name)", "sentei.source": "\(settings.source)", "sentei.error": "\(error)"])
            sink.emit(.cameraLost(CameraEvent(camera: settings.name, source: "\(settings.source)", reason: "\(error)")))
            lock.withLock { cameras[settings.name] = nil }
        }
    }

    private func cameraEnded(_ runner: CameraRunner, error: (any Error)?) {
        let name = runner.settings.name
        let current = lock.withLock { () -> Bool in
            guard cameras[name] === runner else { return false }
            cameras[name] = nil
            return true
        }
        guard current else { return }  // replaced by a reload or stopped on purpose
        unregisterProgress(name)
        status.forget(name)
        if let error {
            logger.error("camera pipeline failed", metadata: ["sentei.camera": "\(name)", "sentei.error": "\(error)"])
            sink.emit(.cameraLost(CameraEvent(camera: name, source: "\(runner.settings.source)", reason: "\(error)")))
        } else {
            logger.notice("camera input ended", metadata: ["sentei.camera": "\(name)"])
        }
        if lock.withLock({ cameras.isEmpty }) {
            logger.error("no camera is running")
            notifier.notify(.status("no camera running"))
        }
    }

    private func stopCamera(_ name: String) async {
        guard let runner = lock.withLock({ cameras.removeValue(forKey: name) }) else { return }
        unregisterProgress(name)
        status.forget(name)
        if !(await runner.stop(timeout: .milliseconds(1500))) {
            logger.warning("camera did not stop in time", metadata: ["sentei.camera": "\(name)"])
        }
    }

    // MARK: Outputs

    private func startOutputs(_ outputs: OutputSettings) throws {
        var sinks: [any EventSink] = [status]
        var socket: EventSocketServer? = nil
        if outputs.socket.enabled {
            let server = try EventSocketServer(options: .init(outputs.socket))
            try server.start()
            socket = server
            sinks.append(server)
        }
        var journal: JournalEventSink? = nil
        if outputs.journal.enabled {
            let journalSink = JournalEventSink(journal: EventJournal(writer: writer, types: outputs.journal.events))
            journal = journalSink
            sinks.append(journalSink)
        }
        lock.withLock {
            self.socket = socket
            self.journal = journal
        }
        sink.set(sinks)
    }

    private func stopOutputs() {
        let (socket, journal) = lock.withLock { () -> (EventSocketServer?, JournalEventSink?) in
            defer { self.socket = nil; self.journal = nil }
            return (self.socket, self.journal)
        }
        sink.set([status])
        socket?.stop()
        journal?.stop()
    }

    // MARK: Reload (SIGHUP)

    private func handleReloads(_ hangups: UnixSignalsSequence) async {
        for await _ in hangups {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            await reload()
        }
    }

    private func reload() async {
        notifier.notify(.reloading(monotonicUsec: SystemdNotifier.monotonicUsec()))
        logger.notice("reloading configuration", metadata: ["sentei.file": "\(reloader.path)"])
        switch reloader.reload() {
        case .rejected(let error):
            for problem in error.errors {
                logger.error("configuration rejected; keeping the running configuration", metadata: ConfigLog.metadata(problem))
            }
            finishReload(status: "reload rejected: \(error.errors.first.map(\.description) ?? "")")
            return
        case .unchanged:
            logger.notice("configuration unchanged")
        case .applied(let old, let new, let changes):
            logger.notice("configuration applied", metadata: ["sentei.changes": "\(changes.summary)"])
            await apply(old: old, new: new, changes: changes)
        }
        finishReload(status: status.statusLine)
    }

    /// READY=1 ends a reload only once startup finished; a reload during startup leaves READY=1 to `tick()`.
    private func finishReload(status line: String) {
        if lock.withLock({ ready }) {
            notifier.notify(.ready, .status(line))
        } else {
            notifier.notify(.status(line))
        }
    }

    private func apply(old: SenteiConfig, new: SenteiConfig, changes: ConfigChangeSet) async {
        if changes.outputsChanged {
            if old.outputs.socket == new.outputs.socket, let journal = lock.withLock({ self.journal }),
               new.outputs.journal.enabled {
                journal.setJournal(EventJournal(writer: writer, types: new.outputs.journal.events))
            } else {
                stopOutputs()
                do {
                    try startOutputs(new.outputs)
                } catch {
                    logger.error("outputs could not be restarted", metadata: ["sentei.error": "\(error)"])
                }
            }
        }
        if changes.outputsChanged || changes.daemonChanged { snapshots.configure(Self.snapshotConfig(new)) }
        if changes.modelChanged, let manifest = Self.detectorManifest(new.model) {
            lock.withLock { self.manifest = manifest }
        }
        // Only what the capture or the compiled ladder depends on reopens a camera: a different model (every camera)
        // or a camera's own source, size, format or rate (that camera). Budgets, level bounds, detection, the stats
        // interval and calibration go to the running pipelines between two frames.
        var toRestart = Set(changes.restartedCameras)
        if changes.modelChanged { toRestart.formUnion(new.cameras.map(\.name)) }
        for name in changes.removedCameras { await stopCamera(name) }
        if changes.budgetsChanged || changes.detectionChanged || changes.calibrationChanged || changes.daemonChanged {
            let labels = lock.withLock { manifest.classNames }
            let newMeter = old.budgets.estimateWattsPerCore != new.budgets.estimateWattsPerCore
                || old.budgets.estimateScope != new.budgets.estimateScope
            for camera in new.cameras where !toRestart.contains(camera.name) {
                guard let runner = lock.withLock({ cameras[camera.name] }) else { continue }
                do {
                    try runner.applyLive(new, labels: labels, newMeter: newMeter, logger: logger)
                    logger.notice("camera reconfigured without restart", metadata: ["sentei.camera": "\(camera.name)"])
                } catch {
                    logger.error("running camera rejected the new settings; it keeps the old ones", metadata: [
                        "sentei.camera": "\(camera.name)", "sentei.error": "\(error)"])
                }
            }
        }
        if changes.healingChanged || changes.calibrationChanged {
            for camera in new.cameras where !toRestart.contains(camera.name) {
                guard let runner = lock.withLock({ cameras[camera.name] }) else { continue }
                runner.restartGuard(new)
                logger.notice("scene guard restarted with the new [healing] settings", metadata: ["sentei.camera": "\(camera.name)"])
            }
        }
        for camera in new.cameras where toRestart.contains(camera.name) {
            await stopCamera(camera.name)
            startCamera(camera, config: new)
        }
        for camera in new.cameras where changes.addedCameras.contains(camera.name) { startCamera(camera, config: new) }
    }

    // MARK: Shutdown

    /// The promise is "SIGTERM → exit within 2 s". Draining is cooperative, but a reload may be compiling a model or
    /// a camera thread may sit in a driver call; neither can be interrupted, so a plain thread ends the process at
    /// 1.7 s if the orderly path has not.
    private static func armStopDeadline(logger: Logger, socketPath: String?) {
        let thread = Thread {
            Thread.sleep(forTimeInterval: 1.7)
            logger.warning("shutdown deadline reached; exiting without waiting for busy threads")
            if let socketPath { unlink(socketPath) }  // clients see the daemon gone, as after an orderly stop
            _exit(0)
        }
        thread.name = "sentei-stop-deadline"
        thread.start()
    }

    /// Stops every camera at once and waits at most 1 s in total, so SIGTERM ends the process within 2 s even when
    /// a pipeline is in the middle of a slow inference or a driver call.
    private func shutdown() async {
        let runners = lock.withLock { () -> [CameraRunner] in
            defer { cameras.removeAll() }
            return Array(cameras.values)
        }
        for runner in runners { runner.pipeline.stop() }
        let deadline = ContinuousClock.now + .milliseconds(1000)
        for runner in runners {
            let left = deadline - ContinuousClock.now
            if !(await runner.stop(timeout: max(left, .zero))) {
                logger.warning("camera did not stop in time", metadata: ["sentei.camera": "\(runner.settings.name)"])
            }
        }
        snapshots.stop()
        stopOutputs()
        logger.notice("stopped")
    }
}

/// The pipeline holds one sink for its lifetime; outputs change on reload, so it holds this forwarding sink.
final class SwitchableSink: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var sinks: [any EventSink] = []
    func set(_ sinks: [any EventSink]) { lock.withLock { self.sinks = sinks } }
    func emit(_ event: Event) {
        let current = lock.withLock { sinks }
        for sink in current { sink.emit(event) }
    }
}
