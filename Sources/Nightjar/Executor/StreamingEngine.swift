import FoundationEssentials
import Glibc
import NightjarKernels

/// Runs the network band by band along a `StreamSchedule`, so memory grows with the frame's
/// width and not its area. The windows' heights come from the schedule's dry run for the
/// largest frame, one arena is planned for them (each window a ring of rows, so advancing it
/// moves nothing), and `run` makes no heap allocation once a
/// frame of that size has been seen. Every output value is computed exactly as in `Engine`, so
/// results are bit-identical to whole-frame execution.
public final class StreamingEngine: @unchecked Sendable {
    public let architecture: Architecture
    public let schedule: StreamSchedule
    public let maxHeight: Int
    public let maxWidth: Int
    public let threads: Int
    /// The arena for the largest frame: each buffer's window, placed by lifetime (pass).
    public let plan: MemoryPlan
    /// Window heights planned for the largest frame.
    public let plannedWindowRows: [Int]
    /// Bytes of the arena locked into RAM (0: not locked); a shared arena's pages are locked by
    /// it, for every engine in it.
    public let lockedBytes: Int
    /// Where the arena is mapped (tests read its flags in /proc/self/smaps).
    var arenaAddress: UInt { UInt(bitPattern: arenaPages.base) }
    /// Where the second pass's windows end: the arena past it holds only first-pass windows
    /// (the 1/32 branch's, which set the arena's size), free once the second pass begins.
    public let secondPassBytes: Int

    private let weights: PackedParameters
    /// Each window's element type (int8: with the encoding the model gives it).
    let elementTypes: [ElementType]
    /// What the row source writes: the input's element type (`NetworkGraph.inputPrecision`).
    var inputElement: NetworkInputPlanes.Element {
        switch schedule.graph.inputPrecision {
        case .fp32: return .fp32
        case .fp16: return .fp16
        case .int8: return .int8(schedule.graph.inputQuantization!)
        }
    }
    /// The kernel each convolution runs (registry names, in the architecture's layer order).
    public var kernelNames: [String] { weights.kernelNames }
    /// The precision of each convolution, in the architecture's layer order.
    public var layerPrecisions: [Precision] { weights.layerPrecisions }
    /// Bytes of the packed weights, biases and kernel parameters.
    public var weightBytes: Int { weights.bytes }
    /// Bytes of the model's tensors the weights were packed from.
    public var modelBytes: Int { weights.modelBytes }
    /// See `FrameNetwork.int8InputLimit`.
    public var int8InputLimit: Float? { weights.int8InputLimit }
    /// Its own mapping, so the forked decoder child neither maps nor copies it (`PageBuffer`):
    /// the pages of a `SharedArena`, its own or one it takes turns in.
    private let arenaPages: PageBuffer
    private let sharedArena: SharedArena
    private let arenaGeneration: Int
    /// False once the shared arena this engine was made in has been replaced by larger pages:
    /// it still runs (it keeps the old ones), but should be made again to give them back.
    var isOnCurrentArena: Bool { sharedArena.generation == arenaGeneration }
    private var arena: UnsafeMutableRawPointer { arenaPages.base }
    /// The worker threads (the capture's colour stage shares them between bands).
    let pool: OpaquePointer
    /// While set, each step's wall time is added to it (`makeStepTimes`, `layerTimes`).
    public var stepTimes: StepTimes?
    private var cursor: StreamSchedule.Cursor
    /// Window heights for the current frame size (re-derived when the size changes).
    private var windowRows: [Int]
    private var frame: (height: Int, width: Int)

