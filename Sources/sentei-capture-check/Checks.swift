import CV4L2
import Glibc
import SenteiCapture
import Synchronization

/// Counts `retrying` events (failed reconnects: the device was really absent) across the capture thread.
final class RetryCounter: Sendable {
    let value = Atomic<Int>(0)
}

let printEvents: CaptureEventHandler = { event in
    switch event {
    case .negotiated(let f): print("EVENT negotiated \(f)")
    case .found(let f): print("EVENT found \(f)")
    case .lost(let device, let reason): print("EVENT lost \(device): \(reason)")
    case .retrying(let device, let attempt, let delayMs, let reason):
        print("EVENT retrying \(device) attempt \(attempt) in \(delayMs) ms: \(reason)")
    case .skipped(let source, let reason): print("EVENT skipped \(source): \(reason)")
    }
}

func configuration(_ a: Arguments) throws(ProbeError) -> CaptureConfiguration {
    var c = CaptureConfiguration(devicePath: try a.required("device"))
    if let size = try a.size("size") { (c.width, c.height) = size }
    c.fps = try a.double("fps")
    if let f = a.string("format") {
        guard let code = FourCC(string: f) else { throw ProbeError("--format \(f) is not a FourCC") }
        c.format = PixelFormat(fourCC: code)
    }
    c.frameTimeoutMs = Int32(try a.int("timeout-ms", default: 3000))
    return c
}

func fmt(_ v: Double) -> String {
    let r = Int((v * 100).rounded())
    return "\(r / 100).\(r % 100 < 10 ? "0" : "")\(r % 100)"
}

func readFile(_ path: String) throws(ProbeError) -> [UInt8] {
    guard let f = fopen(path, "rb") else { throw ProbeError("cannot open \(path)") }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

/// Streams K frames and checks negotiation, rate, timestamps, sequence numbers and (optionally) the pixels.
func streamCheck(_ a: Arguments, name: String) throws {
    let config = try configuration(a)
    let count = try a.int("frames", default: 30)
    let camera = V4L2Camera(configuration: config, onEvent: printEvents)
    guard let negotiated = try camera.start() else { report(name, false, "no negotiation") }
    print("NEGOTIATED \(negotiated)")
    var problems: [String] = []
    if let forced = config.format, negotiated.format != forced {
        problems.append("asked for \(forced), got \(negotiated.format)")
    }
    if negotiated.width != config.width || negotiated.height != config.height {
        problems.append("asked for \(config.width)x\(config.height), got \(negotiated.width)x\(negotiated.height)")
    }
    if let want = a.string("expect-format"), negotiated.format.description != want {
        problems.append("preference order chose \(negotiated.format), expected \(want)")
    }
    if let fps = config.fps, abs((negotiated.grantedFps ?? 0) - fps) > 0.01 {
        problems.append("granted \(negotiated.grantedFps.map(fmt) ?? "nothing") fps, asked \(fmt(fps))")
    }
    let expected = try a.string("expect-file").map(readFile)
    var jpegs: [[UInt8]: Int] = [:]
    if let dir = a.string("match-jpegs") {
        let source = try ReplaySource.jpegDirectory(dir, pacing: .asFastAsPossible)
        while let f = try source.nextFrame() { jpegs[f.bytes] = Int(f.sequence) }
    }
    var frames: [Frame] = []
    var pixelMismatches = 0, jpegMisses = 0, orderBreaks = 0
    var lastJPEG: Int?
    while frames.count < count, let frame = try camera.nextFrame() {
        if let expected, frame.bytes != expected { pixelMismatches += 1 }
        if !jpegs.isEmpty {
            if let index = jpegs[frame.bytes] {
                if let last = lastJPEG, index != (last + 1 + frame.droppedSinceLast) % jpegs.count { orderBreaks += 1 }
                lastJPEG = index
            } else {
                jpegMisses += 1
            }
        }
        frames.append(frame)
    }
    camera.close()
    guard frames.count == count else { report(name, false, "only \(frames.count) of \(count) frames") }
    var nonMonotonic = 0, sequenceErrors = 0
    for (prev, next) in zip(frames, frames.dropFirst()) {
        if next.timestampNs <= prev.timestampNs { nonMonotonic += 1 }
        if next.sequence != prev.sequence + 1 + UInt64(next.droppedSinceLast) { sequenceErrors += 1 }
    }
    let dropped = frames.dropFirst().reduce(0) { $0 + $1.droppedSinceLast }
    let spanS = Double(frames.last!.timestampNs - frames.first!.timestampNs) / 1e9
    // Delivered plus dropped frames over the span is the driver's real rate, independent of how fast we read.
    let measured = Double(count - 1 + dropped) / max(spanS, 1e-9)
    if nonMonotonic > 0 { problems.append("\(nonMonotonic) non-increasing timestamps") }
    if sequenceErrors > 0 { problems.append("\(sequenceErrors) sequence numbers inconsistent with drop counts") }
    if let granted = negotiated.grantedFps, a.string("check-rate") != "no", abs(measured - granted) / granted > 0.1 {
        problems.append("measured \(fmt(measured)) fps vs granted \(fmt(granted))")
    }
    if expected != nil && pixelMismatches > 0 { problems.append("\(pixelMismatches) frames differ from the reference") }
    if !jpegs.isEmpty && (jpegMisses > 0 || orderBreaks > 0) {
        problems.append("\(jpegMisses) frames equal no source JPEG, \(orderBreaks) out of order")
    }
    let summary =
        "\(negotiated.format) \(negotiated.width)x\(negotiated.height) granted \(negotiated.grantedFps.map(fmt) ?? "-") "
        + "fps, measured \(fmt(measured)) fps over \(count) frames, dropped \(dropped), skipped \(camera.skippedCount)"
        + (expected != nil ? ", pixels equal to v4l2-ctl capture: \(count - pixelMismatches)/\(count)" : "")
        + (!jpegs.isEmpty ? ", byte-identical to source JPEGs: \(count - jpegMisses)/\(count)" : "")
    report(name, problems.isEmpty, summary + (problems.isEmpty ? "" : "; PROBLEMS: " + problems.joined(separator: "; ")))
}

/// Opening must fail with the expected error code and a message naming the device.
func openErrorCheck(_ a: Arguments, name: String) throws {
    var config = try configuration(a)
    config.fps = nil
    let want = try a.required("expect")
    let camera = V4L2Camera(configuration: config, onEvent: printEvents)
    do {
        let f = try camera.start()
        report(name, false, "expected \(want) but negotiated \(f.map { "\($0)" } ?? "nothing")")
    } catch let error as CaptureError {
        let ok = "\(error.code)" == want && error.message.contains(config.devicePath)
        report(name, ok, "error \(error.code): \(error.message)")
    }
}

func countEntries(_ path: String) -> Int {
    guard let d = opendir(path) else { return -1 }
    defer { closedir(d) }
    var n = 0
    while readdir(d) != nil { n += 1 }
    return n
}

func countLines(_ path: String) -> Int {
    (try? readFile(path))?.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } ?? -1
}

