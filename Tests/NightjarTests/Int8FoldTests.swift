import NightjarKernels
import XCTest

@testable import Nightjar

/// int8's conv2x folded into conv_2_8_32 (`Int8ConvolutionFold`, the qs8 kernels' folded
/// input): the composed weights against the two convolutions computed one after the other, at
/// every border class; and the engine running the fold against the one running two layers.
final class Int8FoldTests: XCTestCase {
    private static let cache = ModelCache()

    /// Random float weights and int8 numbers for a pair like conv2x → conv_2_8_32 (smaller: a
    /// 3x3 of 2 channels into a 3x3 over 3 + 2), an image of 7 x 6, and the second layer's own
    /// channels zero: what remains is the folded part, which must equal the first convolution
    /// (zero-padded) through the second's taps, to the composed weights' rounding.
    func testComposedWeightsMatchTheTwoConvolutionsAtEveryBorderClass() throws {
        var random = SystemRandomNumberGenerator()
        let first = ConvolutionSpec(name: "a", outChannels: 3, inChannels: 2, kernel: 3, groups: 1, bias: true)
        let second = ConvolutionSpec(name: "b", outChannels: 2, inChannels: 5, kernel: 3, groups: 1, bias: true)
        let w1 = (0..<(3 * 2 * 9)).map { _ in Float.random(in: -0.5...0.5, using: &random) }
        let b1 = (0..<3).map { _ in Float.random(in: -0.2...0.2, using: &random) }
        let w2 = (0..<(2 * 5 * 9)).map { _ in Float.random(in: -0.5...0.5, using: &random) }
        let b2 = (0..<2).map { _ in Float.random(in: -0.2...0.2, using: &random) }
        let inputEncoding = ActivationQuantization(scale: 0.004, zeroPoint: -128)
        let catEncoding = ActivationQuantization(scale: 0.016, zeroPoint: -70)
        let outEncoding = ActivationQuantization(scale: 0.004, zeroPoint: -128)
        let q1 = LayerQuantization(quantizing: w1, outChannels: 3, input: inputEncoding, output: catEncoding, residual: nil)
        let q2 = LayerQuantization(quantizing: w2, outChannels: 2, input: catEncoding, output: outEncoding, residual: nil)
        let fold = try XCTUnwrap(Int8ConvolutionFold(first: first, firstWeights: w1, firstBias: b1, firstQuantization: q1,
                                                     second: second, secondWeights: w2, secondBias: b2, secondQuantization: q2))
        XCTAssertEqual(fold.foldKernel, 5)
        XCTAssertEqual(fold.classes, 9)
        // The main weights: the second layer's int8 weights of its last two input channels.
        var main: [Int8] = []
        for o in 0..<2 { main += q2.weights[((o * 5 + 3) * 9)..<((o * 5 + 5) * 9)] }
        XCTAssertEqual(fold.mainWeights, main)
        for o in 0..<2 {
            // Each scale 2^-shift of the second layer's accumulator scale, shift in 0...7.
            let mainScale = Double(q2.input.scale) * Double(q2.weightScales[o])
            let foldScale = Double(q1.input.scale) * Double(fold.foldWeightScales[o])
            let ratio: Double = mainScale / foldScale
            let shift = log2(ratio)
            XCTAssertEqual(shift, shift.rounded(), accuracy: 1e-5)
            XCTAssert((0...7).contains(Int(shift.rounded())))
        }

        let height = 7, width = 6
        let x = (0..<(2 * height * width)).map { _ in Double.random(in: -1...1, using: &random) }
        // The first convolution with its bias, zero outside the image; the second's taps over it.
        func intermediate(_ m: Int, _ y: Int, _ xx: Int) -> Double {
            guard y >= 0, y < height, xx >= 0, xx < width else { return 0 }
            var sum = Double(b1[m])
            for i in 0..<2 {
                for ky in 0..<3 {
                    for kx in 0..<3 {
                        let iy = y + ky - 1, ix = xx + kx - 1
                        guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                        let w = Double(w1[((m * 2 + i) * 3 + ky) * 3 + kx])
                        sum += w * x[(i * height + iy) * width + ix]
                    }
                }
            }
            return sum
        }
        var worst = 0.0
        for o in 0..<2 {
            for y in 0..<height {
                for xx in 0..<width {
                    var reference = Double(b2[o])
                    for m in 0..<3 {
                        for ty in 0..<3 {
                            for tx in 0..<3 {
                                reference += Double(w2[((o * 5 + m) * 3 + ty) * 3 + tx]) * intermediate(m, y + ty - 1, xx + tx - 1)
                            }
                        }
                    }
                    // The fold: the pixel's border class, its composed weights and bias.
                    let c = Int(nj_qs8_border_class(Int32(y), Int32(height), 1) * 3 + nj_qs8_border_class(Int32(xx), Int32(width), 1))
                    var folded = Double(fold.bias[c * 2 + o]), bound = 1e-5
                    let scale = Double(fold.foldWeightScales[o])
                    for i in 0..<2 {
                        for ky in 0..<5 {
                            for kx in 0..<5 {
                                let iy = y + ky - 2, ix = xx + kx - 2
                                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                let v = x[(i * height + iy) * width + ix]
                                folded += Double(fold.foldWeights[(((c * 2 + o) * 2 + i) * 5 + ky) * 5 + kx]) * scale * v
                                bound += 0.5 * scale * abs(v)
                            }
                        }
                    }
                    XCTAssertEqual(folded, reference, accuracy: bound, "output \(o) at (\(y), \(xx)), class \(c)")
                    worst = max(worst, abs(folded - reference) / bound)
                }
            }
        }
        print(String(format: "fold: worst error %.2f of the composed weights' rounding bound", worst))
    }

