import Foundation
import SenteiCapture
import SenteiVision
@testable import SenteiDaemon

/// The package root (two levels above this file's directory).
let daemonPackageRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// Shared data: `$SENTEI_SHARED`, or `../shared` next to the package root; nil (tests skip) when absent.
let daemonSharedRoot: String? = {
    let env = ProcessInfo.processInfo.environment["SENTEI_SHARED"].flatMap { $0.isEmpty ? nil : $0 }
    let root = env ?? daemonPackageRoot + "/../shared"
    return FileManager.default.fileExists(atPath: root + "/models/yolox_nano.onnx") ? root : nil
}()

let daemonSharedMissing = "shared data not found: set SENTEI_SHARED or provide ../shared"

/// The YOLOX-Nano ladder at three input sizes, compiled once for all pipeline tests.
let sharedLadder: Result<Ladder, any Error>? = {
    guard let root = daemonSharedRoot else { return nil }
    return Result {
        let manifest = try ModelManifest.load(path: daemonPackageRoot + "/Models/yolox_nano.json")
        return try Ladder.inputSizes(modelPath: root + "/models/yolox_nano.onnx", manifest: manifest,
                                     sizes: [416, 320, 256])
    }
}()
