import Foundation
@testable import Nightjar
import XCTest

final class ModelFileTests: XCTestCase {
    /// A model of the published architecture with small deterministic weights.
    static func syntheticModel(_ architecture: Architecture = .published) throws -> NightjarModel {
        var state: UInt32 = 12345
        func next() -> Float {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(Int32(bitPattern: state >> 8) - (1 << 23)) / Float(1 << 26)
        }
        var tensors: [String: SafeTensorsFile.Tensor] = [:]
        for spec in architecture.convolutions {
            tensors[spec.weightName] = .init(shape: spec.weightShape, values: (0..<spec.weightCount).map { _ in next() })
            if spec.bias { tensors[spec.biasName] = .init(shape: [spec.outChannels], values: (0..<spec.outChannels).map { _ in next() }) }
        }
        return try NightjarModel(
            architecture: architecture,
            provenance: .init(checkpointName: "synthetic.pth", checkpointSHA256: String(repeating: "ab", count: 32), keyLayout: "official"),
            tensors: tensors)
    }

    func testPublishedArchitectureCounts() {
        // REFERENCE.md §1: 4915 MAC per raw pixel. 784,768 parameters counts weight_g too
        // (one per output channel of every convolution); folding removes them.
        XCTAssertEqual(Architecture.published.macsPerPixel, 4915, accuracy: 0.5)
        let gains = Architecture.published.convolutions.reduce(0) { $0 + $1.outChannels }
        XCTAssertEqual(Architecture.published.parameterCount + gains, 784_768)
    }

    func testRoundTripKeepsEveryTensorAndTheMetadata() throws {
        let model = try Self.syntheticModel(Architecture(blockKind: .canonical, denseLayers: [4, 5, 5, 5]))
        let url = try makeTemporaryDirectory(self).appendingPathComponent("m.safetensors")
        try model.write(to: url)
        let loaded = try NightjarModel.load(contentsOf: url)
        XCTAssertEqual(loaded.architecture, model.architecture)
        XCTAssertEqual(loaded.provenance, model.provenance)
        XCTAssertEqual(loaded.tensors, model.tensors)
        let file = try SafeTensorsFile.read(contentsOf: url)
        XCTAssertEqual(file.metadata["format_version"], "1")
        XCTAssertEqual(file.metadata["dense_layers"], "4,5,5,5")
        XCTAssertEqual(file.metadata["architecture"], "canonical")
    }

    func testTruncatedFileNamesTheTensor() throws {
        let bytes = try SafeTensorsFile(metadata: try Self.syntheticModel().metadata, tensors: try Self.syntheticModel().tensors).encoded()
        for cut in [0, 7, 8, 100, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(try SafeTensorsFile.parse(Array(bytes.prefix(cut)), path: "m")) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("m: "), text)
                if cut > bytes.count / 4 { XCTAssertTrue(text.contains("tensor '") && text.contains("truncated"), text) }
            }
        }
    }

    func testUnknownVersionIsRefused() throws {
        var meta = try Self.syntheticModel().metadata
        meta["format_version"] = "99"
        let file = SafeTensorsFile(metadata: meta, tensors: try Self.syntheticModel().tensors)
        XCTAssertThrowsError(try NightjarModel(file: file, path: "m")) { error in
            XCTAssertEqual(error as? ModelFileError, .unsupportedVersion(path: "m", version: 99, supported: 1))
        }
        meta["format"] = "onnx"
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: meta, tensors: [:]), path: "m")) { error in
            XCTAssertEqual(error as? ModelFileError, .notANightjarModel(path: "m"))
        }
    }

    /// The content digest changes with every metadata entry, tensor name, shape and value, but
    /// not with the order tensors were added in; a file records it and loads.
    func testContentDigestCoversMetadataNamesShapesAndValues() throws {
        let model = try Self.syntheticModel(Architecture(blockKind: .rdbStar, denseLayers: [2]))
        let file = SafeTensorsFile(metadata: model.metadata, tensors: model.tensors)
        let digest = file.contentDigest()
        XCTAssertEqual(digest.count, 16)
        XCTAssertTrue(digest.allSatisfy(\.isHexDigit))
        XCTAssertEqual(file.withContentDigest().contentDigest(), digest, "the stored digest is not part of it")
        XCTAssertEqual(SafeTensorsFile(metadata: model.metadata, tensors: Dictionary(uniqueKeysWithValues: model.tensors.reversed())).contentDigest(), digest)
        var variants: [SafeTensorsFile] = []
        for key in model.metadata.keys {
            var changed = file
            changed.metadata[key]! += "x"
            variants.append(changed)
            changed = file
            changed.metadata[key] = nil
            variants.append(changed)
        }
        var extra = file
        extra.metadata["comment"] = ""
        variants.append(extra)
        let name = "rdb1.dense1.weight"
        let tensor = file.tensors[name]!
        var renamed = file
        renamed.tensors[name] = nil
        renamed.tensors["rdb1.dense1.weigh"] = tensor
        variants.append(renamed)
        var reshaped = file
        reshaped.tensors[name]!.shape = [tensor.shape[1], tensor.shape[0]] + tensor.shape[2...]
        variants.append(reshaped)
        var swapped = file
        swapped.tensors[name]!.values.swapAt(0, 1)
        variants.append(swapped)
        var flipped = file
        flipped.tensors[name]!.values[tensor.values.count - 1] = Float(bitPattern: tensor.values.last!.bitPattern ^ 1)
        variants.append(flipped)
        var digests = Set([digest])
        for variant in variants { digests.insert(variant.contentDigest()) }
        XCTAssertEqual(digests.count, variants.count + 1, "every change gives another digest")

        let bytes = try file.encoded()
        let parsed = try SafeTensorsFile.parse(bytes, path: "m")
        XCTAssertEqual(parsed.metadata[SafeTensorsFile.contentDigestKey], digest)
        XCTAssertEqual(try NightjarModel(file: parsed, path: "m").tensors, model.tensors)
        XCTAssertEqual(try file.encoded(), bytes, "the same model gives the same bytes")
        XCTAssertThrowsError(try NightjarModel(file: file, path: "m")) {
            XCTAssertTrue("\($0)".hasPrefix("m: not a valid model file: it records no content digest"), "\($0)")
        }
    }

    func testShapeMismatchMissingAndExtraTensorsAreNamed() throws {
        let model = try Self.syntheticModel()
        var tensors = model.tensors
        tensors["rdb2.dense3.weight"] = .init(shape: [32, 100, 3, 3], values: [Float](repeating: 0, count: 32 * 900))
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: model.metadata, tensors: tensors).withContentDigest(), path: "m")) { error in
            XCTAssertEqual("\(error)", "m: tensor 'rdb2.dense3.weight': shape [32, 100, 3, 3], expected [32, 160, 3, 3]")
        }
        tensors = model.tensors
        tensors["conv2x.bias"] = nil
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: model.metadata, tensors: tensors).withContentDigest(), path: "m")) { error in
            XCTAssertEqual("\(error)", "m: tensor 'conv2x.bias': missing")
        }
        tensors = model.tensors
        tensors["rdb4.fuse.weight"] = .init(shape: [1], values: [0])
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: model.metadata, tensors: tensors).withContentDigest(), path: "m")) { error in
            XCTAssertTrue("\(error)".contains("'rdb4.fuse.weight': not part of"), "\(error)")
        }
    }
}
