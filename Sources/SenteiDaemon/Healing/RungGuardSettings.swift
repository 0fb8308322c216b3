import Foundation

/// What one camera's scene guard does and when (`[healing]` in the config, see `HealingSettings`).
public struct RungGuardSettings: Sendable, Equatable {
    public enum Priority: Sendable, Equatable {
        /// nice 19 on the guard's own thread: it takes what the pipeline leaves and never competes with it.
        case background
        /// The caller's priority (tests on a loaded machine, where nice 19 would starve the guard).
        case inherited
    }

    public var checkEveryS: Double = 300
    public var checkFrames = 4
    public var ratio = 0.7
    public var sustained = 3
    /// Local-time window for re-healing; nil = any time.
    public var hours: HealingHours?
    /// CPU seconds (the guard thread's own) per re-healing run; 0 = withdraw only, never re-heal.
    public var rehealCPUSeconds: Double = 600
    /// Steps instead of CPU seconds (tests); nil = the CPU budget.
    public var rehealSteps: Int?
    public var minGain = 0.05
    public var rehealFrames = 48
    public var holdout = 8
    /// Images per re-healing step and the peak learning rate (Adam).
    public var batch = 4
    public var learningRate: Float = 1e-4
    /// Reference detections a check needs before it judges (frames are pooled until then).
    public var minimumReferenceBoxes = 4
    public var priority = Priority.background

    public init() {}

    public init(_ healing: HealingSettings) {
        checkEveryS = healing.checkEveryS
        checkFrames = healing.checkFrames
        ratio = healing.ratio
        sustained = healing.sustained
        hours = healing.hours
        rehealCPUSeconds = healing.minutes * 60
        minGain = healing.minGain
        rehealFrames = healing.rehealFrames
        holdout = healing.holdout
    }

    /// Whether re-healing may start at `date` (local time).
    public func mayReheal(at date: Date) -> Bool {
        guard rehealCPUSeconds > 0 || rehealSteps != nil else { return false }
        guard let hours else { return true }
        var seconds = time_t(date.timeIntervalSince1970)
        var local = tm()
        localtime_r(&seconds, &local)
        return hours.contains(minuteOfDay: Int(local.tm_hour) * 60 + Int(local.tm_min))
    }
}
