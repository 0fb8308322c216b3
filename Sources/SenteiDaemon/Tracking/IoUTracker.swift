public import SenteiVision

/// Tuning of the IoU tracker; all counts are in processed frames.
public struct TrackerConfig: Sendable, Equatable {
    /// A detection continues a track of the same label when their IoU is at least this.
    public var matchIoU: Double = 0.3
    /// Hits before a track is announced (`track_new`); tracks that die earlier were noise and say nothing.
    public var confirmHits: Int = 2
    /// A track ends after this many consecutive frames without a match.
    public var maxMissedFrames: Int = 15
    /// A track counts as still while its box keeps this IoU with the box where it stopped…
    public var stationaryIoU: Double = 0.85
    /// …for this many consecutive frames; then one `track_update` with `stationary: true`, and silence until it moves.
    public var stationaryFrames: Int = 10

    public init() {}
}

/// Per-camera IoU tracker: greedy best-IoU matching within each label, a lifecycle new → update… → end, and
/// stationary objects reported once instead of on every frame.
public final class IoUTracker {
    public enum Step: Sendable, Equatable {
        case new, update, end
    }

    /// One lifecycle step, in the camera frame's pixels.
    public struct Change: Sendable, Equatable {
        public var step: Step
        public var trackId: UInt64
        public var label: String
        public var classIndex: Int
        public var score: Double
        public var box: Box
        public var hits: Int
        public var stationary: Bool
    }

    struct Track {
        var id: UInt64
        var label: String
        var classIndex: Int
        var score: Double
        var box: Box
        var hits = 1
        var missed = 0
        var confirmed = false
        /// Where the object was when it last moved; stillness is measured against it.
        var anchor: Box
        var stillFrames = 0
        var stationary = false
    }

    public let config: TrackerConfig
    private var tracks: [Track] = []
    private var nextId: UInt64 = 1

    public init(config: TrackerConfig = TrackerConfig()) {
        self.config = config
    }

    public var activeTrackCount: Int { tracks.count }

    /// Feeds one processed frame's detections and returns the lifecycle steps it caused, in track order.
    public func update(_ detections: [Detection]) -> [Change] {
        var changes: [Change] = []
        var matchedDetection = [Bool](repeating: false, count: detections.count)
        var matchedTrack = [Bool](repeating: false, count: tracks.count)

        // Greedy by IoU: all same-label pairs above the threshold, best first. Small N (tens), so O(T·D log) is fine.
        var pairs: [(iou: Double, track: Int, detection: Int)] = []
        for (t, track) in tracks.enumerated() {
            for (d, detection) in detections.enumerated() where detection.classIndex == track.classIndex {
                let iou = track.box.iou(detection.box)
                if iou >= config.matchIoU { pairs.append((iou, t, d)) }
            }
        }
        pairs.sort { $0.iou != $1.iou ? $0.iou > $1.iou : ($0.track, $0.detection) < ($1.track, $1.detection) }
        for pair in pairs where !matchedTrack[pair.track] && !matchedDetection[pair.detection] {
            matchedTrack[pair.track] = true
            matchedDetection[pair.detection] = true
            if let change = hit(&tracks[pair.track], detections[pair.detection]) { changes.append(change) }
        }

        var survivors: [Track] = []
        survivors.reserveCapacity(tracks.count)
        for (t, var track) in tracks.enumerated() {
            if !matchedTrack[t] {
                track.missed += 1
                if track.missed > config.maxMissedFrames {
                    if track.confirmed { changes.append(change(.end, track)) }
                    continue
                }
                // An unconfirmed track that misses once was a flicker.
                if !track.confirmed { continue }
            }
            survivors.append(track)
        }
        tracks = survivors

        for (d, detection) in detections.enumerated() where !matchedDetection[d] {
            var track = Track(id: nextId, label: detection.label, classIndex: detection.classIndex,
                              score: detection.score, box: detection.box, anchor: detection.box)
            nextId += 1
            if config.confirmHits <= 1 {
                track.confirmed = true
                changes.append(change(.new, track))
            }
            tracks.append(track)
        }
        return changes
    }

    /// Ends every confirmed track (the camera stopped or the pipeline is shutting down).
    public func finish() -> [Change] {
        defer { tracks.removeAll() }
        return tracks.filter(\.confirmed).map { change(.end, $0) }
    }

    private func hit(_ track: inout Track, _ detection: Detection) -> Change? {
        track.box = detection.box
        track.score = detection.score
        track.hits += 1
        track.missed = 0
        if !track.confirmed {
            guard track.hits >= config.confirmHits else { return nil }
            track.confirmed = true
            track.anchor = detection.box
            return change(.new, track)
        }
        if track.anchor.iou(detection.box) >= config.stationaryIoU {
            track.stillFrames += 1
            if track.stationary { return nil }
            if track.stillFrames >= config.stationaryFrames {
                track.stationary = true
                return change(.update, track)
            }
        } else {
            track.anchor = detection.box
            track.stillFrames = 0
            track.stationary = false
        }
        return change(.update, track)
    }

    private func change(_ step: Step, _ track: Track) -> Change {
        Change(step: step, trackId: track.id, label: track.label, classIndex: track.classIndex, score: track.score,
               box: track.box, hits: track.hits, stationary: track.stationary)
    }
}
