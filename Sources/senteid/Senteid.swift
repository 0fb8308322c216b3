import ArgumentParser
import Foundation
import Logging
import SenteiDaemon
import ServiceLifecycle

/// `senteid --config FILE`: the daemon. Wiring only; everything it composes lives in SenteiDaemon.
@main
struct Senteid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "senteid",
        abstract: "Sentei detection daemon: cameras → detector → tracker → event socket and journal.",
        discussion: """
            Runs under systemd as Type=notify (READY=1 once every camera processed a frame, WATCHDOG=1 while every \
            stage progresses, RELOADING=1 on SIGHUP). SIGTERM stops within 2 s.
            """)

    @Option(name: .long, help: "Config file (TOML).")
    var config = "/etc/sentei/sentei.toml"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Flag(name: .long, help: "Validate the config (and the model manifest it names), then exit.")
    var check = false

    func run() async throws {
        let destination = JournalWriter.detectDestination(environment: ProcessInfo.processInfo.environment)
        let writer = JournalWriter(destination: destination)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = JournalLogHandler(label: label, writer: writer)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "senteid")

        let loaded: (config: SenteiConfig, manifest: SenteiVisionManifest)
        do {
            loaded = try SenteiConfig.loadWithModel(path: config)
        } catch {
            for problem in error.errors {
                logger.critical("invalid configuration", metadata: ConfigLog.metadata(problem))
            }
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(78)  // EX_CONFIG: systemd's RestartPreventExitStatus keeps a broken file from looping.
        }
        if check {
            print("\(config): OK (\(loaded.config.cameras.count) camera(s), model \(loaded.manifest.name))")
            return
        }

        let notifier = SystemdNotifier()
        let heartbeats = Heartbeats()
        let daemon = try DaemonService(configPath: config, initial: loaded, writer: writer, notifier: notifier,
                                       heartbeats: heartbeats, logger: logger)
        let watchdog = WatchdogService(notifier: notifier, heartbeats: heartbeats, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: watchdog),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // SIGTERM must end the process within 2 s even if a camera thread hangs in the driver.
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(1500)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}
