import Foundation
@testable import Nightjar
import XCTest

/// The reduced-precision engines against the FP32 engine on every golden tensor case of
/// ../shared (REFERENCE.md §4's inputs): int8 with a model calibrated here from the golden
/// inputs of its own network.
final class ReducedPrecisionTests: XCTestCase {
    private static let cache = ModelCache()

    static func psnr(_ a: [Float], _ b: [Float]) -> Double {
        let mse = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.count)
        return mse > 0 ? 10 * log10(1 / mse) : .infinity
    }

    /// Golden cases grouped by checkpoint: (name, input, height, width).
    static func goldenCases() throws -> [(model: String, cases: [(name: String, input: [Float], height: Int, width: Int)])] {
        let entries = try SharedReference.manifest()["tensors"] as! [[String: Any]]
        var grouped: [(model: String, cases: [(name: String, input: [Float], height: Int, width: Int)])] = []
        for entry in entries {
            let model = entry["model"] as! String
            let input = try NPYArray.read(contentsOf: try SharedReference.url("golden/" + (entry["input"] as! String))).floats()
            let item = (name: entry["name"] as! String, input: input, height: entry["height"] as! Int, width: entry["width"] as! Int)
            if let i = grouped.firstIndex(where: { $0.model == model }) { grouped[i].cases.append(item) } else { grouped.append((model, [item])) }
        }
        return grouped
    }

    /// FP16 from the ordinary model files (weights rounded at load) through the streaming
    /// engine: ≥ 50 dB against the FP32 engine on every case.
    func testFP16AgainstFP32OnEveryGoldenCase() throws {
        var worst = Double.infinity
        for group in try Self.goldenCases() {
            let model = try Self.cache.model(try SharedReference.url("models/" + group.model))
            for item in group.cases {
                var reference = [Float](repeating: 0, count: 3 * item.height * item.width), fp16 = reference
                try Engine(model: model, maxHeight: item.height, maxWidth: item.width).run(input: item.input, output: &reference,
                                                                                          height: item.height, width: item.width)
                let engine = try StreamingEngine(model: model, maxHeight: item.height, maxWidth: item.width, threads: 2, precision: .fp16)
                XCTAssertTrue(engine.layerPrecisions.allSatisfy { $0 == .fp16 })
                XCTAssertTrue(engine.kernelNames.allSatisfy { $0.hasPrefix("f16-") }, "\(engine.kernelNames)")
                try engine.run(input: item.input, output: &fp16, height: item.height, width: item.width)
                let measured = Self.psnr(fp16, reference)
                print(String(format: "fp16 %@: %.2f dB against FP32", item.name, measured))
                XCTAssertGreaterThanOrEqual(measured, 50, item.name)
                worst = min(worst, measured)
            }
        }
        print(String(format: "fp16: worst golden case %.2f dB against FP32", worst))
    }

    /// FP16 through `restore`'s whole path (a synthesized dark DNG, camera colour, 8-bit PNG):
    /// the PNG against the FP32 one.
    func testFP16RestoreMatchesFP32OnASynthesizedCapture() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let dir = try makeTemporaryDirectory(self)
        let raw = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 640, height: 480), exposure: .init()),
                                            named: "dark.dng", in: dir)
        var images: [RGBImage8] = []
        for precision in [Precision.fp32, .fp16] {
            let output = dir.appendingPathComponent("\(precision).png")
            let restorer = try Restorer(model: model, modelName: "official", options: RestoreOptions(), threads: 2, precision: precision)
            XCTAssertEqual(restorer.engine.precision, precision)
            _ = try restorer.restore(input: raw, output: output)
            images.append(try PNGReader.readRGB8(output))
        }
        let a = images[0].pixels.map { Float($0) / 255 }, b = images[1].pixels.map { Float($0) / 255 }
        let measured = Self.psnr(b, a)
        let differing = zip(images[0].pixels, images[1].pixels).filter { $0 != $1 }.count
        print(String(format: "fp16 restore: %.2f dB against FP32 (8-bit PNGs, %d of %d samples differ)", measured, differing, a.count))
        XCTAssertGreaterThanOrEqual(measured, 50)
        XCTAssertGreaterThan(a.reduce(0, +) / Float(a.count), 0.05, "a real image, not a black one")
    }

    /// Each network calibrated by the quantizer at its default target (42 dB) from its own
    /// golden inputs. (Calibrated from the golden RAW captures instead, with least-squared-error
    /// ranges tried on this branch, the 512x768 cases of both Sony networks measured 28 dB:
    /// inputs unlike the calibration set; see README "Calibrating for your camera".)
    static func calibrated(_ model: NightjarModel, _ cases: [(name: String, input: [Float], height: Int, width: Int)]) throws
        -> (NightjarModel, ModelQuantizer.Report) {
        calibratedLock.lock()
        defer { calibratedLock.unlock() }
        if let done = calibratedModels[model.provenance.checkpointSHA256] { return done }
        var options = ModelQuantizer.Options()
        options.threads = 2
        let quantizer = ModelQuantizer(options: options)
        let inputs = cases.map { ModelQuantizer.Input(name: $0.name, values: $0.input, height: $0.height, width: $0.width) }
        let done = try quantizer.quantize(model, inputs: inputs)
        calibratedModels[model.provenance.checkpointSHA256] = done
        return done
    }
    nonisolated(unsafe) private static var calibratedModels: [String: (NightjarModel, ModelQuantizer.Report)] = [:]
    private static let calibratedLock = NSLock()

    func testInt8AgainstFP32OnEveryGoldenCase() throws {
        var worst = Double.infinity
        for group in try Self.goldenCases() {
            let model = try Self.cache.model(try SharedReference.url("models/" + group.model))
            let (quantized, report) = try Self.calibrated(model, group.cases)
            let specs = model.architecture.convolutions
            let fp16Layers = zip(specs, report.layerPrecisions).filter { $1 != .int8 }.map(\.0.name)
            let int8Share = zip(specs, report.layerPrecisions).filter { $1 == .int8 }
                .reduce(0.0) { $0 + model.architecture.macsPerPixel(of: $1.0) } / model.architecture.macsPerPixel
            var squared = 0.0, count = 0
            for item in group.cases {
                var reference = [Float](repeating: 0, count: 3 * item.height * item.width), int8 = reference
                try Engine(model: model, maxHeight: item.height, maxWidth: item.width).run(input: item.input, output: &reference,
                                                                                          height: item.height, width: item.width)
                let engine = try StreamingEngine(model: quantized, maxHeight: item.height, maxWidth: item.width, threads: 2, precision: .int8)
                XCTAssertEqual(engine.layerPrecisions, report.layerPrecisions)
                try engine.run(input: item.input, output: &int8, height: item.height, width: item.width)
                let measured = Self.psnr(int8, reference)
                squared += zip(int8, reference).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                count += int8.count
                print(String(format: "int8 %@: %.2f dB against FP32 (the quantizer measured %.2f dB; int8 %.1f %% of the MACs; FP16: %@)",
                             item.name, measured, report.psnr, int8Share * 100, fp16Layers.joined(separator: " ")))
                XCTAssertGreaterThanOrEqual(measured, 38, item.name)
                worst = min(worst, measured)
            }
            // What the quantizer reports is what the int8 engine computes (it measures with it),
            // and it reached its target.
            XCTAssertEqual(report.psnr, Self.psnr([Float(squared / Double(count)).squareRoot()], [0]), accuracy: 0.01, group.model)
            XCTAssertGreaterThanOrEqual(report.psnr, 42, group.model)
            // int8 must carry work, not be calibrated away. Measured 2026-12-01: official 98.8 %
            // of the MACs (three 1/32-scale layers FP16), variants 100 %, MIT only 39.7 % (its
            // error sits in the 1/8- and 1/2-scale layers: conv2x and conv_2_8_32 stay FP16).
            XCTAssertGreaterThan(int8Share, 0.3, "\(group.model): FP16 \(fp16Layers)")
        }
        print(String(format: "int8: worst golden case %.2f dB against FP32", worst))
    }

    /// The network's output is clamped to [0, 1], so an int8 model's output encoding holds that
    /// whole range, whatever the calibration measured: the top measured on these inputs, 0.66,
    /// capped every brighter output (highlights came out grey: 217 of 255 in 8-bit PNGs with a
    /// model calibrated on the golden captures). On the largest case made 1.5 times brighter,
    /// FP32's brightest output is 0.88 and int8's comes within 0.1 of it.
    func testInt8OutputHoldsTheWholeClampedRange() throws {
        let group = try XCTUnwrap(try Self.goldenCases().first { $0.model == "official-sid-sony.pth" })
        let model = try Self.cache.model(try SharedReference.url("models/" + group.model))
        let (quantized, report) = try Self.calibrated(model, group.cases)
        let last = try XCTUnwrap(model.architecture.convolutions.firstIndex { $0.name == "conv_2_8_32" })
        XCTAssertEqual(report.layerPrecisions[last], .int8)
        XCTAssertEqual(quantized.quantization(model.architecture.convolutions[last])?.output, ActivationQuantization(low: 0, high: 1))
        let item = try XCTUnwrap(group.cases.max { $0.input.count < $1.input.count })
        let brighter = item.input.map { $0 * 1.5 }
        var reference = [Float](repeating: 0, count: 3 * item.height * item.width), int8 = reference
        try Engine(model: model, maxHeight: item.height, maxWidth: item.width).run(input: brighter, output: &reference,
                                                                                  height: item.height, width: item.width)
        try StreamingEngine(model: quantized, maxHeight: item.height, maxWidth: item.width, threads: 2, precision: .int8)
            .run(input: brighter, output: &int8, height: item.height, width: item.width)
        XCTAssertGreaterThan(reference.max()!, 0.85, "FP32 must go beyond the calibration's own top")
        XCTAssertGreaterThan(int8.max()!, reference.max()! - 0.1)
    }

    /// int8 through `restore`'s whole path (a synthesized dark DNG, camera colour, 8-bit PNG)
    /// as a user calibrates: the official network calibrated by `quantize`'s rules from two
    /// other captures of the same kind (other sizes, other noise), the PNG against FP32's.
    func testInt8RestoreMatchesFP32OnASynthesizedCapture() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let dir = try makeTemporaryDirectory(self)
        let calibration = dir.appendingPathComponent("calibration")
        try FileManager.default.createDirectory(at: calibration, withIntermediateDirectories: true)
        for (index, (width, height)) in [(512, 384), (768, 512)].enumerated() {
            _ = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height),
                                                                     exposure: .init(seed: UInt64(index + 1))),
                                          named: "calibration\(index).dng", in: calibration)
        }
        var options = ModelQuantizer.Options()
        options.threads = 2
        let quantizer = ModelQuantizer(options: options)
        let (quantized, report) = try quantizer.quantize(model, inputs: try quantizer.inputs([calibration.path]))
        let raw = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 640, height: 480), exposure: .init()),
                                            named: "dark.dng", in: dir)
        var images: [RGBImage8] = []
        for precision in [Precision.fp32, .int8] {
            let output = dir.appendingPathComponent("\(precision).png")
            let restorer = try Restorer(model: quantized, modelName: "official", options: RestoreOptions(), threads: 2, precision: precision)
            XCTAssertEqual(restorer.engine.precision, precision)
            _ = try restorer.restore(input: raw, output: output)
            images.append(try PNGReader.readRGB8(output))
        }
        let a = images[0].pixels.map { Float($0) / 255 }, b = images[1].pixels.map { Float($0) / 255 }
        let measured = Self.psnr(b, a)
        let specs = model.architecture.convolutions
        let int8Share = zip(specs, report.layerPrecisions).filter { $1 == .int8 }
            .reduce(0.0) { $0 + model.architecture.macsPerPixel(of: $1.0) } / model.architecture.macsPerPixel
        print(String(format: "int8 restore: %.2f dB against FP32 (8-bit PNGs; calibration measured %.2f dB; int8 %.1f %% of the MACs; FP16: %@)",
                     measured, report.psnr, int8Share * 100,
                     zip(specs, report.layerPrecisions).filter { $1 != .int8 }.map(\.0.name).joined(separator: " ")))
        XCTAssertGreaterThanOrEqual(measured, 38)
        // Measured 2026-12-01: 45.2 dB, but the synthetic scenes' error needs 8 of 27 layers
        // FP16 (int8 36.3 % of the MACs) to reach the 42 dB target. (Calibrated on the golden
        // tensors instead, this frame measured 29.4 dB: inputs unlike the calibration set.)
        XCTAssertGreaterThan(int8Share, 0.1)
        XCTAssertGreaterThan(a.reduce(0, +) / Float(a.count), 0.05, "a real image, not a black one")
    }
}
