import ArgumentParser
import Nightjar

@main
struct NightjarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightjar",
        abstract: "Restore extremely dark RAW photographs in real time.",
        version: Nightjar.version,
        subcommands: [ConvertCommand.self, RestoreCommand.self, RunTensorCommand.self, BenchCommand.self, SynthesizeCommand.self]
    )
}
