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

    @Option(help: PrecisionOption.help)
    var precision: PrecisionOption?

    @Option(help: Int8FallbackOption.help)
    var int8Fallback: Int8FallbackOption = .none

    @Option(help: "The amplifier's target factor m.")
    var m: Double = 5

    @Option(help: "A known exposure ratio to use instead of the amplifier.")
    var amp: Double?

    @Option(help: "Bits per PNG sample: 8 or 16.")
    var bits: Int = 8

    @Option(help: ArgumentHelp("Colour: camera (the file's white balance and colour matrix) or network (the network's own).",
                               discussion: "camera keeps the network's luminance and detail and takes the chroma from the capture. A file without a usable colour matrix gets the network's colour and one warning."))
    var color: String = "camera"

    @Option(help: "White balance of camera colour: camera (as shot; auto when the file records none), auto (grey world) or R,G,B multipliers.")
    var whiteBalance: String = "camera"

    @Option(help: ArgumentHelp("PNG compression: fast (level 1: Nightjar's own Huffman coding, with runs of a repeated value in 8-bit images), small (level 6: zlib's string matching wherever it is smaller, many times the encoding time), or a level 0...9.",
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

    @Option(help: ArgumentHelp("How to read headerless sensor dumps (.raw): a built-in mode (imx477-4056x3040), a sensor (imx477: the dump's size picks the mode) or a JSON description file.",
                               discussion: "Without it a dump whose size matches exactly one built-in mode uses that mode.",
                               valueName: "ID|FILE"))
    var sensor: String?

    @Flag(help: "Lock the network's memory arena into RAM (mlock).")
    var mlock = false

    @Flag(help: "One JSON object per file on stdout, then a summary object.")
    var json = false

    func validate() throws {
        try validateThreads(threads)
        guard bits == 8 || bits == 16 else { throw ValidationError("--bits must be 8 or 16") }
        guard m.isFinite, m > 0 else { throw ValidationError("--m must be a positive number") }
        if let amp { guard amp.isFinite, amp > 0 else { throw ValidationError("--amp must be a positive number") } }
        guard maxPixels >= 1 else { throw ValidationError("--max-pixels must be at least 1, not \(maxPixels) (default 100000000)") }
        guard ColorMode(rawValue: color.lowercased()) != nil else { throw ValidationError("--color must be camera or network, not '\(color)'") }
        guard WhiteBalance(argument: whiteBalance) != nil else {
            throw ValidationError("--white-balance must be camera, auto or three positive numbers R,G,B (e.g. 2.1,1,1.6), not '\(whiteBalance)'")
        }
    }

    private func plan(createDirectory: Bool) throws -> [RestoreJob] {
        try RestoreBatch.plan(inputs: inputs.map { URL(fileURLWithPath: $0) },
                              output: output.map { URL(fileURLWithPath: $0) }, recursive: recursive,
                              createDirectory: createDirectory)
    }

    func run() throws {
        var options = RestoreOptions(m: m, amplification: amp, bits: bits, rotate: !noRotate,
                                     overwrite: overwrite, sidecar: sidecar, maxPixels: maxPixels)
        options.compressionLevel = pngCompression.level
        options.color = ColorMode(rawValue: color.lowercased())!
        options.whiteBalance = WhiteBalance(argument: whiteBalance)!
        let jobs: [RestoreJob]
        do {
            if let sensor { options.sensorDescriptions = try resolveSensor(sensor) }
            // Planned without creating the -o directory: a usage error or a bad model creates nothing.
            let planned = try plan(createDirectory: false)
            guard !planned.isEmpty else { throw CaptureError.invalidArgument("no RAW files found in \(inputs.joined(separator: ", "))") }
        } catch let error as CaptureError {
            throw fail(error.description, status: ExitCode(RestoreExitStatus.usage.rawValue))
        }
        // With --max-size, all per-frame memory exists before the first frame; without, it grows
        // to the largest frame met.
        let restorer = try reportingErrors {
            try Restorer(modelURL: URL(fileURLWithPath: model), options: options, threads: threads,
                         maximumSize: maxSize.map { (width: $0.width, height: $0.height) }, lockMemory: mlock,
                         precision: precision?.precision, int8Fallback: int8Fallback.precision)
        }
        if let warning = restorer.engine.unusedFallbackWarning(int8Fallback.precision) { StandardStream.error.write("nightjar: warning: \(warning)\n") }
        jobs = try reportingErrors { try plan(createDirectory: true) }
        ProcessMetrics.releaseFreedMemory()
        let progress = ProgressLine(enabled: !json && isatty(STDERR_FILENO) != 0)
        let start = ProcessMetrics.now()
        let outcomes = RestoreBatch.run(jobs, restorer: restorer) { index, count, outcome in
            switch outcome.result {
            case .success(let report):
                if let warnings = report.warnings, !warnings.isEmpty {
                    progress.clear()
                    for warning in warnings { StandardStream.error.write("nightjar: warning: \(warning)\n") }
                }
                if json { standardOutput(report.jsonString()) }
                progress.update(done: index + 1, total: count, "\(displayable(outcome.job.output.lastPathComponent)) "
                                + formatted("(%.2f s, amplification %.1f", report.totalSeconds, report.amplification)
                                + (report.int8Fallback.map { ", \($0): too bright for int8)" } ?? ")"))
            case .failure(let error):
                progress.clear()
                StandardStream.error.write("nightjar: error: \(displayable(error.description))\n")
                if json { standardOutput(#"{"error":\#(jsonQuoted(error.description)),"input":\#(jsonQuoted(outcome.job.input.path))}"#) }
            }
        }
        progress.clear()
        let restored = outcomes.filter(\.succeeded).count
        let fellBack = outcomes.filter { (try? $0.result.get())?.int8Fallback != nil }.count
        let seconds = ProcessMetrics.now() - start
        if json {
            // The process's own peak (VmHWM): the decoder children's are not in it.
            let fallback = int8Fallback == .none ? "" : #","int8Fallback":\#(fellBack)"#
            standardOutput(#"{"summary":{"restored":\#(restored),"failed":\#(outcomes.count - restored)\#(fallback),"seconds":\#(formatted("%.3f", seconds)),"peakResidentBytes":\#(ProcessMetrics.peakResidentBytes())}}"#)
        } else {
            let failed = outcomes.count - restored
            var notes: [String] = []
            if failed > 0 { notes.append("\(failed) failed") }
            if fellBack > 0 { notes.append("\(fellBack) in \(int8Fallback.rawValue): too bright for int8") }
            StandardStream.error.write("restored \(restored) of \(outcomes.count) file\(outcomes.count == 1 ? "" : "s") in "
                                       + formatted("%.1f s", seconds) + (notes.isEmpty ? "" : " (" + notes.joined(separator: ", ") + ")") + "\n")
        }
        let status = RestoreExitStatus(outcomes: outcomes)
        if status != .allRestored { throw ExitCode(status.rawValue) }
    }
}

/// `--sensor` as descriptions: an unknown id is a usage error (64), a bad file a failure (1).
func resolveSensor(_ argument: String) throws -> [SensorDescription] {
    do {
        return try SensorDescription.resolve(argument)
    } catch let error as SensorDescriptionError {
        if case .unknownSensor = error { throw fail(error.description, status: ExitCode(RestoreExitStatus.usage.rawValue)) }
        throw fail(error.description)
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
