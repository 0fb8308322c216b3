/// Timestamped samples kept for a fixed span; percentile and mean over what is inside. Capacity is fixed at
/// creation so a long window at a high frame rate cannot grow without bound (oldest samples go first).
struct SlidingWindow {
    let spanNs: UInt64
    let capacity: Int
    private var times: [UInt64] = []
    private var values: [Double] = []
    private var scratch: [Double] = []

    init(spanS: Double, capacity: Int = 4096) {
        self.spanNs = UInt64(max(0, spanS) * 1e9)
        self.capacity = capacity
        times.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
        scratch.reserveCapacity(capacity)
    }

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }
    var newestNs: UInt64? { times.last }

    mutating func add(_ value: Double, atNs: UInt64) {
        if values.count == capacity {
            times.removeFirst()
            values.removeFirst()
        }
        times.append(atNs)
        values.append(value)
    }

    /// Drops samples older than the span, but never the newest `keep`.
    mutating func expire(nowNs: UInt64, keepingLast keep: Int = 0) {
        guard nowNs > spanNs else { return }
        let cutoff = nowNs - spanNs
        var drop = 0
        while drop < times.count - keep && times[drop] < cutoff { drop += 1 }
        if drop > 0 {
            times.removeFirst(drop)
            values.removeFirst(drop)
        }
    }

    mutating func removeAll() {
        times.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }

    var mean: Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }

    /// Nearest-rank percentile (p in 0…100): the smallest sample with at least p% of samples at or below it.
    mutating func percentile(_ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: values)
        scratch.sort()
        let rank = Int((p / 100 * Double(scratch.count)).rounded(.up))
        return scratch[min(max(rank, 1), scratch.count) - 1]
    }
}
