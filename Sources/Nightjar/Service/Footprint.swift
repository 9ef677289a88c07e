/// The memory `nightjar restore` needs for frames up to a given size, said in advance. The
/// `watch` daemon restores one frame at a time through the same `FrameEngine`, so its per-frame
/// peak is the same. Pure: everything comes from the engine's memory plan, the frame size, the
/// weights' size and a measured runtime baseline, so it can be checked in tests.
///
/// Terms of the restore process (the parent), in bytes:
/// - **runtime baseline**: the resident set of the `nightjar` executable right after start,
///   before the model is loaded (shared libraries' touched pages, the Swift runtime, Foundation).
///   Measured by the caller in the same binary, since it depends on the build and the system.
/// - **runtime growth** (`runtimeGrowthBytes`, a measured constant): what the process adds beyond
///   the terms below while loading, decoding and restoring: library code paged in later
///   (JSON parsing, the kernels, libpng, zlib) and small allocations. Measured as 2.6–2.9 MiB on
///   x86-64 Linux (frames of 1.5 to 24 MP, 1 to 16 threads); 2.75 MiB is used.
/// - **packed weights**: about 4 bytes per parameter in FP32; in FP16 2 or 4, by the kernel's
///   weight type (binary16; binary16 pairs for a 32-bit broadcast, AVX512-FP16; FP32 holding the
///   binary16 values where the kernels convert around an FP32 FMA, as on x86 without
///   AVX512-FP16); 1–2 in int8 (with the kernels' per-channel numbers); packed once by
///   `FrameEngine`. `footprint` prints the bytes per parameter it found. While the model
///   loads, the parsed tensors and the packed copy exist together, so start-up peaks at
///   baseline + growth + the parsed tensors + the packed weights (2 × weights in FP32; the model
///   file's bytes are dropped first).
/// - **decoded mosaic**: the parent holds the visible pixels LibRaw's child streamed to it as
///   `UInt16`, 2 bytes per visible pixel, for the whole frame; for an int8 network
///   (`mosaicCodes`) as 8-bit codes, 1 byte per visible pixel (`MosaicCodebook`: the child
///   sends the rows twice through a 256 KiB ring, given back with the code tables and the
///   histogram before the network runs).
/// - **input rows**: `NetworkInputRows`' normalisation table, 4 CFA sites × (largest raw value
///   + 1) floats, taken at its 16-bit worst case (1 MiB; a 12-bit sensor needs 64 KiB), and the
///   padded column map (8 bytes per padded column). No frame-sized float buffer exists. With
///   codes the raw table serves the amplifier only and is given back; the codebook (4 sites ×
///   256 codes: raw value, last raw value, normalised value; 20 KiB) stays.
/// - **arena**: the streaming engine's one allocation, `plan.arenaBytes`, planned from window
///   heights for the padded size (sides rounded up to multiples of 32). Every window is written
///   during a frame. The arena past the second pass's windows (`secondPassArenaBytes`) holds
///   first-pass windows only and is given back when the second pass begins, and the PNG
///   writer's pieces and deflate states and the colour stage's rings are given back when a
///   frame's PNG ends: those two are never resident together, so a frame counts the larger.
/// - **PNG writer**: the pieces of image data in flight (one being filled, one per compressor
///   thread, one waiting to be written, and as many again for rows reserved ahead:
///   2 × (threads + 2) slots (`PNGEncoder.slotCount`), each `pngPieceBytes` of rows in, as
///   much again for the deflated bytes, and a row), each compressor's deflate state (window
///   bits 15, memory level 8: 272 KiB) and room for a second try at a piece, the 16 KiB buffer the file is written through, and our
///   quantised row and the carried row (each `6 × width + 1` bytes at the 16-bit worst case).
///   The compressors are as many as the engine's threads, at most 4 (`pngCompressors`). With `rotated`, the writer also holds the whole
///   quantised frame (3 samples per pixel of `bits`: 3 bytes per pixel for 8-bit output, 6 for
///   16-bit), since a rotated image cannot be written in the order rows finish. Its colour stage
///   (camera colour, the default) holds rings of rows (`colourStageBytes`, 2.8 MB at 4256 wide).
///
/// All of these but the weights and the arena live in the process's `CaptureWorkspace`, made
/// for the largest frame and kept from frame to frame (the held frame from the first rotated
/// frame on); the amplifier's histogram is given back once the amplifier has run.
/// - **worker thread stacks**: 16 KiB touched per worker thread (measured about 11 KiB).
///
/// - **int8 fallback** (`--int8-fallback`, `FrameEngine.fallback`): the FP16 or FP32 engine that
///   restores frames too bright for an int8 network holds its own packed weights (packed at load,
///   beside the int8 ones and the parsed model) and its own worker threads, and plans its
///   windows in the int8 engine's arena (`SharedArena`: they never run at once), which it makes
///   larger only where its plan is. The frame keeps the int8 network's 8-bit codes, so nothing
///   else changes.
///
/// predicted peak RSS = max(start-up peak, baseline + growth + weights + mosaic + input rows +
/// max(arena, second-pass arena + PNG writer and colour stage) + held rotated frame + thread
/// stacks + the fallback's weights, thread stacks and arena growth).
///
/// The decoder child (LibRaw, forked per file) shares the parent's pages copy-on-write and adds
/// only its private memory: **LibRaw's raw buffer**, 2 bytes per readout pixel (for a size given
/// on the command line readout = visible is assumed; real sensors read a few more rows and
/// columns), plus `decoderOverheadBytes` (LibRaw's object, its file buffers, pages copied on
/// write, and a transient that grows with the frame: measured 3.4, 4.5, 5.8 and 7.8 MiB for 2.1,
/// 6, 12.1 and 24 MP frames, so 3 MiB and an eighth of the raw buffer). Its *RSS* also counts
/// the shared pages it maps: the parent's anonymous memory at fork (baseline's anonymous part
/// and the weights; not the arenas nor the workspace's buffers, which are kept out of it with
/// `MADV_DONTFORK`: the child's peak is the same in FP32 and FP16, whose arenas differ by 4.4
/// MiB) and `decoderSharedLibraryBytes` of library pages (libc, LibRaw, libstdc++; 4.1 MiB of
/// shared clean pages in the child's smaps).
///
/// The combined peak (what a systemd `MemoryMax=`, which limits the whole cgroup, must allow) is
/// the parent's peak plus the child's private memory: in a batch or daemon the child decodes the
/// next file while the parent runs the current frame at its peak (decoding ahead), and holds
/// that second mosaic in LibRaw's buffer until the parent reads it. (A DNG of plain 16-bit
/// samples is read from the file without LibRaw's buffer: the child then holds less; the
/// prediction is for the files LibRaw unpacks, and `--measure` restores such a file.) Both
/// processes map the shared slots the pixels come through (`decoderTransferBytes` of them
/// touched): counted in the parent's peak (a batch's next file is decoding during it) and in the
/// child's resident set. Not counted: the page cache for the RAW file being read and the PNG
/// being written, which the cgroup is charged for but can reclaim; the suggested `MemoryMax=`
/// adds `headroom` for it, allocator slack and page tables.
public struct MemoryFootprint: Sendable, Equatable {
    /// The resident set of the executable before any model is loaded.
    public struct RuntimeBaseline: Sendable, Equatable {
        /// VmRSS right after start.
        public var residentBytes: Int
        /// The anonymous part of it (RssAnon): a forked child maps these pages too.
        public var anonymousBytes: Int

