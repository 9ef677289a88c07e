import Foundation
@testable import Nightjar
import XCTest

/// Fuzz targets for the parsers that CheckpointTests (pickle, zip) and CaptureFuzzTests (DNG
/// truncations and flips) do not cover: safetensors, `.npy`, and the determinism of DNG
/// decoding (issue #14 case 10: the same damaged file must always give the same result).
/// Deterministic seeds, bounded counts (NIGHTJAR_FUZZ_ITERATIONS raises them for a soak):
/// every input must give a value or a typed error, never a crash or a trap.
final class ParserFuzzTests: XCTestCase {
    func iterations(_ count: Int) -> Int {
        ProcessInfo.processInfo.environment["NIGHTJAR_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? count
    }

    /// SplitMix64: small, deterministic.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    /// Byte flips, overwrites with boundary values, truncations and insertions of `bytes`.
    func mutate(_ bytes: [UInt8], _ rng: inout Generator, focus: Int) -> [UInt8] {
        var out = bytes
        for _ in 0..<(1 + rng.below(4)) {
            let limit = rng.below(4) == 0 ? out.count : min(out.count, focus)
            guard limit > 0 else { break }
            let at = rng.below(limit)
            switch rng.below(5) {
            case 0: out[at] ^= UInt8(1 << rng.below(8))
            case 1: out[at] = [0x00, 0xFF, 0x7F, 0x80, 0x30, 0x39, 0x2D, 0x2C, 0x5D, 0x22][rng.below(10)]
            case 2: out.removeSubrange(at..<min(out.count, at + 1 + rng.below(16)))
            case 3: out.insert(contentsOf: Array("9999999999999999999".utf8.prefix(1 + rng.below(19))), at: at)
            default: out = Array(out.prefix(at))
            }
        }
        return out
    }

    func testSafeTensorsFuzz() throws {
        let tensors: [String: SafeTensorsFile.Tensor] = [
            "a.weight": .init(shape: [2, 3, 3, 3], values: (0..<54).map { Float($0) / 7 }),
            "a.bias": .init(shape: [2], values: [0.5, -0.5]),
            "b.weight": .init(shape: [4, 2, 1, 1], values: (0..<8).map { Float($0) }),
        ]
        let valid = try SafeTensorsFile(metadata: ["format": "nightjar", "format_version": "1"], tensors: tensors).encoded()
        let headerEnd = 8 + Int(valid[0]) + Int(valid[1]) << 8
        // Hostile headers written out, then the random mutations.
        let hostile = [
            #"{"w":{"dtype":"F32","shape":[9223372036854775807,2],"data_offsets":[0,8]}}"#,
            #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#,
            #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775807]}}"#,
            #"{"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}}"#,
            #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
            #"{"w":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}"#,
            #"{"__metadata__":{"format":["nightjar"]}}"#,
            String(repeating: "[", count: 100_000),
        ]
        for header in hostile {
            let bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8) + [0, 0, 0, 0]
            XCTAssertThrowsError(try SafeTensorsFile.parse(bytes, path: "h"), header.prefix(80).description)
        }
        let original = try SafeTensorsFile.parse(valid, path: "valid")
        XCTAssertNil(original.contentDigestProblem())
        var rng = Generator(state: 14_001)
        var parsed = 0, refused = 0, caught = 0
        for _ in 0..<iterations(4000) {
            let bytes = mutate(valid, &rng, focus: headerEnd)
            do {
                let file = try SafeTensorsFile.parse(bytes, path: "fuzz")
                for (_, tensor) in file.tensors {
                    XCTAssertEqual(tensor.values.count, tensor.shape.reduce(1, *))
                }
                parsed += 1
                // What the content digest passes is the content that was written.
                if file.contentDigestProblem() == nil {
                    XCTAssertEqual(file.tensors, original.tensors)
                    XCTAssertEqual(file.metadata, original.metadata)
                } else {
                    caught += 1
                }
            } catch is ModelFileError {
                refused += 1
            }
        }
        print("safetensors fuzz: \(parsed) parsed (\(caught) of them refused by the content digest), \(refused) refused")
        XCTAssertGreaterThan(caught, 0)
        XCTAssertGreaterThan(refused, 0)
    }

    func testNPYFuzz() throws {
        let valid = NPYArray(shape: [4, 8], floats: (0..<32).map { Float($0) }).encoded()
        var rng = Generator(state: 14_002)
        var parsed = 0, refused = 0
        for _ in 0..<iterations(4000) {
            let bytes = mutate(valid, &rng, focus: 128)
            do {
                let array = try NPYArray.parse(bytes, path: "fuzz")
                XCTAssertEqual(array.data.count, array.elementCount * (array.dtype == .float32 ? 4 : 1))
                parsed += 1
            } catch is NPYError {
                refused += 1
            }
        }
        print(".npy fuzz: \(parsed) parsed, \(refused) refused")
        XCTAssertGreaterThan(refused, 0)
    }

