/// The network's shape: which residual dense block, and how many dense layers in each block.
/// Everything else about the network is fixed (REFERENCE.md §1).
public struct Architecture: Sendable, Equatable, CustomStringConvertible {
    /// How a residual dense block applies its activations.
    public enum BlockKind: String, Sendable, CaseIterable {
        /// The paper's RDB*: the first dense conv reads the block input as is, the middle ones
        /// read LeakyReLU(0.2) of the whole running concatenation, the last one reads it as is;
        /// the concatenation keeps the unrectified conv outputs.
        case rdbStar = "rdb-star"
        /// The textbook RDB: every dense conv but the last is followed by LeakyReLU(0.2), and the
        /// rectified output is concatenated.
        case canonical
    }

    public var blockKind: BlockKind
    /// Dense layers per block, e.g. [4, 5, 5] for the published model.
    public var denseLayers: [Int]

    public static let published = Architecture(blockKind: .rdbStar, denseLayers: [4, 5, 5])

    public init(blockKind: BlockKind, denseLayers: [Int]) {
        self.blockKind = blockKind
        self.denseLayers = denseLayers
    }

    public static let growth = 32
    public static let features = 64
    public static let leakySlope: Float = 0.2

    public var description: String {
        "\(blockKind.rawValue) with \(denseLayers.count) blocks of \(denseLayers.map(String.init).joined(separator: "/")) dense layers"
    }

    /// Limits the engine is built and tested for; checkpoints outside them are refused.
    public static let blockCountRange = 1...8
    public static let denseLayerRange = 1...8

    /// Every convolution of the network, in execution order, with its folded-weight shape.
    public var convolutions: [ConvolutionSpec] {
        var specs: [ConvolutionSpec] = [
            ConvolutionSpec(name: "conv32x.0", outChannels: 128, inChannels: 1024, kernel: 3, groups: 128, bias: true),
            ConvolutionSpec(name: "conv32x.1", outChannels: 64, inChannels: 128, kernel: 3, groups: 1, bias: true),
        ]
        for (block, layers) in denseLayers.enumerated() {
            let prefix = "rdb\(block + 1)"
            for layer in 0..<layers {
                specs.append(ConvolutionSpec(
                    name: "\(prefix).dense\(layer)", outChannels: Self.growth,
                    inChannels: Self.features + Self.growth * layer, kernel: 3, groups: 1, bias: false))
            }
            specs.append(ConvolutionSpec(
                name: "\(prefix).fuse", outChannels: Self.features,
                inChannels: Self.features + Self.growth * layers, kernel: 1, groups: 1, bias: false))
        }
        specs += [
            ConvolutionSpec(name: "rdball", outChannels: 64, inChannels: 64 * denseLayers.count, kernel: 1, groups: 1, bias: false),
            ConvolutionSpec(name: "conv_rdb8x", outChannels: 64, inChannels: 4, kernel: 3, groups: 1, bias: true),
            ConvolutionSpec(name: "resblock8x.conv1", outChannels: 64, inChannels: 64, kernel: 3, groups: 1, bias: true),
            ConvolutionSpec(name: "resblock8x.conv2", outChannels: 64, inChannels: 64, kernel: 3, groups: 1, bias: true),
            ConvolutionSpec(name: "conv32_8_cat.0", outChannels: 32, inChannels: 128, kernel: 3, groups: 4, bias: true),
            ConvolutionSpec(name: "conv32_8_cat.1", outChannels: 192, inChannels: 32, kernel: 3, groups: 1, bias: true),
            ConvolutionSpec(name: "conv2x", outChannels: 12, inChannels: 4, kernel: 5, groups: 1, bias: true),
            ConvolutionSpec(name: "conv_2_8_32", outChannels: 12, inChannels: 24, kernel: 5, groups: 1, bias: true),
        ]
        return specs
    }

    /// Multiply-accumulates per raw pixel (4915 for the published network).
    public var macsPerPixel: Double {
        convolutions.reduce(0.0) { $0 + macsPerPixel(of: $1) }
    }

    /// One convolution's multiply-accumulates per raw pixel (its output is at 1/2, 1/8 or 1/32 scale).
    public func macsPerPixel(of spec: ConvolutionSpec) -> Double {
        let scale: Double
        switch spec.name {
        case "conv2x", "conv_2_8_32": scale = 1.0 / 4
        case "conv_rdb8x", "resblock8x.conv1", "resblock8x.conv2", "conv32_8_cat.0", "conv32_8_cat.1": scale = 1.0 / 64
        default: scale = 1.0 / 1024
        }
        return Double(spec.macsPerOutputPixel) * scale
    }

    public var parameterCount: Int {
        convolutions.reduce(0) { $0 + $1.weightCount + ($1.bias ? $1.outChannels : 0) }
    }
}

/// One convolution's folded parameters: weights [out][in/groups][k][k] and an optional bias.
public struct ConvolutionSpec: Sendable, Equatable {
    public var name: String
    public var outChannels: Int
    public var inChannels: Int
    public var kernel: Int
    public var groups: Int
    public var bias: Bool

    public var weightShape: [Int] { [outChannels, inChannels / groups, kernel, kernel] }
    public var weightCount: Int { weightShape.reduce(1, *) }
    public var weightName: String { "\(name).weight" }
    public var biasName: String { "\(name).bias" }
    public var macsPerOutputPixel: Int { outChannels * (inChannels / groups) * kernel * kernel }
}
