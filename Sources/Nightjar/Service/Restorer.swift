import FoundationEssentials

/// The one restore path of `nightjar restore`, `bench` and `watch`: owns the loaded model's
/// engine (its arena and thread pool), the capture workspace and the validated options, and
/// restores one file at a time. Made once per process (or per configuration of the daemon);
/// frames after the first of their size make no heap allocation in the frame step.
///
/// Memory, as `nightjar footprint` predicts it: with `maximumSize` everything per-frame is
/// allocated here and larger frames are refused; without, it grows once to the largest frame
/// met. The arena and the workspace's buffers are kept out of the forked decoder child
/// (`MADV_DONTFORK`). Not for concurrent use: one frame at a time.
public final class Restorer {
    public let options: RestoreOptions
    /// The model's name as reports and PNG text give it (the file name without extension).
    public let modelName: String
    public let engine: FrameEngine
    public let workspace: CaptureWorkspace

    /// - Parameters:
    ///   - maximumSize: the largest visible frame, planned now; nil to grow on demand.
    ///   - lockMemory: lock the arena into RAM (`mlock`).
    ///   - precision: the network's precision; nil for the best the model carries.
    public init(model: NightjarModel, modelName: String, options: RestoreOptions, threads: Int = Engine.availableCores,
                bands: StreamSchedule.Bands = .init(), maximumSize: (width: Int, height: Int)? = nil,
                lockMemory: Bool = false, precision: Precision? = nil, modelPath: String? = nil) throws {
        try options.validate()
        self.options = options
        self.modelName = modelName
        engine = try FrameEngine(model: model, threads: threads, bands: bands,
                                 maximumSize: maximumSize.map { (height: $0.height, width: $0.width) }, lockMemory: lockMemory,
                                 precision: precision, modelPath: modelPath ?? modelName)
        workspace = try maximumSize.map { try CaptureWorkspace(maximumWidth: $0.width, maximumHeight: $0.height) }
            ?? CaptureWorkspace()
    }

    /// Loads the model file at `modelURL` and makes a restorer for it (its name: the file's).
    public convenience init(modelURL: URL, options: RestoreOptions, threads: Int = Engine.availableCores,
                            bands: StreamSchedule.Bands = .init(), maximumSize: (width: Int, height: Int)? = nil,
                            lockMemory: Bool = false, precision: Precision? = nil) throws {
        try self.init(model: try NightjarModel.load(contentsOf: modelURL),
                      modelName: modelURL.deletingPathExtension().lastPathComponent, options: options, threads: threads,
                      bands: bands, maximumSize: maximumSize, lockMemory: lockMemory, precision: precision, modelPath: modelURL.path)
    }

    /// Restores `input` into the PNG `output` (written to a temporary name, synced, renamed,
    /// the directory synced). Errors are `CaptureError`s naming the file and the cause.
    /// `reportedInput` names the input in the report and sidecar when it is read from
    /// elsewhere (the daemon's work area).
    public func restore(input: URL, output: URL, reportedInput: String? = nil) throws -> RestoreReport {
        try restoreCapture(input: input, output: output, options: options, modelName: modelName, network: engine,
                           workspace: workspace, reportedInput: reportedInput) { try $0() }
    }

    /// The same with options of this call instead of the restorer's (validated here): for
    /// callers whose options change from file to file on one engine, such as `evaluate` (each
    /// pair's exposure ratio, each colour mode). `modelName` names the model in the report.
    public func restore(input: URL, output: URL, options: RestoreOptions, modelName: String? = nil) throws -> RestoreReport {
        try restoreCapture(input: input, output: output, options: options, modelName: modelName ?? self.modelName,
                           network: engine, workspace: workspace, reportedInput: nil) { try $0() }
    }

    /// Bytes of the network's arena now (0 before the first frame of a growing restorer).
    public var arenaBytes: Int {
        engine.engine.map { max($0.plan.arenaBytes, MemoryPlan.alignment) } ?? 0
    }
}
