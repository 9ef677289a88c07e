import FoundationEssentials

/// Turns a PyTorch state dict of either key layout into a `NightjarModel`: infers the variant
/// from the keys, maps each convolution to its source tensors and folds weight normalisation.
public enum CheckpointConversion {
    /// The two published key layouts (REFERENCE.md §2).
    public enum KeyLayout: String, Sendable {
        /// The authors' code: `conv32x.0.0.weight_v`, `RDB1.dense_layers.0.conv.0.weight_v`, ...
        case official
        /// The MIT reimplementation: `conv32x.0.conv.weight_v`, `RDB1.layers.1.1.conv.weight_v`, ...
        case mit
    }

    public static func convert(stateDict: [String: TorchTensor], provenance: (name: String, sha256: String), path: String) throws -> NightjarModel {
        let layout = try detectLayout(stateDict, path: path)
        let architecture = try inferArchitecture(stateDict, layout: layout, path: path)
        var tensors: [String: SafeTensorsFile.Tensor] = [:]
        var used = Set<String>()
        for spec in architecture.convolutions {
            let prefix = sourcePrefix(of: spec.name, layout: layout, architecture: architecture)
            let weight = try foldedWeight(stateDict, prefix: prefix, spec: spec, path: path, used: &used)
            tensors[spec.weightName] = SafeTensorsFile.Tensor(shape: spec.weightShape, values: weight)
            if spec.bias {
                let key = "\(prefix).bias"
                guard let bias = stateDict[key] else {
                    throw ConversionError.missingTensor(path: path, key: key)
                }
                guard bias.shape == [spec.outChannels] else {
                    throw ConversionError.shapeMismatch(path: path, key: key, found: bias.shape, expected: [spec.outChannels])
                }
                used.insert(key)
                tensors[spec.biasName] = SafeTensorsFile.Tensor(shape: bias.shape, values: bias.values)
            }
        }
        if let extra = stateDict.keys.sorted().first(where: { !used.contains($0) }) {
            throw ConversionError.unexpectedTensor(path: path, key: extra, architecture: architecture.description)
        }
        return try NightjarModel(
            architecture: architecture,
            provenance: .init(checkpointName: provenance.name, checkpointSHA256: provenance.sha256, keyLayout: layout.rawValue),
            tensors: tensors, path: path)
    }

    static func detectLayout(_ stateDict: [String: TorchTensor], path: String) throws -> KeyLayout {
        if stateDict.keys.contains(where: { $0.hasPrefix("conv32x.0.0.") }) { return .official }
        if stateDict.keys.contains(where: { $0.hasPrefix("conv32x.0.conv.") }) { return .mit }
        throw ConversionError.unknownLayout(path: path, sampleKeys: Array(stateDict.keys.sorted().prefix(4)))
    }

    /// Blocks are numbered RDB1...RDBn; dense layers are counted per block, and in the official
    /// layout the index of the conv inside its Sequential tells RDB* (an activation precedes
    /// every conv but the first) from the canonical block (never).
    static func inferArchitecture(_ stateDict: [String: TorchTensor], layout: KeyLayout, path: String) throws -> Architecture {
        let denseKey = layout == .official ? "dense_layers" : "layers"
        var layersPerBlock: [Int: Set<Int>] = [:]
        var sequentialIndices = Set<String>()
        for key in stateDict.keys where key.hasPrefix("RDB") {
            let parts = key.split(separator: ".")
            guard let block = Int(parts[0].dropFirst(3)), block >= 1 else {
                throw ConversionError.unexpectedTensor(path: path, key: key, architecture: "any known variant")
            }
            layersPerBlock[block, default: []].formUnion([])
            if parts.count > 2, parts[1] == denseKey, let layer = Int(parts[2]) {
                layersPerBlock[block, default: []].insert(layer)
                if layout == .official, parts.count > 4, layer > 0 { sequentialIndices.insert(String(parts[4])) }
            }
        }
        let blocks = layersPerBlock.keys.sorted()
        guard !blocks.isEmpty, blocks == Array(1...blocks.count), Architecture.blockCountRange.contains(blocks.count) else {
            throw ConversionError.unsupportedVariant(path: path, reason: "residual dense blocks \(blocks.map { "RDB\($0)" }) are not RDB1...RDBn with 1 to \(Architecture.blockCountRange.upperBound) blocks")
        }
        var denseLayers: [Int] = []
        for block in blocks {
            let layers = layersPerBlock[block]!.sorted()
            guard !layers.isEmpty, layers == Array(0..<layers.count), Architecture.denseLayerRange.contains(layers.count) else {
                throw ConversionError.unsupportedVariant(path: path, reason: "RDB\(block) has dense layers \(layers)")
            }
            denseLayers.append(layers.count)
        }
        let kind: Architecture.BlockKind
        switch (layout, sequentialIndices) {
        case (.mit, _): kind = .rdbStar
        case (.official, ["1"]), (.official, []): kind = .rdbStar
        case (.official, ["0"]): kind = .canonical
        default:
            throw ConversionError.unsupportedVariant(path: path, reason: "dense layers mix activation orders \(sequentialIndices.sorted())")
        }
        return Architecture(blockKind: kind, denseLayers: denseLayers)
    }

