/// Picks the ladder level (and, when even the lightest level cannot fit, how many frames to skip) from measured
/// latency and power. Pure logic: time comes in as arguments, so tests drive it on a virtual clock.
///
/// Model. Each level has a *measured* processing time (start-up profile, re-measured when the machine changes) and
/// an *online* EWMA of the processing times actually seen at it. The current level's online/measured ratio is the
/// machine's drift (another process taking a core shows up here); other levels are predicted as measured × drift.
/// End-to-end latency at the budget's percentile is predicted as the level's processing time plus the host's tail
/// (the percentile of each frame's excess over its level's profile over `tailWindowS`, the same for every level)
/// plus the queue wait seen now, scaled by the level's load; power as idle + others + ours × work ratio, where ours is
/// the daemon's CPU share of the power above idle (all of it when the meter counts only the daemon).
///
/// Policy. The most accurate level predicted to fit every budget. A broken budget steps down at once (as far as
/// needed); stepping up goes one level at a time and needs that level to fit with `stepUpHeadroom` for
/// `stepUpAfterS` (backing off when a step up is soon undone) and `minDwellS` at the current level. At the lightest
/// level, frames are skipped evenly instead.
/// Every decision returns a `LevelChangeEvent` carrying its reason and the measurements behind it.
public final class LevelController {
    public let config: ControllerConfig
    public let camera: String
    public let levelCount: Int
    public private(set) var level: Int
    /// 1 = every frame; n = one frame in n.
    public private(set) var processEvery = 1
    /// Processing ms per level as last measured (start-up or re-measure).
    public private(set) var measuredProfileMs: [Double]
    /// The start-up profile: the levels' relative costs on the idle machine, against which a re-measured level's
    /// slowdown is judged.
    public let startupProfileMs: [Double]
    /// Online EWMA of processing ms per level.
    public private(set) var onlineProfileMs: [Double]
    /// The current level has drifted from its profile for `driftWindowS`: the pipeline should re-measure every level
    /// between frames and call `profileMeasured`.
    public private(set) var wantsReprofile = false
    /// Frames per second the camera delivers (the pipeline keeps it current); nil until known.
    public var cameraFps: Double?

    /// Skipping more than one frame in this many is never useful: the output would be a slideshow.
    static let maxProcessEvery = 30
    /// Latency tail assumed before any frame was seen (start-up choice).
    static let startupTail = 1.1
    /// Below this share of the frame time busy, frames hardly queue: a latency budget broken there is a stall (a
    /// noisy host, a page fault), not load, and skipping frames cannot shorten it.
    static let queueingUtilisation = 0.5

    private let lowest: Int
    /// `max_level`; `highest` is the cheapest of the levels up to it that is not withdrawn.
    private let configuredHighest: Int
    private var latency: SlidingWindow
    private var processing: SlidingWindow
    /// Each frame's processing ms beyond its level's online profile; kept across level changes.
    private var excess: SlidingWindow
    private var power: SlidingWindow
    /// The daemon's share of the machine's busy CPU time, sampled with the power (empty: the meter counts only us).
    private var ownShare: SlidingWindow
    private var lastChangeNs: UInt64
    private var headroomSinceNs: UInt64?
    private var driftSinceNs: UInt64?
    private var lastReprofileNs: UInt64
    private var lastStepUpNs: UInt64?
    private var lastStepDownNs: UInt64?
    private var stepUpBackoff = 1.0
    private var lastPowerNs: UInt64?
    private var powerFailed = false
    private var pending: [LevelChangeEvent] = []
    /// Set once the lightest level at the most skipping there is still breaks a budget, so it is said only once.
    private var reportedUnreachable = false

