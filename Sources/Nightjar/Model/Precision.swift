/// The numeric precisions the engine runs: FP32 (the reference, equal to PyTorch's output),
/// FP16 (binary16 activations and weights, sums in FP32) and int8 fixed point (int8 activations
/// with a per-tensor scale and zero point, int8 weights with a scale per output channel, int32
/// sums). Every layer of a plan has one; the whole network's is the one a user asks for.
public enum Precision: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case fp32, fp16, int8

    /// Bytes per activation element in the arena.
    public var elementBytes: Int {
        switch self {
        case .fp32: return 4
        case .fp16: return 2
        case .int8: return 1
        }
    }

    /// Preference: the smaller and faster, the better (int8 > fp16 > fp32).
    public static func < (a: Precision, b: Precision) -> Bool { a.rank < b.rank }
    private var rank: Int {
        switch self {
        case .fp32: return 0
        case .fp16: return 1
        case .int8: return 2
        }
    }

    public var description: String { rawValue }

    /// "fp32,int8" and the like, as model files record lists of precisions.
    static func list(_ text: String) -> [Precision]? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Precision(rawValue: String($0)) }
        return parts.contains(nil) || parts.isEmpty ? nil : parts.map { $0! }
    }
}

/// A precision asked of a model that cannot run it, or that this build has no kernels for,
/// with the fix.
public struct PrecisionError: Error, CustomStringConvertible, Equatable {
    public var precision: Precision
    public var model: String
    /// The kernels are missing from this build (not the model's calibration).
    public var notInBuild = false
    public var description: String {
        if notInBuild {
            return "precision \(precision) is not available in this build (no \(precision) kernels); use --precision fp32"
        }
        switch precision {
        case .int8:
            return "\(model) carries no int8 calibration; run `nightjar quantize \(model) --calibrate RAW... -o MODEL-int8.safetensors` "
                + "and restore with that file, or use --precision fp16 or fp32"
        case .fp16, .fp32:
            return "\(model) cannot run \(precision); use --precision fp32"
        }
    }
    public init(precision: Precision, model: String, notInBuild: Bool = false) {
        self.precision = precision
        self.model = model
        self.notInBuild = notInBuild
    }
}
