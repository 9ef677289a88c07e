import FoundationEssentials
import Glibc
import NightjarIOShims

/// A decoded frame but for its pixels and strings: the pixels are where the decoder's caller
/// put them (a `CaptureWorkspace`), make and model stay in LibRaw's `nj_raw_info`.
struct DecodedFrame {
    var width: Int
    var height: Int
    var cfa: CFAPattern
    /// Black level at the four sites (0,0), (0,1), (1,0), (1,1) of the visible area.
    var black: SIMD4<Double>
    var white: Double
    var flip: Int
    /// White balance and colour matrix as LibRaw reads them.
    var calibration: CameraCalibration
    /// When the frame was taken, from the file's own metadata (LibRaw's timestamp: EXIF or DNG
    /// DateTimeOriginal, else the TIFF DateTime; the camera's clock read as local time), in
    /// seconds since 1970; nil when the file records none.
    var captureTime: Int? = nil
    /// The decoder child read the samples from the file as stored instead of having LibRaw
    /// unpack them (a DNG of plain 16-bit samples: `nj_raw_plain_rows`).
    var plainSamples = false
}

/// Where a decoder puts a frame's visible pixels.
protocol MosaicStorage {
    /// Makes room for the frame (or throws a `CaptureError` naming `path`) and takes its
    /// pixels through `fill(rows, destination)`, which writes visible rows `rows` (`width`
    /// pixels each) at `destination`. Rows are asked for in order, in one or more passes from
    /// row 0 to the last (as many as the decoder was set up for: `RawDecoder.passes`).
    mutating func store(width: Int, height: Int, cfa: CFAPattern, path: String,
                        _ fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws
}

/// Pixels in an array of their own (`RawDecoder.decode(_:)`).
struct ArrayStorage: MosaicStorage {
    var mosaic: [UInt16] = []

    mutating func store(width: Int, height: Int, cfa: CFAPattern, path: String,
                        _ fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws {
        let count = width * height
        mosaic = try [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            if count > 0 { try fill(0..<height, buffer.baseAddress!) }
            initialized = count
        }
    }
}

/// Decodes Bayer RAW files through LibRaw into a `BayerFrame` (the visible area, untouched).
public struct RawDecoder: Sendable {
    /// Files whose readout or visible area has more pixels than this are refused before any
    /// pixel memory is allocated. 0 means no limit.
    public var maxPixels: Int
    /// Decode in a forked child process (the default). LibRaw 0.20 crashes on some damaged
    /// files; isolated, such a file becomes a `CaptureError` instead of killing the caller.
    public var isolated: Bool
    /// With `isolated`, a decode running longer than this is killed (0: no limit).
    public var timeoutSeconds: Double
    /// Times the storage reads the frame's rows (`MosaicStorage`): 2 for a workspace that keeps
    /// the frame in 8-bit codes (a histogram first), else 1.
    var passes = 1

    public init(maxPixels: Int = 100_000_000, isolated: Bool = true, timeoutSeconds: Double = 300) {
        self.maxPixels = maxPixels
        self.isolated = isolated
        self.timeoutSeconds = timeoutSeconds
    }

    /// The LibRaw version in use.
    public static var libRawVersion: String { String(cString: nj_raw_version()) }

    public func decode(_ url: URL) throws -> BayerFrame {
        let path = url.path
        try Self.checkReadable(path, maxPixels: maxPixels)
        var info = nj_raw_info()
        var child = nj_raw_child()
        var message = [CChar](repeating: 0, count: 512)
        var storage = ArrayStorage()
        let frame = try message.withUnsafeMutableBufferPointer { message in
            try decode(path: path, info: &info, child: &child, message: message, into: &storage)
        }
        return BayerFrame(
            width: frame.width, height: frame.height, mosaic: storage.mosaic, cfa: frame.cfa,
            black: [frame.black[0], frame.black[1], frame.black[2], frame.black[3]], white: frame.white,
            flip: frame.flip, make: Self.string(info.make), model: Self.string(info.model),
            calibration: frame.calibration)
    }

    /// Decodes `path` (already checked with `checkReadable`) with scratch memory of the
    /// caller's: LibRaw's `info` (make and model stay there), the isolated decoder's `child`
    /// record and a `message` buffer. The pixels go where `storage` says, once the file is
    /// known to hold a Bayer mosaic. Makes no heap allocation of its own when `storage` makes
    /// none (a workspace's); in the isolated decoder LibRaw runs in the child, so this process
    /// allocates nothing at all.
    func decode<Storage: MosaicStorage>(path: String, info: UnsafeMutablePointer<nj_raw_info>,
                                        child: UnsafeMutablePointer<nj_raw_child>, message: UnsafeMutableBufferPointer<CChar>,
                                        progress: (() -> Void)? = nil, into storage: inout Storage) throws -> DecodedFrame {
        // Explicitly: an implicit String-to-pointer argument copies the string to the heap.
        // The file system's bytes (`withPathBytes`): names need not be UTF-8.
        let result: Result<DecodedFrame, any Error> = withPathBytes(path) { cPath in
            Result {
                isolated
                    ? try decodeIsolated(path, cPath, info: info, child: child, message: message, progress: progress, into: &storage)
                    : try decodeInProcess(path, cPath, info: info, message: message, into: &storage)
            }
        }
        return try result.get()
    }

