import SenteiCapture
import Testing

@Suite("JPEG framing (SOI…EOI by marker structure)")
struct JPEGFramingTests {
    func scanAll(_ bytes: [UInt8]) -> [JPEGFraming.Scan] {
        bytes.withUnsafeBytes { b in
            var out: [JPEGFraming.Scan] = []
            var position = 0
            while true {
                let s = JPEGFraming.next(in: b, from: position)
                out.append(s)
                switch s {
                case .end: return out
                case .image(let range, _, _): position = range.upperBound
                case .damaged(_, _, let resumeAt): position = resumeAt
                }
            }
        }
    }

    @Test func splitsConcatenatedImagesAndSkipsGarbage() {
        let a = syntheticJPEG(width: 640, height: 480)
        let b = syntheticJPEG(width: 320, height: 240)
        let stream = [0x00, 0xFF, 0x13] + a + [0xFF, 0xFF, 0x42] + b + [0x99]
        let scans = scanAll(stream)
        #expect(scans == [
            .image(range: 3..<(3 + a.count), width: 640, height: 480),
            .image(range: (6 + a.count)..<(6 + a.count + b.count), width: 320, height: 240),
            .end,
        ])
    }

    @Test func ignoresMarkersInsideSegmentsAndStuffedScanData() {
        // An EXIF-like thumbnail in APP1 holds its own SOI/EOI; the scan holds FF00 and RST markers.
        let thumbnail = syntheticJPEG(width: 8, height: 8)
        let image = syntheticJPEG(width: 1280, height: 720, scan: [0xFF, 0x00, 0xFF, 0xD9 - 8, 0x01, 0xFF, 0xFF, 0x00],
                                  app1: Array("Exif".utf8) + [0, 0] + thumbnail)
        #expect(scanAll(image) == [.image(range: 0..<image.count, width: 1280, height: 720), .end])
    }

    @Test func reportsTruncationAndResumesAtTheNextImage() {
        let a = syntheticJPEG(width: 640, height: 480)
        let b = syntheticJPEG(width: 64, height: 48)
        let cut = Array(a.prefix(a.count - 5))  // EOI and some scan data missing
        let scans = scanAll(cut + b)
        guard case .damaged(0, let reason, let resume) = scans[0] else {
            Issue.record("expected damage, got \(scans[0])")
            return
        }
        #expect(reason.contains("new SOI") && resume == cut.count)
        #expect(scans[1] == .image(range: cut.count..<(cut.count + b.count), width: 64, height: 48))
        let tail = scanAll(Array(a.prefix(30)))
        if case .damaged(_, let r, _) = tail[0] { #expect(r.contains("truncated")) } else { Issue.record("\(tail)") }
    }

    @Test func rejectsBadSegmentLengthsAndMissingSOF() {
        var bad = syntheticJPEG(width: 16, height: 16)
        bad[5] = 0x01  // APP0 length 1 < 2
        if case .damaged(_, let reason, _) = scanAll(bad)[0] { #expect(reason.contains("segment length")) } else {
            Issue.record("expected damage")
        }
        let noSOF: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0xFF, 0xD9]
        if case .damaged(_, let reason, _) = scanAll(noSOF)[0] { #expect(reason.contains("no SOF")) } else {
            Issue.record("expected damage")
        }
        #expect(scanAll([0x01, 0x02, 0xFF, 0xD8]) == [.end])
    }
}
