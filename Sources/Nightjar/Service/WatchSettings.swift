import FoundationEssentials
import Glibc

/// What to do with an original once its PNG is safely on disk.
public enum OriginalsPolicy: String, Sendable, CaseIterable {
    /// Into `done/` under the capture directory (the default).
    case move
    case delete
    /// Left in place; `.nightjar/kept` remembers it was restored.
    case keep
}

/// The settings of `nightjar watch`, from a configuration file and flags. Every configuration
/// key is also a flag of the same name (`bits = 16` and `--bits 16`); flags win.
public struct WatchSettings: Sendable, Equatable {
    public var captureDirectory = ""
    public var outputDirectory = ""
    public var model = ""
    /// fp32, fp16 or int8, or `auto`: the best the model carries.
    public var precision = "auto"
    /// fp16 or fp32: frames too bright for an int8 network run in this precision instead
    /// (`restore --int8-fallback`); nil: none.
    public var int8Fallback: Precision?
    public var threads = Engine.availableCores
    public var bits = 8
    /// Plan all memory for frames up to this visible size at start-up (nil: grow).
    public var maxSize: Size?
    public var originals = OriginalsPolicy.move
    public var sidecar = false
    /// A symbolic link in the output directory to the newest output, replaced atomically.
    public var latest: String?
    /// The output's path under the output directory: `{stem}`, `{name}`, `{ext}`, `{date}`, `{time}`.
    public var name = OutputName.defaultTemplate
    /// A file is taken once it has not changed for this long.
    public var settleSeconds = 2.0
    /// A full scan of the capture directory this often, besides inotify.
    public var rescanSeconds = 30.0
    /// The Prometheus textfile; nil: `.nightjar/nightjar.prom` in the capture directory.
    public var metrics: String?
    public var m = 5.0
    public var noRotate = false
    public var mlock = false
    /// Where the colour comes from (`--color`, as `restore`), and its white balance.
    public var color = ColorMode.camera
    public var whiteBalance = WhiteBalance.camera
    /// How to read headerless sensor dumps (`--sensor ID|FILE`, as `restore`); nil: by size.
    public var sensor: String?
    public var sensorDescriptions: [SensorDescription] = []
    /// zlib level of the PNGs (`--png-compression fast|small|0-9`, as `restore`).
    public var compressionLevel = 1

    public struct Size: Sendable, Equatable, CustomStringConvertible {
        public var width: Int
        public var height: Int
        public var description: String { "\(width)x\(height)" }
    }

    public init() {}

    /// The keys, as in a configuration file and (with `--`) on the command line.
    public static let keys = ["capture-dir", "output-dir", "model", "precision", "int8-fallback", "threads", "bits", "max-size", "originals",
                              "sidecar", "latest", "name", "settle", "rescan", "metrics", "m", "no-rotate", "mlock",
                              "color", "white-balance", "sensor", "png-compression"]

