import Foundation
public import Logging
import SenteiEngine
import SenteiPrune
import SenteiVision
import Synchronization

/// The daemon's scene guard for one camera: watches the healed (specialist) rungs of the pipeline's ladder directory
/// on the frames the pipeline samples into its calibration directory, withdraws a rung whose agreement with the
/// unpruned model falls, and re-heals it in the background.
///
/// Runs on its own thread (`sentei-guard`, nice 19), never on the inference thread, and touches the pipeline only
/// through `CameraPipeline.setWithdrawnLevels` / `replaceLevel`, which the processing thread applies between two
/// frames. Its models are its own instances (one thread each, no worker pool); a re-admitted rung's model for the
/// pipeline is compiled on a second, normal-priority thread (`sentei-guard-ld`) so that the model's inference
/// workers do not inherit nice 19.
///
///     let guardian = RungGuardService(settings: RungGuardSettings(config.healing), ladderDirectory: dir,
///                                     calibrationDirectory: calibration, pipeline: pipeline, sink: sink,
///                                     modelThreads: 2, logger: logger)
///     guardian.start()   // … guardian.stop() before the pipeline goes away
public final class RungGuardService: @unchecked Sendable {
    public let settings: RungGuardSettings
    public let ladderDirectory: String
    public let calibrationDirectory: String
    private let pipeline: CameraPipeline
    private let sink: any EventSink
    private let modelThreads: Int
    private let logger: Logger
    private let wake = NSCondition()
    private var stopRequested = false  // guarded by `wake`
    private let finished = Atomic<Bool>(false)
    private let checks = Atomic<Int>(0)
    private let loader = LoaderThread()
    /// The guard thread's nice value once it lowered it (nil before, or with `.inherited`).
    private let appliedNice = Mutex<Int32?>(nil)
    /// The latest checks' verdicts (at most 64), for logs and tests.
    private let history = Mutex<[CheckRecord]>([])

    struct CheckRecord: Sendable {
        var rung: String
        /// Sampled frame files the check ran on, oldest first.
        var frames: [String]
        var outcome: String
        var withdrew: Bool
    }

    var checkHistory: [CheckRecord] { history.withLock { $0 } }

    public init(settings: RungGuardSettings, ladderDirectory: String, calibrationDirectory: String,
                pipeline: CameraPipeline, sink: any EventSink, modelThreads: Int, logger: Logger) {
        self.settings = settings
        self.ladderDirectory = ladderDirectory
        self.calibrationDirectory = calibrationDirectory
        self.pipeline = pipeline
        self.sink = sink
        self.modelThreads = modelThreads
        var logger = logger
        logger[metadataKey: "sentei.camera"] = "\(pipeline.config.camera)"
        self.logger = logger
    }

    /// Agreement checks completed so far (a check that pooled frames without a verdict counts too).
    public var checksDone: Int { checks.load(ordering: .relaxed) }
    /// True once the guard thread has returned (stopped, or nothing to guard).
    public var isFinished: Bool { finished.load(ordering: .acquiring) }
    public var threadNice: Int32? { appliedNice.withLock { $0 } }

    public func start() {
        loader.start()
        let thread = Thread { [self] in
            nameCurrentThread("sentei-guard")
            if settings.priority == .background { lowerPriority() }
            do {
                try run()
            } catch {
                logger.error("scene guard stopped", metadata: ["sentei.error": "\(error)"])
            }
            loader.stop()
            finished.store(true, ordering: .releasing)
        }
        thread.name = "sentei-guard-\(pipeline.config.camera)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Asks the guard to end; it does after the step or check it is in (a second or so). Does not wait.
    public func stop() {
        wake.lock()
        stopRequested = true
        wake.broadcast()
        wake.unlock()
    }

    private var isStopping: Bool {
        wake.lock()
        defer { wake.unlock() }
        return stopRequested
    }

    /// Sleeps up to `seconds`; false when stopped meanwhile.
    private func sleep(_ seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        wake.lock()
        defer { wake.unlock() }
        while !stopRequested && wake.wait(until: deadline) {}
        return !stopRequested
    }

    private func lowerPriority() {
        // Linux keeps the nice value per thread; PRIO_PROCESS with id 0 is the calling thread.
        errno = 0
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19) != 0 {
            logger.warning("scene guard could not lower its priority", metadata: ["sentei.errno": "\(errno)"])
        }
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        appliedNice.withLock { $0 = errno == 0 ? nice : nil }
    }

