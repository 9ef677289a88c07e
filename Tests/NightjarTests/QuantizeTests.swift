import Foundation
@testable import Nightjar
import XCTest

/// `nightjar quantize`: calibration from .npy mosaics and RAW captures, byte-identical output,
/// the precisions recorded, and the one-line errors that name the fix.
final class QuantizeTests: XCTestCase {
    /// A deterministic dark-looking mosaic (sides multiples of 32).
    static func mosaic(height: Int, width: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<(height * width)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 0.5
        }
    }

    func testQuantizeIsByteIdenticalAndRecordsEveryLayersPrecision() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("m.safetensors")
        try ModelFileTests.syntheticModel().write(to: model)
        let a = dir.appendingPathComponent("a.npy"), b = dir.appendingPathComponent("b.npy")
        try NPYArray(shape: [64, 96], floats: Self.mosaic(height: 64, width: 96, seed: 1)).write(to: a)
        try NPYArray(shape: [96, 64], floats: Self.mosaic(height: 96, width: 64, seed: 2)).write(to: b)
        let first = dir.appendingPathComponent("q1.safetensors"), second = dir.appendingPathComponent("q2.safetensors")
        for target in [first, second] {
            let run = try runNightjar(["quantize", model.path, "--calibrate", a.path, b.path, "-o", target.path, "--threads", "2",
                                       "--target-psnr", "20"])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("int8 calibrated on 2 inputs; measured PSNR against FP32"), run.stdout)
        }
        XCTAssertEqual(try Data(contentsOf: first), try Data(contentsOf: second), "the same inputs give the same bytes")
        // One thread gives the same file too (results do not depend on the split).
        let third = dir.appendingPathComponent("q3.safetensors")
        XCTAssertEqual(try runNightjar(["quantize", model.path, "--calibrate", a.path, b.path, "-o", third.path, "--threads", "1",
                                                   "--target-psnr", "20"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: first), try Data(contentsOf: third))

        let quantized = try NightjarModel.load(contentsOf: first)
        XCTAssertEqual(quantized.precisions, [.fp32, .int8])
        XCTAssertEqual(quantized.defaultPrecision, .int8)
        let layers = try XCTUnwrap(quantized.layerPrecisions)
        XCTAssertEqual(layers.count, quantized.architecture.convolutions.count)
        XCTAssertTrue(layers.allSatisfy { $0 == .int8 || $0 == .fp16 }, "\(layers)")
        for (spec, precision) in zip(quantized.architecture.convolutions, layers) where precision == .int8 {
            let q = try XCTUnwrap(quantized.quantization(spec), spec.name)
            XCTAssertEqual(q.weightScales.count, spec.outChannels)
            XCTAssertLessThanOrEqual(q.input.scale * 255, 1e3)
        }
        // The unshuffled input keeps the input's encoding: the int8 layers reading the input
        // (conv2x, conv32x.0, resblock8x's input and residual) read one, so it is written as int8.
        let specs = quantized.architecture.convolutions
        let readers = NetworkGraph(architecture: quantized.architecture).inputReads.compactMap { read in
            quantized.quantization(specs[read.layer]).flatMap { read.residual ? $0.residual : $0.input }
        }
        XCTAssertGreaterThan(readers.count, 1)
        XCTAssertTrue(readers.allSatisfy { $0 == readers[0] }, "\(readers)")
        // The FP32 weights are kept, unchanged.
        let original = try ModelFileTests.syntheticModel()
        for spec in original.architecture.convolutions { XCTAssertEqual(quantized.weights(spec), original.weights(spec)) }

        // An existing output is kept.
        let again = try runNightjar(["quantize", model.path, "--calibrate", a.path, "-o", first.path])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("pass --overwrite"), again.stderr)
    }

    /// The measured error decides the layers: a higher target keeps more of them in FP16, and
    /// the measured PSNR of the plan reaches the target.
    func testMixedPrecisionFollowsTheMeasuredError() throws {
        let model = try ModelFileTests.syntheticModel()
        let inputs = [ModelQuantizer.Input(name: "a", values: Self.mosaic(height: 64, width: 64, seed: 3), height: 64, width: 64)]
        var options = ModelQuantizer.Options()
        options.threads = 2
        options.targetPSNR = 1
        let (_, loose) = try ModelQuantizer(options: options).quantize(model, inputs: inputs)
        XCTAssertEqual(loose.layerPrecisions.filter { $0 == .fp16 }.count, 0, "a 1 dB target keeps every layer int8")
        XCTAssertEqual(loose.psnr, loose.allInt8PSNR)
        options.targetPSNR = loose.allInt8PSNR + 3
        let (_, strict) = try ModelQuantizer(options: options).quantize(model, inputs: inputs)
        XCTAssertGreaterThan(strict.layerPrecisions.filter { $0 == .fp16 }.count, 0)
        XCTAssertGreaterThanOrEqual(strict.psnr, options.targetPSNR)
        print("synthetic model: all int8 \(loose.allInt8PSNR) dB; \(strict.layerPrecisions.filter { $0 == .fp16 }.count) layers FP16 give \(strict.psnr) dB")
    }

    /// `--headroom K` multiplies every measured activation range by K: each int8 layer's input,
    /// output and residual steps are K times as coarse with the same zero points (the ranges
    /// hold 0, so scaling both ends keeps the zero's level); the weights do not change. The
    /// network's output is not measured: it keeps the clamp's [0, 1] either way. Out of range is
    /// a usage error.
    func testHeadroomWidensEveryActivationRange() throws {
        let model = try ModelFileTests.syntheticModel()
        let inputs = [ModelQuantizer.Input(name: "a", values: Self.mosaic(height: 64, width: 64, seed: 5), height: 64, width: 64)]
        var options = ModelQuantizer.Options()
        options.threads = 2
        options.targetPSNR = 1 // every layer int8 whatever the ranges
        let (measured, _) = try ModelQuantizer(options: options).quantize(model, inputs: inputs)
        options.headroom = 2.5
        let (wider, _) = try ModelQuantizer(options: options).quantize(model, inputs: inputs)
        var compared = 0
        let clamped = ActivationQuantization(low: 0, high: 1)
        for spec in model.architecture.convolutions {
            let a = try XCTUnwrap(measured.quantization(spec), spec.name), b = try XCTUnwrap(wider.quantization(spec), spec.name)
            XCTAssertEqual(a.weightScales, b.weightScales, spec.name)
            if spec.name == "conv_2_8_32" {
                // The network's output.
                XCTAssertEqual(a.output, clamped)
                XCTAssertEqual(b.output, clamped)
            }
            let outputs = spec.name == "conv_2_8_32" ? [] : [(a.output, b.output)]
            for (x, y) in [(a.input, b.input)] + outputs + zip([a.residual].compactMap { $0 }, [b.residual].compactMap { $0 }) {
                XCTAssertEqual(Double(y.scale / x.scale), 2.5, accuracy: 1e-5, spec.name)
                XCTAssertEqual(y.zeroPoint, x.zeroPoint, spec.name)
                compared += 1
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 2 * model.architecture.convolutions.count - 1)

        options.headroom = 0.5
        XCTAssertThrowsError(try ModelQuantizer(options: options).quantize(model, inputs: inputs))
        let dir = try makeTemporaryDirectory(self)
        let file = dir.appendingPathComponent("m.safetensors"), input = dir.appendingPathComponent("a.npy")
        try model.write(to: file)
        try NPYArray(shape: [64, 64], floats: inputs[0].values).write(to: input)
        for value in ["0.9", "17", "nan"] {
            let run = try runNightjar(["quantize", file.path, "--calibrate", input.path, "-o", dir.appendingPathComponent("q.safetensors").path,
                                       "--headroom", value])
            XCTAssertEqual(run.status, 64, run.stderr)
            XCTAssertTrue(run.stderr.contains("--headroom must be in [1, 16]"), run.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("q.safetensors").path))
    }

    func testRawCapturesAndDirectoriesCalibrate() throws {
        let dir = try makeTemporaryDirectory(self)
        let captures = dir.appendingPathComponent("captures")
        try FileManager.default.createDirectory(at: captures, withIntermediateDirectories: true)
        _ = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 96, height: 64), exposure: .init()),
                                      named: "dark.dng", in: captures)
        let model = dir.appendingPathComponent("m.safetensors")
        try ModelFileTests.syntheticModel().write(to: model)
        let output = dir.appendingPathComponent("q.safetensors")
        let run = try runNightjar(["quantize", model.path, "--calibrate", captures.path, "-o", output.path, "--target-psnr", "20"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try NightjarModel.load(contentsOf: output).defaultPrecision, .int8)

        // Bad calibration paths are one line each.
        let text = dir.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: text)
        for (path, mention) in [(text.path, "neither a RAW file nor a float32 .npy mosaic"), (dir.appendingPathComponent("none").path, "no such file")] {
            let bad = try runNightjar(["quantize", model.path, "--calibrate", path, "-o", dir.appendingPathComponent("x.safetensors").path])
            XCTAssertEqual(bad.status, 1, bad.stderr)
            XCTAssertTrue(bad.stderr.hasPrefix("nightjar: error: ") && bad.stderr.contains(mention), bad.stderr)
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        }
        let usage = try runNightjar(["quantize", model.path, "-o", output.path])
        XCTAssertEqual(usage.status, 64, usage.stderr)
    }

    /// `--check`: held-out frames measured with the written model, not used for calibration.
    /// A calibration frame checked alone gives the calibration's own figure; a held-out frame
    /// gives what `run-tensor` in int8 and in FP32 give (computed here); a figure below the
    /// target is a warning, not a failure; a bad held-out path fails before anything is written.
    func testHeldOutCheckMeasuresTheWrittenModel() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("m.safetensors")
        try ModelFileTests.syntheticModel().write(to: model)
        let a = dir.appendingPathComponent("a.npy"), b = dir.appendingPathComponent("b.npy")
        try NPYArray(shape: [64, 64], floats: Self.mosaic(height: 64, width: 64, seed: 7)).write(to: a)
        // Brighter than the calibration frame, as frames of other scenes are: its activations clip.
        try NPYArray(shape: [64, 96], floats: Self.mosaic(height: 64, width: 96, seed: 8).map { $0 * 3 }).write(to: b)

        var options = ModelQuantizer.Options()
        options.threads = 2
        options.targetPSNR = 1
        let quantizer = ModelQuantizer(options: options)
        let (quantized, report) = try quantizer.quantize(try NightjarModel.load(contentsOf: model), inputs: try quantizer.inputs([a.path]))
        let checked = try quantizer.check(quantized, inputs: try quantizer.inputs([a.path, b.path]))
        XCTAssertEqual(checked.count, 2)
        XCTAssertEqual(checked[0], report.psnr, accuracy: 1e-9, "the calibration frame alone is the calibration's measurement")

        // The held-out figure from the files run-tensor writes.
        let file = dir.appendingPathComponent("q.safetensors")
        try quantized.write(to: file)
        var outputs: [[Float]] = []
        for precision in ["fp32", "int8"] {
            let out = dir.appendingPathComponent("b-\(precision).npy")
            let run = try runNightjar(["run-tensor", file.path, b.path, out.path, "--precision", precision])
            XCTAssertEqual(run.status, 0, run.stderr)
            outputs.append(try NPYArray.read(contentsOf: out).floats())
        }
        let mse = zip(outputs[0], outputs[1]).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(outputs[0].count)
        XCTAssertEqual(checked[1], 10 * log10(1 / mse), accuracy: 1e-6)
        XCTAssertLessThan(checked[1], checked[0], "the brighter held-out frame loses more")

        // How much of each input lies above the int8 input range: the calibration frame's own
        // percentiles leave it below restore's warning; the brighter frame, counted here.
        let clipped = try quantizer.inputClipped(quantized, inputs: try quantizer.inputs([a.path, b.path]))
        let limit = try XCTUnwrap(try StreamingEngine(model: quantized, maxHeight: 64, maxWidth: 64, threads: 1, precision: .int8).int8InputLimit)
        let brighter = try NPYArray.read(contentsOf: b).floats()
        XCTAssertLessThan(clipped[0], Int8InputClipping.significantShare)
        XCTAssertEqual(clipped[1], Double(brighter.filter { $0 > limit }.count) / Double(brighter.count))
        XCTAssertGreaterThan(clipped[1], 0.01)

        // The command: the figures on standard output; below the target, a warning and success.
        let target = dir.appendingPathComponent("cli.safetensors")
        let loose = try runNightjar(["quantize", model.path, "--calibrate", a.path, "--check", b.path, "-o", target.path,
                                     "--threads", "2", "--target-psnr", "1"])
        XCTAssertEqual(loose.status, 0, loose.stderr)
        XCTAssertTrue(loose.stdout.contains("held-out check, int8 against FP32 (frames not used for calibration): \(b.path) "
                                            + String(format: "%.1f dB (%.2f %% of its input above the calibrated range)",
                                                     checked[1], 100 * clipped[1])), loose.stdout)
        XCTAssertFalse(loose.stderr.contains("warning"), loose.stderr)
        XCTAssertEqual(try Data(contentsOf: target), try Data(contentsOf: file), "--check does not change the file")
        let strict = try runNightjar(["quantize", model.path, "--calibrate", a.path, "--check", b.path, "-o", target.path,
                                      "--overwrite", "--threads", "2", "--target-psnr", "100"])
        XCTAssertEqual(strict.status, 0, strict.stderr)
        XCTAssertTrue(strict.stderr.hasPrefix("nightjar: warning: 1 of 1 held-out frame below --target-psnr 100.0 dB"), strict.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: target.path))

        let missing = dir.appendingPathComponent("none.npy"), unwritten = dir.appendingPathComponent("never.safetensors")
        let bad = try runNightjar(["quantize", model.path, "--calibrate", a.path, "--check", missing.path, "-o", unwritten.path])
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("no such file"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: unwritten.path))
    }

    /// int8 asked of a model without calibration: one line naming `nightjar quantize`.
    func testInt8WithoutCalibrationNamesTheFix() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("m.safetensors")
        try ModelFileTests.syntheticModel().write(to: model)
        let input = dir.appendingPathComponent("in.npy")
        try NPYArray(shape: [64, 64], floats: Self.mosaic(height: 64, width: 64, seed: 4)).write(to: input)
        let run = try runNightjar(["run-tensor", model.path, input.path, dir.appendingPathComponent("out.npy").path, "--precision", "int8"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("carries no int8 calibration; run `nightjar quantize"), run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.npy").path))
    }
}
