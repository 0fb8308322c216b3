import Testing
import SenteiVision

@Suite struct AnnotatorTests {
    @Test func drawsBoxAndLabelAndEncodes() throws {
        var image = DecodedImage(pixels: [UInt8](repeating: 0, count: 200 * 100 * 3), format: .rgb24, width: 200,
                                 height: 100, originalWidth: 200, originalHeight: 100)
        let d = Detection(classIndex: 0, label: "person", score: 0.83, box: Box(x1: 20, y1: 30, x2: 120, y2: 90))
        Annotator.draw([d], on: &image)
        func px(_ x: Int, _ y: Int) -> [UInt8] {
            let start: Int = (y * 200 + x) * 3
            return Array(image.pixels[start..<start + 3])
        }
        #expect(px(70, 30) == [230, 25, 75])      // top edge in class 0's colour
        #expect(px(20, 60) == [230, 25, 75])      // left edge
        #expect(px(70, 60) == [0, 0, 0])          // inside untouched
        #expect(px(5, 5) == [0, 0, 0])            // outside untouched
        // The label bar sits above the box and holds white glyph pixels.
        var bar: [[UInt8]] = []
        for y in 21..<30 { for x in 20..<80 { bar.append(px(x, y)) } }
        #expect(bar.contains([255, 255, 255]) && bar.contains([230, 25, 75]))
        let jpeg = try JPEGEncoder().encode(image)
        let back = try JPEGDecoder().decode(jpeg, name: "annotated.jpg")
        #expect(back.width == 200 && back.height == 100)
    }

    @Test func boxesOutsideTheImageAreClipped() {
        var image = DecodedImage(pixels: [UInt8](repeating: 0, count: 10 * 10 * 3), format: .bgr24, width: 10,
                                 height: 10, originalWidth: 10, originalHeight: 10)
        let d = Detection(classIndex: 3, label: "x", score: 1, box: Box(x1: -50, y1: -50, x2: 500, y2: .infinity))
        Annotator.draw([d], on: &image)
        #expect(image.pixels.count == 300)
        #expect(Array(image.pixels[0..<3]) == [48, 130, 245])  // class 3 colour, BGR order
    }
}
