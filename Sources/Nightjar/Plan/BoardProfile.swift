import FoundationEssentials

/// A target board (REFERENCE.md §6), read from a small JSON file in `boards/`:
///
///     {
///       "id": "pi-zero-2w",
///       "name": "Raspberry Pi Zero 2 W",
///       "cpu": "Cortex-A53 @1.0 GHz",
///       "cores": 4,
///       "ram_bytes": 536870912,
///       "cpu_features": { "neon": true, "fp16_arithmetic": false, "dot_product": false }
///     }
///
/// `ram_bytes` is the smallest RAM the board is sold with. Every field is required and no other
/// field is accepted (a misspelt field is an error, not a silent default).
public struct BoardProfile: Sendable, Equatable {
    public struct Features: Sendable, Equatable {
        /// Advanced SIMD (every ARMv8-A core has it).
        public var neon: Bool
        /// FP16 arithmetic (ARMv8.2 FEAT_FP16).
        public var fp16Arithmetic: Bool
        /// Int8 dot product (sdot/udot, FEAT_DotProd).
        public var dotProduct: Bool

        public init(neon: Bool, fp16Arithmetic: Bool, dotProduct: Bool) {
            self.neon = neon
            self.fp16Arithmetic = fp16Arithmetic
            self.dotProduct = dotProduct
        }
    }

    public var id: String
    public var name: String
    public var cpu: String
    public var cores: Int
    public var ramBytes: Int
    public var features: Features

    public init(id: String, name: String, cpu: String, cores: Int, ramBytes: Int, features: Features) {
        self.id = id
        self.name = name
        self.cpu = cpu
        self.cores = cores
        self.ramBytes = ramBytes
        self.features = features
    }

    // MARK: Memory left for Nightjar

    /// The smallest reserve left for everything but Nightjar.
    public static let minimumOSReserveBytes = 192 << 20

    /// RAM kept back for the rest of the system: a quarter of the RAM, at least 192 MiB. On a
    /// 512 MiB Raspberry Pi the firmware's GPU and camera carve-out (gpu_mem and the CMA pool
    /// libcamera allocates frames from) takes 64 MiB or more before Linux starts, and a
    /// headless OS (kernel, systemd, journald, sshd, networking) uses another 60–100 MiB; the
    /// rest of the 192 MiB is page cache for the RAW files read and PNGs written, without which
    /// every frame would wait on the SD card. Larger boards run more services, and the Jetsons
    /// share their DRAM with the GPU, so the reserve grows with the RAM.
    public var osReserveBytes: Int { max(Self.minimumOSReserveBytes, ramBytes / 4) }

    /// RAM left for Nightjar.
    public var availableBytes: Int { ramBytes - osReserveBytes }

    /// How `bytes` fit in `availableBytes`: the margin is what is left (negative: what is missing).
    public func fit(_ bytes: Int) -> (fits: Bool, marginBytes: Int) {
        let margin = availableBytes - bytes
        return (margin >= 0, margin)
    }

    // MARK: Loading

    /// Reads a profile from a JSON file.
    public static func load(contentsOf url: URL) throws -> BoardProfile {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.bytes(atPath: url.path)
        } catch {
            throw BoardProfileError.unreadable(path: url.path, reason: error.description)
        }
        return try parse(Data(bytes), path: url.path)
    }

    /// Parses a profile; errors name `path` and the field.
    public static func parse(_ data: Data, path: String) throws -> BoardProfile {
        do {
            return try JSONDecoder().decode(BoardProfile.self, from: data)
        } catch let problem as FieldProblem {
            throw BoardProfileError.badField(path: path, field: problem.field, reason: problem.reason)
        } catch let error as DecodingError {
            throw BoardProfileError(error, path: path)
        }
    }

    /// Whether an argument names a file rather than a board id.
    public static func isPath(_ argument: String) -> Bool {
        argument.contains("/") || argument.hasSuffix(".json")
    }

    /// A board by id (a file `<id>.json` in the first of `directories` that has one) or by the
    /// path of a JSON file. A file found by id must carry that id.
    public static func resolve(_ argument: String, searching directories: [URL]) throws -> BoardProfile {
        if isPath(argument) { return try load(contentsOf: URL(fileURLWithPath: argument)) }
        guard isValidID(argument) else {
            throw BoardProfileError.unknownBoard(name: argument, known: knownIDs(in: directories), searched: directories.map(\.path))
        }
        for directory in directories {
            let file = directory.appendingPathComponent(argument + ".json")
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            let profile = try load(contentsOf: file)
            guard profile.id == argument else {
                throw BoardProfileError.badField(path: file.path, field: "id",
                                                 reason: "is '\(profile.id)' but the file is named \(argument).json")
            }
            return profile
        }
        throw BoardProfileError.unknownBoard(name: argument, known: knownIDs(in: directories), searched: directories.map(\.path))
    }

    /// The ids of the profiles in `directories` (file names without .json), sorted, unique.
    public static func knownIDs(in directories: [URL]) -> [String] {
        var ids = Set<String>()
        for directory in directories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names where name.hasSuffix(".json") { ids.insert(String(name.dropLast(5))) }
        }
        return ids.sorted()
    }

    /// Where to look for `boards/`: the directories in `NIGHTJAR_BOARDS` (colon-separated),
    /// then a `boards` folder beside the executable or in any folder above it (a build inside a
    /// checkout: .build/release/nightjar finds the repository's boards/), then
    /// `<prefix>/share/nightjar/boards` for an executable installed in `<prefix>/bin`. Only
    /// existing directories are returned.
    public static func searchDirectories(executable: URL, environment: [String: String]) -> [URL] {
        var candidates: [URL] = []
        if let list = environment["NIGHTJAR_BOARDS"] {
            candidates += list.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        }
        var folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        while true {
            candidates.append(folder.appendingPathComponent("boards"))
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path || folder.path == "/" { break }
            folder = parent
        }
        let prefix = executable.resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(prefix.appendingPathComponent("share/nightjar/boards"))
        var seen = Set<String>()
        return candidates.filter { url in
            guard FileKind(atPath: url.path) == .directory else { return false }
            return seen.insert(url.standardizedFileURL.path).inserted
        }
    }

    /// Lower-case letters, digits and inner hyphens, e.g. "pi-zero-2w".
    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && !id.hasPrefix("-") && !id.hasSuffix("-")
            && id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    static let fields = ["id", "name", "cpu", "cores", "ram_bytes", "cpu_features"]
    static let featureFields = ["neon", "fp16_arithmetic", "dot_product"]

    /// A value that decodes but is not acceptable.
    struct FieldProblem: Error {
        var field: String
        var reason: String
    }
}

