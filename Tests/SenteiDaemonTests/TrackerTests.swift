import Testing
import SenteiVision
@testable import SenteiDaemon

@Suite struct TrackerTests {
    func person(_ x: Double, _ y: Double = 100, score: Double = 0.9) -> Detection {
        Detection(classIndex: 0, label: "person", score: score, box: Box(x1: x, y1: y, x2: x + 50, y2: y + 120))
    }

    func car(_ x: Double, _ y: Double = 100) -> Detection {
        Detection(classIndex: 2, label: "car", score: 0.8, box: Box(x1: x, y1: y, x2: x + 50, y2: y + 120))
    }

    @Test func trackIsAnnouncedAfterConfirmationThenUpdatedThenEnded() {
        var config = TrackerConfig()
        config.confirmHits = 2
        config.maxMissedFrames = 3
        let tracker = IoUTracker(config: config)
        #expect(tracker.update([person(0)]).isEmpty)
        let confirmed = tracker.update([person(5)])
        #expect(confirmed.map(\.step) == [.new])
        let id = confirmed[0].trackId
        #expect(confirmed[0].hits == 2)
        let moved = tracker.update([person(20)])
        #expect(moved.map(\.step) == [.update])
        #expect(moved[0].trackId == id)
        #expect(moved[0].box.x1 == 20)
        // Three misses are tolerated, the fourth ends it.
        for _ in 0..<3 { #expect(tracker.update([]).isEmpty) }
        let ended = tracker.update([])
        #expect(ended.map(\.step) == [.end])
        #expect(ended[0].trackId == id)
        #expect(tracker.activeTrackCount == 0)
    }

    @Test func aSingleFrameFlickerSaysNothing() {
        let tracker = IoUTracker()
        #expect(tracker.update([person(0)]).isEmpty)
        #expect(tracker.update([]).isEmpty)
        #expect(tracker.update([]).isEmpty)
        #expect(tracker.activeTrackCount == 0)
    }

    @Test func labelsNeverMatchEachOther() {
        let tracker = IoUTracker()
        _ = tracker.update([person(0)])
        _ = tracker.update([person(0)])
        // A car exactly where the person was starts its own track; the person misses.
        _ = tracker.update([car(0)])
        let changes = tracker.update([car(0), person(0)])
        let carNew = changes.first { $0.step == .new }
        #expect(carNew?.label == "car")
        #expect(changes.contains { $0.label == "person" && $0.step == .update })
        let ids = Set(changes.map(\.trackId))
        #expect(ids.count == 2)
    }

    @Test func twoPeopleKeepTheirIdsWhenCrossingSlowly() {
        let tracker = IoUTracker()
        _ = tracker.update([person(0), person(300)])
        let start = tracker.update([person(4), person(296)])
        let left = start.first { $0.box.x1 == 4 }!.trackId
        let right = start.first { $0.box.x1 == 296 }!.trackId
        for step in 1...10 {
            let changes = tracker.update([person(4 + Double(step) * 8), person(296 - Double(step) * 8)])
            #expect(changes.first { $0.box.x1 == 4 + Double(step) * 8 }?.trackId == left)
            #expect(changes.first { $0.box.x1 == 296 - Double(step) * 8 }?.trackId == right)
        }
    }

    @Test func stationaryObjectIsReportedOnceUntilItMoves() {
        var config = TrackerConfig()
        config.stationaryFrames = 5
        let tracker = IoUTracker(config: config)
        _ = tracker.update([person(0)])
        _ = tracker.update([person(0)])  // new
        var updates: [IoUTracker.Change] = []
        for _ in 0..<30 { updates += tracker.update([person(0.5)]) }
        // Moving-or-not updates until still for 5 frames, then exactly one stationary report, then silence.
        #expect(updates.filter(\.stationary).count == 1)
        #expect(updates.count == 5)
        #expect(updates.last?.stationary == true)
        let moved = tracker.update([person(20)])
        #expect(moved.count == 1)
        #expect(moved[0].step == .update)
        #expect(moved[0].stationary == false)
    }

    @Test func finishEndsConfirmedTracksOnly() {
        let tracker = IoUTracker()
        _ = tracker.update([person(0)])
        _ = tracker.update([person(0), car(400)])
        let ended = tracker.finish()
        #expect(ended.map(\.step) == [.end])
        #expect(ended.map(\.label) == ["person"])
    }
}
