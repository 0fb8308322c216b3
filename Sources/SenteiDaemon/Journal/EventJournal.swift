/// Writes events to the journal with searchable fields, so `journalctl -u sentei SENTEI_EVENT=track_new` and
/// `journalctl MESSAGE_ID=9847668a80ce4238aaf7996d5897dd01` work. Only the configured types are written:
/// per-frame detections and track updates would flood the journal (they stay on the socket).
public struct EventJournal: Sendable {
    public let writer: JournalWriter
    public let types: Set<String>

    public init(writer: JournalWriter, types: [String]) {
        self.writer = writer
        self.types = Set(types)
    }

    /// Stable catalogue ids, one per event type (listed in the README; never reuse or change one).
    public static let messageIDs: [String: String] = [
        "detections": "af4562d4a4cb41d2a72631e09324a7ef",
        "track_new": "9847668a80ce4238aaf7996d5897dd01",
        "track_update": "e87de1b588cb4fe29f3c6fafb3b91265",
        "track_end": "fb00a2f906ea4c68a8300a2edb418b60",
        "level_change": "89700db3d7894500a58e86e063731f20",
        "camera_lost": "73f5397d1bc247b8a81f43efdbf14138",
        "camera_found": "2ec795bc28634f1c86573bea933e8019",
        "stats": "01e2e9a692b24e44bad6bff614f9e195",
        "error": "0c918a4933794ca79d7f64c3f44c47fa",
        "rung_withdrawn": "c4765d88d4584dd7af5319478edd719a",
        "rung_readmitted": "76f512e239994faa8b1f377acb65bb1f",
    ]

    @discardableResult
    public func write(_ event: Event) -> Bool {
        guard types.contains(event.type) else { return true }
        let entry = Self.entry(for: event)
        return writer.send(message: entry.message, priority: entry.priority, fields: entry.fields)
    }

    /// The journal entry of one event: message, priority and the `SENTEI_*` fields (plus the JSON line in
    /// `SENTEI_JSON`, so nothing the socket carries is lost).
    static func entry(for event: Event) -> (message: String, priority: JournalPriority, fields: [(String, String)]) {
        var fields: [(String, String)] = [("MESSAGE_ID", messageIDs[event.type]!), ("SENTEI_EVENT", event.type)]
        let message: String
        var priority = JournalPriority.info
        switch event {
        case .detections(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_LEVEL", String(e.level))]
            let labels = Set(e.detections.map(\.label)).sorted()
            if !labels.isEmpty { fields.append(("SENTEI_LABEL", labels.joined(separator: ","))) }
            message = "\(e.camera): \(e.detections.count) detections"
            priority = .debug
        case .trackNew(let e), .trackUpdate(let e), .trackEnd(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_LABEL", e.label), ("SENTEI_TRACK_ID", String(e.trackId))]
            let verb = event.type == "track_new" ? "new" : event.type == "track_end" ? "ended" : "updated"
            message = "\(e.camera): \(e.label) track \(e.trackId) \(verb)"
            if case .trackUpdate = event { priority = .debug }
        case .levelChange(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_LEVEL", String(e.to)), ("SENTEI_LEVEL_FROM", String(e.from)),
                       ("SENTEI_REASON", e.reason)]
            message = "\(e.camera): level \(e.from) → \(e.to) (\(e.reason))"
            priority = .notice
        case .cameraLost(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_SOURCE", e.source)]
            if let reason = e.reason { fields.append(("SENTEI_REASON", reason)) }
            message = "\(e.camera): camera lost (\(e.source)\(e.reason.map { ": " + $0 } ?? ""))"
            priority = .warning
        case .cameraFound(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_SOURCE", e.source)]
            message = "\(e.camera): camera found (\(e.source))"
            priority = .notice
        case .stats(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_LEVEL", String(e.level))]
            message = "\(e.camera): \(Self.round(e.processedFps)) fps, p95 \(Self.round(e.latencyP95Ms)) ms, level \(e.level)"
                + (e.powerW.map { ", \(Self.round($0)) W" } ?? "")
        case .error(let e):
            if let camera = e.camera { fields.append(("SENTEI_CAMERA", camera)) }
            fields.append(("SENTEI_CODE", e.code))
            if let errno = e.errno { fields.append(("SENTEI_ERRNO", errno)) }
            if let path = e.path { fields.append(("SENTEI_PATH", path)) }
            message = (e.camera.map { "\($0): " } ?? "") + "\(e.code): \(e.message)"
                + (e.count > 1 ? " (\(e.count) times)" : "")
            priority = .error
        case .rungWithdrawn(let e), .rungReadmitted(let e):
            fields += [("SENTEI_CAMERA", e.camera), ("SENTEI_RUNG", e.rung), ("SENTEI_LEVEL", String(e.level)),
                       ("SENTEI_REASON", e.reason)]
            let withdrawn = event.type == "rung_withdrawn"
            message = "\(e.camera): rung \(e.rung) (level \(e.level)) " + (withdrawn ? "withdrawn" : "re-admitted")
                + " (\(e.reason))"
            priority = withdrawn ? .warning : .notice
        }
        fields.append(("SENTEI_JSON", event.jsonLine()))
        return (message, priority, fields)
    }

    static func round(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
