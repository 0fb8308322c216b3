import Testing
import SenteiVision

@Suite struct LetterboxGeometryTests {
    let yolox = LetterboxSpec(width: 416, height: 416, placement: .topLeft, colourOrder: .bgr, valueScale: 1)
    let ultralytics = LetterboxSpec(width: 640, height: 640, placement: .center, colourOrder: .rgb,
                                    valueScale: 1.0 / 255)

    @Test func yoloxTopLeft() {
        let m = LetterboxMapping(originalWidth: 640, originalHeight: 480, spec: yolox)
        #expect(m.scale == 0.65)
        #expect(m.resizedWidth == 416 && m.resizedHeight == 312 && m.offsetX == 0 && m.offsetY == 0)
        // A portrait image: height limits.
        let p = LetterboxMapping(originalWidth: 427, originalHeight: 640, spec: yolox)
        #expect(p.resizedHeight == 416 && p.resizedWidth == 277)  // floor(427 · 0.65) = floor(277.55)
    }

    @Test func ultralyticsCentred() {
        let m = LetterboxMapping(originalWidth: 640, originalHeight: 480, spec: ultralytics)
        #expect(m.resizedWidth == 640 && m.resizedHeight == 480 && m.offsetX == 0 && m.offsetY == 80)
        // Odd padding: (640 − 427)/2 = 106.5 → left round(106.4) = 106.
        let p = LetterboxMapping(originalWidth: 427, originalHeight: 640, spec: ultralytics)
        #expect(p.resizedWidth == 427 && p.offsetX == 106 && p.offsetY == 0)
    }

    @Test func boxesMapBackAndClip() {
        let m = LetterboxMapping(originalWidth: 640, originalHeight: 480, spec: ultralytics)
        let back = m.toOriginal(Box(x1: 10, y1: 90, x2: 650, y2: 600))
        #expect(back == Box(x1: 10, y1: 10, x2: 640, y2: 480))
        let y = LetterboxMapping(originalWidth: 640, originalHeight: 480, spec: yolox)
        let b = y.toOriginal(Box(x1: 65, y1: 13, x2: 130, y2: 26))
        #expect(abs(b.x1 - 100) < 1e-9 && abs(b.y1 - 20) < 1e-9 && abs(b.x2 - 200) < 1e-9 && abs(b.y2 - 40) < 1e-9)
        let negative = y.toOriginal(Box(x1: -5, y1: -5, x2: 2000, y2: 2000))
        #expect(negative == Box(x1: 0, y1: 0, x2: 640, y2: 480))
    }

    @Test func axisTapsMatchCV2HalfPixelCentres() {
        // Downscale 4 → 2: centres at 0.5 and 2.5.
        let down = AxisTaps(source: 4, destination: 2)
        #expect(down.first == [0, 2] && down.second == [1, 3] && down.weight == [0.5, 0.5])
        // Upscale 2 → 4: −0.25 clamps to 0; the last tap sits on the edge with weight 0.
        let up = AxisTaps(source: 2, destination: 4)
        #expect(up.first == [0, 0, 0, 1] && up.second == [1, 1, 1, 1] && up.weight == [0, 0.25, 0.75, 0])
        let same = AxisTaps(source: 5, destination: 5)
        #expect(same.weight.allSatisfy { $0 == 0 } && same.first == [0, 1, 2, 3, 4])
    }
}

@Suite struct LetterboxConversionTests {
    /// Straight bilinear over the whole converted frame: the definition the fused path must reproduce.
    func naiveLetterbox(_ frame: PixelBuffer, spec: LetterboxSpec) -> [Float] {
        let rgb = convertFrameReference(frame)
        let m = LetterboxMapping(originalWidth: frame.width, originalHeight: frame.height, spec: spec)
        var out = [Float](repeating: spec.padValue * spec.valueScale, count: 3 * spec.width * spec.height)
        func tap(_ d: Int, _ src: Int, _ dst: Int) -> (Int, Int, Float) {
            var s = (Double(d) + 0.5) * Double(src) / Double(dst) - 0.5
            s = max(s, 0)
            let i = Int(s.rounded(.down))
            return i >= src - 1 ? (src - 1, src - 1, 0) : (i, i + 1, Float(s - Double(i)))
        }
        for dy in 0..<m.resizedHeight {
            let (y0, y1, fy) = tap(dy, frame.height, m.resizedHeight)
            for dx in 0..<m.resizedWidth {
                let (x0, x1, fx) = tap(dx, frame.width, m.resizedWidth)
                for c in 0..<3 {
                    func p(_ x: Int, _ y: Int) -> Float { rgb[(y * frame.width + x) * 3 + c] }
                    let v = (1 - fx) * ((1 - fy) * p(x0, y0) + fy * p(x0, y1)) + fx * ((1 - fy) * p(x1, y0) + fy * p(x1, y1))
                    let plane = spec.colourOrder == .rgb ? c : 2 - c
                    out[plane * spec.width * spec.height + (m.offsetY + dy) * spec.width + m.offsetX + dx] = v * spec.valueScale
                }
            }
        }
        return out
    }