    /// Sets `key` from its text; `source` names where it came from for the error message.
    public mutating func set(_ key: String, _ value: String, source: String) throws {
        func bad(_ why: String) -> WatchConfigurationError { .badValue(source: source, key: key, value: value, reason: why) }
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            guard let n = Int(value), range.contains(n) else { throw bad("expected a whole number in \(range.lowerBound)...\(range.upperBound)") }
            return n
        }
        func seconds() throws -> Double {
            guard let s = Double(value), s.isFinite, s >= 0, s <= 86_400 else { throw bad("expected seconds, 0...86400") }
            return s
        }
        func boolean() throws -> Bool {
            switch value.lowercased() {
            case "yes", "true", "on", "1": return true
            case "no", "false", "off", "0": return false
            default: throw bad("expected yes or no")
            }
        }
        func path() throws -> String {
            guard !value.isEmpty else { throw bad("expected a path") }
            return value
        }
        switch key {
        case "capture-dir": captureDirectory = try path()
        case "output-dir": outputDirectory = try path()
        case "model": model = try path()
        case "precision":
            guard value == "auto" || KernelInfo.runnablePrecisions.contains(value) else {
                throw bad(Precision(rawValue: value) != nil
                    ? "not available in this build; use " + KernelInfo.runnablePrecisions.joined(separator: " or ")
                    : "expected auto, " + KernelInfo.runnablePrecisions.joined(separator: ", "))
            }
            precision = value
        case "int8-fallback":
            switch value {
            case "none": int8Fallback = nil
            case "fp16", "fp32":
                guard KernelInfo.runnablePrecisions.contains(value) else { throw bad("not available in this build") }
                int8Fallback = Precision(rawValue: value)
            default: throw bad("expected none, fp16 or fp32")
            }
        case "threads": threads = try integer(1...min(256, 4 * Engine.availableCores))
        case "bits":
            guard value == "8" || value == "16" else { throw bad("expected 8 or 16") }
            bits = Int(value)!
        case "max-size":
            let parts = value.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 2, let w = parts[0], let h = parts[1], (1...65_535).contains(w), (1...65_535).contains(h) else {
                throw bad("expected WIDTHxHEIGHT, e.g. 4056x3040")
            }
            maxSize = Size(width: w, height: h)
        case "originals":
            guard let policy = OriginalsPolicy(rawValue: value) else { throw bad("expected move, delete or keep") }
            originals = policy
        case "sidecar": sidecar = try boolean()
        case "latest":
            guard !value.isEmpty, !value.contains("/"), !value.hasPrefix(".") else { throw bad("expected a plain file name") }
            latest = value
        case "name":
            do { try OutputName.validate(value) } catch let error as OutputName.TemplateError { throw bad(error.reason) }
            name = value
        case "settle": settleSeconds = try seconds()
        case "rescan":
            let s = try seconds()
            guard s >= 0.1 else { throw bad("expected at least 0.1 seconds") }
            rescanSeconds = s
        case "metrics": metrics = try path()
        case "m":
            guard let m = Double(value), m.isFinite, m > 0 else { throw bad("expected a positive number") }
            self.m = m
        case "no-rotate": noRotate = try boolean()
        case "mlock": mlock = try boolean()
        case "color":
            guard let mode = ColorMode(rawValue: value.lowercased()) else { throw bad("expected camera or network") }
            color = mode
        case "white-balance":
            guard let balance = WhiteBalance(argument: value) else { throw bad("expected camera, auto or three positive numbers R,G,B") }
            whiteBalance = balance
        case "sensor":
            do {
                sensorDescriptions = try SensorDescription.resolve(value)
            } catch let error as SensorDescriptionError {
                throw bad(error.description)
            }
            sensor = value
        case "png-compression":
            guard let level = RestoreOptions.compressionLevel(named: value) else { throw bad("expected fast, small or a level 0...9") }
            compressionLevel = level
        default: throw WatchConfigurationError.unknownKey(source: source, key: key)
        }
    }

    /// Reads a configuration file: `key = value` lines; `#` starts a comment line; blank lines
    /// are skipped; a value may be quoted with "..." (to keep leading or trailing spaces).
    /// Unknown keys and malformed lines are errors naming the line.
    public mutating func read(configuration text: String, path: String) throws {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let source = "\(path):\(index + 1)"
            let line = trimmed(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else { throw WatchConfigurationError.badLine(source: source, line: String(line)) }
            let key = trimmed(line[..<equals])
            var value = trimmed(line[line.index(after: equals)...])
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard !key.isEmpty else { throw WatchConfigurationError.badLine(source: source, line: String(line)) }
            try set(key, value, source: source)
        }
    }

    /// Loads `configurationFile` (if any), then applies `flags` (key, value) in order.
    public static func load(configurationFile: String?, flags: [(String, String)]) throws -> WatchSettings {
        var settings = WatchSettings()
        if let file = configurationFile {
            let bytes: [UInt8]
            do {
                bytes = try FileContents.bytes(atPath: file)
            } catch {
                throw WatchConfigurationError.unreadable(path: file, reason: "\(error)")
            }
            try settings.read(configuration: String(decoding: bytes, as: UTF8.self), path: file)
        }
        for (key, value) in flags { try settings.set(key, value, source: "--\(key)") }
        try settings.checkComplete()
        return settings
    }

    /// The settings every daemon needs.
    public func checkComplete() throws {
        if captureDirectory.isEmpty { throw WatchConfigurationError.missing(key: "capture-dir") }
        if outputDirectory.isEmpty { throw WatchConfigurationError.missing(key: "output-dir") }
        if model.isEmpty { throw WatchConfigurationError.missing(key: "model") }
    }

    /// The settings as a configuration file would give them (for `watch --check`).
    public var configurationText: String {
        var lines = [
            "capture-dir = \(captureDirectory)", "output-dir = \(outputDirectory)", "model = \(model)",
            "precision = \(precision)", "int8-fallback = \(int8Fallback?.rawValue ?? "none")", "threads = \(threads)", "bits = \(bits)",
        ]
        if let maxSize { lines.append("max-size = \(maxSize)") }
        lines += ["originals = \(originals.rawValue)", "sidecar = \(sidecar ? "yes" : "no")"]
        if let latest { lines.append("latest = \(latest)") }
        lines += ["name = \(name)", "settle = \(settleSeconds)", "rescan = \(rescanSeconds)", "metrics = \(metricsPath)",
                  "m = \(m)", "no-rotate = \(noRotate ? "yes" : "no")", "mlock = \(mlock ? "yes" : "no")",
                  "color = \(color.rawValue)", "white-balance = \(whiteBalance)", "png-compression = \(compressionLevel)"]
        if let sensor { lines.append("sensor = \(sensor)") }
        return lines.joined(separator: "\n") + "\n"
    }

    public var metricsPath: String {
        metrics ?? URL(fileURLWithPath: captureDirectory).appendingPathComponent(".nightjar/nightjar.prom").path
    }

    /// The restore options these settings give.
    public var restoreOptions: RestoreOptions {
        var options = RestoreOptions(m: m, bits: bits, rotate: !noRotate, overwrite: false, sidecar: sidecar)
        options.color = color
        options.whiteBalance = whiteBalance
        options.sensorDescriptions = sensorDescriptions
        options.compressionLevel = compressionLevel
        return options
    }

    /// Whether going from `self` to `other` needs a new `Restorer` (model, memory, options).
    public func needsNewRestorer(_ other: WatchSettings) -> Bool {
        model != other.model || precision != other.precision || int8Fallback != other.int8Fallback || threads != other.threads || maxSize != other.maxSize
            || restoreOptions != other.restoreOptions || mlock != other.mlock
    }
}

