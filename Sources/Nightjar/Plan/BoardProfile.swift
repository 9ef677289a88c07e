import FoundationEssentials

/// A target board (REFERENCE.md §6), read from a small JSON file in `boards/`:
///
///     {
///       "id": "pi-zero-2w",
///       "name": "Raspberry Pi Zero 2 W",
///       "model_prefixes": ["Raspberry Pi Zero 2 W"],
///       "architecture": "aarch64",
///       "cpu": "Cortex-A53 @1.0 GHz",
///       "cores": 4,
///       "ram_bytes": 536870912,
///       "cpu_features": { "neon": true, "fp16_arithmetic": false, "dot_product": false },
///       "default_precision": "fp32",
///       "default_threads": 4,
///       "max_frame": "4608x3040",
///       "memory_max": "112M",
///       "camera_modules": ["imx219", "imx477", "imx708"]
///     }
///
/// `model_prefixes`: how the board names itself (`/proc/device-tree/model`, or DMI's
/// "vendor product" on x86), matched at the start; empty for a generic profile, which is chosen
/// for its architecture when no other profile matches. `cpu_features`: `neon`,
/// `fp16_arithmetic`, `dot_product` on aarch64; `sse4_1`, `avx2`, `avx512f` on x86_64 (what the
/// board's CPU has; kernel dispatch always follows the CPU actually found). `ram_bytes` is the
/// smallest RAM the board is sold with. `default_threads` 0 means every online core.
/// `max_frame` is the largest frame to plan memory for, `memory_max` the systemd `MemoryMax=`
/// of the service for it. Every field is required and no other field is accepted (a misspelt
/// field is an error, not a silent default).
public struct BoardProfile: Sendable, Equatable {
    public struct Features: Sendable, Equatable {
        /// Advanced SIMD (every ARMv8-A core has it).
        public var neon: Bool
        /// FP16 arithmetic (ARMv8.2 FEAT_FP16).
        public var fp16Arithmetic: Bool
        /// Int8 dot product (sdot/udot, FEAT_DotProd).
        public var dotProduct: Bool
        /// x86-64: SSE4.1, AVX2 with FMA, AVX-512F (the kernel library's levels).
        public var sse41: Bool
        public var avx2: Bool
        public var avx512f: Bool

        public init(neon: Bool = false, fp16Arithmetic: Bool = false, dotProduct: Bool = false,
                    sse41: Bool = false, avx2: Bool = false, avx512f: Bool = false) {
            self.neon = neon
            self.fp16Arithmetic = fp16Arithmetic
            self.dotProduct = dotProduct
            self.sse41 = sse41
            self.avx2 = avx2
            self.avx512f = avx512f
        }

        /// The JSON names of the flags that are set.
        public var names: [String] {
            [("neon", neon), ("fp16_arithmetic", fp16Arithmetic), ("dot_product", dotProduct),
             ("sse4_1", sse41), ("avx2", avx2), ("avx512f", avx512f)].filter(\.1).map(\.0)
        }
    }

    /// The precisions a profile may name (what `--precision` takes).
    public static let precisions = ["fp32", "fp16", "int8"]
    public static let architectures = ["aarch64", "x86_64"]

    public var id: String
    public var name: String
    public var cpu: String
    public var cores: Int
    public var ramBytes: Int
    public var features: Features
    public var architecture: String
    public var modelPrefixes: [String]
    public var defaultPrecision: String
    /// 0: every online core.
    public var defaultThreads: Int
    public var maxFrame: (width: Int, height: Int)
    public var memoryMaxBytes: Int
    public var cameraModules: [String]

    public init(id: String, name: String, cpu: String, cores: Int, ramBytes: Int, features: Features,
                architecture: String = "aarch64", modelPrefixes: [String] = [], defaultPrecision: String = "fp32",
                defaultThreads: Int = 0, maxFrame: (width: Int, height: Int) = (4608, 3040), memoryMaxBytes: Int = 128 << 20,
                cameraModules: [String] = []) {
        self.id = id
        self.name = name
        self.cpu = cpu
        self.cores = cores
        self.ramBytes = ramBytes
        self.features = features
        self.architecture = architecture
        self.modelPrefixes = modelPrefixes
        self.defaultPrecision = defaultPrecision
        self.defaultThreads = defaultThreads
        self.maxFrame = maxFrame
        self.memoryMaxBytes = memoryMaxBytes
        self.cameraModules = cameraModules
    }

