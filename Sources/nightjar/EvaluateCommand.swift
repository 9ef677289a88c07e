import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

/// `--color camera|network`: the library's own modes, named as `restore --color` names them.
extension ColorMode: ExpressibleByArgument {}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure PSNR, SSIM and ΔE of restored short exposures against their long exposures.",
        discussion: """
            PAIRS are directories or RAW files paired by SID's naming (SCENE_NN_0.1s.ARW with \
            SCENE_00_10s.ARW), or CSV files of short,long[,ratio] rows. Each short exposure is \
            restored as `restore` does (amplified by the exposure ratio, capped at 300, unless \
            --m is given) and compared with the long exposure rendered by LibRaw (camera white \
            balance, sRGB, default gamma, no auto-brightening, rounded to 8 bits). With \
            --int8-fallback, int8 configurations restore pairs too bright for the calibration in \
            that precision, as restore does; the table marks them "int8 (fp16)".
            Exit status: 0 every pair measured, 1 none, 2 some pairs failed, 64 usage error, \
            70 internal error.
            """
    )

    @Argument(help: "Directories, RAW files (paired by SID's naming) or CSV files of short,long[,ratio].")
    var pairs: [String]

    @Option(help: "A Nightjar model file (from `nightjar convert`); repeat to compare models.")
    var model: [String]

    @Option(help: "Numeric precision: \(PrecisionOption.allValueStrings.joined(separator: ", ")); repeatable.")
    var precision: [PrecisionOption] = []

    @Option(help: "Colour mode: \(ColorMode.allValueStrings.joined(separator: ", ")); repeatable.")
    var color: [ColorMode] = []

    @Option(help: Int8FallbackOption.help)
    var int8Fallback: Int8FallbackOption = .none

    @Option(help: "Use the paper's amplifier with this target factor instead of the exposure ratio.")
    var m: Double?

    @Flag(help: "One JSON object per pair and configuration on stdout, then one summary object per configuration.")
    var json = false

    @Option(help: "Also write the per-pair results to this CSV file (replaced if it exists).")
    var csv: String?

    @Option(help: "Keep the restored images and the 8-bit references in this directory (files there are replaced).")
    var saveDir: String?

    @Option(help: "Refuse RAW files with more pixels than this, before decoding them.")
    var maxPixels: Int = 100_000_000

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = Engine.availableCores

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one --model") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let m { guard m.isFinite, m > 0 else { throw ValidationError("--m must be a positive number") } }
        guard maxPixels >= 0 else { throw ValidationError("--max-pixels must not be negative") }
    }

    /// One model × precision × colour mode.
    struct Configuration {
        var modelPath: String
        var modelName: String
        var precision: PrecisionOption
        var color: ColorMode
    }

    func run() throws {
        let precisions = precision.isEmpty ? [PrecisionOption.fp32] : unique(precision)
        let colors = color.isEmpty ? [ColorMode.camera] : unique(color)
        for p in precisions { try p.requireSupported() }
        let usage = ExitCode(RestoreExitStatus.usage.rawValue)

        // The pairs: found before any model is loaded, so a typo costs nothing.
        let found: (pairs: [EvaluationPair], unpaired: [UnpairedInput])
        do {
            found = try EvaluationPairs.collect(pairs.map { URL(fileURLWithPath: $0) })
        } catch let error as CaptureError {
            throw fail(error.description, status: usage)
        }
        for input in found.unpaired { StandardStream.error.write("nightjar: warning: skipped \(input.description)\n") }
        guard !found.pairs.isEmpty else {
            throw fail("no short/long pairs found in \(pairs.joined(separator: ", "))", status: usage)
        }

        // The CSV is written at the end: find out now whether it can be.
        if let csv {
            let folder = URL(fileURLWithPath: csv).deletingLastPathComponent().path
            guard FileKind(atPath: csv) != .directory, FileKind(atPath: folder) == .directory, access(folder, W_OK | X_OK) == 0 else {
                throw fail("\(csv): cannot write the CSV there (its directory must exist and be writable)", status: usage)
            }
        }

        // Where the restored images go: --save-dir, or a private directory removed at the end.
        let directory: URL
        var temporary: URL?
        if let saveDir {
            directory = URL(fileURLWithPath: saveDir)
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw fail("\(saveDir): cannot create the directory: \(SystemError.reason(for: error))")
            }
        } else {
            var template = Array((FileManager.default.temporaryDirectory.path + "/nightjar-evaluate-XXXXXX").utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
                throw fail("cannot create a temporary directory: \(SystemError.last)")
            }
            directory = URL(fileURLWithPath: String(cString: made))
            temporary = directory
        }
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }

        let stems = model.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        let names = Set(stems).count == stems.count ? stems : model
        var configurations: [Configuration] = []
        for (path, name) in zip(model, names) {
            for p in precisions { for c in colors { configurations.append(Configuration(modelPath: path, modelName: name, precision: p, color: c)) } }
        }
        var options = RestoreOptions(m: m ?? 5, maxPixels: maxPixels)
        options.compressionLevel = 1
        // One Restorer per model and precision, the same restore path as `restore`; each
        // pair's ratio and colour mode go in per call.
        var restorers: [String: Restorer] = [:]
        for configuration in configurations {
            let key = configuration.modelPath + "\u{0}" + configuration.precision.rawValue
            guard restorers[key] == nil else { continue }
            restorers[key] = try reportingErrors {
                try Restorer(modelURL: URL(fileURLWithPath: configuration.modelPath), options: options, threads: threads,
                             precision: configuration.precision.precision, int8Fallback: int8Fallback.precision)
            }
        }
        // The fallback only exists for int8 networks: said once when none of them has one.
        if let first = restorers.values.first, restorers.values.allSatisfy({ $0.engine.fallback == nil }),
           let warning = first.engine.unusedFallbackWarning(int8Fallback.precision) {
            StandardStream.error.write("nightjar: warning: \(warning)\n")
        }

        let progress = ProgressLine(enabled: !json && isatty(STDERR_FILENO) != 0)
        let total = found.pairs.count * configurations.count
        var results: [(configuration: Int, result: EvaluationResult)] = []
        var failures = 0
        var done = 0
        for (pairIndex, pair) in found.pairs.enumerated() {
            var reference: EvaluationReference?
            /// One error line (and JSON object) for `count` configurations that failed alike.
            func report(_ error: Error, count: Int = 1) {
                failures += count
                progress.clear()
                let text = (error as? CustomStringConvertible)?.description ?? "\(error)"
                StandardStream.error.write("nightjar: error: \(text)\n")
                if json {
                    standardOutput(#"{"error":\#(jsonQuoted(text)),"short":\#(jsonQuoted(pair.short.path)),"long":\#(jsonQuoted(pair.long.path))}"#)
                }
            }
            let ratio: Double
            do {
                ratio = try pair.ratio ?? EvaluationPairs.exposureRatio(pair)
            } catch {
                report(error, count: configurations.count)
                done += configurations.count
                continue
            }
            options.amplification = m == nil ? ratio : nil
            let stem = pair.short.deletingPathExtension().lastPathComponent
            // A reference that cannot be rendered fails the pair's remaining configurations at once.
            for (index, configuration) in configurations.enumerated() {
                defer { done += 1 }
                let name = saveDir == nil ? "\(pairIndex)-\(index).png"
                    : "\(stem)-\(configuration.modelName)-\(configuration.precision.rawValue)-\(configuration.color.rawValue).png"
                let savedReference = saveDir == nil ? nil : directory.appendingPathComponent("\(stem)-reference.png")
                options.color = configuration.color
                do {
                    let result = try Evaluation.evaluate(
                        pair, ratio: ratio, options: options, output: directory.appendingPathComponent(name),
                        modelName: configuration.modelName, restorer: restorers[configuration.modelPath + "\u{0}" + configuration.precision.rawValue]!,
                        reference: &reference, savedReference: savedReference)
                    results.append((index, result))
                    if json { standardOutput(jsonLine(result, configuration, savedReference: savedReference)) }
                    progress.update(done: done + 1, total: total, "\(stem) " + formatted("(PSNR %.2f dB, SSIM %.4f)", result.score.psnr, result.score.ssim))
                } catch let error as CaptureError where reference == nil && (error.path == pair.long.path || error.path.isEmpty) {
                    report(error, count: configurations.count - index)
                    done += configurations.count - index - 1
                    break
                } catch {
                    report(error)
                }
            }
        }
        progress.clear()

        let summaries = configurations.indices.map { index in
            (configuration: configurations[index], results: results.filter { $0.configuration == index }.map(\.result))
        }
        if json {
            for summary in summaries { standardOutput(jsonSummary(summary.configuration, summary.results)) }
        } else {
            printTable(results.map { (configurations[$0.configuration], $0.result) }, summaries)
        }
        if let csv {
            var text = "short,long,ratio,model,precision,color,psnr,ssim,delta_e,seconds" + (int8Fallback == .none ? "" : ",int8_fallback") + "\n"
            for (index, result) in results {
                let c = configurations[index]
                text += [csvField(result.pair.short.path), csvField(result.pair.long.path), formatted("%g", result.ratio),
                         csvField(c.modelName), c.precision.rawValue, c.color.rawValue, formatted("%.4f", result.score.psnr),
                         formatted("%.6f", result.score.ssim), formatted("%.4f", result.score.deltaE),
                         formatted("%.3f", result.seconds)].joined(separator: ",")
                    + (int8Fallback == .none ? "" : "," + (result.int8Fallback ?? "")) + "\n"
            }
            do {
                try CaptureOutput.writeData(Data(text.utf8), to: URL(fileURLWithPath: csv), overwrite: true)
            } catch let error as CaptureError {
                throw fail(error.description)
            }
        }
        if failures > 0 { throw ExitCode(results.isEmpty ? ExitStatus.failure.rawValue : ExitStatus.partialFailure.rawValue) }
    }

    func unique<T: Equatable>(_ values: [T]) -> [T] {
        values.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// A finite number with `format`, or null (PSNR of identical images is infinite).
    func number(_ value: Double, _ format: String) -> String {
        value.isFinite ? formatted(format, value) : "null"
    }

    func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + text.replacing("\"", with: "\"\"") + "\"" : text
    }

    /// One result; with --save-dir also where the restored image and the reference are kept.
    func jsonLine(_ result: EvaluationResult, _ c: Configuration, savedReference: URL?) -> String {
        let saved = savedReference.map { #","restored":\#(jsonQuoted(result.restored.path)),"reference":\#(jsonQuoted($0.path))"# } ?? ""
        return #"{"short":\#(jsonQuoted(result.pair.short.path)),"long":\#(jsonQuoted(result.pair.long.path)),"ratio":\#(formatted("%g", result.ratio)),"#
            + #""amplification":\#(formatted("%.6g", result.amplification)),"model":\#(jsonQuoted(c.modelName)),"precision":"\#(c.precision.rawValue)","color":"\#(c.color.rawValue)","#
            + #""psnr":\#(number(result.score.psnr, "%.6f")),"ssim":\#(formatted("%.8f", result.score.ssim)),"delta_e":\#(formatted("%.6f", result.score.deltaE)),"seconds":\#(formatted("%.4f", result.seconds))"#
            + (result.int8Fallback.map { #","int8_fallback":"\#($0)""# } ?? "") + saved + "}"
    }

    func means(_ results: [EvaluationResult]) -> (psnr: Double, ssim: Double, deltaE: Double) {
        let n = Double(results.count)
        return (results.map(\.score.psnr).reduce(0, +) / n, results.map(\.score.ssim).reduce(0, +) / n,
                results.map(\.score.deltaE).reduce(0, +) / n)
    }

    func jsonSummary(_ c: Configuration, _ results: [EvaluationResult]) -> String {
        let mean = means(results)
        let fields = results.isEmpty ? #""mean_psnr":null,"mean_ssim":null,"mean_delta_e":null"#
            : #""mean_psnr":\#(number(mean.psnr, "%.6f")),"mean_ssim":\#(formatted("%.8f", mean.ssim)),"mean_delta_e":\#(formatted("%.6f", mean.deltaE))"#
        let fallback = int8Fallback == .none ? "" : #","int8_fallback":\#(results.filter { $0.int8Fallback != nil }.count)"#
        return #"{"model":\#(jsonQuoted(c.modelName)),"precision":"\#(c.precision.rawValue)","color":"\#(c.color.rawValue)",\#(fields),"pairs":\#(results.count)\#(fallback)}"#
    }

    /// The terminal table: one row per pair and configuration, then the means.
    func printTable(_ rows: [(Configuration, EvaluationResult)], _ summaries: [(configuration: Configuration, results: [EvaluationResult])]) {
        func table(_ header: [String], _ body: [[String]], rightFrom: Int) {
            let widths = header.indices.map { i in ([header] + body).map { $0[i].count }.max() ?? 0 }
            for line in [header] + body {
                let cells = line.indices.map { i in
                    let pad = String(repeating: " ", count: widths[i] - line[i].count)
                    return i >= rightFrom ? pad + line[i] : line[i] + pad
                }
                standardOutput(cells.joined(separator: "  "))
            }
        }
        table(["short", "long", "model", "precision", "color", "ratio", "PSNR dB", "SSIM", "ΔE", "s"],
              rows.map { c, r in
                  [r.pair.short.lastPathComponent, r.pair.long.lastPathComponent, c.modelName,
                   c.precision.rawValue + (r.int8Fallback.map { " (\($0))" } ?? ""), c.color.rawValue,
                   formatted("%g", r.ratio), r.score.psnr.isFinite ? formatted("%.2f", r.score.psnr) : "inf",
                   formatted("%.4f", r.score.ssim), formatted("%.2f", r.score.deltaE), formatted("%.2f", r.seconds)]
              }, rightFrom: 5)
        standardOutput("")
        table(["model", "precision", "color", "pairs", "mean PSNR dB", "mean SSIM", "mean ΔE"],
              summaries.map { s in
                  let mean = means(s.results)
                  let empty = s.results.isEmpty
                  return [s.configuration.modelName, s.configuration.precision.rawValue, s.configuration.color.rawValue, "\(s.results.count)",
                          empty ? "-" : mean.psnr.isFinite ? formatted("%.2f", mean.psnr) : "inf",
                          empty ? "-" : formatted("%.4f", mean.ssim), empty ? "-" : formatted("%.2f", mean.deltaE)]
              }, rightFrom: 3)
    }
}
