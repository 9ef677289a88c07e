import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

@main
struct NightjarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightjar",
        abstract: "Restore extremely dark RAW photographs in real time.",
        version: Nightjar.version,
        subcommands: [ConvertCommand.self, RestoreCommand.self, RunTensorCommand.self, BenchCommand.self, FootprintCommand.self,
                      SynthesizeCommand.self, EvaluateCommand.self]
    )

    /// As ArgumentParser's, except that a usage error is one `nightjar: error:` line (exit 64),
    /// like every other failure, instead of the error and the whole usage text.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let status = exitCode(for: error)
            guard status == .validationFailure, !(error is ExitCode) else { exit(withError: error) }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            let arguments = CommandLine.arguments.dropFirst()
            let names = configuration.subcommands.map { $0.configuration.commandName ?? "" }
            let help = arguments.first.map { names.contains($0) ? "nightjar \($0) --help" : "nightjar --help" } ?? "nightjar --help"
            StandardStream.error.write("nightjar: error: \(message) (see '\(help)')\n")
            Glibc.exit(status.rawValue)
        }
    }
}
