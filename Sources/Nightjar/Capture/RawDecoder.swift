import FoundationEssentials
import Glibc
import NightjarIOShims

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

    public init(maxPixels: Int = 100_000_000, isolated: Bool = true, timeoutSeconds: Double = 300) {
        self.maxPixels = maxPixels
        self.isolated = isolated
        self.timeoutSeconds = timeoutSeconds
    }

    /// The LibRaw version in use.
    public static var libRawVersion: String { String(cString: nj_raw_version()) }

    public func decode(_ url: URL) throws -> BayerFrame {
        let path = url.path
        try Self.checkReadable(path)
        return isolated ? try decodeIsolated(path) : try decodeInProcess(path)
    }

    private func decodeIsolated(_ path: String) throws -> BayerFrame {
        var message = [CChar](repeating: 0, count: 512)
        var info = nj_raw_info()
        var child: OpaquePointer?
        let rc = nj_raw_isolated_begin(path, Int64(maxPixels), timeoutSeconds, &info, &child,
                                       &message, message.count)
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: info, limit: maxPixels)
        }
        // The child is ended whatever happens; `finish` takes it over on the way.
        defer { nj_raw_isolated_cancel(child) }
        let limit = maxPixels
        return try Self.frame(path: path, info: info) { buffer in
            let running = child
            child = nil
            let finished = nj_raw_isolated_finish(running, buffer.baseAddress, buffer.count, &message, message.count)
            guard finished == Int32(NJ_RAW_OK) else {
                throw Self.error(finished, path: path, message: message, info: info, limit: limit)
            }
        }
    }

    private func decodeInProcess(_ path: String) throws -> BayerFrame {
        var message = [CChar](repeating: 0, count: 512)
        var info = nj_raw_info()
        var handle: OpaquePointer?
        var rc = nj_raw_open(path, Int64(maxPixels), &handle, &info, &message, message.count)
        defer { nj_raw_close(handle) }
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: info, limit: maxPixels)
        }
        rc = nj_raw_unpack(handle, &info, &message, message.count)
        if rc != Int32(NJ_RAW_OK) {
            throw Self.error(rc, path: path, message: message, info: info, limit: maxPixels)
        }
        let limit = maxPixels
        return try Self.frame(path: path, info: info) { buffer in
            let copy = nj_raw_copy_visible(handle, buffer.baseAddress, buffer.count, &message, message.count)
            guard copy == Int32(NJ_RAW_OK) else {
                throw Self.error(copy, path: path, message: message, info: info, limit: limit)
            }
        }
    }

    /// Checks the sensor kind and levels in `info` and builds the frame; `fill` supplies the
    /// `width * height` visible pixels.
    private static func frame(path: String, info: nj_raw_info,
                              fill: (UnsafeMutableBufferPointer<UInt16>) throws -> Void) throws -> BayerFrame {
        guard let kind = sensorKind(info.sensor), kind == .bayer else {
            throw CaptureError.notBayer(path: path, kind: sensorKind(info.sensor) ?? .otherCFA)
        }
        let letters = withUnsafeBytes(of: info.cfa_letters) { String(decoding: $0.prefix(4), as: UTF8.self) }
        guard let cfa = CFAPattern(letters: letters) else {
            throw CaptureError.notBayer(path: path, kind: .otherCFA)
        }
        let width = Int(info.width), height = Int(info.height)
        let count = width * height
        let mosaic = try [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            try fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
        let black = withUnsafeBytes(of: info.black) { Array($0.bindMemory(to: Double.self)) }
        let white = Double(info.maximum)
        guard white > black.max()! else {
            throw CaptureError.corrupt(path: path, reason: "white level \(info.maximum) is not above the black level \(black.max()!)")
        }
        return BayerFrame(
            width: width, height: height, mosaic: mosaic, cfa: cfa, black: black, white: white,
            flip: Int(info.flip), make: string(info.make), model: string(info.model))
    }

    // MARK: - Helpers

    static func checkReadable(_ path: String) throws {
        switch FileKind(atPath: path) {
        case .missing: throw CaptureError.unreadable(path: path, reason: "no such file")
        case .directory: throw CaptureError.unreadable(path: path, reason: "is a directory")
        // LibRaw needs a regular (seekable) file; opening a FIFO would block.
        case .other: throw CaptureError.unreadable(path: path, reason: "not a regular file")
        case .regularFile: break
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        if fd < 0 {
            throw CaptureError.unreadable(path: path, reason: SystemError.last.description)
        }
        close(fd)
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

    static func error(_ code: Int32, path: String, message: [CChar], info: nj_raw_info,
                      limit: Int) -> CaptureError {
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
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
        default:
            return .corrupt(path: path, reason: text)
        }
    }
}
