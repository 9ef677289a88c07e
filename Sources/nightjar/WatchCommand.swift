import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Restore every RAW frame that lands in a directory (the daemon; see systemd/).",
        discussion: """
            Settings come from --config FILE (key = value lines, # comments) and from flags of \
            the same names; flags win. Each PNG is written to a temporary name, synced and \
            renamed before its original is moved to done/ (or deleted, or kept); frames that \
            cannot be restored go to failed/ with NAME.error.txt. SIGTERM stops after the frame \
            in hand, SIGHUP reloads the configuration.
            Exit status: 0 stopped by SIGTERM/SIGINT, 1 cannot start (model, directories), \
            64 bad configuration or flags, 70 internal error.
            """
    )

    @Option(help: "Configuration file (key = value; every key is also a flag).")
    var config: String?
    @Option(help: "The directory the camera writes RAW files into.")
    var captureDir: String?
    @Option(help: "Where the PNGs go.")
    var outputDir: String?
    @Option(help: "The Nightjar model file (from `nightjar convert`).")
    var model: String?
    @Option(help: "Numeric precision: auto (the best the model carries), fp32, fp16 or int8.")
    var precision: String?
    @Option(help: "Restore frames too bright for an int8 model's calibration in fp16 or fp32 instead (none, the default; fp16; fp32), as `restore --int8-fallback`.")
    var int8Fallback: String?
    @Option(help: "Worker threads (default: all cores).")
    var threads: String?
    @Option(help: "Bits per PNG sample: 8 or 16.")
    var bits: String?
    @Option(help: "Plan the memory for frames up to WxH at start-up and send larger ones to failed/.")
    var maxSize: String?
    @Option(help: "What to do with a restored original: move (into done/), delete or keep.")
    var originals: String?
    @Flag(help: "Also write OUTPUT.png.json with the restore report.")
    var sidecar = false
    @Option(help: "A link of this name in the output directory to the newest output.")
    var latest: String?
    @Option(help: "Output path template: {stem} {name} {ext} {date} {time} (default {stem}.png).")
    var name: String?
    @Option(help: "Seconds a file must stay unchanged before it is taken (default 2).")
    var settle: String?
    @Option(help: "Seconds between full scans of the capture directory (default 30).")
    var rescan: String?
    @Option(help: "The Prometheus textfile (default CAPTURE/.nightjar/nightjar.prom).")
    var metrics: String?
    @Option(help: "The amplifier's target factor m (default 5).")
    var m: String?
    @Flag(help: "Keep the sensor's orientation instead of applying the camera's.")
    var noRotate = false
    @Flag(help: "Lock the network's memory arena into RAM (mlock).")
    var mlock = false
    @Option(help: "Colour: camera (the file's own white balance and matrix, default) or network, as `restore --color`.")
    var color: String?
    @Option(help: "White balance of camera colour: camera, auto or R,G,B, as `restore --white-balance`.")
    var whiteBalance: String?
    @Option(help: "How to read headerless sensor dumps (.raw): a built-in mode, a sensor or a JSON file, as `restore --sensor`.")
    var sensor: String?
    @Option(help: "PNG compression: fast (default), small or a zlib level 0-9, as `restore --png-compression`.")
    var pngCompression: String?
    @Flag(help: "Print the effective settings and exit (0 when they are valid).")
    var check = false

    /// The flags given, as (key, value) in the configuration file's terms. The keys are the
    /// properties' names as the argument parser spells them (`captureDir` is `--capture-dir`), so
    /// `WatchSettings.keys` stays the one list of keys; a flag without a key is refused there.
    var flags: [(String, String)] {
        var result: [(String, String)] = []
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            let key = Self.flagName(String(label.dropFirst()))
            if let option = child.value as? Option<String?>, key != "config", let value = option.wrappedValue {
                result.append((key, value))
            } else if let flag = child.value as? Flag<Bool>, key != "check", flag.wrappedValue {
                result.append((key, "yes"))
            }
        }
        return result
    }

    /// `captureDir` -> `capture-dir`, the argument parser's own naming of a property's flag.
    static func flagName(_ property: String) -> String {
        property.reduce(into: "") { name, c in name += c.isUppercase ? "-" + c.lowercased() : String(c) }
    }

    func run() throws {
        // Before anything slow: a SIGTERM or SIGHUP during start-up waits for the loop.
        if !check { Watcher.blockSignals() }
        let settings: WatchSettings
        do {
            settings = try WatchSettings.load(configurationFile: config, flags: flags)
        } catch let error as WatchConfigurationError {
            if case .unreadable = error { throw fail(error.description) }
            throw fail(error.description, status: ExitCode(RestoreExitStatus.usage.rawValue))
        }
        if check {
            standardOutput(String(settings.configurationText.dropLast()))
            return
        }
        let watcher: Watcher
        do {
            watcher = try Watcher(settings: settings, configurationFile: config, flags: flags)
        } catch let error as CustomStringConvertible {
            ServiceLog.error(error.description)
            throw ExitStatus.failure
        }
        let status = watcher.run()
        if status != 0 { throw ExitCode(status) }
    }
}