    /// Sensor descriptions (`--sensor FILE`, #13): mutated JSON parses into a valid
    /// description or is refused with a `SensorDescriptionError`; every description that parses
    /// then decodes a small dump of a wrong size without trapping (refused before any pixel
    /// memory is allocated) and one of its own size to a frame of its size.
    func testSensorDescriptionFuzz() throws {
        let valid = Array(#"{"id": "fuzz", "width": 20, "height": 6, "stride": 32, "bits": 10, "cfa": "BGGR", "black": [64, 64, 64, 64], "white": 1023, "packing": "mipi-raw10"}"#.utf8)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nightjar-sensor-fuzz-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wrongSize = directory.appendingPathComponent("wrong.raw")
        try Data(repeating: 0x5A, count: 1000).write(to: wrongSize)
        var rng = Generator(state: 14_013)
        var parsed = 0, refused = 0
        for _ in 0..<iterations(3000) {
            let bytes = mutate(valid, &rng, focus: valid.count)
            let description: SensorDescription
            do {
                description = try SensorDescription.parse(bytes, path: "fuzz")
            } catch is SensorDescriptionError {
                refused += 1
                continue
            }
            parsed += 1
            XCTAssertNoThrow(try description.validate(path: "fuzz"))
            let size = description.stride * description.height
            if size != 1000 {
                XCTAssertThrowsError(try SensorDump.decode(wrongSize, description: description, maxPixels: 1 << 20))
            }
            if size <= 1 << 16 {
                let own = directory.appendingPathComponent("own.raw")
                try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: own)
                let frame = try SensorDump.decode(own, description: description, maxPixels: 1 << 20)
                XCTAssertEqual(frame.width * frame.height, description.width * description.height)
            }
        }
        print("sensor description fuzz: \(parsed) parsed, \(refused) refused")
        XCTAssertGreaterThan(parsed, 0)
        XCTAssertGreaterThan(refused, 0)
    }

    /// Byte-flipped DNGs through the structure checks and LibRaw (in its child process): each
    /// decoded twice, with the same result both times.
    func testDamagedDNGsDecodeTheSameEveryTime() throws {
        let dir = try makeTemporaryDirectory(self)
        let valid = SyntheticScene.darkCapture(SyntheticScene.render(width: 48, height: 32), exposure: SyntheticScene.Exposure()).encoded()
        let url = dir.appendingPathComponent("fuzz.dng")
        var rng = Generator(state: 14_003)
        var images = 0, errors = 0
        for _ in 0..<iterations(200) {
            var bytes = valid
            for _ in 0..<(1 + rng.below(4)) { bytes[rng.below(min(bytes.count, 700))] ^= UInt8(1 << rng.below(8)) }
            try Data(bytes).write(to: url)
            func outcome() -> String {
                do {
                    let frame = try RawDecoder(maxPixels: 10_000_000).decode(url)
                    let digest = SHA256.hex(frame.mosaic.withUnsafeBytes { Array($0) })
                    return "image \(frame.width)x\(frame.height) \(frame.black) \(frame.white) \(digest)"
                } catch {
                    return "error \(error)"
                }
            }
            let first = outcome(), second = outcome()
            XCTAssertEqual(first, second)
            if first.hasPrefix("image") { images += 1 } else { errors += 1 }
        }
        print("damaged DNGs: \(images) decoded, \(errors) refused, each the same twice")
    }

    /// Byte-flipped TIFF RAWs of a camera LibRaw does not know (its non-DNG path, then
    /// `RawPlausibility`): each decoded twice with the same result, and what decodes is the
    /// size the file says with levels LibRaw can hold.
    func testDamagedTIFFRawsDecodeTheSameEveryTime() throws {
        let dir = try makeTemporaryDirectory(self)
        let valid = RawPlausibilityTests.packedTIFF(width: 48, height: 32).file
        let url = dir.appendingPathComponent("fuzz.tif")
        var rng = Generator(state: 14_004)
        var images = 0, errors = 0
        for _ in 0..<iterations(100) {
            var bytes = valid
            for _ in 0..<(1 + rng.below(3)) { bytes[rng.below(min(bytes.count, 260))] ^= UInt8(1 << rng.below(8)) }
            try Data(bytes).write(to: url)
            func outcome() -> String {
                do {
                    let frame = try RawDecoder(maxPixels: 10_000_000).decode(url)
                    XCTAssertEqual(frame.mosaic.count, frame.width * frame.height)
                    XCTAssertTrue(frame.white > frame.black.max()! && frame.white <= 65535, "\(frame.white) \(frame.black)")
                    return "image \(frame.width)x\(frame.height) \(frame.black) \(frame.white) \(SHA256.hex(frame.mosaic.withUnsafeBytes { Array($0) }))"
                } catch {
                    return "error \(error)"
                }
            }
            let first = outcome(), second = outcome()
            XCTAssertEqual(first, second)
            if first.hasPrefix("image") { images += 1 } else { errors += 1 }
        }
        print("damaged TIFF RAWs: \(images) decoded, \(errors) refused, each the same twice")
        XCTAssertGreaterThan(errors, 0)
    }
}
