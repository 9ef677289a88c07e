import Foundation
@testable import Nightjar
import XCTest

/// An int8 network clips input values above what the int8 layers reading the input hold (their
/// calibrated range): light brighter than the calibration frames had. `restore` reports how
/// much of each frame that is and warns from `Int8InputClipping.significantShare`.
final class Int8InputClippingTests: XCTestCase {
    /// The synthetic model, every layer int8 at [-1, 2], except the encodings in `inputs`
    /// (layer name → the range of its input, or of its residual for "NAME.residual"), with
    /// the layers in `fp16` left FP16.
    static func model(inputs: [String: (Float, Float)] = [:], fp16: Set<String> = []) throws -> NightjarModel {
        let model = try ModelFileTests.syntheticModel()
        let specs = model.architecture.convolutions
        var layers: [Int: LayerQuantization] = [:]
        for case .convolution(let index, _, _, let residual, _, _, _) in NetworkGraph(architecture: model.architecture).steps {
            let spec = specs[index]
            func range(_ key: String) -> ActivationQuantization {
                inputs[key].map { ActivationQuantization(low: $0.0, high: $0.1) } ?? .init(low: -1, high: 2)
            }
            layers[index] = LayerQuantization(quantizing: model.weights(spec), outChannels: spec.outChannels,
                                              input: range(spec.name), output: .init(low: -1, high: 2),
                                              residual: residual == nil ? nil : range(spec.name + ".residual"))
        }
        return try model.quantized(layerPrecisions: specs.map { fp16.contains($0.name) ? .fp16 : .int8 }, layers: layers)
    }

    private func limit(_ model: NightjarModel, _ precision: Precision = .int8) throws -> Float? {
        try StreamingEngine(model: model, maxHeight: 64, maxWidth: 64, threads: 1, precision: precision).int8InputLimit
    }

    /// The limit is the least upper end among the encodings the int8 layers read the input in:
    /// directly (conv2x, conv32x.0's split) or through the 1/8 unshuffle (resblock8x's two
    /// layers, one of them as its residual). Other layers' ranges do not count; without an
    /// int8 layer reading the input there is none.
    func testTheLimitIsTheNarrowestRangeTheInputIsReadIn() throws {
        // The readers, found from the graph's steps.
        let graph = NetworkGraph(architecture: .published)
        XCTAssertEqual(graph.inputReads.map { graph.convolutions[$0.layer].name + ($0.residual ? ".residual" : "") }.sorted(),
                       ["conv2x", "conv32x.0", "resblock8x.conv1", "resblock8x.conv2.residual"])
        let wide = ActivationQuantization(low: -1, high: 2).high
        XCTAssertEqual(wide, 2, accuracy: 3.0 / 255)
        XCTAssertEqual(try limit(Self.model()), wide)
        for reader in ["conv2x", "conv32x.0", "resblock8x.conv1", "resblock8x.conv2.residual"] {
            let narrow = ActivationQuantization(low: 0, high: 1.25).high
            XCTAssertEqual(try limit(Self.model(inputs: [reader: (0, 1.25)])), narrow, reader)
            XCTAssertLessThan(narrow, wide)
        }
        // Layers that read other tensors.
        XCTAssertEqual(try limit(Self.model(inputs: ["conv32x.1": (0, 0.5), "resblock8x.conv2": (0, 0.5), "conv_2_8_32": (0, 0.5)])), wide)
        // A reader in FP16 does not clip; the others still do.
        XCTAssertEqual(try limit(Self.model(inputs: ["conv2x": (0, 1.25)], fp16: ["conv2x"])), wide)
        XCTAssertNil(try limit(Self.model(fp16: ["conv2x", "conv32x.0", "resblock8x.conv1", "resblock8x.conv2"])))
        XCTAssertNil(try limit(Self.model(), .fp16))
        XCTAssertNil(try limit(Self.model(), .fp32))
    }

