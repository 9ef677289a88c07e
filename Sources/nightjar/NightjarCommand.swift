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
                      SynthesizeCommand.self, DoctorCommand.self, WatchCommand.self, StatusCommand.self, EvaluateCommand.self,
                      QuantizeCommand.self]
    )

    /// As ArgumentParser's, except that a usage error is one `nightjar: error:` line (exit 64),
    /// like every other failure, instead of the error and the whole usage text.
    static func main() {
        AddressSpaceLimit.shareMallocArenaWhenLimited()
        do {
            var command = try parseAsRoot(joiningNegativeNumbers(argumentsAsPathStrings()))
            try command.run()
        } catch {
            let status = exitCode(for: error)
            guard status == .validationFailure, !(error is ExitCode) else { exit(withError: error) }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            let arguments = CommandLine.arguments.dropFirst()
            let names = configuration.subcommands.map { $0.configuration.commandName ?? "" }
            let help = arguments.first.map { names.contains($0) ? "nightjar \($0) --help" : "nightjar --help" } ?? "nightjar --help"
            StandardStream.error.write("nightjar: error: \(displayable(message)) (see '\(help)')\n")
            Glibc.exit(status.rawValue)
        }
    }
}

/// `--option -5` as `--option=-5`: ArgumentParser reads "-5" as an unknown short option and
/// says "Missing value for '--option'"; joined, the value reaches the option's own check,
/// which says what is wrong with it.
func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
    var joined: [String] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if argument == "--" {
            joined += arguments[index...]
            break
        }
        if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.count,
           arguments[index + 1].hasPrefix("-"), Double(arguments[index + 1]) != nil {
            joined.append(argument + "=" + arguments[index + 1])
            index += 2
            continue
        }
        joined.append(argument)
        index += 1
    }
    return joined
}

/// The arguments from argv's bytes (`PathBytes`): CommandLine.arguments replaces bytes that
/// are not UTF-8 with U+FFFD, which would name a different file.
func argumentsAsPathStrings() -> [String] {
    (1..<Int(CommandLine.argc)).map { index in
        guard let argument = CommandLine.unsafeArgv[index] else { return "" }
        return PathBytes.string(UnsafeBufferPointer(start: UnsafeRawPointer(argument).assumingMemoryBound(to: UInt8.self),
                                                    count: strlen(argument)))
    }
}
