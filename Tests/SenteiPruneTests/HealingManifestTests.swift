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
}
