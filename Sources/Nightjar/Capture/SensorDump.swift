import FoundationEssentials
import Glibc

/// How a headerless sensor dump (a V4L2 or libcamera raw stream written to a file) stores
/// its pixels within a row.
public enum SensorPacking: String, Sendable, CaseIterable {
    /// Little-endian 16-bit words, one per pixel.
    case raw16 = "raw16"
    /// MIPI CSI-2 RAW10: 4 pixels in 5 bytes, the four high bytes, then one byte with each
    /// pixel's low 2 bits (pixel 0 in bits 1..0).
    case mipiRaw10 = "mipi-raw10"
    /// MIPI CSI-2 RAW12: 2 pixels in 3 bytes, the two high bytes, then one byte with the low
    /// nibbles (pixel 0 in bits 3..0).
    case mipiRaw12 = "mipi-raw12"

    /// Pixels and bytes of one packing group.
    var group: (pixels: Int, bytes: Int) {
        switch self {
        case .raw16: return (1, 2)
        case .mipiRaw10: return (4, 5)
        case .mipiRaw12: return (2, 3)
        }
    }

    /// Bytes a row of `width` pixels occupies before padding (whole groups, as libcamera
    /// counts them: a partial last group takes a whole group's bytes).
    public func rowBytes(width: Int) -> Int {
        (width + group.pixels - 1) / group.pixels * group.bytes
    }
}

/// A headerless sensor dump's layout (`--sensor FILE`, or a built-in mode):
///
///     { "width": 4056, "height": 3040, "stride": 6112, "bits": 12, "cfa": "BGGR",
///       "black": 256, "white": 4095, "packing": "mipi-raw12" }
///
/// `stride` is the bytes from one row to the next (at least the packed row's bytes);
/// `black` is one level for all sites or four, for (0,0), (0,1), (1,0), (1,1). `id` and
/// `name` are optional. Any other field is refused.
public struct SensorDescription: Sendable, Equatable {
    /// A short name (`imx477-4056x3040`), or the file's path for a description from a file.
    public var id: String
    public var width: Int
    public var height: Int
    public var stride: Int
    public var bits: Int
    public var cfa: CFAPattern
    public var black: [Double]
    public var white: Double
    public var packing: SensorPacking

    public init(id: String, width: Int, height: Int, stride: Int, bits: Int, cfa: CFAPattern,
                black: [Double], white: Double, packing: SensorPacking) {
        self.id = id
        self.width = width
        self.height = height
        self.stride = stride
        self.bits = bits
        self.cfa = cfa
        self.black = black.count == 1 ? [Double](repeating: black[0], count: 4) : black
        self.white = white
        self.packing = packing
    }

    /// The size a dump of this layout has: every row, the last one's padding included.
    public var fileBytes: Int { stride * height }

    /// The name and layout in a few words, for messages.
    public var summary: String {
        "\(id): \(width)x\(height) \(bits)-bit \(cfa.rawValue) \(packing.rawValue), stride \(stride)"
    }

