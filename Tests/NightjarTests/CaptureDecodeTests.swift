import Foundation
import XCTest
@testable import Nightjar
import NightjarIOShims

/// Decoding through LibRaw: the golden DNGs of ../shared and DNGs written by our DNGWriter.
final class CaptureDecodeTests: XCTestCase {
    // MARK: - Golden captures

    /// Numbers read from the golden DNGs independently of LibRaw, with numpy reading the
    /// single uncompressed strip of each file:
    ///
    ///     raw = np.frombuffer(b, '<u2', count=w*h, offset=StripOffsets).reshape(h, w)
    ///     x = (np.maximum(raw.astype(np.float64) - black, 0) / (white - black)).astype(np.float32)
    ///     x = x[dy:dy+H, dx:dx+W]      # aligned (offset and size from the manifest)
    ///     raw[0, :4], raw[-1, -4:], raw.sum(), raw.max(), x.astype(np.float64).sum(), x[0,0], x[-1,-1]
    struct Independent {
        var first: [UInt16], last: [UInt16], rawSum: Int, rawMax: UInt16
        var xSum: Double, x00: Float, xLast: Float
    }

    static let independent: [String: Independent] = [
        "capture_rggb_14bit_512x768": Independent(first: [507, 507, 508, 511], last: [520, 526, 529, 507], rawSum: 202_935_439, rawMax: 672,
                                                  xSum: 129.485603, x00: 0.0, xLast: 0.0),
        "capture_rggb_14bit_500x750": Independent(first: [518, 495, 496, 521], last: [504, 494, 503, 525], rawSum: 192_997_471, rawMax: 620,
                                                  xSum: 144.254363, x00: 0.0003780480183195323, xLast: 0.0008191040251404047),
        "capture_bggr_12bit_514x770": Independent(first: [260, 265, 261, 259], last: [257, 258, 257, 256], rawSum: 102_365_047, rawMax: 270,
                                                  xSum: 279.365456, x00: 0.0002604844921734184, xLast: 0.0002604844921734184),
    ]

    func testGoldenCapturesDecodeAlignAndAmplify() throws {
        let manifest = try SharedReference.manifest()
        let captures = manifest["captures"] as! [[String: Any]]
        XCTAssertEqual(captures.count, 3)
        for capture in captures {
            let name = capture["name"] as! String
            let url = try SharedReference.url("golden/" + (capture["dng"] as! String))
            let frame = try RawDecoder().decode(url)

            XCTAssertEqual(frame.cfa.rawValue, capture["cfa"] as! String, name)
            XCTAssertEqual(frame.black, capture["black"] as! [Double], name)
            XCTAssertEqual(frame.white, capture["white"] as! Double, name)
            XCTAssertEqual(frame.flip, 0, name)
            // LibRaw in this process (not the default child process) decodes the same.
            let inProcess = try RawDecoder(isolated: false).decode(url)
            XCTAssertEqual(inProcess.mosaic, frame.mosaic, name)
            XCTAssertEqual(inProcess.black, frame.black, name)
            XCTAssertEqual(inProcess.white, frame.white, name)
            XCTAssertEqual(inProcess.cfa, frame.cfa, name)
            XCTAssertEqual([inProcess.width, inProcess.height, inProcess.flip], [frame.width, frame.height, frame.flip], name)
            XCTAssertEqual(frame.make, "DarkSim", name)

            let offset = frame.cfa.rggbOffset
            XCTAssertEqual([offset.dy, offset.dx], capture["offset"] as! [Int], name)
            let size = CapturePipeline.alignedSize(width: frame.width, height: frame.height, offset: offset)
            XCTAssertEqual(size.height, capture["height"] as! Int, name)
            XCTAssertEqual(size.width, capture["width"] as! Int, name)

            let expected = capture["amplification"] as! Double
            let fast = CapturePipeline.amplification(of: frame, m: capture["m"] as! Double)
            XCTAssertEqual(fast, expected, accuracy: expected * 1e-5, name)
            // In fact much closer than the tolerance (numpy agrees to ~1e-8).
            XCTAssertEqual(fast, expected, accuracy: expected * 1e-7, name)

            // Against the independent numpy reading of the strips.
            let check = try XCTUnwrap(Self.independent[name])
            XCTAssertEqual(Array(frame.mosaic.prefix(4)), check.first, name)
            XCTAssertEqual(Array(frame.mosaic.suffix(4)), check.last, name)
            XCTAssertEqual(frame.mosaic.reduce(0) { $0 + Int($1) }, check.rawSum, name)
            XCTAssertEqual(frame.mosaic.max(), check.rawMax, name)

            let normalised = CapturePipeline.normalisedAligned(frame)
            XCTAssertEqual(normalised.values.count, size.width * size.height)
            XCTAssertEqual(normalised.values.reduce(0.0) { $0 + Double($1) }, check.xSum, accuracy: check.xSum * 1e-7, name)
            XCTAssertEqual(normalised.values.first, check.x00, name)
            XCTAssertEqual(normalised.values.last, check.xLast, name)
            // The per-pixel amplifier on the normalised values gives the same as the histogram one.
            let slow = CapturePipeline.amplification(of: normalised.values, m: 5)
            XCTAssertEqual(slow, fast, accuracy: fast * 1e-10, name)
        }
    }

