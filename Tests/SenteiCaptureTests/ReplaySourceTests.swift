import SenteiCapture
import Testing

@Suite("Replay sources: JPEG directory, MJPEG file, Y4M; pacing and looping")
struct ReplaySourceTests {
    func drain(_ source: ReplaySource, limit: Int = 1000) throws -> [Frame] {
        var frames: [Frame] = []
        while frames.count < limit, let f = try source.nextFrame() { frames.append(f) }
        return frames
    }

    @Test func jpegDirectoryInNameOrderSkippingBadFiles() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("000002.jpg", syntheticJPEG(width: 320, height: 240))
        dir.write("000001.jpg", syntheticJPEG(width: 640, height: 480))
        dir.write("000003.jpeg", Array("not a jpeg at all".utf8))
        dir.write("000004.JPG", syntheticJPEG(width: 16, height: 8))
        dir.write("notes.txt", Array("ignored".utf8))
        let events = EventLog()
        let source = try ReplaySource.jpegDirectory(dir.path, pacing: .asFastAsPossible, onEvent: events.handler)
        let frames = try drain(source)
        #expect(frames.map(\.width) == [640, 320, 16] && frames.map(\.sequence) == [0, 1, 2])
        #expect(frames.allSatisfy { $0.format == .mjpeg && $0.bytesPerLine == 0 && $0.droppedSinceLast == 0 })
        #expect(frames[0].bytes == syntheticJPEG(width: 640, height: 480))
        #expect(source.damagedCount == 1)
        guard case .skipped(_, let reason) = try #require(events.all.first) else { Issue.record("no skip"); return }
        #expect(reason.contains("000003.jpeg"))
    }

    @Test func missingOrEmptyInputsAreClearErrors() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let missing = #expect(throws: CaptureError.self) {
            _ = try ReplaySource.jpegDirectory(dir.file("nope"), pacing: .asFastAsPossible)
        }
        #expect(missing?.code == .badFile && missing?.message.contains("nope") == true)
        let empty = #expect(throws: CaptureError.self) {
            _ = try ReplaySource.jpegDirectory(dir.path, pacing: .asFastAsPossible)
        }
        #expect(empty?.code == .noFrames && empty?.message.contains(dir.path) == true)
        dir.write("garbage.mjpeg", [UInt8](repeating: 0x55, count: 1000))
        let source = try ReplaySource.mjpegFile(dir.file("garbage.mjpeg"), pacing: .asFastAsPossible, loop: true)
        let none = #expect(throws: CaptureError.self) { _ = try source.nextFrame() }
        #expect(none?.code == .noFrames && none?.message.contains("garbage.mjpeg") == true)
    }

    @Test func mjpegFileSplitsLoopsAndReportsTruncation() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let a = syntheticJPEG(width: 64, height: 48), b = syntheticJPEG(width: 32, height: 24)
        dir.write("clip.mjpeg", a + b + Array(a.prefix(20)))
        let events = EventLog()
        let source = try ReplaySource.open(dir.file("clip.mjpeg"), pacing: .asFastAsPossible, loop: true,
                                           onEvent: events.handler)
        let frames = try drain(source, limit: 5)
        #expect(frames.map(\.width) == [64, 32, 64, 32, 64])
        #expect(frames.map(\.sequence) == [0, 1, 2, 3, 4] && source.passes == 2)
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.timestampNs <= $1.timestampNs })
        #expect(source.damagedCount == 2)  // the truncated tail, once per pass
        guard case .skipped(_, let reason) = try #require(events.all.first) else { Issue.record("no skip"); return }
        #expect(reason.contains("clip.mjpeg") && reason.contains("truncated"))
    }

    static func y4m(_ header: String, frames: [[UInt8]], frameHeader: String = "FRAME") -> [UInt8] {
        var bytes = Array((header + "\n").utf8)
        for f in frames { bytes += Array((frameHeader + "\n").utf8) + f }
        return bytes
    }

    @Test func y4m420AndMonoFrames() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        // 5x3 4:2:0: luma 15 bytes, each chroma plane 3x2 = 6 bytes (odd sizes round up)
        let f0 = [UInt8](repeating: 1, count: 27), f1 = [UInt8](0..<27)
        dir.write("a.y4m", Self.y4m("YUV4MPEG2 W5 H3 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG", frames: [f0, f1]))
        let source = try ReplaySource.open(dir.file("a.y4m"), pacing: .asFastAsPossible)
        #expect(abs((source.nativeFps ?? 0) - 29.97) < 0.01)
        let frames = try drain(source)
        #expect(frames.count == 2 && frames[1].bytes == f1)
        #expect(frames.allSatisfy { $0.format == .yu12 && $0.width == 5 && $0.height == 3 && $0.bytesPerLine == 5 })
        dir.write("m.y4m", Self.y4m("YUV4MPEG2 W4 H2 Cmono", frames: [[9, 9, 9, 9, 9, 9, 9, 9]],
                                    frameHeader: "FRAME Ixyz"))
        let mono = try drain(try ReplaySource.y4mFile(dir.file("m.y4m"), pacing: .asFastAsPossible))
        #expect(mono.count == 1 && mono[0].format == .grey && mono[0].bytes.count == 8)
    }

    @Test(arguments: [
        ("YUV4MPEG3 W4 H2", "signature"),
        ("YUV4MPEG2 H2", "W and H"),
        ("YUV4MPEG2 W4 H99999999", "W and H"),
        ("YUV4MPEG2 W4 H2 C444", "C444"),
        ("YUV4MPEG2 W4 H2 Fx", "frame rate"),
    ])
    func y4mHeaderErrorsNameTheFile(header: String, expected: String) throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("bad.y4m", Self.y4m(header, frames: []))
        let error = #expect(throws: CaptureError.self) {
            _ = try ReplaySource.y4mFile(dir.file("bad.y4m"), pacing: .asFastAsPossible)
        }
        #expect(error?.code == .badY4M && error?.message.contains("bad.y4m") == true)
        #expect(error?.message.contains(expected) == true)
    }

    @Test func y4mTruncatedFrameIsReportedAndTheRunGoesOn() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let good = [UInt8](repeating: 7, count: 12)
        dir.write("t.y4m", Self.y4m("YUV4MPEG2 W4 H2 C420", frames: [good]) + Array("FRAME\n".utf8) + [1, 2, 3])
        let events = EventLog()
        let source = try ReplaySource.y4mFile(dir.file("t.y4m"), pacing: .asFastAsPossible, loop: true,
                                              onEvent: events.handler)
        let frames = try drain(source, limit: 3)
        #expect(frames.count == 3 && frames.allSatisfy { $0.bytes == good })
        guard case .skipped(_, let reason) = try #require(events.all.first) else { Issue.record("no skip"); return }
        #expect(reason.contains("t.y4m") && reason.contains("frame 1 truncated: 3 of 12 bytes"))
    }

    @Test func pacingFollowsTheScheduleWithoutDrift() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("c.mjpeg", syntheticJPEG(width: 8, height: 8))
        let clock = FakeClock()
        let source = try ReplaySource.mjpegFile(dir.file("c.mjpeg"), pacing: .fps(30), loop: true, clock: clock)
        let start = clock.nowNs()
        var stamps: [UInt64] = []
        for _ in 0..<301 { stamps.append(try #require(try source.nextFrame()).timestampNs) }
        // 1/30 s is not a whole number of ns: frame k must land on round(k·33 333 333.3), never accumulate error.
        #expect(stamps[0] == start && stamps[300] == start + 10_000_000_000)
        #expect(stamps[1] - stamps[0] == 33_333_333 && stamps[2] - stamps[0] == 66_666_667)
        #expect(clock.sleeps.count == 300)
    }

    @Test func aSlowConsumerRestartsTheScheduleInsteadOfBursting() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("c.mjpeg", syntheticJPEG(width: 8, height: 8))
        let clock = FakeClock()
        let source = try ReplaySource.mjpegFile(dir.file("c.mjpeg"), pacing: .fps(10), loop: true, clock: clock)
        let t0 = try #require(try source.nextFrame()).timestampNs
        clock.advance(byNs: 30_000_000)  // consumer took 30 ms: still on schedule
        let t1 = try #require(try source.nextFrame()).timestampNs
        #expect(t1 == t0 + 100_000_000)
        clock.advance(byNs: 450_000_000)  // consumer stalled for 4.5 periods
        let t2 = try #require(try source.nextFrame()).timestampNs
        let t3 = try #require(try source.nextFrame()).timestampNs
        #expect(t2 == t1 + 450_000_000 && t3 == t2 + 100_000_000)
    }

    @Test func asFastAsPossibleNeverSleeps() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("c.mjpeg", syntheticJPEG(width: 8, height: 8) + syntheticJPEG(width: 8, height: 8))
        let clock = FakeClock()
        let source = try ReplaySource.mjpegFile(dir.file("c.mjpeg"), pacing: .asFastAsPossible, loop: true, clock: clock)
        _ = try drain(source, limit: 50)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func sharedTudCampusFramesReplayAndRoundTripThroughMJPEG() throws {
        guard let shared = sharedDataRoot() else {
            print("skipping: ../shared (or $SENTEI_SHARED) not found")
            return
        }
        let frames = try drain(try ReplaySource.jpegDirectory(shared + "/data/tud-campus/frames", pacing: .asFastAsPossible))
        #expect(frames.count == 71 && frames.allSatisfy { $0.width == 640 && $0.height == 480 })
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("all.mjpeg", frames.flatMap(\.bytes))
        let split = try drain(try ReplaySource.mjpegFile(dir.file("all.mjpeg"), pacing: .asFastAsPossible))
        #expect(split.map(\.bytes) == frames.map(\.bytes))
    }
}
