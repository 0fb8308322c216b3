import Foundation
import SenteiCapture

/// Where and how often live frames are kept for self-pruning calibration (`sentei prune` reads the directory).
public struct CalibrationConfig: Sendable, Equatable {
    /// Directory under the state directory, e.g. `/var/lib/sentei/calibration/<camera>`; created if missing.
    public var directory: String
    /// One frame every this many seconds; default 10.
    public var everyS: Double = 10
    /// At most this many files; the oldest go first. Default 500.
    public var maxFiles: Int = 500
    /// At most this many bytes in total; the oldest go first. Default 256 MiB.
    public var maxBytes: Int = 256 << 20

    public init(directory: String, everyS: Double = 10, maxFiles: Int = 500, maxBytes: Int = 256 << 20) {
        self.directory = directory
        self.everyS = everyS
        self.maxFiles = maxFiles
        self.maxBytes = maxBytes
    }
}

/// Samples frames into a bounded directory. JPEG frames are stored as they came (`<seq>.jpg`); raw frames keep
/// their bytes with the geometry in the name (`<seq>_<W>x<H>_<stride>_<FOURCC>.raw`), so nothing is re-encoded on
/// the processing thread. Files are written to a temporary name and renamed, so readers never see half a file.
final class CalibrationSampler {
    let config: CalibrationConfig
    private var files: [(name: String, bytes: Int)] = []
    private var totalBytes = 0
    private var lastSampleNs: UInt64?

    init(config: CalibrationConfig) throws {
        guard config.maxFiles > 0, config.maxBytes > 0, config.everyS > 0 else {
            throw ControllerError("calibration: every_s, max_files and max_bytes must be > 0")
        }
        self.config = config
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: config.directory, withIntermediateDirectories: true)
        } catch {
            throw ControllerError("calibration directory \(config.directory) cannot be created: \(error.localizedDescription)")
        }
        // Resume the bound across restarts: what is already there counts.
        let names = ((try? fm.contentsOfDirectory(atPath: config.directory)) ?? [])
            .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".raw") }.sorted()
        for name in names {
            let size = (try? fm.attributesOfItem(atPath: config.directory + "/" + name)[.size] as? Int) ?? 0
            files.append((name, size))
            totalBytes += size
        }
        trim()
    }

    var fileCount: Int { files.count }
    var byteCount: Int { totalBytes }

    /// Keeps `frame` if a sample is due. Errors (disk full) are returned for logging; sampling goes on.
    @discardableResult
    func offer(_ frame: Frame, nowNs: UInt64) throws -> Bool {
        if let last = lastSampleNs, Double(nowNs &- last) / 1e9 < config.everyS { return false }
        lastSampleNs = nowNs
        guard frame.bytes.count <= config.maxBytes else { return false }
        let stem = String(format: "%012llu", frame.sequence)
        let name = frame.format == .mjpeg ? stem + ".jpg"
            : "\(stem)_\(frame.width)x\(frame.height)_\(frame.bytesPerLine)_\(frame.format.fourCC).raw"
        let path = config.directory + "/" + name
        let temporary = config.directory + "/." + name + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(frame.bytes)) else {
            throw ControllerError("calibration: cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ControllerError("calibration: cannot rename \(temporary) to \(path)")
        }
        files.append((name, frame.bytes.count))
        totalBytes += frame.bytes.count
        trim()
        return true
    }

    private func trim() {
        var drop = 0
        while drop < files.count && (files.count - drop > config.maxFiles || totalBytes > config.maxBytes) {
            unlink(config.directory + "/" + files[drop].name)
            totalBytes -= files[drop].bytes
            drop += 1
        }
        if drop > 0 { files.removeFirst(drop) }
    }
}
