import Dispatch
import SenteiEngine

/// Forward-pass time of a compiled model on this machine.
package struct LatencyMeasurement: Sendable, Equatable {
    package var p50: Double
    package var min: Double
    package var runs: Int
}

package enum LatencyMeter {
    /// Times `runs` forward passes after `warmup` untimed ones, input filled with a fixed pattern (the kernels'
    /// speed does not depend on the values). Milliseconds.
    package static func measure(_ model: Model, warmup: Int, runs: Int) throws -> LatencyMeasurement {
        precondition(runs >= 1)
        var times: [Double] = []
        times.reserveCapacity(runs)
        for iteration in 0..<(warmup + runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            try model.run(fill: { input in
                for i in input.indices { input[i] = Float(i % 251) }
            }) { _ in }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            if iteration >= warmup { times.append(elapsed) }
        }
        times.sort()
        return LatencyMeasurement(p50: times[times.count / 2], min: times[0], runs: runs)
    }
}
