import FoundationEssentials

/// The one restore path of `nightjar restore`, `bench` and `watch`: owns the loaded model's
/// engine (its arena and thread pool), the capture workspace and the validated options, and
/// restores one file at a time. Made once per process (or per configuration of the daemon);
/// frames after the first of their size make no heap allocation in the frame step.
///
/// Memory, as `nightjar footprint` predicts it: with `maximumSize` everything per-frame is
/// allocated here and larger frames are refused; without, it grows once to the largest frame
/// met. The arena and the workspace's buffers are kept out of the forked decoder child
/// (`MADV_DONTFORK`). With `int8Fallback`, frames too bright for an int8 network run on a
/// second engine of that precision (`FrameEngine.fallback`), whose memory `footprint
/// --int8-fallback` adds. Not for concurrent use: one frame at a time.
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
    ///   - bands: nil for the precision's standard ones (`StreamSchedule.Bands.standard`).
    ///   - int8Fallback: FP16 or FP32 to restore frames too bright for an int8 network in that
    ///     precision instead (`FrameEngine.fallback`); nil for none.
    public init(model: NightjarModel, modelName: String, options: RestoreOptions, threads: Int = Engine.availableCores,
                bands: StreamSchedule.Bands? = nil, maximumSize: (width: Int, height: Int)? = nil,
                lockMemory: Bool = false, precision: Precision? = nil, modelPath: String? = nil,
                int8Fallback: Precision? = nil) throws {
        try options.validate()
        self.options = options
        self.modelName = modelName
        engine = try FrameEngine(model: model, threads: threads, bands: bands,
                                 maximumSize: maximumSize.map { (height: $0.height, width: $0.width) }, lockMemory: lockMemory,
                                 precision: precision, modelPath: modelPath ?? modelName, int8Fallback: int8Fallback)
        let compressors = MemoryFootprint.pngCompressors(threads: threads)
        // An int8 network quantises its input anyway: the frame is held in 8-bit codes.
        let codes = engine.precision == .int8
        workspace = try maximumSize.map {
            try CaptureWorkspace(maximumWidth: $0.width, maximumHeight: $0.height, pngThreads: compressors, mosaicCodes: codes)
        } ?? CaptureWorkspace(pngThreads: compressors, mosaicCodes: codes)
    }

    /// Loads the model file at `modelURL` and makes a restorer for it (its name: the file's).
    public convenience init(modelURL: URL, options: RestoreOptions, threads: Int = Engine.availableCores,
                            bands: StreamSchedule.Bands? = nil, maximumSize: (width: Int, height: Int)? = nil,
                            lockMemory: Bool = false, precision: Precision? = nil, int8Fallback: Precision? = nil) throws {
        try self.init(model: try NightjarModel.load(contentsOf: modelURL),
                      modelName: modelURL.deletingPathExtension().lastPathComponent, options: options, threads: threads,
                      bands: bands, maximumSize: maximumSize, lockMemory: lockMemory, precision: precision, modelPath: modelURL.path,
                      int8Fallback: int8Fallback)
    }

    /// Called for every band of a frame's output and about twice a second while a frame waits
    /// for its decoder: the daemon pings its watchdog from here, so a frame longer than
    /// `WatchdogSec=` still shows progress. Runs on the restoring thread; keep it short.
    public var progress: (() -> Void)?

    /// Restores `input` into the PNG `output` (written to a temporary name, synced, renamed,
    /// the directory synced). Errors are `CaptureError`s naming the file and the cause.
    /// `reportedInput` names the input in the report and sidecar when it is read from
    /// elsewhere (the daemon's work area).
    ///
    /// `next`: the file that will be restored after this one. It starts decoding in a decoder
    /// child of its own as soon as this one is decoded, so LibRaw reads it while this frame runs
    /// through the network; the next `restore` of it takes the result. (The child holds that
    /// mosaic meanwhile: the decoder child's memory `nightjar footprint` counts beside the
    /// process's.) A `restore` of another file cancels it.
    public func restore(input: URL, output: URL, reportedInput: String? = nil, next: URL? = nil) throws -> RestoreReport {
        try restoreCapture(input: input, output: output, options: options, modelName: modelName, network: engine,
                           workspace: workspace, reportedInput: reportedInput, next: next, progress: progress) { try $0() }
    }

    /// When the frame in `input` was taken, from its own metadata (DNG or EXIF DateTimeOriginal,
    /// as LibRaw reads it), in seconds since 1970 (the camera's clock taken as local time); nil
    /// when the file records none or cannot be read. Starts decoding `input` ahead (see
    /// `restore(input:output:reportedInput:next:)`) and waits for its metadata, so the restore
    /// that follows reads nothing twice.
    public func captureTime(of input: URL) -> Int? {
        workspace.captureTime(path: input.path, options: options, progress: progress)
    }

    /// Ends a decode started ahead (the daemon gives its next file back).
    public func cancelDecodeAhead() {
        workspace.cancelDecodeAhead()
    }

    /// The same with options of this call instead of the restorer's (validated here): for
    /// callers whose options change from file to file on one engine, such as `evaluate` (each
    /// pair's exposure ratio, each colour mode). `modelName` names the model in the report.
    public func restore(input: URL, output: URL, options: RestoreOptions, modelName: String? = nil) throws -> RestoreReport {
        try restoreCapture(input: input, output: output, options: options, modelName: modelName ?? self.modelName,
                           network: engine, workspace: workspace, reportedInput: nil) { try $0() }
    }

    /// Bytes of the network's arena now (0 before the first frame of a growing restorer; with an
    /// int8 fallback, the one they share).
    public var arenaBytes: Int { engine.arenaBytes }
}
