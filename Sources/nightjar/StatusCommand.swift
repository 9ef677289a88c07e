import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what `nightjar watch` is doing: its counters and the capture directory's queue.",
        discussion: "Exit status: 0 a daemon is running, 3 none is running, 64 usage error."
    )

    @Option(help: "The daemon's configuration file (for capture-dir and metrics).")
    var config: String?
    @Option(help: "The capture directory (overrides the configuration).")
    var captureDir: String?
    @Option(help: "The Prometheus textfile (overrides the configuration).")
    var metrics: String?
    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        var settings = WatchSettings()
        do {
            if let config {
                let bytes = try FileContents.bytes(atPath: config)
                try settings.read(configuration: String(decoding: bytes, as: UTF8.self), path: config)
            }
            if let captureDir { try settings.set("capture-dir", captureDir, source: "--capture-dir") }
            if let metrics { try settings.set("metrics", metrics, source: "--metrics") }
            if settings.captureDirectory.isEmpty { throw WatchConfigurationError.missing(key: "capture-dir") }
        } catch let error as CustomStringConvertible {
            throw fail(error.description, status: ExitCode(RestoreExitStatus.usage.rawValue))
        }
        let survey = CaptureSpool.survey(URL(fileURLWithPath: settings.captureDirectory))
        let counters = (try? FileContents.bytes(atPath: settings.metricsPath)).map { WatchMetrics(text: String(decoding: $0, as: UTF8.self)) }
        let now = Double(time(nil))
        if json {
            var fields = [
                "\"capture_dir\":\(jsonQuoted(settings.captureDirectory))", "\"daemons\":\(survey.daemons)",
                "\"waiting\":\(survey.waiting)", "\"in_progress\":\(survey.inProgress)", "\"failed_files\":\(survey.failed)",
                "\"done_files\":\(survey.done)",
            ]
            if let c = counters {
                fields += ["\"restored\":\(c.restored)", "\"failed\":\(c.failed)", "\"int8_clipped\":\(c.int8Clipped)", "\"int8_fallback\":\(c.int8Fallback)",
                           "\"seconds_sum\":\(c.secondsSum)",
                           "\"last_frame_time\":\(c.lastFrameTime)", "\"start_time\":\(c.startTime)", "\"paused\":\(c.paused)",
                           "\"arena_bytes\":\(c.arenaBytes)"]
            }
            standardOutput("{" + fields.joined(separator: ",") + "}")
        } else {
            var lines = ["capture directory: \(settings.captureDirectory)",
                         "daemons running: \(survey.daemons)",
                         "queue: \(survey.waiting) waiting, \(survey.inProgress) in progress; \(survey.failed) in failed/, \(survey.done) in done/"]
            if let c = counters {
                var line = "since the daemon started: \(c.restored) restored, \(c.failed) failed"
                if c.restored > 0 { line += formatted(", %.2f s per frame on average", c.secondsSum / Double(c.restored)) }
                lines.append(line)
                lines.append(c.lastFrameTime > 0
                             ? "last frame: " + formatted("%.0f s ago", max(0, now - c.lastFrameTime))
                             : "last frame: none yet")
                if c.int8Clipped > c.int8Fallback {
                    lines.append("int8: \(c.int8Clipped - c.int8Fallback) of the restored frames were brighter than the model was calibrated for "
                                 + "(see the daemon's warnings; calibrate with such frames, or set int8-fallback = fp16)")
                }
                if c.int8Fallback > 0 {
                    lines.append("int8: \(c.int8Fallback) frames too bright for the model's calibration were restored in the int8 fallback's precision")
                }
                if c.paused { lines.append("paused: the output is full or unwritable; retrying (see the daemon's log)") }
            } else {
                lines.append("no metrics at \(settings.metricsPath) (the daemon has not run here?)")
            }
            standardOutput(lines.joined(separator: "\n"))
        }
        if survey.daemons == 0 { throw ExitCode(3) }
    }
}