/// Open, negotiate, stream one frame, release — N times; fds and mappings must come back to where they started.
func cyclesCheck(_ a: Arguments, name: String) throws {
    let config = try configuration(a)
    let cycles = try a.int("count", default: 100)
    let clock = SystemMonotonicClock()
    let fdsBefore = countEntries("/proc/self/fd"), mapsBefore = countLines("/proc/self/maps")
    let t0 = clock.nowNs()
    for i in 0..<cycles {
        let camera = V4L2Camera(configuration: config)
        guard try camera.nextFrame() != nil else { report(name, false, "cycle \(i): no frame") }
        camera.close()
    }
    let ms = Double(clock.nowNs() - t0) / 1e6
    let fdsAfter = countEntries("/proc/self/fd"), mapsAfter = countLines("/proc/self/maps")
    report(
        name, fdsBefore == fdsAfter && mapsBefore == mapsAfter,
        "\(cycles) open/stream/close cycles in \(Int(ms)) ms: fds \(fdsBefore) -> \(fdsAfter), "
            + "mappings \(mapsBefore) -> \(mapsAfter)")
}

/// Streams while the harness disconnects and reloads the driver: expects lost, then found with a fresh
/// negotiation, then frames again. `--ready-file` is created once streaming runs, to tell the harness to pull.
func replugCheck(_ a: Arguments, name: String) throws {
    var config = try configuration(a)
    config.frameTimeoutMs = 1500
    config.retryInitialDelayMs = try a.int("retry-ms", default: 500)
    config.retryMaxDelayMs = 1000
    let framesAfter = try a.int("frames-after", default: 20)
    let limitS = Double(try a.int("seconds", default: 60))
    let readyFile = try a.required("ready-file")
    let clock = SystemMonotonicClock()
    let start = clock.nowNs()
    let stop = StopSignal()
    let retries = RetryCounter()
    let camera = V4L2Camera(configuration: config, clock: clock, stopSignal: stop) { event in
        if case .retrying = event { retries.value.add(1, ordering: .relaxed) }
        printEvents(event)
    }
    var before = 0, after = 0
    var lostAt: UInt64?, foundAt: UInt64?
    var lastTimestamp: UInt64 = 0, nonMonotonic = 0
    var formats: [String] = []
    try camera.start()
    formats.append(camera.current.map { "\($0.format) \($0.width)x\($0.height)@\($0.grantedFps.map(fmt) ?? "-")" } ?? "?")
    while after < framesAfter {
        if Double(clock.nowNs() - start) / 1e9 > limitS {
            report(name, false, "timeout: \(before) frames before loss, lost \(camera.lostCount) found "
                + "\(camera.foundCount), \(after) frames after")
        }
        guard let frame = try camera.nextFrame() else { break }
        if frame.timestampNs <= lastTimestamp { nonMonotonic += 1 }
        lastTimestamp = frame.timestampNs
        if camera.foundCount == 0 {
            before += 1
            if before == 10 { _ = creat(readyFile, 0o644) }
            if camera.lostCount > 0 && lostAt == nil { lostAt = clock.nowNs() }
        } else {
            if foundAt == nil {
                foundAt = clock.nowNs()
                formats.append(camera.current.map { "\($0.format) \($0.width)x\($0.height)@\($0.grantedFps.map(fmt) ?? "-")" } ?? "?")
            }
            after += 1
        }
    }
    camera.close()
    let failedReconnects = retries.value.load(ordering: .relaxed)
    let minimumRetries = try a.int("min-failed-reconnects", default: 1)
    let ok =
        camera.lostCount >= 1 && camera.foundCount >= 1 && after == framesAfter && nonMonotonic == 0
        && failedReconnects >= minimumRetries
    report(
        name, ok,
        "\(before) frames, lost \(camera.lostCount)x, \(failedReconnects) failed reconnects while absent, found "
            + "\(camera.foundCount)x, \(after) frames after renegotiation; "
            + "formats \(formats.joined(separator: " -> ")); non-increasing timestamps \(nonMonotonic); "
            + "downtime \(foundAt.map { fmt(Double($0 - start) / 1e9) } ?? "-") s since start")
}

