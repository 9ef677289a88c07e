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
///    percentile, widened to hold 0: a few outliers do not stretch the scale for everyone.
///    LeakyReLU copies keep their source's encoding; weights get a scale per output channel.
/// 3. Mixed precision, from measured error: the network is run with every int8 layer's
///    weights, inputs and outputs rounded as int8 stores them (FP16 layers' as binary16), and
///    the output compared with FP32's (PSNR over all inputs). While it is below the target,
///    the int8 layer with the largest estimated noise (weight rounding plus activation
///    quantisation noise relative to the signal) moves to FP16, and the run is repeated.
///
/// Everything is deterministic (fixed sampling, sorted keys, results independent of the
/// thread count), so the same inputs give a byte-identical file.
public struct ModelQuantizer {
    public struct Options: Sendable {
        public var m: Double = 5
        public var amplification: Double?
        public var maximumSide = 1024
        /// The emulated PSNR against FP32 the quantizer keeps (dB).
        public var targetPSNR: Double = 42
        public var threads = Engine.availableCores
        public init() {}
    }

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
        /// Emulated PSNR of the chosen plan against FP32 over the inputs, and of all-int8.
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
        var meanSquares: [String: Double] = [:]
        for key in samples.keys.sorted() {
            let sorted = samples[key]!.sorted()
            let low = sorted[Int(Double(sorted.count - 1) * 0.0001)], high = sorted[Int(Double(sorted.count - 1) * 0.9999)]
            encodings[key] = ActivationQuantization(low: low, high: high)
            meanSquares[key] = sorted.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(sorted.count, 1))
        }
        for case .leakyReLU(let input, let output, _) in graph.steps {
            encodings[Self.key(output.storage)] = encodings[Self.key(input.storage)]
        }

        // Each layer's numbers, and an estimate of its noise relative to its signal.
        var layers: [Int: LayerQuantization] = [:]
        var noise = [Double](repeating: 0, count: specs.count)
        for case .convolution(let layer, let input, let output, let residual, _, _) in graph.steps {
            let spec = specs[layer]
            let (inKey, outKey) = (Self.key(input.storage), Self.key(output.storage))
            let q = LayerQuantization(quantizing: model.weights(spec), outChannels: spec.outChannels, input: encodings[inKey]!,
                                      output: encodings[outKey]!, residual: residual.map { encodings[Self.key($0.storage)]! })
            layers[layer] = q
            let weights = model.weights(spec), perChannel = spec.weightCount / spec.outChannels
            var error = 0.0, energy = 0.0
            for i in weights.indices {
                let w = Double(q.weights[i]) * Double(q.weightScales[i / perChannel])
                error += (w - Double(weights[i])) * (w - Double(weights[i]))
                energy += Double(weights[i]) * Double(weights[i])
            }
            func activation(_ key: String) -> Double {
                let s = Double(encodings[key]!.scale)
                return s * s / 12 / max(meanSquares[key]!, 1e-12)
            }
            noise[layer] = error / max(energy, 1e-30) + activation(inKey) + activation(outKey)
        }

        // Mixed precision from the emulated error. Layers move to FP16 by estimated noise per
        // multiply-accumulate: the 1/32-scale layers cost little in FP16, the 1/2-scale ones
        // (most of the network's work) are what int8 is for.
        var precisions = [Precision](repeating: .int8, count: specs.count)
        let allInt8 = try emulatedPSNR(model, precisions, layers, inputs, references)
        var psnr = allInt8
        let cost = specs.map { model.architecture.macsPerPixel(of: $0) }
        let order = specs.indices.sorted { (noise[$0] / cost[$0], $0) > (noise[$1] / cost[$1], $1) }
        var moved = 0
        while psnr < options.targetPSNR, moved < order.count {
            // One layer at a time at first, then a few (the emulation is a whole network run).
            let step = moved < 8 ? 1 : moved < 16 ? 2 : 4
            for layer in order[moved..<min(order.count, moved + step)] { precisions[layer] = .fp16 }
            moved = min(order.count, moved + step)
            psnr = try emulatedPSNR(model, precisions, layers, inputs, references)
        }
        let quantized = try model.quantized(layerPrecisions: precisions, layers: layers)
        return (quantized, Report(layerPrecisions: precisions, psnr: psnr, allInt8PSNR: allInt8, inputs: inputs.count))
    }

    /// PSNR against `references` of the network with each layer's weights, inputs, residual
    /// and outputs rounded as its precision stores them.
    func emulatedPSNR(_ model: NightjarModel, _ precisions: [Precision], _ layers: [Int: LayerQuantization],
                      _ inputs: [Input], _ references: [[Float]]) throws -> Double {
        var emulated = model
        let specs = model.architecture.convolutions
        for (index, spec) in specs.enumerated() {
            switch precisions[index] {
            case .fp32: break
            case .fp16: emulated.tensors[spec.weightName]!.values = model.weights(spec).map { Float(Float16($0)) }
            case .int8:
                let q = layers[index]!, perChannel = spec.weightCount / spec.outChannels
                emulated.tensors[spec.weightName]!.values = q.weights.indices.map { Float(q.weights[$0]) * q.weightScales[$0 / perChannel] }
            }
        }
        let engine = try Engine(model: emulated, maxHeight: inputs.map(\.height).max()!, maxWidth: inputs.map(\.width).max()!,
                                threads: options.threads)
        var squared = 0.0, count = 0
        for (input, reference) in zip(inputs, references) {
            var output = [Float](repeating: 0, count: reference.count)
            try engine.run(input: input.values, output: &output, height: input.height, width: input.width) { _, step, after, address in
                guard case .convolution(let layer, let input, let output, let residual, _, _) = step, precisions[layer] != .fp32 else { return }
                let spec = specs[layer], q = layers[layer]!
                func round(_ slice: NetworkGraph.Slice, _ channels: Int, _ encoding: ActivationQuantization) {
                    let (base, plane) = address(slice)
                    for c in 0..<channels {
                        Self.round(base + c * slice.channelStride * plane, count: plane, precisions[layer], encoding)
                    }
                }
                if after {
                    let r = step.rowGranularity
                    round(output, spec.outChannels / (r * r), q.output)
                } else {
                    round(input, spec.inChannels, q.input)
                    if let residual, let encoding = q.residual { round(residual, spec.outChannels, encoding) }
                }
            }
            for i in output.indices {
                let d = Double(output[i]) - Double(reference[i])
                squared += d * d
            }
            count += output.count
        }
        let mse = squared / Double(max(count, 1))
        return mse > 0 ? 10 * log10(1 / mse) : 200
    }

    /// Rounds `count` values in place to what `precision` stores.
    static func round(_ values: UnsafeMutablePointer<Float>, count: Int, _ precision: Precision, _ encoding: ActivationQuantization) {
        switch precision {
        case .fp32: break
        case .fp16: for i in 0..<count { values[i] = Float(Float16(values[i])) }
        case .int8:
            let type = ElementType(precision: .int8, quantization: encoding)
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 1024) { levels in
                var done = 0
                while done < count {
                    let n = min(1024, count - done)
                    ElementRows.store(values + done, to: UnsafeMutableRawPointer(levels.baseAddress!), type, count: n)
                    ElementRows.load(UnsafeRawPointer(levels.baseAddress!), type, into: values + done, count: n)
                    done += n
                }
            }
        }
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
