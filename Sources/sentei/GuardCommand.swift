import ArgumentParser
import Foundation
import SenteiCapture
import SenteiDaemon
import SenteiEngine
import SenteiPrune
import SenteiVision

/// `sentei guard`: replays frame directories past a healed rung the way the daemon's sampled frames would reach it:
/// every `--every` frames the rung's agreement with the unpruned model is checked; a sustained drop withdraws the
/// rung from the ladder's front (manifest.json), and once `--recent` frames of the new scene have arrived the rung is
/// re-healed on them and re-admitted if that raised its agreement on frames held out from the re-healing.
struct GuardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard",
        abstract: "Watch a healed ladder rung's agreement with the unpruned model on replayed frames; withdraw and re-heal it when the scene changes.")

    @Argument(help: "The ladder directory (manifest.json).")
    var ladder: String

    @Option(name: .long, help: "The healed rung to guard, by name.")
    var level: String

    @Option(name: .long, help: "Frame directories replayed one after the other (comma-separated), e.g. ../shared/data/tud-campus/frames,../shared/data/traffic/frames.")
    var frames: String

    @Option(name: .long, help: "Frames per agreement check.")
    var every = 8

    @Option(name: .long, help: "A check fails below this fraction of the agreement the rung was admitted with.")
    var ratio = 0.7

    @Option(name: .long, help: "Consecutive failed checks that withdraw the rung.")
    var sustained = 3

    @Option(name: .long, help: "Frames after a withdrawal that the rung is re-healed on (the last --holdout of them judge it).")
    var recent = 48

    @Option(name: .long, help: "Of the re-healing frames, this many (the last) are held out to admit the result.")
    var holdout = 4

    @Option(name: .long, help: "CPU-minute budget of a re-healing run.")
    var rehealMinutes: Double?

    @Option(name: .long, help: "Optimiser steps of a re-healing run (instead of --reheal-minutes).")
    var rehealSteps: Int?

    @Option(name: .long, help: "Re-admit a re-healed rung only if its held-out agreement rose by more than this (AP50).")
    var minGain = 0.05

    @Option(name: .long, help: "Images per re-healing step.")
    var batch = 4

    @Option(name: .long, help: "Peak learning rate of re-healing (Adam).")
    var lr: Float = 1e-4

    @Option(name: .long, help: "Threads; default: one per core.")
    var threads: Int?

    @Option(name: .long, help: "Watts per fully busy core for the CPU-time energy estimate (only when no RAPL or hwmon meter is readable).")
    var wattsPerCore = 4.0

    /// "tud-campus/frames/000041.jpg" from a longer path: enough to tell the cameras apart.
    static func shortName(_ path: String) -> String {
        path.split(separator: "/").suffix(3).joined(separator: "/")
    }

    func validate() throws {
        guard every >= 1, sustained >= 1, recent > holdout, holdout >= 1, batch >= 1 else {
            throw ValidationError("--every, --sustained, --holdout, --batch must be ≥ 1 and --recent > --holdout")
        }
        guard ratio > 0, ratio <= 1 else { throw ValidationError("--ratio must be in (0, 1]") }
        guard minGain >= 0, minGain <= 1 else { throw ValidationError("--min-gain must be in [0, 1]") }
        guard (rehealMinutes == nil) != (rehealSteps == nil) else { throw ValidationError("give exactly one of --reheal-minutes and --reheal-steps") }
    }

    func run() throws {
        var settings = SceneGuard.Settings()
        settings.policy = .init(ratio: ratio, sustained: sustained)
        settings.healing.batch = batch
        settings.healing.optimizer.learningRate = lr
        settings.rehealBudget = rehealSteps.map { .steps($0) } ?? .cpuSeconds(rehealMinutes! * 60)
        settings.holdout = holdout
        settings.minimumGain = minGain
        let threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let sceneGuard = try SceneGuard(directory: ladder, level: level, settings: settings, threads: threadCount)
        let meter = PowerMeterProbe(wattsPerCore: wattsPerCore, estimateScope: .process).probe().meter
        let clock = SystemMonotonicClock()
        var integrator: EnergyIntegrator?
        let energy = SceneGuard.EnergyMeasurement(
            label: meter.name,
            begin: { integrator = EnergyIntegrator(meter: meter, nowNs: clock.nowNs()) },
            end: {
                guard let integrator else { return nil }
                integrator.sample(nowNs: clock.nowNs())
                return integrator.isComplete ? integrator.joules : nil
            })
        print(String(format: "%@: admitted agreement %.3f; a check fails below %.3f (AP50 weighted by the unpruned model's boxes per class)", level, sceneGuard.policy.admittedMAP50,
                     sceneGuard.policy.threshold))

        var replay: [(name: String, jpeg: [UInt8])] = []
        for directory in frames.split(separator: ",").map(String.init) {
            for name in try listJPEGs(under: directory) {
                let path = directory + "/" + name
                guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read") }
                replay.append((path, [UInt8](data)))
            }
        }
        var sinceWithdrawal: [(name: String, jpeg: [UInt8])]?
        var batchStart = 0
        while batchStart < replay.count {
            let batchFrames = Array(replay[batchStart..<min(batchStart + every, replay.count)])
            let label = "\(Self.shortName(batchFrames.first!.name))…\((batchFrames.last!.name as NSString).lastPathComponent)"
            batchStart += every
            if var collected = sinceWithdrawal {
                collected += batchFrames
                sinceWithdrawal = collected
                guard collected.count >= recent else { continue }
                print("re-healing \(level) on the \(collected.count) frames since the withdrawal…")
                let outcome: SceneGuard.Reheal
                do {
                    outcome = try sceneGuard.reheal(frames: collected, energy: energy) { progress in
                        FileHandle.standardError.write(Data(String(format: "\rstep %d/%d  loss %.4f  cpu %.0f s   ", progress.step, progress.totalSteps,
                                                                   progress.stats.terms.total, progress.cpuSeconds).utf8))
                    }
                } catch let error as PruneError where error.code == .invalidCalibration {
                    // Too little on the held-out frames to judge: wait for more frames of the new scene.
                    print("re-healing postponed: \(error)")
                    sinceWithdrawal = Array(collected.dropFirst(every))
                    continue
                }
                FileHandle.standardError.write(Data("\n".utf8))
                print(String(format: "re-heal: agreement mAP50 on %d held-out frames %.3f → %.3f in %d steps, %.0f CPU s; %@", holdout,
                             outcome.before.weightedAP50, outcome.after.weightedAP50, outcome.steps, outcome.cpuSeconds,
                             outcome.admitted ? "admitted as \(outcome.file!)" : "not admitted, the rung stays withdrawn"))
                sinceWithdrawal = outcome.admitted ? nil : []
                continue
            }
            switch try sceneGuard.check(frames: batchFrames) {
            case .inconclusive: print("\(label): the unpruned model sees nothing; no verdict")
            case .agrees(let map50): print(String(format: "%@: agreement %.3f", label, map50))
            case .below(let map50, let checks): print(String(format: "%@: agreement %.3f — below (%d of %d)", label, map50, checks, sustained))
            case .withdrawn(let withdrawal):
                print("\(label): WITHDRAWN — \(withdrawal.reason); front now \(sceneGuard.ladder.paretoLevels.map(\.name).joined(separator: ", "))")
                sinceWithdrawal = []
            case .awaitingReheal: break
            }
        }
    }
}
