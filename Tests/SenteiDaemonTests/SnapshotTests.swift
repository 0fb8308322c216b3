import Foundation
import Glibc
import Testing
import SenteiCapture
import SenteiVision
@testable import SenteiDaemon

/// A 320×240 YUYV frame of deterministic noise: JPEG cannot squeeze it, so each snapshot is tens of KB and a
/// small cap or a small file system fills after a few.
func noiseFrame(sequence: UInt64) -> Frame {
    var state = UInt32(truncatingIfNeeded: sequence &* 2_654_435_761 &+ 1)
    var bytes = [UInt8](repeating: 0, count: 320 * 240 * 2)
    for i in bytes.indices {
        state = state &* 1_664_525 &+ 1_013_904_223
        bytes[i] = UInt8(truncatingIfNeeded: state >> 24)
    }
    return Frame(format: .yuyv, width: 320, height: 240, bytesPerLine: 640, bytes: bytes, timestampNs: sequence,
                 sequence: sequence, droppedSinceLast: 0)
}

func snapshotRequest(_ sequence: UInt64, camera: String = "front") -> SnapshotRequest {
    SnapshotRequest(camera: camera, frame: noiseFrame(sequence: sequence), trackId: sequence,
                    detection: Detection(classIndex: 0, label: "person", score: 0.9,
                                         box: Box(x1: 40, y1: 30, x2: 200, y2: 220)),
                    wallTime: Date(timeIntervalSince1970: 1_800_000_000 + Double(sequence)))
}

/// A tmpfs of `size` mounted on a fresh directory for the duration of `body`; nil (with the reason printed) when
/// this process may not mount (not root, or a container without CAP_SYS_ADMIN).
func withSmallTmpfs<R>(size: String, _ body: (String) throws -> R) throws -> R? {
    guard getuid() == 0 else {
        print("skipping the full-disk case: needs root to mount a \(size) tmpfs (run the tests as root)")
        return nil
    }
    let directory = NSTemporaryDirectory() + "sentei-tmpfs-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { rmdir(directory) }
    guard mount("tmpfs", directory, "tmpfs", 0, "size=\(size),mode=0755") == 0 else {
        print("skipping the full-disk case: mount -t tmpfs -o size=\(size) failed: \(String(cString: strerror(errno)))")
        return nil
    }
    defer { umount2(directory, Int32(MNT_DETACH)) }
    return try body(directory)
}

@Suite struct SnapshotTests {
    @Test func snapshotsStayUnderTheirCapOldestFirst() throws {
        let directory = NSTemporaryDirectory() + "sentei-snapshots-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sink = MemoryEventSink()
        let writer = SnapshotWriter(sink: sink)
        let cap = 200_000
        writer.configure(SnapshotConfig(directory: directory, maxBytes: cap))
        for sequence in 1...12 { writer.write(snapshotRequest(UInt64(sequence))) }
        #expect(writer.writtenCount == 12)
        #expect(sink.events.isEmpty)

        let onDisk = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let bytes = try onDisk.reduce(0) { total, name in
            total + (try FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as! Int)
        }
        #expect(bytes <= cap, "\(bytes) bytes on disk with a \(cap)-byte cap")
        #expect(bytes == writer.keptBytes)
        #expect(onDisk == writer.keptFiles)
        #expect(onDisk.count >= 2 && onDisk.count < 12, "\(onDisk.count) files kept")
        // The newest are kept, the oldest went first: names are the last requests' tracks, in order.
        let kept = onDisk.map { UInt64($0.split(separator: "_").last!.dropLast(4))! }
        #expect(kept == Array((12 - UInt64(onDisk.count) + 1)...12))
        #expect(onDisk.allSatisfy { $0.contains("_front_") })

        // Every file is a JPEG of the whole frame with the box drawn in.
        let decoder = try JPEGDecoder()
        let image = try decoder.decode(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + onDisk[0]))),
                                       name: onDisk[0])
        #expect(image.width == 320 && image.height == 240)

        // A restart with a smaller cap counts what is there and trims the oldest at once.
        let restarted = SnapshotWriter(sink: sink)
        restarted.configure(SnapshotConfig(directory: directory, maxBytes: cap / 2))
        restarted.write(snapshotRequest(13))
        #expect(restarted.keptBytes <= cap / 2)
        #expect(restarted.keptFiles.last?.hasSuffix("_13.jpg") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == restarted.keptFiles)
    }

    @Test func aFullDiskBecomesAnErrorEventAndWritingGoesOn() throws {
        _ = try withSmallTmpfs(size: "256k") { directory in
            let sink = MemoryEventSink()
            let writer = SnapshotWriter(sink: sink)
            // A cap far above what the file system holds: the disk fills first.
            writer.configure(SnapshotConfig(directory: directory + "/snapshots", maxBytes: 64 << 20))
            var sequence: UInt64 = 0
            while writer.failedCount < 3 && sequence < 100 {
                sequence += 1
                writer.write(snapshotRequest(sequence))
            }
            #expect(writer.failedCount == 3)
            #expect(writer.writtenCount >= 2, "only \(writer.writtenCount) snapshots fitted in 256 KiB")
            // One event for the outage, not one per failed snapshot.
            let errors = sink.events.compactMap { if case .error(let e) = $0 { e } else { nil } }
            #expect(errors.count == 1)
            let error = try #require(errors.first)
            #expect(error.code == "snapshot_write_failed")
            #expect(error.errno == "ENOSPC")
            #expect(error.camera == "front")
            #expect(error.path?.hasPrefix(directory + "/snapshots/") == true)
            #expect(Event.error(error).jsonLine().contains("\"errno\":\"ENOSPC\""))
            // No half-written file is left behind, and what is on disk is what the writer counts.
            let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/snapshots").sorted()
            #expect(!names.contains { $0.hasSuffix(".tmp") })
            #expect(names == writer.keptFiles)

            // With a cap the file system can hold, the oldest make room and writing resumes.
            writer.configure(SnapshotConfig(directory: directory + "/snapshots", maxBytes: 160_000))
            let written = writer.writtenCount
            for _ in 0..<5 {
                sequence += 1
                writer.write(snapshotRequest(sequence))
            }
            #expect(writer.writtenCount == written + 5)
            #expect(writer.keptBytes <= 160_000)
        }
    }

    @Test func theWriterThreadTakesRequestsFromThePipeline() throws {
        let directory = NSTemporaryDirectory() + "sentei-snapshots-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = SnapshotWriter(sink: MemoryEventSink())
        let frame = noiseFrame(sequence: 7)
        let new = IoUTracker.Change(step: .new, trackId: 5, label: "car", classIndex: 2, score: 0.8,
                                    box: Box(x1: 1, y1: 2, x2: 100, y2: 90), hits: 2, stationary: false)
        var update = new
        update.step = .update
        // Off: nothing is queued.
        writer.submit(camera: "front", frame: frame, changes: [new])
        writer.configure(SnapshotConfig(directory: directory, maxBytes: 1 << 20))
        writer.start()
        defer { writer.stop() }
        writer.submit(camera: "front", frame: frame, changes: [new, update])
        #expect(writer.drain())
        #expect(writer.writtenCount == 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.count == 1 && names[0].hasSuffix("_front_5.jpg"))
    }
}