    /// Throws `SensorDescriptionError.badField` when the fields do not make a readable layout.
    public func validate(path: String) throws {
        func bad(_ field: String, _ reason: String) -> SensorDescriptionError {
            .badField(path: path, field: field, reason: reason)
        }
        guard (2...65536).contains(width) else { throw bad("width", "\(width) must be 2...65536") }
        guard (2...65536).contains(height) else { throw bad("height", "\(height) must be 2...65536") }
        switch packing {
        case .raw16: guard (8...16).contains(bits) else { throw bad("bits", "\(bits) must be 8...16 for raw16") }
        case .mipiRaw10: guard bits == 10 else { throw bad("bits", "must be 10 for mipi-raw10, not \(bits)") }
        case .mipiRaw12: guard bits == 12 else { throw bad("bits", "must be 12 for mipi-raw12, not \(bits)") }
        }
        let needed = packing.rowBytes(width: width)
        guard stride >= needed, stride <= 1 << 20 else {
            throw bad("stride", "\(stride) cannot hold a row of \(width) \(packing.rawValue) pixels (at least \(needed) bytes)")
        }
        let top = Double((1 << bits) - 1)
        guard black.count == 4, black.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw bad("black", "must be one level ≥ 0 or four (for the 2x2 sites)")
        }
        guard white.isFinite, white <= top, white > black.max()! else {
            throw bad("white", "\(white) must be above the black level and at most \(Int(top)) for \(bits) bits")
        }
    }

    // MARK: - JSON

    static let fields = ["id", "name", "width", "height", "stride", "bits", "cfa", "black", "white", "packing"]

    /// Reads a description from a JSON file; its `id` defaults to the file's name.
    public static func load(contentsOf url: URL) throws -> SensorDescription {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.bytes(atPath: url.path)
        } catch {
            throw SensorDescriptionError.unreadable(path: url.path, reason: error.description)
        }
        return try parse(bytes, path: url.path)
    }

    /// Parses a description; errors name `path` and the field.
    public static func parse(_ bytes: [UInt8], path: String) throws -> SensorDescription {
        let document: JSONValue
        do {
            document = try bytes.withUnsafeBytes { try JSONValue.parse($0) }
        } catch {
            throw SensorDescriptionError.notJSON(path: path, reason: SystemError.reason(for: error))
        }
        guard let object = document.objectValue else {
            throw SensorDescriptionError.notJSON(path: path, reason: "the document is not an object")
        }
        if let extra = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw SensorDescriptionError.badField(path: path, field: extra,
                                                  reason: "is not a sensor description field (fields: \(fields.joined(separator: ", ")))")
        }
        func value(_ name: String) throws -> JSONValue {
            guard let value = object[name] else { throw SensorDescriptionError.missingField(path: path, field: name) }
            return value
        }
        func integer(_ name: String) throws -> Int {
            guard let number = try value(name).integerValue else {
                throw SensorDescriptionError.badField(path: path, field: name, reason: "must be a whole number")
            }
            return number
        }
        func number(_ value: JSONValue, _ name: String) throws -> Double {
            switch value {
            case .integer(let n): return Double(n)
            case .number(let n): return n
            default: throw SensorDescriptionError.badField(path: path, field: name, reason: "must be a number")
            }
        }
        func text(_ name: String) throws -> String {
            guard let text = try value(name).stringValue else {
                throw SensorDescriptionError.badField(path: path, field: name, reason: "must be a string")
            }
            return text
        }
        let packingName = try text("packing")
        guard let packing = SensorPacking(rawValue: packingName.lowercased()) else {
            if packingName.lowercased().contains("comp") {
                throw SensorDescriptionError.compressed(path: path)
            }
            throw SensorDescriptionError.badField(path: path, field: "packing", reason:
                "'\(packingName)' is not one of \(SensorPacking.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let cfaName = try text("cfa")
        guard let cfa = CFAPattern(letters: cfaName) else {
            throw SensorDescriptionError.badField(path: path, field: "cfa", reason: "'\(cfaName)' is not one of RGGB, BGGR, GRBG, GBRG")
        }
        let blackValue = try value("black")
        let black: [Double]
        if let levels = blackValue.arrayValue {
            guard levels.count == 4 else {
                throw SensorDescriptionError.badField(path: path, field: "black", reason: "must be one level or four (for the 2x2 sites)")
            }
            black = try levels.map { try number($0, "black") }
        } else {
            black = [try number(blackValue, "black")]
        }
        let id: String
        if let given = object["id"] {
            guard let name = given.stringValue, !name.isEmpty else {
                throw SensorDescriptionError.badField(path: path, field: "id", reason: "must be a non-empty string")
            }
            id = name
        } else {
            id = path
        }
        let description = SensorDescription(
            id: id, width: try integer("width"), height: try integer("height"), stride: try integer("stride"),
            bits: try integer("bits"), cfa: cfa, black: black, white: try number(try value("white"), "white"), packing: packing)
        try description.validate(path: path)
        return description
    }

    /// Whether an argument names a file rather than a built-in sensor.
    public static func isPath(_ argument: String) -> Bool {
        argument.contains("/") || argument.hasSuffix(".json")
    }

    /// `--sensor ID|FILE` as the descriptions to try: a JSON file's, one built-in mode, or
    /// every built-in mode of a sensor (`imx477`: the dump's size picks the mode).
    public static func resolve(_ argument: String) throws -> [SensorDescription] {
        if isPath(argument) { return [try load(contentsOf: URL(fileURLWithPath: argument))] }
        let name = argument.lowercased()
        if let mode = BuiltInSensors.modes.first(where: { $0.id == name }) { return [mode] }
        let family = BuiltInSensors.modes.filter { $0.id.hasPrefix(name + "-") }
        if !family.isEmpty { return family }
        throw SensorDescriptionError.unknownSensor(name: argument, known: BuiltInSensors.modes.map(\.id))
    }
}

