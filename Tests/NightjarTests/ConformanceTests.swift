import Foundation
@testable import Nightjar
import NightjarKernels
import XCTest

/// The FP32 engine against the PyTorch network's golden outputs: every case in the manifest,
/// both Sony models and all variants, max |Δ| ≤ 1e-4 (REFERENCE.md §4).
final class ConformanceTests: XCTestCase {
    static let tolerance: Float = 1e-4

    /// Converted models by checkpoint, shared across cases (conversion is the slow part).
    private static let cache = ModelCache()

    func testEveryGoldenTensorCase() throws {
        let cases = try SharedReference.manifest()["tensors"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 7)
        for entry in cases {
            let name = entry["name"] as! String
            let model = try Self.cache.model(try SharedReference.url("models/" + (entry["model"] as! String)))
            let input = try NPYArray.read(contentsOf: try SharedReference.url("golden/" + (entry["input"] as! String)))
            let expected = try NPYArray.read(contentsOf: try SharedReference.url("golden/" + (entry["output"] as! String)))
            let (height, width) = (entry["height"] as! Int, entry["width"] as! Int)
            XCTAssertEqual(input.shape, [height, width])
            XCTAssertEqual(expected.shape, [3, height, width])

            let engine = try Engine(model: model, maxHeight: height, maxWidth: width)
            var output = [Float](repeating: .nan, count: 3 * height * width)
            try engine.run(input: try input.floats(), output: &output, height: height, width: width)
            let reference = try expected.floats()
            var worst: Float = 0
            for i in output.indices { worst = max(worst, abs(output[i] - reference[i])) }
            XCTAssertLessThanOrEqual(worst, Self.tolerance, "\(name): max |Δ| = \(worst)")
            XCTAssertFalse(output.contains { $0.isNaN }, name)
            print("conformance \(name): max |Δ| = \(worst)")
        }
    }

    /// Golden conformance holds on every instruction-set path this machine has, each forced
    /// in turn (the scalar reference included), through the streaming engine.
    func testEveryInstructionSetPath() throws {
        let cases = try SharedReference.manifest()["tensors"] as! [[String: Any]]
        defer { nj_set_max_isa(-1) }
        for isa in [NJ_ISA_SCALAR, NJ_ISA_SSE41, NJ_ISA_AVX2, NJ_ISA_AVX512, NJ_ISA_NEON] where nj_isa_supported(isa) != 0 {
            nj_set_max_isa(Int32(isa.rawValue))
            XCTAssertEqual(nj_isa_active(), isa)
            for entry in cases where entry["height"] as! Int == 256 {
                let name = entry["name"] as! String
                let model = try Self.cache.model(try SharedReference.url("models/" + (entry["model"] as! String)))
                let input = try NPYArray.read(contentsOf: try SharedReference.url("golden/" + (entry["input"] as! String))).floats()
                let expected = try NPYArray.read(contentsOf: try SharedReference.url("golden/" + (entry["output"] as! String))).floats()
                var output = [Float](repeating: .nan, count: expected.count)
                try StreamingEngine(model: model, maxHeight: 256, maxWidth: 256).run(input: input, output: &output, height: 256, width: 256)
                let worst = zip(output, expected).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(worst, Self.tolerance, "\(name) on \(String(cString: nj_isa_name(isa)))")
            }
        }
    }

    /// The two Sony models give clearly different outputs, so a mix-up of layouts would show.
    func testSonyModelsDifferFromEachOther() throws {
        let official = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let mit = try Self.cache.model(try SharedReference.url("models/red-mit-sid-sony.pth"))
        let input = try NPYArray.read(contentsOf: try SharedReference.url("golden/tensors/official_256x256_in.npy")).floats()
        var a = [Float](repeating: 0, count: 3 * 256 * 256), b = a
        try Engine(model: official, maxHeight: 256, maxWidth: 256).run(input: input, output: &a, height: 256, width: 256)
        try Engine(model: mit, maxHeight: 256, maxWidth: 256).run(input: input, output: &b, height: 256, width: 256)
        let mean = zip(a, b).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(a.count)
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        print("official vs MIT on one input: mean |Δ| \(mean), max |Δ| \(worst)")
        XCTAssertGreaterThan(mean, 0.005)
        XCTAssertGreaterThan(worst, 100 * Self.tolerance)
    }

    /// A smaller frame than the arena was planned for reuses it and gives the same result as an
    /// engine planned for exactly that size; a larger one is refused.
    func testSmallerFramesReuseTheArenaAndLargerAreRefused() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let input = try NPYArray.read(contentsOf: try SharedReference.url("golden/tensors/official_256x256_in.npy")).floats()
        let expected = try NPYArray.read(contentsOf: try SharedReference.url("golden/tensors/official_256x256_out.npy")).floats()
        let big = try Engine(model: model, maxHeight: 512, maxWidth: 768)
        var output = [Float](repeating: 0, count: 3 * 256 * 256)
        try big.run(input: input, output: &output, height: 256, width: 256)
        let worst = zip(output, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, Self.tolerance)

        let small = try Engine(model: model, maxHeight: 256, maxWidth: 256)
        var large = [Float](repeating: 0, count: 3 * 256 * 512)
        XCTAssertThrowsError(try small.run(input: [Float](repeating: 0, count: 256 * 512), output: &large, height: 256, width: 512)) { error in
            XCTAssertEqual(error as? EngineError, .frameTooLarge(height: 256, width: 512, maxHeight: 256, maxWidth: 256))
        }
        XCTAssertThrowsError(try small.run(input: input, output: &output, height: 250, width: 256)) { error in
            XCTAssertEqual(error as? EngineError, .badFrameSize(height: 250, width: 256))
        }
    }
}

/// Converts each checkpoint once per test run.
final class ModelCache: @unchecked Sendable {
    private var models: [String: NightjarModel] = [:]
    private let lock = NSLock()

    func model(_ checkpoint: URL) throws -> NightjarModel {
        lock.lock()
        defer { lock.unlock() }
        if let model = models[checkpoint.path] { return model }
        let loaded = try TorchCheckpoint.load(contentsOf: checkpoint)
        let model = try CheckpointConversion.convert(
            stateDict: loaded.tensors, provenance: (checkpoint.lastPathComponent, loaded.sha256), path: checkpoint.path)
        models[checkpoint.path] = model
        return model
    }
}
