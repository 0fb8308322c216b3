import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import SenteiDaemon

/// systemd's side of sd_notify: a datagram socket at $NOTIFY_SOCKET. libsystemd reads the variable on every call,
/// so it is set once per test process (to a per-process path) and each test binds it in turn (serialized suite).
final class FakeNotifySocket {
    static let path: String = {
        let path = "/tmp/sentei-notify-\(getpid()).sock"
        setenv("NOTIFY_SOCKET", path, 1)
        setenv("WATCHDOG_USEC", "2000000", 1)
        setenv("WATCHDOG_PID", String(getpid()), 1)
        return path
    }()

    let fd: Int32

    init() throws {
        let path = Self.path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let rc = try withUnixAddress(path) { bind(fd, $0, $1) }
        #expect(rc == 0)
    }

    deinit {
        close(fd)
        unlink(Self.path)
    }

    /// The next datagram, or nil after `timeoutMs`.
    func receive(timeoutMs: Int32 = 2000) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMs) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }

    func drain() -> [String] {
        var messages: [String] = []
        while let message = receive(timeoutMs: 0) { messages.append(message) }
        return messages
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now = Atomic<UInt64>(1_000_000_000)
    func advance(ms: UInt64) { now.add(ms * 1_000_000, ordering: .relaxed) }
    var read: @Sendable () -> UInt64 { { [self] in now.load(ordering: .relaxed) } }
}

@Suite(.serialized) struct SystemdNotifyTests {
    @Test func readyStatusReloadingStoppingReachTheSocket() throws {
        let socket = try FakeNotifySocket()
        let notifier = SystemdNotifier()
        #expect(notifier.isEnabled)
        #expect(notifier.notify(.ready, .status("front: level 0, 25.0 fps")))
        #expect(socket.receive() == "READY=1\nSTATUS=front: level 0, 25.0 fps")
        #expect(notifier.notify(.reloading(monotonicUsec: 1234)))
        #expect(socket.receive() == "RELOADING=1\nMONOTONIC_USEC=1234")
        #expect(notifier.notify(.status("two\nlines")))
        #expect(socket.receive() == "STATUS=two lines")
        #expect(notifier.notify(.stopping))
        #expect(socket.receive() == "STOPPING=1")
        #expect(notifier.watchdogTimeoutUsec == 2_000_000)
    }

    @Test func heartbeatsFindStalledStagesAndIgnoreIdleOnes() {
        let clock = ManualClock()
        let heartbeats = Heartbeats(clock: clock.read)
        let capture = heartbeats.stage("capture"), detect = heartbeats.stage("detect")
        clock.advance(ms: 500)
        capture.beat()
        #expect(heartbeats.staleStages(maxAgeNs: 400_000_000) == ["detect"])
        detect.setIdle(true)  // waiting for a lost camera: not stuck
        clock.advance(ms: 5000)
        #expect(heartbeats.staleStages(maxAgeNs: 400_000_000) == ["capture"])
        detect.beat()
        capture.beat()
        #expect(heartbeats.staleStages(maxAgeNs: 400_000_000).isEmpty)
        heartbeats.remove(capture)
        clock.advance(ms: 1000)
        #expect(heartbeats.staleStages(maxAgeNs: 400_000_000) == ["detect"])
    }

    @Test func watchdogCheckPingsOnlyWhileEveryStageProgresses() throws {
        let socket = try FakeNotifySocket()
        let clock = ManualClock()
        let heartbeats = Heartbeats(clock: clock.read)
        let stage = heartbeats.stage("detect")
        let watchdog = WatchdogService(notifier: SystemdNotifier(), heartbeats: heartbeats, logger: Logger(label: "t"),
                                       pingIntervalNs: 500_000_000, maxStageAgeNs: 1_000_000_000)
        #expect(watchdog.check().isEmpty)
        #expect(socket.receive() == "WATCHDOG=1")
        clock.advance(ms: 1500)
        #expect(watchdog.check() == ["detect"])
        #expect(socket.receive(timeoutMs: 200) == nil, "a stalled stage withholds the ping")
        stage.beat()
        #expect(watchdog.check().isEmpty)
        #expect(socket.receive() == "WATCHDOG=1")
    }

