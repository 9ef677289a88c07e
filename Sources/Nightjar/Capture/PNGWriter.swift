import FoundationEssentials
import Glibc
import NightjarIOShims

/// tEXt chunks packed for the C side: "key\0value\0" pairs in one buffer. Values outside
/// printable ASCII are escaped (see `PNGRowWriter.textValue`).
struct PNGText {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    init(_ pairs: [(key: String, value: String)] = []) {
        for pair in pairs {
            bytes += pair.key.utf8
            bytes.append(0)
            bytes += PNGRowWriter.textValue(pair.value).utf8
            bytes.append(0)
        }
        count = pairs.count
    }
}

/// Writes one RGB PNG at a time (8 or 16 bits per sample) through libpng, on the caller's thread,
/// into an open file descriptor, row by row, in memory of its own that is reused from image to image: a pool that libpng and zlib
/// allocate from (`nj_png_pool`: libpng's structs and rows, zlib's deflate state, the text
/// chunks' copies) and the buffer the bytes pass through on their way to write(2). Once
/// `reserve` has seen an image's width, `begin`, `writeRow`, `end` and `abandon` make no heap
/// allocation. Errors name `displayPath` (the final output, not the temporary being written).
final class LibPNGEncoder {
    /// Bytes collected before each write(2).
    static let outputBufferBytes = 16 << 10
    /// zlib's deflate state at libpng's settings for an image (window bits 15, memory level 8:
    /// window, previous-match and hash tables and pending buffer, 64 KiB each, plus the state),
    /// with room to spare.
    static let zlibBytes = 272 << 10
    /// libpng's structs, its 8 KiB compression buffer and this shim's record.
    static let libpngBytes = 24 << 10
    /// Copies of the text chunks (the trailer carries two paths).
    static let textBytes = 24 << 10

    /// The pool for an image whose rows hold `rowBytes` bytes: libpng keeps three rows (the
    /// row, the previous one for the "up" filter, the filtered one).
    static func poolBytes(rowBytes: Int) -> Int {
        zlibBytes + libpngBytes + textBytes + 3 * (rowBytes + 1 + 16)
    }

    private let pool: UnsafeMutablePointer<nj_png_pool>
    private var block: PageBuffer?
    private let output: UnsafeMutablePointer<UInt8>
    private let message: UnsafeMutablePointer<CChar>
    private static let messageBytes = 512
    private var handle: OpaquePointer?
    private var displayPath = ""

    init() {
        pool = .allocate(capacity: 1)
        pool.initialize(to: nj_png_pool())
        output = .allocate(capacity: Self.outputBufferBytes)
        message = .allocate(capacity: Self.messageBytes)
        message.initialize(repeating: 0, count: Self.messageBytes)
    }

    deinit {
        abandon()
        pool.deallocate()
        output.deallocate()
        message.deallocate()
    }

    /// Bytes of the pool now.
    var poolCapacity: Int { block?.bytes ?? 0 }

    /// Makes sure images with rows of up to `rowBytes` bytes fit in the pool; grows it (the one
    /// allocation) when they do not, or when the last image needed more than it had. False when
    /// the system refuses the memory.
    func reserve(rowBytes: Int) -> Bool {
        let needed = max(Self.poolBytes(rowBytes: rowBytes), pool.pointee.overflows > 0 ? pool.pointee.asked + (16 << 10) : 0)
        if needed <= poolCapacity { return true }
        precondition(handle == nil, "the PNG pool cannot grow while an image is open")
        block = nil
        pool.pointee = nj_png_pool()
        guard let grown = PageBuffer(bytes: needed) else { return false }
        block = grown
        pool.pointee = nj_png_pool(base: grown.pointer(to: UInt8.self), size: grown.bytes, used: 0, asked: 0, overflows: 0)
        return true
    }

    private var lastMessage: String {
        message[Self.messageBytes - 1] = 0
        return String(cString: message)
    }

