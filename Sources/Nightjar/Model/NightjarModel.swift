import FoundationEssentials

/// A converted model: weight normalisation folded, tensors named after `Architecture`'s
/// convolutions, ready to run. Stored as a safetensors file whose `__metadata__` records the
/// architecture, the precisions it carries (`precision`: the default, the best of them;
/// `precisions`: all, when more than fp32; `layer_precisions`: the int8 plan's precision of each
/// convolution), the source checkpoint, the format version and the content digest
/// (`ContentDigest`), checked at load. Every file carries the FP32 weights (FP16 runs from them,
/// converted at load); a quantised file adds each int8 layer's weights and scales
/// (`ModelQuantization`).
public struct NightjarModel: Sendable {
    public static let formatName = "nightjar"
    public static let formatVersion = 1

    public struct Provenance: Sendable, Equatable {
        public var checkpointName: String
        public var checkpointSHA256: String
        public var keyLayout: String
        public init(checkpointName: String, checkpointSHA256: String, keyLayout: String) {
            self.checkpointName = checkpointName
            self.checkpointSHA256 = checkpointSHA256
            self.keyLayout = keyLayout
        }
    }

    /// The largest weight or bias magnitude accepted. The folded parameters of the published
    /// (official and MIT) Sony models stay below 0.84, the test variants below 0.35; 1000 is
    /// over a thousand times that, while finite but absurd values (3e38) that saturate every
    /// pixel are refused.
    public static let maximumMagnitude: Float = 1000

    public var architecture: Architecture
    public var provenance: Provenance
    /// Folded weights and biases by tensor name (`conv2x.weight`, `rdb1.dense0.weight`, ...),
    /// and the int8 layers' quantised tensors (`ModelQuantization.tensorNames`).
    public var tensors: [String: SafeTensorsFile.Tensor]
    /// The precision of each convolution in an int8 run (by layer index), when the file carries
    /// int8; layers whose int8 error was too large stay fp16 or fp32.
    public var layerPrecisions: [Precision]?

    /// The precisions the file carries: fp32 always, int8 when it was calibrated.
    public var precisions: [Precision] { layerPrecisions == nil ? [.fp32] : [.fp32, .int8] }
    /// The precision a run uses when none is asked for: the best the file carries.
    public var defaultPrecision: Precision { precisions.max()! }
    /// The precisions this model runs: FP16 from its FP32 weights too.
    public var runnablePrecisions: [Precision] { layerPrecisions == nil ? [.fp32, .fp16] : [.fp32, .fp16, .int8] }

    /// The precision of each convolution when the network runs at `precision`; throws a
    /// `PrecisionError` naming the fix when the model cannot.
    public func layerPrecisions(for precision: Precision, path: String = "the model") throws -> [Precision] {
        switch precision {
        case .fp32, .fp16: return [Precision](repeating: precision, count: architecture.convolutions.count)
        case .int8:
            guard let layerPrecisions else { throw PrecisionError(precision: .int8, model: path) }
            return layerPrecisions
        }
    }

