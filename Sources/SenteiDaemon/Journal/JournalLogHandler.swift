import Logging

/// swift-log handler writing through `JournalWriter`: constant messages, metadata as fields (`sentei.camera` →
/// `SENTEI_CAMERA`), so log lines are as searchable as events.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let label: String
    private let writer: JournalWriter

    /// Catalogue id shared by all log messages (events have their own).
    public static let messageID = "9c074b16ff7d44ae99a433596be54eb9"

    public init(label: String, writer: JournalWriter) {
        self.label = label
        self.writer = writer
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var fields: [(String, String)] = [("MESSAGE_ID", Self.messageID), ("SENTEI_LOGGER", label)]
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        if let error = event.error { fields.append(("SENTEI_ERROR", "\(error)")) }
        if event.level <= .debug || event.level >= .error {
            fields.append(("CODE_FILE", event.file))
            fields.append(("CODE_LINE", String(event.line)))
            fields.append(("CODE_FUNC", event.function))
        }
        writer.send(message: "\(event.message)", priority: Self.priority(event.level), fields: fields)
    }

    static func priority(_ level: Logger.Level) -> JournalPriority {
        switch level {
        case .trace, .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}