    /// Starts an image on `fd` and writes its header and `text`.
    func begin(fd: Int32, width: Int, height: Int, bits: Int, compressionLevel: Int, text: PNGText, displayPath: String) throws {
        abandon()
        self.displayPath = displayPath
        guard bits == 8 || bits == 16 else {
            throw CaptureError.invalidArgument("PNG bit depth must be 8 or 16, not \(bits)")
        }
        guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw CaptureError.unwritable(path: displayPath, reason: "image size \(width)x\(height) out of range")
        }
        guard reserve(rowBytes: width * 3 * bits / 8) else {
            throw CaptureError.unwritable(path: displayPath, reason: "not enough memory for the PNG writer")
        }
        let opened = text.bytes.withUnsafeBufferPointer { packed in
            packed.withMemoryRebound(to: CChar.self) { packed in
                nj_png_begin(pool, fd, output, Self.outputBufferBytes, UInt32(width), UInt32(height), Int32(bits),
                             Int32(compressionLevel), packed.baseAddress, Int32(text.count), message, Self.messageBytes)
            }
        }
        guard let opened else {
            throw CaptureError.unwritable(path: displayPath, reason: lastMessage)
        }
        handle = opened
    }

    /// One row of `width * 3` samples (UInt8, or UInt16 in host byte order). On failure the
    /// image is abandoned.
    func writeRow(_ row: UnsafeRawPointer) throws {
        guard let handle else {
            throw CaptureError.unwritable(path: displayPath, reason: "the PNG was already finished or abandoned")
        }
        if nj_png_write_row(handle, row, message, Self.messageBytes) != 0 {
            abandon()
            throw CaptureError.unwritable(path: displayPath, reason: lastMessage)
        }
    }

    /// Writes `text` as trailing tEXt chunks, the end of the image, and what is left in the
    /// buffer. The file descriptor stays open.
    func end(text: PNGText) throws {
        guard let handle else {
            throw CaptureError.unwritable(path: displayPath, reason: "the PNG was already finished or abandoned")
        }
        self.handle = nil
        let rc = text.bytes.withUnsafeBufferPointer { packed in
            packed.withMemoryRebound(to: CChar.self) { packed in
                nj_png_end(handle, packed.baseAddress, Int32(text.count), message, Self.messageBytes)
            }
        }
        if rc != 0 {
            throw CaptureError.unwritable(path: displayPath, reason: lastMessage)
        }
        // An image that needed more than the pool had grows it now, not at the next `begin`.
        if overflows > 0 { _ = reserve(rowBytes: 0) }
    }

    /// Drops the image being written, if any, without writing more.
    func abandon() {
        if let handle { nj_png_abandon(handle) }
        handle = nil
    }

    /// Allocations of the last image that did not fit in the pool (0 once it is big enough).
    var overflows: Int { pool.pointee.overflows }
    /// Pool bytes the last image asked for.
    var poolBytesAsked: Int { pool.pointee.asked }
}

/// Writes an RGB PNG (8 or 16 bits per sample) one row at a time through libpng, to an
/// `OutputFile` that the caller commits: previews, references and other small images (a
/// restore's PNG goes through the parallel `PNGEncoder`). Errors name the final output.
public final class PNGRowWriter {
    public let width: Int
    public let height: Int
    public let bits: Int
    private let encoder = LibPNGEncoder()
    private var isOpen = true
    private let displayPath: String

