import Foundation
import SenteiEngine
import SenteiVision

#if canImport(Glibc)
import Glibc
#endif

/// Distils one pruned rung back towards its unpruned teacher on unlabelled frames: the training loop shared by
/// `sentei heal` and the scene guard's re-healing. The cosine schedule is fitted to a CPU budget once the cost of a
/// step is known; callers observe each step (progress, agreement, checkpoints, energy) through `afterStep`.
package final class RungHealer {
    package struct Settings: Sendable {
        /// Images per step.
        package var batch = 8
        /// Kind, learning rate and weight decay; `totalSteps`/`warmupSteps` are set from the budget.
        package var optimizer = OptimizerSettings()
        /// Weight of the neck-feature matching term (0 = off).
        package var featureWeight: Float = 1
        /// Seed of the augmentation stream.
        package var seed: UInt64 = 1
        package var threads = 1
        /// The CPU clock a `.cpuSeconds` budget is counted on: the process's by default; the daemon's guard passes
        /// its own thread's, so the pipeline's inference does not eat the re-healing budget.
        package var cpuClock: @Sendable () -> Double = processCPUSeconds
        /// Quantization-aware healing: the student runs this table's int8 convs fake-quantized; nil = fp32 healing.
        package var quantization: QuantizationTable?
        package init() {}
    }

    package enum Budget: Sendable {
        case steps(Int)
        /// Process CPU seconds (all threads), counted from the `cpuStart` given to `run`.
        case cpuSeconds(Double)
    }

    package struct Progress {
        package var step: Int
        package var totalSteps: Int
        package var stats: DistillationTrainer.StepResult
        /// CPU seconds of this step.
        package var stepCPU: Double
        /// CPU seconds spent on the rung so far, including a resumed run's earlier ones.
        package var cpuSeconds: Double
    }

    package let trainer: DistillationTrainer
    package let augmenter: Augmenter
    package let frames: [RGBImage]
    package let settings: Settings
    package let budget: Budget
    /// CPU seconds a resumed checkpoint had already spent; they count against a CPU budget.
    package var spentBefore = 0.0
    private static let openEnded = 1_000_000

    /// - Parameters:
    ///   - student, teacher: optimised graphs with one input of the same square shape; `manifest` gives the
    ///     letterbox colour order and value scale.
    ///   - frames: decoded training frames (not the held-out ones).
    package init(student: Graph, teacher: Graph, frames: [RGBImage], manifest: ModelManifest, settings: Settings,
                 budget: Budget) throws {
        guard !frames.isEmpty else { throw PruneError(.invalidCalibration, "healing needs at least one training frame") }
        guard settings.batch >= 1 else { throw PruneError(.invalidPlan, "healing batch must be ≥ 1, got \(settings.batch)") }
        switch budget {
        case .steps(let n) where n < 0: throw PruneError(.invalidPlan, "healing steps must be ≥ 0, got \(n)")
        case .cpuSeconds(let s) where !(s.isFinite && s >= 0): throw PruneError(.invalidPlan, "healing CPU budget must be ≥ 0 s, got \(s)")
        default: break
        }
        guard let input = student.inputs.first, student[input].shape.count == 4 else {
            throw PruneError(.invalidPlan, "healing: the student needs one NCHW input")
        }
        let shape = student[input].shape
        var optimizer = settings.optimizer
        if case .steps(let n) = budget { optimizer.totalSteps = max(n, 1) } else { optimizer.totalSteps = Self.openEnded }
        optimizer.warmupSteps = min(20, max(1, optimizer.totalSteps / 10))
        trainer = try DistillationTrainer(student: student, teacher: teacher, settings: optimizer, threads: settings.threads,
                                          quantization: settings.quantization)
        trainer.loss.featureWeight = settings.featureWeight
        augmenter = Augmenter(width: shape[3], height: shape[2], bgr: manifest.input.colourOrder == .bgr,
                              valueScale: manifest.letterboxSpec.valueScale)
        self.frames = frames
        self.settings = settings
        self.budget = budget
    }

    /// Trains until the budget is spent (a resumed trainer continues from its step). `cpuStart`: process CPU time
    /// when work on the rung began, so set-up counts against a CPU budget too.
    package func run(cpuStart: Double, afterStep: (Progress) throws -> Void = { _ in }) throws {
        var scheduleFitted = false
        while true {
            let step = trainer.optimizer.step
            let spent = spentBefore + settings.cpuClock() - cpuStart
            switch budget {
            case .steps(let n): if step >= n { return }
            case .cpuSeconds(let limit): if spent >= limit { return }
            }
            let stepStart = settings.cpuClock()
            let images = (0..<settings.batch).map { i -> [Float] in
                var g = SplitMix64(seed: settings.seed, step: step, index: i)
                return augmenter.sample(frames, using: &g)
            }
            let stats = try trainer.step(images)
            let stepCPU = settings.cpuClock() - stepStart
            if !scheduleFitted {
                scheduleFitted = true
                // Fit the cosine schedule to the CPU budget once the cost of a step is known.
                if case .cpuSeconds(let limit) = budget, trainer.optimizer.settings.totalSteps == Self.openEnded {
                    let remaining = limit - (spentBefore + settings.cpuClock() - cpuStart)
                    let estimate = max(trainer.optimizer.step + 1, trainer.optimizer.step + Int(remaining / (stepCPU * 1.1)))
                    trainer.optimizer.settings.totalSteps = estimate
                    trainer.optimizer.settings.warmupSteps = min(20, max(1, estimate / 10))
                }
            }
            try afterStep(Progress(step: trainer.optimizer.step, totalSteps: trainer.optimizer.settings.totalSteps, stats: stats,
                                   stepCPU: stepCPU, cpuSeconds: spentBefore + settings.cpuClock() - cpuStart))
        }
    }

    /// The student's inference graph with the current weights.
    package var healedGraph: Graph { trainer.healedGraph }
}

/// CPU time of the calling thread (user + system), seconds.
package func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Process CPU time (user + system, all threads), seconds.
package func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
