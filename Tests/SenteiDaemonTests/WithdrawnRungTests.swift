import Foundation
import Testing
import SenteiPrune
@testable import SenteiDaemon

/// A rung the scene guard withdrew is not among the levels the daemon's controller climbs, and comes back when it is
/// re-admitted.
@Suite struct WithdrawnRungTests {
    @Test func aWithdrawnRungIsNotLoadedAsALevel() throws {
        guard let ladder = try? HandBuiltLadder() else { print("skipping: \(daemonSharedMissing)"); return }
        defer { ladder.remove() }
        #expect(try Ladder.directory(ladder.directory).levels.map(\.name) == ["s416", "s320"])
        var manifest = try LadderManifest.load(directory: ladder.directory)
        let index = try #require(manifest.levels.firstIndex { $0.name == "s320" })
        manifest.levels[index].withdrawn = .init(reason: "scene changed", agreementMAP50: 0.2, admittedMAP50: 0.7)
        manifest.markParetoFront()
        try manifest.write(directory: ladder.directory)
        // s352 (0.6 at 15 ms) was dominated by s320; with s320 withdrawn it is the cheap rung.
        #expect(try Ladder.directory(ladder.directory).levels.map(\.name) == ["s416", "s352"])
        manifest.levels[index].withdrawn = nil
        manifest.markParetoFront()
        try manifest.write(directory: ladder.directory)
        #expect(try Ladder.verify(directory: ladder.directory) == ["s416", "s320"])
    }
}