    // MARK: - Synthetic DNGs

    func testSyntheticDNGsRoundTripAllPatternsDepthsAndSizes() throws {
        let directory = try makeTemporaryDirectory(self)
        let sizes = [(37, 23), (38, 24), (33, 50), (64, 32)]
        var n = 0
        for cfa in CFAPattern.allCases {
            for bits in [10, 12, 14] {
                let (width, height) = sizes[n % sizes.count]
                n += 1
                let white = UInt32((1 << bits) - 1)
                // Distinct black levels per site, so a mix-up of sites shows.
                let baseBlack = UInt16(bits == 10 ? 64 : bits == 12 ? 256 : 512)
                let black: [UInt16] = [baseBlack, baseBlack + 1, baseBlack + 2, baseBlack + 3]
                var rng = SplitMix64(seed: UInt64(n))
                let mosaic = (0..<(width * height)).map { _ in UInt16(rng.next() % UInt64(white + 1)) }
                let image = DNGImage(width: width, height: height, layout: .cfa(cfa), samples: mosaic,
                                     significantBits: bits, black: black, make: "Test", model: "Cam\(bits)")
                let url = try CaptureFixtures.write(image, named: "\(cfa.rawValue)-\(bits)-\(width)x\(height).dng", in: directory)
                let label = "\(cfa.rawValue) \(bits)-bit \(width)x\(height)"

                let frame = try RawDecoder().decode(url)
                XCTAssertEqual(frame.width, width, label)
                XCTAssertEqual(frame.height, height, label)
                XCTAssertEqual(frame.cfa, cfa, label)
                XCTAssertEqual(frame.mosaic, mosaic, label)
                XCTAssertEqual(frame.black, black.map(Double.init), label)
                XCTAssertEqual(frame.white, Double(white), label)
                XCTAssertEqual(frame.make, "Test", label)
                XCTAssertEqual(frame.model, "Cam\(bits)", label)

                let offset = cfa.rggbOffset
                let size = CapturePipeline.alignedSize(width: width, height: height, offset: offset)
                XCTAssertEqual(size.width, (width - offset.dx) / 2 * 2, label)
                XCTAssertEqual(size.height, (height - offset.dy) / 2 * 2, label)
                // After alignment every (even, even) site is red: check through the normalisation.
                let normalised = CapturePipeline.normalisedAligned(frame)
                for row in 0..<size.height {
                    for col in 0..<size.width {
                        let sr = row + offset.dy, sc = col + offset.dx
                        XCTAssertEqual(cfa.letters[(sr & 1) * 2 + (sc & 1)], ["R", "G", "G", "B"][(row & 1) * 2 + (col & 1)], label)
                        let siteBlack = Double(black[(sr & 1) * 2 + (sc & 1)])
                        let expected = Float(max(Double(mosaic[sr * width + sc]) - siteBlack, 0) / (Double(white) - siteBlack))
                        XCTAssertEqual(normalised.values[row * size.width + col], expected, label)
                    }
                }
            }
        }
    }

