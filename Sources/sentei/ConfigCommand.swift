import ArgumentParser
import Foundation
import SenteiDaemon

/// `sentei config check FILE`: the daemon's own validation, without starting anything.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with the daemon's config file.",
        subcommands: [ConfigCheckCommand.self])
}

struct ConfigCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file exactly as senteid does (exit 78 when invalid).",
        discussion: "Prints every problem as FILE:LINE: KEY: expected …, found …")

    @Argument(help: "The TOML file, e.g. /etc/sentei/sentei.toml.")
    var file: String

    @Flag(name: .long, help: "Skip loading the model manifest the file names (class names and input sizes are then not checked against the model).")
    var noModel = false

    func run() throws {
        do {
            if noModel {
                let config = try SenteiConfig.load(path: file)
                print("\(file): OK (\(config.cameras.count) camera(s); model not checked)")
            } else {
                let loaded = try SenteiConfig.loadWithModel(path: file)
                print("\(file): OK (\(loaded.config.cameras.count) camera(s), model \(loaded.manifest.name))")
            }
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(78)
        }
    }
}
