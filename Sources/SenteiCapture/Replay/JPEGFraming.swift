/// Finds whole JPEG images (SOI…EOI) in a byte stream by walking the marker structure, not by searching for FFD9:
/// segment payloads (an EXIF thumbnail has its own SOI/EOI) are skipped by their lengths, and inside entropy-coded
/// data only FF followed by something other than 00, FF or RSTn is a marker. Garbage between images is skipped.
/// A truncated image (a new SOI or the end of data before EOI) is reported and scanning resumes.
public enum JPEGFraming {
    public enum Scan: Equatable, Sendable {
        /// One image at `range` with the size from its SOF header.
        case image(range: Range<Int>, width: Int, height: Int)
        /// A damaged image starting at `offset`; scanning continues at `resumeAt`.
        case damaged(offset: Int, reason: String, resumeAt: Int)
        /// No further SOI in the data.
        case end
    }

    /// Scans for the next image at or after `start`.
    public static func next(in b: UnsafeRawBufferPointer, from start: Int) -> Scan {
        let n = b.count
        var soi = start
        // An SOI followed by another marker's FF (every real JPEG starts FF D8 FF) — less prone to false hits.
        while soi + 2 < n && !(b[soi] == 0xFF && b[soi + 1] == 0xD8 && b[soi + 2] == 0xFF) { soi += 1 }
        guard soi + 2 < n else { return .end }
        var p = soi + 2
        var size: (width: Int, height: Int)?
        func damaged(_ reason: String, resumeAt: Int) -> Scan {
            .damaged(offset: soi, reason: reason, resumeAt: max(resumeAt, soi + 2))
        }
        while true {
            guard p < n else { return damaged("truncated: data ends before EOI", resumeAt: n) }
            guard b[p] == 0xFF else {
                return damaged("expected a marker at offset \(p), found 0x\(String(b[p], radix: 16))", resumeAt: p)
            }
            while p < n && b[p] == 0xFF { p += 1 }  // fill bytes
            guard p < n else { return damaged("truncated inside a marker", resumeAt: n) }
            let marker = b[p]
            p += 1
            switch marker {
            case 0xD9:
                guard let size else { return damaged("no SOF header before EOI", resumeAt: p) }
                return .image(range: soi..<p, width: size.width, height: size.height)
            case 0xD8:
                return damaged("truncated: a new SOI at offset \(p - 2) before EOI", resumeAt: p - 2)
            case 0x01, 0xD0...0xD7:
                continue  // standalone markers carry no length
            default:
                guard p + 1 < n else { return damaged("truncated segment header", resumeAt: n) }
                let length = Int(b[p]) << 8 | Int(b[p + 1])
                guard length >= 2 else { return damaged("segment length \(length) at offset \(p)", resumeAt: p) }
                guard p + length <= n else { return damaged("truncated: segment runs past the data", resumeAt: n) }
                if isStartOfFrame(marker) {
                    guard length >= 7 else { return damaged("SOF segment too short", resumeAt: p) }
                    let height = Int(b[p + 3]) << 8 | Int(b[p + 4])
                    let width = Int(b[p + 5]) << 8 | Int(b[p + 6])
                    guard width > 0, height > 0 else {
                        return damaged("SOF declares \(width)x\(height)", resumeAt: p)
                    }
                    size = (width, height)
                }
                p += length
                if marker == 0xDA {  // SOS: entropy-coded data follows up to the next real marker
                    while p + 1 < n {
                        if b[p] == 0xFF {
                            let next = b[p + 1]
                            if next == 0x00 || (0xD0...0xD7).contains(next) {
                                p += 2
                                continue
                            }
                            if next == 0xFF {
                                p += 1
                                continue
                            }
                            break
                        }
                        p += 1
                    }
                    if p + 1 >= n { return damaged("truncated: data ends inside scan data", resumeAt: n) }
                }
            }
        }
    }

    /// SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    static func isStartOfFrame(_ marker: UInt8) -> Bool {
        (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
    }
}