/// Why a sensor description cannot be used. One line, naming the file and the field.
public enum SensorDescriptionError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notJSON(path: String, reason: String)
    case missingField(path: String, field: String)
    case badField(path: String, field: String, reason: String)
    case compressed(path: String)
    case unknownSensor(name: String, known: [String])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read the sensor description: \(reason)"
        case .notJSON(let path, let reason): return "\(path): not a sensor description (JSON object expected): \(reason)"
        case .missingField(let path, let field): return "\(path): sensor description field '\(field)' is missing"
        case .badField(let path, let field, let reason): return "\(path): sensor description field '\(field)' \(reason)"
        case .compressed(let path): return "\(path): \(SensorDump.compressedAdvice)"
        case .unknownSensor(let name, let known):
            return "unknown sensor '\(name)' (built in: \(known.joined(separator: ", ")); or pass a JSON description file)"
        }
    }
}

/// The Raspberry Pi camera modules' raw modes as libcamera streams them: packed CSI-2 (the Pi 4's
/// Unicam, and what `rpicam-raw`/`rpicam-vid --raw` write) and unpacked 16-bit (the Pi 5 asked
/// for unpacked raw). Sizes are the sensor drivers' modes; black levels libcamera's tuning files'
/// (4096 in 16-bit units: 64 at 10 bits, 256 at 12 bits). Rows are padded to 32 bytes. The
/// Bayer order is the sensor's with no flips applied (the modes `rpicam-hello --list-cameras`
/// prints); a camera set up with hflip or vflip streams another order: pass a JSON description.
public enum BuiltInSensors {
    static let rowAlignment = 32

    /// (sensor, width, height, bits) of each mode.
    static let table: [(sensor: String, width: Int, height: Int, bits: Int)] = [
        ("imx219", 3280, 2464, 10), ("imx219", 1920, 1080, 10), ("imx219", 1640, 1232, 10), ("imx219", 640, 480, 10),
        ("imx477", 4056, 3040, 12), ("imx477", 2028, 1520, 12), ("imx477", 2028, 1080, 12), ("imx477", 1332, 990, 10),
        ("imx708", 4608, 2592, 10), ("imx708", 2304, 1296, 10), ("imx708", 1536, 864, 10),
    ]

    /// Every built-in mode: `SENSOR-WxH` packed, `SENSOR-WxH-raw16` unpacked.
    public static let modes: [SensorDescription] = table.flatMap { mode -> [SensorDescription] in
        let packed: SensorPacking = mode.bits == 10 ? .mipiRaw10 : .mipiRaw12
        let black = Double(4096 >> (16 - mode.bits)), white = Double((1 << mode.bits) - 1)
        func stride(_ packing: SensorPacking) -> Int {
            (packing.rowBytes(width: mode.width) + rowAlignment - 1) / rowAlignment * rowAlignment
        }
        let name = "\(mode.sensor)-\(mode.width)x\(mode.height)"
        return [
            SensorDescription(id: name, width: mode.width, height: mode.height, stride: stride(packed), bits: mode.bits,
                              cfa: .rggb, black: [black], white: white, packing: packed),
            SensorDescription(id: name + "-raw16", width: mode.width, height: mode.height, stride: stride(.raw16), bits: mode.bits,
                              cfa: .rggb, black: [black], white: white, packing: .raw16),
        ]
    }
}

/// Reads headerless sensor dumps into the same mosaic LibRaw gives for a DNG of the frame, so
/// the rest of the pipeline does not know where a frame came from.
public enum SensorDump {
    /// Whether `path` is a headerless dump: a `.raw` name (any case) whose first bytes are not
    /// a TIFF header (Panasonic and Leica `.raw` files are TIFF-based and go to LibRaw). No heap
    /// allocation.
    static func isHeaderlessDump(path: String) -> Bool {
        let utf8 = path.utf8
        guard utf8.count > 4 else { return false }
        var suffix = utf8.suffix(4).makeIterator()
        for expected in ".raw".utf8 {
            guard let c = suffix.next(), c | (c >= 0x41 && c <= 0x5A ? 0x20 : 0) == expected else { return false }
        }
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { return true } // The dump reader reports why it cannot be read.
        defer { close(fd) }
        var head: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        let got = withUnsafeMutableBytes(of: &head) { pread(fd, $0.baseAddress, 4, 0) }
        guard got == 4 else { return true }
        let tiff = (head.0 == 0x49 && head.1 == 0x49) || (head.0 == 0x4D && head.1 == 0x4D)
        return !tiff
    }