    /// Real time: pings at the configured cadence while a worker beats, none once the worker blocks.
    @Test func watchdogCadenceAndStuckPipeline() async throws {
        let socket = try FakeNotifySocket()
        let heartbeats = Heartbeats()
        let stage = heartbeats.stage("detect")
        let beating = Atomic<Bool>(true)
        let worker = Thread {
            while beating.load(ordering: .relaxed) {
                stage.beat()
                usleep(10_000)
            }
        }
        worker.start()
        defer { beating.store(false, ordering: .relaxed) }
        let watchdog = WatchdogService(notifier: SystemdNotifier(), heartbeats: heartbeats, logger: Logger(label: "t"),
                                       pingIntervalNs: 50_000_000, maxStageAgeNs: 150_000_000)
        let task = Task { try await watchdog.run() }
        try await Task.sleep(for: .milliseconds(1000))
        let healthy = socket.drain().filter { $0 == "WATCHDOG=1" }.count
        // 1 s at 50 ms is 20 pings on an idle machine; CI shares 2 cores with builds, which delays every sleep, so
        // only "it pings while healthy, never more often than configured" is asserted (cadence: the fake-clock test).
        #expect((1...22).contains(healthy), "pings in 1 s: \(healthy)")

        beating.store(false, ordering: .relaxed)  // the pipeline is stuck from here on
        try await Task.sleep(for: .milliseconds(400))  // > maxStageAge + one interval
        _ = socket.drain()
        try await Task.sleep(for: .milliseconds(600))
        let stuck = socket.drain().filter { $0 == "WATCHDOG=1" }.count
        #expect(stuck == 0, "no pings while the pipeline is stuck")
        task.cancel()
        _ = try? await task.value
        print("watchdog: \(healthy) pings/s at a 50 ms interval while healthy, \(stuck) while stuck")
    }

    @Test func statusLineSummarisesCameras() {
        #expect(StatusLine.format([]) == "running, no stats yet")
        let stats = StatsEvent(camera: "front", cameraFps: 25, processedFps: 14.84, skippedFps: 10, droppedFrames: 0,
                               latencyP50Ms: 50, latencyP95Ms: 83, level: 2, powerW: 4.12, joulesPerFrame: nil, powerMeter: nil)
        #expect(StatusLine.format([stats]) == "front: level 2, 14.8 fps, p95 83.0 ms, 4.1 W")
    }
}

@Suite struct DaemonStatusTests {
    @Test func progressMonitorBeatsOnlyGrowingCounters() {
        let clock = ManualClock()
        let heartbeats = Heartbeats(clock: clock.read)
        let monitor = ProgressMonitor()
        let captured = Atomic<UInt64>(0), processed = Atomic<UInt64>(0)
        monitor.add(.init(stage: heartbeats.stage("front/capture"), read: { captured.load(ordering: .relaxed) }))
        monitor.add(.init(stage: heartbeats.stage("front/process"), read: { processed.load(ordering: .relaxed) }))
        monitor.sample()
        for _ in 0..<10 {
            clock.advance(ms: 500)
            captured.add(12, ordering: .relaxed)  // frames keep arriving, processing is stuck
            monitor.sample()
        }
        #expect(heartbeats.staleStages(maxAgeNs: 2_000_000_000) == ["front/process"])
        processed.add(1, ordering: .relaxed)
        clock.advance(ms: 500)
        captured.add(1, ordering: .relaxed)
        monitor.sample()
        #expect(heartbeats.staleStages(maxAgeNs: 2_000_000_000).isEmpty)
        #expect(monitor.remove(stagesNamed: "front/").count == 2)
        #expect(monitor.stages(prefix: "front/").isEmpty)
    }

    @Test func readinessStatusAndLostCameras() {
        let lostState = Mutex<[String: Bool]>([:])
        let status = DaemonStatus(onCameraState: { camera, lost in lostState.withLock { $0[camera] = lost } })
        #expect(!status.accountedFor(["front", "back"]))
        status.emit(sampleEvents[0])  // a processed frame from front
        status.emit(.cameraLost(CameraEvent(camera: "back", source: "/dev/video1", reason: "unplugged")))
        #expect(status.accountedFor(["front", "back"]))
        #expect(lostState.withLock { $0 } == ["back": true])
        status.emit(sampleEvents[7])
        #expect(status.statusLine == "front: level 2, 12.5 fps, p95 61.3 ms, 4.5 W; lost: back")
        status.emit(.cameraFound(CameraEvent(camera: "back", source: "/dev/video1")))
        #expect(lostState.withLock { $0 } == ["back": false])
        #expect(status.statusLine == "front: level 2, 12.5 fps, p95 61.3 ms, 4.5 W")
    }

    @Test func journalSinkWritesOffThePipelineThreadAndDropsWhenFull() {
        let stream = CapturedStream()
        let sink = JournalEventSink(journal: EventJournal(writer: JournalWriter(destination: .stream(stream.writeFd)),
                                                          types: ["track_new"]), capacity: 8)
        for event in sampleEvents { sink.emit(event) }
        sink.stop()
        let lines = stream.text().split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("SENTEI_EVENT=track_new"))
        #expect(sink.droppedEvents == 0)
        sink.emit(sampleEvents[1])  // after stop: ignored, never blocks
        #expect(stream.text().isEmpty)
    }
}
