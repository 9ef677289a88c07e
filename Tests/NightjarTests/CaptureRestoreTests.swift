import Foundation
import XCTest
@testable import Nightjar

/// `restoreCapture` end to end with a stand-in network: padding, cropping, quantisation,
/// orientation, the atomic write and the refusals around it.
final class CaptureRestoreTests: XCTestCase {
    // BGGR 45x37, 16-bit data, black 0, white 65535: aligned by dropping the first row and
    // column and then the trailing ones -> 44x36; padded to 64x64. Raw values 1...1665 are
    // unique, so with amplification 1 and 16-bit output the red plane names its source pixel.
    let width = 45, height = 37

    private func makeInput(in directory: URL, orientation: Int = 1, name: String = "capture.dng") throws -> (URL, DNGImage) {
        let image = DNGImage(width: width, height: height, layout: .cfa(.bggr),
                             samples: CaptureFixtures.positionMosaic(width: width, height: height, base: 1, modulus: 65534),
                             significantBits: 16, black: [0], white: 65535, orientation: orientation)
        return (try CaptureFixtures.write(image, named: name, in: directory), image)
    }

    private func options(_ change: (inout RestoreOptions) -> Void = { _ in }) -> RestoreOptions {
        var o = RestoreOptions(amplification: 1, bits: 16)
        o.color = .network // these tests name each output value's source through the network's colour
        o.compressionLevel = 0 // stored deflate: StoredPNG reads it without libpng
        change(&o)
        return o
    }

    func testCropQuantisationAndOrientation16Bit() throws {
        let directory = try makeTemporaryDirectory(self)
        for (orientation, flip) in [(1, 0), (3, 3), (6, 6), (8, 5)] {
            let (input, image) = try makeInput(in: directory, orientation: orientation, name: "o\(orientation).dng")
            for rotate in [true, false] {
                let output = directory.appendingPathComponent("o\(orientation)-\(rotate).png")
                var seenInput: [Float] = []
                var seenSize = (0, 0)
                let report = try restoreCapture(input: input, output: output, options: options { $0.rotate = rotate },
                                                modelName: "affine") { inp, h, w, out in
                    seenInput = Array(inp)
                    seenSize = (h, w)
                    try CaptureFixtures.affineNetwork(alignedHeight: 36, alignedWidth: 44)(inp, h, w, out)
                }
                let label = "orientation \(orientation) rotate \(rotate)"
                XCTAssertEqual(seenSize.0, 64, label)
                XCTAssertEqual(seenSize.1, 64, label)
                XCTAssertEqual(report.offset, [1, 1], label)
                XCTAssertEqual([report.width, report.height], [44, 36], label)
                XCTAssertEqual([report.paddedWidth, report.paddedHeight], [64, 64], label)
                XCTAssertEqual(report.flip, flip, label)
                XCTAssertEqual(report.cfa, "BGGR", label)
                XCTAssertEqual(report.amplification, 1, label)
                XCTAssertEqual(report.amplificationSource, "given", label)

                // The padded input reflects the aligned mosaic (CFA phase kept).
                for r in 0..<64 {
                    for c in 0..<64 {
                        let sr = CapturePipeline.reflectIndex(r, count: 36) + 1
                        let sc = CapturePipeline.reflectIndex(c, count: 44) + 1
                        XCTAssertEqual(seenInput[r * 64 + c], Float(Double(image.samples[sr * width + sc]) / 65535), label)
                    }
                }

                let png = try StoredPNG.read(output)
                let appliedFlip = rotate ? flip : 0
                let size = CapturePipeline.orientedSize(width: 44, height: 36, flip: appliedFlip)
                XCTAssertEqual(png.bits, 16, label)
                XCTAssertEqual([png.width, png.height], [size.width, size.height], label)
                XCTAssertEqual([report.outputWidth, report.outputHeight], [size.width, size.height], label)
                for r in 0..<png.height {
                    for c in 0..<png.width {
                        let s = CapturePipeline.sourcePixel(row: r, col: c, width: 44, height: 36, flip: appliedFlip)
                        let raw = image.samples[(s.row + 1) * width + (s.col + 1)]
                        let x = Float(Double(raw) / 65535)
                        let i = (r * png.width + c) * 3
                        XCTAssertEqual(png.samples[i], raw, label)
                        XCTAssertEqual(png.samples[i + 1], CapturePipeline.quantise16(x / 2), label)
                        XCTAssertEqual(png.samples[i + 2], CapturePipeline.quantise16(1 - x), label)
                    }
                }
                // Text chunks: software at the start, the report at the end.
                XCTAssertEqual(png.text.first?.key, "Software")
                let trailer = try XCTUnwrap(png.text.first { $0.key == "Nightjar" }?.value)
                let decoded = try JSONDecoder().decode(RestoreReport.self, from: Data(trailer.utf8))
                XCTAssertEqual(decoded.model, "affine")
                XCTAssertEqual(decoded.width, 44)
            }
        }
        // Nothing but inputs and finished outputs in the directory.
        XCTAssertTrue(CaptureFixtures.listing(directory).allSatisfy { !$0.hasPrefix(".") }, "\(CaptureFixtures.listing(directory))")
    }