        public init(residentBytes: Int, anonymousBytes: Int) {
            self.residentBytes = residentBytes
            self.anonymousBytes = anonymousBytes
        }
    }

    /// One window of the arena.
    public struct Buffer: Sendable, Equatable {
        public var name: String
        public var bytes: Int
        public var offset: Int
        /// Passes of the streaming schedule (0: the 1/32 branch, 1: the rest) using it.
        public var firstPass: Int
        public var lastPass: Int
        /// The buffer's scale is 1/divisor of the frame.
        public var divisor: Int
    }

    /// Arena windows grouped by scale.
    public struct Branch: Sendable, Equatable {
        public var divisor: Int
        public var buffers: Int
        /// The windows' sizes added up (windows of different passes share space, so the
        /// branches add up to more than the arena).
        public var bytes: Int

        /// "1/32 scale", "1/8 scale", "1/2 scale" (no tensor is held at full resolution).
        public var label: String { "1/\(divisor) scale" }
    }

    // MARK: Measured constants (see the type's documentation)

    public static let runtimeGrowthBytes = 2_883_584        // 2.75 MiB
    /// `decoderOverheadBytes`' fixed part.
    public static let decoderFixedOverheadBytes = 3_145_728 // 3 MiB
    public static let decoderSharedLibraryBytes = 4_718_592 // 4.5 MiB
    /// The decoder child's transfer slots (raw_isolated.c: 4 of 256 KiB), shared with the parent.
    public static let decoderTransferSlotBytes = 4 * 256 * 1024
    public static let threadStackBytes = 16_384
    /// One compressor's deflate memory (`nj_deflate_memory_bytes`).
    public static let zlibDeflateBytes = 272 * 1024 + 64
    /// The PNG writer's output buffer.
    public static let pngFixedBytes = 16 * 1024
    /// The PNG writer's compressor threads for an engine of `threads`: as many, at most 4
    /// (four keep up with the network on any board; each costs memory).
    public static func pngCompressors(threads: Int) -> Int { min(max(threads, 1), 4) }
    /// Rows per piece of image data (`PNGEncoder.defaultPieceBytes`).
    public static let pngPieceBytes = 64 * 1024
    /// 4 CFA sites × 65536 raw values × 4 bytes.
    public static let normalisationTableBytes = 4 * 65536 * 4
    /// Added to the combined peak for the suggested `MemoryMax=`.
    public static let headroom = 0.25

