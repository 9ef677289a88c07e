import FoundationEssentials
import Glibc

/// `nightjar quantize`: calibrates an int8 model from sample inputs with the FP32 engine.
///
/// 1. Inputs: RAW files (directories of them) through the capture pipeline with restore's
///    amplification rules (`PreparedCapture`), or float32 `.npy` mosaics; each is cut to its
///    central `maximumSide`² at most (activation statistics need a few million pixels, not
///    a whole frame held at every scale by the whole-frame engine).
/// 2. Ranges: the FP32 engine runs each input; every tensor's values are sampled (a fixed
///    stride, at most 65536 values per write) and its range is the 0.01st to 99.99th
///    percentile, widened to hold 0: a few outliers do not stretch the scale for everyone;
///    then multiplied by `headroom` (default 1) for frames whose activations run larger than
///    the calibration set's (they clip otherwise; coarser steps are the price). The network's
///    output is the exception: its range is [0, 1], the clamp's, whatever was measured.
///    (The range with the least squared error per tensor measured better layer by layer but
///    worse through the whole network, and far worse on inputs brighter than the calibration
///    set.) LeakyReLU copies and unshuffles keep their source's encoding; weights get a
///    symmetric scale per output channel.
/// 3. Mixed precision, from measured error: the streaming engine runs the candidate model with
///    the int8 kernels themselves and its output is compared with FP32's (mean squared error
///    over all inputs). While the PSNR is below the target, layers move to FP16 in the order
///    of their own measured share of the error (each layer int8 alone in an FP16 network) per
///    multiply-accumulate, as many as the shares say, then one at a time until the
///    measurement reaches the target; then each moved layer, the costliest first, goes back to
///    int8 where the measurement still reaches the target.
/// 4. Held-out check (`check`): the written model measured the same way on frames the
///    calibration did not see. Steps 2 and 3 see the calibration set only, and frames of other
///    scenes can fall far below the target (activations beyond the measured ranges clip).
///
/// Everything is deterministic (fixed sampling, sorted keys, results independent of the
/// thread count), so the same inputs give a byte-identical file.
public struct ModelQuantizer {
    public struct Options: Sendable {
        public var m: Double = 5
        public var amplification: Double?
        public var maximumSide = 1024
        /// The PSNR against FP32 the quantizer keeps, measured with the int8 engine (dB).
        public var targetPSNR: Double = 42
        /// Every activation range as measured, times this (in `headroomRange`).
        public var headroom: Double = 1
        public var threads = Engine.availableCores
        public init() {}
    }

    /// The headroom factors accepted: 1 keeps the measured ranges.
    public static let headroomRange: ClosedRange<Double> = 1...16

    /// One calibration mosaic: normalised, amplified, RGGB at (0, 0), sides multiples of 32.
    public struct Input: Sendable {
        public var name: String
        public var values: [Float]
        public var height: Int
        public var width: Int
        public init(name: String, values: [Float], height: Int, width: Int) {
            (self.name, self.values, self.height, self.width) = (name, values, height, width)
        }
    }

    public struct Report: Sendable {
        public var layerPrecisions: [Precision]
        /// Measured PSNR of the chosen plan against FP32 over the inputs, and of all-int8.
        public var psnr: Double
        public var allInt8PSNR: Double
        public var inputs: Int
    }

    public let options: Options
    public init(options: Options = Options()) { self.options = options }

    // MARK: - Inputs

