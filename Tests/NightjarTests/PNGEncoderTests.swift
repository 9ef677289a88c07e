import Foundation
import XCTest
import NightjarIOShims
import NightjarKernels
@testable import Nightjar

/// The PNG encoder that deflates its image data in pieces on several threads: its files must be
/// PNGs libpng reads, with exactly the pixels libpng's own (one-thread) writer stores, whatever
/// the number of pieces, compressor threads, widths (odd ones included), depth and level.
final class PNGEncoderTests: XCTestCase {
    /// Noisy rows like a restored frame's (a gradient plus noise), and flat and saturated runs.
    private func samples(width: Int, height: Int, bits: Int, seed: UInt64) -> [UInt16] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        let top = bits == 8 ? 255 : 65535
        var out = [UInt16](repeating: 0, count: 3 * width * height)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let noise = Int((state >> 33) % 41) - 20
                    let base = (x * 7 + y * 3 + c * 50) * top / max(1, 7 * width + 3 * height + 150)
                    let value = x % 17 == 0 ? top : (y % 13 == 5 ? 0 : base + noise * top / 255)
                    out[3 * (y * width + x) + c] = UInt16(min(max(value, 0), top))
                }
            }
        }
        return out
    }

    private func encode(_ samples: [UInt16], width: Int, height: Int, bits: Int, level: Int,
                        encoder: PNGEncoder, to url: URL, method: (filter: Int32, strategy: Int32)? = nil,
                        workers: WorkerPoolOwner? = nil) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        try encoder.begin(fd: fd, width: width, height: height, bits: bits, compressionLevel: level,
                          text: PNGText([("Software", "test"), ("Comment", "before the image data")]), displayPath: url.path,
                          method: method, workers: workers)
        var row8 = [UInt8](repeating: 0, count: 3 * width)
        var row16 = [UInt16](repeating: 0, count: 3 * width)
        for y in 0..<height {
            for i in 0..<(3 * width) {
                row8[i] = UInt8(truncatingIfNeeded: samples[3 * width * y + i])
                row16[i] = samples[3 * width * y + i]
            }
            if bits == 8 {
                try row8.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) }
            } else {
                try row16.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) }
            }
        }
        try encoder.end(text: PNGText([("Nightjar", "after the image data")]))
    }

    /// Where two sample arrays first differ (index, values), or nil when they are equal.
    private func firstDifference(_ a: [UInt16], _ b: [UInt16]) -> String? {
        guard a.count == b.count else { return "\(a.count) samples against \(b.count)" }
        guard let i = a.indices.first(where: { a[$0] != b[$0] }) else { return nil }
        return "sample \(i): \(a[i]) against \(b[i]), \(a.indices.filter { a[$0] != b[$0] }.count) differ"
    }

    /// Samples as libpng reads them.
    private func readWithLibPNG(_ url: URL, width: Int, height: Int, bits: Int) throws -> [UInt16] {
        var message = [CChar](repeating: 0, count: 256)
        if bits == 8 {
            var bytes = [UInt8](repeating: 0, count: 3 * width * height)
            let rc = nj_png_read_rgb8(url.path, &bytes, bytes.count, &message, message.count)
            XCTAssertEqual(rc, 0, String(cString: message))
            return bytes.map(UInt16.init)
        }
        var values = [UInt16](repeating: 0, count: 3 * width * height)
        let rc = nj_png_read_rgb16(url.path, &values, values.count, &message, message.count)
        XCTAssertEqual(rc, 0, String(cString: message))
        return values
    }

    /// The chunk types of a PNG file, in order, each checked against its CRC.
    private func chunks(_ url: URL) throws -> [String] {
        let bytes = [UInt8](try Data(contentsOf: url))
        var types: [String] = []
        var pos = 8
        while pos + 12 <= bytes.count {
            let length = Int(bytes[pos]) << 24 | Int(bytes[pos + 1]) << 16 | Int(bytes[pos + 2]) << 8 | Int(bytes[pos + 3])
            let crc = bytes[(pos + 8 + length)..<(pos + 12 + length)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let computed = bytes[(pos + 4)..<(pos + 8 + length)].withUnsafeBufferPointer { nj_crc32(0, $0.baseAddress, $0.count) }
            XCTAssertEqual(crc, computed, "CRC of chunk \(types.count)")
            types.append(String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self))
            pos += 12 + length
        }
        XCTAssertEqual(pos, bytes.count, "chunks fill the file exactly")
        return types
    }

    func testPiecesDecodeToTheSamePixelsAsLibPNGsOwnWriter() throws {
        let directory = try makeTemporaryDirectory(self)
        let sizes = [(1, 1), (7, 5), (333, 37), (1001, 12)]
        // (compressor threads, piece bytes): one row per piece, a few rows, the default (the
        // whole of these images in one piece).
        let setups = [(1, 1), (3, 1), (3, 3000), (2, PNGEncoder.defaultPieceBytes)]
        for bits in [8, 16] {
            for level in [0, 1, 6] {
                for (compressors, pieceBytes) in setups {
                    do {
                        // One encoder for every size, as a workspace keeps one: the slots are
                        // laid out for the widest image and reused by narrower ones.
                        let encoder = PNGEncoder(compressors: compressors, pieceBytes: pieceBytes)
                        XCTAssertTrue(encoder.reserve(rowBytes: 3 * 1001 * bits / 8))
                        for (width, height) in sizes {
                            let label = "\(width)x\(height) \(bits)-bit level \(level), \(compressors) threads, pieces of \(pieceBytes) bytes"
                            let source = samples(width: width, height: height, bits: bits, seed: UInt64(width * height + bits + level))
                            let ours = directory.appendingPathComponent("pieces.png")
                            try encode(source, width: width, height: height, bits: bits, level: level, encoder: encoder, to: ours)
                            let reference = directory.appendingPathComponent("libpng.png")
                            try? FileManager.default.removeItem(at: reference)
                            try CaptureOutput.writePNG(source, width: width, height: height, bits: bits, to: reference)

                            let decoded = try readWithLibPNG(ours, width: width, height: height, bits: bits)
                            let libpng = try readWithLibPNG(reference, width: width, height: height, bits: bits)
                            XCTAssertNil(firstDifference(decoded, libpng), "the same pixels as libpng's writer: \(label)")
                            XCTAssertNil(firstDifference(decoded, source), "the samples given: \(label)")
                            let types = try chunks(ours)
                            let rowsPerPiece = encoder.layout.rowsPerPiece
                            let pieces = (height + rowsPerPiece - 1) / rowsPerPiece
                            XCTAssertEqual(types, ["IHDR", "tEXt", "tEXt"] + Array(repeating: "IDAT", count: pieces) + ["tEXt", "IEND"],
                                           "one IDAT per piece: \(label)")
                            if pieceBytes == 1, width == 1001 { XCTAssertEqual(pieces, height, "one row per piece: \(label)") }
                            if level == 0 {
                                // Read once more without libpng or zlib: the stored blocks, unfiltered.
                                XCTAssertNil(firstDifference(try StoredPNG.read(ours).samples, source), "stored blocks: \(label)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every filter (the five and the per-row choice) with every deflate strategy (zlib's four
    /// and png_pieces.c's own coders), 8 and 16 bit, odd widths, pieces of one row, of
    /// several rows with the image ending on a piece boundary and one row past it, and of the
    /// whole image: libpng reads back exactly the samples given.
    func testEveryFilterAndStrategyDecodesExactly() throws {
        let directory = try makeTemporaryDirectory(self)
        let filters = [NJ_PNG_FILTER_NONE, NJ_PNG_FILTER_SUB, NJ_PNG_FILTER_UP, NJ_PNG_FILTER_AVERAGE, NJ_PNG_FILTER_PAETH,
                       NJ_PNG_FILTER_ADAPTIVE].map { Int32($0) }
        let strategies = [NJ_DEFLATE_DEFAULT, NJ_DEFLATE_FILTERED, NJ_DEFLATE_HUFFMAN, NJ_DEFLATE_RLE,
                          NJ_DEFLATE_HUFFMAN_DIRECT, NJ_DEFLATE_RUNS_DIRECT].map { Int32($0) }
        // 333 wide: 999 (8-bit) or 1998 (16-bit) bytes a row; 3000-byte pieces hold 3 or 1 rows,
        // so 36 rows end on a piece boundary and 37 one row past it.
        let sizes = [(1, 1), (7, 5), (333, 36), (333, 37)]
        let setups = [(2, 1), (2, 3000), (1, PNGEncoder.defaultPieceBytes)]
        let url = directory.appendingPathComponent("method.png")
        for bits in [8, 16] {
            for (compressors, pieceBytes) in setups {
                let encoder = PNGEncoder(compressors: compressors, pieceBytes: pieceBytes)
                for (width, height) in sizes {
                    let source = samples(width: width, height: height, bits: bits, seed: UInt64(3 * width + height + bits))
                    for filter in filters {
                        for strategy in strategies {
                            let label = "\(width)x\(height) \(bits)-bit, filter \(filter), strategy \(strategy), pieces of \(pieceBytes) bytes"
                            try encode(source, width: width, height: height, bits: bits, level: 1, encoder: encoder, to: url,
                                       method: (filter, strategy))
                            XCTAssertNil(firstDifference(try readWithLibPNG(url, width: width, height: height, bits: bits), source), label)
                            _ = try chunks(url)
                        }
                    }
                }
            }
        }
    }

    /// The shipped `fast` coder's edge cases: noise that Huffman coding cannot shrink (stored
    /// blocks instead), one value only (the smallest code), byte counts in Fibonacci proportion
    /// (an optimal code deeper than deflate's 15 bits, which must be limited), and an image far
    /// larger than a piece.
    func testDirectHuffmanCoderEdgeCases() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("huffman.png")
        let encoder = PNGEncoder(compressors: 2)
        let method = (Int32(NJ_PNG_FILTER_NONE), Int32(NJ_DEFLATE_HUFFMAN_DIRECT))
        var state: UInt64 = 12345
        let noise = (0..<(3 * 700 * 200)).map { _ -> UInt16 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt16(state >> 56)
        }
        var fibonacci: [UInt16] = []
        var (a, b) = (1, 1)
        for value in 0..<20 {
            fibonacci += Array(repeating: UInt16(value), count: a)
            (a, b) = (b, a + b)
        }
        let fibonacciWidth = (fibonacci.count + 2) / 3
        fibonacci += Array(repeating: 0, count: 3 * fibonacciWidth - fibonacci.count)
        let cases: [(String, [UInt16], Int, Int)] = [
            ("noise", noise, 700, 200),
            ("one value", Array(repeating: 77, count: 3 * 50 * 9), 50, 9),
            ("Fibonacci counts", fibonacci, fibonacciWidth, 1),
            ("several pieces", samples(width: 1500, height: 120, bits: 8, seed: 5), 1500, 120),
        ]
        for (label, source, width, height) in cases {
            try encode(source, width: width, height: height, bits: 8, level: 1, encoder: encoder, to: url, method: method)
            XCTAssertNil(firstDifference(try readWithLibPNG(url, width: width, height: height, bits: 8), source), label)
            let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
            if label == "noise" { XCTAssertLessThan(size, source.count + source.count / 100 + 400, "stored, not expanded: \(size) bytes") }
            if label == "one value" { XCTAssertLessThan(size, 400, "one value codes in 1 bit: \(size) bytes") }
        }
    }

    /// The shipped `fast` coder's runs (matches at distance 1): noise with runs of every length
    /// from 2 to 600 (shorter than the shortest run coded, every match length, a rest of 1 or 2
    /// bytes past 258 that takes 3 from the match before) and long ones, at every offset within
    /// a word, at the start and end of rows and of pieces (pieces of 1, 2 and 64 rows, and of the whole image, so that a
    /// run crosses a piece's edge); a frame of one value (every piece one run); and a run of a
    /// piece's first byte (never matched: a piece is a stream of its own). libpng reads back
    /// exactly the samples given, and a flat frame comes out far smaller than Huffman coding alone
    /// makes it.
    func testDirectRunCoderEdgeCases() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("runs.png")
        let method = (Int32(NJ_PNG_FILTER_NONE), Int32(NJ_DEFLATE_RUNS_DIRECT))
        var state: UInt64 = 777
        func random(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33) % bound
        }
        // Every run length from 2 to 600 (so every match length, 3 to 258, is coded: the rests
        // of 261 to 273 bytes are the short ones), at offsets cycling through a word, and some
        // longer ones.
        let lengths = Array(2...600) + [774, 775, 776, 1000, 3000]
        var runs: [UInt16] = []
        for (k, length) in lengths.enumerated() {
            runs += (0..<(1 + k % 9)).map { _ in UInt16(random(256)) }
            runs += Array(repeating: UInt16(random(256)), count: length)
        }
        // 501 pixels (1503 bytes) a row: runs cross rows; then whole rows.
        let runsWidth = 501, runsHeight = (runs.count + 3 * runsWidth - 1) / (3 * runsWidth)
        runs += (0..<(3 * runsWidth * runsHeight - runs.count)).map { _ in UInt16(random(256)) }
        let flatWidth = 640, flatHeight = 48
        let flat = [UInt16](repeating: 9, count: 3 * flatWidth * flatHeight)
        // Rows that start (after the filter byte, 0 here) with a run of 0: the piece's first bytes.
        let leadingWidth = 100, leadingHeight = 20
        let leading = (0..<(3 * leadingWidth * leadingHeight)).map { i in i % (3 * leadingWidth) < 40 ? UInt16(0) : UInt16(random(256)) }
        let cases: [(String, [UInt16], Int, Int)] = [("runs", runs, runsWidth, runsHeight), ("flat", flat, flatWidth, flatHeight),
                                                     ("leading", leading, leadingWidth, leadingHeight)]
        for (label, source, width, height) in cases {
            var flatSizes: [Int32: Int] = [:]
            for pieceBytes in [1, 2 * (3 * width + 1), 64 * (3 * width + 1), PNGEncoder.defaultPieceBytes, 1 << 24] {
                let encoder = PNGEncoder(compressors: 2, pieceBytes: pieceBytes)
                for strategy in [Int32(NJ_DEFLATE_RUNS_DIRECT), Int32(NJ_DEFLATE_HUFFMAN_DIRECT)] {
                    try encode(source, width: width, height: height, bits: 8, level: 1, encoder: encoder, to: url,
                               method: (method.0, strategy))
                    XCTAssertNil(firstDifference(try readWithLibPNG(url, width: width, height: height, bits: 8), source),
                                 "\(label), strategy \(strategy), pieces of \(pieceBytes) bytes")
                    if label == "flat", pieceBytes == PNGEncoder.defaultPieceBytes {
                        flatSizes[strategy] = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int
                    }
                }
            }
            if label == "flat", let runsSize = flatSizes[Int32(NJ_DEFLATE_RUNS_DIRECT)],
               let huffmanSize = flatSizes[Int32(NJ_DEFLATE_HUFFMAN_DIRECT)] {
                // One bit a byte as literals; a few bits per 258 bytes as matches.
                XCTAssertLessThan(runsSize * 5, huffmanSize, "flat: runs \(runsSize) bytes, Huffman alone \(huffmanSize)")
            }
        }
    }

    /// PIL (python3-PIL), a second, independent reader, opens `fast` and `small` files, 8 and 16
    /// bit, with exactly the samples given. Skipped, visibly, where python3 or PIL is missing.
    func testPILReadsTheFiles() throws {
        // The first python3 that imports PIL: PATH's (a virtual environment or pyenv may lack
        // it), then the system's, where the python3-pil package installs it.
        let python = ["python3", "/usr/bin/python3"].first { candidate in
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            probe.arguments = [candidate, "-c", "import PIL"]
            probe.standardError = FileHandle.nullDevice
            guard (try? probe.run()) != nil else { return false }
            probe.waitUntilExit()
            return probe.terminationStatus == 0
        }
        guard let python else { throw XCTSkip("SKIPPED: no python3 with PIL (python3-pil) is installed") }
        let directory = try makeTemporaryDirectory(self)
        let encoder = PNGEncoder(compressors: 2, pieceBytes: 5000)
        for bits in [8, 16] {
            for level in [1, 6] {
                let (width, height) = (301, 41)
                let source = samples(width: width, height: height, bits: bits, seed: UInt64(bits + level))
                let url = directory.appendingPathComponent("pil-\(bits)-\(level).png")
                try encode(source, width: width, height: height, bits: bits, level: level, encoder: encoder, to: url)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [python, "-c", Self.pilReader, url.path]
                let pipe = Pipe()
                process.standardOutput = pipe
                try process.run()
                let output = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                XCTAssertEqual(process.terminationStatus, 0, "PIL could not read \(url.lastPathComponent)")
                let values = String(decoding: output, as: UTF8.self).split(separator: " ").compactMap { UInt16($0) }
                // PIL has no 16-bit RGB mode: it opens such files as 8-bit RGB, the high bytes.
                let expected = bits == 8 ? source : source.map { $0 >> 8 }
                XCTAssertNil(firstDifference(values, expected), "PIL, \(bits)-bit level \(level)")
            }
        }
    }

    /// Prints the samples PIL decodes, in row order, as decimal numbers.
    private static let pilReader = """
    import sys
    from PIL import Image
    im = Image.open(sys.argv[1])
    im.load()
    assert im.mode == "RGB", im.mode
    sys.stdout.write(" ".join(map(str, im.tobytes())))
    """

    /// A thread pool lent to the encoder, as a restore's engine lends its own.
    private final class LentPool: WorkerPoolOwner {
        let pool: OpaquePointer
        init(threads: Int) { pool = nj_threadpool_create(Int32(threads))! }
        deinit { nj_threadpool_destroy(pool) }
        var workerPool: OpaquePointer? { pool }
    }

    /// Pieces compressed in rounds on a lent pool with a thread per core (a restore's engine)
    /// give the same file, byte for byte, as the compressor threads, for every size, depth,
    /// level and piece size, with more compressors than the pool has threads and fewer, and
    /// also after an image abandoned half-way. A pool with fewer threads than cores leaves the
    /// pieces to the compressor threads.
    func testPiecesOnTheEnginesWorkersGiveTheSameFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let lent = LentPool(threads: Engine.availableCores)
        let sizes = [(1, 1), (7, 5), (333, 37), (1001, 12)]
        let setups = [(1, 1), (3, 1), (3, 3000), (2, PNGEncoder.defaultPieceBytes), (Engine.availableCores, 700)]
        for bits in [8, 16] {
            for level in [0, 1, 6] {
                for (compressors, pieceBytes) in setups {
                    let threaded = PNGEncoder(compressors: compressors, pieceBytes: pieceBytes)
                    let pooled = PNGEncoder(compressors: compressors, pieceBytes: pieceBytes)
                    for (width, height) in sizes {
                        let label = "\(width)x\(height) \(bits)-bit level \(level), \(compressors) compressors, pieces of \(pieceBytes) bytes"
                        let source = samples(width: width, height: height, bits: bits, seed: UInt64(3 * width + height + bits))
                        let a = directory.appendingPathComponent("threads.png"), b = directory.appendingPathComponent("pool.png")
                        try encode(source, width: width, height: height, bits: bits, level: level, encoder: threaded, to: a)
                        try encode(source, width: width, height: height, bits: bits, level: level, encoder: pooled, to: b, workers: lent)
                        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), "the same file: \(label)")
                        XCTAssertNil(firstDifference(try readWithLibPNG(b, width: width, height: height, bits: bits), source), label)
                    }
                }
            }
        }

        let encoder = PNGEncoder(compressors: 2, pieceBytes: 4096)
        let (width, height) = (501, 300)
        let url = directory.appendingPathComponent("abandoned.png")
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        try encoder.begin(fd: fd, width: width, height: height, bits: 8, compressionLevel: 1, text: PNGText(), displayPath: url.path,
                          workers: lent)
        XCTAssertTrue(encoder.piecesOnWorkers, "a pool with a thread per core compresses the pieces")
        let row = [UInt8](repeating: 128, count: 3 * width)
        for _ in 0..<(height / 2 + 3) { try row.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) } }
        encoder.abandon()
        let source = samples(width: width, height: height, bits: 8, seed: 11)
        let whole = directory.appendingPathComponent("whole.png")
        try encode(source, width: width, height: height, bits: 8, level: 1, encoder: encoder, to: whole, workers: lent)
        XCTAssertNil(firstDifference(try readWithLibPNG(whole, width: width, height: height, bits: 8), source), "after an abandoned image")

        if Engine.availableCores > 1 {
            let small = LentPool(threads: Engine.availableCores - 1)
            let other = directory.appendingPathComponent("fewer.png")
            let fd = open(other.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer { close(fd) }
            try encoder.begin(fd: fd, width: 8, height: 2, bits: 8, compressionLevel: 1, text: PNGText(), displayPath: other.path,
                              workers: small)
            XCTAssertFalse(encoder.piecesOnWorkers, "fewer threads than cores: the compressor threads take the pieces")
            encoder.abandon()
        }
    }

    /// Rows written in place (`reserveRows`, filled, `commitRows`), a batch at a time as the
    /// colour stage writes them, give the same file byte for byte as `writeRow`: batches within
    /// a piece, across several, as many pieces as the slots hold (then `reserveRows` says no and
    /// the batch goes row by row), on the compressor threads and on the engine's workers.
    func testRowsWrittenInPlaceGiveTheSameFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let lent = LentPool(threads: Engine.availableCores)
        var direct = 0, refused = 0
        for bits in [8, 16] {
            for (compressors, pieceBytes) in [(1, 1), (2, 700), (2, 5000), (3, PNGEncoder.defaultPieceBytes)] {
                let reference = PNGEncoder(compressors: compressors, pieceBytes: pieceBytes)
                let encoder = PNGEncoder(compressors: compressors, pieceBytes: pieceBytes)
                for (width, height) in [(1, 1), (7, 5), (333, 37)] {
                    for batch in [1, 3, 16, 40] {
                        for workers in [nil, lent] as [WorkerPoolOwner?] {
                            let label = "\(width)x\(height) \(bits)-bit, \(compressors) compressors, pieces of \(pieceBytes) bytes, batches of \(batch)"
                            let source = samples(width: width, height: height, bits: bits, seed: UInt64(width + 5 * height + bits))
                            let a = directory.appendingPathComponent("rows.png"), b = directory.appendingPathComponent("in-place.png")
                            try encode(source, width: width, height: height, bits: bits, level: 1, encoder: reference, to: a, workers: workers)
                            let fd = open(b.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                            XCTAssertGreaterThanOrEqual(fd, 0)
                            defer { close(fd) }
                            try encoder.begin(fd: fd, width: width, height: height, bits: bits, compressionLevel: 1,
                                              text: PNGText([("Software", "test"), ("Comment", "before the image data")]),
                                              displayPath: b.path, workers: workers)
                            var pointers = [UnsafeMutableRawPointer?](repeating: nil, count: batch)
                            let bytesPerSample = bits / 8, rowBytes = 3 * width * bytesPerSample
                            // Sample i of row y, in the encoder's host-order layout.
                            func store(_ row: Int, at pointer: UnsafeMutableRawPointer) {
                                for i in 0..<(3 * width) {
                                    let v = source[3 * width * row + i]
                                    if bits == 8 {
                                        pointer.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
                                    } else {
                                        pointer.storeBytes(of: v, toByteOffset: 2 * i, as: UInt16.self)
                                    }
                                }
                            }
                            var y = 0
                            while y < height {
                                let rows = y..<min(height, y + batch)
                                if try encoder.reserveRows(rows, into: &pointers) {
                                    direct += 1
                                    // Filled last row first: the places are independent.
                                    for j in rows.indices.reversed() { store(j, at: pointers[j - y]!) }
                                    try encoder.commitRows(rows)
                                } else {
                                    refused += 1
                                    var row = [UInt8](repeating: 0, count: rowBytes)
                                    for j in rows {
                                        row.withUnsafeMutableBytes { store(j, at: $0.baseAddress!) }
                                        try row.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) }
                                    }
                                }
                                y = rows.upperBound
                            }
                            try encoder.end(text: PNGText([("Nightjar", "after the image data")]))
                            XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), "the same file: \(label)")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(direct, 0, "some batches were written in place")
        XCTAssertGreaterThan(refused, 0, "batches over more pieces than slots are refused")

        // Out of order, or committed without a reservation: a clear error, nothing written.
        let encoder = PNGEncoder(compressors: 2, pieceBytes: 700)
        let url = directory.appendingPathComponent("misuse.png")
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        try encoder.begin(fd: fd, width: 10, height: 100, bits: 8, compressionLevel: 1, text: PNGText(), displayPath: url.path)
        var pointers = [UnsafeMutableRawPointer?](repeating: nil, count: 4)
        XCTAssertThrowsError(try encoder.reserveRows(2..<4, into: &pointers), "rows after the next")
        XCTAssertThrowsError(try encoder.commitRows(0..<70), "rows beyond any reserved piece")
        XCTAssertTrue(try encoder.reserveRows(0..<4, into: &pointers))
        XCTAssertThrowsError(try encoder.reserveRows(0..<101, into: &pointers), "rows beyond the height")
        encoder.abandon()
    }

    /// An image abandoned half-way leaves the encoder ready for the next, whose file is whole.
    func testAbandonedImageLeavesTheEncoderReady() throws {
        let directory = try makeTemporaryDirectory(self)
        let encoder = PNGEncoder(compressors: 2, pieceBytes: 4096)
        let (width, height) = (501, 300)
        let source = samples(width: width, height: height, bits: 8, seed: 7)
        let url = directory.appendingPathComponent("a.png")
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        try encoder.begin(fd: fd, width: width, height: height, bits: 8, compressionLevel: 1, text: PNGText(), displayPath: url.path)
        let row = [UInt8](repeating: 128, count: 3 * width)
        for _ in 0..<(height / 2) { try row.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) } }
        encoder.abandon()
        XCTAssertThrowsError(try row.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) }, "no image open")
        let whole = directory.appendingPathComponent("b.png")
        try encode(source, width: width, height: height, bits: 8, level: 1, encoder: encoder, to: whole)
        XCTAssertNil(firstDifference(try readWithLibPNG(whole, width: width, height: height, bits: 8), source))
    }

    /// A piece's write that fails after the header went out (the file-size limit reached: the
    /// compressing thread's pwrite gets EFBIG) is an error in errno's words, naming the file,
    /// whether the pieces go to the compressor threads or to the engine's workers; the encoder
    /// then writes the next image whole.
    func testPieceWriteFailureIsReported() throws {
        let directory = try makeTemporaryDirectory(self)
        let (width, height) = (501, 300)
        let source = samples(width: width, height: height, bits: 8, seed: 5)
        var saved = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved), 0)
        // Past the limit a write fails with EFBIG instead of raising SIGXFSZ.
        let handler = signal(SIGXFSZ, SIG_IGN)
        defer {
            _ = setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
            _ = signal(SIGXFSZ, handler)
        }
        for workers in [nil, LentPool(threads: Engine.availableCores)] as [WorkerPoolOwner?] {
            let encoder = PNGEncoder(compressors: 2, pieceBytes: 4096)
            let url = directory.appendingPathComponent("limited.png")
            var limit = rlimit(rlim_cur: 20_000, rlim_max: saved.rlim_max)
            XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit), 0)
            XCTAssertThrowsError(try encode(source, width: width, height: height, bits: 8, level: 1, encoder: encoder, to: url,
                                            workers: workers)) { error in
                XCTAssertTrue("\(error)".contains("File too large"), "\(error)")
                XCTAssertTrue("\(error)".contains("limited.png"), "\(error)")
            }
            _ = setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
            let whole = directory.appendingPathComponent("whole.png")
            try encode(source, width: width, height: height, bits: 8, level: 1, encoder: encoder, to: whole, workers: workers)
            XCTAssertNil(firstDifference(try readWithLibPNG(whole, width: width, height: height, bits: 8), source))
        }
    }

    /// A write that fails (a full disk: /dev/full) is an error in errno's words.
    func testWriteFailureIsReported() throws {
        let fd = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try XCTSkipIf(fd < 0, "SKIPPED: no /dev/full here")
        defer { close(fd) }
        let encoder = PNGEncoder(compressors: 2, pieceBytes: 4096)
        let width = 300
        let row = [UInt8](repeating: 9, count: 3 * width)
        XCTAssertThrowsError(try {
            try encoder.begin(fd: fd, width: width, height: 200, bits: 8, compressionLevel: 1, text: PNGText(), displayPath: "/x/out.png")
            for _ in 0..<200 { try row.withUnsafeBytes { try encoder.writeRow($0.baseAddress!) } }
            try encoder.end(text: PNGText())
        }()) { error in
            XCTAssertTrue("\(error)".contains("No space left on device"), "\(error)")
            XCTAssertTrue("\(error)".contains("/x/out.png"), "\(error)")
        }
    }
}