    /// What to tell the owner of a Pi 5 compressed dump.
    static let compressedAdvice = "compressed raw (the Raspberry Pi 5's PISP_COMP1, 8 bits per pixel) is lossy and cannot be "
        + "restored faithfully; capture DNG instead (rpicam-still --raw, or -e dng) or ask libcamera for unpacked raw "
        + "(rpicam-raw/rpicam-vid --mode W:H:BITS:U), and pass it with --sensor"

    /// The description of `candidates` (every built-in mode when empty) that fits a dump of
    /// `bytes`: the only one when a single description is given (its size must match), else the
    /// one whose size matches, which must be unique. No heap allocation unless it throws.
    static func choose(_ candidates: [SensorDescription], bytes: Int, path: String) throws -> SensorDescription {
        let pool = candidates.isEmpty ? BuiltInSensors.modes : candidates
        let align = BuiltInSensors.rowAlignment
        func compressed(_ mode: SensorDescription) -> Bool { bytes == (mode.width + align - 1) / align * align * mode.height }
        if pool.count == 1 {
            let only = pool[0]
            if bytes == only.fileBytes { return only }
            if compressed(only) { throw CaptureError.unsupported(path: path, reason: compressedAdvice) }
            throw sizeMismatch(bytes: bytes, only, path: path)
        }
        var found = -1, count = 0
        for (index, mode) in pool.enumerated() where mode.fileBytes == bytes {
            found = index
            count += 1
        }
        if count == 1 { return pool[found] }
        // One byte per pixel at a known size: most likely the Pi 5's compressed format.
        if count == 0, pool.contains(where: compressed) {
            throw CaptureError.unsupported(path: path, reason: compressedAdvice)
        }
        let which = candidates.isEmpty ? "no built-in sensor mode" : "no mode of --sensor"
        throw CaptureError.unsupported(path: path, reason: count == 0
            ? "a headerless dump of \(bytes) bytes matches \(which); describe it with --sensor FILE.json "
                + "(width, height, stride, bits, cfa, black, white, packing)"
            : "a headerless dump of \(bytes) bytes matches several sensor modes "
                + "(\(pool.filter { $0.fileBytes == bytes }.map(\.id).joined(separator: ", "))); choose one with --sensor")
    }

    static func sizeMismatch(bytes: Int, _ description: SensorDescription, path: String) -> CaptureError {
        .corrupt(path: path, reason: "the dump is \(bytes) bytes; \(description.summary) is \(description.fileBytes) bytes "
                 + "(stride × height)")
    }

    /// Decodes the headerless dump at `path` with the description of `candidates` its size
    /// selects (see `choose`), into `storage`.
    static func decode<Storage: MosaicStorage>(path: String, candidates: [SensorDescription], maxPixels: Int,
                                               scratch: UnsafeMutableRawBufferPointer,
                                               into storage: inout Storage) throws -> (frame: DecodedFrame, sensor: SensorDescription) {
        var info = stat()
        let status = path.withCString { stat($0, &info) }
        guard status == 0 else { throw CaptureError.unreadable(path: path, reason: SystemError.last.description) }
        let description = try choose(candidates, bytes: Int(info.st_size), path: path)
        return (try decode(path: path, description: description, maxPixels: maxPixels, scratch: scratch, into: &storage), description)
    }

    /// Decodes the dump at `path` with `description` into `storage`, reading rows through
    /// `scratch` (any size of at least one packing group; larger saves system calls). The size
    /// is checked against the description, and `maxPixels` (0: no limit), before `storage`
    /// is asked for pixel memory. No heap allocation beyond what `storage` makes.
    static func decode<Storage: MosaicStorage>(path: String, description: SensorDescription, maxPixels: Int,
                                               scratch: UnsafeMutableRawBufferPointer, into storage: inout Storage) throws -> DecodedFrame {
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { throw CaptureError.unreadable(path: path, reason: SystemError.last.description) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CaptureError.unreadable(path: path, reason: SystemError.last.description) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw CaptureError.unreadable(path: path, reason: "not a regular file") }
        let bytes = Int(info.st_size)
        guard bytes == description.fileBytes else { throw sizeMismatch(bytes: bytes, description, path: path) }
        let width = description.width, height = description.height
        if maxPixels > 0, width * height > maxPixels {
            throw CaptureError.tooLarge(path: path, pixels: width * height, limit: maxPixels)
        }
        let packing = description.packing
        let group = packing.group
        let chunkGroups = scratch.count / group.bytes
        precondition(chunkGroups >= 1, "the dump reader's scratch holds less than one packing group")
        let rowBytes = packing.rowBytes(width: width)
        try storage.store(width: width, height: height, cfa: description.cfa, path: path) { rows, pixels in
            for y in rows {
                var x = 0, offset = 0
                while x < width {
                    let groups = min(chunkGroups, (rowBytes - offset) / group.bytes)
                    let want = groups * group.bytes
                    try readFully(fd, into: scratch.baseAddress!, count: want, at: y * description.stride + offset, path: path)
                    let count = min(groups * group.pixels, width - x)
                    unpack(packing, UnsafeRawPointer(scratch.baseAddress!), pixels: count,
                           into: pixels + (y - rows.lowerBound) * width + x)
                    x += count
                    offset += want
                }
            }
        }
        let black = description.black
        return DecodedFrame(width: width, height: height, cfa: description.cfa,
                            black: SIMD4(black[0], black[1], black[2], black[3]), white: description.white, flip: 0,
                            // A headerless dump carries no colour calibration: camera colour falls back
                            // to the network's, with its one warning line.
                            calibration: CameraCalibration(asShot: nil, cameraToSRGB: nil))
    }

