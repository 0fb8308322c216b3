import Foundation
import Testing
import SenteiCapture
@testable import SenteiDaemon

/// Each ladder level held fixed over 10 s of the TUD-Campus replay (looped) at its native 25 fps: processed fps, drops and
/// end-to-end latency. Measured, not asserted; opt in with SENTEI_BENCH=1 in a release build
/// (`SENTEI_BENCH=1 swift test -c release --filter PipelineBenchmark`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SENTEI_BENCH"] != nil && daemonSharedRoot != nil,
                "set SENTEI_BENCH=1 (release build) and provide shared data"))
struct PipelineBenchmark {
    @Test func fixedLevelsOnTUDCampus() async throws {
        let ladder = try #require(try sharedLadder?.get())
        let directory = daemonSharedRoot! + "/data/tud-campus/frames"
        let reader = try ReplaySource.jpegDirectory(directory, pacing: .asFastAsPossible)
        var frames: [Frame] = []
        while let frame = try reader.nextFrame() { frames.append(frame) }
        // Other processes skew every figure here; say how busy the machine was.
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
        print("load average at start: \(load.split(separator: " ").prefix(3).joined(separator: " ")), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        for level in 0..<ladder.count {
            let stop = StopSignal()
            var config = PipelineConfig(camera: "tud")
            config.statsIntervalS = 1000
            config.controller = ControllerConfig(budgets: Budgets(minLevel: level, maxLevel: level))
            let sink = MemoryEventSink()
            let source = PacedFrameSource(frames: frames, fps: 25, stopSignal: stop, maxFrames: 250)  // 10 s, looping
            let pipeline = try CameraPipeline(config: config, source: source,
                                              stopSignal: stop, ladder: ladder, sink: sink)
            try await pipeline.run()
            var profile: [Double] = []
            for case .levelChange(let e) in sink.events where profile.isEmpty { profile = e.profileMs ?? [] }
            for case .stats(let s) in sink.events {
                let stage = (s.stageMs ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.1f", $0.value))" }
                func ms(_ v: Double) -> String { String(format: "%.1f", v) }
                let profiled = profile.count > level ? ms(profile[level]) : "?"
                print("level \(level) (\(ladder[level].name)): profile \(profiled) ms, processed \(ms(s.processedFps)) fps "
                      + "of 25, dropped \(s.droppedFrames)/250, latency p50 \(ms(s.latencyP50Ms)) ms "
                      + "p95 \(ms(s.latencyP95Ms)) ms, stage ms: " + stage.joined(separator: " "))
            }
        }
    }
}