    func testEightBitOutputAndAutomaticAmplification() throws {
        let directory = try makeTemporaryDirectory(self)
        let scene = SyntheticScene.render(width: 70, height: 50)
        let dng = SyntheticScene.darkCapture(scene, exposure: .init(cfa: .grbg, bits: 12, exposureRatio: 80))
        let input = try CaptureFixtures.write(dng, named: "scene.dng", in: directory)
        let output = directory.appendingPathComponent("scene.png")
        let report = try restoreCapture(input: input, output: output, options: options { $0.amplification = nil; $0.bits = 8 },
                                        modelName: "affine", network: CaptureFixtures.affineNetwork(alignedHeight: 50, alignedWidth: 68))
        let frame = try RawDecoder().decode(input)
        XCTAssertEqual(report.amplification, CapturePipeline.amplification(of: frame, m: 5))
        XCTAssertEqual(report.amplificationSource, "auto")
        XCTAssertEqual(report.offset, [0, 1])
        XCTAssertEqual([report.width, report.height], [68, 50])
        XCTAssertEqual(report.black, [256, 256, 256, 256])
        XCTAssertEqual(report.white, 4095)

        let png = try StoredPNG.read(output)
        XCTAssertEqual(png.bits, 8)
        XCTAssertEqual([png.width, png.height], [68, 50])
        let a = Float(report.amplification)
        let normalised = CapturePipeline.normalisedAligned(frame)
        for i in 0..<(68 * 50) {
            let x = normalised.values[i] * a
            XCTAssertEqual(png.samples[3 * i], UInt16(CapturePipeline.quantise8(x)))
            XCTAssertEqual(png.samples[3 * i + 1], UInt16(CapturePipeline.quantise8(x / 2)))
            XCTAssertEqual(png.samples[3 * i + 2], UInt16(CapturePipeline.quantise8(1 - x)))
        }
        // The in-memory route (PreparedCapture) gives the same pixels as the file.
        let prepared = try PreparedCapture(frame: frame, m: 5)
        XCTAssertEqual(prepared.amplification, report.amplification)
        let result = try prepared.run(CaptureFixtures.affineNetwork(alignedHeight: 50, alignedWidth: 68))
        let pixels = prepared.pixels(from: result, bits: 8)
        XCTAssertEqual([pixels.width, pixels.height], [68, 50])
        XCTAssertEqual(pixels.samples, png.samples)
    }

    func testExistingOutputIsNotOverwrittenWithoutTheFlag() throws {
        let directory = try makeTemporaryDirectory(self)
        let (input, _) = try makeInput(in: directory)
        let output = directory.appendingPathComponent("out.png")
        try Data("precious".utf8).write(to: output)
        var networkRan = false
        XCTAssertThrowsError(try restoreCapture(input: input, output: output, options: options(), modelName: "m") { _, _, _, _ in
            networkRan = true
        }) { error in
            XCTAssertEqual(error as? CaptureError, .exists(path: output.path))
            XCTAssertEqual("\(error)", "\(output.path): output exists (use --overwrite to replace it)")
        }
        XCTAssertFalse(networkRan, "refused before any work")
        XCTAssertEqual(try Data(contentsOf: output), Data("precious".utf8))

        _ = try restoreCapture(input: input, output: output, options: options { $0.overwrite = true }, modelName: "m",
                               network: CaptureFixtures.affineNetwork(alignedHeight: 36, alignedWidth: 44))
        XCTAssertEqual(try StoredPNG.read(output).width, 44)
        XCTAssertEqual(CaptureFixtures.listing(directory), ["capture.dng", "out.png"])
    }

    func testFailuresLeaveNoPartialFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let (input, _) = try makeInput(in: directory)
        let output = directory.appendingPathComponent("out.png")

        struct Boom: Error {}
        XCTAssertThrowsError(try restoreCapture(input: input, output: output, options: options(), modelName: "m") { _, _, _, _ in
            throw Boom()
        }) { error in
            guard case CaptureError.network(let path, _)? = error as? CaptureError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, input.path)
        }
        XCTAssertEqual(CaptureFixtures.listing(directory), ["capture.dng"])

        // A missing output directory, and a "directory" that is a file.
        let nowhere = directory.appendingPathComponent("no/such/dir/out.png")
        XCTAssertThrowsError(try restoreCapture(input: input, output: nowhere, options: options(), modelName: "m") { _, _, _, _ in }) { error in
            guard case CaptureError.unwritable(let path, let reason)? = error as? CaptureError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, nowhere.path)
            XCTAssertTrue(reason.contains("does not exist"), reason)
        }
        let notADirectory = input.appendingPathComponent("out.png")
        XCTAssertThrowsError(try restoreCapture(input: input, output: notADirectory, options: options(), modelName: "m") { _, _, _, _ in }) { error in
            guard case CaptureError.unwritable? = error as? CaptureError else { return XCTFail("\(error)") }
        }
        // A directory where files cannot be created even by root: libpng's fopen fails.
        let proc = URL(fileURLWithPath: "/proc/nightjar-test-\(getpid()).png")
        if FileManager.default.fileExists(atPath: "/proc/self") {
            XCTAssertThrowsError(try restoreCapture(input: input, output: proc, options: options(), modelName: "m",
                                                    network: CaptureFixtures.affineNetwork(alignedHeight: 36, alignedWidth: 44))) { error in
                guard case CaptureError.unwritable(let path, let reason)? = error as? CaptureError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, proc.path)
                XCTAssertTrue(reason.hasPrefix("cannot create"), reason)
            }
        }
        XCTAssertEqual(CaptureFixtures.listing(directory), ["capture.dng"])

        // Per-file input errors come through unchanged.
        let missing = directory.appendingPathComponent("missing.dng")
        XCTAssertThrowsError(try restoreCapture(input: missing, output: output, options: options(), modelName: "m") { _, _, _, _ in }) { error in
            XCTAssertEqual(error as? CaptureError, .unreadable(path: missing.path, reason: "No such file or directory"))
        }
        XCTAssertEqual(CaptureFixtures.listing(directory), ["capture.dng"])
        XCTAssertThrowsError(try restoreCapture(input: input, output: input, options: options { $0.overwrite = true }, modelName: "m") { _, _, _, _ in })
        XCTAssertThrowsError(try restoreCapture(input: input, output: output, options: options { $0.bits = 12 }, modelName: "m") { _, _, _, _ in }) { error in
            guard case CaptureError.invalidArgument? = error as? CaptureError else { return XCTFail("\(error)") }
        }
    }

    func testSidecarRecordsTheReport() throws {
        let directory = try makeTemporaryDirectory(self)
        let (input, _) = try makeInput(in: directory)
        let output = directory.appendingPathComponent("out.png")
        let report = try restoreCapture(input: input, output: output, options: options { $0.sidecar = true }, modelName: "red-mit",
                                        network: CaptureFixtures.affineNetwork(alignedHeight: 36, alignedWidth: 44))
        let sidecar = directory.appendingPathComponent("out.png.json")
        XCTAssertEqual(report.sidecar, sidecar.path)
        let decoded = try JSONDecoder().decode(RestoreReport.self, from: Data(contentsOf: sidecar))
        XCTAssertEqual(decoded, report)
        XCTAssertEqual(decoded.model, "red-mit")
        XCTAssertEqual(decoded.decoder, "plain DNG samples", "the writer's DNG holds plain 16-bit samples")
        XCTAssertGreaterThanOrEqual(decoded.totalSeconds, decoded.networkSeconds)
        XCTAssertEqual(CaptureFixtures.listing(directory), ["capture.dng", "out.png", "out.png.json"])
        // A file whose samples LibRaw maps (a linearisation table) is unpacked by LibRaw, and says so.
        var curved = DNGImage(width: width, height: height, layout: .cfa(.bggr),
                              samples: CaptureFixtures.positionMosaic(width: width, height: height, base: 1, modulus: 4000),
                              significantBits: 12, black: [0])
        curved.linearization = (0..<4096).map { UInt16($0) }
        let curvedInput = try CaptureFixtures.write(curved, named: "curved.dng", in: directory)
        let curvedReport = try restoreCapture(input: curvedInput, output: directory.appendingPathComponent("curved.png"), options: options(),
                                              modelName: "m", network: CaptureFixtures.affineNetwork(alignedHeight: 36, alignedWidth: 44))
        XCTAssertEqual(curvedReport.decoder, "LibRaw")
        try FileManager.default.removeItem(at: curvedInput)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("curved.png"))
        // The sidecar is protected like the image.
        try FileManager.default.removeItem(at: output)
        XCTAssertThrowsError(try restoreCapture(input: input, output: output, options: options { $0.sidecar = true }, modelName: "m") { _, _, _, _ in }) { error in
            XCTAssertEqual(error as? CaptureError, .exists(path: sidecar.path))
        }
    }

    func testDefaultCompressedPNGIsValid() throws {
        // The default zlib level: check the file's structure (signature, IHDR, IEND) only.
        let directory = try makeTemporaryDirectory(self)
        let (input, _) = try makeInput(in: directory)
        let output = directory.appendingPathComponent("out.png")
        _ = try restoreCapture(input: input, output: output, options: RestoreOptions(amplification: 1), modelName: "m",
                               network: CaptureFixtures.affineNetwork(alignedHeight: 36, alignedWidth: 44))
        let bytes = [UInt8](try Data(contentsOf: output))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(String(decoding: bytes[12..<16], as: UTF8.self), "IHDR")
        XCTAssertEqual(Array(bytes[16..<24]), [0, 0, 0, 44, 0, 0, 0, 36])
        XCTAssertEqual(bytes[24], 8)
        XCTAssertEqual(String(decoding: bytes[(bytes.count - 8)..<(bytes.count - 4)], as: UTF8.self), "IEND")
    }

    /// The golden-capture harness end to end with a stand-in network that replays each
    /// capture's `_expected.npy` (as v/255) into the crop region: the whole pipeline (decode,
    /// alignment, amplifier, padding, crop, channel order, quantisation, PNG) must then give
    /// back exactly the expected pixels.
    func testGoldenCaptureHarnessWithReplayedExpectedOutput() throws {
        let directory = try makeTemporaryDirectory(self)
        for (name, entry) in try goldenCaptures() {
            let expected = try NPYArray.read(contentsOf: try SharedReference.url("golden/" + (entry["expected_npy"] as! String)))
            let eh = expected.shape[0], ew = expected.shape[1]
            let replay: NetworkRunner = { _, height, width, output in
                let plane = height * width
                for y in 0..<height {
                    for x in 0..<width {
                        for c in 0..<3 {
                            output[c * plane + y * width + x] = y < eh && x < ew ? Float(expected.data[(y * ew + x) * 3 + c]) / 255 : 0.3
                        }
                    }
                }
            }
            let r = try runGoldenCapture(entry, network: WholeFrameNetwork(replay), modelName: "replay", directory: directory)
            XCTAssertEqual(r.report.amplification, r.expectedAmplification, accuracy: r.expectedAmplification * 1e-5, name)
            XCTAssertEqual(r.report.offset, r.expectedOffset, name)
            XCTAssertEqual([r.report.height, r.report.width], r.expectedSize, name)
            XCTAssertEqual([r.report.paddedHeight % 32, r.report.paddedWidth % 32], [0, 0], name)
            XCTAssertEqual(r.pngShape, r.expectedShape, name)
            XCTAssertEqual(r.equalFraction, 1, name)
            XCTAssertEqual(r.maxDifference, 0, name)
        }
    }
}