    /// The state-dict prefix holding a convolution's parameters.
    static func sourcePrefix(of name: String, layout: KeyLayout, architecture: Architecture) -> String {
        let parts = name.split(separator: ".").map(String.init)
        if parts[0].hasPrefix("rdb"), let blockNumber = Int(parts[0].dropFirst(3)) {
            let block = "RDB\(blockNumber)"
            let blockIndex = blockNumber - 1
            if parts[1] == "fuse" {
                return layout == .official ? "\(block).conv_1x1.0" : "\(block).last.conv"
            }
            let layer = Int(parts[1].dropFirst(5))!
            let count = architecture.denseLayers[blockIndex]
            switch layout {
            case .official:
                let index = architecture.blockKind == .rdbStar && layer > 0 ? 1 : 0
                return "\(block).dense_layers.\(layer).conv.\(index)"
            case .mit:
                let middle = layer > 0 && layer < count - 1
                return middle ? "\(block).layers.\(layer).1.conv" : "\(block).layers.\(layer).conv"
            }
        }
        switch (name, layout) {
        case ("resblock8x.conv1", .mit): return "resblock8x.model.0.conv"
        case ("resblock8x.conv2", .mit): return "resblock8x.model.2.conv"
        case (_, .mit): return "\(name).conv"
        case (_, .official): return "\(name).0"
        }
    }

    /// w = g · v / ‖v‖, the norm per output channel over (in, kh, kw), computed in double.
    /// A plain `weight` (no weight normalisation) is taken as is.
    static func foldedWeight(_ stateDict: [String: TorchTensor], prefix: String, spec: ConvolutionSpec, path: String, used: inout Set<String>) throws -> [Float] {
        let shape = spec.weightShape
        if let plain = stateDict["\(prefix).weight"] {
            guard plain.shape == shape else {
                throw ConversionError.shapeMismatch(path: path, key: "\(prefix).weight", found: plain.shape, expected: shape)
            }
            used.insert("\(prefix).weight")
            return plain.values
        }
        let gKey = "\(prefix).weight_g", vKey = "\(prefix).weight_v"
        guard let v = stateDict[vKey] else { throw ConversionError.missingTensor(path: path, key: vKey) }
        guard let g = stateDict[gKey] else { throw ConversionError.missingTensor(path: path, key: gKey) }
        guard v.shape == shape else {
            throw ConversionError.shapeMismatch(path: path, key: vKey, found: v.shape, expected: shape)
        }
        guard g.shape == [spec.outChannels, 1, 1, 1] || g.shape == [spec.outChannels] else {
            throw ConversionError.shapeMismatch(path: path, key: gKey, found: g.shape, expected: [spec.outChannels, 1, 1, 1])
        }
        used.formUnion([gKey, vKey])
        let perChannel = spec.weightCount / spec.outChannels
        var folded = [Float](repeating: 0, count: spec.weightCount)
        for oc in 0..<spec.outChannels {
            let range = (oc * perChannel)..<((oc + 1) * perChannel)
            let norm = v.values[range].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard norm > 0 else {
                throw ConversionError.degenerate(path: path, key: vKey, channel: oc)
            }
            let scale = Double(g.values[oc]) / norm
            for i in range { folded[i] = Float(Double(v.values[i]) * scale) }
        }
        return folded
    }
}

public enum ConversionError: Error, CustomStringConvertible, Equatable {
    case unknownLayout(path: String, sampleKeys: [String])
    case unsupportedVariant(path: String, reason: String)
    case missingTensor(path: String, key: String)
    case unexpectedTensor(path: String, key: String, architecture: String)
    case shapeMismatch(path: String, key: String, found: [Int], expected: [Int])
    case degenerate(path: String, key: String, channel: Int)

    public var description: String {
        switch self {
        case .unknownLayout(let path, let keys):
            return "\(path): not a checkpoint of this network: neither the official nor the MIT key layout (first keys: \(keys.joined(separator: ", ")))"
        case .unsupportedVariant(let path, let reason):
            return "\(path): unsupported network variant: \(reason)"
        case .missingTensor(let path, let key):
            return "\(path): checkpoint lacks tensor '\(key)'"
        case .unexpectedTensor(let path, let key, let architecture):
            return "\(path): tensor '\(key)' does not belong to \(architecture)"
        case .shapeMismatch(let path, let key, let found, let expected):
            return "\(path): tensor '\(key)' has shape \(found), expected \(expected)"
        case .degenerate(let path, let key, let channel):
            return "\(path): tensor '\(key)' has an all-zero output channel \(channel); weight normalisation cannot be folded"
        }
    }
}
