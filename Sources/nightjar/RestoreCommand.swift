import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore dark Bayer RAW files (DNG, ARW, NEF, CR2/CR3, RW2, ORF, PEF...) into PNGs.",
        discussion: """
            Inputs are files or directories (RAW files by extension). Each output is written to a \
            temporary name and renamed when complete, and an existing file is never replaced \
            without --overwrite. A file that fails gets one error line and the batch goes on.
            Exit status: 0 all restored, 1 none restored, 2 some failed, 64 usage error, \
            70 internal error.
            """
    )

    @Argument(help: "RAW files or directories.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output directory, or the output file for a single input (default: next to each input).")
    var output: String?

    @Option(help: "The Nightjar model file (from `nightjar convert`).")
    var model: String

    @Option(help: "Numeric precision: \(PrecisionOption.allValueStrings.joined(separator: ", ")).")
    var precision: PrecisionOption = .fp32

    @Option(help: "The amplifier's target factor m.")
    var m: Double = 5

    @Option(help: "A known exposure ratio to use instead of the amplifier.")
    var amp: Double?

    @Option(help: "Bits per PNG sample: 8 or 16.")
    var bits: Int = 8

    @Option(help: ArgumentHelp("PNG compression: fast (zlib level 1), small (level 6: about 15 % smaller, 6x the encoding time), or a level 0...9.",
                               valueName: "fast|small|0-9"))
    var pngCompression: PNGCompression = .fast

    @Flag(help: "Keep the sensor's orientation instead of applying the camera's.")
    var noRotate = false

    @Flag(help: "Replace existing outputs.")
    var overwrite = false

    @Flag(help: "Also write OUTPUT.png.json with the restore report.")
    var sidecar = false

    @Flag(help: "Descend into subdirectories of input directories.")
    var recursive = false

    @Option(help: "Refuse RAW files with more pixels than this, before decoding them.")
    var maxPixels: Int = 100_000_000

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = Engine.availableCores

    @Option(help: ArgumentHelp("Plan the memory for frames up to WxH pixels at start-up and refuse larger ones.",
                               discussion: "Without it the memory grows to the largest frame met. `nightjar footprint` predicts the peak for a size."))
    var maxSize: FrameSize?

    @Flag(help: "Lock the network's memory arena into RAM (mlock).")
    var mlock = false

    @Flag(help: "One JSON object per file on stdout, then a summary object.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard bits == 8 || bits == 16 else { throw ValidationError("--bits must be 8 or 16") }
        guard m.isFinite, m > 0 else { throw ValidationError("--m must be a positive number") }
        if let amp { guard amp.isFinite, amp > 0 else { throw ValidationError("--amp must be a positive number") } }
        guard maxPixels >= 0 else { throw ValidationError("--max-pixels must not be negative") }
    }

    func run() throws {
        var options = RestoreOptions(m: m, amplification: amp, bits: bits, rotate: !noRotate,
                                     overwrite: overwrite, sidecar: sidecar, maxPixels: maxPixels)
        options.compressionLevel = pngCompression.level
        let jobs: [RestoreJob]
        do {
            try precision.requireSupported()
            jobs = try RestoreBatch.plan(inputs: inputs.map { URL(fileURLWithPath: $0) },
                                         output: output.map { URL(fileURLWithPath: $0) }, recursive: recursive)
            guard !jobs.isEmpty else { throw CaptureError.invalidArgument("no RAW files found in \(inputs.joined(separator: ", "))") }
        } catch let error as CaptureError {
            throw fail(error.description, status: ExitCode(RestoreExitStatus.usage.rawValue))
        }
        let network = try reportingErrors {
            try FrameEngine(model: try NightjarModel.load(contentsOf: URL(fileURLWithPath: model)), threads: threads,
                            maximumSize: maxSize.map { (height: $0.height, width: $0.width) }, lockMemory: mlock)
        }
        ProcessMetrics.releaseFreedMemory()
        // With --max-size, all per-frame memory exists before the first frame; without, it grows
        // to the largest frame met.
        let workspace = try reportingErrors {
            try maxSize.map { try CaptureWorkspace(maximumWidth: $0.width, maximumHeight: $0.height) } ?? CaptureWorkspace()
        }
        let modelName = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        let progress = ProgressLine(enabled: !json && isatty(STDERR_FILENO) != 0)
        let start = ProcessMetrics.now()
        let outcomes = try RestoreBatch.run(jobs, options: options, modelName: modelName, network: network,
                                                workspace: workspace) { index, count, outcome in
            switch outcome.result {
            case .success(let report):
                if json { standardOutput(report.jsonString()) }
                progress.update(done: index + 1, total: count, "\(outcome.job.output.lastPathComponent) "
                                + formatted("(%.2f s, amplification %.1f)", report.totalSeconds, report.amplification))
            case .failure(let error):
                progress.clear()
                StandardStream.error.write("nightjar: error: \(error.description)\n")
                if json { standardOutput(#"{"error":\#(jsonQuoted(error.description)),"input":\#(jsonQuoted(outcome.job.input.path))}"#) }
            }
        }
        progress.clear()
        let restored = outcomes.filter(\.succeeded).count
        let seconds = ProcessMetrics.now() - start
        if json {
            standardOutput(#"{"summary":{"restored":\#(restored),"failed":\#(outcomes.count - restored),"seconds":\#(formatted("%.3f", seconds))}}"#)
        } else {
            let failed = outcomes.count - restored
            StandardStream.error.write("restored \(restored) of \(outcomes.count) file\(outcomes.count == 1 ? "" : "s") in "
                                       + formatted("%.1f s", seconds) + (failed > 0 ? " (\(failed) failed)" : "") + "\n")
        }
        let status = RestoreExitStatus(outcomes: outcomes)
        if status != .allRestored { throw ExitCode(status.rawValue) }
    }
}

/// A one-line progress display on a terminal, redrawn in place: a bar, the count of files
/// done and what the last one was.
final class ProgressLine {
    let enabled: Bool
    init(enabled: Bool) { self.enabled = enabled }

    /// "[########------------] 8/20 name (...)"
    static func line(done: Int, total: Int, _ text: String) -> String {
        let width = 20
        let filled = total > 0 ? min(width, done * width / total) : width
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] \(done)/\(total) " + text
    }

    func update(done: Int, total: Int, _ text: String) {
        guard enabled else { return }
        // Fit the terminal so the line redraws in place instead of wrapping.
        var size = winsize()
        let columns = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
        StandardStream.error.write("\r\u{1B}[K" + String(Self.line(done: done, total: total, text).prefix(columns - 1)))
    }

    func clear() {
        guard enabled else { return }
        StandardStream.error.write("\r\u{1B}[K")
    }
}

/// `text` as a JSON string literal, quotes included.
func jsonQuoted(_ text: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    return String(decoding: (try? encoder.encode(text)) ?? Data(#""""#.utf8), as: UTF8.self)
}