/// The real pipeline writing snapshots onto a 128 KiB tmpfs: the disk fills after a snapshot or two, the failure is
/// one `error` event, and frames keep being processed (detections after the error) — the pipeline never waits.
@Suite(.enabled(if: endToEndEnabled, "debug build: run with -c release or set SENTEI_E2E_DEBUG=1"))
struct SnapshotPipelineTests {
    @Test func detectionGoesOnWhenSnapshotsFillTheDisk() async throws {
        guard let root = daemonSharedRoot, let ladder = try sharedLadder?.get() else {
            print("skipping: \(daemonSharedMissing)")
            return
        }
        guard getuid() == 0 else {
            print("skipping the full-disk pipeline case: needs root to mount a small tmpfs")
            return
        }
        let directory = NSTemporaryDirectory() + "sentei-tmpfs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { rmdir(directory) }
        guard mount("tmpfs", directory, "tmpfs", 0, "size=128k,mode=0755") == 0 else {
            print("skipping the full-disk pipeline case: mount failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount2(directory, Int32(MNT_DETACH)) }

        let reader = try ReplaySource.jpegDirectory(root + "/data/tud-campus/frames", pacing: .asFastAsPossible)
        var frames: [Frame] = []
        while let frame = try reader.nextFrame() { frames.append(frame) }
        let sink = MemoryEventSink()
        let snapshots = SnapshotWriter(sink: sink)
        snapshots.configure(SnapshotConfig(directory: directory + "/snapshots", maxBytes: 64 << 20))
        snapshots.start()
        defer { snapshots.stop() }
        let stop = StopSignal()
        let source = PacedFrameSource(frames: frames, fps: 25, stopSignal: stop, maxFrames: 400) {
            // Enough: the disk is full and frames went on being processed after it.
            guard let failure = sink.events.firstIndex(where: { $0.type == "error" }) else { return false }
            return sink.events[failure...].count { $0.type == "detections" } >= 10
        }
        var config = PipelineConfig(camera: "tud")
        config.profileRuns = 1
        config.controller = ControllerConfig(budgets: Budgets(minLevel: 2, maxLevel: 2))
        let pipeline = try CameraPipeline(config: config, source: source, stopSignal: stop, ladder: ladder, sink: sink,
                                          snapshots: snapshots)
        try await pipeline.run()
        snapshots.drain()

        let events = sink.events
        let tracks = events.count { $0.type == "track_new" }
        let written = snapshots.writtenCount
        let failureIndex = events.firstIndex { $0.type == "error" }
        let failure = try #require(failureIndex, "the disk never filled: \(written) snapshots written, \(tracks) tracks")
        guard case .error(let error) = events[failure] else { return }
        #expect(error.code == "snapshot_write_failed" && error.errno == "ENOSPC")
        #expect(events.count { $0.type == "error" } == 1, "one event for the outage")
        #expect(events[failure...].count { $0.type == "detections" } >= 10)
        #expect(snapshots.writtenCount >= 1)
        #expect(pipeline.counters.failedFrames == 0)
    }
}