    /// `lockMemory` locks the arena into RAM (`mlock`), so a frame never waits for it to be
    /// paged back in; it fails, with `EngineError.cannotLockMemory`, where the limit on locked
    /// memory (`ulimit -l`, systemd's `LimitMEMLOCK=`) is below the arena.
    /// `precision`: the network's (nil: the best the model carries); a precision the model
    /// cannot run is a `PrecisionError` naming the fix. `bands`: nil for the precision's
    /// standard ones.
    public convenience init(model: NightjarModel, maxHeight: Int, maxWidth: Int,
                            bands: StreamSchedule.Bands? = nil, threads: Int = Engine.availableCores,
                            lockMemory: Bool = false, precision: Precision? = nil, modelPath: String = "the model") throws {
        let parameters = try PackedParameters(model, precision: precision, streamedIn: { bands ?? .standard(for: $0) },
                                              path: modelPath)
        try self.init(parameters: parameters, architecture: model.architecture, maxHeight: maxHeight, maxWidth: maxWidth,
                      bands: bands ?? .standard(for: parameters.precision), threads: threads, lockMemory: lockMemory)
    }

    /// With weights already packed (shared by engines re-planned for larger frames). With
    /// `sharedArena`, the arena is planned in its pages (which lock them, if any lock).
    /// `int8Input` false keeps an FP32 input (and its conversion steps) where the int8 layers
    /// could read it directly, `int8Output` false an FP32 output (and its conversion) where the
    /// last layer runs in int8: for tests that compare the two.
    init(parameters: PackedParameters, architecture: Architecture, maxHeight: Int, maxWidth: Int,
         bands: StreamSchedule.Bands, threads: Int, lockMemory: Bool = false, sharedArena: SharedArena? = nil,
         int8Input: Bool = true, int8Output: Bool = true) throws {
        try Engine.checkSize(height: maxHeight, width: maxWidth)
        guard threads >= 1 else { throw EngineError.badThreadCount(threads) }
        guard bands.isValid else {
            throw EngineError.badBands(lowResolutionRows: bands.lowResolutionRows, outputRows: bands.outputRows)
        }
        let graph = NetworkGraph(architecture: architecture, layerPrecisions: parameters.layerPrecisions,
                                 quantizations: parameters.quantizations, int8Input: int8Input, int8Output: int8Output,
                                 foldConv2x: parameters.conv2xFold != nil)
        let schedule = StreamSchedule(graph: graph, bands: bands, rowBlocks: parameters.rowBlocks)
        let rows = try schedule.windowRows(height: maxHeight, width: maxWidth)
        var requests: [MemoryPlan.Request] = []
        for buffer in 0..<schedule.bufferCount {
            let bytes = schedule.windowBytes(buffer, rows: rows[buffer], width: maxWidth)
            let passes = schedule.bufferPasses[buffer]
            requests.append(.init(name: "\(schedule.bufferNames[buffer]) [\(rows[buffer]) rows]", bytes: bytes,
                                  firstUse: passes.lowerBound, lastUse: passes.upperBound))
        }
        let plan = MemoryPlan(requests)
        // Page-aligned, which is at least MemoryPlan.alignment. Unmapping the pages (when no
        // engine holds them) unlocks them too.
        let arena = sharedArena ?? SharedArena(lockMemory: lockMemory)
        let arenaPages: PageBuffer
        (arenaPages, arenaGeneration) = try arena.reserve(bytes: plan.allocationBytes)
        guard let pool = nj_threadpool_create(Int32(threads)) else { throw EngineError.cannotStartThreads(threads) }
        self.sharedArena = arena
        self.architecture = architecture
        self.schedule = schedule
        self.maxHeight = maxHeight
        self.maxWidth = maxWidth
        self.threads = threads
        self.plan = plan
        self.secondPassBytes = plan.highWater(step: 1)
        self.plannedWindowRows = rows
        self.lockedBytes = arena.lockMemory ? arenaPages.bytes : 0
        self.weights = parameters
        // The graph's buffers, then the input windows and the output window.
        self.elementTypes = parameters.elementTypes(schedule.graph)
            + schedule.inputBuffers.map { _ in ElementType(precision: graph.inputPrecision, quantization: graph.inputQuantization) }
            + [ElementType(precision: graph.outputPrecision, quantization: graph.outputQuantization)]
        self.arenaPages = arenaPages
        self.pool = pool
        self.cursor = schedule.makeCursor()
        self.windowRows = rows
        self.frame = (maxHeight, maxWidth)
    }

