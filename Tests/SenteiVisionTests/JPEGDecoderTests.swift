import Testing
import SenteiVision

@Suite struct JPEGDecoderTests {
    let jpeg: [UInt8] = try! JPEGEncoder().encode(syntheticRGB(width: 320, height: 240), quality: 95)

    @Test func decodesWhatWasEncoded() throws {
        let image = try JPEGDecoder().decode(jpeg, name: "synthetic.jpg")
        #expect(image.width == 320 && image.height == 240 && image.format == .rgb24)
        let original = syntheticRGB(width: 320, height: 240)
        // Mean error, not max: 4:2:0 chroma bleeds at the square's edges.
        var sum = 0
        for i in image.pixels.indices { sum += abs(Int(image.pixels[i]) - Int(original.pixels[i])) }
        let mean = Double(sum) / Double(image.pixels.count)
        #expect(mean < 2, "JPEG q95 round trip differs by \(mean) on average")
        // The bright square survives.
        let centre = (90 * 320 + 120) * 3
        #expect(image.pixels[centre] > 220 && image.pixels[centre + 1] > 210)
    }

    @Test func bgrIsRGBSwapped() throws {
        let decoder = try JPEGDecoder()
        let rgb = try decoder.decode(jpeg, name: "a", order: .rgb)
        let bgr = try decoder.decode(jpeg, name: "a", order: .bgr)
        #expect(bgr.format == .bgr24)
        for i in stride(from: 0, to: rgb.pixels.count, by: 3 * 101) {
            #expect(rgb.pixels[i] == bgr.pixels[i + 2] && rgb.pixels[i + 2] == bgr.pixels[i])
        }
    }

    @Test(arguments: ["empty", "random", "soi-only", "png"])
    func garbageIsATypedError(name: String) throws {
        let bytes: [UInt8] = switch name {
        case "empty": []
        case "random": seededBytes(seed: 7, count: 5000)
        case "soi-only": [0xFF, 0xD8]
        default: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + seededBytes(seed: 3, count: 100)
        }
        let error = #expect(throws: VisionError.self) { try JPEGDecoder().decode(bytes, name: "\(name).jpg") }
        #expect(error?.code == .corruptImage)
        #expect(error?.message.contains("\(name).jpg") == true)
    }

    @Test func truncatedIsATypedError() throws {
        let decoder = try JPEGDecoder()
        for cut in [jpeg.count / 2, jpeg.count - 200, 300] {
            let error = #expect(throws: VisionError.self) {
                try decoder.decode(Array(jpeg.prefix(cut)), name: "cut.jpg")
            }
            #expect(error?.code == .corruptImage)
        }
        // The decoder still works after errors.
        #expect(try decoder.decode(jpeg, name: "ok").width == 320)
    }

    @Test func corruptedBodyIsAnError() throws {
        var bytes = jpeg
        for i in stride(from: bytes.count / 3, to: bytes.count - 2, by: 7) { bytes[i] = 0xFF }
        let error = #expect(throws: VisionError.self) { try JPEGDecoder().decode(bytes, name: "bad.jpg") }
        #expect(error?.code == .corruptImage)
    }

    @Test func dctScaleChoice() {
        // 640x480 into 416: resized 416x312; 1/2 would give 320x240, too small.
        #expect(DCTScale.choose(width: 640, height: 480, neededWidth: 416, neededHeight: 312) == .full)
        // 1280x720 into 416 needs 416x234: 1/2 gives 640x360, 1/4 gives 320x180.
        #expect(DCTScale.choose(width: 1280, height: 720, neededWidth: 416, neededHeight: 234) == .half)
        #expect(DCTScale.choose(width: 3840, height: 2160, neededWidth: 416, neededHeight: 234) == .eighth)
        #expect(DCTScale.choose(width: 1920, height: 1080, neededWidth: 416, neededHeight: 234) == .quarter)
        #expect(DCTScale.half.scaled(641) == 321)
    }

    @Test func decodeForSpecScalesLargeFrames() throws {
        let big = try JPEGEncoder().encode(syntheticRGB(width: 1280, height: 720))
        let spec = LetterboxSpec(width: 416, height: 416, placement: .topLeft, colourOrder: .bgr, valueScale: 1)
        let image = try big.withUnsafeBytes { try JPEGDecoder().decode($0, name: "big", for: spec) }
        #expect(image.width == 640 && image.height == 360)
        #expect(image.originalWidth == 1280 && image.originalHeight == 720)
        #expect(image.format == .bgr24)
    }

    @Test(.enabled(if: sharedRoot != nil, "\(sharedMissing)"))
    func decodesEverySharedImage() throws {
        let decoder = try JPEGDecoder()
        var count = 0
        for dir in ["/data/coco128/images", "/data/tud-campus/frames", "/data/traffic/frames"] {
            let root = sharedRoot! + dir
            for rel in try listJPEGs(under: root) {
                let image = try decoder.decode(try readFile(root + "/" + rel), name: rel)
                #expect(image.width > 0 && image.height > 0 && image.width <= 640)
                count += 1
            }
        }
        #expect(count == 128 + 71 + 374)
    }
}
