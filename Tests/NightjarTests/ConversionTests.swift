import Foundation
@testable import Nightjar
import XCTest

final class ConversionTests: XCTestCase {
    private static let cache = ModelCache()

    func testEveryCheckpointConvertsToItsVariant() throws {
        let expected: [(String, Architecture, String)] = [
            ("official-sid-sony.pth", .published, "official"),
            ("red-mit-sid-sony.pth", .published, "mit"),
            ("variants/canonical-3.pth", Architecture(blockKind: .canonical, denseLayers: [4, 5, 5]), "official"),
            ("variants/star-2.pth", Architecture(blockKind: .rdbStar, denseLayers: [4, 5]), "official"),
            ("variants/star-4.pth", Architecture(blockKind: .rdbStar, denseLayers: [4, 5, 5, 5]), "official"),
        ]
        for (file, architecture, layout) in expected {
            let model = try Self.cache.model(try SharedReference.url("models/" + file))
            XCTAssertEqual(model.architecture, architecture, file)
            XCTAssertEqual(model.provenance.keyLayout, layout, file)
            XCTAssertEqual(model.provenance.checkpointSHA256.count, 64, file)
        }
    }

    /// Folding: w = g · v / ‖v‖ per output channel, checked on one tensor independently.
    func testWeightNormalisationIsFolded() throws {
        let url = try SharedReference.url("models/official-sid-sony.pth")
        let checkpoint = try TorchCheckpoint.load(contentsOf: url)
        let model = try Self.cache.model(url)
        let v = checkpoint.tensors["conv_2_8_32.0.weight_v"]!, g = checkpoint.tensors["conv_2_8_32.0.weight_g"]!
        let folded = model.tensors["conv_2_8_32.weight"]!.values
        let perChannel = 24 * 25
        for oc in [0, 5, 11] {
            let slice = v.values[(oc * perChannel)..<((oc + 1) * perChannel)]
            let norm = slice.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            for i in [0, 77, perChannel - 1] {
                XCTAssertEqual(Double(folded[oc * perChannel + i]), Double(g.values[oc]) * Double(slice[slice.startIndex + i]) / norm, accuracy: 1e-7)
            }
            // The folded filter's norm is the gain.
            let foldedNorm = folded[(oc * perChannel)..<((oc + 1) * perChannel)].map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            XCTAssertEqual(foldedNorm, Double(abs(g.values[oc])), accuracy: 1e-5)
        }
        XCTAssertEqual(model.tensors["conv_2_8_32.bias"]!.values, checkpoint.tensors["conv_2_8_32.0.bias"]!.values)
    }

    func testShapesThatDoNotFitAreRefusedByKey() throws {
        let state = try TorchCheckpoint.load(contentsOf: try SharedReference.url("models/red-mit-sid-sony.pth")).tensors
        var wrong = state
        wrong["RDB2.layers.3.1.conv.weight_v"] = TorchTensor(shape: [32, 150, 3, 3], values: [Float](repeating: 1, count: 32 * 150 * 9))
        XCTAssertThrowsError(try CheckpointConversion.convert(stateDict: wrong, provenance: ("x", ""), path: "x.pth")) { error in
            XCTAssertEqual(error as? ConversionError,
                           .shapeMismatch(path: "x.pth", key: "RDB2.layers.3.1.conv.weight_v", found: [32, 150, 3, 3], expected: [32, 160, 3, 3]))
        }
        var missing = state
        missing["conv2x.conv.bias"] = nil
        XCTAssertThrowsError(try CheckpointConversion.convert(stateDict: missing, provenance: ("x", ""), path: "x.pth")) { error in
            XCTAssertEqual(error as? ConversionError, .missingTensor(path: "x.pth", key: "conv2x.conv.bias"))
        }
        var extra = state
        extra["conv2x.conv.running_mean"] = TorchTensor(shape: [12], values: [Float](repeating: 0, count: 12))
        XCTAssertThrowsError(try CheckpointConversion.convert(stateDict: extra, provenance: ("x", ""), path: "x.pth")) { error in
            XCTAssertTrue("\(error)".contains("'conv2x.conv.running_mean' does not belong"), "\(error)")
        }
        var gap = state.filter { !$0.key.hasPrefix("RDB2.") }
        for (key, value) in state where key.hasPrefix("RDB3.") { gap[key] = value }
        XCTAssertThrowsError(try CheckpointConversion.convert(stateDict: gap, provenance: ("x", ""), path: "x.pth")) { error in
            XCTAssertTrue("\(error)".contains("unsupported network variant"), "\(error)")
        }
        XCTAssertThrowsError(try CheckpointConversion.convert(stateDict: ["fc.weight": TorchTensor(shape: [1], values: [0])], provenance: ("x", ""), path: "x.pth")) { error in
            XCTAssertTrue("\(error)".contains("neither the official nor the MIT key layout"), "\(error)")
        }
    }

    /// The command line: each checkpoint converts; a broken one fails with one line, exit 1,
    /// and leaves no output file behind.
    func testConvertCommand() throws {
        let dir = try makeTemporaryDirectory(self)
        let official = try SharedReference.url("models/official-sid-sony.pth")
        let good = try runNightjar(["convert", official.path, "-o", dir.appendingPathComponent("m.safetensors").path])
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertTrue(good.stdout.contains("rdb-star with 3 blocks of 4/5/5"), good.stdout)
        XCTAssertEqual(try NightjarModel.load(contentsOf: dir.appendingPathComponent("m.safetensors")).architecture, .published)

        let again = try runNightjar(["convert", official.path, "-o", dir.appendingPathComponent("m.safetensors").path])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("--overwrite"), again.stderr)

        let bytes = try Data(contentsOf: official)
        let truncated = dir.appendingPathComponent("cut.pth")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        let bad = try runNightjar(["convert", truncated.path, "-o", dir.appendingPathComponent("cut.safetensors").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("nightjar: error: \(truncated.path)"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("cut.safetensors").path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("partial") }
        XCTAssertEqual(leftovers, [])
    }

    func testRunTensorCommandReproducesGoldenOutput() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("star4.safetensors")
        XCTAssertEqual(try runNightjar(["convert", try SharedReference.url("models/variants/star-4.pth").path, "-o", model.path]).status, 0)
        let output = dir.appendingPathComponent("out.npy")
        let run = try runNightjar(["run-tensor", model.path, try SharedReference.url("golden/tensors/star-4_256x256_in.npy").path, output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let got = try NPYArray.read(contentsOf: output)
        XCTAssertEqual(got.shape, [3, 256, 256])
        let expected = try NPYArray.read(contentsOf: try SharedReference.url("golden/tensors/star-4_256x256_out.npy")).floats()
        XCTAssertLessThanOrEqual(zip(try got.floats(), expected).map { abs($0 - $1) }.max()!, 1e-4)

        let wrongPrecision = try runNightjar(["run-tensor", model.path, output.path, output.path, "--precision", "int8"])
        XCTAssertEqual(wrongPrecision.status, 1)
        let notMultiple = dir.appendingPathComponent("odd.npy")
        try NPYArray(shape: [40, 64], floats: [Float](repeating: 0.1, count: 40 * 64)).write(to: notMultiple)
        let odd = try runNightjar(["run-tensor", model.path, notMultiple.path, dir.appendingPathComponent("o2.npy").path])
        XCTAssertEqual(odd.status, 1)
        XCTAssertTrue(odd.stderr.contains("multiples of 32"), odd.stderr)
    }
}
