import Foundation
import XCTest
@testable import Nightjar

/// Headerless sensor dumps (`.raw` with `--sensor`): the packings against their definition,
/// against LibRaw's decoding of the same frame as DNG, and restored end to end.
final class SensorDumpTests: XCTestCase {
    // MARK: - The packings, by hand from their definition

    func testPackingsUnpackAsDefined() {
        // RAW10: high bytes 0x12 0x34 0x56 0x78, low bits byte 0b11_10_01_00 (pixel 0 in bits 1..0).
        let raw10: [UInt8] = [0x12, 0x34, 0x56, 0x78, 0b1110_0100]
        // RAW12: high bytes 0xAB 0xCD, low nibbles byte 0x21 (pixel 0 in bits 3..0).
        let raw12: [UInt8] = [0xAB, 0xCD, 0x21]
        let raw16: [UInt8] = [0x34, 0x12, 0xFF, 0x03]
        func unpack(_ packing: SensorPacking, _ bytes: [UInt8], _ count: Int) -> [UInt16] {
            var out = [UInt16](repeating: 0, count: count)
            bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { SensorDump.unpack(packing, b.baseAddress!, pixels: count, into: $0.baseAddress!) } }
            return out
        }
        XCTAssertEqual(unpack(.mipiRaw10, raw10, 4), [0x48, 0xD1, 0x15A, 0x1E3])
        XCTAssertEqual(unpack(.mipiRaw12, raw12, 2), [0xAB1, 0xCD2])
        XCTAssertEqual(unpack(.raw16, raw16, 2), [0x1234, 0x03FF])
        // The writer used by the other tests packs the same bytes.
        func description(_ packing: SensorPacking, width: Int, bits: Int) -> SensorDescription {
            SensorDescription(id: "t", width: width, height: 1, stride: packing.rowBytes(width: width), bits: bits, cfa: .rggb,
                              black: [0], white: Double((1 << bits) - 1), packing: packing)
        }
        XCTAssertEqual(SensorDump.encode([0x48, 0xD1, 0x15A, 0x1E3], description: description(.mipiRaw10, width: 4, bits: 10)), raw10)
        XCTAssertEqual(SensorDump.encode([0xAB1, 0xCD2], description: description(.mipiRaw12, width: 2, bits: 12)), raw12)
        XCTAssertEqual(SensorDump.encode([0x1234, 0x03FF], description: description(.raw16, width: 2, bits: 16)), raw16)
        // Rows take whole groups, as libcamera counts them.
        XCTAssertEqual(SensorPacking.mipiRaw10.rowBytes(width: 4057), 1015 * 5)
        XCTAssertEqual(SensorPacking.mipiRaw12.rowBytes(width: 4057), 2029 * 3)
        XCTAssertEqual(SensorPacking.raw16.rowBytes(width: 4057), 8114)
    }

    // MARK: - Against LibRaw's reading of the same frame as DNG

    /// A random mosaic in `bits`, and the same frame as a dump and as a DNG.
    func makePair(in directory: URL, name: String, width: Int, height: Int, bits: Int, packing: SensorPacking, cfa: CFAPattern,
                  extraStride: Int, seed: UInt64) throws -> (dump: URL, dng: URL, description: SensorDescription, mosaic: [UInt16]) {
        var generator = SplitMix64(seed: seed)
        let black = 1 << (bits - 4), white = (1 << bits) - 1
        // Dark: most values near black, some bright, a few at the extremes.
        let mosaic = (0..<(width * height)).map { i -> UInt16 in
            switch i % 97 {
            case 0: return 0
            case 1: return UInt16(white)
            default: return UInt16(black + Int(generator.next() % UInt64(i % 5 == 0 ? white - black : 64)))
            }
        }
        let stride = packing.rowBytes(width: width) + extraStride
        let description = SensorDescription(id: name, width: width, height: height, stride: stride, bits: bits, cfa: cfa,
                                            black: [Double(black)], white: Double(white), packing: packing)
        try description.validate(path: name)
        let dump = directory.appendingPathComponent(name + ".raw")
        try Data(SensorDump.encode(mosaic, description: description)).write(to: dump)
        let image = DNGImage(width: width, height: height, layout: .cfa(cfa), samples: mosaic, significantBits: bits,
                             black: [UInt16(black)], white: UInt32(white))
        let dng = try CaptureFixtures.write(image, named: name + ".dng", in: directory)
        return (dump, dng, description, mosaic)
    }

    // LibRaw takes no image narrower or lower than 22 pixels.
    static let cases: [(packing: SensorPacking, bits: Int, width: Int, height: Int, extraStride: Int, cfa: CFAPattern)] = [
        (.raw16, 12, 37, 23, 6, .bggr), (.raw16, 16, 40, 24, 0, .rggb), (.raw16, 10, 41, 26, 22, .gbrg),
        (.mipiRaw10, 10, 37, 25, 27, .rggb), (.mipiRaw10, 10, 38, 22, 0, .grbg), (.mipiRaw10, 10, 39, 23, 3, .bggr),
        (.mipiRaw10, 10, 40, 24, 24, .gbrg),
        (.mipiRaw12, 12, 37, 27, 29, .bggr), (.mipiRaw12, 12, 36, 24, 0, .rggb), (.mipiRaw12, 12, 43, 23, 13, .grbg),
    ]

    func testDumpsDecodeToTheMosaicLibRawReadsFromTheEquivalentDNG() throws {
        let directory = try makeTemporaryDirectory(self)
        for (index, c) in Self.cases.enumerated() {
            let name = "\(c.packing.rawValue)-\(c.width)x\(c.height)-s\(c.extraStride)"
            let pair = try makePair(in: directory, name: name, width: c.width, height: c.height, bits: c.bits, packing: c.packing,
                                    cfa: c.cfa, extraStride: c.extraStride, seed: UInt64(index + 1))
            let fromDump = try SensorDump.decode(pair.dump, description: pair.description)
            let fromDNG = try RawDecoder().decode(pair.dng)
            XCTAssertEqual(fromDump.mosaic, pair.mosaic, name)
            XCTAssertEqual(fromDump.mosaic, fromDNG.mosaic, name)
            XCTAssertEqual([fromDump.width, fromDump.height], [fromDNG.width, fromDNG.height], name)
            XCTAssertEqual(fromDump.cfa, fromDNG.cfa, name)
            XCTAssertEqual(fromDump.black, fromDNG.black, name)
            XCTAssertEqual(fromDump.white, fromDNG.white, name)
            XCTAssertEqual(fromDump.flip, fromDNG.flip, name)
        }
    }

    func testDumpsRestoreToTheSameImageAsTheEquivalentDNG() throws {
        let directory = try makeTemporaryDirectory(self)
        for (index, c) in Self.cases.enumerated() where index % 3 == 0 || c.packing == .mipiRaw12 {
            let name = "\(c.packing.rawValue)-\(c.width)x\(c.height)"
            let pair = try makePair(in: directory, name: name, width: c.width, height: c.height, bits: c.bits, packing: c.packing,
                                    cfa: c.cfa, extraStride: c.extraStride, seed: UInt64(100 + index))
            var options = RestoreOptions(bits: 16)
            options.compressionLevel = 0
            // The same image from both only in network colour: a dump has no colour calibration.
            options.color = .network
            options.sensorDescriptions = [pair.description]
            let offset = c.cfa.rggbOffset
            let aligned = CapturePipeline.alignedSize(width: c.width, height: c.height, offset: offset)
            let network = CaptureFixtures.affineNetwork(alignedHeight: aligned.height, alignedWidth: aligned.width)
            let dumpReport = try restoreCapture(input: pair.dump, output: directory.appendingPathComponent(name + "-dump.png"),
                                                options: options, modelName: "affine", network: network)
            let dngReport = try restoreCapture(input: pair.dng, output: directory.appendingPathComponent(name + "-dng.png"),
                                               options: options, modelName: "affine", network: network)
            let fromDump = try StoredPNG.read(directory.appendingPathComponent(name + "-dump.png"))
            let fromDNG = try StoredPNG.read(directory.appendingPathComponent(name + "-dng.png"))
            XCTAssertEqual([fromDump.width, fromDump.height], [aligned.width, aligned.height], name)
            XCTAssertEqual(fromDump.samples, fromDNG.samples, name)
            XCTAssertEqual(dumpReport.amplification, dngReport.amplification, name)
            XCTAssertEqual(dumpReport.sensor, name)
            XCTAssertNil(dngReport.sensor)
            XCTAssertEqual(dumpReport.cameraMake, "", "a dump has no make; the DNG decoded before must not lend its own")
        }
    }

    // MARK: - Built-in modes and choosing one

    func testBuiltInModesAreDistinctByIDAndSize() throws {
        let modes = BuiltInSensors.modes
        XCTAssertEqual(Set(modes.map(\.id)).count, modes.count)
        XCTAssertEqual(Set(modes.map(\.fileBytes)).count, modes.count, "a dump's size must select at most one built-in mode")
        for mode in modes {
            XCTAssertNoThrow(try mode.validate(path: mode.id), mode.id)
            XCTAssertEqual(mode.stride % 32, 0, mode.id)
            XCTAssertLessThan(mode.stride - mode.packing.rowBytes(width: mode.width), 32, mode.id)
            // libcamera's tuning: black 4096 in 16-bit units.
            XCTAssertEqual(mode.black, [Double](repeating: Double(4096 >> (16 - mode.bits)), count: 4), mode.id)
        }
        let hq = try XCTUnwrap(modes.first { $0.id == "imx477-4056x3040" })
        XCTAssertEqual([hq.bits, hq.stride, Int(hq.black[0]), Int(hq.white)], [12, 6112, 256, 4095])
        XCTAssertEqual(hq.packing, .mipiRaw12)
        XCTAssertEqual(try SensorDescription.resolve("imx477").count, 8)
        XCTAssertEqual(try SensorDescription.resolve("IMX708-4608x2592").map(\.id), ["imx708-4608x2592"])
        XCTAssertThrowsError(try SensorDescription.resolve("imx999")) { error in
            XCTAssertTrue("\(error)".contains("imx219-3280x2464"), "\(error)")
        }
    }

    func testADumpWithoutSensorUsesTheBuiltInModeItsSizeMatches() throws {
        let directory = try makeTemporaryDirectory(self)
        let mode = try XCTUnwrap(BuiltInSensors.modes.first { $0.id == "imx219-640x480" })
        var generator = SplitMix64(seed: 7)
        let mosaic = (0..<(640 * 480)).map { _ in UInt16(64 + generator.next() % 200) }
        let dump = directory.appendingPathComponent("frame.RAW")
        try Data(SensorDump.encode(mosaic, description: mode)).write(to: dump)
        XCTAssertTrue(SensorDump.isHeaderlessDump(path: dump.path))
        var options = RestoreOptions(amplification: 1, bits: 8)
        options.compressionLevel = 0
        let report = try restoreCapture(input: dump, output: directory.appendingPathComponent("frame.png"), options: options,
                                        modelName: "affine", network: CaptureFixtures.affineNetwork(alignedHeight: 480, alignedWidth: 640))
        XCTAssertEqual(report.sensor, "imx219-640x480")
        XCTAssertEqual(report.cfa, "RGGB")
        XCTAssertEqual(report.black, [64, 64, 64, 64])
        XCTAssertEqual(report.white, 1023)
        // The red plane is the normalised input: check one pixel against the raw value.
        let png = try StoredPNG.read(directory.appendingPathComponent("frame.png"))
        let expected = CapturePipeline.quantise8(Float(max(0, Double(mosaic[0]) - 64) / (1023 - 64)))
        XCTAssertEqual(png.samples[0], UInt16(expected))
    }

    func testTIFFBasedRawFilesStillGoToLibRaw() throws {
        let directory = try makeTemporaryDirectory(self)
        let image = DNGImage(width: 32, height: 24, layout: .cfa(.rggb),
                             samples: CaptureFixtures.positionMosaic(width: 32, height: 24, base: 600, modulus: 900))
        let url = try CaptureFixtures.write(image, named: "panasonic-like.raw", in: directory)
        XCTAssertFalse(SensorDump.isHeaderlessDump(path: url.path))
        XCTAssertFalse(SensorDump.isHeaderlessDump(path: directory.appendingPathComponent("x.dng").path))
        let report = try restoreCapture(input: url, output: directory.appendingPathComponent("p.png"), options: RestoreOptions(amplification: 1),
                                        modelName: "affine", network: CaptureFixtures.affineNetwork(alignedHeight: 24, alignedWidth: 32))
        XCTAssertNil(report.sensor)
        XCTAssertEqual(report.cameraMake, "Nightjar")
    }

    // MARK: - Refusals

    /// Storage that fails the test if asked for pixel memory.
    struct NoStorage: MosaicStorage {
        func store(width: Int, height: Int, cfa: CFAPattern, path: String,
                   _ fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws {
            XCTFail("pixel memory was asked for (\(width)x\(height)) before the size was checked")
        }
    }

    func testAWrongSizeIsRefusedBeforeAnyPixelMemory() throws {
        let directory = try makeTemporaryDirectory(self)
        let description = SensorDescription(id: "mine", width: 100, height: 50, stride: 128, bits: 10, cfa: .bggr, black: [64],
                                            white: 1023, packing: .mipiRaw10)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { scratch.deallocate() }
        for size in [128 * 50 - 1, 128 * 50 + 1, 0, 125 * 50] {
            let url = directory.appendingPathComponent("short-\(size).raw")
            try Data(repeating: 0x11, count: size).write(to: url)
            var storage = NoStorage()
            XCTAssertThrowsError(try SensorDump.decode(path: url.path, candidates: [description], maxPixels: 0, scratch: scratch,
                                                       into: &storage)) { error in
                XCTAssertEqual(error as? CaptureError, .corrupt(path: url.path, reason:
                    "the dump is \(size) bytes; mine: 100x50 10-bit BGGR mipi-raw10, stride 128 is 6400 bytes (stride × height)"))
            }
        }
        // Over the pixel limit, also before allocating.
        let url = directory.appendingPathComponent("big.raw")
        try Data(repeating: 0, count: 6400).write(to: url)
        var storage = NoStorage()
        XCTAssertThrowsError(try SensorDump.decode(path: url.path, candidates: [description], maxPixels: 4999, scratch: scratch,
                                                   into: &storage)) { error in
            XCTAssertEqual(error as? CaptureError, .tooLarge(path: url.path, pixels: 5000, limit: 4999))
        }
        // No description and no built-in mode of that size.
        XCTAssertThrowsError(try SensorDump.decode(path: url.path, candidates: [], maxPixels: 0, scratch: scratch, into: &storage)) { error in
            XCTAssertTrue("\(error)".contains("--sensor FILE.json"), "\(error)")
        }
        // One byte per pixel at a built-in size: the Pi 5's compressed raw, with the way out.
        let compressed = directory.appendingPathComponent("pisp.raw")
        try Data(repeating: 0, count: 4608 * 2592).write(to: compressed)
        XCTAssertThrowsError(try SensorDump.decode(path: compressed.path, candidates: [], maxPixels: 0, scratch: scratch,
                                                   into: &storage)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("PISP_COMP1") && text.contains("lossy") && text.contains("rpicam-still --raw")
                          && text.contains(":U"), text)
        }
        // Also with the sensor named.
        let imx708 = try SensorDescription.resolve("imx708-4608x2592")
        XCTAssertThrowsError(try SensorDump.decode(path: compressed.path, candidates: imx708, maxPixels: 0, scratch: scratch,
                                                   into: &storage)) { error in
            XCTAssertTrue("\(error)".contains("PISP_COMP1"), "\(error)")
        }
    }

    func testDescriptionFilesParseAndBadFieldsAreNamed() throws {
        let good = #"{"width": 4056, "height": 3040, "stride": 6112, "bits": 12, "cfa": "bggr", "black": 256, "white": 4095, "packing": "mipi-raw12"}"#
        let parsed = try SensorDescription.parse(Array(good.utf8), path: "/s/hq.json")
        XCTAssertEqual(parsed, SensorDescription(id: "/s/hq.json", width: 4056, height: 3040, stride: 6112, bits: 12, cfa: .bggr,
                                                 black: [256, 256, 256, 256], white: 4095, packing: .mipiRaw12))
        let perSite = try SensorDescription.parse(Array(good.replacingOccurrences(of: "\"black\": 256", with: "\"black\": [256, 257, 258, 259]").utf8),
                                                  path: "/s/hq.json")
        XCTAssertEqual(perSite.black, [256, 257, 258, 259])
        func refused(_ text: String, field: String, _ check: String = "") {
            XCTAssertThrowsError(try SensorDescription.parse(Array(text.utf8), path: "/s/x.json")) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix("/s/x.json: "), message)
                XCTAssertTrue(message.contains("'\(field)'"), "\(message) does not name \(field)")
                XCTAssertTrue(check.isEmpty || message.contains(check), message)
                XCTAssertFalse(message.contains("\n"))
            }
        }
        refused(good.replacingOccurrences(of: "\"bits\": 12", with: "\"bits\": 10"), field: "bits", "12 for mipi-raw12")
        refused(good.replacingOccurrences(of: "6112", with: "6000"), field: "stride", "at least 6084")
        refused(good.replacingOccurrences(of: "\"cfa\": \"bggr\"", with: "\"cfa\": \"RGBW\""), field: "cfa")
        refused(good.replacingOccurrences(of: "4095", with: "200"), field: "white")
        refused(good.replacingOccurrences(of: "\"width\": 4056, ", with: ""), field: "width", "missing")
        refused(good.replacingOccurrences(of: "\"width\"", with: "\"widht\""), field: "widht", "not a sensor description field")
        refused(good.replacingOccurrences(of: "mipi-raw12", with: "mipi-raw14"), field: "packing")
        XCTAssertThrowsError(try SensorDescription.parse(Array(good.replacingOccurrences(of: "mipi-raw12", with: "PISP_COMP1").utf8),
                                                         path: "/s/x.json")) { error in
            XCTAssertTrue("\(error)".contains("lossy"), "\(error)")
        }
        XCTAssertThrowsError(try SensorDescription.parse(Array("[1]".utf8), path: "/s/x.json"))
    }
}
