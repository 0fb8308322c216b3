import Testing
@testable import SenteiEngine
@testable import SenteiPrune

@Suite struct RefitMirrorTests {
    /// `--refit-mirror`'s extra frames: every row of every plane reversed, nothing else moved; twice is the original.
    @Test func mirroredFramesFlipEachRow() {
        var noise = Noise(state: 21)
        let frame = Tensor(shape: [1, 3, 4, 5], data: noise.array(60))
        let flipped = StructuredPruner.mirrored(frame)
        #expect(flipped.shape == frame.shape)
        for plane in 0..<3 {
            for y in 0..<4 {
                for x in 0..<5 {
                    #expect(flipped.data[(plane * 4 + y) * 5 + x] == frame.data[(plane * 4 + y) * 5 + 4 - x])
                }
            }
        }
        #expect(StructuredPruner.mirrored(flipped) == frame)
    }

    /// `--refit-zoom`'s extra frames: the top-left 1/factor window enlarged; on a linear ramp bilinear interpolation is
    /// exact, so every pixel equals the ramp at its source coordinate (clamped at the window's near edge).
    @Test func zoomedFramesEnlargeTheTopLeftWindow() {
        let height = 6, width = 8, factor = 2.0
        let frame = Tensor(shape: [1, 2, height, width], data: (0..<(2 * height * width)).map { i in
            let plane = i / (height * width), y = i / width % height, x = i % width
            return Float(100 * plane + 10 * y + x)
        })
        let zoomed = StructuredPruner.zoomed(frame, by: factor)
        #expect(zoomed.shape == frame.shape)
        func source(_ i: Int) -> Double { max((Double(i) + 0.5) / factor - 0.5, 0) }
        for plane in 0..<2 {
            for y in 0..<height {
                for x in 0..<width {
                    let expected = Double(100 * plane) + 10 * source(y) + source(x)
                    #expect(abs(Double(zoomed.data[(plane * height + y) * width + x]) - expected) < 1e-4, "\(plane),\(y),\(x)")
                }
            }
        }
        // Nothing beyond the window's neighbourhood is read: the far corner comes from near (H/2, W/2).
        #expect(zoomed.data[height * width - 1] < Float(10 * height / 2 + width / 2))
        #expect(StructuredPruner.zoomed(frame, by: 1) == frame)
    }
}
