import ArgumentParser

@main
struct Sentei: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentei",
        abstract: "Sentei: a self-pruning edge detector. Run, benchmark and inspect models.",
        subcommands: [RunCommand.self, BenchCommand.self, InspectCommand.self, ModelCommand.self, DetectCommand.self, EvalCommand.self,
                      PruneCommand.self, LadderCommand.self, HealCommand.self, GuardCommand.self, GradientsCommand.self, QuantizeCommand.self, CaptureCommand.self, ConfigCommand.self, WatchCommand.self, StatusCommand.self])
}
