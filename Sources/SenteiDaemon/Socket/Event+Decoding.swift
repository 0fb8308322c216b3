import Foundation

extension Event {
    /// Parses one socket line back into an event (for `sentei watch`, `sentei status` and tests). Returns nil for
    /// other line types (`hello`), unknown types from a newer daemon, or malformed JSON.
    public init?(jsonLine line: String) {
        let data = Data(line.utf8)
        guard let header = try? JSONDecoder().decode(Header.self, from: data) else { return nil }
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_ type: T.Type) -> T? { try? decoder.decode(type, from: data) }
        switch header.type {
        case "detections": guard let e = decode(DetectionsEvent.self) else { return nil }; self = .detections(e)
        case "track_new": guard let e = decode(TrackEvent.self) else { return nil }; self = .trackNew(e)
        case "track_update": guard let e = decode(TrackEvent.self) else { return nil }; self = .trackUpdate(e)
        case "track_end": guard let e = decode(TrackEvent.self) else { return nil }; self = .trackEnd(e)
        case "level_change": guard let e = decode(LevelChangeEvent.self) else { return nil }; self = .levelChange(e)
        case "camera_lost": guard let e = decode(CameraEvent.self) else { return nil }; self = .cameraLost(e)
        case "camera_found": guard let e = decode(CameraEvent.self) else { return nil }; self = .cameraFound(e)
        case "stats": guard let e = decode(StatsEvent.self) else { return nil }; self = .stats(e)
        case "error": guard let e = decode(ErrorEvent.self) else { return nil }; self = .error(e)
        case "rung_withdrawn": guard let e = decode(RungEvent.self) else { return nil }; self = .rungWithdrawn(e)
        case "rung_readmitted": guard let e = decode(RungEvent.self) else { return nil }; self = .rungReadmitted(e)
        default: return nil
        }
    }

    /// The `type` of any socket line, including `hello`.
    public static func lineType(_ line: String) -> String? {
        (try? JSONDecoder().decode(Header.self, from: Data(line.utf8)))?.type
    }

    private struct Header: Decodable {
        var v: Int
        var type: String
    }
}

/// The first line every client receives.
public struct SocketHello: Decodable, Sendable, Equatable {
    public var v: Int
    public var pid: Int
    public var clients: Int
    /// Number of state lines (latest stats, level change, camera state per camera) that follow.
    public var retained: Int
    public var droppedClients: [String: UInt64]

    enum CodingKeys: String, CodingKey { case v, pid, clients, retained, droppedClients = "dropped_clients" }

    public init?(jsonLine line: String) {
        guard Event.lineType(line) == "hello",
              let hello = try? JSONDecoder().decode(SocketHello.self, from: Data(line.utf8)) else { return nil }
        self = hello
    }
}

/// One line per event for people: `front  track_new    #42 person 0.91 at [10,20,110,220]`.
public enum EventPrettyPrinter {
    public static func line(_ event: Event) -> String {
        func f(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
        func box(_ b: [Double]) -> String { "[" + b.map { String(Int($0.rounded())) }.joined(separator: ",") + "]" }
        let body: String
        let camera: String
        switch event {
        case .detections(let e):
            camera = e.camera
            let items = e.detections.map { "\($0.label) \(f($0.score, 2))" }.joined(separator: ", ")
            body = "frame \(e.frameSequence) level \(e.level): " + (items.isEmpty ? "nothing" : items)
        case .trackNew(let e), .trackUpdate(let e), .trackEnd(let e):
            camera = e.camera
            body = "#\(e.trackId) \(e.label) \(f(e.score, 2)) at \(box(e.box)) hits \(e.hits)" + (e.stationary ? " stationary" : "")
        case .levelChange(let e):
            camera = e.camera
            var why = e.reason
            if let p95 = e.latencyP95Ms { why += ", p95 \(f(p95)) ms" + (e.latencyBudgetMs.map { " / budget \(f($0)) ms" } ?? "") }
            if let w = e.powerW { why += ", \(f(w)) W" + (e.powerBudgetW.map { " / budget \(f($0)) W" } ?? "") }
            body = "level \(e.from) → \(e.to) (\(why))"
        case .cameraLost(let e), .cameraFound(let e):
            camera = e.camera
            body = e.source + (e.reason.map { ": \($0)" } ?? "")
        case .stats(let e):
            camera = e.camera
            body = "level \(e.level), \(f(e.processedFps)) of \(f(e.cameraFps)) fps, p50 \(f(e.latencyP50Ms)) ms, "
                + "p95 \(f(e.latencyP95Ms)) ms, dropped \(e.droppedFrames)"
                + (e.powerW.map { ", \(f($0)) W" } ?? "") + (e.joulesPerFrame.map { ", \(f($0, 3)) J/frame" } ?? "")
                + (e.powerMeter.map { " (\($0))" } ?? "")
        case .error(let e):
            camera = e.camera ?? "-"
            body = e.code + (e.errno.map { " \($0)" } ?? "") + ": " + e.message + (e.count > 1 ? " (×\(e.count))" : "")
        case .rungWithdrawn(let e):
            camera = e.camera
            body = "\(e.rung) (level \(e.level)) withdrawn: agreement \(e.recentMAP50.map { f($0, 3) }.joined(separator: ", "))"
                + " vs \(f(e.admittedMAP50, 3)) admitted — \(e.reason)"
        case .rungReadmitted(let e):
            camera = e.camera
            body = "\(e.rung) (level \(e.level)) re-admitted: held-out agreement "
                + "\(e.beforeMAP50.map { f($0, 3) } ?? "?") → \(e.afterMAP50.map { f($0, 3) } ?? "?")"
                + (e.steps.map { " after \($0) steps" } ?? "") + (e.cpuS.map { ", \(f($0, 0)) CPU s" } ?? "")
        }
        return camera.padding(toLength: max(camera.count, 8), withPad: " ", startingAt: 0) + " "
            + event.type.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + body
    }
}
