import FoundationEssentials
import Glibc
import NightjarIOShims

/// Writes an RGB PNG (8 or 16 bits per sample) one row at a time through libpng.
/// Errors name `displayPath` (the final output), not the temporary file being written.
public final class PNGRowWriter {
    public let width: Int
    public let height: Int
    public let bits: Int
    private var handle: OpaquePointer?
    private let displayPath: String
    private var message = [CChar](repeating: 0, count: 512)

    /// Creates `path` and writes the header and `text` (tEXt chunks, Latin-1 keys of 1–79 chars).
    public init(path: String, width: Int, height: Int, bits: Int, compressionLevel: Int = 1,
                text: [(key: String, value: String)] = [], displayPath: String? = nil) throws {
        self.width = width
        self.height = height
        self.bits = bits
        self.displayPath = displayPath ?? path
        guard bits == 8 || bits == 16 else {
            throw CaptureError.invalidArgument("PNG bit depth must be 8 or 16, not \(bits)")
        }
        guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw CaptureError.unwritable(path: self.displayPath, reason: "image size \(width)x\(height) out of range")
        }
        let opened = Self.withCStrings(text) { keys, values in
            nj_png_open(path, UInt32(width), UInt32(height), Int32(bits), Int32(compressionLevel),
                        keys, values, Int32(text.count), &message, message.count)
        }
        guard let opened else {
            throw CaptureError.unwritable(path: self.displayPath, reason: lastMessage)
        }
        handle = opened
    }

    deinit {
        if let handle { nj_png_abort(handle) }
    }

    private var lastMessage: String {
        message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// One row of `width * 3` samples.
    public func writeRow(_ row: UnsafeBufferPointer<UInt8>) throws {
        precondition(bits == 8 && row.count >= width * 3, "row must hold width*3 8-bit samples")
        try write(UnsafeRawPointer(row.baseAddress!))
    }

    /// One row of `width * 3` samples (host byte order; swapped to PNG order inside).
    public func writeRow(_ row: UnsafeBufferPointer<UInt16>) throws {
        precondition(bits == 16 && row.count >= width * 3, "row must hold width*3 16-bit samples")
        try write(UnsafeRawPointer(row.baseAddress!))
    }

    private func write(_ pointer: UnsafeRawPointer) throws {
        guard let handle else {
            throw CaptureError.unwritable(path: displayPath, reason: "the PNG was already finished or abandoned")
        }
        if nj_png_write_row(handle, pointer, &message, message.count) != 0 {
            abort()
            throw CaptureError.unwritable(path: displayPath, reason: lastMessage)
        }
    }

    /// Writes trailing tEXt chunks and the end of the file, and closes it.
    public func finish(text: [(key: String, value: String)] = []) throws {
        guard let handle else {
            throw CaptureError.unwritable(path: displayPath, reason: "the PNG was already finished or abandoned")
        }
        self.handle = nil
        let rc = Self.withCStrings(text) { keys, values in
            nj_png_finish(handle, keys, values, Int32(text.count), &message, message.count)
        }
        if rc != 0 {
            throw CaptureError.unwritable(path: displayPath, reason: lastMessage)
        }
    }

    /// Closes the file without finishing it (the caller removes it).
    public func abort() {
        if let handle { nj_png_abort(handle) }
        handle = nil
    }

    /// tEXt holds Latin-1; anything outside printable ASCII (file names in UTF-8...) is
    /// written as a \u{XXXX} escape so the chunk stays valid and readable.
    static func textValue(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            if (scalar.value >= 0x20 && scalar.value < 0x7F) || scalar == "\n" {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }

    private static func withCStrings<R>(_ pairs: [(key: String, value: String)],
                                        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let keys = pairs.map { strdup($0.key) }
        let values = pairs.map { strdup(textValue($0.value)) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let k: [UnsafePointer<CChar>?] = keys.map { $0.map { UnsafePointer($0) } }
        let v: [UnsafePointer<CChar>?] = values.map { $0.map { UnsafePointer($0) } }
        return k.withUnsafeBufferPointer { kp in
            v.withUnsafeBufferPointer { vp in body(kp.baseAddress, vp.baseAddress) }
        }
    }
}

/// Whole-file output helpers: write to a hidden temporary sibling, then move into place.
public enum CaptureOutput {
    /// Writes an interleaved RGB image (8-bit `samples` as UInt16 0...255, or 16-bit) as a PNG,
    /// atomically, refusing to replace an existing file unless `overwrite`.
    public static func writePNG(_ samples: [UInt16], width: Int, height: Int, bits: Int, to url: URL,
                                overwrite: Bool = false, text: [(key: String, value: String)] = []) throws {
        precondition(samples.count == width * height * 3, "samples must be width*height*3")
        try writeAtomically(to: url, overwrite: overwrite) { temporary in
            let writer = try PNGRowWriter(path: temporary.path, width: width, height: height, bits: bits,
                                          text: text, displayPath: url.path)
            if bits == 8 {
                var row = [UInt8](repeating: 0, count: width * 3)
                for y in 0..<height {
                    for i in 0..<(width * 3) { row[i] = UInt8(clamping: samples[y * width * 3 + i]) }
                    try row.withUnsafeBufferPointer { try writer.writeRow($0) }
                }
            } else {
                try samples.withUnsafeBufferPointer { all in
                    for y in 0..<height {
                        try writer.writeRow(UnsafeBufferPointer(rebasing: all[(y * width * 3)..<((y + 1) * width * 3)]))
                    }
                }
            }
            try writer.finish()
        }
    }

    /// Writes `bytes` atomically (used for JSON sidecars).
    public static func writeData(_ bytes: Data, to url: URL, overwrite: Bool = false) throws {
        try writeAtomically(to: url, overwrite: overwrite) { temporary in
            guard FileManager.default.createFile(atPath: temporary.path, contents: bytes) else {
                throw CaptureError.unwritable(path: url.path, reason: Self.directoryProblem(url) ?? "cannot create the file")
            }
        }
    }

    /// Runs `body` to fill `AtomicFile.temporaryURL(for: url)`, then moves it to `url`. The
    /// temporary is removed on any error, so no partial file is ever left behind. Without
    /// `overwrite`, an existing `url` is never replaced (checked first, and again atomically
    /// at the end with link(2) where the file system supports it).
    public static func writeAtomically(to url: URL, overwrite: Bool, _ body: (URL) throws -> Void) throws {
        if !overwrite, FileManager.default.fileExists(atPath: url.path) {
            throw CaptureError.exists(path: url.path)
        }
        if let problem = directoryProblem(url) {
            throw CaptureError.unwritable(path: url.path, reason: problem)
        }
        let temporary = AtomicFile.temporaryURL(for: url)
        do {
            try body(temporary)
            try commit(temporary, to: url, overwrite: overwrite)
        } catch {
            unlink(temporary.path)
            if let error = error as? CaptureError { throw error }
            throw CaptureError.unwritable(path: url.path, reason: "\(error)")
        }
    }

    /// Why files cannot be created next to `url`, or nil when they probably can.
    static func directoryProblem(_ url: URL) -> String? {
        let directory = url.deletingLastPathComponent().path
        switch FileKind(atPath: directory) {
        case .missing: return "directory \(directory) does not exist"
        case .regularFile, .other: return "\(directory) is not a directory"
        case .directory: break
        }
        if access(directory, W_OK | X_OK) != 0 {
            return "directory \(directory) is not writable: \(String(cString: strerror(errno)))"
        }
        return nil
    }

    static func commit(_ temporary: URL, to url: URL, overwrite: Bool) throws {
        if overwrite {
            do {
                try AtomicFile.commit(temporary, to: url)
            } catch {
                throw CaptureError.unwritable(path: url.path, reason: "\(error)")
            }
            return
        }
        // link(2) fails with EEXIST instead of replacing, closing the check-then-rename race.
        if link(temporary.path, url.path) == 0 {
            unlink(temporary.path)
            return
        }
        let linkErrno = errno
        if linkErrno == EEXIST { throw CaptureError.exists(path: url.path) }
        // File systems without hard links: check, then rename.
        if FileManager.default.fileExists(atPath: url.path) { throw CaptureError.exists(path: url.path) }
        do {
            try AtomicFile.commit(temporary, to: url)
        } catch {
            throw CaptureError.unwritable(path: url.path, reason: "\(error)")
        }
    }
}