    // MARK: Inputs

    /// The largest frame (visible pixels) and the padded size the engine runs.
    public let width: Int
    public let height: Int
    public let paddedWidth: Int
    public let paddedHeight: Int
    public let threads: Int
    public let rotated: Bool
    /// Bits per output sample, 8 or 16 (the held rotated frame's depth).
    public let bits: Int
    public let arenaBytes: Int
    /// Where the windows the second pass uses end (`MemoryPlan.highWater(step: 1)`).
    public let secondPassArenaBytes: Int
    public let buffers: [Buffer]
    public let weightBytes: Int
    /// The model's tensors as parsed from the file (the FP32 weights, and a calibrated file's
    /// int8 numbers): alive with the packed weights while the model loads.
    public let modelBytes: Int
    public let baseline: RuntimeBaseline
    /// The frame is held as 8-bit codes (an int8 network; `CaptureWorkspace.mosaicCodes`).
    public let mosaicCodes: Bool
    /// The int8 fallback engine's memory, if there is one.
    public let fallback: Fallback?

    /// What the int8 fallback engine (`FrameEngine.fallback`) holds.
    public struct Fallback: Sendable, Equatable {
        public var precision: Precision
        public var weightBytes: Int
        public var arenaBytes: Int
        /// Its worker threads (its own pool).
        public var threads: Int

        public init(precision: Precision, weightBytes: Int, arenaBytes: Int, threads: Int) {
            (self.precision, self.weightBytes, self.arenaBytes, self.threads) = (precision, weightBytes, arenaBytes, threads)
        }
    }

    /// What the process holds more with the fallback: its weights, its threads' stacks, and the
    /// shared arena's growth where the fallback's plan is larger than the network's.
    public var fallbackBytes: Int {
        fallback.map { $0.weightBytes + max(0, $0.arenaBytes - arenaBytes) + Self.threadStackBytes * max($0.threads - 1, 0) } ?? 0
    }

