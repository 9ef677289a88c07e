/// The engine a batch or daemon uses: a `StreamingEngine` planned for the largest frame seen
/// so far. A larger frame re-plans once (and allocates once); frames up to that size then run
/// without allocating. `initialSize` plans ahead, e.g. for a camera's known frame size.
public final class FrameEngine: FrameNetwork, @unchecked Sendable {
    public let architecture: Architecture
    public let threads: Int
    public let bands: StreamSchedule.Bands
    public private(set) var engine: StreamingEngine?
    /// The weights, packed once; the model's own tensors are not kept.
    private let parameters: PackedParameters

    public init(model: NightjarModel, threads: Int = Engine.availableCores, bands: StreamSchedule.Bands = .init(),
                initialSize: (height: Int, width: Int)? = nil) throws {
        self.architecture = model.architecture
        self.parameters = PackedParameters(model)
        self.threads = threads
        self.bands = bands
        if let size = initialSize { try reserve(height: size.height, width: size.width) }
    }

    /// Makes sure frames of this padded size run without re-planning.
    public func reserve(height: Int, width: Int) throws {
        if let engine, engine.fits(height: height, width: width) { return }
        let current = (engine?.maxHeight ?? 0, engine?.maxWidth ?? 0)
        // Release the old arena before allocating the new one.
        engine = nil
        engine = try StreamingEngine(parameters: parameters, architecture: architecture, maxHeight: max(height, current.0),
                                     maxWidth: max(width, current.1), bands: bands, threads: threads)
    }

    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try reserve(height: height, width: width)
        try engine!.run(height: height, width: width, source: source, sink: &sink)
    }
}
