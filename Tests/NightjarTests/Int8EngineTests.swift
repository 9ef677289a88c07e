import NightjarKernels
import XCTest

@testable import Nightjar

/// The int8 engine as a whole: integer kernels are bit-exact against the scalar reference and
/// the bulk conversions exact against theirs, so a whole int8 network gives the same bits
/// whatever the instruction set, the thread count and the bands.
final class Int8EngineTests: XCTestCase {
    /// The synthetic model with every layer int8 (activation ranges wide enough for its values).
    static func int8Model() throws -> NightjarModel { try allInt8(ModelFileTests.syntheticModel()) }

    /// `model` with every layer int8, at activation ranges of [-1, 2] (no calibration).
    static func allInt8(_ model: NightjarModel) throws -> NightjarModel {
        let specs = model.architecture.convolutions
        var layers: [Int: LayerQuantization] = [:]
        for case .convolution(let index, _, _, let residual, _, _) in NetworkGraph(architecture: model.architecture).steps {
            let spec = specs[index]
            layers[index] = LayerQuantization(
                quantizing: model.weights(spec), outChannels: spec.outChannels,
                input: .init(low: -1, high: 2), output: .init(low: -1, high: 2),
                residual: residual == nil ? nil : .init(low: -1, high: 2))
        }
        return try model.quantized(layerPrecisions: [Precision](repeating: .int8, count: specs.count), layers: layers)
    }

    func testInt8NetworkIsBitExactAcrossInstructionSetsThreadsAndBands() throws {
        let model = try Self.int8Model()
        let height = 96, width = 128
        var state: UInt32 = 7
        let input = (0..<(height * width)).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24)
        }
        func run(threads: Int, cap: Int32, bands: StreamSchedule.Bands = .init()) throws -> [Float] {
            nj_set_max_isa(cap)
            defer { nj_set_max_isa(-1) }
            let engine = try StreamingEngine(model: model, maxHeight: height, maxWidth: width, bands: bands, threads: threads, precision: .int8)
            XCTAssertTrue(engine.layerPrecisions.allSatisfy { $0 == .int8 })
            if cap == Int32(NJ_ISA_SCALAR.rawValue) {
                XCTAssertTrue(engine.kernelNames.allSatisfy { $0 == "qs8-conv2d-scalar" }, "\(engine.kernelNames)")
            }
            var output = [Float](repeating: -1, count: 3 * height * width)
            try engine.run(input: input, output: &output, height: height, width: width)
            return output
        }
        let reference = try run(threads: 1, cap: Int32(NJ_ISA_SCALAR.rawValue))
        let values = Set(reference)
        XCTAssertGreaterThan(values.count, 20, "a real output, not a constant one")
        for threads in [1, 2, 3] {
            let output = try run(threads: threads, cap: -1)
            XCTAssertTrue(output == reference, "\(threads) threads, best kernels: \(zip(output, reference).filter { $0 != $1 }.count) values differ")
        }
        let banded = try run(threads: 2, cap: -1, bands: .init(lowResolutionRows: 2, outputRows: 8))
        XCTAssertTrue(banded == reference, "other bands: \(zip(banded, reference).filter { $0 != $1 }.count) values differ")
        if nj_isa_supported(NJ_ISA_AVX2) != 0 {
            XCTAssertTrue(try run(threads: 2, cap: Int32(NJ_ISA_AVX2.rawValue)) == reference, "AVX2 kernels and conversions")
        }
    }
}
