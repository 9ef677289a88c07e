/// An activation tensor's int8 encoding: real = scale · (q − zeroPoint), q in [−128, 127].
public struct ActivationQuantization: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int32

    public init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The largest value the encoding holds (code 127); larger values saturate to it.
    public var high: Float { Float(127 - zeroPoint) * scale }

    /// The encoding of the range [low, high] (widened to hold 0, so zero padding is exact):
    /// 256 levels over it, the zero point the level nearest to 0.
    public init(low: Float, high: Float) {
        let low = min(low, 0), high = max(high, 0)
        let scale = max(high - low, 1e-8) / 255
        let zero = (-128 - Double(low) / Double(scale)).rounded(.toNearestOrEven)
        self.init(scale: scale, zeroPoint: Int32(max(-128, min(127, zero))))
    }
}

/// One int8 layer's numbers as a quantised model file stores them, beside the layer's FP32
/// weights (`NAME.weight`):
/// - `NAME.weight_q` (I8, the weight's shape): symmetric per output channel, real = scale[oc] · q;
/// - `NAME.weight_scale` (F32, [out channels]);
/// - `NAME.activation_scale` (F32) and `NAME.activation_zero_point` (I32), each [2] or [3]:
///   the input's and the output's encodings, and the residual's when the layer adds one.
/// The FP32 bias is used as it is (the kernels' preparation folds it into their sums).
public struct LayerQuantization: Sendable, Equatable {
    public var weights: [Int8]
    public var weightScales: [Float]
    public var input: ActivationQuantization
    public var output: ActivationQuantization
    public var residual: ActivationQuantization?

    public init(weights: [Int8], weightScales: [Float], input: ActivationQuantization, output: ActivationQuantization,
                residual: ActivationQuantization?) {
        self.weights = weights
        self.weightScales = weightScales
        self.input = input
        self.output = output
        self.residual = residual
    }

    /// Symmetric per-output-channel int8 weights of FP32 `weights` (OIHW): each channel's
    /// largest magnitude maps to 127.
    public init(quantizing weights: [Float], outChannels: Int, input: ActivationQuantization, output: ActivationQuantization,
                residual: ActivationQuantization?) {
        let perChannel = weights.count / outChannels
        var scales = [Float](repeating: 1, count: outChannels)
        var q = [Int8](repeating: 0, count: weights.count)
        for oc in 0..<outChannels {
            let slice = weights[(oc * perChannel)..<((oc + 1) * perChannel)]
            let largest = slice.reduce(Float(0)) { max($0, abs($1)) }
            let scale = largest > 0 ? largest / 127 : 1
            scales[oc] = scale
            for i in slice.indices { q[i] = Int8(max(-127, min(127, (weights[i] / scale).rounded(.toNearestOrEven)))) }
        }
        self.init(weights: q, weightScales: scales, input: input, output: output, residual: residual)
    }

    /// The tensors of layer `spec` in a model file.
    func tensors(_ spec: ConvolutionSpec) -> [String: SafeTensorsFile.Tensor] {
        let activations = [input, output] + (residual.map { [$0] } ?? [])
        return [
            spec.name + ".weight_q": .init(shape: spec.weightShape, storage: .i8(weights)),
            spec.name + ".weight_scale": .init(shape: [spec.outChannels], values: weightScales),
            spec.name + ".activation_scale": .init(shape: [activations.count], values: activations.map(\.scale)),
            spec.name + ".activation_zero_point": .init(shape: [activations.count], storage: .i32(activations.map(\.zeroPoint))),
        ]
    }
}

enum ModelQuantization {
    static func names(_ spec: ConvolutionSpec) -> [String] {
        ["weight_q", "weight_scale", "activation_scale", "activation_zero_point"].map { spec.name + "." + $0 }
    }

    /// Checks an int8 layer's tensors (present, typed, shaped, scales positive and finite, zero
    /// points in int8's range) and returns their names.
    static func checkTensors(_ tensors: [String: SafeTensorsFile.Tensor], _ spec: ConvolutionSpec, path: String) throws -> [String] {
        let names = Self.names(spec)
        func tensor(_ name: String, _ dtype: SafeTensorsFile.DType, _ shapes: [[Int]]) throws -> SafeTensorsFile.Tensor {
            guard let t = tensors[name] else {
                throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "missing (the layer is int8 in layer_precisions)")
            }
            guard t.dtype == dtype, shapes.contains(t.shape) else {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name, reason: "\(t.dtype.rawValue) \(t.shape), expected \(dtype.rawValue) \(shapes.map { "\($0)" }.joined(separator: " or "))")
            }
            return t
        }
        _ = try tensor(names[0], .i8, [spec.weightShape])
        let scales = try tensor(names[1], .f32, [[spec.outChannels]])
        let activationScales = try tensor(names[2], .f32, [[2], [3]])
        let zeroPoints = try tensor(names[3], .i32, [activationScales.shape])
        if let bad = (scales.values + activationScales.values).first(where: { !($0 > 0 && $0.isFinite) }) {
            throw ModelFileError.malformedTensor(path: path, tensor: spec.name, reason: "scale \(bad) is not a positive finite number")
        }
        if let bad = zeroPoints.integers!.first(where: { !(-128...127).contains($0) }) {
            throw ModelFileError.malformedTensor(path: path, tensor: names[3], reason: "zero point \(bad) is outside -128...127")
        }
        return names
    }
}

extension NightjarModel {
    /// Layer `spec`'s int8 numbers, when the file carries them.
    public func quantization(_ spec: ConvolutionSpec) -> LayerQuantization? {
        let names = ModelQuantization.names(spec)
        guard let q = tensors[names[0]], case .i8(let weights) = q.storage, let scales = tensors[names[1]]?.values,
              let activationScales = tensors[names[2]]?.values, let zeroPoints = tensors[names[3]]?.integers else { return nil }
        let activations = zip(activationScales, zeroPoints).map { ActivationQuantization(scale: $0, zeroPoint: $1) }
        return LayerQuantization(weights: weights, weightScales: scales, input: activations[0], output: activations[1],
                                 residual: activations.count > 2 ? activations[2] : nil)
    }

    /// This model with int8 numbers for the layers in `layers` (by layer index), the others at
    /// the precision `layerPrecisions` gives them: what `nightjar quantize` writes.
    public func quantized(layerPrecisions: [Precision], layers: [Int: LayerQuantization]) throws -> NightjarModel {
        var tensors = self.tensors.filter { name, _ in !name.contains(".weight_q") && !name.contains(".weight_scale")
            && !name.contains(".activation_") }
        let specs = architecture.convolutions
        for (index, quantization) in layers where layerPrecisions[index] == .int8 {
            tensors.merge(quantization.tensors(specs[index])) { $1 }
        }
        return try NightjarModel(architecture: architecture, provenance: provenance, tensors: tensors, layerPrecisions: layerPrecisions)
    }
}
