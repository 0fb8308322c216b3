#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SenteiVision

/// The package root (two levels above this file's directory).
let packageRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

func environment(_ name: String) -> String? { ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 } }

/// Shared data: `$SENTEI_SHARED`, or `../shared` next to the package root; nil (tests skip) when absent.
let sharedRoot: String? = {
    let root = environment("SENTEI_SHARED") ?? packageRoot + "/../shared"
    return FileManager.default.fileExists(atPath: root + "/data/coco128/images") ? root : nil
}()

let sharedMissing = "shared data not found: set SENTEI_SHARED or provide ../shared"

func loadYOLOXManifest() throws -> ModelManifest {
    try ModelManifest.load(path: packageRoot + "/Models/yolox_nano.json")
}

/// Deterministic bytes (xorshift), for synthetic frames and garbage input.
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt8 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state >> 24)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in next() } }
}

func seededBytes(seed: UInt64, count: Int) -> [UInt8] {
    var gen = SeededBytes(seed: seed)
    return gen.bytes(count)
}

/// A smooth synthetic RGB image (gradients plus a bright square) that compresses like a camera frame.
func syntheticRGB(width: Int, height: Int) -> DecodedImage {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let inSquare = x > width / 4 && x < width / 2 && y > height / 4 && y < height / 2
            px[(y * width + x) * 3] = inSquare ? 250 : UInt8(x * 255 / max(width - 1, 1))
            px[(y * width + x) * 3 + 1] = inSquare ? 240 : UInt8(y * 255 / max(height - 1, 1))
            px[(y * width + x) * 3 + 2] = UInt8((x + y) * 255 / max(width + height - 2, 1))
        }
    }
    return DecodedImage(pixels: px, format: .rgb24, width: width, height: height, originalWidth: width,
                        originalHeight: height)
}