extension BoardProfile: Decodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let top = try decoder.container(keyedBy: Key.self)
        if let extra = top.allKeys.map(\.stringValue).sorted().first(where: { !Self.fields.contains($0) }) {
            throw FieldProblem(field: extra, reason: "is not a board profile field (fields: \(Self.fields.joined(separator: ", ")))")
        }
        func text(_ name: String) throws -> String {
            let value = try top.decode(String.self, forKey: Key(name))
            guard !value.trimmingSpacesAndTabs().isEmpty else { throw FieldProblem(field: name, reason: "is empty") }
            return value
        }
        id = try text("id")
        guard Self.isValidID(id) else {
            throw FieldProblem(field: "id", reason: "'\(id)' must be lower-case letters, digits and hyphens")
        }
        name = try text("name")
        cpu = try text("cpu")
        func integer(_ name: String) throws -> Int {
            do {
                return try top.decode(Int.self, forKey: Key(name))
            } catch let error as DecodingError {
                if case .dataCorrupted = error { throw FieldProblem(field: name, reason: "must be a whole number") }
                throw error
            } catch {
                // Foundation reports a fractional or out-of-range number with its own error
                // type, which would later lose the field's name.
                throw FieldProblem(field: name, reason: "must be a whole number")
            }
        }
        cores = try integer("cores")
        guard (1...1024).contains(cores) else { throw FieldProblem(field: "cores", reason: "\(cores) is not a core count (1...1024)") }
        ramBytes = try integer("ram_bytes")
        guard ramBytes >= 1 << 20 else {
            throw FieldProblem(field: "ram_bytes", reason: "\(ramBytes) is not a RAM size in bytes (at least 1 MiB)")
        }
        let flags = try top.nestedContainer(keyedBy: Key.self, forKey: Key("cpu_features"))
        if let extra = flags.allKeys.map(\.stringValue).sorted().first(where: { !Self.featureFields.contains($0) }) {
            throw FieldProblem(field: "cpu_features.\(extra)",
                               reason: "is not a CPU feature field (fields: \(Self.featureFields.joined(separator: ", ")))")
        }
        features = Features(neon: try flags.decode(Bool.self, forKey: Key("neon")),
                            fp16Arithmetic: try flags.decode(Bool.self, forKey: Key("fp16_arithmetic")),
                            dotProduct: try flags.decode(Bool.self, forKey: Key("dot_product")))
    }
}

/// Why a board profile cannot be used. One line, naming the file and the field.
public enum BoardProfileError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notJSON(path: String, reason: String)
    case missingField(path: String, field: String)
    case badField(path: String, field: String, reason: String)
    case unknownBoard(name: String, known: [String], searched: [String])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the board profile: \(reason)"
        case .notJSON(let path, let reason):
            return "\(path): not a board profile (JSON object expected): \(reason)"
        case .missingField(let path, let field):
            return "\(path): board profile field '\(field)' is missing"
        case .badField(let path, let field, let reason):
            return "\(path): board profile field '\(field)' \(reason)"
        case .unknownBoard(let name, let known, let searched):
            let where_ = searched.isEmpty ? "no boards/ directory found; set NIGHTJAR_BOARDS or pass a path to a JSON file"
                : "searched \(searched.joined(separator: ", "))"
            return "unknown board '\(name)' (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")); \(where_))"
        }
    }

    /// A decoding failure as a field error.
    init(_ error: DecodingError, path: String) {
        func field(_ codingPath: [CodingKey], _ last: CodingKey? = nil) -> String {
            (codingPath + (last.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
        }
        func typeName(_ type: Any.Type) -> String {
            switch type {
            case is String.Type: return "a string"
            case is Int.Type: return "an integer"
            case is Bool.Type: return "true or false"
            default: return "an object"
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            self = .missingField(path: path, field: field(context.codingPath, key))
        case .typeMismatch(let type, let context) where !context.codingPath.isEmpty:
            self = .badField(path: path, field: field(context.codingPath), reason: "must be \(typeName(type))")
        case .valueNotFound(let type, let context) where !context.codingPath.isEmpty:
            self = .badField(path: path, field: field(context.codingPath), reason: "is null; it must be \(typeName(type))")
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            self = .badField(path: path, field: field(context.codingPath), reason: "is not valid: \(context.debugDescription)")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let underlying = context.underlyingError.map(SystemError.reason(for:))
            self = .notJSON(path: path, reason: underlying ?? context.debugDescription)
        @unknown default:
            self = .notJSON(path: path, reason: "\(error)")
        }
    }
}