    /// The official network calibrated on its golden tensors: the int8 engine folds conv2x into
    /// conv_2_8_32 (no conv2x step; the fold kernel) and comes at least as close to FP32 as the
    /// two int8 layers do (measured 2026-12-07: 43.0 against 42.6 dB on the 512x768 case).
    func testEngineFoldsConv2xAndComesAsCloseToFP32() throws {
        let groups = try ReducedPrecisionTests.goldenCases()
        let group = try XCTUnwrap(groups.first { $0.model == "official-sid-sony.pth" })
        let model = try Self.cache.model(try SharedReference.url("models/" + group.model))
        let (quantized, _) = try ReducedPrecisionTests.calibrated(model, group.cases)
        let item = try XCTUnwrap(group.cases.max { $0.height * $0.width < $1.height * $1.width })
        var reference = [Float](repeating: 0, count: 3 * item.height * item.width)
        try Engine(model: model, maxHeight: item.height, maxWidth: item.width).run(input: item.input, output: &reference,
                                                                                  height: item.height, width: item.width)
        var measured: [Bool: Double] = [:]
        for folds in [true, false] {
            let parameters = try PackedParameters(quantized, precision: .int8, foldConv2x: folds)
            XCTAssertEqual(parameters.conv2xFold != nil, folds)
            let engine = try StreamingEngine(parameters: parameters, architecture: quantized.architecture, maxHeight: item.height,
                                             maxWidth: item.width, bands: .standard(for: .int8), threads: 2)
            let conv2x = try XCTUnwrap(quantized.architecture.convolutions.firstIndex { $0.name == "conv2x" })
            let steps = (0..<engine.schedule.nodeCount).compactMap { engine.schedule.step($0) }
            let conv2xRuns = steps.contains { if case .convolution(let layer, _, _, _, _, _, _) = $0 { return layer == conv2x } else { return false } }
            XCTAssertEqual(conv2xRuns, !folds)
            if folds { XCTAssert(engine.kernelNames[conv2x].contains("fold9x9") || engine.kernelNames[conv2x] == "qs8-conv2d-scalar") }
            var output = [Float](repeating: 0, count: reference.count)
            try engine.run(input: item.input, output: &output, height: item.height, width: item.width)
            measured[folds] = ReducedPrecisionTests.psnr(output, reference)
        }
        print(String(format: "int8 %@: folded %.2f dB, two layers %.2f dB against FP32", item.name, measured[true]!, measured[false]!))
        XCTAssertGreaterThanOrEqual(measured[true]!, 38)
        XCTAssertGreaterThanOrEqual(measured[true]!, measured[false]! - 0.1)
    }
}
