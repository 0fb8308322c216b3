import CSenteiKernels
import SenteiEngine
import Testing

// sk_transpose_f32 against the definition, on shapes with full 16×16 blocks, partial blocks on either side (YOLOX's
// head is 85 × 3549: 5 and 13 left over), single rows and columns, and leading dimensions wider than the plane, so
// a masked load or store that reaches one element too far shows up as a wrong or overwritten value.
@Suite struct TransposeTests {
    static let shapes: [(rows: Int, cols: Int)] = [(1, 1), (1, 37), (37, 1), (16, 16), (32, 48), (85, 61), (5, 13),
                                                     (17, 33), (85, 3549 / 9)]

    @Test(arguments: KernelISA.supported)
    func matchesTheDefinition(isa: KernelISA) {
        for (rows, cols) in Self.shapes {
            let srcLd = cols + 3, dstLd = rows + 5
            let src = (0..<(rows * srcLd)).map { Float($0 % 1009) - 300.5 }
            let sentinel: Float = -7777
            var dst = [Float](repeating: sentinel, count: cols * dstLd)
            src.withUnsafeBufferPointer { s in
                dst.withUnsafeMutableBufferPointer { d in
                    sk_transpose_f32(s.baseAddress!, srcLd, d.baseAddress!, dstLd, rows, cols, Int32(isa.rawValue))
                }
            }
            var wrong = 0, touched = 0
            for c in 0..<cols {
                for r in 0..<dstLd {
                    let value = dst[c * dstLd + r]
                    if r < rows {
                        if value != src[r * srcLd + c] { wrong += 1 }
                    } else if value != sentinel {
                        touched += 1
                    }
                }
            }
            #expect(wrong == 0, "\(isa) \(rows)×\(cols): \(wrong) elements wrong")
            #expect(touched == 0, "\(isa) \(rows)×\(cols): \(touched) elements past the rows written")
        }
    }
}