    @Test(arguments: PixelFormat.allCases)
    func fusedMatchesNaive(format: PixelFormat) throws {
        for (w, h, spec) in [
            (64, 48, LetterboxSpec(width: 40, height: 40, placement: .topLeft, colourOrder: .bgr, valueScale: 1)),
            (37, 51, LetterboxSpec(width: 32, height: 24, placement: .center, colourOrder: .rgb, valueScale: 1.0 / 255)),
            (20, 10, LetterboxSpec(width: 64, height: 64, placement: .center, colourOrder: .bgr, valueScale: 1)),
        ] {
            let stride = format.packedBytesPerLine(width: w) + 6  // padded lines, as V4L2 may give
            let bytes = seededBytes(seed: UInt64(w * h), count: format.requiredBytes(width: w, height: h, bytesPerLine: stride))
            try bytes.withUnsafeBytes { raw in
                let frame = try PixelBuffer(bytes: raw, format: format, width: w, height: h, bytesPerLine: stride)
                let fused = Letterboxer(spec: spec).letterbox(frame).tensor.data
                let naive = naiveLetterbox(frame, spec: spec)
                let maxDiff = zip(fused, naive).map { abs($0 - $1) }.max()!
                #expect(maxDiff <= 1e-3 * max(spec.valueScale * 255, 1), "\(format) \(w)x\(h) → \(spec.width)x\(spec.height): \(maxDiff)")
            }
        }
    }

    @Test func reusedLetterboxerGivesTheSameAnswer() throws {
        let spec = LetterboxSpec(width: 48, height: 48, placement: .topLeft, colourOrder: .rgb, valueScale: 1)
        let boxer = Letterboxer(spec: spec)
        let a = seededBytes(seed: 1, count: 64 * 40 * 2), b = seededBytes(seed: 2, count: 30 * 50 * 3)
        let first = try a.withUnsafeBytes { try boxer.letterbox(PixelBuffer(bytes: $0, format: .yuyv, width: 64, height: 40)).tensor }
        _ = try b.withUnsafeBytes { try boxer.letterbox(PixelBuffer(bytes: $0, format: .rgb24, width: 30, height: 50)) }
        let again = try a.withUnsafeBytes { try boxer.letterbox(PixelBuffer(bytes: $0, format: .yuyv, width: 64, height: 40)).tensor }
        #expect(first == again)
        // Same resized size (48×30) from a different source width: the column taps must be rebuilt.
        let c = seededBytes(seed: 3, count: 80 * 50 * 3)
        let other = Letterboxer(spec: spec)
        _ = try a.withUnsafeBytes { try other.letterbox(PixelBuffer(bytes: $0, format: .yuyv, width: 64, height: 40)) }
        let reused = try c.withUnsafeBytes { try other.letterbox(PixelBuffer(bytes: $0, format: .rgb24, width: 80, height: 50)).tensor }
        let fresh = try c.withUnsafeBytes { try Letterboxer(spec: spec).letterbox(PixelBuffer(bytes: $0, format: .rgb24, width: 80, height: 50)).tensor }
        #expect(reused == fresh)
    }