    /// A synthetic 14-bit capture written into `directory`, and its aligned frame's normalised values.
    private func frame(cfa: CFAPattern, seed: UInt64, width: Int, height: Int, in directory: URL) throws -> (url: URL, values: [Float]) {
        var exposure = SyntheticScene.Exposure(cfa: cfa, bits: 14, exposureRatio: 8)
        exposure.seed = seed
        let url = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height), exposure: exposure),
                                            named: "frame.dng", in: directory)
        return (url, CapturePipeline.normalisedAligned(try RawDecoder().decode(url)).values)
    }

    /// `restoreCapture` of `input` with the amplification given, into `output` (zlib level 0).
    private func restore(_ input: URL, to output: URL, amplification: Double?, network: some FrameNetwork,
                         codes: Bool) throws -> RestoreReport {
        var options = RestoreOptions(amplification: amplification)
        options.compressionLevel = 0
        options.overwrite = true
        return try restoreCapture(input: input, output: output, options: options, modelName: "m", network: network,
                                  workspace: CaptureWorkspace(pngThreads: 2, mosaicCodes: codes))
    }

    /// Through `restore`, from codes and from the 16-bit mosaic, with the amplifier given and
    /// computed: the reported share is the share of the aligned frame's normalised values that
    /// the amplification takes above the limit, counted here pixel by pixel; the warning comes
    /// from 0.1 %; FP32 reports none.
    func testRestoreReportsTheClippedShareAndWarnsFromATenthOfAPercent() throws {
        let engine = try FrameEngine(model: Int8EngineTests.int8Model(), threads: 2, precision: .int8)
        let limit = try XCTUnwrap(engine.int8InputLimit)
        let directory = try makeTemporaryDirectory(self)
        let (url, values) = try frame(cfa: .grbg, seed: 11, width: 190, height: 126, in: directory)
        func counted(_ amplification: Double) -> Double {
            Double(values.filter { $0 * Float(amplification) > limit }.count) / Double(values.count)
        }
        func restore(_ amplification: Double?, codes: Bool, network: some FrameNetwork = engine) throws -> RestoreReport {
            try self.restore(url, to: directory.appendingPathComponent("out.png"), amplification: amplification, network: network,
                             codes: codes)
        }
        let sorted = values.sorted()
        // Amplifications that take nothing, about 0.05 % and about 2 % of the frame above the limit.
        let amplifications = [Double(limit / sorted.last!) * 0.99, Double(limit / sorted[values.count * 9995 / 10000]),
                              Double(limit / sorted[values.count * 98 / 100])]
        let expected = amplifications.map(counted)
        XCTAssertEqual(expected[0], 0)
        XCTAssertTrue(expected[1] > 0 && expected[1] < Int8InputClipping.significantShare, "\(expected[1])")
        XCTAssertGreaterThan(expected[2], 10 * Int8InputClipping.significantShare)
        for codes in [true, false] {
            for (amplification, share) in zip(amplifications, expected) {
                let report = try restore(amplification, codes: codes)
                XCTAssertEqual(report.int8InputClipped, share, "codes \(codes), amplification \(amplification)")
                let warned = report.warnings?.contains { $0.contains("brighter than the int8 model's calibrated range") } ?? false
                XCTAssertEqual(warned, share >= Int8InputClipping.significantShare, "\(report.warnings ?? [])")
            }
            let automatic = try restore(nil, codes: codes)
            XCTAssertEqual(automatic.int8InputClipped, counted(automatic.amplification), "codes \(codes)")
        }
        let fp32 = try FrameEngine(model: Int8EngineTests.int8Model(), threads: 2, precision: .fp32)
        let report = try restore(amplifications[2], codes: false, network: fp32)
        XCTAssertNil(report.int8InputClipped)
        XCTAssertNil(report.warnings)
        XCTAssertFalse(report.jsonString().contains("int8InputClipped"))
    }

    /// With a fallback (`--int8-fallback fp16`), a frame with at least the fallback's share of
    /// its input clipped runs on the FP16 engine instead: its pixels are the FP16 network's on
    /// the same 8-bit codes, the report says so and nothing warns. A frame under the share runs
    /// in int8 as without a fallback. An engine whose input no int8 layer reads makes none.
    func testFramesTooBrightForInt8RunOnTheFallback() throws {
        let model = try Int8EngineTests.int8Model()
        let engine = try FrameEngine(model: model, threads: 2, precision: .int8, int8Fallback: .fp16)
        XCTAssertEqual(engine.fallback?.precision, .fp16)
        XCTAssertEqual(engine.int8Fallback?.share, Int8InputClipping.significantShare)
        let limit = try XCTUnwrap(engine.int8InputLimit)
        let directory = try makeTemporaryDirectory(self)
        let (url, values) = try frame(cfa: .rggb, seed: 5, width: 158, height: 94, in: directory)
        let sorted = values.sorted()
        // About 0.05 % of the input above the limit (under the share), and about 2 % (over it).
        let under = Double(limit / sorted[sorted.count * 9995 / 10000]), over = Double(limit / sorted[sorted.count * 98 / 100])
        func restore(_ amplification: Double, _ network: some FrameNetwork, _ name: String) throws -> (RestoreReport, [UInt16]) {
            let output = directory.appendingPathComponent(name + ".png")
            let report = try self.restore(url, to: output, amplification: amplification, network: network, codes: true)
            return (report, try StoredPNG.read(output).samples)
        }
        let int8 = try FrameEngine(model: model, threads: 2, precision: .int8)
        let fp16 = try FrameEngine(model: model, threads: 2, precision: .fp16)

        let bright = try restore(over, engine, "bright")
        XCTAssertEqual(bright.0.int8Fallback, "fp16")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(bright.0.int8InputClipped), Int8InputClipping.significantShare)
        XCTAssertNil(bright.0.warnings)
        XCTAssertEqual(bright.1, try restore(over, fp16, "bright-fp16").1)
        let int8Bright = try restore(over, int8, "bright-int8")
        XCTAssertNotEqual(bright.1, int8Bright.1, "the int8 network clips this frame: its output differs")
        XCTAssertNotNil(int8Bright.0.warnings)

        let dim = try restore(under, engine, "dim")
        XCTAssertNil(dim.0.int8Fallback)
        XCTAssertGreaterThan(try XCTUnwrap(dim.0.int8InputClipped), 0)
        XCTAssertEqual(dim.1, try restore(under, int8, "dim-int8").1)
        XCTAssertFalse(dim.0.jsonString().contains("int8Fallback"))

        // The two take turns in one arena, and neither finds the other's windows a problem: the
        // fallback's pixels after an int8 frame ran there are the FP16 engine's still.
        let again = try restore(over, engine, "bright-again")
        XCTAssertEqual(again.0.int8Fallback, "fp16")
        XCTAssertEqual(again.1, bright.1)
        XCTAssertEqual(engine.fallback?.engine?.arenaAddress, engine.engine?.arenaAddress)
        XCTAssertEqual(engine.fallback?.arenaBytes, engine.arenaBytes)
        XCTAssertGreaterThanOrEqual(engine.arenaBytes, max(try XCTUnwrap(engine.engine?.plan.arenaBytes),
                                                            try XCTUnwrap(engine.fallback?.engine?.plan.arenaBytes)))

        // The share is the engine's: from 0 every frame falls back.
        engine.fallbackShare = 0
        XCTAssertEqual(try restore(under, engine, "dim-all").0.int8Fallback, "fp16")

        // No int8 reader of the input, or not int8 at all: no fallback engine, and one line says so.
        let fp16Engine = try FrameEngine(model: model, threads: 1, precision: .fp16, int8Fallback: .fp16)
        XCTAssertNil(fp16Engine.fallback)
        XCTAssertEqual(fp16Engine.unusedFallbackWarning(.fp16),
                       "--int8-fallback fp16 has no effect: the network runs fp16 and no int8 layer reads its input")
        let readersInFP16 = try Self.model(fp16: ["conv2x", "conv32x.0", "resblock8x.conv1", "resblock8x.conv2"])
        XCTAssertNil(try FrameEngine(model: readersInFP16, threads: 1, precision: .int8, int8Fallback: .fp32).fallback)
        XCTAssertNil(engine.unusedFallbackWarning(.fp16))
        XCTAssertNil(int8.unusedFallbackWarning(nil))
    }
}