    func testActiveAreaMarginsAreCroppedAndPatternsFollowTheVisibleOrigin() throws {
        let directory = try makeTemporaryDirectory(self)
        let width = 41, height = 31
        let readout = CaptureFixtures.positionMosaic(width: width, height: height, base: 700, modulus: 9000)
        func visible(top: Int, left: Int, bottom: Int, right: Int) -> [UInt16] {
            var out: [UInt16] = []
            for row in top..<bottom { out += readout[(row * width + left)..<(row * width + right)] }
            return out
        }
        // Even margins: the visible area is exactly the ActiveArea, CFA and per-site black as
        // written (both relative to the ActiveArea origin).
        for cfa in [CFAPattern.grbg, .bggr] {
            let image = DNGImage(width: width, height: height, layout: .cfa(cfa), samples: readout,
                                 black: [600, 601, 602, 603], activeArea: (2, 2, 28, 38))
            let url = try CaptureFixtures.write(image, named: "even-\(cfa.rawValue).dng", in: directory)
            let frame = try RawDecoder().decode(url)
            XCTAssertEqual([frame.width, frame.height], [36, 26], cfa.rawValue)
            XCTAssertEqual(frame.mosaic, visible(top: 2, left: 2, bottom: 28, right: 38), cfa.rawValue)
            XCTAssertEqual(frame.cfa, cfa, cfa.rawValue)
            XCTAssertEqual(frame.black, [600, 601, 602, 603], cfa.rawValue)
        }
        // Odd margins: LibRaw 0.20 moves the origin to the next even row/column (observed:
        // ActiveArea (3, 1, 29, 39) gives the visible area rows 4..<29, columns 2..<39) and
        // reports the CFA at that origin, so pixels and pattern stay consistent: GRBG at the
        // ActiveArea origin is GBRG one row and one column further on.
        let odd = DNGImage(width: width, height: height, layout: .cfa(.grbg), samples: readout,
                           black: [600], activeArea: (3, 1, 29, 39))
        let oddURL = try CaptureFixtures.write(odd, named: "odd.dng", in: directory)
        let frame = try RawDecoder().decode(oddURL)
        XCTAssertEqual([frame.width, frame.height], [37, 25])
        XCTAssertEqual(frame.mosaic, visible(top: 4, left: 2, bottom: 29, right: 39))
        XCTAssertEqual(frame.cfa, .gbrg)
        XCTAssertEqual(frame.black, [600, 600, 600, 600])
    }

    func testOrientationTagsBecomeLibRawFlips() throws {
        let directory = try makeTemporaryDirectory(self)
        // TIFF orientation -> LibRaw flip: 1 -> 0, 3 -> 3 (180°), 6 -> 6 (90° CW), 8 -> 5 (90° CCW).
        for (orientation, flip) in [(1, 0), (3, 3), (6, 6), (8, 5)] {
            // LibRaw refuses images under 22 pixels on a side.
            let image = DNGImage(width: 26, height: 24, layout: .cfa(.rggb),
                                 samples: CaptureFixtures.positionMosaic(width: 26, height: 24, base: 600, modulus: 5000),
                                 orientation: orientation)
            let url = try CaptureFixtures.write(image, named: "o\(orientation).dng", in: directory)
            let frame = try RawDecoder().decode(url)
            XCTAssertEqual(frame.flip, flip, "orientation \(orientation)")
            XCTAssertEqual(frame.mosaic, image.samples, "orientation \(orientation): the mosaic stays in sensor order")
        }
    }

    // MARK: - Refusals