    private func decodeIsolated<Storage: MosaicStorage>(_ path: String, _ cPath: UnsafePointer<CChar>, info: UnsafeMutablePointer<nj_raw_info>,
                                                        child: UnsafeMutablePointer<nj_raw_child>, message: UnsafeMutableBufferPointer<CChar>,
                                                        progress: (() -> Void)?, into storage: inout Storage) throws -> DecodedFrame {
        try start(path, cPath, child: child, message: message)
        return try finishStarted(path: path, info: info, child: child, message: message, header: nil, progress: progress,
                                 into: &storage)
    }

    /// Forks the decoder child for `path` (already checked with `checkReadable`) and returns at
    /// once: the child decodes while the caller does other work, and `finishStarted` (or
    /// `header`) takes the result. Throws when the child cannot be started.
    func start(_ path: String, _ cPath: UnsafePointer<CChar>, child: UnsafeMutablePointer<nj_raw_child>,
               message: UnsafeMutableBufferPointer<CChar>) throws {
        let rc = nj_raw_isolated_start_passes(cPath, Int64(maxPixels), timeoutSeconds, Int32(passes), child, message.baseAddress,
                                              message.count)
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: nj_raw_info(), limit: maxPixels)
        }
    }

    /// Waits for a started child's header (calling `progress` about every `progressInterval`
    /// seconds meanwhile) and returns its code: `NJ_RAW_OK` with `info` filled, or the error.
    static func header(child: UnsafeMutablePointer<nj_raw_child>, info: UnsafeMutablePointer<nj_raw_info>,
                       message: UnsafeMutableBufferPointer<CChar>, progress: (() -> Void)? = nil) -> Int32 {
        while nj_raw_isolated_wait(child, progressInterval) == 0 { progress?() }
        return nj_raw_isolated_header(child, info, message.baseAddress, message.count)
    }

    /// How often a caller waiting for the decoder hears `progress` (a watchdog's ping).
    static let progressInterval = 0.5

