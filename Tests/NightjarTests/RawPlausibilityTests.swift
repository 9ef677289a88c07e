import Foundation
@testable import Nightjar
import NightjarIOShims
import XCTest

/// Issue #14, case 10 for RAW formats other than DNG: what LibRaw reads is checked for
/// plausibility (`RawPlausibility`), so that a crafted or damaged file is refused, not
/// restored into a wrong image. The files are minimal TIFF-based RAWs of a camera LibRaw does
/// not know (no DNGVersion, so `DNGStructure` leaves them to LibRaw), with 12-bit packed data:
/// LibRaw 0.20 decodes such data cut short or starting late without an error.
final class RawPlausibilityTests: XCTestCase {
    /// A little-endian TIFF RAW: one IFD (Make, Model, CFA pattern RGGB, one strip of
    /// `width * height` samples of `bits` bits packed most significant bit first), the strip
    /// after it. `shift` moves the recorded strip offset; `cut` drops bytes from the end.
    static func packedTIFF(width: Int = 64, height: Int = 64, bits: Int = 12, shift: Int = 0, cut: Int = 0) -> (file: [UInt8], samples: [UInt16]) {
        let dataBytes = width * height * bits / 8
        var entries: [(tag: UInt16, type: UInt16, count: Int, value: [UInt8])] = []
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
        let make = Array("Nightjar\0".utf8), model = Array("Plausibility\0".utf8)
        entries += [(254, 4, 1, le32(0)), (256, 4, 1, le32(width)), (257, 4, 1, le32(height)), (258, 3, 1, le16(bits)),
                    (259, 3, 1, le16(1)), (262, 3, 1, le16(32803)), (271, 2, make.count, make), (272, 2, model.count, model),
                    (273, 4, 1, le32(0)), (277, 3, 1, le16(1)), (278, 4, 1, le32(height)), (279, 4, 1, le32(dataBytes)),
                    (33421, 3, 2, le16(2) + le16(2)), (33422, 1, 4, [0, 1, 1, 2])]
        let directoryEnd = 8 + 2 + 12 * entries.count + 4
        var outOfLine: [UInt8] = []
        var directory = le16(entries.count)
        var stripEntry = 0
        for entry in entries {
            directory += le16(Int(entry.tag)) + le16(Int(entry.type)) + le32(entry.count)
            if entry.tag == 273 { stripEntry = directory.count }
            if entry.value.count <= 4 {
                directory += entry.value + [UInt8](repeating: 0, count: 4 - entry.value.count)
            } else {
                directory += le32(directoryEnd + outOfLine.count)
                outOfLine += entry.value + (entry.value.count % 2 == 1 ? [0] : [])
            }
        }
        directory += le32(0)
        let dataStart = directoryEnd + outOfLine.count
        directory.replaceSubrange(stripEntry..<(stripEntry + 4), with: le32(dataStart + shift))
        var data = [UInt8](repeating: 0, count: dataBytes)
        var samples: [UInt16] = []
        var state: UInt32 = 14
        for index in 0..<(width * height) {
            state = state &* 1_664_525 &+ 1_013_904_223
            let value = 256 + Int(state >> 20) % 1024
            samples.append(UInt16(value))
            for bit in 0..<bits where value >> (bits - 1 - bit) & 1 == 1 {
                let at = index * bits + bit
                data[at / 8] |= 0x80 >> UInt8(at % 8)
            }
        }
        let file = [0x49, 0x49, 42, 0] + le32(8) + directory + outOfLine + data
        return (Array(file.dropLast(cut)), samples)
    }