    @Test func knownYUVColours() throws {
        // BT.601 limited range: Y 235 is white, Y 16 black, (81, 90, 240) red.
        for (y, u, v, expected) in [(235, 128, 128, (255.0, 255.0, 255.0)), (16, 128, 128, (0.0, 0.0, 0.0)),
                                    (81, 90, 240, (255.0, 0.0, 0.0)), (145, 54, 34, (0.0, 255.0, 0.0))] {
            let yuyv: [UInt8] = Array(repeating: [UInt8(y), UInt8(u), UInt8(y), UInt8(v)], count: 16).flatMap { $0 }
            let nv12: [UInt8] = Array(repeating: UInt8(y), count: 16 * 2) + Array(repeating: [UInt8(u), UInt8(v)], count: 8).flatMap { $0 }
            let yu12: [UInt8] = Array(repeating: UInt8(y), count: 16 * 2) + Array(repeating: UInt8(u), count: 8) + Array(repeating: UInt8(v), count: 8)
            for (format, bytes) in [(PixelFormat.yuyv, yuyv), (.nv12, nv12), (.yu12, yu12)] {
                try bytes.withUnsafeBytes { raw in
                    let rgb = convertFrameReference(try PixelBuffer(bytes: raw, format: format, width: 16, height: 2))
                    #expect(abs(Double(rgb[0]) - expected.0) < 1.5 && abs(Double(rgb[1]) - expected.1) < 1.5
                            && abs(Double(rgb[2]) - expected.2) < 1.5, "\(format) \(y),\(u),\(v) → \(rgb[0..<3])")
                }
            }
        }
    }

    /// BT.601 limited range written out independently of PixelConversion.swift, for the SIMD and scalar paths.
    @Test(arguments: [PixelFormat.yuyv, .nv12, .yu12])
    func yuvMatchesTheFormula(format: PixelFormat) throws {
        let w = 23, h = 5  // 22 pixels in pairs (the vectorised loop), one odd pixel, odd chroma rows
        let stride = format.packedBytesPerLine(width: w)
        let bytes = seededBytes(seed: 11, count: format.requiredBytes(width: w, height: h, bytesPerLine: stride))
        let rgb = try bytes.withUnsafeBytes { convertFrameReference(try PixelBuffer(bytes: $0, format: format, width: w, height: h)) }
        let chromaStride = (w + 1) / 2, chromaRows = (h + 1) / 2
        for y in 0..<h {
            for x in 0..<w {
                let (Y, U, V): (Int, Int, Int)
                switch format {
                case .yuyv: (Y, U, V) = (Int(bytes[y * stride + x * 2]), Int(bytes[y * stride + (x / 2) * 4 + 1]), Int(bytes[y * stride + (x / 2) * 4 + 3]))
                case .nv12: (Y, U, V) = (Int(bytes[y * stride + x]), Int(bytes[stride * h + (y / 2) * stride + (x / 2) * 2]), Int(bytes[stride * h + (y / 2) * stride + (x / 2) * 2 + 1]))
                default: (Y, U, V) = (Int(bytes[y * w + x]), Int(bytes[w * h + (y / 2) * chromaStride + x / 2]), Int(bytes[w * h + chromaStride * chromaRows + (y / 2) * chromaStride + x / 2]))
                }
                let c = 1.164383 * Double(Y - 16), d = Double(U - 128), e = Double(V - 128)
                let expected = [c + 1.596027 * e, c - 0.391762 * d - 0.812968 * e, c + 2.017232 * d].map { min(max($0, 0), 255) }
                for k in 0..<3 {
                    #expect(abs(Double(rgb[(y * w + x) * 3 + k]) - expected[k]) < 1e-3, "\(format) (\(x), \(y)) channel \(k)")
                }
            }
        }
    }

    @Test func padAndValueScale() throws {
        let spec = LetterboxSpec(width: 8, height: 8, placement: .center, colourOrder: .rgb, valueScale: 1.0 / 255)
        let grey = [UInt8](repeating: 200, count: 8 * 4)
        let t = try grey.withUnsafeBytes { try Letterboxer(spec: spec).letterbox(PixelBuffer(bytes: $0, format: .grey, width: 8, height: 4)) }
        #expect(t.mapping.offsetY == 2 && t.mapping.resizedHeight == 4)
        #expect(t.tensor.shape == [1, 3, 8, 8])
        #expect(abs(t.tensor.data[0] - 114.0 / 255) < 1e-6)             // pad row
        #expect(abs(t.tensor.data[3 * 8] - 200.0 / 255) < 1e-6)         // image row
        #expect(abs(t.tensor.data[2 * 64 + 7 * 8] - 114.0 / 255) < 1e-6) // last plane, bottom pad
    }

    @Test func shortBuffersAreRejected() throws {
        let bytes = [UInt8](repeating: 0, count: 100)
        for format in PixelFormat.allCases {
            let error = #expect(throws: VisionError.self) {
                try bytes.withUnsafeBytes { _ = try PixelBuffer(bytes: $0, format: format, width: 64, height: 48, name: "cam0") }
            }
            #expect(error?.code == .invalidFrame && error?.message.contains("cam0") == true)
        }
        #expect(throws: VisionError.self) {
            try bytes.withUnsafeBytes { _ = try PixelBuffer(bytes: $0, format: .grey, width: 0, height: 5) }
        }
    }
}
