import SenteiEngine
import Testing

/// A float buffer with sentinel guard regions on both sides; `guardsIntact` reports any write outside it.
final class GuardedBuffer {
    static let guardCount = 64
    static let sentinel = Float(bitPattern: 0x7FC0_5EA1)  // a NaN no kernel produces
    let count: Int
    private let base: UnsafeMutablePointer<Float>

    init(count: Int, fill: Float = 0) {
        self.count = count
        base = .allocate(capacity: count + 2 * Self.guardCount)
        base.initialize(repeating: Self.sentinel, count: count + 2 * Self.guardCount)
        (base + Self.guardCount).update(repeating: fill, count: count)
    }

    convenience init(random count: Int, seed: UInt64, range: ClosedRange<Float> = -1...1) {
        self.init(count: count)
        var rng = SplitMix(seed: seed)
        for i in 0..<count { pointer[i] = rng.nextFloat(in: range) }
    }

    deinit { base.deallocate() }

    var pointer: UnsafeMutablePointer<Float> { base + Self.guardCount }
    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    var guardsIntact: Bool {
        for i in 0..<Self.guardCount {
            if base[i].bitPattern != Self.sentinel.bitPattern { return false }
            if base[Self.guardCount + count + i].bitPattern != Self.sentinel.bitPattern { return false }
        }
        return true
    }
}

/// Deterministic generator so a failing case reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextFloat(in range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * Float(next() >> 40) / Float(1 << 24)
    }
}

/// Index and values of the first element outside |got − want| ≤ atol + rtol·|want|, or nil when all match.
func firstMismatch(_ got: [Float], _ want: [Float], atol: Float = 1e-4, rtol: Float = 1e-4) -> String? {
    if got.count != want.count { return "count \(got.count) != \(want.count)" }
    for i in 0..<got.count {
        let g = got[i], w = want[i]
        if g.isNaN != w.isNaN || (!w.isNaN && !(abs(g - w) <= atol + rtol * abs(w)) && g != w) {
            return "element \(i): got \(g), want \(w)"
        }
    }
    return nil
}

/// Runs body once per part, sequentially and in reverse order, so the test checks the split itself.
func runParts(_ nth: Int, _ body: (Int, Int) -> Void) {
    for ith in (0..<nth).reversed() { body(ith, nth) }
}

let activations = [0, 1, 2, 3]
