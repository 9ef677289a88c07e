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
}
