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
        for case .convolution(let index, _, _, let residual, _, _, _) in NetworkGraph(architecture: model.architecture).steps {
            let spec = specs[index]
            layers[index] = LayerQuantization(
                quantizing: model.weights(spec), outChannels: spec.outChannels,
                input: .init(low: -1, high: 2), output: .init(low: -1, high: 2),
                residual: residual == nil ? nil : .init(low: -1, high: 2))
        }
        return try model.quantized(layerPrecisions: [Precision](repeating: .int8, count: specs.count), layers: layers)
    }

    /// `count` values in [0, top) from a linear congruential generator.
    static func input(count: Int, seed: UInt32, top: Float) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * top
        }
    }

    func testInt8NetworkIsBitExactAcrossInstructionSetsThreadsAndBands() throws {
        let model = try Self.int8Model()
        let height = 96, width = 128
        let input = Self.input(count: height * width, seed: 7, top: 1)
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
        XCTAssertTrue(StreamSchedule.Bands.standard(for: .int8).wholeBlocks)
        let standard = try run(threads: 2, cap: -1, bands: .standard(for: .int8))
        XCTAssertTrue(standard == reference, "int8's standard bands: \(zip(standard, reference).filter { $0 != $1 }.count) values differ")
        if nj_isa_supported(NJ_ISA_AVX2) != 0 {
            XCTAssertTrue(try run(threads: 2, cap: Int32(NJ_ISA_AVX2.rawValue)) == reference, "AVX2 kernels and conversions")
        }
    }

    /// A streaming engine chooses each int8 layer's kernel for the rows a call gets (int8's
    /// standard bands: 2 a call in the 1/32 branch, 4 at 1/8 scale, 16 at 1/2), never one whose
    /// tiles are taller than its calls (F(4x4)'s 4 rows on the 2-row first pass).
    func testInt8KernelsAreChosenForTheRowsACallGets() throws {
        let model = try Self.int8Model()
        let architecture = model.architecture
        let rows = PackedParameters.rowsPerCall(architecture, layerPrecisions: architecture.convolutions.map { _ in .int8 },
                                                bands: .standard(for: .int8))
        let byName = Dictionary(uniqueKeysWithValues: zip(architecture.convolutions.map(\.name), rows))
        for (name, expected) in [("conv32x.0", 2), ("conv32x.1", 2), ("rdb1.dense0", 2), ("rdball", 2), ("conv_rdb8x", 4),
                                 ("resblock8x.conv1", 4), ("conv32_8_cat.1", 4), ("conv2x", 16), ("conv_2_8_32", 16)] {
            XCTAssertEqual(byName[name], expected, name)
        }
        var tileRows: [String: Int] = [:]
        for index in 0..<nj_conv2d_qs8_kernel_count() {
            let kernel = nj_conv2d_qs8_kernel_at(index)!.pointee
            tileRows[String(cString: kernel.name)] = Int(kernel.tile_rows)
        }
        // The streaming engine, and the frame engine that `restore` and `watch` run.
        let streaming = try StreamingEngine(model: model, maxHeight: 96, maxWidth: 128, threads: 1, precision: .int8)
        let frames = try FrameEngine(model: model, threads: 1, maximumSize: (height: 96, width: 128), precision: .int8)
        for engine in [streaming, try XCTUnwrap(frames.engine)] {
            XCTAssertEqual(engine.kernelNames.count, rows.count)
            for (layer, name) in engine.kernelNames.enumerated() {
                let tile = try XCTUnwrap(tileRows[name], "\(name) is not an int8 kernel")
                XCTAssertLessThanOrEqual(tile, rows[layer], "\(architecture.convolutions[layer].name) runs \(name)")
            }
        }
    }

    /// Where every int8 layer reading the input reads one encoding, the row source writes the
    /// input as int8 in it: no conversion step copies it, the arena is smaller, and the output
    /// has the bits of the plan that writes FP32 and quantises it for each reader. Where the
    /// encodings differ (a model quantised before unshuffles kept their source's encoding),
    /// the input stays FP32.
    func testInt8InputWrittenDirectlyEqualsTheQuantisedFP32Input() throws {
        let model = try Self.int8Model()
        let height = 96, width = 128
        // Past the encoding's top (2) now and then: saturation is the same both ways.
        let input = Self.input(count: height * width, seed: 11, top: 2.2)
        let parameters = try PackedParameters(model, precision: .int8)
        func engine(int8Input: Bool, _ parameters: PackedParameters) throws -> StreamingEngine {
            try Self.engine(parameters, model, height: height, width: width, int8Input: int8Input)
        }
        func run(_ engine: StreamingEngine) throws -> [Float] { try Self.run(engine, input, height: height, width: width) }
        func copiesOfInput(_ graph: NetworkGraph) -> Int {
            graph.steps.filter {
                if case .copy(let from, _, _) = $0, case .input = from.storage { return true }
                return false
            }.count
        }
        let direct = try engine(int8Input: true, parameters), converted = try engine(int8Input: false, parameters)
        XCTAssertEqual(direct.schedule.graph.inputPrecision, .int8)
        XCTAssertEqual(direct.schedule.graph.inputQuantization, ActivationQuantization(low: -1, high: 2))
        XCTAssertEqual(copiesOfInput(direct.schedule.graph), 0)
        XCTAssertEqual(converted.schedule.graph.inputPrecision, .fp32)
        XCTAssertGreaterThan(copiesOfInput(converted.schedule.graph), 0, "the FP32 plan quantises the input for its readers")
        XCTAssertLessThan(direct.plan.arenaBytes, converted.plan.arenaBytes)
        let expected = try run(converted)
        XCTAssertGreaterThan(Set(expected).count, 20, "a real output, not a constant one")
        let got = try run(direct)
        XCTAssertTrue(got == expected, "\(zip(got, expected).filter { $0 != $1 }.count) values differ")

        // resblock8x reading the unshuffled input in an encoding of its own: FP32 input.
        let specs = model.architecture.convolutions
        var layers: [Int: LayerQuantization] = [:]
        var precisions: [Precision] = []
        for (index, spec) in specs.enumerated() {
            var q = try XCTUnwrap(model.quantization(spec))
            if spec.name == "resblock8x.conv1" { q.input = ActivationQuantization(low: -1, high: 2.5) }
            layers[index] = q
            precisions.append(.int8)
        }
        let apart = try model.quantized(layerPrecisions: precisions, layers: layers)
        let graph = try engine(int8Input: true, PackedParameters(apart, precision: .int8)).schedule.graph
        XCTAssertEqual(graph.inputPrecision, .fp32)
        XCTAssertNil(graph.inputQuantization)
    }

    /// An int8 last layer's codes go to the sink as they are (the colour stage and the PNG
    /// dequantise them in registers): no conversion step writes the output, the arena is
    /// smaller, and the values the sink makes of them are those of the plan that converts them
    /// to FP32. A last layer in another precision keeps the FP32 output.
    func testInt8OutputCodesEqualTheConvertedFP32Output() throws {
        let model = try Self.int8Model()
        let height = 96, width = 128
        let input = Self.input(count: height * width, seed: 5, top: 2)
        let parameters = try PackedParameters(model, precision: .int8)
        func engine(int8Output: Bool) throws -> StreamingEngine {
            try Self.engine(parameters, model, height: height, width: width, int8Output: int8Output)
        }
        func run(_ engine: StreamingEngine) throws -> [Float] { try Self.run(engine, input, height: height, width: width) }
        func copiesToOutput(_ graph: NetworkGraph) -> Int {
            graph.steps.filter {
                if case .copy(_, let to, _) = $0, to.storage == .output { return true }
                return false
            }.count
        }
        let codes = try engine(int8Output: true), converted = try engine(int8Output: false)
        let last = try XCTUnwrap(model.architecture.convolutions.last)
        XCTAssertEqual(codes.schedule.graph.outputPrecision, .int8)
        XCTAssertEqual(codes.schedule.graph.outputQuantization, try XCTUnwrap(model.quantization(last)).output)
        XCTAssertEqual(copiesToOutput(codes.schedule.graph), 0)
        XCTAssertEqual(converted.schedule.graph.outputPrecision, .fp32)
        XCTAssertEqual(copiesToOutput(converted.schedule.graph), 1, "the FP32 plan converts the last layer's codes")
        XCTAssertLessThan(codes.plan.arenaBytes, converted.plan.arenaBytes)
        let expected = try run(converted)
        XCTAssertGreaterThan(Set(expected).count, 20, "a real output, not a constant one")
        let got = try run(codes)
        XCTAssertTrue(got == expected, "\(zip(got, expected).filter { $0 != $1 }.count) values differ")

        // The last layer in FP16: FP32 output.
        var precisions = [Precision](repeating: .int8, count: model.architecture.convolutions.count)
        precisions[precisions.count - 1] = .fp16
        let quantizations = model.architecture.convolutions.map { model.quantization($0) }
        let mixed = NetworkGraph(architecture: model.architecture, layerPrecisions: precisions, quantizations: quantizations,
                                 int8Output: true)
        XCTAssertEqual(mixed.outputPrecision, .fp32)
        XCTAssertNil(mixed.outputQuantization)
    }

    /// A two-thread int8 engine in int8's standard bands, with the input and output as asked.
    private static func engine(_ parameters: PackedParameters, _ model: NightjarModel, height: Int, width: Int,
                               int8Input: Bool = true, int8Output: Bool = true) throws -> StreamingEngine {
        try StreamingEngine(parameters: parameters, architecture: model.architecture, maxHeight: height, maxWidth: width,
                            bands: .standard(for: .int8), threads: 2, int8Input: int8Input, int8Output: int8Output)
    }

    /// The planar output of one run on `input`.
    private static func run(_ engine: StreamingEngine, _ input: [Float], height: Int, width: Int) throws -> [Float] {
        var output = [Float](repeating: -1, count: 3 * height * width)
        try engine.run(input: input, output: &output, height: height, width: width)
        return output
    }
}
