import FoundationEssentials
import NightjarIOShims

/// A short (dark) exposure and the long exposure of the same scene that is its reference.
public struct EvaluationPair: Sendable, Equatable {
    public var short: URL
    public var long: URL
    /// The exposure ratio long / short, capped at `EvaluationPairs.maximumRatio`; nil until
    /// read from the files' EXIF (`EvaluationPairs.exposureRatio`).
    public var ratio: Double?

    public init(short: URL, long: URL, ratio: Double?) {
        self.short = short
        self.long = long
        self.ratio = ratio
    }
}

/// A file name in SID's layout, `SCENE_NN_EXPOSUREs.EXT`: `10003_00_0.1s.ARW` is scene 10003,
/// shot 00, 0.1 s.
public struct SIDName: Sendable, Equatable {
    public var scene: String
    public var shot: String
    /// Seconds.
    public var exposure: Double

    /// Parses a file name (any extension), or nil when it does not follow the layout.
    public init?(_ fileName: String) {
        var stem = Substring(fileName)
        if let dot = stem.lastIndex(of: ".") { stem = stem[..<dot] }
        let fields = stem.split(separator: "_", omittingEmptySubsequences: false)
        guard fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty, fields[1].allSatisfy(\.isASCII),
              fields[1].allSatisfy(\.isNumber), fields[2].hasSuffix("s") else { return nil }
        let number = fields[2].dropLast()
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let seconds = Double(number), seconds.isFinite, seconds > 0 else { return nil }
        scene = String(fields[0])
        shot = String(fields[1])
        exposure = seconds
    }
}

/// A file or CSV row that could not be made into a pair, and why (reported, never dropped).
public struct UnpairedInput: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Finds the short/long pairs to evaluate.
public enum EvaluationPairs {
    /// SID caps the amplification at 300 (its own ratios are 100, 250 and 300).
    public static let maximumRatio = 300.0

    /// long / short, capped at `maximumRatio`.
    public static func ratio(long: Double, short: Double) -> Double {
        min(long / short, maximumRatio)
    }

    /// Pairs RAW files by SID's naming: files of one scene id pair the longest exposure (the
    /// reference; the lowest shot number if several) with each shorter one. Files that do not
    /// follow the naming, scenes with a single exposure, and second long exposures come back
    /// as `unpaired`. Pairs are sorted by the short exposure's path.
    public static func match(_ files: [URL]) -> (pairs: [EvaluationPair], unpaired: [UnpairedInput]) {
        var scenes: [String: [(url: URL, name: SIDName)]] = [:]
        var unpaired: [UnpairedInput] = []
        for url in files {
            guard let name = SIDName(url.lastPathComponent) else {
                unpaired.append(UnpairedInput(path: url.path, reason: "not named like SID's SCENE_NN_EXPOSUREs (e.g. 10003_00_0.1s.ARW); list it in a CSV of short,long rows instead"))
                continue
            }
            scenes[name.scene, default: []].append((url, name))
        }
        var pairs: [EvaluationPair] = []
        for (scene, members) in scenes {
            let sorted = members.sorted { ($0.name.exposure, $1.name.shot, $1.url.path) > ($1.name.exposure, $0.name.shot, $0.url.path) }
            let long = sorted[0]
            guard sorted.count > 1 else {
                unpaired.append(UnpairedInput(path: long.url.path, reason: "no other exposure of scene \(scene) was given"))
                continue
            }
            for member in sorted.dropFirst() {
                if member.name.exposure >= long.name.exposure {
                    unpaired.append(UnpairedInput(path: member.url.path, reason: "as long an exposure as \(long.url.lastPathComponent), the reference of scene \(scene)"))
                } else {
                    pairs.append(EvaluationPair(short: member.url, long: long.url,
                                                ratio: ratio(long: long.name.exposure, short: member.name.exposure)))
                }
            }
        }
        pairs.sort { $0.short.path < $1.short.path }
        unpaired.sort { $0.path < $1.path }
        return (pairs, unpaired)
    }

