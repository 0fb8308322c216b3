#if canImport(Glibc)
import Glibc
#endif
import SenteiEngine
import Testing
import SenteiVision

@Suite struct DetectorTests {
    /// A YOLOX output with one confident "dog" at stride 8, grid (10, 5): box (76, 36)–(92, 52) in input pixels.
    func oneDog(_ manifest: ModelManifest) -> Tensor {
        var t = Tensor(zeros: manifest.output.shape)
        let anchor = 5 * 52 + 10
        let values: [Float] = [0.5, 0.5, log(2), log(2), 0.95]
        for (i, v) in values.enumerated() { t.data[anchor * 85 + i] = v }
        t.data[anchor * 85 + 5 + 16] = 0.9
        return t
    }

    @Test func largeJPEGIsDCTScaledAndBoxesMapToOriginalPixels() throws {
        let manifest = try loadYOLOXManifest()
        var seenShape: [Int] = []
        let detector = try Detector(manifest: manifest) { input in
            seenShape = input.shape
            return oneDog(manifest)
        }
        let jpeg = try JPEGEncoder().encode(syntheticRGB(width: 1280, height: 720))
        let result = try detector.detect(jpeg: jpeg, name: "big.jpg")
        #expect(seenShape == [1, 3, 416, 416])
        #expect(result.width == 1280 && result.height == 720)
        let d = try #require(result.detections.first)
        #expect(result.detections.count == 1 && d.label == "dog" && d.classIndex == 16 && abs(d.score - 0.855) < 1e-5)
        // r = 416 / 1280: original = input / r.
        let r = 416.0 / 1280
        #expect(abs(d.box.x1 - 76 / r) < 1e-3 && abs(d.box.y1 - 36 / r) < 1e-3)
        #expect(abs(d.box.x2 - 92 / r) < 1e-3 && abs(d.box.y2 - 52 / r) < 1e-3)
    }

    @Test func rawFramesGoThroughTheSamePath() throws {
        let manifest = try loadYOLOXManifest()
        let detector = try Detector(manifest: manifest, options: DetectionOptions(classFilter: [0])) { _ in oneDog(manifest) }
        let yuyv = [UInt8](repeating: 128, count: 640 * 480 * 2)
        let filtered = try yuyv.withUnsafeBytes { try detector.detect(frame: PixelBuffer(bytes: $0, format: .yuyv, width: 640, height: 480)) }
        #expect(filtered.isEmpty)  // only person asked for
        detector.options.classFilter = nil
        let all = try yuyv.withUnsafeBytes { try detector.detect(frame: PixelBuffer(bytes: $0, format: .yuyv, width: 640, height: 480)) }
        #expect(all.count == 1 && abs(all[0].box.x1 - 76 / 0.65) < 1e-3)
    }

    @Test func corruptImageErrorNamesTheImageAndTheDetectorGoesOn() throws {
        let manifest = try loadYOLOXManifest()
        let detector = try Detector(manifest: manifest) { _ in oneDog(manifest) }
        let error = #expect(throws: VisionError.self) { try detector.detect(jpeg: [0xFF, 0xD8, 0xFF, 0x00, 0x12], name: "cam3.jpg") }
        #expect(error?.code == .corruptImage && error?.message.contains("cam3.jpg") == true)
        let ok = try detector.detect(jpeg: try JPEGEncoder().encode(syntheticRGB(width: 640, height: 480)), name: "ok.jpg")
        #expect(ok.detections.count == 1)
    }

    @Test func wrongOutputShapeFromTheModelIsAnError() throws {
        let manifest = try loadYOLOXManifest()
        let detector = try Detector(manifest: manifest) { _ in Tensor(zeros: [1, 85, 3549]) }
        let error = #expect(throws: VisionError.self) {
            try detector.detect(jpeg: try JPEGEncoder().encode(syntheticRGB(width: 64, height: 48)), name: "x.jpg")
        }
        #expect(error?.code == .invalidOutput)
    }
}