    deinit {
        nj_threadpool_destroy(pool)
    }

    /// Whether a frame of this size runs in the arena planned at init.
    public func fits(height: Int, width: Int) -> Bool {
        // The frame size of the last run needs no dry run (which allocates): a batch of
        // same-sized frames stays allocation-free.
        if frame == (height, width) { return true }
        guard height <= maxHeight, width <= maxWidth, (try? Engine.checkSize(height: height, width: width)) != nil,
              let rows = try? schedule.windowRows(height: height, width: width) else { return false }
        return (0..<schedule.bufferCount).allSatisfy {
            rows[$0] * (width / schedule.bufferDivisor[$0]) <= plannedWindowRows[$0] * (maxWidth / schedule.bufferDivisor[$0])
        }
    }

    /// Restores one frame: rows come from `source` and leave through `sink` as they finish.
    public func run<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try Engine.checkSize(height: height, width: width)
        if frame != (height, width) {
            let rows = try schedule.windowRows(height: height, width: width)
            for buffer in 0..<schedule.bufferCount
            where rows[buffer] * (width / schedule.bufferDivisor[buffer]) > plannedWindowRows[buffer] * (maxWidth / schedule.bufferDivisor[buffer]) {
                throw EngineError.frameTooLarge(height: height, width: width, maxHeight: maxHeight, maxWidth: maxWidth)
            }
            windowRows = rows
            frame = (height, width)
        }
        // The executor reaches the caller's sink through a pointer: a copy would share storage
        // with it, and the first row stored would duplicate whatever the sink holds (a rotated
        // PNG holds its whole frame) by copy-on-write.
        try withUnsafeMutablePointer(to: &sink) { sink in
            var executor = Executor(engine: self, schedule: schedule, arena: arena, offsets: plan.offsets, windowRows: windowRows,
                                    height: height, width: width, source: source, sink: sink)
            try schedule.run(height: height, width: width, cursor: &cursor, actions: &executor)
        }
    }

    /// Counters for this engine's steps, to attach as `stepTimes`.
    public func makeStepTimes() -> StepTimes { StepTimes(steps: schedule.nodeCount) }

    /// `times` by layer: each convolution on its own (in the architecture's order; a layer with
    /// another folded into it, int8's conv_2_8_32 and conv2x, is one row for both), then the
    /// steps that are not convolutions by kind (unshuffles, LeakyReLUs, copies and conversions,
    /// the network input); kinds that never ran are left out.
    public func layerTimes(_ times: StepTimes) -> [LayerTime] {
        var layers = schedule.convolutions.enumerated().map { LayerTime(name: $0.element.name, layer: $0.offset, seconds: 0, calls: 0) }
        var folded: Set<Int> = []
        for node in 0..<schedule.nodeCount {
            if case .convolution(let layer, _, _, _, _, _, let fold?)? = schedule.step(node) {
                layers[layer].folded = fold.layer
                layers[layer].name += " + " + schedule.convolutions[fold.layer].name
                folded.insert(fold.layer)
            }
        }
        let kinds = ["unshuffles", "LeakyReLUs", "copies and conversions", "network input"]
        var other = kinds.map { LayerTime(name: $0, layer: nil, seconds: 0, calls: 0) }
        for node in 0..<schedule.nodeCount {
            let (seconds, calls) = times.total(step: node)
            func add(_ row: inout LayerTime) {
                row.seconds += seconds
                row.calls += calls
            }
            switch schedule.step(node) {
            case .convolution(let layer, _, _, _, _, _, _)?: add(&layers[layer])
            case .unshuffle?: add(&other[0])
            case .leakyReLU?: add(&other[1])
            case .copy?: add(&other[2])
            case nil: add(&other[3])
            }
        }
        return layers.filter { !folded.contains($0.layer!) } + other.filter { $0.calls > 0 }
    }

    /// Convenience for whole arrays: `input` height×width, `output` 3×height×width (clamped).
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, height: Int, width: Int) throws {
        var sink = PlanarOutput(base: output, height: height)
        try run(height: height, width: width, source: PlanarInput(base: input), sink: &sink)
    }

    // MARK: - Execution

    /// Gives the pages of the first pass's windows back once the second pass delivers its first
    /// rows, before the row consumer (colour stage, PNG writer) first touches its own memory: a
    /// lone frame then peaks at the larger of the two passes' memory rather than their sum (an
    /// int8 12.1 MP frame: 1.9 MB less). A frame after it takes the pages again (about 460 page
    /// faults). Locked arenas keep theirs (`madvise` cannot drop locked pages).
    func releaseFirstPassPages() {
        if lockedBytes == 0 { arenaPages.release(secondPassBytes..<arenaPages.bytes) }
    }

    /// Turns the schedule's decisions into kernel calls on the arena's windows.
    private struct Executor<Source: NetworkRowSource, Sink: NetworkRowSink>: StreamActions {
        /// The engine runs the executor inside its own `run`, so it outlives it.
        unowned(unsafe) let engine: StreamingEngine
        /// The engine's schedule and windows, taken once per frame: read through the engine at
        /// every step (thousands a frame), the schedule was copied each time, its arrays
        /// retained and released, and the engine's `var`s checked for exclusive access.
        let schedule: StreamSchedule
        let arena: UnsafeMutableRawPointer
        let offsets: [Int]
        let windowRows: [Int]
        let height: Int
        let width: Int
        let source: Source
        let sink: UnsafeMutablePointer<Sink>

        /// A buffer's window: a ring of `rows` rows per channel (image row y at ring row
        /// y mod rows), so rows are never moved: a new row overwrites one no reader needs.
        func window(_ buffer: Int) -> Ring {
            let divisor = schedule.bufferDivisor[buffer]
            let planeWidth = width / divisor
            let rows = windowRows[buffer]
            return Ring(raw: arena + offsets[buffer], elementBytes: schedule.bufferPrecisions[buffer].elementBytes,
                        width: planeWidth, rows: rows, channelStride: rows * planeWidth)
        }

        /// The ring of a slice: its first channel, and the stride between its channels.
        func address(_ slice: NetworkGraph.Slice, buffer: Int) -> Ring {
            var w = window(buffer)
            w.raw += slice.channelOffset * w.channelStride * w.elementBytes
            w.channelStride *= slice.channelStride
            return w
        }

        func reserve(buffer: Int, rows: Int) throws {
            guard rows <= windowRows[buffer] else {
                throw EngineError.internalInconsistency("window \(schedule.bufferNames[buffer]) needs \(rows) rows, has \(windowRows[buffer])")
            }
        }

        mutating func deliver(rows: Range<Int>, cursor: StreamSchedule.Cursor) throws {
            if cursor.delivered == 0 { engine.releaseFirstPassPages() }
            let w = window(schedule.outputBuffer)
            let encoding = engine.elementTypes[schedule.outputBuffer].quantization
            for piece in w.contiguous(rows) {
                let start = w.rawRow(piece.lowerBound, channel: 0)
                try sink.pointee.consume(encoding.map {
                    NetworkOutputRows(rows: piece, codes: UnsafePointer(start.assumingMemoryBound(to: Int8.self)), encoding: $0,
                                      channelStride: w.channelStride, width: w.width)
                } ?? NetworkOutputRows(rows: piece, start: UnsafePointer(start.assumingMemoryBound(to: Float.self)),
                                       channelStride: w.channelStride, width: w.width))
            }
        }

        func compute(node: Int, rows: Range<Int>, cursor: StreamSchedule.Cursor) throws {
            guard let times = engine.stepTimes else { return try computeStep(node: node, rows: rows) }
            let start = ProcessMetrics.nanoseconds()
            try computeStep(node: node, rows: rows)
            times.add(step: node, nanoseconds: ProcessMetrics.nanoseconds() - start)
        }

        private func computeStep(node: Int, rows: Range<Int>) throws {
            let outBuffer = schedule.outputBuffer(of: node)
            let pool = engine.pool
            guard let step = schedule.step(node) else {
                // A source: `rows` of a split input are split · rows pairs of mosaic rows, shared
                // out by pairs (the 1/32 branch takes one row of 32 pairs at a time).
                let w = window(outBuffer), split = schedule.sourceSplit(node)!
                let element = engine.inputElement
                for piece in w.contiguous(rows) {
                    let pairs = (piece.lowerBound * split)..<(piece.upperBound * split)
                    parallelFor(pool, pairs.count, (source, pairs, split, w, element)) { c, part in
                        let (source, pairs, split, w, element) = c
                        let mine = (pairs.lowerBound + part.lowerBound)..<(pairs.lowerBound + part.upperBound)
                        source.fill(pairs: mine, split: split,
                                    into: NetworkInputPlanes(base: w.rawRow(mine.lowerBound / split, channel: 0), element: element,
                                                             channelStride: w.channelStride, width: w.width))
                    }
                }
                return
            }
            let inBuffers = schedule.inputBuffers(of: node)
            switch step {
            case .convolution(let layer, let input, let output, let residual, let leakyReLU, let depthToSpace, let fold):
                let spec = schedule.convolutions[layer]
                let src = address(input, buffer: inBuffers[0])
                let dst = address(output, buffer: outBuffer)
                let res = residual.map { address($0, buffer: inBuffers[1]) }
                let foldSource = fold.map { address($0.input, buffer: inBuffers[inBuffers.count - 1]) }
                // The geometry is the same for every precision; pointers and parameters differ.
                func geometry<Args: ConvolutionGeometry>(_ args: inout Args) {
                    args.input_channel_stride = src.channelStride
                    args.input_rows = Int32(src.rows)
                    args.output_channel_stride = dst.channelStride
                    args.output_rows = Int32(dst.rows)
                    if let res {
                        args.residual_channel_stride = res.channelStride
                        args.residual_rows = Int32(res.rows)
                    }
                    args.in_channels = Int32(spec.inChannels)
                    args.out_channels = Int32(spec.outChannels)
                    args.groups = Int32(spec.groups)
                    args.kernel_size = Int32(spec.kernel)
                    args.height = Int32(height / input.divisor)
                    args.width = Int32(src.width)
                    // Rows of the convolution itself: with a depth-to-space output, `rows` are
                    // rows of the shuffled output (multiples of the factor).
                    args.row_begin = Int32(rows.lowerBound / depthToSpace)
                    args.row_end = Int32(rows.upperBound / depthToSpace)
                    args.output_depth_to_space = Int32(depthToSpace)
                }
                let activation = Int32(leakyReLU ? NJ_ACTIVATION_LEAKY_RELU.rawValue : NJ_ACTIVATION_NONE.rawValue)
                // One path for every family: geometry, operands, parameters, the pool's split.
                func convolve<Call: ConvolutionCall>(_: Call.Type) {
                    var args = Call()
                    geometry(&args)
                    args.setOperands(input: UnsafeRawPointer(src.raw), output: dst.raw, residual: res.map { UnsafeRawPointer($0.raw) })
                    if let fold, let foldSource {
                        args.setFold(fold, input: UnsafeRawPointer(foldSource.raw), channelStride: foldSource.channelStride,
                                     rows: foldSource.rows, schedule.convolutions)
                    }
                    let kernel = args.bind(engine.weights, layer: layer)
                    args.setActivation(activation, negativeSlope: Architecture.leakySlope)
                    Call.run(pool, kernel, &args)
                }
                switch engine.weights.kernels[layer] {
                case .fp32: convolve(nj_conv2d_f32_args.self)
                case .fp16: convolve(nj_conv2d_f16_args.self)
                case .int8: convolve(nj_conv2d_qs8_args.self)
                }
            case .unshuffle(let input, let channels, let factor, let output):
                let src = address(input, buffer: inBuffers[0])
                let dst = address(output, buffer: outBuffer)
                parallelFor(pool, channels, (src, dst, factor, rows)) { c, part in
                    let (src, dst, factor, rows) = c
                    nj_pixel_unshuffle(src.elementBytes, src.rawRow(0, channel: part.lowerBound), src.channelStride,
                                       Int32(src.rows), Int32(part.count), Int32(src.width), Int32(factor),
                                       Int32(rows.lowerBound), Int32(rows.upperBound),
                                       dst.rawRow(0, channel: part.lowerBound * factor * factor), dst.channelStride, Int32(dst.rows))
                }
            case .leakyReLU(let input, let output, let channels), .copy(let input, let output, let channels):
                let src = address(input, buffer: inBuffers[0])
                let dst = address(output, buffer: outBuffer)
                let isCopy: Bool
                if case .copy = step { isCopy = true } else { isCopy = false }
                let types = (engine.elementTypes[inBuffers[0]], engine.elementTypes[outBuffer])
                parallelFor(pool, channels, (src, dst, rows, isCopy, types)) { c, part in
                    let (src, dst, rows, isCopy, types) = c
                    for channel in part {
                        // Row by row: the two rings wrap at different rows.
                        for y in rows {
                            let from = src.rawRow(y, channel: channel), to = dst.rawRow(y, channel: channel)
                            if isCopy {
                                ElementRows.convert(from, types.0, to: to, types.1, count: src.width)
                            } else {
                                ElementRows.leakyReLU(from, to: to, types.0, count: src.width, slope: Architecture.leakySlope)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The geometry fields the convolution argument structs of every precision share (the same
/// names and types in C), so one function fills them for all.
protocol ConvolutionGeometry {
    var input_channel_stride: Int { get set }
    var input_rows: Int32 { get set }
    var output_channel_stride: Int { get set }
    var output_rows: Int32 { get set }
    var residual_channel_stride: Int { get set }
    var residual_rows: Int32 { get set }
    var in_channels: Int32 { get set }
    var out_channels: Int32 { get set }
    var groups: Int32 { get set }
    var kernel_size: Int32 { get set }
    var height: Int32 { get set }
    var width: Int32 { get set }
    var row_begin: Int32 { get set }
    var row_end: Int32 { get set }
    var output_depth_to_space: Int32 { get set }
    var weight_stride: Int32 { get set }
}

extension nj_conv2d_f32_args: ConvolutionGeometry {}
extension nj_conv2d_f16_args: ConvolutionGeometry {}
extension nj_conv2d_qs8_args: ConvolutionGeometry {}

/// A window: `rows` rows of `width` elements per channel, image row y at ring row y mod rows.
struct Ring {
    var raw: UnsafeMutableRawPointer
    let elementBytes: Int
    let width: Int
    let rows: Int
    /// In elements.
    var channelStride: Int

    /// The first channel's first element, for FP32 windows.
    var base: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }

    /// Image row `y` of the first channel, for FP32 windows.
    @inline(__always)
    func row(_ y: Int) -> UnsafeMutablePointer<Float> { base + (y % rows) * width }

    /// Image row `y` of `channel`, for any element type.
    @inline(__always)
    func rawRow(_ y: Int, channel: Int) -> UnsafeMutableRawPointer { raw + ((y % rows) * width + channel * channelStride) * elementBytes }

    /// `range` cut where it wraps around the ring: at most two pieces, each contiguous in memory.
    @inline(__always)
    func contiguous(_ range: Range<Int>) -> RingPieces { RingPieces(range: range, rows: rows) }
}

/// The pieces of a row range that are contiguous in a ring (no allocation).
struct RingPieces: Sequence, IteratorProtocol {
    var range: Range<Int>
    let rows: Int

    mutating func next() -> Range<Int>? {
        guard !range.isEmpty else { return nil }
        let end = Swift.min(range.upperBound, range.lowerBound + rows - range.lowerBound % rows)
        defer { range = end..<range.upperBound }
        return range.lowerBound..<end
    }
}

/// Runs `body(context, range)` on [0, count) cut into chunks for the threads of `pool` (all in
/// this thread when the pool has one). `body` runs concurrently on disjoint ranges, so it must
/// only write what its range owns. With `fixedSplit`, each thread takes the same range at every
/// call (nj_threadpool_parallel_for_fixed) instead of chunks handed out as threads come.
///
/// No heap allocation: `body` captures nothing (what it needs comes in as `context`), and the
/// pair travels to the C pool as a pointer to a stack slot. A capturing closure would not do:
/// `withoutActuallyEscaping` boxes its closure on the heap at every call.
@inline(__always)
func parallelFor<Context>(_ pool: OpaquePointer, _ count: Int, _ context: Context, fixedSplit: Bool = false,
                                  _ body: @escaping (Context, Range<Int>) -> Void) {
    withRangeTask(context, body) { run, argument in
        if fixedSplit {
            nj_threadpool_parallel_for_fixed(pool, Int32(count), run, argument)
        } else {
            nj_threadpool_parallel_for(pool, Int32(count), run, argument)
        }
    }
}

/// Runs `body(context, range)` over [0, count) on the pool's workers, this thread not among
/// them, while this thread runs `meanwhile`, and returns `meanwhile`'s result once both are
/// done (nj_threadpool_post and nj_threadpool_join): for a pipeline of two stages, such as the
/// decoder's next rows read on this thread while the workers take the rows before them. Without
/// a pool, or with one thread, `body` runs whole on this thread first. `body` must not touch
/// what `meanwhile` does, and `meanwhile` must not use the pool. If `meanwhile` throws, the
/// workers are waited for before the error goes on. No heap allocation (as `parallelFor`).
@inline(__always)
func parallelForBehind<Context, Result>(_ pool: OpaquePointer?, _ count: Int, _ context: Context,
                                        _ body: @escaping (Context, Range<Int>) -> Void,
                                        meanwhile: () throws -> Result) rethrows -> Result {
    guard let pool, nj_threadpool_size(pool) > 1 else {
        if count > 0 { body(context, 0..<count) }
        return try meanwhile()
    }
    return try withRangeTask(context, body) { run, argument in
        // The workers read the job after post returns: it needs a stable address.
        var job = nj_posted_range()
        return try withUnsafeMutablePointer(to: &job) { job in
            nj_threadpool_post(pool, job, Int32(count), run, argument)
            defer { nj_threadpool_join(pool, job) }
            return try meanwhile()
        }
    }
}

/// `body` with its `context` as the C pool's range task: `use` gets the callback and its
/// argument, valid while it runs. The pair travels as a pointer to a stack slot.
@inline(__always)
private func withRangeTask<Context, Result>(_ context: Context, _ body: @escaping (Context, Range<Int>) -> Void,
                                            _ use: (nj_range_task, UnsafeMutableRawPointer) throws -> Result) rethrows -> Result {
    var task = ParallelTask(context: context, body: body)
    return try withUnsafeMutablePointer(to: &task) { pointer in
        var erased = ErasedParallelTask(task: UnsafeMutableRawPointer(pointer)) { raw, range in
            let task = raw.assumingMemoryBound(to: ParallelTask<Context>.self)
            task.pointee.body(task.pointee.context, range)
        }
        return try withUnsafeMutablePointer(to: &erased) { erased in
            let run: nj_range_task = { context, begin, end in
                let erased = context!.assumingMemoryBound(to: ErasedParallelTask.self)
                erased.pointee.invoke(erased.pointee.task, Int(begin)..<Int(end))
            }
            return try use(run, UnsafeMutableRawPointer(erased))
        }
    }
}

/// A typed task and its context, on the caller's stack.
private struct ParallelTask<Context> {
    let context: Context
    let body: (Context, Range<Int>) -> Void
}

/// The same with the context's type erased, for the C callback (which cannot be generic).
private struct ErasedParallelTask {
    let task: UnsafeMutableRawPointer
    let invoke: (UnsafeMutableRawPointer, Range<Int>) -> Void
}
