import Foundation
import Testing
@testable import SenteiDaemon

/// `[healing]`: the scene guard's settings, checked like every other table (file, line, key, expected, found).
@Suite struct HealingConfigTests {
    @Test func healingTableParsesEveryKey() throws {
        let config = try SenteiConfig.parse("""
        [model]
        ladder = "/opt/ladder"
        [calibration]
        enabled = true
        [healing]
        enabled = true
        check_every_s = 60
        check_frames = 8
        ratio = 0.6
        sustained = 2
        hours = "23:30-04:00"
        minutes = 12.5
        min_gain = 0.1
        reheal_frames = 32
        holdout = 6
        """, file: "test.toml", environment: noCameraEnvironment)
        let h = config.healing
        #expect(h.enabled && h.checkEveryS == 60 && h.checkFrames == 8 && h.ratio == 0.6 && h.sustained == 2)
        #expect(h.minutes == 12.5 && h.minGain == 0.1 && h.rehealFrames == 32 && h.holdout == 6)
        let hours = try #require(h.hours)
        #expect(hours.description == "23:30-04:00")
        // The window wraps past midnight.
        #expect(hours.contains(minuteOfDay: 23 * 60 + 45) && hours.contains(minuteOfDay: 60) && !hours.contains(minuteOfDay: 4 * 60))
        let settings = RungGuardSettings(h)
        #expect(settings.rehealCPUSeconds == 750 && settings.minGain == 0.1 && settings.checkFrames == 8)
        // Defaults: off, with a 5 % minimum gain for re-admission.
        let defaults = try SenteiConfig.parse("", file: "empty.toml", environment: noCameraEnvironment).healing
        #expect(!defaults.enabled && defaults.minGain == 0.05 && defaults.hours == nil)
    }

    @Test func badHealingValuesNameTheKeyAndLine() {
        let errors = configParseErrors("""
        [healing]
        enabled = true
        check_every_s = 1
        hours = "1:00-5:00"
        min_gain = 2
        holdout = 60
        reheal_frames = 40
        colour = "blue"
        """)
        func error(_ key: String) -> ConfigError? { errors.first { $0.key == key } }
        #expect(error("healing.check_every_s")?.code == .outOfRange && error("healing.check_every_s")?.line == 3)
        #expect(error("healing.hours")?.code == .invalidValue && error("healing.hours")?.line == 4)
        #expect(error("healing.hours")?.expected.contains("HH:MM-HH:MM") == true)
        #expect(error("healing.min_gain")?.code == .outOfRange)
        #expect(error("healing.holdout")?.code == .conflict && error("healing.holdout")?.line == 6)
        #expect(error("healing.colour")?.code == .unknownKey)
        // Enabled without sampled frames or a ladder: both named on `enabled`.
        let enabled = errors.filter { $0.key == "healing.enabled" }
        #expect(enabled.count == 2 && enabled.allSatisfy { $0.code == .conflict && $0.line == 2 })
        #expect(enabled.contains { $0.expected.contains("[calibration] enabled") })
        #expect(enabled.contains { $0.expected.contains("ladder") })
        #expect(HealingHours("05:00-05:00") == nil && HealingHours("25:00-01:00") == nil && HealingHours("01:00") == nil)
    }

    @Test func aHealingChangeIsAppliedWithoutRestartingCameras() throws {
        let old = try SenteiConfig.parse("", file: "a.toml", environment: noCameraEnvironment)
        var new = old
        new.healing.minGain = 0.2
        let changes = ConfigChangeSet.between(old, new)
        #expect(changes.healingChanged && changes.keepsCameras && changes.summary == "healing")
    }
}
