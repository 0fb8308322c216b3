#if canImport(Glibc)
import Glibc
#endif
import Testing
import SenteiVision

/// Speed is measured, not asserted: opt in with SENTEI_BENCH=1 and run in release
/// (`swift test -c release --filter LetterboxBenchmark`). Single thread, best of 200.
@Suite(.enabled(if: environment("SENTEI_BENCH") != nil && sharedRoot != nil, "set SENTEI_BENCH=1 (release build)"))
struct LetterboxBenchmark {
    func bestMs(_ runs: Int = 200, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            var t0 = timespec(), t1 = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t0)
            try body()
            clock_gettime(CLOCK_MONOTONIC, &t1)
            best = min(best, Double(t1.tv_sec - t0.tv_sec) * 1e3 + Double(t1.tv_nsec - t0.tv_nsec) / 1e6)
        }
        return best
    }

    @Test func jpeg640x480To416() throws {
        let jpeg = try readFile(sharedRoot! + "/data/tud-campus/frames/000001.jpg")
        let spec = try loadYOLOXManifest().letterboxSpec
        let decoder = try JPEGDecoder()
        let boxer = Letterboxer(spec: spec)
        var out = [Float](repeating: 0, count: boxer.inputCount)
        let image = try jpeg.withUnsafeBytes { try decoder.decode($0, name: "f", for: spec) }
        let decodeMs = try bestMs { _ = try jpeg.withUnsafeBytes { try decoder.decode($0, name: "f", for: spec) } }
        let letterboxMs = try bestMs {
            try image.withPixelBuffer { frame in out.withUnsafeMutableBufferPointer { _ = boxer.letterbox(frame, into: $0) } }
        }
        let totalMs = try bestMs {
            let img = try jpeg.withUnsafeBytes { try decoder.decode($0, name: "f", for: spec) }
            try img.withPixelBuffer { frame in out.withUnsafeMutableBufferPointer { _ = boxer.letterbox(frame, into: $0) } }
        }
        print("bench: 640x480 JPEG (\(jpeg.count) B) -> 416x416 BGR CHW: decode \(decodeMs) ms, letterbox \(letterboxMs) ms, total \(totalMs) ms")
        let yuyv = seededBytes(seed: 5, count: 640 * 480 * 2)
        for format in [PixelFormat.yuyv, .nv12, .yu12, .grey] {
            let bytes = Array(yuyv.prefix(format.requiredBytes(width: 640, height: 480, bytesPerLine: format.packedBytesPerLine(width: 640))))
            let ms = try bestMs {
                try bytes.withUnsafeBytes { raw in
                    let frame = try PixelBuffer(bytes: raw, format: format, width: 640, height: 480)
                    out.withUnsafeMutableBufferPointer { _ = boxer.letterbox(frame, into: $0) }
                }
            }
            print("bench: 640x480 \(format.rawValue) -> 416x416: \(ms) ms")
        }
        let big = try JPEGEncoder().encode(syntheticRGB(width: 1280, height: 720))
        let fullMs = try bestMs(50) { _ = try decoder.decode(big, name: "big", order: .bgr) }
        let scaledMs = try bestMs(50) { _ = try big.withUnsafeBytes { try decoder.decode($0, name: "big", for: spec) } }
        print("bench: 1280x720 JPEG decode: full \(fullMs) ms, DCT 1/2 (chosen for 416) \(scaledMs) ms")
    }
}
