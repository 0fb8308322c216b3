import CSystemd
import Glibc

/// Writes structured entries to journald through `sd_journal_sendv`, or, when the process is not attached to the
/// journal (run by hand, in a container, in CI), one line per entry to stderr with an sd-daemon `<N>` priority
/// prefix so a later journald stream still files it at the right level.
public final class JournalWriter: Sendable {
    public enum Destination: Sendable, Equatable {
        case journal
        /// Lines go to this file descriptor (stderr in the daemon, a pipe in tests).
        case stream(Int32)
    }

    public let destination: Destination
    /// `SYSLOG_IDENTIFIER=`; journald derives one from the process otherwise, which would say "senteid" anyway, but
    /// tests and the CLI share this code.
    public let identifier: String

    public init(destination: Destination, identifier: String = "senteid") {
        self.destination = destination
        self.identifier = identifier
    }

    /// The journal when systemd connected our stderr to it (`JOURNAL_STREAM`) and its socket exists; else stderr.
    public static func detectDestination(environment: [String: String]) -> Destination {
        let socketPresent = access("/run/systemd/journal/socket", F_OK) == 0
        return environment["JOURNAL_STREAM"] != nil && socketPresent ? .journal : .stream(STDERR_FILENO)
    }

    /// Sends one entry. Field names are upper-case journal names (`SENTEI_CAMERA`); `MESSAGE`, `PRIORITY` and
    /// `SYSLOG_IDENTIFIER` are added here. Returns false when the journal refused the entry (the caller may count it;
    /// logging must never stop the pipeline).
    @discardableResult
    public func send(message: String, priority: JournalPriority, fields: [(String, String)]) -> Bool {
        switch destination {
        case .journal:
            var entries = [("MESSAGE", message), ("PRIORITY", String(priority.rawValue)), ("SYSLOG_IDENTIFIER", identifier)]
            entries += fields
            return Self.sendToJournal(Self.encode(entries)) >= 0
        case .stream(let fd):
            let line = Self.streamLine(message: message, priority: priority, fields: fields)
            return line.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress!.advanced(by: offset), raw.count - offset)
                    if n < 0 { if errno == EINTR { continue }; return false }
                    offset += n
                }
                return true
            }
        }
    }

    /// `FIELD=value` byte strings; names are sanitised to the journal's [A-Z0-9_] alphabet.
    static func encode(_ fields: [(String, String)]) -> [[UInt8]] {
        fields.map { name, value in Array((fieldName(name) + "=").utf8) + Array(value.utf8) }
    }

    /// `sentei.camera` → `SENTEI_CAMERA`; a leading underscore (reserved for trusted fields) or digit is dropped.
    static func fieldName(_ name: String) -> String {
        var result = String(name.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
        while let first = result.first, first == "_" || first.isNumber { result.removeFirst() }
        return result.isEmpty ? "FIELD" : String(result.prefix(64))
    }

    /// `<6>track new SENTEI_CAMERA=front SENTEI_LABEL=person` — one line: newlines in values are escaped.
    static func streamLine(message: String, priority: JournalPriority, fields: [(String, String)]) -> [UInt8] {
        var line = "<\(priority.rawValue)>" + message
        for (name, value) in fields where name != "MESSAGE_ID" {
            line += " \(fieldName(name))=\(value)"
        }
        line = line.replacingOccurrences(of: "\n", with: "\\n")
        return Array((line + "\n").utf8)
    }

    static func sendToJournal(_ entries: [[UInt8]]) -> Int32 {
        // Keep every entry's storage alive while the iovec array points into it.
        let storage = entries.map { bytes -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { storage.forEach { $0.deallocate() } }
        var vectors = zip(storage, entries).map { iovec(iov_base: $0.baseAddress, iov_len: $1.count) }
        return sw_sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
