import Foundation
import Glibc
import Testing
@testable import SenteiDaemon

/// The shared data directory (`$SENTEI_SHARED` or `../shared` beside the package), or nil.
private let interfacesShared: String? = {
    let candidates = [ProcessInfo.processInfo.environment["SENTEI_SHARED"], configPackageRoot + "/../shared"].compactMap { $0 }
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/models/yolox_nano.onnx") }
}()

/// The senteid binary next to this test bundle (SwiftPM builds every product into the same directory).
private let senteidBinary: String? = {
    var url = Bundle.main.bundleURL
    for _ in 0..<3 {
        let candidate = url.appendingPathComponent("senteid").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        url.deleteLastPathComponent()
    }
    return nil
}()

/// Runs the real daemon against a replayed clip with a notify socket only the child sees: SIGHUP with a broken file
/// keeps it running and names the key; SIGHUP with a good file applies it; SIGTERM sends STOPPING=1 and exits within
/// 2 s. Part of the serialized notify suite, so spawning never overlaps the one `setenv` of that suite.
extension SystemdNotifyTests {
    @Test(.enabled(if: interfacesShared != nil && senteidBinary != nil, "needs ../shared (or SENTEI_SHARED) and a built senteid"),
          .enabled(if: endToEndEnabled, "debug build: the model runs too slowly for a live reload; use -c release"))
    func reloadAndStopOverSignals() throws {
        let shared = interfacesShared!, binary = senteidBinary!
        let directory = "/tmp/sentei-sig-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/models", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: configPackageRoot + "/Models/yolox_nano.json",
                                         toPath: directory + "/models/yolox_nano.json")
        try FileManager.default.createSymbolicLink(atPath: directory + "/models/yolox_nano.onnx",
                                                   withDestinationPath: shared + "/models/yolox_nano.onnx")
        let configPath = directory + "/sentei.toml"
        func config(latency: String, threshold: String = "0.35") -> String {
            """
            [daemon]
            state_dir = "\(directory)/state"
            [model]
            manifest = "\(directory)/models/yolox_nano.json"
            input_sizes = [256]
            threads = 1
            [[cameras]]
            name = "campus"
            replay = "\(shared)/data/tud-campus/frames"
            fps = 4
            [budgets]
            latency_ms = \(latency)
            [detection]
            threshold = \(threshold)
            [outputs.socket]
            path = "\(directory)/events.sock"
            [outputs.journal]
            enabled = false
            """
        }
        try config(latency: "500").write(toFile: configPath, atomically: true, encoding: .utf8)

