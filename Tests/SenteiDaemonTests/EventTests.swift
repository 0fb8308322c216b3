import Foundation
import Testing
@testable import SenteiDaemon

@Suite struct EventTests {
    @Test func linesCarryVersionTypeAndSnakeCaseFields() throws {
        let event = Event.trackNew(TrackEvent(camera: "front", trackId: 7, label: "person", score: 0.9, box: [1, 2, 3, 4],
                                              frameSequence: 42, timestampNs: 1_000, hits: 1, stationary: false))
        let line = event.jsonLine()
        #expect(!line.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["v"] as? Int == Event.schemaVersion)
        #expect(object?["type"] as? String == "track_new")
        #expect(object?["track_id"] as? Int == 7)
        #expect(object?["frame_sequence"] as? Int == 42)
    }
}
