import Foundation
import XCTest
@testable import Nightjar

/// Damaged input: truncations and byte flips of a valid DNG must never crash the decoder;
/// each attempt ends in a `CaptureError` or a complete image.
final class CaptureFuzzTests: XCTestCase {
    /// A small valid capture: header, IFD and its out-of-line values, then 48x40 pixels.
    private func validDNG() -> DNGImage {
        let image = SyntheticScene.render(width: 48, height: 40)
        return SyntheticScene.darkCapture(image, exposure: .init(cfa: .grbg, bits: 12, exposureRatio: 50))
    }

    private enum Outcome { case image, error(CaptureError) }

    private func decode(_ bytes: [UInt8], at url: URL) throws -> Outcome {
        try Data(bytes).write(to: url)
        do {
            let frame = try RawDecoder(maxPixels: 50_000_000).decode(url)
            // A complete image: every pixel present, sane levels.
            XCTAssertEqual(frame.mosaic.count, frame.width * frame.height)
            XCTAssertGreaterThan(frame.width, 0)
            XCTAssertGreaterThan(frame.white, frame.black.max()!)
            return .image
        } catch let error as CaptureError {
            // One line naming the file.
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(url.path + ": "), text)
            XCTAssertFalse(text.contains("\n"), text)
            return .error(error)
        }
    }

    func testTruncationsAtManyLengths() throws {
        let directory = try makeTemporaryDirectory(self)
        let dng = validDNG()
        let bytes = dng.encoded()
        let dataStart = bytes.count - dng.samples.count * 2
        XCTAssertGreaterThan(dataStart, 200)
        // Every length through the header, IFD and values; then a spread through the pixels.
        var lengths = Array(0...dataStart)
        lengths += stride(from: dataStart + 1, to: bytes.count, by: 97)
        lengths += [bytes.count - 2, bytes.count - 1]
        let url = directory.appendingPathComponent("cut.dng")
        var errors = 0, kinds: [String: Int] = [:]
        for length in lengths {
            switch try decode(Array(bytes.prefix(length)), at: url) {
            case .image:
                XCTFail("a file cut to \(length) of \(bytes.count) bytes decoded as complete")
            case .error(let error):
                errors += 1
                kinds[String("\(error)".dropFirst(url.path.count + 2).prefix(90)), default: 0] += 1
            }
        }
        XCTAssertEqual(errors, lengths.count)
        // The whole file still decodes.
        guard case .image = try decode(bytes, at: url) else { return XCTFail("the intact file must decode") }
        print("truncations: \(lengths.count) lengths, errors by kind: \(kinds)")
    }

    /// LibRaw 0.20 dereferences NULL in parse_tiff_ifd when a 2x2 CFA file claims 36
    /// CFAPattern bytes (found by fuzzing: one byte of the count changed from 4 to 36). The
    /// decoder runs LibRaw in a child process, so this is an error, not a crash.
    func testLibRawCrashIsContained() throws {
        let directory = try makeTemporaryDirectory(self)
        // BGGR: the CFAPattern bytes (2,1,1,0), read as an offset, point inside a 200x200 file.
        let image = DNGImage(width: 200, height: 200, layout: .cfa(.bggr),
                             samples: [UInt16](repeating: 600, count: 200 * 200))
        var bytes = image.encoded()
        let entries = Int(bytes[8]) | Int(bytes[9]) << 8
        var patched = false
        for i in 0..<entries {
            let e = 10 + 12 * i
            if Int(bytes[e]) | Int(bytes[e + 1]) << 8 == 33422 { // CFAPattern
                XCTAssertEqual(bytes[e + 4], 4)
                bytes[e + 4] = 36
                patched = true
            }
        }
        XCTAssertTrue(patched)
        let url = directory.appendingPathComponent("crash.dng")
        try Data(bytes).write(to: url)
        XCTAssertThrowsError(try RawDecoder().decode(url)) { error in
            guard case CaptureError.corrupt(let path, let reason)? = error as? CaptureError else {
                return XCTFail("expected corrupt, got \(error)")
            }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("LibRaw crashed"), reason)
        }
        // The same through restoreCapture: an error, no output.
        let output = directory.appendingPathComponent("crash.png")
        XCTAssertThrowsError(try restoreCapture(input: url, output: output, modelName: "m") { _, _, _, _ in })
        XCTAssertEqual(CaptureFixtures.listing(directory), ["crash.dng"])
    }

    func testRandomByteFlips() throws {
        let directory = try makeTemporaryDirectory(self)
        let bytes = validDNG().encoded()
        let url = directory.appendingPathComponent("flipped.dng")
        var rng = SplitMix64(seed: 20_210_619)
        var images = 0, errors = 0
        for trial in 0..<400 {
            var damaged = bytes
            let flips = 1 + Int(rng.next() % 8)
            for _ in 0..<flips {
                // Mostly the header and IFD region, where damage matters most.
                let limit = trial % 4 == 0 ? damaged.count : min(damaged.count, 600)
                let position = Int(rng.next() % UInt64(limit))
                damaged[position] ^= UInt8(1 << (rng.next() % 8))
            }
            switch try decode(damaged, at: url) {
            case .image: images += 1
            case .error: errors += 1
            }
        }
        XCTAssertEqual(images + errors, 400)
        print("byte flips: \(images) decoded, \(errors) refused")
    }
}
