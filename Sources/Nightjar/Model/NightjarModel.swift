import FoundationEssentials

/// A converted model: weight normalisation folded, tensors named after `Architecture`'s
/// convolutions, ready to run. Stored as a safetensors file whose `__metadata__` records the
/// architecture, the precision, the source checkpoint, the format version and the content
/// digest (`ContentDigest`), checked at load.
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
    /// Folded weights and biases by tensor name (`conv2x.weight`, `rdb1.dense0.weight`, ...).
    public var tensors: [String: SafeTensorsFile.Tensor]

    /// Checks every tensor against the architecture: all present, shapes exact, nothing extra.
    public init(architecture: Architecture, provenance: Provenance, tensors: [String: SafeTensorsFile.Tensor], path: String = "<model>") throws {
        var expected = Set<String>()
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
    }

    private static func check(_ tensors: [String: SafeTensorsFile.Tensor], _ name: String, shape: [Int], path: String) throws {
        guard let tensor = tensors[name] else {
            throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "missing")
        }
        guard tensor.shape == shape else {
            throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "shape \(tensor.shape), expected \(shape)")
        }
    }

    public func weights(_ spec: ConvolutionSpec) -> [Float] { tensors[spec.weightName]!.values }
    public func bias(_ spec: ConvolutionSpec) -> [Float]? { spec.bias ? tensors[spec.biasName]!.values : nil }

    // MARK: - File format

    public var metadata: [String: String] {
        [
            "format": Self.formatName,
            "format_version": String(Self.formatVersion),
            "architecture": architecture.blockKind.rawValue,
            "dense_layers": architecture.denseLayers.map(String.init).joined(separator: ","),
            "precision": "fp32",
            "source_checkpoint": provenance.checkpointName,
            "source_sha256": provenance.checkpointSHA256,
            "source_layout": provenance.keyLayout,
        ]
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
        guard meta["precision"] == "fp32" else {
            throw ModelFileError.malformed(path: path, reason: "precision \(meta["precision"] ?? "(none)") is not supported; expected fp32")
        }
        try self.init(
            architecture: Architecture(blockKind: kind, denseLayers: layers),
            provenance: Provenance(
                checkpointName: meta["source_checkpoint"] ?? "",
                checkpointSHA256: meta["source_sha256"] ?? "",
                keyLayout: meta["source_layout"] ?? ""),
            tensors: file.tensors, path: path)
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
