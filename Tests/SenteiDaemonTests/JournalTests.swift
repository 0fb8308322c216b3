import Foundation
import Glibc
import Logging
import Testing
@testable import SenteiDaemon

/// A pipe standing in for stderr: what the fallback writes can be read back.
final class CapturedStream {
    let readFd: Int32
    let writeFd: Int32
    init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0)
        readFd = ends[0]
        writeFd = ends[1]
        _ = fcntl(readFd, F_SETFL, fcntl(readFd, F_GETFL) | O_NONBLOCK)
    }
    deinit {
        close(readFd)
        close(writeFd)
    }
    func text() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(readFd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

let sampleEvents: [Event] = [
    .detections(DetectionsEvent(camera: "front", frameSequence: 3, timestampNs: 9, width: 640, height: 480, level: 1,
                                detections: [EventDetection(label: "dog", classIndex: 16, score: 0.8, box: [0, 0, 5, 5])])),
    .trackNew(TrackEvent(camera: "front", trackId: 42, label: "person", score: 0.9, box: [1, 2, 3, 4], frameSequence: 5,
                         timestampNs: 7, hits: 2, stationary: false)),
    .trackUpdate(TrackEvent(camera: "front", trackId: 42, label: "person", score: 0.9, box: [1, 2, 3, 4], frameSequence: 6,
                            timestampNs: 8, hits: 3, stationary: true)),
    .trackEnd(TrackEvent(camera: "front", trackId: 42, label: "person", score: 0.9, box: [1, 2, 3, 4], frameSequence: 9,
                         timestampNs: 10, hits: 5, stationary: false)),
    .levelChange(LevelChangeEvent(camera: "front", from: 0, to: 2, reason: "latency_budget_broken", latencyP95Ms: 250,
                                  latencyBudgetMs: 200)),
    .cameraLost(CameraEvent(camera: "front", source: "/dev/video0", reason: "no frame for 2000 ms")),
    .cameraFound(CameraEvent(camera: "front", source: "/dev/video0")),
    .stats(StatsEvent(camera: "front", cameraFps: 25, processedFps: 12.5, skippedFps: 12.5, droppedFrames: 0,
                      latencyP50Ms: 40, latencyP95Ms: 61.25, level: 2, powerW: 4.5, joulesPerFrame: 0.36,
                      powerMeter: "rapl:package-0")),
]

@Suite struct JournalTests {
    @Test func everyEventTypeHasAStableDistinctMessageID() {
        let ids = sampleEvents.map { EventJournal.messageIDs[$0.type] }
        #expect(ids.allSatisfy { $0 != nil })
        #expect(Set(ids.compactMap { $0 }).count == sampleEvents.count)
        let all = Array(EventJournal.messageIDs.values) + [JournalLogHandler.messageID]
        #expect(all.allSatisfy { $0.count == 32 && $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } })
        #expect(Set(all).count == all.count)
        #expect(EventJournal.messageIDs["track_new"] == "9847668a80ce4238aaf7996d5897dd01", "ids never change")
    }

    @Test func entriesCarryTheSearchableFields() throws {
        let entry = EventJournal.entry(for: sampleEvents[1])
        let fields = Dictionary(entry.fields, uniquingKeysWith: { a, _ in a })
        #expect(fields["SENTEI_EVENT"] == "track_new")
        #expect(fields["SENTEI_CAMERA"] == "front")
        #expect(fields["SENTEI_LABEL"] == "person")
        #expect(fields["SENTEI_TRACK_ID"] == "42")
        #expect(fields["MESSAGE_ID"] == "9847668a80ce4238aaf7996d5897dd01")
        #expect(fields["SENTEI_JSON"] == sampleEvents[1].jsonLine())
        let level = Dictionary(EventJournal.entry(for: sampleEvents[4]).fields, uniquingKeysWith: { a, _ in a })
        #expect(level["SENTEI_LEVEL"] == "2" && level["SENTEI_LEVEL_FROM"] == "0")
        #expect(EventJournal.entry(for: sampleEvents[5]).priority == .warning)
        #expect(EventJournal.entry(for: sampleEvents[7]).message == "front: 12.5 fps, p95 61.3 ms, level 2, 4.5 W")
    }

    @Test func fieldNamesAreSanitised() {
        #expect(JournalWriter.fieldName("sentei.camera") == "SENTEI_CAMERA")
        #expect(JournalWriter.fieldName("_HOSTNAME") == "HOSTNAME", "trusted fields cannot be forged")
        #expect(JournalWriter.fieldName("9lives") == "LIVES")
        #expect(JournalWriter.fieldName("…") == "FIELD")
        #expect(JournalWriter.encode([("a.b", "x=y\nz")]) == [Array("A_B=x=y\nz".utf8)])
    }

    @Test func fallbackWritesPriorityPrefixedLinesAndFiltersTypes() {
        let stream = CapturedStream()
        let journal = EventJournal(writer: JournalWriter(destination: .stream(stream.writeFd)),
                                   types: ["track_new", "camera_lost"])
        for event in sampleEvents { #expect(journal.write(event)) }
        let lines = stream.text().split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("<6>front: person track 42 new SENTEI_EVENT=track_new SENTEI_CAMERA=front"))
        #expect(lines[0].contains("SENTEI_TRACK_ID=42"))
        #expect(!lines[0].contains("MESSAGE_ID"))
        #expect(lines[1].hasPrefix("<4>front: camera lost (/dev/video0: no frame for 2000 ms)"))
    }

    @Test func logHandlerMapsLevelsAndMetadata() {
        let stream = CapturedStream()
        let writer = JournalWriter(destination: .stream(stream.writeFd))
        var logger = Logger(label: "sentei.test") { JournalLogHandler(label: $0, writer: writer) }
        logger[metadataKey: "sentei.camera"] = "front"
        logger.error("capture failed", metadata: ["sentei.error": "EIO"])
        logger.debug("not shown at info level")
        logger.notice("line one\nline two")
        let lines = stream.text().split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("<3>capture failed "))
        #expect(lines[0].contains("SENTEI_CAMERA=front") && lines[0].contains("SENTEI_ERROR=EIO"))
        #expect(lines[0].contains("CODE_FILE="))
        #expect(lines[1].hasPrefix("<5>line one\\nline two"))
    }

    @Test func destinationFollowsJournalStream() {
        #expect(JournalWriter.detectDestination(environment: [:]) == .stream(STDERR_FILENO))
        let attached = JournalWriter.detectDestination(environment: ["JOURNAL_STREAM": "8:12345"])
        #expect(attached == (access("/run/systemd/journal/socket", F_OK) == 0 ? .journal : .stream(STDERR_FILENO)))
    }

    @Test func journalSendGoesThroughLibsystemd() {
        // libsystemd validates entries before sending: a field without "=" is EINVAL, so this proves the real
        // sd_journal_sendv ran. A missing journald counts as success there (r = 0), so logging never fails a daemon.
        #expect(JournalWriter.sendToJournal([Array("NOEQUALSSIGN".utf8)]) == -EINVAL)
        #expect(JournalWriter.sendToJournal(JournalWriter.encode([("MESSAGE", "sentei test"), ("PRIORITY", "7")])) >= 0)
        let writer = JournalWriter(destination: .journal, identifier: "sentei-test")
        #expect(writer.send(message: "sentei journal test", priority: .debug, fields: [("sentei.event", "test")]))
    }
}