        let notify = directory + "/notify.sock"
        let notifyFd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(notifyFd) }
        #expect(try withUnixAddress(notify) { bind(notifyFd, $0, $1) } == 0)
        func nextNotification(containing text: String, timeoutMs: Int32 = 20_000) -> String? {
            let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMs))
            while ContinuousClock.now < deadline {
                var pfd = pollfd(fd: notifyFd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 200) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(notifyFd, &buffer, buffer.count, 0)
                if n > 0, case let message = String(decoding: buffer[..<n], as: UTF8.self), message.contains(text) {
                    return message
                }
            }
            return nil
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", configPath]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify
        environment["JOURNAL_STREAM"] = nil
        process.environment = environment
        let stderrPipe = Pipe()
        process.standardError = stderrPipe
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        #expect(nextNotification(containing: "STATUS=loading model") != nil)
        // The SIGHUP handler is installed once the camera runs; its socket is up by then.
        var client: EventSocketClient? = nil
        for _ in 0..<200 where client == nil {
            client = try? EventSocketClient(path: directory + "/events.sock")
            if client == nil { usleep(50_000) }
        }
        let events = try #require(client)
        #expect(try readGreeting(events).count >= 0)
        // Reloads are tested on a running camera: READY=1 comes after its first processed frame.
        #expect(nextNotification(containing: "READY=1", timeoutMs: 60_000) != nil)

        try config(latency: "-3").write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(nextNotification(containing: "RELOADING=1") != nil)
        let rejected = nextNotification(containing: "reload rejected")
        #expect(rejected?.contains("budgets.latency_ms") == true, "\(rejected ?? "no status")")
        #expect(rejected?.contains("READY=1") == true, "READY=1 ends a rejected reload too: \(rejected ?? "")")
        #expect(process.isRunning, "an invalid file must not stop the daemon")

        // Lines seen so far; a reload must not interrupt the camera, so sequences keep rising across it.
        func lines(for duration: Duration, until done: ([String]) -> Bool = { _ in false }) throws -> [String] {
            var seen: [String] = []
            let deadline = ContinuousClock.now + duration
            while ContinuousClock.now < deadline, !done(seen) {
                if let line = try events.nextLine(timeoutMs: 200) { seen.append(line) }
            }
            return seen
        }
        let before = try lines(for: .seconds(60)) { $0.contains { $0.contains("\"type\":\"detections\"") } }
        let lastBefore = before.compactMap(sequenceNumber).max() ?? 0

        // A valid file with new budgets and a new detection threshold applies to the running pipeline.
        try config(latency: "800", threshold: "0.9").write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        let reloading = nextNotification(containing: "RELOADING=1")
        #expect(reloading != nil)
        #expect(nextNotification(containing: "READY=1") != nil, "READY=1 ends the reload")
        #expect(process.isRunning)
        let after = try lines(for: .seconds(60)) { seen in
            let reloaded = seen.firstIndex { $0.contains("\"reason\":\"config_reload\"") }
            return reloaded.map { i in seen[i...].count { $0.contains("\"type\":\"detections\"") } >= 3 } ?? false
        }
        let reload = try #require(after.firstIndex { $0.contains("\"reason\":\"config_reload\"") },
                                  "no config_reload level change in \(after.count) lines")
        #expect(after[reload].contains("\"latency_budget_ms\":800"))
        #expect(!after.contains { $0.contains("\"type\":\"camera_lost\"") || $0.contains("\"type\":\"camera_found\"") },
                "the camera was reopened")
        let sequencesAfter = after[reload...].filter { $0.contains("\"type\":\"detections\"") }.compactMap(sequenceNumber)
        #expect(sequencesAfter.count >= 3)
        #expect(sequencesAfter.allSatisfy { $0 > lastBefore }, "frame sequence restarted: \(lastBefore) → \(sequencesAfter)")
        // The new threshold holds for every detection after the reload took effect.
        let scores = after[(reload + 1)...].filter { $0.contains("\"type\":\"detections\"") }
            .compactMap { Event(jsonLine: $0) }
            .flatMap { event -> [Double] in if case .detections(let d) = event { d.detections.map(\.score) } else { [] } }
        #expect(scores.allSatisfy { $0 >= 0.9 }, "scores under the reloaded threshold: \(scores.filter { $0 < 0.9 })")

        let stopRequested = ContinuousClock.now
        kill(process.processIdentifier, SIGTERM)
        #expect(nextNotification(containing: "STOPPING=1", timeoutMs: 5000) != nil)
        while process.isRunning && ContinuousClock.now - stopRequested < .seconds(10) { usleep(10_000) }
        let stopTime = ContinuousClock.now - stopRequested
        #expect(!process.isRunning)
        #expect(stopTime < .milliseconds(2500), "SIGTERM to exit took \(stopTime)")
        #expect(access(directory + "/events.sock", F_OK) != 0, "the socket node is removed on stop")
        let log = String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("configuration rejected; keeping the running configuration"))
        #expect(log.contains("SENTEI_KEY=budgets.latency_ms"))
        #expect(log.contains("SENTEI_FILE=\(configPath)"))
        #expect(log.contains("SENTEI_LINE=12"), "the rejected key's line")
        #expect(log.contains("configuration applied"))
        #expect(log.contains("camera reconfigured without restart"))
        print("senteid: SIGTERM → exit in \(stopTime)")
    }
}
