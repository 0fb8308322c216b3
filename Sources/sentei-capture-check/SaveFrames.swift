import Glibc
import SenteiCapture

/// `capture --device D --frames K --out DIR`: prints the negotiation and saves K frames as delivered — MJPEG frames
/// as `frame-NNNNNN.jpg`, raw ones as `frame-NNNNNN.<fourcc>` — so a user can check a camera without the daemon.
func saveFrames(_ a: Arguments) throws {
    let config = try configuration(a)
    let count = try a.int("frames", default: 10)
    let out = try a.required("out")
    if mkdir(out, 0o755) != 0 && errno != EEXIST { throw ProbeError("cannot create \(out): \(Errno(errno))") }
    let camera = V4L2Camera(configuration: config, onEvent: printEvents)
    guard let negotiated = try camera.start() else { throw ProbeError("no negotiation") }
    print("NEGOTIATED \(negotiated)")
    var saved = 0
    while saved < count, let frame = try camera.nextFrame() {
        let digits = String(frame.sequence)
        let name = String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        let ext = frame.format == .mjpeg ? "jpg" : frame.format.description.lowercased()
        let path = "\(out)/frame-\(name).\(ext)"
        guard let f = fopen(path, "wb") else { throw ProbeError("cannot write \(path): \(Errno(errno))") }
        let written = frame.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        guard written == frame.bytes.count else { throw ProbeError("short write to \(path)") }
        print("saved \(path) \(frame.bytes.count) bytes t=\(frame.timestampNs) dropped=\(frame.droppedSinceLast)")
        saved += 1
    }
    camera.close()
}
