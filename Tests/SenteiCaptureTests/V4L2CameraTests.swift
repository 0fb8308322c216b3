import CV4L2
import SenteiCapture
import Testing

@Suite("V4L2Camera state machine over a scripted syscall layer")
struct V4L2CameraTests {
    static let webcam = FakeV4L2System.webcam([
        ("MJPG", [(640, 480), (1280, 720), (1920, 1080)]),
        ("YUYV", [(640, 480), (1280, 720)]),
        ("NV12", [(640, 480)]),
    ])

    func camera(_ fake: FakeV4L2System, _ configure: (inout CaptureConfiguration) -> Void = { _ in },
                converting: FakeV4L2System? = nil, events: EventLog = EventLog()) -> V4L2Camera {
        var c = CaptureConfiguration(devicePath: "/dev/video7")
        configure(&c)
        return V4L2Camera(configuration: c, system: fake, convertingSystem: converting, clock: FakeClock(),
                          onEvent: events.handler)
    }

    @Test func negotiatesRawAtLowResolutionAndMJPEGAtHigh() throws {
        let low = FakeV4L2System(device: Self.webcam)
        let lowCamera = camera(low)
        let f = try #require(try lowCamera.start())
        #expect(f.format == .yuyv && f.width == 640 && f.height == 480 && f.bytesPerLine == 1280)
        #expect(f.grantedFps == 30 && f.bufferCount == 4 && !f.converted)  // offered 30, 15, 5: closest to 25
        #expect(f.offered.map(\.fourCC.description) == ["MJPG", "YUYV", "NV12"])
        let high = FakeV4L2System(device: Self.webcam)
        let highCamera = camera(high) { $0.width = 1920; $0.height = 1080 }
        #expect(try highCamera.start()?.format == .mjpeg)
        let frame = try #require(try highCamera.nextFrame())
        #expect(frame.format == .mjpeg && frame.width == 1920 && frame.bytes.prefix(2) == [0xFF, 0xD8])
    }

    @Test func reportsTheGrantedRateNotTheRequestedOne() throws {
        var device = Self.webcam
        device.maxFps = 15
        let cam = camera(FakeV4L2System(device: device)) { $0.fps = 60 }
        let f = try #require(try cam.start())
        #expect(f.requestedFps == 60 && f.grantedFps == 15)
    }

    @Test func forcedFormatAndClosestSize() throws {
        let cam = camera(FakeV4L2System(device: Self.webcam)) {
            $0.format = .nv12
            $0.width = 800
            $0.height = 600
        }
        let f = try #require(try cam.start())
        #expect(f.format == .nv12 && f.width == 640 && f.height == 480)
    }

    @Test func refusesADeviceWithoutCaptureAndLeaksNothing() throws {
        var device = Self.webcam
        device.capabilities = UInt32(V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_STREAMING)
        let fake = FakeV4L2System(device: device)
        let error = #expect(throws: CaptureError.self) { try camera(fake).start() }
        #expect(error?.code == .notACaptureDevice)
        #expect(error?.message.contains("/dev/video7") == true)
        #expect(fake.openFDs.isEmpty && fake.mappings.isEmpty)
    }

    @Test func refusesADeviceWithoutStreaming() throws {
        var device = Self.webcam
        device.capabilities = UInt32(V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_READWRITE)
        let fake = FakeV4L2System(device: device)
        let error = #expect(throws: CaptureError.self) { try camera(fake).start() }
        #expect(error?.code == .noStreaming && error?.message.contains("/dev/video7") == true)
        #expect(fake.openFDs.isEmpty)
    }

    @Test func fallsBackToLibv4l2ConversionForExoticFormats() throws {
        let exotic = FakeV4L2System.webcam([("BA81", [(640, 480)])])
        let direct = FakeV4L2System(device: exotic)
        var converted = exotic
        converted.formats.append((FourCC("YU12"), [(640, 480)], true))
        let converting = FakeV4L2System(device: converted)
        let cam = camera(direct, converting: converting)
        let f = try #require(try cam.start())
        #expect(f.format == .yu12 && f.converted)
        #expect(direct.openFDs.isEmpty && direct.opens == 1)
        let frame = try #require(try cam.nextFrame())
        #expect(frame.format == .yu12 && frame.bytes.count == 640 * 480 * 3 / 2)

        let noConversion = camera(FakeV4L2System(device: exotic))
        let error = #expect(throws: CaptureError.self) { try noConversion.start() }
        #expect(error?.code == .noUsableFormat && error?.message.contains("BA81") == true)
    }

    @Test func retriesEINTREverywhereAndToleratesEAGAIN() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        fake.inject = [
            "open": [.interrupted], "QUERYCAP": [.interrupted, .interrupted], "DQBUF": [.interrupted, .wouldBlock],
            "poll": [.interrupted], "QBUF": [nil, nil, nil, nil, .interrupted],
        ]
        let events = EventLog()
        let cam = camera(fake, events: events)
        var frames: [Frame] = []
        for _ in 0..<6 { frames.append(try #require(try cam.nextFrame())) }
        #expect(fake.calls["QUERYCAP"] == 3 && fake.calls["open"] == 2)
        #expect(events.kinds == ["negotiated"])
        #expect(frames.map(\.sequence) == [0, 1, 2, 3, 4, 5])
        #expect(cam.lostCount == 0)
    }

    @Test func countsSequenceGapsAsDrops() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        fake.sequenceStep = { $0 == 2 ? 3 : 1 }  // driver sequences 0 1 2 5 6: frames 3 and 4 were dropped
        let cam = camera(fake)
        var frames: [Frame] = []
        for _ in 0..<5 { frames.append(try #require(try cam.nextFrame())) }
        #expect(frames.map(\.droppedSinceLast) == [0, 0, 0, 2, 0])
        #expect(frames.map(\.sequence) == [0, 1, 2, 5, 6])
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.timestampNs < $1.timestampNs })
        #expect(frames[1].bytes.allSatisfy { $0 == 1 } && frames[1].bytes.count == 640 * 480 * 2)
    }

