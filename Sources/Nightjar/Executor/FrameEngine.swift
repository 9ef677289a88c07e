/// The engine a batch or daemon uses, in one of two ways:
/// - growing (no `maximumSize`): a `StreamingEngine` planned for the largest frame seen so far;
///   a larger frame re-plans once (and allocates once), frames up to that size then run
///   without allocating;
/// - fixed (`maximumSize`, padded to multiples of 32): the arena is planned and allocated here,
///   once, for frames up to that size, and a larger frame is refused with
///   `EngineError.frameTooLarge` (a daemon on a board whose memory was budgeted with
///   `nightjar footprint`).
public final class FrameEngine: FrameNetwork, @unchecked Sendable {
    public let architecture: Architecture
    public let threads: Int
    public let bands: StreamSchedule.Bands
    /// The largest padded frame (fixed plan), or nil (growing).
    public let maximumSize: (height: Int, width: Int)?
    public let lockMemory: Bool
    public private(set) var engine: StreamingEngine?
    /// The precision of each convolution.
    public var layerPrecisions: [Precision] { parameters.layerPrecisions }
    /// The network's precision: the one asked for, or the best the model carries.
    public var precision: Precision { parameters.precision }
    public var weightBytes: Int { parameters.bytes }
    /// See `FrameNetwork.int8InputLimit`.
    public var int8InputLimit: Float? { parameters.int8InputLimit }
    /// The weights, packed once; the model's own tensors are not kept.
    private let parameters: PackedParameters
    /// An engine of higher precision for frames too bright for the int8 layers: it runs a frame
    /// when at least `fallbackShare` of its input is above `int8InputLimit`. Made with the
    /// weights (packed at load, like this engine's); its arena is planned as this one's (now
    /// with `maximumSize`, else at its first frame) and both stay resident.
    public let fallback: FrameEngine?
    /// See `fallback`; `RestoreReport.int8ClippedWarningShare` unless changed.
    public var fallbackShare = RestoreReport.int8ClippedWarningShare
    /// See `FrameNetwork.int8Fallback`.
    public var int8Fallback: (network: FrameEngine, share: Double)? { fallback.map { ($0, fallbackShare) } }

    /// One line for a user who asked for an int8 fallback of `precision` that this engine did
    /// not make (it is not int8, or no int8 layer reads its input); nil when it made one or
    /// none was asked for.
    public func unusedFallbackWarning(_ precision: Precision?) -> String? {
        guard let precision, fallback == nil else { return nil }
        return "--int8-fallback \(precision) has no effect: the network runs \(self.precision) and no int8 layer reads its input"
    }

    /// `precision`: nil for the best the model carries; `bands`: nil for the precision's
    /// standard ones; `modelPath` names the model in errors. `int8Fallback`: the precision
    /// (FP16 or FP32) of the `fallback` engine, made only when int8 layers read the input
    /// (otherwise no frame is clipped and none would run on it).
    public init(model: NightjarModel, threads: Int = Engine.availableCores, bands: StreamSchedule.Bands? = nil,
                maximumSize: (height: Int, width: Int)? = nil, lockMemory: Bool = false, precision: Precision? = nil,
                modelPath: String = "the model", int8Fallback: Precision? = nil) throws {
        precondition(int8Fallback != .int8, "the int8 fallback is FP16 or FP32")
        self.architecture = model.architecture
        self.parameters = try PackedParameters(model, precision: precision, path: modelPath)
        fallback = try parameters.int8InputLimit == nil ? nil : int8Fallback.map {
            try FrameEngine(model: model, threads: threads, maximumSize: maximumSize, lockMemory: lockMemory, precision: $0,
                            modelPath: modelPath)
        }
        self.threads = threads
        self.bands = bands ?? .standard(for: parameters.precision)
        self.maximumSize = maximumSize.map { (FramePadding.paddedLength($0.height), FramePadding.paddedLength($0.width)) }
        self.lockMemory = lockMemory
        if let size = self.maximumSize {
            engine = try StreamingEngine(parameters: parameters, architecture: architecture, maxHeight: size.height,
                                         maxWidth: size.width, bands: self.bands, threads: threads, lockMemory: lockMemory)
        }
    }

    /// Makes sure frames of this padded size run without re-planning (growing), or that they
    /// fit the plan (fixed).
    public func reserve(height: Int, width: Int) throws {
        if let engine, engine.fits(height: height, width: width) { return }
        if let limit = maximumSize {
            try Engine.checkSize(height: height, width: width)
            throw EngineError.frameTooLarge(height: height, width: width, maxHeight: limit.height, maxWidth: limit.width)
        }
        let current = (engine?.maxHeight ?? 0, engine?.maxWidth ?? 0)
        // Release the old arena before allocating the new one.
        engine = nil
        engine = try StreamingEngine(parameters: parameters, architecture: architecture, maxHeight: max(height, current.0),
                                     maxWidth: max(width, current.1), bands: bands, threads: threads, lockMemory: lockMemory)
    }

    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try reserve(height: height, width: width)
        try engine!.run(height: height, width: width, source: source, sink: &sink)
    }
}