    /// Takes a started child's frame: its header (`header`: the code `header(...)` already
    /// returned, or nil to wait for it now), then its pixels into `storage`.
    func finishStarted<Storage: MosaicStorage>(path: String, info: UnsafeMutablePointer<nj_raw_info>,
                                               child: UnsafeMutablePointer<nj_raw_child>, message: UnsafeMutableBufferPointer<CChar>,
                                               header: Int32?, progress: (() -> Void)? = nil,
                                               into storage: inout Storage) throws -> DecodedFrame {
        let limit = maxPixels
        // The child is ended whatever happens (`finish` ends it on the way; then this does nothing).
        defer { nj_raw_isolated_cancel(child) }
        let rc = header ?? Self.header(child: child, info: info, message: message, progress: progress)
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: info.pointee, limit: limit)
        }
        let width = Int(info.pointee.width)
        return try Self.frame(path: path, info: info.pointee, into: &storage) { rows, destination in
            // The child streams the rows in order, pass after pass; the last read ends it.
            let read = nj_raw_isolated_read(child, destination, rows.count * width, message.baseAddress, message.count)
            guard read == Int32(NJ_RAW_OK) else {
                throw Self.error(read, path: path, message: message, info: info.pointee, limit: limit)
            }
        }
    }

    /// LibRaw in this process (its own allocations included).
    private func decodeInProcess<Storage: MosaicStorage>(_ path: String, _ cPath: UnsafePointer<CChar>, info: UnsafeMutablePointer<nj_raw_info>,
                                                         message: UnsafeMutableBufferPointer<CChar>,
                                                         into storage: inout Storage) throws -> DecodedFrame {
        var handle: OpaquePointer?
        let limit = maxPixels
        var rc = nj_raw_open(cPath, Int64(limit), &handle, info, message.baseAddress, message.count)
        defer { nj_raw_close(handle) }
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: info.pointee, limit: limit)
        }
        rc = nj_raw_unpack(handle, info, message.baseAddress, message.count)
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: info.pointee, limit: limit)
        }
        var first: UnsafePointer<UInt16>?
        var pitch = 0
        let visible = nj_raw_visible_area(handle, &first, &pitch, message.baseAddress, message.count)
        guard visible == Int32(NJ_RAW_OK), let first else {
            throw Self.error(visible, path: path, message: message, info: info.pointee, limit: limit)
        }
        let width = Int(info.pointee.width)
        return try Self.frame(path: path, info: info.pointee, into: &storage) { rows, destination in
            for (i, row) in rows.enumerated() {
                (destination + i * width).update(from: first + row * pitch, count: width)
            }
        }
    }

    /// Checks the sensor kind, plausibility (`RawPlausibility`) and levels in `info`, has `storage` take the `width * height`
    /// visible pixels from `fill`, and describes the frame.
    private static func frame<Storage: MosaicStorage>(path: String, info: nj_raw_info, into storage: inout Storage,
                                                      fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws -> DecodedFrame {
        guard let kind = sensorKind(info.sensor), kind == .bayer else {
            throw CaptureError.notBayer(path: path, kind: sensorKind(info.sensor) ?? .otherCFA)
        }
        guard let cfa = cfaPattern(info.cfa_letters) else {
            throw CaptureError.notBayer(path: path, kind: .otherCFA)
        }
        if let problem = RawPlausibility.problem(info) {
            throw CaptureError.corrupt(path: path, reason: problem)
        }
        let width = Int(info.width), height = Int(info.height)
        try storage.store(width: width, height: height, cfa: cfa, path: path, fill)
        let black = SIMD4(info.black.0, info.black.1, info.black.2, info.black.3)
        let white = Double(info.maximum)
        guard white > black.max() else {
            throw CaptureError.corrupt(path: path, reason: "white level \(info.maximum) is not above the black level \(black.max())")
        }
        return DecodedFrame(width: width, height: height, cfa: cfa, black: black, white: white, flip: Int(info.flip),
                            calibration: CameraCalibration(info: info), captureTime: info.timestamp > 0 ? Int(info.timestamp) : nil,
                            plainSamples: info.plain_samples != 0)
    }

    /// The CFA layout from LibRaw's four letters (any case), without making a string.
    static func cfaPattern(_ letters: (CChar, CChar, CChar, CChar, CChar)) -> CFAPattern? {
        func upper(_ c: CChar) -> UInt8 { UInt8(bitPattern: c) & ~0x20 }
        let (r, g, b) = (UInt8(ascii: "R"), UInt8(ascii: "G"), UInt8(ascii: "B"))
        switch (upper(letters.0), upper(letters.1), upper(letters.2), upper(letters.3)) {
        case (r, g, g, b): return .rggb
        case (b, g, g, r): return .bggr
        case (g, r, b, g): return .grbg
        case (g, b, r, g): return .gbrg
        default: return nil
        }
    }

    // MARK: - Helpers

    /// Opens `path` as the input layer does (`O_NONBLOCK`, fstat) and says in errno's or
    /// fstat's words why LibRaw could not read it: missing, a symlink loop, a name too long,
    /// a directory, a FIFO or device (LibRaw needs a regular, seekable file; a FIFO would block).
    /// A DNG's structure is checked too (`DNGStructure`), so that LibRaw never decodes an
    /// implausible one.
    static func checkReadable(_ path: String, maxPixels: Int = 0) throws {
        let fd = withPathBytes(path) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        if fd < 0 {
            throw CaptureError.unreadable(path: path, reason: SystemError.last.description)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CaptureError.unreadable(path: path, reason: SystemError.last.description) }
        do {
            try FileContents.requireRegular(info.st_mode)
        } catch {
            throw CaptureError.unreadable(path: path, reason: error.description)
        }
        try DNGStructure.check(fd: fd, fileSize: Int(info.st_size), path: path, maxPixels: maxPixels)
    }

    static func sensorKind(_ code: Int32) -> SensorKind? {
        switch code {
        case Int32(NJ_SENSOR_BAYER): return .bayer
        case Int32(NJ_SENSOR_XTRANS): return .xTrans
        case Int32(NJ_SENSOR_FOVEON): return .foveon
        case Int32(NJ_SENSOR_MONOCHROME): return .monochrome
        case Int32(NJ_SENSOR_LINEAR): return .linear
        case Int32(NJ_SENSOR_OTHER_CFA): return .otherCFA
        default: return nil
        }
    }

    static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { bytes in
            let chars = bytes.prefix { $0 != 0 }
            return String(decoding: chars, as: UTF8.self)
        }
    }

    static func error(_ code: Int32, path: String, message: UnsafeMutableBufferPointer<CChar>, info: nj_raw_info,
                      limit: Int) -> CaptureError {
        message[message.count - 1] = 0
        let text = String(cString: message.baseAddress!)
        switch code {
        case Int32(NJ_RAW_ERR_OPEN):
            return .unreadable(path: path, reason: text)
        case Int32(NJ_RAW_ERR_UNSUPPORTED), Int32(NJ_RAW_ERR_BLACK_PATTERN):
            return .unsupported(path: path, reason: text)
        case Int32(NJ_RAW_ERR_TOO_LARGE):
            let readout = Int(info.raw_width) * Int(info.raw_height)
            let visible = Int(info.width) * Int(info.height)
            return .tooLarge(path: path, pixels: max(readout, visible), limit: limit)
        case Int32(NJ_RAW_ERR_NO_MEMORY):
            return .corrupt(path: path, reason: "not enough memory to unpack (\(text))")
        case Int32(NJ_RAW_ERR_NO_DATA):
            return .notBayer(path: path, kind: .linear)
        case Int32(NJ_RAW_ERR_SYSTEM):
            return .unreadable(path: path, reason: text)
        case Int32(NJ_RAW_ERR_CORRUPT) where info.file_size > 0:
            // Opened, then the data could not be read: LibRaw's words for it ("Input/output
            // error") say less than where the file puts them.
            return .corrupt(path: path, reason: RawPlausibility.problem(info) ?? text)
        default:
            return .corrupt(path: path, reason: text)
        }
    }
}
