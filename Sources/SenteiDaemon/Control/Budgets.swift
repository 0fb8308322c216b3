/// What the controller must hold, as the config's `[budgets]` table gives it. Levels are ladder indices: 0 is the
/// most accurate (the full model at its largest input); higher indices are cheaper. "Stepping down" means moving to
/// a higher index.
public struct Budgets: Sendable, Equatable {
    /// End-to-end latency (capture → events out) the chosen percentile must stay under; nil = no latency budget.
    public var latencyMs: Double?
    /// Which percentile of the latency window is held, 0 < p ≤ 100; default 95.
    public var latencyPercentile: Double = 95
    /// Sliding window the percentile is taken over, seconds; default 1.
    public var latencyWindowS: Double = 1
    /// Mean power over `powerWindowS` must stay under this; nil = no power budget.
    public var powerW: Double?
    /// Window of the power mean, seconds; default 3.
    public var powerWindowS: Double = 3
    /// Most accurate level allowed (lowest index); nil = 0.
    public var minLevel: Int?
    /// Cheapest level allowed (highest index); nil = the ladder's last.
    public var maxLevel: Int?
    /// Frames per second that must be processed (the rest are skipped evenly); nil = every frame the camera gives.
    public var fps: Double?

    public init(latencyMs: Double? = nil, latencyPercentile: Double = 95, latencyWindowS: Double = 1,
                powerW: Double? = nil, powerWindowS: Double = 3, minLevel: Int? = nil, maxLevel: Int? = nil,
                fps: Double? = nil) {
        self.latencyMs = latencyMs
        self.latencyPercentile = latencyPercentile
        self.latencyWindowS = latencyWindowS
        self.powerW = powerW
        self.powerWindowS = powerWindowS
        self.minLevel = minLevel
        self.maxLevel = maxLevel
        self.fps = fps
    }
}

/// How the controller moves between levels. Defaults suit a 25 fps camera.
public struct ControllerConfig: Sendable, Equatable {
    public var budgets: Budgets
    /// Stepping up needs the target predicted at or under this fraction of every budget (hysteresis); default 0.8.
    public var stepUpHeadroom: Double = 0.8
    /// Stepping down picks the most accurate level predicted at or under this fraction of the budget; default 0.9.
    public var stepDownMargin: Double = 0.9
    /// Headroom must last this long before stepping up, seconds; default 3. Doubles (up to 8×) each time a step up
    /// is undone within `flapWindowS`, so an oscillating load cannot make the level flap.
    public var stepUpAfterS: Double = 3
    /// Least time at a level before stepping up from it, seconds; default 2. Stepping down never waits for it.
    public var minDwellS: Double = 2
    /// A step down this soon after a step up counts as a flap, seconds; default 10.
    public var flapWindowS: Double = 10
    /// Span of the host-stall tail, seconds; default 5. Each frame's processing time beyond its level's online
    /// profile is kept this long (across level changes), and its percentile is added to every level's predicted
    /// time: a stall costs the same milliseconds at any level, so it is added, not multiplied.
    public var tailWindowS: Double = 5
    /// Frames at the current level before its window is judged; default 8.
    public var minSamples: Int = 8
    /// EWMA weight of a new processing-time sample in the level's online profile; default 0.1.
    public var profileAlpha: Double = 0.1
    /// The profile is re-measured when a level's online latency drifts more than this fraction from its measured
    /// profile…; default 0.3.
    public var driftFraction: Double = 0.3
    /// …for this long, seconds; default 3.
    public var driftWindowS: Double = 3
    /// Least time between re-measurements, seconds; default 20.
    public var reprofileIntervalS: Double = 20
    /// Power that does not scale with inference work (the rest of the board), watts; default 0. Power predictions
    /// scale only the part above it.
    public var idlePowerW: Double = 0
    /// Power readings older than this count as a failed meter, seconds; default 5.
    public var powerStaleS: Double = 5

    public init(budgets: Budgets = Budgets()) {
        self.budgets = budgets
    }
}