    public init(config: ControllerConfig, camera: String, profileMs: [Double], nowNs: UInt64) throws(ControllerError) {
        guard !profileMs.isEmpty else { throw ControllerError("the ladder has no levels") }
        guard profileMs.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw ControllerError("level profile \(profileMs) holds a non-positive or non-finite time")
        }
        let b = config.budgets
        let lowest = b.minLevel ?? 0, highest = b.maxLevel ?? profileMs.count - 1
        guard (0..<profileMs.count).contains(lowest) else {
            throw ControllerError("budgets.min_level \(lowest) is outside the ladder's levels 0…\(profileMs.count - 1)")
        }
        guard (0..<profileMs.count).contains(highest), highest >= lowest else {
            throw ControllerError("budgets.max_level \(highest) is outside \(lowest)…\(profileMs.count - 1)")
        }
        if let l = b.latencyMs, !(l > 0) { throw ControllerError("budgets.latency_ms must be > 0, is \(l)") }
        if let p = b.powerW, !(p > 0) { throw ControllerError("budgets.power_w must be > 0, is \(p)") }
        if let f = b.fps, !(f > 0) { throw ControllerError("budgets.fps must be > 0, is \(f)") }
        guard b.latencyPercentile > 0 && b.latencyPercentile <= 100 else {
            throw ControllerError("budgets.latency_percentile must be in (0, 100], is \(b.latencyPercentile)")
        }
        self.config = config
        self.camera = camera
        self.levelCount = profileMs.count
        self.lowest = lowest
        self.configuredHighest = highest
        self.level = lowest
        self.measuredProfileMs = profileMs
        self.startupProfileMs = profileMs
        self.onlineProfileMs = profileMs
        self.latency = SlidingWindow(spanS: b.latencyWindowS)
        self.processing = SlidingWindow(spanS: b.latencyWindowS)
        self.excess = SlidingWindow(spanS: config.tailWindowS)
        self.power = SlidingWindow(spanS: b.powerWindowS)
        self.ownShare = SlidingWindow(spanS: b.powerWindowS)
        self.lastChangeNs = nowNs
        self.lastReprofileNs = nowNs
    }

    // MARK: Inputs

    /// One processed frame: end-to-end latency (capture → events out) and its processing part (decode → events).
    public func recordFrame(level frameLevel: Int, latencyMs: Double, processingMs: Double, nowNs: UInt64) {
        guard frameLevel == level, latencyMs.isFinite, processingMs.isFinite else { return }
        latency.add(latencyMs, atNs: nowNs)
        processing.add(processingMs, atNs: nowNs)
        excess.add(processingMs - onlineProfileMs[level], atNs: nowNs)
        let alpha = config.profileAlpha
        onlineProfileMs[level] = (1 - alpha) * onlineProfileMs[level] + alpha * processingMs
    }

    /// `ownShare`: the daemon's share (0…1) of the machine's busy CPU time over the reading's interval when the meter
    /// also counts other processes; nil when it counts only the daemon (or the share is unknown).
    public func recordPower(watts: Double, ownShare share: Double? = nil, nowNs: UInt64) {
        guard watts.isFinite, watts >= 0 else { return }
        power.add(watts, atNs: nowNs)
        if let share, share.isFinite, share >= 0 { ownShare.add(min(share, 1), atNs: nowNs) }
        lastPowerNs = nowNs
        powerFailed = false
    }

    /// The meter could not be read. With a power budget, the controller says so once and holds its level (it can
    /// neither confirm headroom nor see a breach) until readings return.
    public func recordPowerFailure(reason: String, nowNs: UInt64) {
        guard config.budgets.powerW != nil, !powerFailed else { return }
        powerFailed = true
        power.removeAll()
        ownShare.removeAll()
        pending.append(event(to: level, every: processEvery, reason: "power_meter_failed: \(reason)"))
    }

    /// A fresh profile (processing ms per level, measured on the current machine state). A machine change slows
    /// every level alike, so a level whose slowdown against the start-up profile is far from the median slowdown was
    /// caught by a stall during its few runs: it takes the median slowdown instead (bench/adapt: a re-measure under
    /// load put level 1 at 45 ms between level 0's 33 and level 2's 16, and the controller never stepped up to it).
    public func profileMeasured(_ profileMs: [Double], nowNs: UInt64) -> LevelChangeEvent? {
        guard profileMs.count == levelCount, profileMs.allSatisfy({ $0.isFinite && $0 > 0 }) else { return nil }
        let profileMs = Self.withoutOutliers(profileMs, reference: startupProfileMs)
        measuredProfileMs = profileMs
        onlineProfileMs = profileMs
        wantsReprofile = false
        driftSinceNs = nil
        lastReprofileNs = nowNs
        var e = event(to: level, every: processEvery, reason: "profile_remeasured")
        e.profileMs = profileMs
        return e
    }

    /// Levels whose slowdown (measured / reference) differs from the median slowdown by more than
    /// `outlierSlowdown`× either way are set to reference × median.
    static let outlierSlowdown = 1.5
    static func withoutOutliers(_ measured: [Double], reference: [Double]) -> [Double] {
        guard measured.count >= 3, measured.count == reference.count else { return measured }
        let slowdowns = zip(measured, reference).map { $0 / $1 }.sorted()
        let mid = slowdowns.count / 2
        let median = slowdowns.count % 2 == 1 ? slowdowns[mid] : (slowdowns[mid - 1] + slowdowns[mid]) / 2
        return zip(measured, reference).map { m, r in
            let slowdown = m / r
            return slowdown > median * outlierSlowdown || slowdown < median / outlierSlowdown ? r * median : m
        }
    }

    // MARK: Decisions

    /// The start-up choice: the most accurate allowed level whose profile fits every budget (lightest otherwise).
    /// `from` is the level running before (a config reload keeps the pipeline going); `reason` says why.
    public func start(nowNs: UInt64, from previous: Int? = nil, reason: String = "startup_profile") -> LevelChangeEvent {
        let from = previous ?? level
        var chosen = highest
        for candidate in lowest...highest where fits(candidate, every: baseEvery, margin: config.stepDownMargin).fits {
            chosen = candidate
            break
        }
        level = chosen
        processEvery = baseEvery
        lastChangeNs = nowNs
        var e = event(from: from, to: chosen, every: baseEvery, reason: reason)
        e.profileMs = measuredProfileMs
        return e
    }

    /// Call after every processed frame (and power sample); returns the decision taken, if any.
    public func decide(nowNs: UInt64) -> LevelChangeEvent? {
        if !pending.isEmpty { return pending.removeFirst() }
        // The newest minSamples frames always count: when frames are skipped (or a slow machine takes longer per
        // frame than window/minSamples), a pure time window never holds enough samples to judge, and the
        // controller stayed in skip mode for good (bench/adapt: every 30th frame for a whole run at 7 ms/frame).
        latency.expire(nowNs: nowNs, keepingLast: config.minSamples)
        processing.expire(nowNs: nowNs, keepingLast: config.minSamples)
        excess.expire(nowNs: nowNs, keepingLast: config.minSamples)
        power.expire(nowNs: nowNs)
        ownShare.expire(nowNs: nowNs)
        checkStalePower(nowNs: nowNs)
        trackDrift(nowNs: nowNs)
        if processEvery < baseEvery {
            return change(to: level, every: baseEvery, reason: "fps_budget", nowNs: nowNs)
        }
        guard processing.count >= config.minSamples else { return nil }

        if let broken = brokenBudget() {
            headroomSinceNs = nil
            return stepDown(because: broken, nowNs: nowNs)
        }
        reportedUnreachable = false
        guard let (target, every) = stepUpCandidate() else {
            headroomSinceNs = nil
            return nil
        }
        let since = headroomSinceNs ?? nowNs
        headroomSinceNs = since
        let sustained = Double(nowNs - since) / 1e9 >= config.stepUpAfterS * stepUpBackoff
        let dwelt = Double(nowNs - lastChangeNs) / 1e9 >= config.minDwellS
        guard sustained && dwelt else { return nil }
        if let down = lastStepDownNs, Double(nowNs - down) / 1e9 > 3 * config.flapWindowS { stepUpBackoff = 1 }
        lastStepUpNs = nowNs
        return change(to: target, every: every, reason: "sustained_headroom", nowNs: nowNs, cautious: false)
    }

    private func stepDown(because broken: String, nowNs: UInt64) -> LevelChangeEvent? {
        if level < highest {
            for candidate in (level + 1)...highest
            where fits(candidate, every: baseEvery, margin: config.stepDownMargin).fits {
                return stepDownChange(to: candidate, every: baseEvery, reason: broken, nowNs: nowNs)
            }
        }
        // Skipping shortens latency only by emptying the queue. With the lightest level mostly idle, a broken latency
        // budget is a stall: move to the lightest level, but do not skip (bench/adapt on a noisy host: one stalled
        // window sent the controller to one frame in 18 for 40 s).
        let lightestEvery = level == highest ? processEvery : baseEvery
        // Before the camera's rate is known (the first second), queueing cannot be shown either: no skipping yet
        // (bench/adapt once went to one frame in 30 on its first window).
        if broken == "latency_budget_broken", powerBudget.map({ power.mean ?? 0 <= $0 }) ?? true,
           case let load = utilisation(highest, every: lightestEvery) ?? 0, load < Self.queueingUtilisation {
            if level != highest {
                return stepDownChange(to: highest, every: lightestEvery,
                                      reason: broken + ": lightest level; not skipping, frames are not queueing", nowNs: nowNs)
            }
            guard !reportedUnreachable else { return nil }
            reportedUnreachable = true
            return event(to: level, every: processEvery, reason: broken + ": a stall at the lightest level (busy "
                         + "\(Int((load * 100).rounded()))% of the frame time, no queue to empty): holding, not skipping")
        }
        // Even the lightest level breaks a budget: skip frames evenly, as few as fixes what skipping can fix.
        let start = level == highest ? processEvery + 1 : baseEvery + 1
        if start <= Self.maxProcessEvery {
            for every in start...Self.maxProcessEvery
            where fits(highest, every: every, margin: config.stepDownMargin, skippable: true).fits {
                return stepDownChange(to: highest, every: every,
                                      reason: broken + ": lightest level cannot fit, skipping frames", nowNs: nowNs)
            }
        }
        if level != highest || processEvery != Self.maxProcessEvery {
            return stepDownChange(to: highest, every: Self.maxProcessEvery,
                                  reason: broken + ": unreachable even at the lightest level", nowNs: nowNs)
        }
        guard !reportedUnreachable else { return nil }
        reportedUnreachable = true
        return event(to: level, every: processEvery, reason: broken + ": unreachable even at the lightest level")
    }

    private func stepDownChange(to target: Int, every: Int, reason: String, nowNs: UInt64) -> LevelChangeEvent {
        if let up = lastStepUpNs, Double(nowNs - up) / 1e9 < config.flapWindowS {
            stepUpBackoff = min(stepUpBackoff * 2, 8)
        }
        lastStepDownNs = nowNs
        return change(to: target, every: every, reason: reason, nowNs: nowNs)
    }

    /// The step up that fits with headroom: fewer skipped frames first, then the next more accurate level. One
    /// level at a time: the host's tail is judged from frames at the current level only, and a jump from the
    /// lightest to the heaviest level that did not fit was undone a fraction of a second later (bench/adapt).
    private func stepUpCandidate() -> (Int, Int)? {
        // Without current power readings, headroom under a power budget cannot be shown.
        if config.budgets.powerW != nil && power.isEmpty { return nil }
        if processEvery > baseEvery {
            // Skipping is the emergency: back to the fewest skipped frames that fit, not one at a time (29 steps of
            // 3 s each from one frame in 30).
            let fewer = (baseEvery..<processEvery).first {
                fits(level, every: $0, margin: config.stepUpHeadroom, cautious: false).fits
            }
            return fewer.map { (level, $0) }
        }
        guard let next = (lowest..<level).last(where: { !isWithdrawn($0) }) else { return nil }
        return fits(next, every: baseEvery, margin: config.stepUpHeadroom, cautious: false).fits ? (next, baseEvery) : nil
    }

    private func change(to target: Int, every: Int, reason: String, nowNs: UInt64, cautious: Bool = true) -> LevelChangeEvent {
        let e = event(to: target, every: every, reason: reason, cautious: cautious)
        // The machine's drift carries over: the target's expected time (what its frames' excess is taken against)
        // is its prediction, not a profile left from the last visit.
        if target != level { onlineProfileMs[target] = predictedProcessingMs(target) }
        level = target
        processEvery = every
        lastChangeNs = nowNs
        headroomSinceNs = nil
        driftSinceNs = nil
        latency.removeAll()
        processing.removeAll()
        power.removeAll()
        ownShare.removeAll()
        return e
    }

    // MARK: Measurements and predictions

    private var latencyBudget: Double? { config.budgets.latencyMs }
    private var powerBudget: Double? { config.budgets.powerW }

    private var measuredLatency: Double? { latency.percentile(config.budgets.latencyPercentile) }

    /// The frame period that must be held, ms: the fps budget's, or else none.
    private var targetPeriodMs: Double? { config.budgets.fps.map { 1000 / $0 } }

    /// The fps budget's even skipping: one camera frame in this many still gives at least `fps` (a 25 fps camera
    /// and a 10 fps budget process one frame in two). 1 without an fps budget or before the camera rate is known.
    var baseEvery: Int {
        guard let fps = config.budgets.fps, let camera = cameraFps, camera > fps else { return 1 }
        return min(Self.maxProcessEvery, max(1, Int((camera / fps).rounded(.down))))
    }

    /// What a processed frame may take so the level keeps up with the frames it is given, ms.
    private func framePeriodMs(every: Int) -> Double? {
        guard config.budgets.fps != nil, let period = cameraPeriodMs ?? targetPeriodMs else { return nil }
        return period * Double(every)
    }
    private var cameraPeriodMs: Double? { cameraFps.flatMap { $0 > 0 ? 1000 / $0 : nil } }

    /// Which budget the current window breaks, as the event's reason.
    private func brokenBudget() -> String? {
        if let budget = latencyBudget, let p = measuredLatency, p > budget { return "latency_budget_broken" }
        if let budget = powerBudget, let w = power.mean, w > budget { return "power_budget_broken" }
        if let period = framePeriodMs(every: processEvery), let mean = processing.mean, mean > period {
            return "fps_budget_broken"
        }
        return nil
    }

    private var drift: Double { onlineProfileMs[level] / measuredProfileMs[level] }

    func predictedProcessingMs(_ candidate: Int) -> Double {
        candidate == level ? onlineProfileMs[level] : measuredProfileMs[candidate] * drift
    }

    /// Share of the camera's frame time the level keeps the pipeline busy when processing one frame in `every`.
    private func utilisation(_ candidate: Int, every: Int) -> Double? {
        guard let period = cameraPeriodMs else { return nil }
        return predictedProcessingMs(candidate) / (period * Double(every))
    }

    private struct Fit {
        var fits: Bool
        var latencyMs: Double?
        var powerW: Double?
    }

    /// Whether `candidate` processing one frame in `every` is predicted within `margin` × every budget. With
    /// `skippable`, a latency budget that the level's own processing time breaks (no skipping can fix it) is ignored
    /// once skipping keeps the queue from adding to it.
    private func fits(_ candidate: Int, every: Int, margin: Double, skippable: Bool = false, cautious: Bool = true) -> Fit {
        if isWithdrawn(candidate) { return Fit(fits: false, latencyMs: nil, powerW: nil) }  // see "Withdrawn rungs"
        let proc = predictedProcessingMs(candidate)
        let procTailMs: Double
        let wait: Double
        if processing.count >= config.minSamples, let mean = processing.mean, mean > 0,
           let procTail = processing.percentile(config.budgets.latencyPercentile),
           let e2e = measuredLatency, excess.count >= config.minSamples,
           let hostTail = excess.percentile(config.budgets.latencyPercentile) {
            // A stall costs the same milliseconds at any level, so the host's tail is added. A slow window can also be
            // the start of a lasting slowdown that the online profile has not caught up with yet: stepping down
            // (cautious) also scales by the window's own p95/mean and takes the larger; stepping up does not, or a few
            // stalls on short frames would look like a 3–4× slowdown and block every step up.
            let added = proc + max(0, hostTail)
            procTailMs = cautious ? max(added, proc * max(1, procTail / mean)) : added
            // Queue wait now, scaled by how much busier or idler the candidate keeps the pipeline.
            let nowWait = max(0, e2e - procTail)
            let scale = (utilisation(candidate, every: every) ?? 1) / max(utilisation(level, every: processEvery) ?? 1, 1e-6)
            wait = nowWait * min(scale, 4)
        } else {
            procTailMs = proc * Self.startupTail
            wait = 0
        }
        var fit = Fit(fits: true, latencyMs: nil, powerW: nil)
        // A level slower than the frames it must process keeps the one-frame queue full: each frame also waits for
        // the one in flight.
        let saturatedWait = (utilisation(candidate, every: every) ?? 0) >= 1 ? proc : 0
        let predictedLatency = procTailMs + max(wait, saturatedWait)
        fit.latencyMs = predictedLatency
        if let budget = latencyBudget, predictedLatency > budget * margin {
            let ownTimeBreaks = procTailMs > budget * margin
            let queueSettled = (utilisation(candidate, every: every) ?? 0) <= 0.8
            if !(skippable && ownTimeBreaks && queueSettled) { fit.fits = false }
        }
        if let budget = powerBudget, let measured = power.mean {
            let idle = min(config.idlePowerW, measured)
            let work = (proc / max(onlineProfileMs[level], 1e-6)) * (Double(processEvery) / Double(every))
            // Only the daemon's share of the power above idle scales with its work; a neighbour's stays.
            let ours = (measured - idle) * (ownShare.mean ?? 1)
            let predicted = measured - ours + ours * work
            fit.powerW = predicted
            if predicted > budget * margin { fit.fits = false }
        }
        if let period = framePeriodMs(every: every), proc > period * margin { fit.fits = false }
        return fit
    }

    private func checkStalePower(nowNs: UInt64) {
        guard config.budgets.powerW != nil, !powerFailed else { return }
        let last = lastPowerNs ?? lastReprofileNs
        if Double(nowNs &- last) / 1e9 > config.powerStaleS {
            recordPowerFailure(reason: "no reading for \(config.powerStaleS) s", nowNs: nowNs)
        }
    }

    private func trackDrift(nowNs: UInt64) {
        guard !wantsReprofile else { return }
        if abs(drift - 1) > config.driftFraction {
            let since = driftSinceNs ?? nowNs
            driftSinceNs = since
            if Double(nowNs - since) / 1e9 >= config.driftWindowS,
               Double(nowNs - lastReprofileNs) / 1e9 >= config.reprofileIntervalS {
                wantsReprofile = true
            }
        } else {
            driftSinceNs = nil
        }
    }

    /// `cautious` as the decision's own prediction was made (step ups are predicted without the window's ratio).
    private func event(from: Int? = nil, to: Int, every: Int, reason: String, cautious: Bool = true) -> LevelChangeEvent {
        let fit = fits(to, every: every, margin: 1, cautious: cautious)
        return LevelChangeEvent(
            camera: camera, from: from ?? level, to: to, reason: reason, latencyP95Ms: measuredLatency,
            latencyBudgetMs: latencyBudget, powerW: power.mean, powerBudgetW: powerBudget, processEvery: every,
            processingMs: processing.mean, predictedLatencyMs: fit.latencyMs, predictedPowerW: fit.powerW)
    }

    // MARK: Withdrawn rungs (scene guard)
    //
    // A healed rung the scene guard withdrew stays loaded (its buffers are not freed on the frame path) but is never
    // chosen: `fits` rejects it, and `highest` (the lightest level, where frames are skipped) is the cheapest level
    // still allowed. If every allowed level were withdrawn, the mask is ignored: some level must run.

    /// Bit i set: level i is withdrawn.
    public private(set) var withdrawnMask: UInt64 = 0

    public func isWithdrawn(_ candidate: Int) -> Bool {
        candidate < 64 && withdrawnMask & (1 << UInt64(candidate)) != 0
    }

    private var highest: Int {
        var candidate = configuredHighest
        while candidate > lowest && isWithdrawn(candidate) { candidate -= 1 }
        return candidate
    }

    /// Takes the levels in `mask` out of (or back into) the choice. When the current level is withdrawn, moves to the
    /// nearest allowed level that fits the budgets (cheaper ones first), else the nearest allowed one, and returns
    /// that change with reason "rung_withdrawn".
    public func setWithdrawn(_ mask: UInt64, nowNs: UInt64) -> LevelChangeEvent? {
        let allowedMask = (lowest...configuredHighest).reduce(UInt64(0)) { $1 < 64 ? $0 | (1 << UInt64($1)) : $0 }
        withdrawnMask = mask & allowedMask == allowedMask ? 0 : mask
        guard isWithdrawn(level) else { return nil }
        // Nearest first, the cheaper side first at equal distance; no allocation (this runs between two frames).
        var nearest: Int?
        var target: Int?
        for distance in 1...64 where target == nil {
            for side in 0..<2 {
                let candidate = side == 0 ? level + distance : level - distance
                guard candidate >= lowest && candidate <= configuredHighest && !isWithdrawn(candidate) else { continue }
                if nearest == nil { nearest = candidate }
                if fits(candidate, every: processEvery, margin: config.stepDownMargin).fits { target = candidate; break }
            }
        }
        guard let chosen = target ?? nearest else { return nil }
        return change(to: chosen, every: processEvery, reason: "rung_withdrawn", nowNs: nowNs)
    }
}