    /// Checks every tensor against the architecture: all present, shapes exact, nothing extra.
    public init(architecture: Architecture, provenance: Provenance, tensors: [String: SafeTensorsFile.Tensor],
                layerPrecisions: [Precision]? = nil, path: String = "<model>") throws {
        var expected = Set<String>()
        if let layerPrecisions {
            let specs = architecture.convolutions
            guard layerPrecisions.count == specs.count else {
                throw ModelFileError.malformed(
                    path: path, reason: "layer_precisions names \(layerPrecisions.count) layers, the network has \(specs.count)")
            }
            for (spec, precision) in zip(specs, layerPrecisions) where precision == .int8 {
                expected.formUnion(try ModelQuantization.checkTensors(tensors, spec, path: path))
            }
        }
        for spec in architecture.convolutions {
            try Self.check(tensors, spec.weightName, shape: spec.weightShape, path: path)
            expected.insert(spec.weightName)
            if spec.bias {
                try Self.check(tensors, spec.biasName, shape: [spec.outChannels], path: path)
                expected.insert(spec.biasName)
            }
        }
        if let extra = tensors.keys.sorted().first(where: { !expected.contains($0) }) {
            throw ModelFileError.malformedTensor(path: path, tensor: extra, reason: "not part of a \(architecture) network")
        }
        for name in tensors.keys.sorted() {
            let values = tensors[name]!.values
            if values.contains(where: { !$0.isFinite }) {
                throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "holds NaN or infinite values")
            }
            if let absurd = values.first(where: { abs($0) > Self.maximumMagnitude }) {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name,
                    reason: "holds \(absurd), beyond the ±\(Int(Self.maximumMagnitude)) any trained network of this kind has (damaged or crafted weights)")
            }
        }
        self.architecture = architecture
        self.provenance = provenance
        self.tensors = tensors
        self.layerPrecisions = layerPrecisions
    }

    private static func check(_ tensors: [String: SafeTensorsFile.Tensor], _ name: String, shape: [Int], path: String) throws {
        guard let tensor = tensors[name] else {
            throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "missing")
        }
        guard tensor.shape == shape else {
            throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "shape \(tensor.shape), expected \(shape)")
        }
        guard tensor.dtype == .f32 || tensor.dtype == .f16 else {
            throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "dtype \(tensor.dtype.rawValue), expected F32 or F16")
        }
    }

    public func weights(_ spec: ConvolutionSpec) -> [Float] { tensors[spec.weightName]!.values }
    public func bias(_ spec: ConvolutionSpec) -> [Float]? { spec.bias ? tensors[spec.biasName]!.values : nil }

    // MARK: - File format

    public var metadata: [String: String] {
        var fields = [
            "format": Self.formatName,
            "format_version": String(Self.formatVersion),
            "architecture": architecture.blockKind.rawValue,
            "dense_layers": architecture.denseLayers.map(String.init).joined(separator: ","),
            "precision": defaultPrecision.rawValue,
            "source_checkpoint": provenance.checkpointName,
            "source_sha256": provenance.checkpointSHA256,
            "source_layout": provenance.keyLayout,
        ]
        // Plain FP32 files keep the fields they always had (the same checkpoint converts to
        // the same bytes).
        if let layerPrecisions {
            fields["precisions"] = precisions.map(\.rawValue).joined(separator: ",")
            fields["layer_precisions"] = layerPrecisions.map(\.rawValue).joined(separator: ",")
        }
        return fields
    }

    /// Writes through `OutputFile` (an existing file is replaced only with `overwrite`).
    public func write(to url: URL, overwrite: Bool = true) throws {
        try OutputFile.write(try SafeTensorsFile(metadata: metadata, tensors: tensors).encoded(), to: url.path, overwrite: overwrite)
    }

    public static func load(contentsOf url: URL) throws -> NightjarModel {
        let file = try SafeTensorsFile.read(contentsOf: url)
        return try NightjarModel(file: file, path: url.path)
    }

    public init(file: SafeTensorsFile, path: String) throws {
        let meta = file.metadata
        guard meta["format"] == Self.formatName else {
            throw ModelFileError.notANightjarModel(path: path)
        }
        guard let versionText = meta["format_version"], let version = Int(versionText) else {
            throw ModelFileError.malformed(path: path, reason: "metadata lacks a format_version")
        }
        guard version == Self.formatVersion else {
            throw ModelFileError.unsupportedVersion(path: path, version: version, supported: Self.formatVersion)
        }
        // Before the metadata is believed: shapes cannot tell every architecture apart.
        if let problem = file.contentDigestProblem() {
            throw ModelFileError.malformed(path: path, reason: problem)
        }
        guard let kindText = meta["architecture"], let kind = Architecture.BlockKind(rawValue: kindText) else {
            throw ModelFileError.malformed(path: path, reason: "unknown architecture \(meta["architecture"] ?? "(none)")")
        }
        let layers = (meta["dense_layers"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard Architecture.blockCountRange.contains(layers.count),
              layers.allSatisfy(Architecture.denseLayerRange.contains) else {
            throw ModelFileError.malformed(path: path, reason: "bad dense_layers \(meta["dense_layers"] ?? "(none)")")
        }
        guard let precision = meta["precision"].flatMap(Precision.init(rawValue:)) else {
            throw ModelFileError.malformed(
                path: path, reason: "precision \(meta["precision"] ?? "(none)") is not one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let carried = Precision.list(meta["precisions"] ?? precision.rawValue), carried.contains(.fp32),
              carried.max() == precision, Set(carried).isSubset(of: [.fp32, .int8]) else {
            throw ModelFileError.malformed(
                path: path, reason: "precisions '\(meta["precisions"] ?? precision.rawValue)' with precision \(precision): "
                    + "a model carries fp32, and int8 when calibrated (`nightjar quantize`), and its precision is the best of them")
        }
        var layerPrecisions: [Precision]?
        if carried.contains(.int8) {
            guard let list = meta["layer_precisions"].flatMap(Precision.list) else {
                throw ModelFileError.malformed(path: path, reason: "an int8 model needs layer_precisions, a comma list of fp32, fp16 and int8")
            }
            layerPrecisions = list
        } else if meta["layer_precisions"] != nil {
            throw ModelFileError.malformed(path: path, reason: "layer_precisions without int8 in precisions")
        }
        try self.init(
            architecture: Architecture(blockKind: kind, denseLayers: layers),
            provenance: Provenance(
                checkpointName: meta["source_checkpoint"] ?? "",
                checkpointSHA256: meta["source_sha256"] ?? "",
                keyLayout: meta["source_layout"] ?? ""),
            tensors: file.tensors, layerPrecisions: layerPrecisions, path: path)
    }
}

public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case malformedTensor(path: String, tensor: String, reason: String)
    case notANightjarModel(path: String)
    case unsupportedVersion(path: String, version: Int, supported: Int)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the model file: \(reason)"
        case .malformed(let path, let reason):
            return "\(path): not a valid model file: \(reason)"
        case .malformedTensor(let path, let tensor, let reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case .notANightjarModel(let path):
            return "\(path): not a Nightjar model (metadata 'format' is not 'nightjar'); convert a checkpoint with `nightjar convert`"
        case .unsupportedVersion(let path, let version, let supported):
            return "\(path): model format version \(version) is not supported by this build (supports \(supported)); reconvert the checkpoint with this nightjar"
        }
    }
}
