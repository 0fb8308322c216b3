import Foundation
import SenteiDaemon
import SenteiVision

/// Calibration images under `path` (a directory, searched recursively and sorted, or one file): JPEG files and the
/// raw frames the daemon's calibration sampler keeps for uncompressed cameras, so `--calib` takes its directory as is.
func calibrationImagePaths(_ path: String) throws -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw VisionError(.invalidDataset, "\(path): no such file or directory")
    }
    guard isDirectory.boolValue else { return [path] }
    return try listFiles(under: path) { item in
        let name = (item as NSString).lastPathComponent
        return SampledFrame.isImage(name) && !name.hasPrefix(".")
    }.map { path + "/" + $0 }
}

/// One calibration image as JPEG bytes (a raw sample converted); errors name the file.
func calibrationJPEG(_ path: String) throws -> [UInt8] { try SampledFrame.jpeg(path: path) }