    /// - Parameters:
    ///   - plan: the engine's arena plan for the padded size.
    ///   - divisors: each request's scale divisor, in the plan's request order.
    ///   - width, height: the largest frame's visible size.
    ///   - weightBytes: the packed weights (4 bytes per parameter in FP32).
    ///   - modelBytes: the parsed model's tensors (nil: as many as the packed weights, FP32).
    ///   - rotated: frames carry a non-upright orientation (the PNG writer then holds the frame).
    ///   - bits: bits per output sample, 8 (restore's default) or 16.
    public init(plan: MemoryPlan, divisors: [Int], width: Int, height: Int, weightBytes: Int, modelBytes: Int? = nil,
                baseline: RuntimeBaseline, threads: Int, rotated: Bool = false, bits: Int = 8, mosaicCodes: Bool = false,
                fallback: Fallback? = nil) {
        precondition(bits == 8 || bits == 16, "8 or 16 bits per sample")
        precondition(divisors.count == plan.requests.count, "one divisor per planned buffer")
        self.width = width
        self.height = height
        paddedWidth = FramePadding.paddedLength(width)
        paddedHeight = FramePadding.paddedLength(height)
        self.threads = threads
        self.rotated = rotated
        self.bits = bits
        arenaBytes = plan.arenaBytes
        secondPassArenaBytes = plan.highWater(step: 1)
        buffers = plan.requests.indices.map { i in
            let r = plan.requests[i]
            return Buffer(name: r.name, bytes: r.bytes, offset: plan.offsets[i], firstPass: r.firstUse,
                          lastPass: r.lastUse, divisor: divisors[i])
        }
        self.weightBytes = weightBytes
        self.modelBytes = modelBytes ?? weightBytes
        self.baseline = baseline
        self.mosaicCodes = mosaicCodes
        self.fallback = fallback
    }

    /// The engine's own plan: it requests one window per schedule buffer, in buffer order.
    /// `fallback`: the int8 fallback's engine, planned for the same size.
    public init(engine: StreamingEngine, width: Int, height: Int, baseline: RuntimeBaseline, rotated: Bool = false,
                bits: Int = 8, fallback: StreamingEngine? = nil) {
        self.init(plan: engine.plan, divisors: engine.schedule.bufferDivisor, width: width, height: height,
                  weightBytes: engine.weightBytes, modelBytes: engine.modelBytes,
                  baseline: baseline, threads: engine.threads, rotated: rotated, bits: bits,
                  mosaicCodes: engine.layerPrecisions.max() == .int8,
                  fallback: fallback.map {
                      Fallback(precision: $0.layerPrecisions.max()!, weightBytes: $0.weightBytes, arenaBytes: $0.plan.arenaBytes,
                               threads: $0.threads)
                  })
    }

    // MARK: The restore process

    public var branches: [Branch] {
        Dictionary(grouping: buffers, by: \.divisor)
            .map { Branch(divisor: $0.key, buffers: $0.value.count, bytes: $0.value.reduce(0) { $0 + $1.bytes }) }
            .sorted { $0.divisor > $1.divisor }
    }

    public var mosaicBytes: Int { (mosaicCodes ? 1 : 2) * width * height }
    /// The codebook of a frame held as codes (`CaptureWorkspace`'s, in whole pages).
    public static let codebookBytes = (4 * 256 * (8 + 8 + 4) + 4095) / 4096 * 4096
    public var inputRowsBytes: Int { (mosaicCodes ? Self.codebookBytes : Self.normalisationTableBytes) + 8 * paddedWidth }
    public var pngWriterBytes: Int {
        let outputWidth = rotated ? max(width, height) : width
        let row = 6 * outputWidth + 1
        let compressors = Self.pngCompressors(threads: threads)
        // A slot: the rows, the row above them, the deflated bytes (at most the rows and a
        // little), rounded up to whole pages.
        let slot = (2 * (Self.pngPieceBytes + row) + Self.pngPieceBytes / 1024 + 4096 + 4095) / 4096 * 4096
        // A compressor: its deflate state and room for a second try at a piece (levels above 1).
        let compressor = Self.zlibDeflateBytes + Self.pngPieceBytes + row + Self.pngPieceBytes / 1024 + 128
        return PNGEncoder.slotCount(compressors: compressors) * slot + compressors * compressor + Self.pngFixedBytes + 2 * row
            + (rotated ? heldFrameBytes : 0) + Self.colourStageBytes(width: width)
    }
    /// The camera colour stage's rings (`ColourMemory`): at quarter scale (radius 4, batches of
    /// 4 quarter rows, so 2 · 4 + 2 + 4 = 14 ring rows), rows of 4 and of 6 float planes, the 8
    /// and 6 channels filtered from them with their Double column sums, a batch of
    /// column-summed rows and one row of means, each 128-column strip's two scratch rows (with
    /// 2 · 4 columns of halo) per ring; 28 half rows of luminance (2 full rows each), two half
    /// rows of 4 planes, 12 quarter rows of 6 stored planes, one half row of 6 upsampled
    /// planes, a batch's 2 · 8 output rows of 3 samples (2 bytes at most); and an int8 frame's
    /// 4 × 256 code values as floats.
    public static func colourStageBytes(width: Int) -> Int {
        let radius = 4, batch = 4, ringRows = 2 * radius + 2 + batch, half = (width + 1) / 2, quarter = (half + 1) / 2
        let strips = (quarter + 127) / 128, scratch = strips * 2 * (128 + 2 * radius) * 4
        let statistics = quarter * (4 * ringRows * 4 + 8 * (8 + batch * 4 + 4)) + scratch
        let coefficients = quarter * (6 * ringRows * 4 + 6 * (8 + batch * 4 + 4)) + scratch
        let rows = 4 * (2 * 28 * width + 2 * 4 * half + 12 * 6 * quarter + 6 * half) + 2 * 8 * 3 * width * 2
        return statistics + coefficients + rows + 4 * 256 * 4
    }
    /// A rotated frame's quantised pixels, held until the end: 3 samples of `bits` per pixel.
    public var heldFrameBytes: Int { 3 * (bits / 8) * width * height }
    public var threadStacksBytes: Int { Self.threadStackBytes * max(threads - 1, 0) }

