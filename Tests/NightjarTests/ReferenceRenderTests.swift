import Foundation
@testable import Nightjar
import XCTest

/// The reference `nightjar evaluate` measures against, checked against LibRaw's own
/// `dcraw_emu` (libraw-bin, installed by scripts/install-deps.sh) with the training targets'
/// settings: -w (camera white balance), -W (no auto-brightening), -6 (16 bits), default
/// demosaic, sRGB and gamma.
final class ReferenceRenderTests: XCTestCase {
    struct PPM: Equatable {
        var width: Int
        var height: Int
        var samples: [UInt16]
    }

    /// `dcraw_emu` on `url`, its 16-bit PPM read from stdout; `flip` nil keeps the file's.
    func dcrawEmu(_ url: URL, flip: Int? = 0) throws -> PPM {
        let tool = "/usr/bin/dcraw_emu"
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("SKIPPED: \(tool) is missing (scripts/install-deps.sh installs libraw-bin)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-w", "-W", "-6"] + (flip.map { ["-t", "\($0)"] } ?? []) + ["-Z", "-", url.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let bytes = [UInt8](out.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        // "P6\nW H\n65535\n" then big-endian samples.
        var fields: [String] = [], index = 0
        while fields.count < 4, index < bytes.count {
            var field = ""
            while index < bytes.count, bytes[index] > 32 { field.append(Character(UnicodeScalar(bytes[index]))); index += 1 }
            index += 1
            if !field.isEmpty { fields.append(field) }
        }
        guard fields.count == 4, fields[0] == "P6", fields[3] == "65535", let width = Int(fields[1]), let height = Int(fields[2]),
              bytes.count - index == width * height * 6 else {
            XCTFail("dcraw_emu wrote no 16-bit PPM: \(fields)")
            return PPM(width: 0, height: 0, samples: [])
        }
        let samples = (0..<(width * height * 3)).map { UInt16(bytes[index + 2 * $0]) << 8 | UInt16(bytes[index + 2 * $0 + 1]) }
        return PPM(width: width, height: height, samples: samples)
    }

    /// A bright (ratio 1) synthetic capture of Nightjar's test scene.
    func longCapture(_ name: String, width: Int, height: Int, cfa: CFAPattern, orientation: Int, in directory: URL) throws -> URL {
        let exposure = SyntheticScene.Exposure(cfa: cfa, bits: 12, exposureRatio: 1.5, orientation: orientation)
        return try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height), exposure: exposure),
                                         named: name, in: directory)
    }

    /// The whole 16-bit rendering equals dcraw_emu's, sample for sample, on the golden DNGs and
    /// synthetic ones of other layouts and odd sizes.
    func testRenderEqualsDcrawEmu() throws {
        let directory = try makeTemporaryDirectory(self)
        var files = [
            try longCapture("bggr.dng", width: 97, height: 66, cfa: .bggr, orientation: 1, in: directory),
            try longCapture("grbg.dng", width: 64, height: 81, cfa: .grbg, orientation: 6, in: directory),
        ]
        if let captures = try? SharedReference.url("golden/captures") {
            files += try FileManager.default.contentsOfDirectory(atPath: captures.path).sorted()
                .filter { $0.hasSuffix(".dng") }.map { captures.appendingPathComponent($0) }
        } else {
            print("SKIPPED: the golden DNGs of ../shared/golden/captures (missing); synthetic DNGs only")
        }
        for file in files {
            let expected = try dcrawEmu(file)
            let rendered = try ReferenceRender.render16(file)
            XCTAssertEqual(rendered.width, expected.width, file.lastPathComponent)
            XCTAssertEqual(rendered.height, expected.height, file.lastPathComponent)
            XCTAssertTrue(rendered.pixels == expected.samples, "\(file.lastPathComponent): differs from dcraw_emu")
            if file.deletingLastPathComponent() == directory {
                // Not a degenerate image: the bright scene's range is there.
                XCTAssertGreaterThan((rendered.pixels.max() ?? 0) - (rendered.pixels.min() ?? 0), 30_000, file.lastPathComponent)
            }
        }
    }

    /// The 8-bit reference for a restored short exposure: the area `restore` kept (RGGB offset,
    /// even size), turned as LibRaw turns it, rounded to nearest. Checked against dcraw_emu with
    /// the file's own orientation.
    func testReferenceCoversTheRestoredArea() throws {
        let directory = try makeTemporaryDirectory(self)
        for (cfa, orientation) in [(CFAPattern.bggr, 6), (.gbrg, 8), (.grbg, 3), (.rggb, 1)] {
            let width = 45, height = 38
            let long = try longCapture("long-\(cfa)-\(orientation).dng", width: width, height: height, cfa: cfa,
                                       orientation: orientation, in: directory)
            let short = try CaptureFixtures.write(
                SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height),
                                           exposure: .init(cfa: cfa, bits: 12, orientation: orientation)),
                named: "short-\(cfa)-\(orientation).dng", in: directory)
            let offset = cfa.rggbOffset
            let aligned = CapturePipeline.alignedSize(width: width, height: height, offset: offset)
            let output = directory.appendingPathComponent("short-\(cfa)-\(orientation).png")
            let report = try restoreCapture(input: short, output: output, modelName: "affine",
                                            network: CaptureFixtures.affineNetwork(alignedHeight: aligned.height, alignedWidth: aligned.width))
            let area = ReferenceRender.Area(report)
            let reference = try ReferenceRender.render(long, area: area)
            let restored = try PNGReader.readRGB8(output)
            XCTAssertEqual(reference.width, restored.width, "\(cfa) \(orientation)")
            XCTAssertEqual(reference.height, restored.height, "\(cfa) \(orientation)")

            // LibRaw's own turned rendering, cropped where the restored area lies in it.
            let turned = try dcrawEmu(long, flip: nil)
            let flip = report.flip
            XCTAssertTrue(orientation == 1 ? flip == 0 : flip != 0)
            var expected = [UInt8](repeating: 0, count: reference.pixels.count)
            // Where visible pixel (r, c) lands in LibRaw's turned image: search once per pixel
            // of the (small) image, inverting the documented flip_index mapping by brute force.
            var position: [Int: Int] = [:]
            for row in 0..<turned.height {
                for col in 0..<turned.width {
                    let s = CapturePipeline.sourcePixel(row: row, col: col, width: width, height: height, flip: flip)
                    position[s.row * width + s.col] = row * turned.width + col
                }
            }
            for row in 0..<reference.height {
                for col in 0..<reference.width {
                    let s = CapturePipeline.sourcePixel(row: row, col: col, width: aligned.width, height: aligned.height, flip: flip)
                    let at = try XCTUnwrap(position[(s.row + offset.dy) * width + s.col + offset.dx])
                    for ch in 0..<3 {
                        expected[(row * reference.width + col) * 3 + ch] = UInt8((Double(turned.samples[at * 3 + ch]) * 255 / 65535).rounded())
                    }
                }
            }
            XCTAssertTrue(reference.pixels == expected, "\(cfa) orientation \(orientation)")
        }
    }

    /// The PNG reader gives back exactly what the writer stored; 16-bit PNGs are refused.
    func testPNGRoundTrip() throws {
        let directory = try makeTemporaryDirectory(self)
        let samples = (0..<(7 * 5 * 3)).map { UInt16(($0 * 37) % 256) }
        let url = directory.appendingPathComponent("a.png")
        try CaptureOutput.writePNG(samples, width: 7, height: 5, bits: 8, to: url)
        let image = try PNGReader.readRGB8(url)
        XCTAssertEqual(image, RGBImage8(width: 7, height: 5, pixels: samples.map { UInt8($0) }))
        let deep = directory.appendingPathComponent("b.png")
        try CaptureOutput.writePNG(samples, width: 7, height: 5, bits: 16, to: deep)
        XCTAssertThrowsError(try PNGReader.readRGB8(deep))
        XCTAssertThrowsError(try PNGReader.readRGB8(directory.appendingPathComponent("missing.png")))
    }

    /// A file LibRaw cannot read is a typed error naming it, not a crash.
    func testUnreadableLong() throws {
        let directory = try makeTemporaryDirectory(self)
        let junk = directory.appendingPathComponent("junk.dng")
        try Data("not a raw file".utf8).write(to: junk)
        XCTAssertThrowsError(try ReferenceRender.render16(junk)) { error in
            XCTAssertTrue((error as? CaptureError)?.description.hasPrefix(junk.path) ?? false, "\(error)")
        }
        XCTAssertThrowsError(try ReferenceRender.render16(directory.appendingPathComponent("missing.dng")))
        // Cut short: LibRaw (in the child process) reports it; this process carries on.
        let whole = try longCapture("whole.dng", width: 64, height: 48, cfa: .rggb, orientation: 1, in: directory)
        let bytes = try Data(contentsOf: whole)
        let cut = directory.appendingPathComponent("cut.dng")
        try bytes.prefix(bytes.count * 3 / 5).write(to: cut)
        let area = ReferenceRender.Area(visibleWidth: 64, visibleHeight: 48, dy: 0, dx: 0, width: 64, height: 48, flip: 0)
        XCTAssertThrowsError(try ReferenceRender.render(cut, area: area)) { error in
            XCTAssertTrue((error as? CaptureError)?.description.hasPrefix(cut.path) ?? false, "\(error)")
        }
        // Another size than the short exposure's: refused, naming both sizes.
        var other = area
        other.visibleWidth = 66
        XCTAssertThrowsError(try ReferenceRender.render(whole, area: other)) { error in
            XCTAssertTrue("\(error)".contains("renders to 64x48, the short one's visible area is 66x48"), "\(error)")
        }
        XCTAssertEqual(try ReferenceRender.render(whole, area: area).pixels.count, 64 * 48 * 3)
    }

    /// The crop places each source pixel where `CapturePipeline.sourcePixel` (restore's
    /// orientation) takes it from, for all eight flip codes.
    func testOrientedPositionInvertsSourcePixel() {
        let width = 5, height = 3
        for flip in 0..<8 {
            let size = CapturePipeline.orientedSize(width: width, height: height, flip: flip)
            for row in 0..<size.height {
                for col in 0..<size.width {
                    let s = CapturePipeline.sourcePixel(row: row, col: col, width: width, height: height, flip: flip)
                    let back = ReferenceRender.orientedPosition(row: s.row, col: s.col, width: width, height: height, flip: flip)
                    XCTAssertTrue(back == (row, col), "flip \(flip) (\(row), \(col))")
                }
            }
        }
    }
}