    func testLinearDNGIsNotBayer() throws {
        let directory = try makeTemporaryDirectory(self)
        let image = DNGImage(width: 32, height: 24, layout: .linearRGB,
                             samples: [UInt16](repeating: 1000, count: 32 * 24 * 3))
        let url = try CaptureFixtures.write(image, named: "linear.dng", in: directory)
        XCTAssertThrowsError(try RawDecoder().decode(url)) { error in
            guard case CaptureError.notBayer(let path, let kind)? = error as? CaptureError else {
                return XCTFail("expected notBayer, got \(error)")
            }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(kind, .linear)
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": not a Bayer RAW"), "\(error)")
        }
    }

    func testMonochromeDNGIsNotBayer() throws {
        let directory = try makeTemporaryDirectory(self)
        let image = DNGImage(width: 32, height: 24, layout: .monochrome,
                             samples: [UInt16](repeating: 1000, count: 32 * 24))
        let url = try CaptureFixtures.write(image, named: "mono.dng", in: directory)
        XCTAssertThrowsError(try RawDecoder().decode(url)) { error in
            XCTAssertEqual(error as? CaptureError, .notBayer(path: url.path, kind: .monochrome))
        }
    }

    func testPixelLimitRefusesBeforeDecoding() throws {
        let directory = try makeTemporaryDirectory(self)
        let image = DNGImage(width: 64, height: 32, layout: .cfa(.rggb),
                             samples: [UInt16](repeating: 600, count: 64 * 32))
        let url = try CaptureFixtures.write(image, named: "big.dng", in: directory)
        XCTAssertThrowsError(try RawDecoder(maxPixels: 64 * 32 - 1).decode(url)) { error in
            XCTAssertEqual(error as? CaptureError, .tooLarge(path: url.path, pixels: 64 * 32, limit: 64 * 32 - 1))
        }
        XCTAssertNoThrow(try RawDecoder(maxPixels: 64 * 32).decode(url))

        // A header claiming an absurd size is refused from the header alone (the file has
        // no pixel data for it at all).
        var huge = image
        huge.width = 60_000
        huge.height = 40_000
        huge.samples = []
        var bytes = DNGImage(width: 64, height: 32, layout: .cfa(.rggb), samples: image.samples).encoded()
        bytes = patchDimensions(bytes, width: 60_000, height: 40_000)
        let hugeURL = directory.appendingPathComponent("huge.dng")
        try Data(bytes).write(to: hugeURL)
        XCTAssertThrowsError(try RawDecoder(maxPixels: 100_000_000).decode(hugeURL)) { error in
            XCTAssertEqual(error as? CaptureError, .tooLarge(path: hugeURL.path, pixels: 2_400_000_000, limit: 100_000_000))
        }
    }

    func testUnreadableAndNonRawFiles() throws {
        let directory = try makeTemporaryDirectory(self)
        let missing = directory.appendingPathComponent("missing.dng")
        XCTAssertThrowsError(try RawDecoder().decode(missing)) { error in
            XCTAssertEqual(error as? CaptureError, .unreadable(path: missing.path, reason: "No such file or directory"))
        }
        XCTAssertThrowsError(try RawDecoder().decode(directory)) { error in
            XCTAssertEqual(error as? CaptureError, .unreadable(path: directory.path, reason: "it is a directory, not a regular file"))
        }
        let text = directory.appendingPathComponent("notes.dng")
        try Data("this is not a raw file at all\n".utf8).write(to: text)
        XCTAssertThrowsError(try RawDecoder().decode(text)) { error in
            guard case CaptureError.unsupported(let path, _)? = error as? CaptureError else {
                return XCTFail("expected unsupported, got \(error)")
            }
            XCTAssertEqual(path, text.path)
        }
        let empty = directory.appendingPathComponent("empty.nef")
        try Data().write(to: empty)
        XCTAssertThrowsError(try RawDecoder().decode(empty)) { error in
            XCTAssertNotNil(error as? CaptureError, "\(error)")
        }
    }

    func testSpecialFilesAndTheTimeLimit() throws {
        let directory = try makeTemporaryDirectory(self)
        let fifo = directory.appendingPathComponent("pipe.dng")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertThrowsError(try RawDecoder().decode(fifo)) { error in
            XCTAssertEqual(error as? CaptureError, .unreadable(path: fifo.path, reason: "it is a FIFO (named pipe), not a regular file"))
        }
        // A time limit no decode can meet: the child is killed and the file reported.
        let image = DNGImage(width: 256, height: 256, layout: .cfa(.rggb), samples: [UInt16](repeating: 600, count: 256 * 256))
        let url = try CaptureFixtures.write(image, named: "slow.dng", in: directory)
        XCTAssertThrowsError(try RawDecoder(timeoutSeconds: 1e-6).decode(url)) { error in
            guard case CaptureError.corrupt(let path, let reason)? = error as? CaptureError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.hasPrefix("decoding took longer than"), reason)
        }
        XCTAssertNoThrow(try RawDecoder(timeoutSeconds: 60).decode(url))
    }

    /// The decoder child's pixels come through a few slots of memory shared with it, each
    /// announced through the pipe and handed back once emptied. A frame of many slots (one
    /// LibRaw unpacks: its linearisation table keeps the samples from being read from the file
    /// directly), read in pieces that straddle them and twice over (as a workspace holding
    /// 8-bit codes reads it), arrives whole and in order; a child killed halfway is reported,
    /// not waited for.
    func testFramesOfManyTransferSlotsArriveWhole() throws {
        let directory = try makeTemporaryDirectory(self)
        let (width, height) = (1283, 911) // 2.3 MB of pixels
        var rng = SplitMix64(seed: 77)
        let mosaic = (0..<(width * height)).map { _ in UInt16(rng.next() % 16384) }
        let image = DNGImage(width: width, height: height, layout: .cfa(.rggb), samples: mosaic,
                             significantBits: 14, black: [512, 512, 512, 512], make: "Test", model: "Slots")
        let url = try CaptureFixtures.write(image, named: "slots.dng", in: directory)
        var curved = image
        curved.linearization = (0..<16384).map { UInt16($0) }
        let unpackedURL = try CaptureFixtures.write(curved, named: "slots-unpacked.dng", in: directory)
        for input in [url, unpackedURL] {
            XCTAssertTrue(try RawDecoder().decode(input).mosaic == mosaic, "isolated: \(input.lastPathComponent)")
            XCTAssertTrue(try RawDecoder(isolated: false).decode(input).mosaic == mosaic, "in this process: \(input.lastPathComponent)")
        }

        var message = [CChar](repeating: 0, count: 512)
        var info = nj_raw_info()
        var child = nj_raw_child()
        XCTAssertEqual(nj_raw_isolated_start_passes(unpackedURL.path, 0, 60, 2, &child, &message, message.count), Int32(NJ_RAW_OK))
        XCTAssertEqual(nj_raw_isolated_header(&child, &info, &message, message.count), Int32(NJ_RAW_OK))
        XCTAssertNotNil(child.ring, "the shared slots were not set up: the pixels went through the pipe")
        XCTAssertEqual(child.plain, 0, "the unpacked file's samples were read from the file")
        XCTAssertGreaterThan(2 * mosaic.count * 2, 4 * Int(child.slots) * child.slot_bytes, "too few slots' worth to go round")
        var received = readInPieces(&child, total: 2 * mosaic.count, pieces: [1, 4099, 65_537, 300_001], message: &message)
        XCTAssertTrue(received[..<mosaic.count].elementsEqual(mosaic), "first pass")
        XCTAssertTrue(received[mosaic.count...].elementsEqual(mosaic), "second pass")
        XCTAssertEqual(child.active, 0, "the child outlived its last pixel")

        // Killed after its first slot (it cannot have sent everything: the slots are full).
        XCTAssertEqual(nj_raw_isolated_start_passes(unpackedURL.path, 0, 60, 1, &child, &message, message.count), Int32(NJ_RAW_OK))
        XCTAssertEqual(nj_raw_isolated_header(&child, &info, &message, message.count), Int32(NJ_RAW_OK))
        XCTAssertEqual(received.withUnsafeMutableBufferPointer { nj_raw_isolated_read(&child, $0.baseAddress!, 1000, &message, message.count) },
                       Int32(NJ_RAW_OK))
        kill(child.pid, SIGKILL)
        let rc = received.withUnsafeMutableBufferPointer {
            nj_raw_isolated_read(&child, $0.baseAddress! + 1000, mosaic.count - 1000, &message, message.count)
        }
        XCTAssertEqual(rc, Int32(NJ_RAW_ERR_CRASHED), String(cString: message))
        XCTAssertEqual(child.active, 0)

        // The fallback, through the pipe itself: the same frame, from LibRaw's buffer and from the file.
        setenv("NIGHTJAR_DECODER_TRANSFER", "pipe", 1)
        defer { unsetenv("NIGHTJAR_DECODER_TRANSFER") }
        XCTAssertEqual(nj_raw_isolated_start_passes(url.path, 0, 60, 1, &child, &message, message.count), Int32(NJ_RAW_OK))
        XCTAssertNil(child.ring, "NIGHTJAR_DECODER_TRANSFER=pipe still set up the slots")
        nj_raw_isolated_cancel(&child)
        for input in [url, unpackedURL] {
            XCTAssertTrue(try RawDecoder().decode(input).mosaic == mosaic, "through the pipe: \(input.lastPathComponent)")
        }
    }

    /// `total` pixels read from a started decoder (`nj_raw_isolated_read`) in pieces of the
    /// given sizes in turn, so that they straddle its slots and rows.
    private func readInPieces(_ child: inout nj_raw_child, total: Int, pieces: [Int], message: inout [CChar]) -> [UInt16] {
        var received = [UInt16](repeating: 0, count: total)
        var done = 0, k = 0
        while done < total {
            let n = min(pieces[k % pieces.count], total - done)
            let rc = received.withUnsafeMutableBufferPointer { nj_raw_isolated_read(&child, $0.baseAddress! + done, n, &message, message.count) }
            XCTAssertEqual(rc, Int32(NJ_RAW_OK), String(cString: message))
            guard rc == Int32(NJ_RAW_OK) else { break }
            done += n
            k += 1
        }
        return received
    }

    /// A DNG of plain samples is read by this process from the file it opened before the
    /// fork (the child, having checked with LibRaw that it is the file and where the rows lie,
    /// sends no pixels): in pieces that straddle rows, twice over, with margins (rows apart in
    /// the file) and in either byte order, the pixels are LibRaw's. A file cut short after the
    /// child looked is an error that says so, and nothing is read past its end.
    func testPlainSamplesAreReadFromTheFileByTheCaller() throws {
        let directory = try makeTemporaryDirectory(self)
        // The visible 611 x 203 inside a readout 10 columns and 4 rows larger (ActiveArea).
        let (width, height) = (611, 203), (readoutWidth, readoutHeight) = (621, 207)
        var rng = SplitMix64(seed: 79)
        let readout = (0..<(readoutWidth * readoutHeight)).map { _ in UInt16(rng.next() % 4096) }
        var mosaic: [UInt16] = []
        for y in 2..<(2 + height) {
            let start = y * readoutWidth + 4
            mosaic += readout[start..<(start + width)]
        }
        var message = [CChar](repeating: 0, count: 512)
        var info = nj_raw_info()
        var child = nj_raw_child()
        for (n, bigEndian) in [false, true].enumerated() {
            var image = DNGImage(width: readoutWidth, height: readoutHeight, layout: .cfa(.grbg), samples: readout,
                                 significantBits: 12, black: [256, 256, 256, 256], make: "Test", model: "Plain",
                                 activeArea: (2, 4, 2 + height, 4 + width))
            image.bigEndian = bigEndian
            let url = try CaptureFixtures.write(image, named: "plain-\(n).dng", in: directory)
            let reference = try RawDecoder(isolated: false).decode(url).mosaic
            XCTAssertTrue(reference == mosaic, "LibRaw's own unpacking of the test file")
            XCTAssertEqual(nj_raw_isolated_start_passes(url.path, 0, 60, 2, &child, &message, message.count), Int32(NJ_RAW_OK))
            XCTAssertEqual(nj_raw_isolated_header(&child, &info, &message, message.count), Int32(NJ_RAW_OK), String(cString: message))
            XCTAssertEqual(child.plain, 1, "the samples were not read from the file: big-endian \(bigEndian)")
            XCTAssertEqual(info.plain_samples, 1)
            var received = readInPieces(&child, total: 2 * mosaic.count, pieces: [1, 610, 612, 4099], message: &message)
            XCTAssertTrue(received[..<mosaic.count].elementsEqual(mosaic), "first pass, big-endian \(bigEndian)")
            XCTAssertTrue(received[mosaic.count...].elementsEqual(mosaic), "second pass, big-endian \(bigEndian)")
            XCTAssertEqual(child.active, 0, "the child outlived its last pixel")
            XCTAssertEqual(child.file_fd, -1, "the file stayed open")
            XCTAssertTrue(try RawDecoder().decode(url).mosaic == mosaic, "RawDecoder, isolated: big-endian \(bigEndian)")

            // Cut short between the child's look and the reading.
            let bytes = try Data(contentsOf: url)
            XCTAssertEqual(nj_raw_isolated_start_passes(url.path, 0, 60, 1, &child, &message, message.count), Int32(NJ_RAW_OK))
            XCTAssertEqual(nj_raw_isolated_header(&child, &info, &message, message.count), Int32(NJ_RAW_OK))
            XCTAssertEqual(truncate(url.path, off_t(bytes.count / 2)), 0)
            let rc = received.withUnsafeMutableBufferPointer { nj_raw_isolated_read(&child, $0.baseAddress!, mosaic.count, &message, message.count) }
            XCTAssertEqual(rc, Int32(NJ_RAW_ERR_CORRUPT))
            XCTAssertEqual(String(cString: message), "the file changed or was cut short while its samples were read")
            XCTAssertEqual(child.active, 0)
            XCTAssertEqual(child.file_fd, -1)
        }
    }

    /// A DNG whose samples LibRaw would copy unchanged (one untiled run of 16-bit samples, no
    /// linearisation table, no masked areas) is read from the file by the decoder child instead of
    /// unpacked (LibRaw took 25 of a 12.1 MP frame's 43 ms). Either way the frame must be what
    /// LibRaw's own unpacking gives (`isolated: false` runs it): every pattern, both byte orders,
    /// margins; and files whose samples LibRaw changes still go through it.
    func testPlainSamplesReadFromTheFileAreWhatLibRawUnpacks() throws {
        let directory = try makeTemporaryDirectory(self)
        struct Case { var name: String; var image: DNGImage; var plain: Bool }
        var cases: [Case] = []
        var n = 0
        for cfa in CFAPattern.allCases {
            for bigEndian in [false, true] {
                let (width, height) = [(37, 23), (64, 31), (129, 66), (1283, 911)][n % 4]
                n += 1
                var rng = SplitMix64(seed: UInt64(100 + n))
                var image = DNGImage(width: width, height: height, layout: .cfa(cfa),
                                     samples: (0..<(width * height)).map { _ in UInt16(rng.next() % 16384) },
                                     black: [510, 511, 512, 513], make: "Test", model: "Plain\(n)",
                                     activeArea: n % 3 == 0 ? (top: 2, left: 4, bottom: height - 1, right: width - 3) : nil)
                image.bigEndian = bigEndian
                cases.append(Case(name: "\(cfa.rawValue)-\(bigEndian ? "MM" : "II")-\(width)x\(height)", image: image, plain: true))
            }
        }
        // LibRaw maps the samples through a linearisation table...
        var rng = SplitMix64(seed: 9)
        var curved = DNGImage(width: 66, height: 40, layout: .cfa(.rggb), samples: (0..<(66 * 40)).map { _ in UInt16(rng.next() % 4096) },
                              significantBits: 12, black: [64], make: "Test", model: "Curved")
        curved.linearization = (0..<4096).map { UInt16($0 * 3 / 2) }
        curved.white = 6142
        cases.append(Case(name: "linearised", image: curved, plain: false))
        // ... and takes the black level from masked pixels.
        let coveredThenLit: [UInt16] = (0..<(70 * 44)).map { (i: Int) -> UInt16 in i / 70 < 4 ? 600 : UInt16(700 + i % 900) }
        var masked = DNGImage(width: 70, height: 44, layout: .cfa(.grbg), samples: coveredThenLit,
                              black: [512], make: "Test", model: "Masked", activeArea: (top: 4, left: 0, bottom: 44, right: 70))
        masked.maskedAreas = [(top: 0, left: 0, bottom: 4, right: 70)]
        cases.append(Case(name: "masked", image: masked, plain: false))

        var message = [CChar](repeating: 0, count: 512)
        for item in cases {
            let url = try CaptureFixtures.write(item.image, named: "\(item.name).dng", in: directory)
            // Which way the child takes.
            var handle: OpaquePointer?
            var info = nj_raw_info()
            var rows = nj_raw_file_rows()
            XCTAssertEqual(nj_raw_open(url.path, 0, &handle, &info, &message, message.count), Int32(NJ_RAW_OK), item.name)
            XCTAssertEqual(nj_raw_plain_rows(handle, &info, &rows, &message, message.count), Int32(NJ_RAW_OK), item.name)
            nj_raw_close(handle)
            XCTAssertEqual(rows.plain != 0, item.plain, item.name)

            let isolated = try RawDecoder().decode(url)
            let unpacked = try RawDecoder(isolated: false).decode(url)
            XCTAssertTrue(isolated.mosaic == unpacked.mosaic, item.name)
            XCTAssertEqual(isolated.width, unpacked.width, item.name)
            XCTAssertEqual(isolated.height, unpacked.height, item.name)
            XCTAssertEqual(isolated.cfa, unpacked.cfa, item.name)
            XCTAssertEqual(isolated.black, unpacked.black, item.name)
            XCTAssertEqual(isolated.white, unpacked.white, item.name)
            XCTAssertEqual(isolated.flip, unpacked.flip, item.name)
            XCTAssertEqual(isolated.model, unpacked.model, item.name)
            // And what the file holds (or LibRaw made of it).
            let image = item.image
            let area = image.activeArea ?? (top: 0, left: 0, bottom: image.height, right: image.width)
            var visible: [UInt16] = []
            for row in area.top..<area.bottom {
                visible += image.samples[(row * image.width + area.left)..<(row * image.width + area.right)]
            }
            if item.name == "linearised" {
                visible = visible.map { image.linearization[Int($0)] }
            }
            XCTAssertTrue(isolated.mosaic == visible, item.name)
            if item.name == "masked" {
                XCTAssertEqual(isolated.black, [600, 600, 600, 600], "LibRaw took black from the masked rows")
            } else if item.plain {
                XCTAssertEqual(isolated.black, image.black.map(Double.init), item.name)
            }
        }
    }

    /// Rewrites ImageWidth/ImageLength (LONG values in IFD0) of a DNG from DNGImage.
    private func patchDimensions(_ bytes: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
        var out = bytes
        let count = Int(out[8]) | Int(out[9]) << 8
        for i in 0..<count {
            let e = 10 + 12 * i
            let tag = Int(out[e]) | Int(out[e + 1]) << 8
            let value: UInt32? = tag == 256 ? width : tag == 257 ? height : nil
            if let value {
                for k in 0..<4 { out[e + 8 + k] = UInt8((value >> (8 * UInt32(k))) & 0xFF) }
            }
        }
        return out
    }
}
