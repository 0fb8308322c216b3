/// Which convs run as Winograd F(4×4, 3×3) (`KernelTable.conv3x3Winograd`), and their weight transform.
/// `SENTEI_DISABLE_PASSES=winograd` keeps every conv on the direct kernel (for A/B timing and parity bisecting).
enum WinogradConv {
    /// Dense 3×3, stride 1, dilation 1 convs with enough channels and pixels that 4× fewer multiply-adds pay for
    /// the transforms; narrower ones stay on the direct kernel, where the transforms dominate. Measured on yolov8n
    /// (1 thread, AVX-512): 16→16 at 160×160 took 1.6–1.75× the direct time, 32→32 at 80×80 0.84–0.95×, 64 channels
    /// and more 0.5–0.8×.
    static func applies(_ conv: Conv, inputShape: [Int], outputShape: [Int]) -> Bool {
        guard conv.group == 1, conv.kernel == (3, 3), conv.stride == (1, 1), conv.dilation == (1, 1),
              inputShape.count == 4, inputShape[0] == 1, outputShape.count == 4,
              conv.inChannels >= 32, conv.outChannels >= 32, outputShape[2] * outputShape[3] >= 64
        else { return false }
        return !disabled
    }

    static let disabled = Pipeline.disabledPasses.contains("winograd")

    /// G of F(4×4, 3×3) (Lavin & Gray): U = G·g·Gᵀ turns a 3×3 kernel into its 6×6 transformed form.
    static let g: [[Double]] = [
        [1.0 / 4, 0, 0],
        [-1.0 / 6, -1.0 / 6, -1.0 / 6],
        [-1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6],
        [1.0 / 24, -1.0 / 12, 1.0 / 6],
        [0, 0, 1],
    ]

    /// U[ξ][co][ci] = (G·w[co][ci]·Gᵀ)[i][k] with ξ = 6i + k, computed in double precision; w is [cout, cin, 3, 3].
    static func transform(_ weights: UnsafePointer<Float>, cout: Int, cin: Int) -> [Float] {
        var u = [Float](repeating: 0, count: 36 * cout * cin)
        for co in 0..<cout {
            for ci in 0..<cin {
                let w = weights + (co * cin + ci) * 9
                // t = G·w (6×3), then U = t·Gᵀ (6×6).
                var t = [[Double]](repeating: [0, 0, 0], count: 6)
                for i in 0..<6 {
                    for x in 0..<3 {
                        t[i][x] = (0..<3).reduce(0.0) { $0 + g[i][$1] * Double(w[$1 * 3 + x]) }
                    }
                }
                for i in 0..<6 {
                    for k in 0..<6 {
                        let value = (0..<3).reduce(0.0) { $0 + t[i][$1] * g[k][$1] }
                        u[((i * 6 + k) * cout + co) * cin + ci] = Float(value)
                    }
                }
            }
        }
        return u
    }
}

extension KernelTable {
    /// Transforms 3×3 conv weights ([cout, cin, 3, 3] row-major) for `conv3x3Winograd` and packs them into dst
    /// (`winogradPackedWeightCount(cout, cin)` floats): one `packWeights` matrix per transformed point.
    public func packWinogradWeights(_ weights: UnsafePointer<Float>, cout: Int, cin: Int,
                                    into dst: UnsafeMutablePointer<Float>) {
        let u = WinogradConv.transform(weights, cout: cout, cin: cin)
        let each = packedWeightCount(cout, cin)
        u.withUnsafeBufferPointer { u in
            for xi in 0..<36 { packWeights(u.baseAddress! + xi * cout * cin, cout, cin, dst + xi * each) }
        }
    }
}
