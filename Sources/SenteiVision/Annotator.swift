/// Draws detections onto a decoded image: a 2-pixel box per detection in a per-class colour and a filled label bar
/// with "label score" in the 5×7 bitmap font, scaled up on large images so it stays readable.
public enum Annotator {
    public static func draw(_ detections: [Detection], on image: inout DecodedImage) {
        let scale = max(1, min(image.width, image.height) / 320)
        for d in detections {
            let colour = palette[d.classIndex % palette.count]
            let x1 = clampInt(d.box.x1, image.width - 1), x2 = clampInt(d.box.x2, image.width - 1)
            let y1 = clampInt(d.box.y1, image.height - 1), y2 = clampInt(d.box.y2, image.height - 1)
            for t in 0..<(2 * scale) {
                fill(&image, x: x1, y: min(y1 + t, y2), w: x2 - x1 + 1, h: 1, colour)
                fill(&image, x: x1, y: max(y2 - t, y1), w: x2 - x1 + 1, h: 1, colour)
                fill(&image, x: min(x1 + t, x2), y: y1, w: 1, h: y2 - y1 + 1, colour)
                fill(&image, x: max(x2 - t, x1), y: y1, w: 1, h: y2 - y1 + 1, colour)
            }
            let text = "\(d.label) \(Int((d.score * 100).rounded()))%"
            let advance = (BitmapFont.width + 1) * scale
            let barH = (BitmapFont.height + 2) * scale
            let barY = y1 - barH >= 0 ? y1 - barH : y1
            fill(&image, x: x1, y: barY, w: text.count * advance + scale, h: barH, colour)
            for (i, ch) in text.enumerated() {
                drawGlyph(ch, on: &image, x: x1 + scale + i * advance, y: barY + scale, scale: scale,
                          colour: (255, 255, 255))
            }
        }
    }

    /// Colours in RGB; swapped on BGR images when drawn.
    private static let palette: [(UInt8, UInt8, UInt8)] = [
        (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
        (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128),
    ]

    private static func clampInt(_ v: Double, _ hi: Int) -> Int {
        v.isFinite ? min(max(Int(v.rounded()), 0), max(hi, 0)) : 0
    }

    private static func fill(_ image: inout DecodedImage, x: Int, y: Int, w: Int, h: Int,
                             _ colour: (UInt8, UInt8, UInt8)) {
        let x0 = max(x, 0), y0 = max(y, 0)
        let x1 = min(x + w, image.width), y1 = min(y + h, image.height)
        guard x0 < x1, y0 < y1 else { return }
        let (c0, c2) = image.format == .bgr24 ? (colour.2, colour.0) : (colour.0, colour.2)
        let width = image.width
        image.pixels.withUnsafeMutableBufferPointer { px in
            for yy in y0..<y1 {
                for xx in x0..<x1 {
                    let p = (yy * width + xx) * 3
                    px[p] = c0
                    px[p + 1] = colour.1
                    px[p + 2] = c2
                }
            }
        }
    }

    private static func drawGlyph(_ ch: Character, on image: inout DecodedImage, x: Int, y: Int, scale: Int,
                                  colour: (UInt8, UInt8, UInt8)) {
        let rows = BitmapFont.glyph(ch)
        for (r, bits) in rows.enumerated() {
            for col in 0..<BitmapFont.width where bits & (0x10 >> UInt8(col)) != 0 {
                fill(&image, x: x + col * scale, y: y + r * scale, w: scale, h: scale, colour)
            }
        }
    }
}