    func write(_ bytes: [UInt8], _ name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// The intact file decodes to exactly its samples; cut short or starting late by less than
    /// a row, it is refused (LibRaw alone restores both); with its offset past the end, it is
    /// refused saying so (LibRaw alone says "Input/output error"). Through `restore`, the batch
    /// names the file and goes on.
    func testCraftedTIFFRawsAreRefusedNotRestoredWrong() throws {
        let dir = try makeTemporaryDirectory(self)
        let (intact, samples) = Self.packedTIFF()
        let frame = try RawDecoder().decode(try write(intact, "intact.tif", in: dir))
        XCTAssertEqual(frame.width, 64)
        XCTAssertEqual(frame.height, 64)
        XCTAssertEqual(frame.cfa, .rggb)
        XCTAssertEqual(frame.mosaic, samples, "the decoder reads the packed samples exactly")

        let past = Self.packedTIFF(shift: 100_000).file
        let cases: [(String, [UInt8], String)] = [
            ("cut", Self.packedTIFF(cut: 64).file, "lie past the end of the"),
            ("late", Self.packedTIFF(shift: 64).file, "lie past the end of the"),
            ("late-by-two", Self.packedTIFF(shift: 2).file, "lie past the end of the"),
            ("past", past, "past the end of the \(past.count)-byte file"),
        ]
        for (name, bytes, message) in cases {
            let url = try write(bytes, "\(name).tif", in: dir)
            for isolated in [true, false] {
                XCTAssertThrowsError(try RawDecoder(isolated: isolated).decode(url), name) {
                    guard case .corrupt(let path, let reason) = $0 as? CaptureError else { return XCTFail("\(name): \($0)") }
                    XCTAssertEqual(path, url.path)
                    XCTAssertTrue(reason.contains(message), "\(name): \(reason)")
                }
            }
        }
        let model = dir.appendingPathComponent("small.safetensors")
        try HardeningTests.smallModel().write(to: model)
        let run = try runNightjar(["restore", dir.appendingPathComponent("intact.tif").path, dir.appendingPathComponent("cut.tif").path,
                                   "-o", dir.appendingPathComponent("out").path + "/", "--model", model.path, "--threads", "1"])
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("cut.tif: truncated or corrupt RAW data: the raw data (6144 bytes from byte"), run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("out").path), ["intact.png"])
    }

    /// Each check of `RawPlausibility` on its own, from a plausible description.
    func testEachPlausibilityCheck() {
        var good = nj_raw_info()
        (good.raw_width, good.raw_height, good.width, good.height) = (100, 80, 96, 78)
        (good.top_margin, good.left_margin) = (2, 4)
        (good.data_offset, good.data_size, good.file_size) = (400, 12_000, 12_400)
        (good.bits_per_sample, good.maximum) = (12, 4095)
        XCTAssertNil(RawPlausibility.problem(good))
        var dng = good
        dng.dng_version = 0x0104_0000
        dng.data_size = 1 << 30 // a DNG's single count is not LibRaw's to judge: DNGStructure checked every strip
        XCTAssertNil(RawPlausibility.problem(dng))
        var unknown = good
        (unknown.bits_per_sample, unknown.data_size, unknown.file_size) = (0, 0, -1)
        XCTAssertNil(RawPlausibility.problem(unknown), "formats that record neither")

        func change(_ edit: (inout nj_raw_info) -> Void) -> String {
            var info = good
            edit(&info)
            return RawPlausibility.problem(info) ?? "(accepted)"
        }
        XCTAssertEqual(change { $0.top_margin = 3 }, "the visible area of 96 x 78 pixels at (4, 3) does not fit a readout of 100 x 80")
        XCTAssertEqual(change { $0.width = 1 }, "the visible area of 1 x 78 pixels at (4, 2) does not fit a readout of 100 x 80")
        XCTAssertEqual(change { $0.raw_height = 0 }, "the visible area of 96 x 78 pixels at (4, 2) does not fit a readout of 100 x 0")
        XCTAssertEqual(change { $0.left_margin = -1 }, "the visible area of 96 x 78 pixels at (-1, 2) does not fit a readout of 100 x 80")
        XCTAssertEqual(change { $0.data_offset = 12_400 }, "the raw data start at byte 12400, past the end of the 12400-byte file (truncated or damaged)")
        XCTAssertEqual(change { $0.data_offset = -8 }, "the raw data start at byte -8, past the end of the 12400-byte file (truncated or damaged)")
        XCTAssertEqual(change { $0.data_size = 12_001 }, "the raw data (12001 bytes from byte 400) lie past the end of the 12400-byte file (truncated or damaged)")
        XCTAssertEqual(change { $0.data_size = Int64.max }, "the raw data (9223372036854775807 bytes from byte 400) lie past the end of the 12400-byte file (truncated or damaged)")
        XCTAssertEqual(change { $0.bits_per_sample = 17 }, "bits per sample 17 is outside 1...16")
        XCTAssertEqual(change { $0.maximum = 0 }, "white level 0 is outside 1...65535")
        XCTAssertEqual(change { $0.maximum = 65536 }, "white level 65536 is outside 1...65535")
    }
}
