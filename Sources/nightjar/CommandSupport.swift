import ArgumentParser
import FoundationEssentials
import Nightjar

/// Exit codes, documented in the README.
enum ExitStatus {
    /// The work failed: bad input, a bad model, an unwritable output.
    static let failure = ExitCode(1)
    /// A batch finished, but some of its files failed.
    static let partialFailure = ExitCode(2)
    /// A bug: please report it.
    static let internalError = ExitCode(70)
}

/// Prints one actionable line to stderr and exits with `status`. Control characters in the
/// message (from file names, checkpoints...) are escaped (`displayable`).
func fail(_ message: String, status: ExitCode = ExitStatus.failure) -> ExitCode {
    StandardStream.error.write("nightjar: error: \(displayable(message))\n")
    return status
}

/// Runs a command body, turning the library's typed errors into one line and an exit code.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as CustomStringConvertible {
        throw fail(error.description)
    } catch {
        throw fail("\(error)", status: ExitStatus.internalError)
    }
}

/// The numeric precisions the engine runs; FP32 is the reference. Without the option a command
/// runs the best precision the model carries.
enum PrecisionOption: String, ExpressibleByArgument, CaseIterable {
    case fp32, fp16, int8

    static var allValueStrings: [String] { allCases.map(\.rawValue) }
    static let help = ArgumentHelp(
        "Numeric precision: fp32, fp16 or int8 (int8 needs a model calibrated by `nightjar quantize`); default: the best the model carries.")

    var precision: Precision { Precision(rawValue: rawValue)! }

    /// Refuses a precision this build's kernels do not run (the model's own limits are
    /// checked when its engine is made).
    func requireSupported() throws {
        guard KernelInfo.runnablePrecisions.contains(rawValue) else {
            throw fail("precision \(rawValue) is not available in this build; use --precision "
                       + KernelInfo.runnablePrecisions.joined(separator: " or --precision "))
        }
    }
}

/// `--int8-fallback`: the precision frames too bright for an int8 model's calibration run in
/// instead (`FrameEngine.fallback`), or none.
enum Int8FallbackOption: String, ExpressibleByArgument, CaseIterable {
    case none, fp16, fp32

    static var allValueStrings: [String] { allCases.map(\.rawValue) }
    static let help = ArgumentHelp(
        "Restore frames too bright for an int8 model's calibration (0.1 % of the input or more clipped) in fp16 or fp32 instead: none (default), fp16, fp32.",
        discussion: "Holds that precision's weights and threads beside int8's and plans in int8's arena (see `nightjar footprint --int8-fallback`).")

    var precision: Precision? { self == .none ? nil : Precision(rawValue: rawValue)! }
}

func standardOutput(_ text: String) {
    StandardStream.output.write(text + "\n")
}

/// A failure of the command itself (not of the library), as one line.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// This executable (to run a subcommand in a child process, or find boards/ beside a build).
var currentExecutable: URL {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
}

/// The most worker threads accepted: 4 per core, at most 256. More only adds switching (5000
/// threads took 89 s for a frame 2 take 0.1 s for) and eventually fails to start.
let maximumThreads = min(256, 4 * max(Engine.availableCores, 1))

/// A usage error unless `threads` is 1...`maximumThreads`.
func validateThreads(_ threads: Int) throws {
    guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads)") }
    guard threads <= maximumThreads else {
        throw ValidationError("--threads \(threads) is more than the \(maximumThreads) allowed (4 per core, at most 256)")
    }
}

/// The bands `--low-resolution-rows` and `--band-rows` ask for; what they leave out comes from
/// the standard bands of the precision that will run.
func requestedBands(lowResolutionRows: Int?, outputRows: Int?, model: NightjarModel, precision: Precision?) -> StreamSchedule.Bands {
    let standard = StreamSchedule.Bands.standard(for: precision ?? model.defaultPrecision)
    return StreamSchedule.Bands(lowResolutionRows: lowResolutionRows ?? standard.lowResolutionRows,
                                outputRows: outputRows ?? standard.outputRows, wholeBlocks: standard.wholeBlocks)
}
