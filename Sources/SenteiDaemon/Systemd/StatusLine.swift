/// The one-line STATUS= text for `systemctl status sentei`: `front: level 2, 14.8 fps, p95 83.0 ms, 4.1 W`.
public enum StatusLine {
    public static func format(_ stats: [StatsEvent]) -> String {
        guard !stats.isEmpty else { return "running, no stats yet" }
        return stats.map { s in
            var text = "\(s.camera): level \(s.level), \(EventJournal.round(s.processedFps)) fps, p95 \(EventJournal.round(s.latencyP95Ms)) ms"
            if let watts = s.powerW { text += ", \(EventJournal.round(watts)) W" }
            return text
        }.joined(separator: "; ")
    }
}