    // MARK: Guard thread

    /// One guarded rung.
    private final class Watched {
        let index: Int
        let guardian: SceneGuard
        /// The latest check agreements, oldest first.
        var recent: [Double] = []
        /// The newest frame seen when it was withdrawn: re-healing uses frames after it.
        var withdrawnAfter: FrameFile?
        init(index: Int, guardian: SceneGuard) {
            self.index = index
            self.guardian = guardian
        }
    }

    private func run() throws {
        var sceneSettings = SceneGuard.Settings()
        sceneSettings.policy = .init(ratio: settings.ratio, sustained: settings.sustained)
        sceneSettings.healing.batch = settings.batch
        sceneSettings.healing.optimizer.learningRate = settings.learningRate
        sceneSettings.healing.cpuClock = threadCPUSeconds
        sceneSettings.rehealBudget = settings.rehealSteps.map { .steps($0) } ?? .cpuSeconds(settings.rehealCPUSeconds)
        sceneSettings.holdout = settings.holdout
        sceneSettings.minimumGain = settings.minGain
        sceneSettings.minimumReferenceBoxes = settings.minimumReferenceBoxes

        let manifest = try LadderManifest.load(directory: ladderDirectory)
        var watched: [Watched] = []
        for (index, level) in pipeline.ladder.levels.enumerated() {
            guard let rung = manifest.levels.first(where: { $0.name == level.name }), rung.healing != nil,
                  rung.precision == .fp32, rung.cut > 0, rung.withdrawn == nil else { continue }
            watched.append(Watched(index: index, guardian: try SceneGuard(directory: ladderDirectory, level: rung.name,
                                                                            settings: sceneSettings, threads: 1)))
        }
        guard !watched.isEmpty else {
            logger.notice("scene guard: no healed rung on the running ladder; nothing to guard",
                          metadata: ["sentei.ladder": "\(ladderDirectory)"])
            return
        }
        logger.notice("scene guard watching healed rungs", metadata: [
            "sentei.rungs": "\(watched.map(\.guardian.levelName))",
            "sentei.check_every_s": "\(settings.checkEveryS)", "sentei.nice": "\(threadNice.map { "\($0)" } ?? "inherited")"])
        var lastChecked: FrameFile?
        while sleep(settings.checkEveryS) {
            let files = FrameFile.list(calibrationDirectory)
            let fresh = files.filter { lastChecked.map($0.isNewer) ?? true }.suffix(settings.checkFrames)
            if let newest = fresh.last {
                lastChecked = newest
                let frames = fresh.compactMap { $0.read() }
                for rung in watched where !rung.guardian.isWithdrawn && !isStopping {
                    do {
                        try check(rung, frames: frames, newest: newest)
                    } catch {
                        // A corrupt sampled frame or an unwritable manifest.json must not end the guard.
                        logger.warning("scene guard check failed", metadata: [
                            "sentei.rung": "\(rung.guardian.levelName)", "sentei.error": "\(error)"])
                        if rung.guardian.isWithdrawn && rung.withdrawnAfter == nil {
                            // Withdrawn in memory but manifest.json could not be written: the pipeline still leaves it.
                            withdraw(rung, newest: newest, admitted: rung.guardian.policy.admittedMAP50,
                                     failing: rung.recent, reason: "withdrawn, but manifest.json could not be written: \(error)")
                        }
                    }
                }
                checks.add(1, ordering: .relaxed)
            }
            for rung in watched where rung.guardian.isWithdrawn && !isStopping && settings.mayReheal(at: Date()) {
                do {
                    try rehealIfReady(rung, files: files)
                } catch {
                    logger.warning("re-healing failed; the rung stays withdrawn", metadata: [
                        "sentei.rung": "\(rung.guardian.levelName)", "sentei.error": "\(error)"])
                    rung.withdrawnAfter = files.last
                }
            }
        }
    }

