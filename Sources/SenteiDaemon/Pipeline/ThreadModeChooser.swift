/// Chooses, per ladder level, whether its model runs on all its threads or on the processing thread alone, from
/// the inference times each mode actually gets. With every core free the threads win (YOLOX-Nano at 256 px: 3.5 ms
/// on two threads, 4.8 on one); when another process holds a core, the worker pinned there loses whole timeslices
/// and every kernel waits for it, so one thread wins by far (bench/adapt: level 3 went from 6 to 20–25 ms a frame on
/// two threads). Times are measured, not predicted: the preferred mode runs, and one frame in `exploreEvery` runs
/// the other to keep its time current, so the choice follows the machine both ways.
struct ThreadModeChooser {
    /// One frame in this many runs the other mode: one a second at 25 fps, too few to move a 1-s window's p95.
    static let exploreEvery = 25
    /// EWMA weight of a new time in the preferred mode (a sample every frame).
    static let preferredAlpha = 0.2
    /// EWMA weight of an exploring frame's time (a sample a second): high, so the switch back after a load ends
    /// takes about three exploring frames.
    static let exploringAlpha = 0.7
    /// The other mode must be at least this much faster to take over: noise alone must not flip it.
    static let switchRatio = 0.85

    /// True: the next frames run on one thread.
    private(set) var prefersSingle = false
    /// Inference ms per mode: [all threads, one thread]; nil until that mode ran.
    private(set) var averageMs: [Double?] = [nil, nil]
    private let enabled: Bool
    private var frames = 0

    init(threads: Int) { enabled = threads > 1 }

    /// The mode of the next frame: true = one thread.
    mutating func nextRunsSingle() -> Bool {
        guard enabled else { return false }
        frames += 1
        return frames % Self.exploreEvery == 0 ? !prefersSingle : prefersSingle
    }

    /// The inference time a frame took in the mode `nextRunsSingle` gave it.
    mutating func record(single: Bool, inferMs: Double) {
        guard enabled, inferMs.isFinite, inferMs > 0 else { return }
        let mode = single ? 1 : 0
        let alpha = single == prefersSingle ? Self.preferredAlpha : Self.exploringAlpha
        averageMs[mode] = averageMs[mode].map { (1 - alpha) * $0 + alpha * inferMs } ?? inferMs
        if let current = averageMs[prefersSingle ? 1 : 0], let other = averageMs[prefersSingle ? 0 : 1],
           other < Self.switchRatio * current {
            prefersSingle.toggle()
        }
    }
}