    /// The calibration inputs named by `paths` (files and directories), in order.
    public func inputs(_ paths: [String]) throws -> [Input] {
        var files: [URL] = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            switch FileKind(atPath: path) {
            case .missing: throw CaptureError.invalidArgument("\(path): no such file or directory")
            case .directory:
                let found = try RestoreBatch.scan(url, recursive: false)
                guard !found.isEmpty else { throw CaptureError.invalidArgument("\(path): no RAW files in the directory") }
                files += found
            case .regularFile, .other:
                guard url.pathExtension.lowercased() == "npy" || RestoreBatch.isRawFile(url) else {
                    throw CaptureError.invalidArgument("\(path): neither a RAW file nor a float32 .npy mosaic")
                }
                files.append(url)
            }
        }
        return try files.map { url in
            if url.pathExtension.lowercased() == "npy" {
                let array = try NPYArray.read(contentsOf: url)
                guard array.shape.count == 2, array.dtype == .float32, array.shape.allSatisfy({ $0 >= 32 && $0 % 32 == 0 }) else {
                    throw CaptureError.invalidArgument(
                        "\(url.path): expected a float32 HxW mosaic with sides multiples of 32, found \(array.dtype.rawValue) \(array.shape)")
                }
                return crop(name: url.path, try array.floats(), height: array.shape[0], width: array.shape[1])
            }
            let frame = try RawDecoder().decode(url)
            let prepared = try PreparedCapture(frame: frame, m: options.m, amplification: options.amplification, path: url.path)
            return crop(name: url.path, prepared.input, height: prepared.paddedHeight, width: prepared.paddedWidth)
        }
    }

    /// The central `maximumSide`² of a mosaic, cut at multiples of 32 (the Bayer phase stays).
    func crop(name: String, _ values: [Float], height: Int, width: Int) -> Input {
        let side = max(32, options.maximumSide / 32 * 32)
        let (h, w) = (min(height, side), min(width, side))
        let (y0, x0) = ((height - h) / 2 / 32 * 32, (width - w) / 2 / 32 * 32)
        if (h, w) == (height, width) { return Input(name: name, values: values, height: h, width: w) }
        var out = [Float](repeating: 0, count: h * w)
        for y in 0..<h { for x in 0..<w { out[y * w + x] = values[(y0 + y) * width + x0 + x] } }
        return Input(name: name, values: out, height: h, width: w)
    }

    // MARK: - Calibration

    /// The calibrated model and what was measured.
    public func quantize(_ model: NightjarModel, inputs: [Input]) throws -> (NightjarModel, Report) {
        guard !inputs.isEmpty else { throw CaptureError.invalidArgument("no calibration inputs") }
        guard Self.headroomRange.contains(options.headroom) else {
            throw CaptureError.invalidArgument("the activation headroom must be in [1, 16] (1 keeps the measured ranges)")
        }
        let maxHeight = inputs.map(\.height).max()!, maxWidth = inputs.map(\.width).max()!
        let reference = try Engine(model: model, maxHeight: maxHeight, maxWidth: maxWidth, threads: options.threads)
        let graph = reference.graph
        let specs = graph.convolutions

        // Ranges: samples of every tensor, and the FP32 outputs to compare with.
        var samples: [String: [Float]] = [:]
        var references: [[Float]] = []
        for input in inputs {
            samples["input", default: []] += Self.sample(input.values)
            var output = [Float](repeating: 0, count: 3 * input.height * input.width)
            try reference.run(input: input.values, output: &output, height: input.height, width: input.width) { _, step, after, address in
                guard after else { return }
                let slice = step.output, (base, plane) = address(slice)
                for c in 0..<step.channelCounts(specs).output {
                    let channel = base + c * slice.channelStride * plane
                    samples[Self.key(slice.storage), default: []] += Self.sample(UnsafeBufferPointer(start: channel, count: plane))
                }
            }
            references.append(output)
        }
        var encodings: [String: ActivationQuantization] = [:]
        let headroom = Float(options.headroom)
        for key in samples.keys.sorted() {
            let sorted = samples[key]!.sorted()
            let low = sorted[Int(Double(sorted.count - 1) * 0.0001)], high = sorted[Int(Double(sorted.count - 1) * 0.9999)]
            encodings[key] = ActivationQuantization(low: low * headroom, high: high * headroom)
        }
        // The output is clamped to [0, 1] (REFERENCE.md §1): it gets that range, not a measured
        // one, so no output a frame can have is clipped (a top measured on darker frames capped
        // every brighter highlight) and the step is an 8-bit PNG's.
        encodings[Self.key(.output)] = ActivationQuantization(low: 0, high: 1)
        for case .leakyReLU(let input, let output, _) in graph.steps {
            encodings[Self.key(output.storage)] = encodings[Self.key(input.storage)]
        }
        // An unshuffle only moves values: its output holds the input's values and keeps its
        // encoding (sampled apart, it measured a slightly different range). So every int8 layer
        // reading the network's input reads one encoding, and the input is written as int8
        // directly (`NetworkGraph.inputPrecision`), not as FP32 quantised for each reader.
        for case .unshuffle(let input, _, _, let output) in graph.steps {
            encodings[Self.key(output.storage)] = encodings[Self.key(input.storage)]
        }

        var layers: [Int: LayerQuantization] = [:]
        for case .convolution(let layer, let input, let output, let residual, _, _, _) in graph.steps {
            let spec = specs[layer]
            layers[layer] = LayerQuantization(quantizing: model.weights(spec), outChannels: spec.outChannels,
                                              input: encodings[Self.key(input.storage)]!, output: encodings[Self.key(output.storage)]!,
                                              residual: residual.map { encodings[Self.key($0.storage)]! })
        }

        // Mixed precision from the error of the int8 engine itself, measured against FP32.
        // Layers whose numbers the kernels cannot represent stay FP16 from the start.
        var precisions = [Precision](repeating: .int8, count: specs.count)
        for layer in specs.indices where !(try representable(model, layer, layers)) { precisions[layer] = .fp16 }
        let allInt8 = try measuredMSE(model, precisions, layers, inputs, references)
        var mse = allInt8
        let targetMSE = pow(10, -options.targetPSNR / 10)
        if mse > targetMSE {
            // Each layer's own share of the error: the network in FP16 with that layer alone
            // int8, less the all-FP16 error. (Shares do not simply add up: errors grow through
            // the network, so the sum is only where the search starts.) Layers move to FP16 by that share per multiply-accumulate:
            // the 1/32-scale layers cost little in FP16, the 1/2-scale ones (most of the
            // network's work) are what int8 is for.
            let fp16 = [Precision](repeating: .fp16, count: specs.count)
            let base = try measuredMSE(model, fp16, layers, inputs, references)
            var share = [Double](repeating: 0, count: specs.count)
            for layer in specs.indices where precisions[layer] == .int8 {
                var alone = fp16
                alone[layer] = .int8
                share[layer] = max(0, try measuredMSE(model, alone, layers, inputs, references) - base)
            }
            let cost = specs.map { model.architecture.macsPerPixel(of: $0) }
            let order = specs.indices.filter { precisions[$0] == .int8 }
                .sorted { (share[$0] / cost[$0], $1) > (share[$1] / cost[$1], $0) }
            // First as many as the shares say, then one at a time until the measurement agrees.
            var estimate = base + order.reduce(0.0) { $0 + share[$1] }
            var moved = 0
            while moved < order.count, estimate > targetMSE {
                precisions[order[moved]] = .fp16
                estimate -= share[order[moved]]
                moved += 1
            }
            mse = try measuredMSE(model, precisions, layers, inputs, references)
            while mse > targetMSE, moved < order.count {
                precisions[order[moved]] = .fp16
                moved += 1
                mse = try measuredMSE(model, precisions, layers, inputs, references)
            }
            // The shares overshoot (errors do not add up), so each moved layer is tried in int8
            // again, the most multiply-accumulates first, and stays there while the measured
            // PSNR still holds the target.
            for layer in order.prefix(moved).sorted(by: { (cost[$0], $1) > (cost[$1], $0) }) where mse <= targetMSE {
                precisions[layer] = .int8
                let trial = try measuredMSE(model, precisions, layers, inputs, references)
                if trial <= targetMSE { mse = trial } else { precisions[layer] = .fp16 }
            }
        }
        let quantized = try model.quantized(layerPrecisions: precisions, layers: layers)
        return (quantized, Report(layerPrecisions: precisions, psnr: Self.psnr(mse), allInt8PSNR: Self.psnr(allInt8), inputs: inputs.count))
    }

    static func psnr(_ mse: Double) -> Double { mse > 0 ? 10 * log10(1 / mse) : 200 }

    /// Whether the int8 kernels can take `layer`'s numbers (`nj_qs8_conv2d_prepare` refuses
    /// requantisation ratios of 1/2 and more, and biases beyond its accumulator's range).
    func representable(_ model: NightjarModel, _ layer: Int, _ layers: [Int: LayerQuantization]) throws -> Bool {
        var precisions = [Precision](repeating: .fp32, count: model.architecture.convolutions.count)
        precisions[layer] = .int8
        do {
            _ = try PackedParameters(try model.quantized(layerPrecisions: precisions, layers: layers), precision: .int8)
            return true
        } catch ModelFileError.malformedTensor {
            return false
        }
    }

    /// Mean squared error against `references` over all inputs of the streaming engine running
    /// each layer at `precisions` with `layers`' int8 numbers: the int8 kernels themselves, so
    /// what the quantizer decides with is what a user's run will compute.
    func measuredMSE(_ model: NightjarModel, _ precisions: [Precision], _ layers: [Int: LayerQuantization],
                     _ inputs: [Input], _ references: [[Float]]) throws -> Double {
        let errors = try squaredErrors(try model.quantized(layerPrecisions: precisions, layers: layers), inputs, references)
        return errors.reduce(0) { $0 + $1.sum } / Double(max(errors.reduce(0) { $0 + $1.count }, 1))
    }

    /// Each input's summed squared error and value count: `quantized` in int8 against `references`.
    func squaredErrors(_ quantized: NightjarModel, _ inputs: [Input], _ references: [[Float]]) throws -> [(sum: Double, count: Int)] {
        let engine = try StreamingEngine(model: quantized, maxHeight: inputs.map(\.height).max()!, maxWidth: inputs.map(\.width).max()!,
                                         threads: options.threads, precision: .int8)
        return try zip(inputs, references).map { input, reference in
            var output = [Float](repeating: 0, count: reference.count)
            try engine.run(input: input.values, output: &output, height: input.height, width: input.width)
            var squared = 0.0
            for i in output.indices {
                let d = Double(output[i]) - Double(reference[i])
                squared += d * d
            }
            return (squared, output.count)
        }
    }

    // MARK: - Held-out check

    /// The PSNR against FP32 (dB) of `quantized`'s int8 engine on each of `inputs`: frames the
    /// calibration did not see, which say whether its ranges and layer choices carry over
    /// (they are measured on the calibration set only; frames unlike it can fall far below
    /// `targetPSNR`).
    public func check(_ quantized: NightjarModel, inputs: [Input]) throws -> [Double] {
        guard !inputs.isEmpty else { return [] }
        let reference = try Engine(model: quantized, maxHeight: inputs.map(\.height).max()!, maxWidth: inputs.map(\.width).max()!,
                                   threads: options.threads)
        let references = try inputs.map { input in
            var output = [Float](repeating: 0, count: 3 * input.height * input.width)
            try reference.run(input: input.values, output: &output, height: input.height, width: input.width)
            return output
        }
        return try squaredErrors(quantized, inputs, references).map { Self.psnr($0.sum / Double(max($0.count, 1))) }
    }

    /// The share of each input's values above what `quantized`'s int8 layers reading the input
    /// hold (`FrameNetwork.int8InputLimit`; 0 when none reads it in int8): inputs brighter than
    /// the calibration set, which `restore` reports as `int8InputClipped`.
    public func inputClipped(_ quantized: NightjarModel, inputs: [Input]) throws -> [Double] {
        let precisions = try quantized.layerPrecisions(for: .int8)
        let quantizations = zip(quantized.architecture.convolutions, precisions).map { $1 == .int8 ? quantized.quantization($0) : nil }
        guard let limit = NetworkGraph(architecture: quantized.architecture, layerPrecisions: precisions).int8InputLimit(quantizations) else {
            return inputs.map { _ in 0 }
        }
        return inputs.map { input in Double(input.values.filter { $0 > limit }.count) / Double(max(input.values.count, 1)) }
    }

    static func key(_ storage: NetworkGraph.Storage) -> String {
        switch storage {
        case .input: return "input"
        case .output: return "output"
        case .arena(let id): return "arena\(id)"
        }
    }

    /// At most 65536 values of `values`, at a fixed stride.
    static func sample<C: RandomAccessCollection>(_ values: C) -> [Float] where C.Element == Float, C.Index == Int {
        let stride = max(1, values.count / 65536)
        return Swift.stride(from: values.startIndex, to: values.endIndex, by: stride).map { values[$0] }
    }
}