    /// `count` pixels from whole packing groups at `source`.
    static func unpack(_ packing: SensorPacking, _ source: UnsafeRawPointer, pixels count: Int, into out: UnsafeMutablePointer<UInt16>) {
        let b = source.assumingMemoryBound(to: UInt8.self)
        switch packing {
        case .raw16:
            for i in 0..<count { out[i] = UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8 }
        case .mipiRaw10:
            for i in 0..<count {
                let g = i >> 2, k = i & 3
                let low = (b[5 * g + 4] >> (2 * UInt8(k))) & 3
                out[i] = UInt16(b[5 * g + k]) << 2 | UInt16(low)
            }
        case .mipiRaw12:
            for i in 0..<count {
                let g = i >> 1, k = i & 1
                let low = (b[3 * g + 2] >> (4 * UInt8(k))) & 0xF
                out[i] = UInt16(b[3 * g + k]) << 4 | UInt16(low)
            }
        }
    }

    private static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int, path: String) throws {
        var done = 0
        while done < count {
            let got = pread(fd, buffer + done, count - done, off_t(offset + done))
            if got > 0 { done += got; continue }
            if got < 0, errno == EINTR { continue }
            throw got == 0 ? CaptureError.corrupt(path: path, reason: "the dump ended early (the file shrank while it was read)")
                : CaptureError.unreadable(path: path, reason: SystemError.last.description)
        }
    }

    /// Decodes a dump into a frame of its own (tests, tools).
    public static func decode(_ url: URL, description: SensorDescription, maxPixels: Int = 100_000_000) throws -> BayerFrame {
        var storage = ArrayStorage()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        let frame = try decode(path: url.path, description: description, maxPixels: maxPixels, scratch: scratch, into: &storage)
        return BayerFrame(width: frame.width, height: frame.height, mosaic: storage.mosaic, cfa: frame.cfa,
                          black: [frame.black[0], frame.black[1], frame.black[2], frame.black[3]], white: frame.white,
                          flip: 0, make: "", model: description.id)
    }

    /// Packs a mosaic as a dump of `description` (padding bytes 0xA5, so a reader that used
    /// them would show it): the inverse of the reader, for tests and `synthesize`.
    public static func encode(_ mosaic: [UInt16], description: SensorDescription) -> [UInt8] {
        precondition(mosaic.count == description.width * description.height)
        var out = [UInt8](repeating: 0xA5, count: description.fileBytes)
        let width = description.width
        for y in 0..<description.height {
            let row = y * description.stride
            for x in 0..<width {
                let v = Int(mosaic[y * width + x])
                switch description.packing {
                case .raw16:
                    out[row + 2 * x] = UInt8(v & 0xFF)
                    out[row + 2 * x + 1] = UInt8(v >> 8)
                case .mipiRaw10:
                    let g = row + 5 * (x / 4), k = x % 4
                    if k == 0 { out[g + 4] = 0 }
                    out[g + k] = UInt8(v >> 2)
                    out[g + 4] |= UInt8(v & 3) << (2 * k)
                case .mipiRaw12:
                    let g = row + 3 * (x / 2), k = x % 2
                    if k == 0 { out[g + 2] = 0 }
                    out[g + k] = UInt8(v >> 4)
                    out[g + 2] |= UInt8(v & 0xF) << (4 * k)
                }
            }
        }
        return out
    }
}