/// Writes JPEG frames to a v4l2loopback output node (write() API) at a paced rate, looping over the directory.
func feedLoopback(_ a: Arguments) throws {
    let device = try a.required("device")
    let fps = try a.double("fps") ?? 25
    let seconds = Double(try a.int("seconds", default: 10))
    let source = try ReplaySource.jpegDirectory(try a.required("jpegs"), pacing: .fps(fps), loop: true)
    var frames: [Frame] = []
    let probe = try ReplaySource.jpegDirectory(try a.required("jpegs"), pacing: .asFastAsPossible)
    while let f = try probe.nextFrame() { frames.append(f) }
    guard let first = frames.first else { throw ProbeError("no frames to feed") }
    let fd = open(device, O_RDWR)
    guard fd >= 0 else { throw ProbeError("open \(device): \(Errno(errno))") }
    var f = v4l2_format()
    f.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
    f.fmt.pix.width = UInt32(first.width)
    f.fmt.pix.height = UInt32(first.height)
    f.fmt.pix.pixelformat = PixelFormat.mjpegFourCC.rawValue
    f.fmt.pix.field = V4L2_FIELD_NONE.rawValue
    f.fmt.pix.sizeimage = UInt32(frames.map(\.bytes.count).max()!)
    f.fmt.pix.colorspace = V4L2_COLORSPACE_SRGB.rawValue
    guard sw_sys_ioctl(fd, SW_VIDIOC_S_FMT, &f) == 0 else { throw ProbeError("VIDIOC_S_FMT(output): \(Errno(errno))") }
    // The writer's frame interval is what v4l2loopback reports to readers.
    var parm = v4l2_streamparm()
    parm.type = V4L2_BUF_TYPE_VIDEO_OUTPUT.rawValue
    parm.parm.output.timeperframe.numerator = 1000
    parm.parm.output.timeperframe.denominator = UInt32((fps * 1000).rounded())
    if sw_sys_ioctl(fd, SW_VIDIOC_S_PARM, &parm) != 0 { print("feed: VIDIOC_S_PARM(output): \(Errno(errno))") }
    let clock = SystemMonotonicClock()
    let end = clock.nowNs() + UInt64(seconds * 1e9)
    var written = 0
    while clock.nowNs() < end, let frame = try source.nextFrame() {
        let r = frame.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard r == frame.bytes.count else { throw ProbeError("write to \(device): \(Errno(errno))") }
        written += 1
    }
    close(fd)
    print("feed: wrote \(written) frames to \(device)")
}