    /// Reads a CSV of `short,long[,ratio]` rows. Relative paths are taken relative to the CSV's
    /// directory; blank lines, `#` comments and a header row starting with `short` are skipped.
    /// Without a ratio it comes from the SID names if both follow them, else stays nil (for the
    /// files' EXIF). Rows that do not parse come back as `unpaired`. Throws `CaptureError` when
    /// the file cannot be read.
    public static func readCSV(_ url: URL) throws -> (pairs: [EvaluationPair], unpaired: [UnpairedInput]) {
        let bytes: [UInt8]
        do {
            // The input layer: a FIFO or a device is refused, the size is capped (real lists are kilobytes).
            bytes = try FileContents.bytes(atPath: url.path, maximumBytes: 64 << 20)
        } catch {
            throw CaptureError.unreadable(path: url.path, reason: error.description)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CaptureError.unreadable(path: url.path, reason: "not UTF-8 text")
        }
        let directory = url.deletingLastPathComponent()
        var pairs: [EvaluationPair] = []
        var unpaired: [UnpairedInput] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = trimmed(rawLine)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { field -> String in
                var f = trimmed(field)
                if f.count >= 2, f.hasPrefix("\""), f.hasSuffix("\"") { f = String(f.dropFirst().dropLast()) }
                return f
            }
            let place = "\(url.path) line \(index + 1)"
            if pairs.isEmpty && unpaired.isEmpty && fields.first?.lowercased() == "short" { continue }
            guard fields.count == 2 || fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                unpaired.append(UnpairedInput(path: place, reason: "expected short,long or short,long,ratio"))
                continue
            }
            func resolve(_ path: String) -> URL {
                path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
            }
            let short = resolve(fields[0]), long = resolve(fields[1])
            var ratio: Double?
            if fields.count == 3 {
                guard let given = Double(fields[2]), given.isFinite, given > 0 else {
                    unpaired.append(UnpairedInput(path: place, reason: "the ratio \"\(fields[2])\" is not a positive number"))
                    continue
                }
                ratio = min(given, maximumRatio)
            } else if let s = SIDName(short.lastPathComponent), let l = SIDName(long.lastPathComponent) {
                ratio = Self.ratio(long: l.exposure, short: s.exposure)
            }
            pairs.append(EvaluationPair(short: short, long: long, ratio: ratio))
        }
        return (pairs, unpaired)
    }

    static func trimmed(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        return String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    /// Expands the command line's PAIRS: `.csv` files are read as CSV, directories contribute
    /// their RAW files (by extension) and RAW files are taken as given; all RAW files are then
    /// paired by SID's naming. Paths that do not exist come back as `unpaired`.
    public static func collect(_ inputs: [URL]) throws -> (pairs: [EvaluationPair], unpaired: [UnpairedInput]) {
        var pairs: [EvaluationPair] = []
        var unpaired: [UnpairedInput] = []
        var files: [URL] = []
        for input in inputs {
            let kind = FileKind(atPath: input.path)
            if kind == .directory {
                files += try RestoreBatch.scan(input, recursive: false)
            } else if kind == .missing {
                unpaired.append(UnpairedInput(path: input.path, reason: "no such file or directory"))
            } else if input.pathExtension.lowercased() == "csv" {
                let found = try readCSV(input)
                pairs += found.pairs
                unpaired += found.unpaired
            } else {
                files.append(input)
            }
        }
        let matched = match(files)
        return (pairs + matched.pairs, unpaired + matched.unpaired)
    }

    /// The exposure time (seconds) recorded in a RAW file's metadata (EXIF ExposureTime, as
    /// LibRaw reads it), read in a child process like every decode. Nil when the file has none.
    public static func exposureTime(_ url: URL, maxPixels: Int = 100_000_000, timeoutSeconds: Double = 300) throws -> Double? {
        let path = url.path
        try RawDecoder.checkReadable(path)
        var info = nj_raw_info()
        var child = nj_raw_child()
        var message = [CChar](repeating: 0, count: 256)
        let code = message.withUnsafeMutableBufferPointer { buffer in
            let rc = nj_raw_isolated_begin(path, Int64(maxPixels), timeoutSeconds, &info, &child, buffer.baseAddress, buffer.count)
            nj_raw_isolated_cancel(&child)
            if rc != Int32(NJ_RAW_OK) {
                return RawDecoder.error(rc, path: path, message: buffer, info: info, limit: maxPixels) as CaptureError?
            }
            return nil
        }
        if let code { throw code }
        return info.shutter > 0 && info.shutter.isFinite ? info.shutter : nil
    }

    /// The ratio of a pair from its files' exposure times, capped; throws `CaptureError` when
    /// a file cannot be read or records no exposure time.
    public static func exposureRatio(_ pair: EvaluationPair) throws -> Double {
        guard let short = try exposureTime(pair.short) else {
            throw CaptureError.invalidArgument("\(pair.short.path): records no exposure time; give the ratio as a third CSV column")
        }
        guard let long = try exposureTime(pair.long) else {
            throw CaptureError.invalidArgument("\(pair.long.path): records no exposure time; give the ratio as a third CSV column")
        }
        return ratio(long: long, short: short)
    }
}
