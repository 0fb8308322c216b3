/// The accuracy/latency Pareto front: the points no other point beats on both axes.
public enum ParetoFront {
    public struct Point: Sendable, Equatable {
        /// Higher is better.
        public var accuracy: Double
        /// Lower is better.
        public var latency: Double
        public init(accuracy: Double, latency: Double) {
            self.accuracy = accuracy
            self.latency = latency
        }
    }

    /// `true` for each point that no other point dominates (at least as accurate and at least as fast, strictly
    /// better in one). Of exact duplicates only the first is kept, so the front never holds two identical rungs.
    public static func members(_ points: [Point]) -> [Bool] {
        points.indices.map { i in
            let p = points[i]
            return !points.indices.contains { j in
                guard j != i else { return false }
                let q = points[j]
                guard q.accuracy >= p.accuracy, q.latency <= p.latency else { return false }
                if q.accuracy > p.accuracy || q.latency < p.latency { return true }
                return j < i
            }
        }
    }
}