    public static func == (a: BoardProfile, b: BoardProfile) -> Bool {
        a.id == b.id && a.name == b.name && a.cpu == b.cpu && a.cores == b.cores && a.ramBytes == b.ramBytes
            && a.features == b.features && a.architecture == b.architecture && a.modelPrefixes == b.modelPrefixes
            && a.defaultPrecision == b.defaultPrecision && a.defaultThreads == b.defaultThreads
            && a.maxFrame == b.maxFrame && a.memoryMaxBytes == b.memoryMaxBytes && a.cameraModules == b.cameraModules
    }

    /// The thread count to use on a machine with `onlineCores`.
    public func threads(onlineCores: Int) -> Int { defaultThreads > 0 ? defaultThreads : max(onlineCores, 1) }

    /// `memory_max` as systemd writes it: whole MiB ("112M") or GiB ("2G").
    public var memoryMax: String {
        memoryMaxBytes % (1 << 30) == 0 ? "\(memoryMaxBytes >> 30)G" : "\(memoryMaxBytes >> 20)M"
    }

    /// A systemd size with a K, M or G suffix (powers of 1024), or plain bytes.
    public static func parseSize(_ text: String) -> Int? {
        guard let last = text.last else { return nil }
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30]
        if let shift = shifts[last] {
            guard let value = Int(text.dropLast()), value > 0, value < 1 << 20 else { return nil }
            return value << shift
        }
        guard let value = Int(text), value > 0 else { return nil }
        return value
    }

    /// "WxH" as a frame size.
    public static func parseFrame(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (2...65536).contains(w), (2...65536).contains(h) else { return nil }
        return (w, h)
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

    static let fields = ["id", "name", "model_prefixes", "architecture", "cpu", "cores", "ram_bytes", "cpu_features",
                         "default_precision", "default_threads", "max_frame", "memory_max", "camera_modules"]
    /// The CPU feature flags of each architecture.
    static let featureFieldsByArchitecture = ["aarch64": ["neon", "fp16_arithmetic", "dot_product"],
                                              "x86_64": ["sse4_1", "avx2", "avx512f"]]
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
        architecture = try text("architecture")
        guard let featureFields = Self.featureFieldsByArchitecture[architecture] else {
            throw FieldProblem(field: "architecture", reason: "'\(architecture)' is not one of \(Self.architectures.joined(separator: ", "))")
        }
        let flags = try top.nestedContainer(keyedBy: Key.self, forKey: Key("cpu_features"))
        if let extra = flags.allKeys.map(\.stringValue).sorted().first(where: { !featureFields.contains($0) }) {
            throw FieldProblem(field: "cpu_features.\(extra)",
                               reason: "is not a CPU feature field of \(architecture) (fields: \(featureFields.joined(separator: ", ")))")
        }
        var set: [String: Bool] = [:]
        for field in featureFields { set[field] = try flags.decode(Bool.self, forKey: Key(field)) }
        features = Features(neon: set["neon"] ?? false, fp16Arithmetic: set["fp16_arithmetic"] ?? false,
                            dotProduct: set["dot_product"] ?? false, sse41: set["sse4_1"] ?? false,
                            avx2: set["avx2"] ?? false, avx512f: set["avx512f"] ?? false)
        modelPrefixes = try top.decode([String].self, forKey: Key("model_prefixes"))
        if modelPrefixes.contains(where: { $0.trimmingSpacesAndTabs().isEmpty }) {
            throw FieldProblem(field: "model_prefixes", reason: "must not hold an empty name")
        }
        defaultPrecision = try text("default_precision")
        guard Self.precisions.contains(defaultPrecision) else {
            throw FieldProblem(field: "default_precision", reason: "'\(defaultPrecision)' is not one of \(Self.precisions.joined(separator: ", "))")
        }
        defaultThreads = try integer("default_threads")
        guard (0...cores).contains(defaultThreads) else {
            throw FieldProblem(field: "default_threads", reason: "\(defaultThreads) must be 0 (every core) ... \(cores) (the board's cores)")
        }
        let frame = try text("max_frame")
        guard let size = Self.parseFrame(frame) else {
            throw FieldProblem(field: "max_frame", reason: "'\(frame)' is not a frame size WxH")
        }
        maxFrame = size
        let memoryMax = try text("memory_max")
        guard let bytes = Self.parseSize(memoryMax), bytes >= 1 << 20 else {
            throw FieldProblem(field: "memory_max", reason: "'\(memoryMax)' is not a systemd size such as 112M or 2G")
        }
        memoryMaxBytes = bytes
        cameraModules = try top.decode([String].self, forKey: Key("camera_modules"))
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
