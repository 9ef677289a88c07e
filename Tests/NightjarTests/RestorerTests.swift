import Foundation
@testable import Nightjar
import XCTest

/// The one restore object of `restore`, `bench` and `watch`.
final class RestorerTests: XCTestCase {
    /// The published network with small pseudo-random weights and biases (a fixed seed): a
    /// model whose output depends on its input, without ../shared.
    static func randomModel(seed: UInt64 = 0x5EED) throws -> NightjarModel {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000 * 0.08
        }
        let architecture = Architecture.published
        var tensors: [String: SafeTensorsFile.Tensor] = [:]
        for spec in architecture.convolutions {
            tensors[spec.weightName] = .init(shape: spec.weightShape, values: (0..<spec.weightCount).map { _ in next() })
            if spec.bias { tensors[spec.biasName] = .init(shape: [spec.outChannels], values: (0..<spec.outChannels).map { _ in next() + 0.1 }) }
        }
        return try NightjarModel(architecture: architecture,
                                 provenance: .init(checkpointName: "random", checkpointSHA256: "", keyLayout: "official"),
                                 tensors: tensors)
    }

    /// The flags the kernel keeps for the mapping that holds `address` (/proc/self/smaps VmFlags).
    func mappingFlags(containing address: UInt) throws -> [String] {
        // /proc files report size 0: read to the end.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inside, line.hasPrefix("VmFlags:") {
                return fields.dropFirst().map(String.init)
            }
        }
        throw XCTSkip("SKIPPED: no mapping of \(String(address, radix: 16)) in /proc/self/smaps")
    }

    /// The arena is a mapping marked "dc" (do not copy on fork), as the workspace's buffers are, so
    /// the LibRaw child forked for every file neither maps nor copies them.
    func testArenaIsNotInheritedByTheDecoderChild() throws {
        let restorer = try Restorer(model: try FootprintTests.zeroModel(), modelName: "zeros", options: RestoreOptions(),
                                    threads: 1, maximumSize: (width: 256, height: 192))
        let engine = try XCTUnwrap(restorer.engine.engine)
        XCTAssertTrue(try mappingFlags(containing: engine.arenaAddress).contains("dc"))
        XCTAssertGreaterThan(restorer.arenaBytes, 0)
        XCTAssertEqual(restorer.arenaBytes, engine.plan.arenaBytes)
        // A heap allocation of the same size is an ordinary mapping: the check can fail.
        let heap = UnsafeMutableRawPointer.allocate(byteCount: restorer.arenaBytes, alignment: 64)
        defer { heap.deallocate() }
        XCTAssertFalse(try mappingFlags(containing: UInt(bitPattern: heap)).contains("dc"))
    }

    /// A restorer writes what `restoreCapture` writes with the same engine, byte for byte but
    /// the timings, refuses bad options at construction, and keeps outputs without overwrite.
    func testRestorerIsRestoreCapture() throws {
        let dir = try makeTemporaryDirectory(self)
        let input = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 96, height: 64)),
                                              named: "in.dng", in: dir)
        let model = try Self.randomModel()
        let restorer = try Restorer(model: model, modelName: "zeros", options: RestoreOptions(amplification: 50, compressionLevel: 0), threads: 1)
        XCTAssertEqual(restorer.arenaBytes, 0, "a growing restorer plans its arena at the first frame")
        let viaRestorer = dir.appendingPathComponent("a.png"), direct = dir.appendingPathComponent("b.png")
        let report = try restorer.restore(input: input, output: viaRestorer)
        _ = try restoreCapture(input: input, output: direct, options: RestoreOptions(amplification: 50, compressionLevel: 0), modelName: "zeros",
                               network: try FrameEngine(model: model, threads: 1))
        XCTAssertEqual(report.model, "zeros")
        XCTAssertEqual(report.amplification, 50)
        let samples = try StoredPNG.read(viaRestorer).samples
        XCTAssertEqual(samples, try StoredPNG.read(direct).samples)
        XCTAssertGreaterThan(Set(samples).count, 16, "the random model's output varies with its input")
        XCTAssertGreaterThan(restorer.arenaBytes, 0)
        XCTAssertThrowsError(try restorer.restore(input: input, output: viaRestorer)) { error in
            XCTAssertEqual(error as? CaptureError, .exists(path: viaRestorer.path))
        }
        XCTAssertThrowsError(try Restorer(model: model, modelName: "zeros", options: RestoreOptions(bits: 12))) { error in
            XCTAssertEqual(error as? CaptureError, .invalidArgument("--bits must be 8 or 16, not 12"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
    }

    /// A batch decodes each next file while the current one runs through the network: the
    /// next file's decoder child is under way when a restore returns, its restore takes the
    /// result, and every output is the one a restore of that file alone writes. A damaged next
    /// file is still that file's own error, and one restored out of turn cancels the child.
    func testNextFileIsDecodedAheadWithTheSameResult() throws {
        let dir = try makeTemporaryDirectory(self)
        let options = RestoreOptions(compressionLevel: 0)
        var inputs: [URL] = []
        for i in 0..<3 {
            var exposure = SyntheticScene.Exposure()
            exposure.exposureRatio = 40 + 20 * Double(i)
            var image = SyntheticScene.darkCapture(SyntheticScene.render(width: 96 + 32 * i, height: 64), exposure: exposure)
            image.dateTimeOriginal = "2025:01:0\(i + 1) 10:20:3\(i)"
            inputs.append(try CaptureFixtures.write(image, named: "in\(i).dng", in: dir))
        }
        let broken = dir.appendingPathComponent("broken.dng")
        try Data(try Data(contentsOf: inputs[0]).prefix(400)).write(to: broken)
        let model = try Self.randomModel()
        let batch = try Restorer(model: model, modelName: "random", options: options, threads: 1)
        let alone = try Restorer(model: model, modelName: "random", options: options, threads: 1)

        let order = [inputs[0], inputs[1], broken, inputs[2]]
        for (i, input) in order.enumerated() {
            let next = i + 1 < order.count ? order[i + 1] : nil
            let output = dir.appendingPathComponent("batch-\(i).png")
            if input == broken {
                XCTAssertThrowsError(try batch.restore(input: input, output: output, next: next)) { error in
                    XCTAssertTrue("\(error)".contains(broken.path), "\(error)")
                }
                XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
                continue
            }
            let report = try batch.restore(input: input, output: output, next: next)
            if let next, next != broken {
                XCTAssertEqual(batch.workspace.decodingAhead, next.path, "the next file decodes while this one runs")
            }
            XCTAssertEqual(report.captureTime, "2025-01-0\(i < 2 ? i + 1 : 3)T10:20:3\(i < 2 ? i : 2)")
            let single = dir.appendingPathComponent("alone-\(i).png")
            _ = try alone.restore(input: input, output: single)
            XCTAssertEqual(try StoredPNG.read(output).samples, try StoredPNG.read(single).samples, "\(input.lastPathComponent)")
        }
        // A decode started ahead for a file that is then not restored is ended, not leaked.
        _ = try batch.restore(input: inputs[0], output: dir.appendingPathComponent("again.png"), next: inputs[1])
        XCTAssertEqual(batch.workspace.decodingAhead, inputs[1].path)
        _ = try batch.restore(input: inputs[2], output: dir.appendingPathComponent("other.png"))
        XCTAssertNil(batch.workspace.decodingAhead, "cancelled when another file came first")
    }
}
