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
    /// The arena this engine and its fallback take turns in (nil without a fallback).
    private let sharedArena: SharedArena?
    /// An engine of higher precision for frames too bright for the int8 layers: it runs a frame
    /// when at least `fallbackShare` of its input is above `int8InputLimit`. Made with the
    /// weights (packed at load, like this engine's, and kept beside them); it plans its windows
    /// in this engine's arena (`SharedArena`: the two never run at once), now with
    /// `maximumSize`, else at its first frame, so it adds its weights and threads, and its
    /// arena only where its plan is the larger.
    public let fallback: FrameEngine?
    /// See `fallback`; `Int8InputClipping.significantShare` unless changed.
    public var fallbackShare = Int8InputClipping.significantShare
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
    public convenience init(model: NightjarModel, threads: Int = Engine.availableCores, bands: StreamSchedule.Bands? = nil,
                            maximumSize: (height: Int, width: Int)? = nil, lockMemory: Bool = false, precision: Precision? = nil,
                            modelPath: String = "the model", int8Fallback: Precision? = nil) throws {
        try self.init(model: model, threads: threads, bands: bands, maximumSize: maximumSize, lockMemory: lockMemory,
                      precision: precision, modelPath: modelPath, int8Fallback: int8Fallback, sharedArena: nil)
    }

    /// With `sharedArena`, the arena is planned in its pages (a fallback in its network's).
    private init(model: NightjarModel, threads: Int, bands: StreamSchedule.Bands?, maximumSize: (height: Int, width: Int)?,
                 lockMemory: Bool, precision: Precision?, modelPath: String, int8Fallback: Precision?,
                 sharedArena: SharedArena?) throws {
        precondition(int8Fallback != .int8, "the int8 fallback is FP16 or FP32")
        let parameters = try PackedParameters(model, precision: precision, streamedIn: { bands ?? .standard(for: $0) },
                                              path: modelPath)
        // The network and its fallback take turns in one arena.
        let fallbackPrecision = parameters.int8InputLimit == nil ? nil : int8Fallback
        let arena = sharedArena ?? fallbackPrecision.map { _ in SharedArena(lockMemory: lockMemory) }
        self.fallback = try fallbackPrecision.map {
            try FrameEngine(model: model, threads: threads, bands: nil, maximumSize: maximumSize, lockMemory: lockMemory,
                            precision: $0, modelPath: modelPath, int8Fallback: nil, sharedArena: arena)
        }
        self.architecture = model.architecture
        self.parameters = parameters
        self.sharedArena = arena
        self.threads = threads
        self.bands = bands ?? .standard(for: parameters.precision)
        self.maximumSize = maximumSize.map { (FramePadding.paddedLength($0.height), FramePadding.paddedLength($0.width)) }
        self.lockMemory = lockMemory
        if let size = self.maximumSize {
            try plan(height: size.height, width: size.width)
            // Planned second, this engine may have replaced the pages the fallback planned in.
            if let fallback, fallback.engine?.isOnCurrentArena == false {
                try fallback.plan(height: size.height, width: size.width)
            }
        }
    }

    /// Bytes of the arena now: the one this engine and its fallback share, or its own (0
    /// before the first frame of a growing engine).
    public var arenaBytes: Int {
        sharedArena?.bytes ?? engine.map { $0.plan.allocationBytes } ?? 0
    }

    /// Makes sure frames of this padded size run without re-planning (growing), or that they
    /// fit the plan (fixed). A growing engine whose shared arena was replaced plans again in
    /// the new pages, giving the old ones back.
    public func reserve(height: Int, width: Int) throws {
        if let engine, engine.isOnCurrentArena, engine.fits(height: height, width: width) { return }
        if let limit = maximumSize {
            try Engine.checkSize(height: height, width: width)
            throw EngineError.frameTooLarge(height: height, width: width, maxHeight: limit.height, maxWidth: limit.width)
        }
        try plan(height: max(height, engine?.maxHeight ?? 0), width: max(width, engine?.maxWidth ?? 0))
    }

    /// A streaming engine for frames up to this padded size (the old one released first, so its
    /// own arena goes before the new one is allocated).
    private func plan(height: Int, width: Int) throws {
        engine = nil
        engine = try StreamingEngine(parameters: parameters, architecture: architecture, maxHeight: height, maxWidth: width,
                                     bands: bands, threads: threads, lockMemory: lockMemory, sharedArena: sharedArena)
    }

    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try reserve(height: height, width: width)
        try engine!.run(height: height, width: width, source: source, sink: &sink)
    }
}