/// `text` without leading and trailing spaces and tabs (and a CR from a Windows editor).
func trimmed(_ text: Substring) -> String {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) }) else { return "" }
    return String(text[first...last])
}

public enum WatchConfigurationError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case badLine(source: String, line: String)
    case unknownKey(source: String, key: String)
    case badValue(source: String, key: String, value: String, reason: String)
    case missing(key: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read the configuration: \(reason)"
        case .badLine(let source, let line): return "\(source): expected 'key = value', found '\(line)'"
        case .unknownKey(let source, let key):
            return "\(source): unknown setting '\(key)' (known: \(WatchSettings.keys.joined(separator: ", ")))"
        case .badValue(let source, let key, let value, let reason): return "\(source): \(key) = '\(value)': \(reason)"
        case .missing(let key): return "no \(key) given (set '\(key) = ...' in the configuration or pass --\(key))"
        }
    }
}

/// The output's path from a template: `{stem}` (the RAW file's name without extension),
/// `{name}` (with it), `{ext}`, `{date}` (YYYY-MM-DD) and `{time}` (HHMMSS) from the file's
/// modification time in local time (which camera tools set when they write the frame).
public enum OutputName {
    public static let defaultTemplate = "{stem}.png"
    static let fields = ["stem", "name", "ext", "date", "time"]

    public struct TemplateError: Error { public var reason: String }

    public static func validate(_ template: String) throws {
        guard !template.isEmpty, !template.hasPrefix("/") else { throw TemplateError(reason: "expected a relative path") }
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { throw TemplateError(reason: "an unclosed '{'") }
            let field = String(rest[rest.index(after: open)..<close])
            guard fields.contains(field) else {
                throw TemplateError(reason: "unknown field {\(field)} (known: \(fields.map { "{\($0)}" }.joined(separator: ", ")))")
            }
            rest = rest[rest.index(after: close)...]
        }
        guard template.contains("{stem}") || template.contains("{name}") else {
            throw TemplateError(reason: "must contain {stem} or {name}, or every frame would get the same name")
        }
        let components = template.split(separator: "/")
        guard !components.contains(where: { $0 == ".." || $0 == "." || $0.hasPrefix(".") }) else {
            throw TemplateError(reason: "no '..', '.' or hidden components")
        }
    }

    /// The relative output path for `fileName` modified at `modified` (seconds since 1970).
    public static func render(_ template: String, fileName: String, modified: Int) -> String {
        let dot = fileName.lastIndex(of: ".")
        let stem = dot.map { String(fileName[..<$0]) } ?? fileName
        let ext = dot.map { String(fileName[fileName.index(after: $0)...]) } ?? ""
        var t = time_t(modified)
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
        let time = "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))"
        return template.replacing("{stem}", with: stem).replacing("{name}", with: fileName)
            .replacing("{ext}", with: ext).replacing("{date}", with: date).replacing("{time}", with: time)
    }
}
