import Foundation
import Testing
@testable import SenteiPrune
@testable import SenteiVision

/// The manifest's healing and guard fields: energy carries its meter, a withdrawn rung is off the front.
@Suite struct HealingManifestTests {
    @Test func energyNamesItsMeterAndRoundTrips() throws {
        let manifest = LadderManifestTests.sample()
        let text = String(decoding: try manifest.encoded(), as: UTF8.self)
        #expect(text.contains("\"energy_meter\" : \"estimate:cpu-time\""), "\(text)")
        let tests = LadderManifestTests()
        tests.expectError(field: "levels[1].healing.energy_meter") { $0.levels[1].healing?.energyMeter = nil }
        tests.expectError(field: "levels[1].healing.energy_j") { $0.levels[1].healing?.energyJ = -1 }
    }

    @Test func withdrawnRungLeavesTheFrontUntilReadmitted() throws {
        var manifest = LadderManifestTests.sample()
        #expect(manifest.paretoLevels.map(\.name) == ["a", "b", "d"])
        manifest.levels[1].withdrawn = .init(reason: "scene changed", agreementMAP50: 0.2, admittedMAP50: 0.8)
        manifest.markParetoFront()
        // Without b, c (0.7 at 35 ms) is no longer dominated.
        #expect(manifest.paretoLevels.map(\.name) == ["a", "c", "d"])
        #expect(manifest.levels[1].pareto == false)
        let decoded = try LadderManifest.decode(try manifest.encoded(), file: "manifest.json")
        #expect(decoded == manifest)

        let tests = LadderManifestTests()
        tests.expectError(field: "levels[1].pareto") {
            $0.levels[1].withdrawn = .init(reason: "x", agreementMAP50: 0.2, admittedMAP50: 0.8)
        }
        tests.expectError(field: "levels[1].withdrawn.admitted_map50") {
            $0.levels[1].withdrawn = .init(reason: "x", agreementMAP50: 0.2, admittedMAP50: 1.5)
            $0.levels[1].pareto = false
            $0.levels[2].pareto = true
        }

        let after = EvaluationResult(map50_95: 0.75, map50: 0.9, images: 4, perClass: [:], perClass50: [:])
        manifest.admitHealed(levelAt: 1, file: "b_r1.sntm", bytes: [1, 2, 3], healing: .init(steps: 5, cpuSeconds: 2), agreement: after)
        #expect(manifest.levels[1].withdrawn == nil && manifest.levels[1].file == "b_r1.sntm")
        #expect(manifest.levels[1].sha256 == SHA256.hex(Data([1, 2, 3])))
        #expect(manifest.levels[1].agreement == 0.75 && manifest.levels[1].agreementMAP50 == 0.9)
        #expect(manifest.paretoLevels.map(\.name) == ["a", "b", "d"])
    }

    /// `sentei heal --int8`: the healed rung's int8 version is added once (then updated in place), carries its
    /// table, and competes for the front.
    @Test func int8RungOfAHealedRungJoinsTheLadder() throws {
        var manifest = LadderManifestTests.sample()
        #expect(LadderManifest.int8Name(ofFP32: "s416-c25-fp32") == "s416-c25-int8")
        let agreement = EvaluationResult(map50_95: 0.78, map50: 0.88, images: 4, perClass: [:], perClass50: [:])
        let latency = (threads1: LatencyMeasurement(p50: 20, min: 18, runs: 5), threads2: LatencyMeasurement(p50: 12, min: 11, runs: 5))
        manifest.admitInt8(fp32LevelAt: 1, name: "b-int8", file: "b-int8_qat.sntm", bytes: [4, 5], table: "b-int8_qat.table.json",
                           healing: .init(steps: 105, cpuSeconds: 20), agreement: agreement, latency: latency)
        #expect(manifest.levels.count == 5)
        let added = manifest.levels[4]
        #expect(added.name == "b-int8" && added.precision == .int8 && added.int8Table == "b-int8_qat.table.json")
        #expect(added.sha256 == SHA256.hex(Data([4, 5])) && added.agreement == 0.78 && added.latencyMs.threads1 == 20)
        #expect(added.healing?.steps == 105)
        // 0.78 at 20 ms dominates d (0.5 at 20 ms).
        #expect(manifest.paretoLevels.map(\.name) == ["a", "b", "b-int8"])
        #expect(try LadderManifest.decode(try manifest.encoded(), file: "manifest.json") == manifest)
        // Healing again updates the same int8 level.
        manifest.admitInt8(fp32LevelAt: 1, name: "b-int8", file: "b_healed.sntm", bytes: [6], table: "b-int8_healed.table.json",
                           healing: .init(steps: 100, cpuSeconds: 15), agreement: agreement, latency: latency)
        #expect(manifest.levels.count == 5 && manifest.levels[4].file == "b_healed.sntm")
    }
}