    private func check(_ rung: Watched, frames: [(name: String, jpeg: [UInt8])], newest: FrameFile) throws {
        let outcome = try rung.guardian.check(frames: frames)
        logger.debug("scene guard check", metadata: ["sentei.rung": "\(rung.guardian.levelName)", "sentei.outcome": "\(outcome)"])
        var withdrew = false
        if case .withdrawn = outcome { withdrew = true }
        let record = CheckRecord(rung: rung.guardian.levelName, frames: frames.map { ($0.name as NSString).lastPathComponent },
                                 outcome: "\(outcome)", withdrew: withdrew)
        history.withLock { list in
            list.append(record)
            if list.count > 64 { list.removeFirst(list.count - 64) }
        }
        switch outcome {
        case .agrees(let map50), .below(let map50, _):
            rung.recent.append(map50)
            if rung.recent.count > settings.sustained { rung.recent.removeFirst(rung.recent.count - settings.sustained) }
        case .withdrawn(let withdrawal):
            // The withdrawal carries the failing checks' mean; the earlier ones are in `recent`, so the last one is
            // what remains of the sum.
            let earlier = Array(rung.recent.suffix(settings.sustained - 1))
            let last = withdrawal.agreementMAP50 * Double(earlier.count + 1) - earlier.reduce(0, +)
            withdraw(rung, newest: newest, admitted: withdrawal.admittedMAP50, failing: earlier + [min(max(last, 0), 1)],
                     reason: withdrawal.reason)
        case .inconclusive, .awaitingReheal:
            break
        }
    }

    /// Takes the rung out of the running pipeline (between two frames) and says so.
    private func withdraw(_ rung: Watched, newest: FrameFile, admitted: Double, failing: [Double], reason: String) {
        rung.withdrawnAfter = newest
        pipeline.setWithdrawnLevels(pipeline.withdrawnLevelMask | (1 << UInt64(rung.index)))
        sink.emit(.rungWithdrawn(RungEvent(camera: pipeline.config.camera, rung: rung.guardian.levelName, level: rung.index,
                                           reason: reason, admittedMAP50: admitted, recentMAP50: failing)))
        logger.warning("healed rung withdrawn", metadata: [
            "sentei.rung": "\(rung.guardian.levelName)", "sentei.level": "\(rung.index)", "sentei.reason": "\(reason)"])
        rung.recent.removeAll()
    }

