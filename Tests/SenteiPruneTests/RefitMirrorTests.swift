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
}
