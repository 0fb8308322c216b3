/// Shape arithmetic shared by the importer, the reference interpreter and the planner.
package enum ShapeMath {
    /// Row-major strides in elements.
    package static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Numpy broadcasting of two shapes, or nil when they do not broadcast.
    package static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 { result[i] = da } else if da == 1 { result[i] = db } else { return nil }
        }
        return result
    }

    /// Strides that read `shape` as if broadcast to `target` (0 along broadcast axes).
    package static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = target.count - shape.count
        return (0..<target.count).map { axis in
            let local = axis - offset
            guard local >= 0, shape[local] != 1 else { return 0 }
            return own[local]
        }
    }

    /// Product of dims with overflow and sanity checks; nil when absurd (negative or over 2^31 elements).
    package static func checkedCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= 1 << 31 else { return nil }
            count = product
        }
        return count
    }
}