    /// While the model loads: its parsed tensors and the packed weights exist together.
    public var startupPeakBytes: Int {
        baseline.residentBytes + Self.runtimeGrowthBytes + modelBytes + weightBytes + (fallback?.weightBytes ?? 0)
    }

    /// While a frame runs.
    public var framePeakBytes: Int {
        baseline.residentBytes + Self.runtimeGrowthBytes + weightBytes + mosaicBytes + inputRowsBytes
            + arenaAndWriterBytes + threadStacksBytes + fallbackBytes + decoderTransferBytes
    }

    /// The arena, the PNG writer and the colour stage at a frame's peak: the first pass's
    /// windows, or the second pass's with the writer's and the stage's memory (the rotated
    /// frame the writer holds stays from the second pass to the next frame's end).
    public var arenaAndWriterBytes: Int {
        let held = rotated ? heldFrameBytes : 0
        return max(arenaBytes, secondPassArenaBytes + pngWriterBytes - held) + held
    }

    /// The restore process's peak resident set.
    public var predictedPeakRSSBytes: Int { max(startupPeakBytes, framePeakBytes) }

    // MARK: The decoder child

    /// The transfer slots' pages that a frame's pixels touch (all of them from 0.5 MP; twice
    /// the pixels' bytes for 8-bit codes, which read the frame twice).
    public var decoderTransferBytes: Int {
        let streamed = 2 * width * height * (mosaicCodes ? 2 : 1)
        return min(Self.decoderTransferSlotBytes, (streamed + 4095) / 4096 * 4096)
    }

    /// LibRaw's raw buffer: 2 bytes per readout pixel (readout = visible assumed).
    public var decoderBufferBytes: Int { 2 * width * height }
    /// What the child adds to the cgroup: memory no other process maps.
    /// LibRaw's own memory beside the raw buffer, and pages copied on write.
    public var decoderOverheadBytes: Int { Self.decoderFixedOverheadBytes + decoderBufferBytes / 8 }
    public var decoderPrivateBytes: Int { decoderBufferBytes + decoderOverheadBytes }
    /// The child's resident set as `ps` shows it.
    public var predictedDecoderPeakRSSBytes: Int {
        baseline.anonymousBytes + weightBytes + (fallback?.weightBytes ?? 0) + Self.decoderSharedLibraryBytes + decoderTransferBytes
            + decoderPrivateBytes
    }

    // MARK: Both

    /// The cgroup's peak: the restore process plus the decoder child's private memory.
    public var predictedCombinedPeakBytes: Int { max(startupPeakBytes, framePeakBytes + decoderPrivateBytes) }

    /// The combined peak plus `headroom`, rounded up to a whole MiB (systemd's "M").
    public var suggestedMemoryMaxBytes: Int {
        let withHeadroom = Int((Double(predictedCombinedPeakBytes) * (1 + Self.headroom)).rounded(.up))
        let mebibyte = 1 << 20
        return (withHeadroom + mebibyte - 1) / mebibyte * mebibyte
    }

    /// The value for a unit file, e.g. "114M".
    public var suggestedMemoryMax: String { "\(suggestedMemoryMaxBytes >> 20)M" }
}