    /// Writes the header and `text` (tEXt chunks, Latin-1 keys of 1–79 chars) to `file`.
    public init(file: OutputFile, width: Int, height: Int, bits: Int, compressionLevel: Int = 1,
                text: [(key: String, value: String)] = []) throws {
        self.width = width
        self.height = height
        self.bits = bits
        self.displayPath = file.path
        guard bits == 8 || bits == 16 else {
            throw CaptureError.invalidArgument("PNG bit depth must be 8 or 16, not \(bits)")
        }
        guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max) else {
            throw CaptureError.unwritable(path: self.displayPath, reason: "image size \(width)x\(height) out of range")
        }
        do {
            try encoder.begin(fd: file.fd, width: width, height: height, bits: bits, compressionLevel: compressionLevel,
                              text: PNGText(text), displayPath: self.displayPath)
        } catch {
            abort()
            throw error
        }
    }

    deinit { abort() }

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
        do {
            try encoder.writeRow(pointer)
        } catch {
            abort()
            throw error
        }
    }

    /// Writes trailing tEXt chunks and the end of the PNG (the caller commits the file).
    public func finish(text: [(key: String, value: String)] = []) throws {
        guard isOpen else {
            throw CaptureError.unwritable(path: displayPath, reason: "the PNG was already finished or abandoned")
        }
        isOpen = false
        try encoder.end(text: PNGText(text))
    }

    /// Stops without finishing (the caller abandons the file).
    public func abort() {
        if isOpen { encoder.abandon() }
        isOpen = false
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
}

/// Whole-file outputs through `OutputFile`.
public enum CaptureOutput {
    /// Writes an interleaved RGB image (8-bit `samples` as UInt16 0...255, or 16-bit) as a PNG,
    /// atomically, refusing to replace an existing file unless `overwrite`.
    public static func writePNG(_ samples: [UInt16], width: Int, height: Int, bits: Int, to url: URL,
                                overwrite: Bool = false, text: [(key: String, value: String)] = []) throws {
        precondition(samples.count == width * height * 3, "samples must be width*height*3")
        try writeAtomically(to: url, overwrite: overwrite) { file in
            let writer = try PNGRowWriter(file: file, width: width, height: height, bits: bits, text: text)
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
        try writeAtomically(to: url, overwrite: overwrite) { file in
            try [UInt8](bytes).withUnsafeBytes { try file.write($0) }
        }
    }

    /// Runs `body` to fill an `OutputFile` for `url`, then commits it. The temporary is
    /// removed on any error, so no partial file is ever left behind. Without `overwrite`, an
    /// existing `url` is never replaced (checked first, and again atomically at the end).
    public static func writeAtomically(to url: URL, overwrite: Bool, _ body: (OutputFile) throws -> Void) throws {
        let file = try create(url, overwrite: overwrite)
        do {
            try body(file)
            try file.commit(overwrite: overwrite)
        } catch {
            file.abandon()
            throw captureError(error, path: url.path)
        }
    }

    /// An `OutputFile` for `url` after the early checks (existing target, directory).
    static func create(_ url: URL, overwrite: Bool) throws -> OutputFile {
        do {
            try OutputFile.checkTarget(url.path, overwrite: overwrite)
            if let problem = directoryProblem(url) {
                throw CaptureError.unwritable(path: url.path, reason: problem)
            }
            return try OutputFile(path: url.path)
        } catch {
            throw captureError(error, path: url.path)
        }
    }

    /// `error` as a `CaptureError` about `path`.
    static func captureError(_ error: any Error, path: String) -> CaptureError {
        switch error {
        case let error as CaptureError: return error
        case OutputFileError.exists(let path): return .exists(path: path)
        case let error as OutputFileError: return .unwritable(path: error.path, reason: error.reason)
        default: return .unwritable(path: path, reason: SystemError.reason(for: error))
        }
    }

    /// Why files cannot be created next to `url`, or nil when they probably can.
    static func directoryProblem(_ url: URL) -> String? {
        let directory = OutputFile.directory(of: url.path)
        switch FileKind(atPath: directory) {
        case .missing: return "directory \(directory) does not exist"
        case .regularFile, .other: return "\(directory) is not a directory"
        case .directory: break
        }
        if withPathBytes(directory, { access($0, W_OK | X_OK) }) != 0 {
            return "directory \(directory) is not writable: \(String(cString: strerror(errno)))"
        }
        return nil
    }
}
