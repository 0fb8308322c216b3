import ArgumentParser
import Foundation
import SenteiDaemon

/// `sentei status`: the daemon's current state from the socket's greeting (no request protocol needed).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Print the daemon's state: per camera level, fps, latency, power.")

    @Option(name: .long, help: "Event socket.")
    var socket = "/run/sentei/events.sock"

    @Flag(name: .long, help: "Print the hello line and the state lines as NDJSON.")
    var json = false

    func run() throws {
        var lines: [String] = []
        let hello: SocketHello
        do {
            let client = try EventSocketClient(path: socket)
            let greeting = try client.nextLine(timeoutMs: 5000)
            if let greeting, Event.lineType(greeting) == "refused" {
                throw ValidationError("senteid refused the connection (max_clients reached): \(greeting)")
            }
            guard let first = greeting, let parsed = SocketHello(jsonLine: first) else {
                throw ValidationError("\(socket) did not greet within 5 s; is it senteid's socket?")
            }
            hello = parsed
            lines.append(first)
            for _ in 0..<hello.retained {
                guard let line = try client.nextLine(timeoutMs: 5000) else { break }
                lines.append(line)
            }
        } catch let error as SocketError {
            FileHandle.standardError.write(Data("sentei status: cannot read \(socket) (is senteid running?): \(error)\n".utf8))
            throw ExitCode(3)  // LSB "program is not running"
        }
        if json {
            lines.forEach { print($0) }
            return
        }
        let drops = hello.droppedClients.keys.sorted().map { "\($0) \(hello.droppedClients[$0]!)" }
        print("senteid pid \(hello.pid): \(hello.clients) client(s) connected"
              + (drops.isEmpty ? "" : "; dropped clients: " + drops.joined(separator: ", ")))
        let events = lines.dropFirst().compactMap(Event.init(jsonLine:))
        if events.isEmpty { print("no camera state yet (the first stats arrive after stats_interval_s)") }
        for event in events { print("  " + EventPrettyPrinter.line(event)) }
    }
}