    @Test func skipsStaleErrorEmptyAndOversizedBuffers() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        fake.behaviour = { seq in [0: .staleNoSOI, 1: .errorFlag, 2: .oversized, 3: .empty][seq] ?? .normal }
        let events = EventLog()
        let cam = camera(fake, { $0.format = .mjpeg }, events: events)
        let first = try #require(try cam.nextFrame())
        #expect(first.droppedSinceLast == 0 && first.bytes[0] == 0xFF && first.bytes[2] == 4)
        #expect(cam.skippedCount == 4 && events.kinds.filter { $0 == "skipped" }.count == 4)
        let second = try #require(try cam.nextFrame())
        #expect(second.sequence == first.sequence + 1)
    }

    @Test func recoversFromUnplugWithRenegotiation() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        fake.unplugAfterFrames = 3
        fake.replugAfterFailedOpens = 2
        fake.replugDevice = FakeV4L2System.webcam([("NV12", [(640, 480)])])  // comes back with other formats
        let events = EventLog()
        let cam = camera(fake, events: events)
        var frames: [Frame] = []
        for _ in 0..<6 { frames.append(try #require(try cam.nextFrame())) }
        #expect(events.kinds == ["negotiated", "lost", "retrying", "retrying", "found"])
        #expect(frames.prefix(3).allSatisfy { $0.format == .yuyv } && frames.suffix(3).allSatisfy { $0.format == .nv12 })
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        #expect(cam.lostCount == 1 && cam.foundCount == 1 && cam.current?.format == .nv12)
        if case .lost(_, let reason) = events.all[1] { #expect(reason.contains("ENODEV")) }
        #expect(fake.openFDs.count == 1 && fake.mappings.count == 4)
        cam.close()
        #expect(fake.openFDs.isEmpty && fake.mappings.isEmpty && fake.opens == fake.closes)
    }

    @Test func frameTimeoutCountsAsLoss() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        let events = EventLog()
        let cam = camera(fake, events: events)
        _ = try #require(try cam.nextFrame())
        fake.stalledPolls = 1
        let after = try #require(try cam.nextFrame())
        #expect(after.sequence == 1)
        #expect(events.kinds == ["negotiated", "lost", "found"])
        if case .lost(_, let reason) = events.all[1] { #expect(reason == "no frame within 2000 ms") }
    }

    @Test func givesUpAfterTheConfiguredAttempts() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        fake.unplugAfterFrames = 1
        fake.replugAfterFailedOpens = 1000
        let events = EventLog()
        let cam = camera(fake, { $0.maxReconnectAttempts = 2 }, events: events)
        _ = try cam.nextFrame()
        let error = #expect(throws: CaptureError.self) { _ = try cam.nextFrame() }
        #expect(error?.code == .deviceUnavailable && error?.message.contains("2 reconnection attempts") == true)
        #expect(events.kinds == ["negotiated", "lost", "retrying", "retrying"])
        #expect(fake.openFDs.isEmpty && fake.mappings.isEmpty)
    }

    @Test func mmapFailureDuringSetupReleasesEverything() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        fake.inject["mmap"] = [nil, nil, .noMemory]
        let error = #expect(throws: CaptureError.self) { try camera(fake).start() }
        #expect(error?.message.contains("mmap(buffer 2)") == true && error?.message.contains("ENOMEM") == true)
        #expect(fake.openFDs.isEmpty && fake.mappings.isEmpty)
    }

    @Test func absentAtStartFailsFastOrWaits() throws {
        let gone = FakeV4L2System(device: nil)
        let error = #expect(throws: CaptureError.self) { try camera(gone).start() }
        #expect(error?.code == .deviceUnavailable && error?.message.contains("/dev/video7") == true)

        let late = FakeV4L2System(device: nil)
        late.scheduleArrival(Self.webcam, afterFailedOpens: 2)
        let events = EventLog()
        let waiting = camera(late, { $0.waitForDeviceAtStart = true }, events: events)
        #expect(try waiting.start()?.format == .yuyv)
        #expect(events.kinds == ["retrying", "retrying", "negotiated"])
    }

    @Test func hundredLossCyclesLeakNothing() throws {
        let fake = FakeV4L2System(device: Self.webcam)
        let cam = camera(fake)
        var delivered = 0
        for _ in 0..<100 {
            fake.unplugAfterFrames = fake.framesDequeued  // the next DQBUF fails with ENODEV
            fake.replugAfterFailedOpens = 1
            guard try cam.nextFrame() != nil else { break }
            delivered += 1
        }
        #expect(delivered == 100)
        #expect(cam.lostCount == 100 && cam.foundCount == 100 && fake.failedOpens == 100)
        #expect(fake.openFDs.count == 1 && fake.mappings.count == 4)
        cam.close()
        #expect(fake.openFDs.isEmpty && fake.mappings.isEmpty && fake.opens == fake.closes)
    }

    @Test func stopSignalEndsTheLoop() throws {
        let fake = FakeV4L2System(device: nil)
        let stop = StopSignal()
        stop.stop()
        var c = CaptureConfiguration(devicePath: "/dev/video7")
        c.waitForDeviceAtStart = true
        let cam = V4L2Camera(configuration: c, system: fake, convertingSystem: nil, clock: FakeClock(), stopSignal: stop)
        #expect(try cam.nextFrame() == nil)
    }
}
