import Foundation

/// A decoded frame in memory: packed 8-bit RGB, row-major.
package struct RGBImage: Sendable {
    package var width: Int
    package var height: Int
    package var pixels: [UInt8]

    package init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// SplitMix64: small, fast, and seedable per (run seed, step, image) so that a resumed run draws exactly the same
/// augmentations as an uninterrupted one.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    package init(seed: UInt64, step: Int, index: Int) {
        var g = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: step) &* 0x9E37_79B9_7F4A_7C15))
        for _ in 0...(index % 64) { _ = g.next() }
        self.init(seed: g.next() ^ UInt64(truncatingIfNeeded: index))
    }
}

/// Training-time augmentation in the model's input format (planar CHW floats, letterbox-style padding):
/// a mosaic of four frames around a random centre, or one frame at a random scale and position (random crop), then a
/// horizontal flip and colour jitter (brightness, saturation, contrast, per-channel gain).
package struct Augmenter: Sendable {
    package var width: Int
    package var height: Int
    /// Output planes in BGR order (YOLOX) instead of RGB.
    package var bgr: Bool
    /// Multiplies 0–255 values (1 for YOLOX, 1/255 for Ultralytics).
    package var valueScale: Float
    package var padValue: Float = 114
    package var mosaicProbability = 0.5
    /// Single-frame scale range, relative to the letterbox fit.
    package var scaleRange: ClosedRange<Double> = 0.6...1.4
    package var mosaicScaleRange: ClosedRange<Double> = 0.4...0.8
    package var flipProbability = 0.5
    package var brightness = 0.3, saturation = 0.3, contrast = 0.2, channelGain = 0.1

    package init(width: Int, height: Int, bgr: Bool, valueScale: Float) {
        self.width = width
        self.height = height
        self.bgr = bgr
        self.valueScale = valueScale
    }

    /// Where one source frame lands: output pixel (x, y) inside `clip` samples source ((x − ox)/s, (y − oy)/s).
    struct Placement {
        var image: Int
        var scale: Double
        var offsetX: Double
        var offsetY: Double
        var clip: (x0: Int, y0: Int, x1: Int, y1: Int)
    }

    /// One augmented sample from `images`, deterministic in `generator`.
    package func sample(_ images: [RGBImage], using generator: inout SplitMix64) -> [Float] {
        precondition(!images.isEmpty, "Augmenter: no images")
        var placements: [Placement] = []
        if images.count >= 1 && Double.random(in: 0..<1, using: &generator) < mosaicProbability {
            let cx = Int(Double(width) * Double.random(in: 0.3...0.7, using: &generator))
            let cy = Int(Double(height) * Double.random(in: 0.3...0.7, using: &generator))
            for quadrant in 0..<4 {
                let index = Int.random(in: 0..<images.count, using: &generator)
                let image = images[index]
                let fit = min(Double(width) / Double(image.width), Double(height) / Double(image.height))
                let s = fit * Double.random(in: mosaicScaleRange, using: &generator)
                let w = Double(image.width) * s, h = Double(image.height) * s
                // Each frame's inner corner sits on the centre; its clip is its quadrant.
                let right = quadrant % 2 == 1, bottom = quadrant >= 2
                let ox = right ? Double(cx) : Double(cx) - w, oy = bottom ? Double(cy) : Double(cy) - h
                placements.append(Placement(image: index, scale: s, offsetX: ox, offsetY: oy,
                                            clip: (right ? cx : 0, bottom ? cy : 0, right ? width : cx, bottom ? height : cy)))
            }
        } else {
            let index = Int.random(in: 0..<images.count, using: &generator)
            let image = images[index]
            let fit = min(Double(width) / Double(image.width), Double(height) / Double(image.height))
            let s = fit * Double.random(in: scaleRange, using: &generator)
            let w = Double(image.width) * s, h = Double(image.height) * s
            // Random position: the frame may be cropped by, or float inside, the canvas.
            let ox = Double.random(in: min(0, Double(width) - w)...max(0, Double(width) - w), using: &generator)
            let oy = Double.random(in: min(0, Double(height) - h)...max(0, Double(height) - h), using: &generator)
            placements.append(Placement(image: index, scale: s, offsetX: ox, offsetY: oy, clip: (0, 0, width, height)))
        }
        var jitter = Jitter()
        jitter.flip = Double.random(in: 0..<1, using: &generator) < flipProbability
        jitter.value = Float(1 + Double.random(in: -brightness...brightness, using: &generator))
        jitter.saturation = Float(1 + Double.random(in: -saturation...saturation, using: &generator))
        jitter.contrast = Float(1 + Double.random(in: -contrast...contrast, using: &generator))
        jitter.gains = (0..<3).map { _ in Float(1 + Double.random(in: -channelGain...channelGain, using: &generator)) }
        return draw(images, placements, jitter)
    }

    struct Jitter {
        var flip = false
        var value: Float = 1, saturation: Float = 1, contrast: Float = 1
        var gains: [Float] = [1, 1, 1]
    }

    /// The plain letterbox (fit scale, top-left or centred, no augmentation): held-out and evaluation inputs.
    package func letterbox(_ image: RGBImage, topLeft: Bool = true) -> [Float] {
        let fit = min(Double(width) / Double(image.width), Double(height) / Double(image.height))
        let ox = topLeft ? 0 : ((Double(width) - Double(image.width) * fit) / 2).rounded(.down)
        let oy = topLeft ? 0 : ((Double(height) - Double(image.height) * fit) / 2).rounded(.down)
        return draw([image], [Placement(image: 0, scale: fit, offsetX: ox, offsetY: oy, clip: (0, 0, width, height))], Jitter())
    }

    /// Bilinear sampling of each placement into its clip, then the colour jitter, flip, channel order and scale.
    func draw(_ images: [RGBImage], _ placements: [Placement], _ j: Jitter) -> [Float] {
        let plane = width * height
        var out = [Float](repeating: padValue * valueScale, count: 3 * plane)
        let planeOf = bgr ? [2, 1, 0] : [0, 1, 2]
        for p in placements {
            let image = images[p.image]
            image.pixels.withUnsafeBufferPointer { src in
                for y in p.clip.y0..<p.clip.y1 {
                    let sy = (Double(y) + 0.5 - p.offsetY) / p.scale - 0.5
                    guard sy > -0.5, sy < Double(image.height) - 0.5 else { continue }
                    let y0 = max(0, min(image.height - 1, Int(sy.rounded(.down))))
                    let y1 = min(image.height - 1, y0 + 1)
                    let fy = Float(max(0, min(1, sy - Double(y0))))
                    for x in p.clip.x0..<p.clip.x1 {
                        let sx = (Double(x) + 0.5 - p.offsetX) / p.scale - 0.5
                        guard sx > -0.5, sx < Double(image.width) - 0.5 else { continue }
                        let x0 = max(0, min(image.width - 1, Int(sx.rounded(.down))))
                        let x1 = min(image.width - 1, x0 + 1)
                        let fx = Float(max(0, min(1, sx - Double(x0))))
                        let i00 = (y0 * image.width + x0) * 3, i01 = (y0 * image.width + x1) * 3
                        let i10 = (y1 * image.width + x0) * 3, i11 = (y1 * image.width + x1) * 3
                        var rgb = SIMD4<Float>()
                        for c in 0..<3 {
                            let top = (1 - fx) * Float(src[i00 + c]) + fx * Float(src[i01 + c])
                            let bottom = (1 - fx) * Float(src[i10 + c]) + fx * Float(src[i11 + c])
                            rgb[c] = (1 - fy) * top + fy * bottom
                        }
                        // Saturation: blend with grey; contrast around mid-grey; brightness and channel gains multiply.
                        let grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
                        let ox = j.flip ? width - 1 - x : x
                        for c in 0..<3 {
                            var v = grey + (rgb[c] - grey) * j.saturation
                            v = 128 + (v - 128) * j.contrast
                            v *= j.value * j.gains[c]
                            out[planeOf[c] * plane + y * width + ox] = min(255, max(0, v)) * valueScale
                        }
                    }
                }
            }
        }
        return out
    }
}
