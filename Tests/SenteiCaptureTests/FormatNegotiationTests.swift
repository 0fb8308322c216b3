import SenteiCapture
import Testing

@Suite("Format negotiation tables")
struct FormatNegotiationTests {
    let offered = [
        DeviceFormat(fourCC: FourCC("YUYV"), sizes: [.discrete(width: 640, height: 480), .discrete(width: 1920, height: 1080)]),
        DeviceFormat(fourCC: FourCC("MJPG"), compressed: true,
                     sizes: [.discrete(width: 640, height: 480), .discrete(width: 1920, height: 1080)]),
        DeviceFormat(fourCC: FourCC("GREY"), sizes: [.discrete(width: 320, height: 240)]),
        DeviceFormat(fourCC: FourCC("RGB3"), sizes: [.discrete(width: 640, height: 480)]),
    ]

    func first(_ w: Int, _ h: Int, forced: PixelFormat? = nil) -> FormatChoice? {
        FormatNegotiation.candidates(offered: offered, width: w, height: h, forced: forced,
                                     highResolutionPixels: 1280 * 720, includeEmulated: false).first
    }

    @Test func prefersMJPEGOnlyAtHighResolution() {
        #expect(first(1920, 1080) == FormatChoice(format: .mjpeg, width: 1920, height: 1080))
        #expect(first(640, 480) == FormatChoice(format: .yuyv, width: 640, height: 480))
        // exact size beats preference: GREY offers 320x240 exactly, YUYV would have to scale up
        #expect(first(320, 240) == FormatChoice(format: .grey, width: 320, height: 240))
        #expect(first(640, 480, forced: .grey) == FormatChoice(format: .grey, width: 320, height: 240))
        #expect(first(640, 480, forced: .nv12) == nil)
    }

    @Test func bestSizeCoversTheRequestOrTakesTheLargest() {
        let sizes: [FrameSizeOption] = [.discrete(width: 320, height: 180), .discrete(width: 1280, height: 720),
                                        .discrete(width: 640, height: 360)]
        #expect(FormatNegotiation.bestSize(sizes, width: 600, height: 300) == (640, 360))
        #expect(FormatNegotiation.bestSize(sizes, width: 4000, height: 3000) == (1280, 720))
        let range: [FrameSizeOption] = [.range(minWidth: 16, maxWidth: 1920, stepWidth: 16, minHeight: 16,
                                               maxHeight: 1080, stepHeight: 8)]
        #expect(FormatNegotiation.bestSize(range, width: 641, height: 479) == (656, 480))
        #expect(FormatNegotiation.bestSize([], width: 640, height: 480) == (640, 480))
    }

    @Test func closestIntervalAndFourCCNames() {
        let i = FormatNegotiation.closestInterval([(1, 30), (1, 25), (1, 5), (0, 1)], fps: 24)
        #expect(i?.numerator == 1 && i?.denominator == 25)
        #expect(FourCC("YUYV").rawValue == 0x5659_5559)
        #expect(FourCC(rawValue: 0x5659_5559 | 1 << 31).description == "YUYV-BE")
        #expect(PixelFormat(fourCC: FourCC("JPEG")) == .mjpeg && PixelFormat(fourCC: FourCC("BA81")).description == "BA81")
        #expect(FourCC(string: "toolong") == nil)
    }
}