    private func rehealIfReady(_ rung: Watched, files: [FrameFile]) throws {
        let since = files.filter { rung.withdrawnAfter.map($0.isNewer) ?? true }
        guard since.count >= settings.rehealFrames else { return }
        let frames = since.suffix(settings.rehealFrames).compactMap { $0.read() }
        logger.notice("re-healing withdrawn rung", metadata: ["sentei.rung": "\(rung.guardian.levelName)",
                                                              "sentei.frames": "\(frames.count)"])
        let outcome: SceneGuard.Reheal
        do {
            outcome = try rung.guardian.reheal(frames: frames) { _ in
                if self.isStopping { throw GuardStopped() }
            }
        } catch is GuardStopped {
            return
        } catch let error as PruneError where error.code == .invalidCalibration {
            // The unpruned model sees too little on the held-out frames to judge: wait for a fresh set.
            logger.notice("re-healing postponed", metadata: ["sentei.rung": "\(rung.guardian.levelName)", "sentei.reason": "\(error)"])
            rung.withdrawnAfter = since.last
            return
        }
        let name = rung.guardian.levelName
        guard outcome.admitted else {
            logger.notice("re-healed rung not admitted; it stays withdrawn", metadata: [
                "sentei.rung": "\(name)", "sentei.before_map50": "\(outcome.before.weightedAP50)",
                "sentei.after_map50": "\(outcome.after.weightedAP50)", "sentei.min_gain": "\(settings.minGain)",
                "sentei.steps": "\(outcome.steps)", "sentei.cpu_s": "\(outcome.cpuSeconds)"])
            rung.withdrawnAfter = since.last
            return
        }
        // The pipeline's copy is compiled at normal priority and swapped in between two frames.
        let directory = ladderDirectory, threads = modelThreads
        let built = try loader.run {
            guard let selection = try LadderSelection.resolve(model: directory, level: name) else {
                throw LadderError(.invalidManifest, file: directory, "is not a ladder directory")
            }
            let detector = try selection.detectorManifest()
            let size = selection.level.inputSize
            let model = try selection.load(options: Model.Options(
                threads: threads, inputShapes: [detector.input.name: [1, 3, size, size]]))
            return try LadderLevel(name: name, model: model, manifest: detector)
        }
        try pipeline.replaceLevel(rung.index, with: built)
        pipeline.setWithdrawnLevels(pipeline.withdrawnLevelMask & ~(1 << UInt64(rung.index)))
        rung.withdrawnAfter = nil
        rung.recent.removeAll()
        sink.emit(.rungReadmitted(RungEvent(
            camera: pipeline.config.camera, rung: name, level: rung.index,
            reason: String(format: "re-healed on %d frames: held-out agreement %.3f → %.3f (min gain %.2f)", frames.count,
                           outcome.before.weightedAP50, outcome.after.weightedAP50, settings.minGain),
            admittedMAP50: rung.guardian.policy.admittedMAP50, recentMAP50: [],
            beforeMAP50: outcome.before.weightedAP50, afterMAP50: outcome.after.weightedAP50, steps: outcome.steps,
            cpuS: outcome.cpuSeconds, file: outcome.file)))
        logger.notice("re-healed rung re-admitted", metadata: ["sentei.rung": "\(name)", "sentei.file": "\(outcome.file ?? "")"])
    }
}

private struct GuardStopped: Error {}

/// A sampled JPEG frame in the calibration directory, ordered by modification time then name (sequence numbers
/// restart with the daemon, so names alone do not order frames across restarts).
struct FrameFile {
    let path: String
    let name: String
    let mtimeNs: Int64

    func isNewer(than other: FrameFile) -> Bool {
        mtimeNs != other.mtimeNs ? mtimeNs > other.mtimeNs : name > other.name
    }

    /// The frame as JPEG (raw samples converted); nil when the sampler trimmed it since the listing or it is unreadable.
    func read() -> (name: String, jpeg: [UInt8])? {
        (try? SampledFrame.jpeg(path: path)).map { (name, $0) }
    }

    /// The directory's sampled frames (`.jpg`, and `.raw` from uncompressed cameras), oldest first.
    static func list(_ directory: String) -> [FrameFile] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { SampledFrame.isImage($0) && !$0.hasPrefix(".") }.compactMap { name -> FrameFile? in
            let path = directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return FrameFile(path: path, name: name, mtimeNs: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        }.sorted { $1.isNewer(than: $0) }
    }
}

/// A normal-priority thread that runs one job at a time for the guard (threads inherit their creator's nice value,
/// so the pipeline's model and its workers must not be created on the nice-19 guard thread).
private final class LoaderThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var job: (() -> Void)?
    private var stopped = false

    func start() {
        let thread = Thread { [self] in
            nameCurrentThread("sentei-guard-ld")
            while true {
                condition.lock()
                while job == nil && !stopped { condition.wait() }
                let next = job
                job = nil
                let end = stopped && next == nil
                condition.unlock()
                if end { return }
                next?()
            }
        }
        thread.name = "sentei-guard-loader"
        thread.stackSize = 8 << 20
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `work` on the loader thread and waits for its result.
    func run<T>(_ work: @escaping () throws -> T) throws -> T {
        let done = NSCondition()
        var result: Result<T, any Error>?
        condition.lock()
        job = {
            let r = Result { try work() }
            done.lock()
            result = r
            done.broadcast()
            done.unlock()
        }
        condition.broadcast()
        condition.unlock()
        done.lock()
        while result == nil { done.wait() }
        done.unlock()
        return try result!.get()
    }
}
