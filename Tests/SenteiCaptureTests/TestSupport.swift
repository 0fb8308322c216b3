import Glibc
import SenteiCapture
import Synchronization

/// A clock that only moves when slept on or advanced, recording every sleep deadline.
final class FakeClock: MonotonicClock {
    private let state = Mutex<(now: UInt64, sleeps: [UInt64])>((1_000_000_000, []))

    func nowNs() -> UInt64 { state.withLock { $0.now } }
    func sleep(untilNs deadlineNs: UInt64) {
        state.withLock {
            $0.sleeps.append(deadlineNs)
            $0.now = max($0.now, deadlineNs)
        }
    }
    func advance(byNs delta: UInt64) { state.withLock { $0.now += delta } }
    var sleeps: [UInt64] { state.withLock { $0.sleeps } }
}

/// Collects events from the capture thread for assertions.
final class EventLog: Sendable {
    private let events = Mutex<[CaptureEvent]>([])
    var handler: CaptureEventHandler { { event in self.events.withLock { $0.append(event) } } }
    var all: [CaptureEvent] { events.withLock { $0 } }
    var kinds: [String] {
        all.map {
            switch $0 {
            case .negotiated: "negotiated"
            case .found: "found"
            case .lost: "lost"
            case .retrying: "retrying"
            case .skipped: "skipped"
            }
        }
    }
}

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDirectory {
    let path: String

    init() {
        var template = Array("/tmp/sentei-capture-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(cString: p!)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ bytes: [UInt8]) {
        let f = fopen(file(name), "wb")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }

    func remove() {
        guard let d = opendir(path) else { return }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { unlink(file(name)) }
        }
        closedir(d)
        rmdir(path)
    }
}

/// A structurally valid baseline JPEG (markers and lengths right; the entropy data is filler the framing code never
/// decodes). `scan` may contain FF 00 stuffing and RST markers to exercise the scanner.
func syntheticJPEG(width: Int, height: Int, scan: [UInt8] = [0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD3, 0x78],
                   app1: [UInt8] = []) -> [UInt8] {
    var b: [UInt8] = [0xFF, 0xD8]
    b += [0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0x00, 0x01, 0x02, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]
    if !app1.isEmpty {
        let length = app1.count + 2
        b += [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + app1
    }
    b += [0xFF, 0xDB, 0x00, 0x05, 0x00, 0x01, 0x02]  // shortened DQT: framing only reads lengths
    b += [0xFF, 0xC0, 0x00, 0x0B, 0x08, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8),
          UInt8(width & 0xFF), 0x01, 0x01, 0x11, 0x00]
    b += [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]
    b += scan
    b += [0xFF, 0xD9]
    return b
}

/// `../shared` (or `$SENTEI_SHARED`) relative to the package root; nil when absent.
func sharedDataRoot() -> String? {
    if let env = getenv("SENTEI_SHARED") { return String(cString: env) }
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }  // …/Tests/SenteiCaptureTests/x.swift
    let candidate = path + "/../shared"
    var st = stat()
    return stat(candidate, &st) == 0 ? candidate : nil
}
