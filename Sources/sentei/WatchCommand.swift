import ArgumentParser
import Foundation
import SenteiDaemon

/// `sentei watch`: follows the daemon's event socket, one line per event.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Follow the daemon's events (pretty for people, --json for scripts).")

    @Option(name: .long, help: "Event socket.")
    var socket = "/run/sentei/events.sock"

    @Option(name: .long, parsing: .singleValue,
            help: "Only these event types (repeatable): \(SenteiConfig.eventTypes.joined(separator: ", ")).")
    var type: [String] = []

    @Flag(name: .long, help: "Print the raw NDJSON lines (schema in README), including the hello line.")
    var json = false

    func validate() throws {
        for t in type where !SenteiConfig.eventTypes.contains(t) {
            throw ValidationError("unknown event type \(t); known: \(SenteiConfig.eventTypes.joined(separator: ", "))")
        }
    }

    func run() throws {
        let client: EventSocketClient
        do {
            client = try EventSocketClient(path: socket)
        } catch {
            throw ValidationError("cannot connect to \(socket) (is senteid running?): \(error)")
        }
        let wanted = Set(type)
        // Lines from the retained state are real events too; they are shown like the rest.
        while true {
            let line: String?
            do { line = try client.nextLine() } catch {
                FileHandle.standardError.write(Data("sentei watch: \(error)\n".utf8))
                throw ExitCode(1)
            }
            guard let line else { continue }
            let lineType = Event.lineType(line)
            if lineType == "refused" {
                throw ValidationError("senteid refused the connection (max_clients reached): \(line)")
            }
            if let hello = SocketHello(jsonLine: line) {
                if json && wanted.isEmpty { Self.emit(line) } else if !json {
                    FileHandle.standardError.write(Data("connected to \(socket) (senteid pid \(hello.pid), \(hello.clients) client(s))\n".utf8))
                }
                continue
            }
            guard wanted.isEmpty || wanted.contains(lineType ?? "") else { continue }
            if json {
                Self.emit(line)
            } else if let event = Event(jsonLine: line) {
                Self.emit(Self.timestamp() + " " + EventPrettyPrinter.line(event))
            } else {
                Self.emit(Self.timestamp() + " " + line)  // a newer daemon's type: shown raw rather than hidden
            }
        }
    }

    /// Unbuffered, so `sentei watch | grep …` sees each event as it happens.
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func timestamp() -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        var seconds = now.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(format: "%02d:%02d:%02d.%03d", parts.tm_hour, parts.tm_min, parts.tm_sec, Int(now.tv_usec) / 1000)
    }
}
