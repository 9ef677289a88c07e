import Glibc
import NightjarIOShims
import NightjarKernels

/// Every per-frame buffer of a capture restore but the network's arena (which `FrameEngine`
/// owns), made once per process and reused frame after frame, so that restoring a frame makes
/// no heap allocation once the workspace has held a frame of its size (see
/// `restoreFrame(from:to:options:network:text:displayPath:)` for exactly what that covers):
/// - the visible mosaic the RAW decoder fills (2 bytes per pixel; with `mosaicCodes`, for an
///   int8 network, 1 byte per pixel: `MosaicCodebook`'s 8-bit codes, made from the decoder's
///   rows read twice through a ring of rows, with the codebook's tables);
/// - the normalisation table and the amplifier's histogram, each 4 CFA sites × 65536 raw values
///   (of which a frame touches only up to its largest raw value: 64 KiB each for 12-bit data;
///   the histogram's pages are given back once the amplifier has run);
/// - the network input's column map (one `Int` per padded column);
/// - one PNG row (16-bit worst case) and, from the first rotated frame on, the held frame of a
///   rotated capture (3 samples per pixel, 1 byte each for 8-bit output, 2 for 16-bit);
/// - the PNG encoder's pieces in flight, its compressors' deflate states and its output buffer
///   (`PNGEncoder`; its compressor threads start with the first frame);
/// - the decoder's scratch: LibRaw's info record, the isolated decoder's child record, the
///   message buffer.
///
/// Two ways, as with `FrameEngine`:
/// - growing (`init()`): sized by the first frame, grown (once) by a larger one;
/// - fixed (`init(maximumWidth:maximumHeight:)`): everything but the held frame allocated at
///   start-up for frames up to that visible size in either orientation; a larger frame is
///   refused with `CaptureError.exceedsMemoryPlan` before its pixels are read.
///
/// Large buffers are mapped pages of their own (`PageBuffer`): resident only once written, and
/// not mapped into the forked decoder child. One frame at a time: not for concurrent use.
public final class CaptureWorkspace {
    /// The largest visible frame of a fixed workspace, or nil for a growing one.
    public let maximumSize: (width: Int, height: Int)?
    /// Frames of up to this many visible pixels whose longer side is at most `capacitySide`
    /// fit the buffers as they are now.
    public private(set) var capacityPixels = 0
    public private(set) var capacitySide = 0

    /// Raw values of a 16-bit sensor, per CFA site (the histograms' counts per site).
    static let rawValues = CapturePipeline.histogramStride
    /// The ring the decoder's rows pass through on their way into 8-bit codes.
    static let ringBytes = 256 * 1024
    /// Codes: the frame is held as 8-bit codes (1 byte per pixel) instead of raw values.
    public let mosaicCodes: Bool

    // The decoder's scratch: one set for the frame in hand, one for the file decoding ahead
    // (swapped when that file's turn comes).
    private(set) var info: UnsafeMutablePointer<nj_raw_info>
    private(set) var child: UnsafeMutablePointer<nj_raw_child>
    private(set) var message: UnsafeMutableBufferPointer<CChar>
    private var aheadInfo: UnsafeMutablePointer<nj_raw_info>
    private var aheadChild: UnsafeMutablePointer<nj_raw_child>
    private var aheadMessage: UnsafeMutableBufferPointer<CChar>
    /// The file whose decoder child runs ahead, with the settings it was started with, and the
    /// code of its header once read (nil: not read yet).
    private var ahead: (path: String, maxPixels: Int, timeout: Double, header: Int32?)?

    private var mosaic: PageBuffer?
    private var table: PageBuffer?
    private var counts: PageBuffer?
    private var columns: PageBuffer?
    private var row: PageBuffer?
    private var held: PageBuffer?
    /// Rows of a headerless sensor dump pass through this on their way into `mosaic`.
    private var dumpRows: PageBuffer?
    /// Codes: the decoder's rows on their way into codes; each raw value's code per frame site
    /// (4 × 65536 bytes); the codebook (per frame site 256 raw values as `Double`, 256 last raw
    /// values as `Int`, 256 normalised values as `Float`).
    private var ring: PageBuffer?
    private var codeOf: PageBuffer?
    private var codebook: PageBuffer?
    /// The largest raw value of the frame in hand, found as it was decoded.
    private var decodedMaxRaw = 0
    /// The network's worker pool while a frame decodes (nil otherwise): see `storeMosaic` and
    /// `storeCodes`.
    private var decodePool: OpaquePointer?
    /// The network that restores the frame being decoded (nil otherwise): made ready for the
    /// frame's size as soon as the decoder knows it (`reserveNetwork`).
    private var decodeNetwork: (any FrameNetwork)?
    let encoder: PNGEncoder
    /// The camera colour stage's rings (a few MB at most, grown with the frame width).
    let colourMemory = ColourMemory()

    /// A growing workspace: nothing frame-sized until the first frame. `pngThreads`: the PNG
    /// encoder's compressor threads (a restorer gives its engine's thread count).
    public convenience init(pngThreads: Int = 1, mosaicCodes: Bool = false) {
        self.init(limit: nil, pngThreads: pngThreads, mosaicCodes: mosaicCodes)
    }

    /// A fixed workspace for frames of up to `maximumWidth` × `maximumHeight` visible pixels
    /// (in either orientation), allocated now.
    public convenience init(maximumWidth: Int, maximumHeight: Int, pngThreads: Int = 1, mosaicCodes: Bool = false) throws {
        guard maximumWidth >= 1, maximumHeight >= 1 else {
            throw CaptureError.invalidArgument("the workspace's maximum frame size must be at least 1x1")
        }
        self.init(limit: (maximumWidth, maximumHeight), pngThreads: pngThreads, mosaicCodes: mosaicCodes)
        do {
            try allocate(pixels: maximumWidth * maximumHeight, side: max(maximumWidth, maximumHeight), path: "")
        } catch {
            throw CaptureError.invalidArgument("not enough memory for frames of \(maximumWidth)x\(maximumHeight) pixels")
        }
    }

    private init(limit: (width: Int, height: Int)?, pngThreads: Int, mosaicCodes: Bool) {
        maximumSize = limit
        self.mosaicCodes = mosaicCodes
        encoder = PNGEncoder(compressors: pngThreads)
        info = .allocate(capacity: 1)
        info.initialize(to: nj_raw_info())
        child = .allocate(capacity: 1)
        child.initialize(to: nj_raw_child())
        message = .allocate(capacity: 512)
        message.initialize(repeating: 0)
        aheadInfo = .allocate(capacity: 1)
        aheadInfo.initialize(to: nj_raw_info())
        aheadChild = .allocate(capacity: 1)
        aheadChild.initialize(to: nj_raw_child())
        aheadMessage = .allocate(capacity: 512)
        aheadMessage.initialize(repeating: 0)
    }

    deinit {
        cancelDecodeAhead()
        for pointer in [info, aheadInfo] as [UnsafeMutablePointer<nj_raw_info>] { pointer.deallocate() }
        child.deallocate()
        aheadChild.deallocate()
        message.deallocate()
        aheadMessage.deallocate()
    }

    // MARK: - Decoding ahead

    /// Starts decoding `path` in a decoder child of its own (the isolated decoder) and returns
    /// at once, so that LibRaw reads the next file of a batch or a daemon's queue while this
    /// process runs the current frame through the network. The child keeps its decoded mosaic
    /// (in LibRaw's buffer: the decoder child's memory that `footprint` counts) until
    /// `restoreFrame` of the same path with the same limits takes it; another path cancels it.
    /// Headerless sensor dumps (read without LibRaw), the in-process decoder, and files that
    /// fail the checks before LibRaw are left to `restoreFrame`, which reports their errors.
    func decodeAhead(path: String, options: RestoreOptions) {
        cancelDecodeAhead()
        guard options.isolateDecoder, !SensorDump.isHeaderlessDump(path: path),
              (try? RawDecoder.checkReadable(path, maxPixels: options.maxPixels)) != nil else { return }
        var decoder = RawDecoder(maxPixels: options.maxPixels, isolated: true, timeoutSeconds: options.decodeTimeoutSeconds)
        decoder.passes = mosaicCodes ? 2 : 1
        let started: Bool = withPathBytes(path) { cPath in
            (try? decoder.start(path, cPath, child: aheadChild, message: aheadMessage)) != nil
        }
        if started { ahead = (path, options.maxPixels, options.decodeTimeoutSeconds, nil) }
    }

    /// The file decoding ahead, if any.
    var decodingAhead: String? { ahead?.path }

    /// Ends a decoder child running ahead, if any.
    func cancelDecodeAhead() {
        nj_raw_isolated_cancel(aheadChild)
        ahead = nil
    }

    /// When the frame at `path` was taken, from its own metadata (LibRaw's timestamp: DNG or
    /// EXIF DateTimeOriginal), in seconds since 1970; nil when the file records none or cannot
    /// be read (`restoreFrame` then reports why). Starts decoding it ahead when that is not yet
    /// under way and waits for the decoder's header, which `restoreFrame` then uses.
    func captureTime(path: String, options: RestoreOptions, progress: (() -> Void)? = nil) -> Int? {
        if ahead?.path != path || ahead?.maxPixels != options.maxPixels || ahead?.timeout != options.decodeTimeoutSeconds {
            decodeAhead(path: path, options: options)
        }
        guard var pending = ahead else { return nil }
        if pending.header == nil {
            pending.header = RawDecoder.header(child: aheadChild, info: aheadInfo, message: aheadMessage, progress: progress)
            ahead = pending
        }
        guard pending.header == Int32(NJ_RAW_OK), aheadInfo.pointee.timestamp > 0 else { return nil }
        return Int(aheadInfo.pointee.timestamp)
    }

    /// Bytes mapped now (resident only where written).
    public var mappedBytes: Int {
        [mosaic, table, counts, columns, row, held, dumpRows, ring, codeOf, codebook].reduce(0) { $0 + ($1?.bytes ?? 0) } + encoder.poolCapacity
            + colourMemory.bytes
    }

    // MARK: - Capacity

    /// Makes room for a frame of `width` × `height` visible pixels: nothing when it fits, else
    /// grows (growing workspace) or refuses (fixed).
    func reserve(width: Int, height: Int, path: String) throws {
        let pixels = width * height, side = max(width, height)
        if pixels <= capacityPixels, side <= capacitySide { return }
        if let limit = maximumSize {
            throw CaptureError.exceedsMemoryPlan(path: path, width: width, height: height,
                                                 maxWidth: limit.width, maxHeight: limit.height)
        }
        try allocate(pixels: max(pixels, capacityPixels), side: max(side, capacitySide), path: path)
    }

    private func allocate(pixels: Int, side: Int, path: String) throws {
        // The old buffers go first, so growing never holds both sizes.
        (mosaic, columns, row, held) = (nil, nil, nil, nil)
        (capacityPixels, capacitySide) = (0, 0)
        let bytes = (mosaic: (mosaicCodes ? 1 : 2) * pixels, columns: MemoryLayout<Int>.stride * FramePadding.paddedLength(side), row: 6 * side)
        if table == nil { table = PageBuffer(bytes: 4 * Self.rawValues * MemoryLayout<Float>.stride) }
        if counts == nil { counts = PageBuffer(bytes: 4 * Self.rawValues * MemoryLayout<UInt32>.stride) }
        if mosaicCodes {
            if ring == nil || ring!.bytes < Self.ringBytes(side: side) {
                ring = nil
                ring = PageBuffer(bytes: Self.ringBytes(side: side))
            }
            if codeOf == nil { codeOf = PageBuffer(bytes: 4 * Self.rawValues) }
            if codebook == nil { codebook = PageBuffer(bytes: 4 * MosaicCodebook.codes * (8 + 8 + 4)) }
            guard ring != nil, codeOf != nil, codebook != nil else {
                throw CaptureError.noRoom(path: path, reason: "cannot map the mosaic codes' tables" + addressSpaceLimitHint())
            }
        }
        guard table != nil, counts != nil, let mosaic = PageBuffer(bytes: bytes.mosaic),
              let columns = PageBuffer(bytes: bytes.columns), let row = PageBuffer(bytes: bytes.row) else {
            throw CaptureError.noRoom(path: path, reason: "cannot map \(bytes.mosaic + bytes.columns + bytes.row) bytes" + addressSpaceLimitHint())
        }
        guard encoder.reserve(rowBytes: 6 * side) else {
            throw CaptureError.noRoom(path: path, reason: "cannot map the PNG writer's memory" + addressSpaceLimitHint())
        }
        (self.mosaic, self.columns, self.row) = (mosaic, columns, row)
        (capacityPixels, capacitySide) = (pixels, side)
    }

    /// The held frame of a rotated capture at `bits`, made on first need for the capacity.
    private func heldFrame(bits: Int, path: String) throws -> UnsafeMutableRawPointer {
        let bytes = 3 * capacityPixels * bits / 8
        if let held, held.bytes >= bytes { return held.base }
        held = nil
        guard let made = PageBuffer(bytes: bytes) else {
            throw CaptureError.noRoom(path: path, reason: "cannot map \(bytes) bytes for the rotated frame" + addressSpaceLimitHint())
        }
        held = made
        return made.base
    }

    // MARK: - One frame

    /// Restores one frame: decodes `inputPath` into this workspace, normalises, aligns and
    /// amplifies it, runs `network`, quantises and orients its output, and encodes the PNG to
    /// `fd` (header, `text` chunks, every row), leaving the image open for `finishPNG` to add
    /// the trailing text and the end of the file.
    ///
    /// This is the allocation-free region: once the workspace has held a frame at least this
    /// large (and, for a rotated frame, a rotated one at this depth) and the network has run a
    /// frame of this size, it makes no heap allocation in this process. The decoder's child
    /// process allocates (LibRaw) in its own address space; with `options.isolateDecoder` false,
    /// LibRaw runs in this process and allocates here.
    /// Not in it (the caller does them): checking and naming files, opening `fd`, packing `text`,
    /// the report, the trailer's JSON, ending the PNG, closing and renaming the file.
    ///
    /// On an error the image is abandoned (the caller removes the file); errors are
    /// `CaptureError`s naming `inputPath`, or `displayPath` for output errors.
    ///
    /// Pre-specialised for the two engines: called from generic code (`restoreCapture`, a batch),
    /// it then still runs the engine specialised for this workspace's row source and sink;
    /// unspecialised, the engine's generic steps would box their closures.
    @_specialize(where Network == FrameEngine)
    @_specialize(where Network == StreamingEngine)
    func restoreFrame<Network: FrameNetwork>(from inputPath: String, to fd: Int32, options: RestoreOptions, network: Network,
                                             text: PNGText, displayPath: String, decodeNext: String? = nil,
                                             progress: (() -> Void)? = nil) throws -> RestoredFrame {
        func seconds(since t: UInt64) -> Double { Double(ProcessMetrics.nanoseconds() - t) / 1e9 }
        var t = ProcessMetrics.nanoseconds()
        var decoder = RawDecoder(maxPixels: options.maxPixels, isolated: options.isolateDecoder,
                                 timeoutSeconds: options.decodeTimeoutSeconds)
        decoder.passes = mosaicCodes ? 2 : 1
        // The network's threads, idle while the frame decodes, for the histogram and the codes
        // (from the first frame on: `reserveNetwork` makes them when the size is known).
        decodeNetwork = network
        decodePool = (network as? WorkerPoolOwner)?.workerPool
        defer { (decodeNetwork, decodePool) = (nil, nil) }
        var storage = Storage(workspace: self)
        let frame: DecodedFrame
        var sensor: String?
        if SensorDump.isHeaderlessDump(path: inputPath) {
            if dumpRows == nil { dumpRows = PageBuffer(bytes: 1 << 16) }
            guard let rows = dumpRows else { throw CaptureError.noRoom(path: inputPath, reason: "cannot map the dump reader's row buffer" + addressSpaceLimitHint()) }
            let dump = try SensorDump.decode(path: inputPath, candidates: options.sensorDescriptions, maxPixels: options.maxPixels,
                                             scratch: UnsafeMutableRawBufferPointer(start: rows.base, count: rows.bytes), into: &storage)
            frame = dump.frame
            sensor = dump.sensor.id
            // No camera make or model: the last LibRaw file's must not be reported for this one.
            info.pointee.make.0 = 0
            info.pointee.model.0 = 0
        } else if let pending = ahead, pending.path == inputPath, pending.maxPixels == options.maxPixels,
                  pending.timeout == options.decodeTimeoutSeconds {
            // Decoded ahead: this frame's scratch becomes the child's, the old one the next's.
            ahead = nil
            swap(&info, &aheadInfo)
            swap(&child, &aheadChild)
            swap(&message, &aheadMessage)
            frame = try decoder.finishStarted(path: inputPath, info: info, child: child, message: message, header: pending.header,
                                              progress: progress, into: &storage)
        } else {
            cancelDecodeAhead()
            frame = try decoder.decode(path: inputPath, info: info, child: child, message: message, progress: progress,
                                       into: &storage)
        }
        let decodeSeconds = seconds(since: t)
        // The next file decodes in its own child while this frame runs through the network.
        if let next = decodeNext { decodeAhead(path: next, options: options) }

        t = ProcessMetrics.nanoseconds()
        let offset = frame.cfa.rggbOffset
        let aligned = CapturePipeline.alignedSize(width: frame.width, height: frame.height, offset: offset)
        guard aligned.width >= 2, aligned.height >= 2 else {
            throw CaptureError.tooSmall(path: inputPath, width: frame.width, height: frame.height)
        }
        // The engine is made for this size before the network starts (while the frame
        // decoded, by `reserveNetwork`; here again, which then does nothing): its threads then
        // take the decoder's histogram, the colour stage and the PNG's pieces of a first frame too.
        let padded = (height: FramePadding.paddedLength(aligned.height), width: FramePadding.paddedLength(aligned.width))
        try Self.reserve(network, height: padded.height, width: padded.width, path: inputPath)
        // With int8 layers reading the input: how much of it lies above what they hold.
        let inputLimit = network.int8InputLimit
        // The decoder's pass took the mosaic's largest value and the aligned area's histogram
        // per site (for the amplifier, or the int8 input's range); codes come from raw
        // values, so the amplifier is the same.
        let histogram = counts!.pointer(to: UInt32.self)
        let maxRaw = decodedMaxRaw
        let view = mosaicCodes
            ? MosaicView(codes: mosaic!.pointer(to: UInt8.self), codeValues: codebook!.pointer(to: Double.self))
            : MosaicView(raw: mosaic!.pointer(to: UInt16.self))
        let table = table!.pointer(to: Float.self)
        CapturePipeline.fillNormalisationTable(table, black: frame.black, white: frame.white, maxRaw: maxRaw)
        var amplification = options.amplification ?? 0
        var int8InputClipped: Double?
        if options.amplification == nil {
            amplification = CapturePipeline.amplification(counts: histogram, countsStride: Self.rawValues,
                                                          offset: offset, maxRaw: maxRaw, table: table, m: options.m)
        }
        if let inputLimit {
            int8InputClipped = CapturePipeline.share(above: inputLimit, counts: histogram, countsStride: Self.rawValues, offset: offset,
                                                     maxRaw: maxRaw, table: table, amplification: amplification)
        }
        // Resident only while the amplifier runs, as when it was allocated per frame.
        counts!.release(firstBytes: counts!.bytes)
        let rows: NetworkInputRows
        if mosaicCodes {
            // The network reads codes: each code's normalised value, made as the raw table's.
            let values = codebook!.pointer(to: Double.self)
            let codeTable = UnsafeMutableRawPointer(values + 4 * MosaicCodebook.codes * 2).assumingMemoryBound(to: Float.self)
            for site in 0..<4 {
                let b = frame.black[site], range = frame.white - b
                for code in 0..<MosaicCodebook.codes {
                    codeTable[site * MosaicCodebook.codes + code] = Float(max(values[site * MosaicCodebook.codes + code] - b, 0) / range)
                }
            }
            // The raw table served the amplifier only.
            self.table!.release(firstBytes: 4 * (maxRaw + 1) * MemoryLayout<Float>.stride)
            rows = NetworkInputRows(frameWidth: frame.width, frameHeight: frame.height, cfa: frame.cfa, maxRaw: MosaicCodebook.codes - 1,
                                    amplification: amplification, table: codeTable, columns: columns!.pointer(to: Int.self), owner: self)
        } else {
            rows = NetworkInputRows(frameWidth: frame.width, frameHeight: frame.height, cfa: frame.cfa, maxRaw: maxRaw,
                                    amplification: amplification, table: table, columns: columns!.pointer(to: Int.self), owner: self)
        }
        // A frame too bright for the int8 layers runs on the fallback engine, if there is one.
        var fallback: FrameEngine?
        if let clipped = int8InputClipped, let candidate = network.int8Fallback, clipped >= candidate.share {
            fallback = candidate.network
            try Self.reserve(candidate.network, height: padded.height, width: padded.width, path: inputPath)
        }
        // The engine that runs this frame lends its threads to the colour stage and the PNG's pieces.
        let workers = (fallback as WorkerPoolOwner?) ?? (network as? WorkerPoolOwner)
        let colour = try colourStage(frame: frame, options: options, mosaic: view, width: rows.width,
                                     height: rows.height, offset: offset, amplification: amplification, workers: workers,
                                     path: inputPath)
        let prepareSeconds = seconds(since: t)

        let flip = options.rotate ? frame.flip : 0
        let outSize = CapturePipeline.orientedSize(width: rows.width, height: rows.height, flip: flip)
        let held = flip == 0 ? nil : try heldFrame(bits: options.bits, path: inputPath)
        try encoder.begin(fd: fd, width: outSize.width, height: outSize.height, bits: options.bits,
                          compressionLevel: options.compressionLevel, text: text, displayPath: displayPath, workers: workers)
        do {
            var sink = ProgressSink(inner: PNGRowSink(encoder: encoder, width: rows.width, height: rows.height, bits: options.bits,
                                                      flip: flip, row: row!.base, held: held, colour: colour.stage),
                                    progress: progress)
            t = ProcessMetrics.nanoseconds()
            do {
                let source = MosaicRowSource(input: rows, mosaic: view)
                if let fallback {
                    try fallback.restore(height: rows.paddedHeight, width: rows.paddedWidth, source: source, sink: &sink)
                } else {
                    try network.restore(height: rows.paddedHeight, width: rows.paddedWidth, source: source, sink: &sink)
                }
            } catch {
                throw Self.captureError(error, path: inputPath)
            }
            // Network time includes writing the rows it finished (they interleave).
            let networkSeconds = seconds(since: t)
            let writeStart = ProcessMetrics.nanoseconds()
            try sink.inner.finish()
            return RestoredFrame(
                frame: frame, offset: offset, width: rows.width, height: rows.height,
                paddedWidth: rows.paddedWidth, paddedHeight: rows.paddedHeight, sensor: sensor,
                outputWidth: outSize.width, outputHeight: outSize.height, amplification: amplification,
                int8InputClipped: int8InputClipped, fallback: fallback?.precision, decodeSeconds: decodeSeconds, prepareSeconds: prepareSeconds,
                networkSeconds: networkSeconds, colourSeconds: Double(sink.inner.colourNanoseconds) / 1e9,
                writeStart: writeStart, colour: colour.used)
        } catch {
            encoder.abandon()
            throw error
        }
    }

    /// `network.reserve`, its errors as a restore's.
    private static func reserve<Network: FrameNetwork>(_ network: Network, height: Int, width: Int, path: String) throws {
        do {
            try network.reserve(height: height, width: width)
        } catch {
            throw captureError(error, path: path)
        }
    }

    /// An error of the network's as the restore of `path` reports it.
    private static func captureError(_ error: Error, path: String) -> Error {
        switch error {
        case let error as CaptureError:
            return error
        case EngineError.frameTooLarge(let height, let width, let maxHeight, let maxWidth):
            return CaptureError.exceedsMemoryPlan(path: path, width: width, height: height, maxWidth: maxWidth, maxHeight: maxHeight)
        default:
            return CaptureError.network(path: path, reason: "\(error)")
        }
    }

    /// The camera colour stage for a frame, or nil for the network's colour (asked for, or the
    /// file has no usable matrix). No heap allocation once the rings are as wide as the frame;
    /// `CaptureError.noRoom` naming `path` when their mapping is refused.
    private func colourStage(frame: DecodedFrame, options: RestoreOptions, mosaic: MosaicView, width: Int,
                             height: Int, offset: (dy: Int, dx: Int), amplification: Double,
                             workers: WorkerPoolOwner?, path: String) throws -> (stage: ColourStage?, used: ColourUsed) {
        guard options.color == .camera else { return (nil, ColourUsed(mode: .network)) }
        guard let matrix = frame.calibration.cameraToSRGB else {
            return (nil, ColourUsed(mode: .network, noMatrix: true))
        }
        guard colourMemory.reserve(width: width) else {
            throw CaptureError.noRoom(path: path, reason: "cannot map the colour stage's rows" + addressSpaceLimitHint())
        }
        // Grey world: the multipliers that make the frame's mean quad neutral. Only taken when
        // used: it is a serial pass over the frame, on the main thread, before the network.
        func greyWorld() -> SIMD3<Double> {
            let means = ColourStage.quadMeans(mosaic: mosaic, frameWidth: frame.width, width: width, height: height,
                                              offset: offset, black: frame.black, white: frame.white)
            return means.min() > 0 ? SIMD3(means[1] / means[0], 1, means[1] / means[2]) : SIMD3<Double>(1, 1, 1)
        }
        var used = ColourUsed(mode: .camera, matrix: matrix)
        switch options.whiteBalance {
        case .multipliers(let given):
            (used.whiteBalance, used.whiteBalanceSource) = (given, .given)
        case .camera:
            if let asShot = frame.calibration.asShot {
                (used.whiteBalance, used.whiteBalanceSource) = (asShot, .camera)
            } else {
                (used.whiteBalance, used.whiteBalanceSource) = (greyWorld(), .autoForMissing)
            }
        case .auto:
            (used.whiteBalance, used.whiteBalanceSource) = (greyWorld(), .auto)
        }
        let stage = ColourStage(memory: colourMemory, workers: workers, width: width, height: height, bits: options.bits, mosaic: mosaic,
                                frameWidth: frame.width, offset: offset, black: frame.black, white: frame.white,
                                amplification: amplification, whiteBalance: used.whiteBalance, cameraToSRGB: matrix)
        return (stage, used)
    }

    /// Ends the PNG `restoreFrame` left open: trailing `text`, the end of the file, the
    /// buffer's last bytes to the file descriptor (which stays open). No heap allocation.
    func finishPNG(text: PNGText) throws {
        try encoder.end(text: text)
        encoder.releasePages()
        colourMemory.releasePages()
    }

    /// Drops a PNG left open, if any (after an error).
    func abandonPNG() {
        encoder.abandon()
    }

    /// The decoder's pixels go into the workspace's mosaic, grown (or refused) as needed.
    private struct Storage: MosaicStorage {
        unowned(unsafe) let workspace: CaptureWorkspace

        func store(width: Int, height: Int, cfa: CFAPattern, path: String,
                   _ fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws {
            try workspace.reserve(width: width, height: height, path: path)
            try workspace.reserveNetwork(width: width, height: height, cfa: cfa, path: path)
            if workspace.mosaicCodes {
                try workspace.storeCodes(width: width, height: height, cfa: cfa, fill)
            } else {
                try workspace.storeMosaic(width: width, height: height, cfa: cfa, fill)
            }
        }
    }

    /// Makes the network ready for a frame of this visible size (as `restoreFrame` does after
    /// decoding, where a frame too small to align is refused) before its pixels come, so that
    /// its worker threads exist for the decoder's histogram and codes.
    private func reserveNetwork(width: Int, height: Int, cfa: CFAPattern, path: String) throws {
        guard let network = decodeNetwork else { return }
        let aligned = CapturePipeline.alignedSize(width: width, height: height, offset: cfa.rggbOffset)
        guard aligned.width >= 2, aligned.height >= 2 else { return }
        try Self.reserve(network, height: FramePadding.paddedLength(aligned.height), width: FramePadding.paddedLength(aligned.width),
                         path: path)
        decodePool = (network as? WorkerPoolOwner)?.workerPool
    }

    /// Raw values: the decoder's rows go straight into the mosaic, and the workers of
    /// `decodePool` take their histogram and largest value behind the reading
    /// (`CapturePipeline.histogramWhileFilling`).
    private func storeMosaic(width: Int, height: Int, cfa: CFAPattern,
                             _ fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws {
        let pixels = mosaic!.pointer(to: UInt16.self)
        // Zero again (an earlier frame may have stopped half-way).
        counts!.release(firstBytes: counts!.bytes)
        decodedMaxRaw = try CapturePipeline.histogramWhileFilling(
            width: width, height: height, cfa: cfa, bandRows: Self.ringBandRows(width: width), counts: counts!.pointer(to: UInt32.self),
            pool: decodePool, place: { pixels + $0.lowerBound * width }, fill: fill)
    }

    /// Codes: takes the decoder's rows twice through the ring: first the largest raw value and
    /// the aligned area's histogram per site (the amplifier's, in `counts`), then, with the
    /// codebook made from it, each pixel's code into the mosaic. Both passes are C kernels
    /// (nj_u16_mosaic_histogram_rows, nj_u16_mosaic_codes_row). The ring's two halves make
    /// each pass a pipeline on the threads of `decodePool` when the network has them: this
    /// thread reads the decoder's next band into one half while the workers take the band in
    /// the other (`CapturePipeline.fillInBands`). Read and then
    /// shared out, one band after the other, the two passes took 23–24 ms of a 12.1 MP frame
    /// (Zen 4, quiet), which int8's network waited for; so, 20–22 ms.
    private func storeCodes(width: Int, height: Int, cfa: CFAPattern,
                            _ fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws {
        let ring = ring!.pointer(to: UInt16.self), bandRows = Self.ringBandRows(width: width)
        func half(_ rows: Range<Int>) -> UnsafeMutablePointer<UInt16> { ring + (rows.lowerBound / bandRows & 1) * bandRows * width }
        let counts = counts!.pointer(to: UInt32.self), stride = Self.rawValues
        // Zero again (an earlier frame may have stopped half-way).
        self.counts!.release(firstBytes: self.counts!.bytes)
        let offset = cfa.rggbOffset
        let pool = decodePool
        let maxRaw = try CapturePipeline.histogramWhileFilling(width: width, height: height, cfa: cfa, bandRows: bandRows,
                                                               counts: counts, pool: pool, place: half, fill: fill)
        decodedMaxRaw = maxRaw
        let values = codebook!.pointer(to: Double.self)
        let lasts = UnsafeMutableRawPointer(values + 4 * MosaicCodebook.codes).assumingMemoryBound(to: Int.self)
        let codeOf = codeOf!.pointer(to: UInt8.self)
        for site in 0..<4 {
            // The histogram is by site of the aligned frame; codes go by site of the frame.
            let frameSite = ((offset.dy + site / 2) & 1) * 2 + ((offset.dx + site % 2) & 1)
            _ = MosaicCodebook.build(counts: counts + site * stride, maxRaw: maxRaw, values: values + frameSite * MosaicCodebook.codes,
                                     lasts: lasts + frameSite * MosaicCodebook.codes, codeOf: codeOf + frameSite * stride)
        }
        let out = mosaic!.pointer(to: UInt8.self)
        // Shares of each band's rows on the workers.
        try CapturePipeline.fillInBands(height: height, bandRows: bandRows, pool: pool, place: half, fill: fill, parts: { $0.count },
                                        work: { rows, memory -> CodeBand in
                                            (UnsafePointer(memory), width, rows.lowerBound, out, UnsafePointer(codeOf), stride)
                                        }, Self.codeRows)
        // Only the codes are needed from here on.
        self.ring!.release(firstBytes: self.ring!.bytes)
        self.codeOf!.release(firstBytes: self.codeOf!.bytes)
    }

    /// Rows of each of the ring's two halves for a frame `width` wide (at least one); the
    /// bands of `storeMosaic` too.
    static func ringBandRows(width: Int) -> Int { max(1, ringBytes / (2 * 2 * max(width, 1))) }

    /// The ring's size for frames up to `side` wide: two halves of at least one row each.
    static func ringBytes(side: Int) -> Int { max(ringBytes, 2 * 2 * side) }

    /// A band of the ring for the second pass: its first frame row, the mosaic of codes and the
    /// sites' code tables (`stride` apart).
    private typealias CodeBand = (ring: UnsafePointer<UInt16>, width: Int, first: Int, out: UnsafeMutablePointer<UInt8>,
                                  codeOf: UnsafePointer<UInt8>, stride: Int)

    private static func codeRows(_ band: CodeBand, _ rows: Range<Int>) {
        for i in rows {
            let y = band.first + i
            let even = band.codeOf + (y & 1) * 2 * band.stride
            nj_u16_mosaic_codes_row(band.out + y * band.width, band.ring + i * band.width, band.width, even, even + band.stride)
        }
    }

    /// The camera's make and model of the last frame decoded (for its report).
    var cameraMake: String { RawDecoder.string(info.pointee.make) }
    var cameraModel: String { RawDecoder.string(info.pointee.model) }
}

/// Passes the network's rows on to `inner`, calling `progress` first for every band: proof of
/// progress during a frame (the daemon's watchdog pings), which can take longer than the
/// watchdog's interval on a small board.
struct ProgressSink<Inner: NetworkRowSink>: NetworkRowSink {
    var inner: Inner
    let progress: (() -> Void)?

    mutating func consume(_ rows: NetworkOutputRows) throws {
        progress?()
        try inner.consume(rows)
    }
}

/// What `CaptureWorkspace.restoreFrame` did: plain values, for the report.
struct RestoredFrame {
    var frame: DecodedFrame
    /// Rows and columns dropped at the top/left to reach RGGB.
    var offset: (dy: Int, dx: Int)
    /// The aligned size, the padded size the network ran at, and the written size.
    var width: Int
    var height: Int
    var paddedWidth: Int
    var paddedHeight: Int
    /// The sensor description a headerless dump was read with (nil: a file LibRaw read).
    var sensor: String?
    var outputWidth: Int
    var outputHeight: Int
    var amplification: Double
    /// The share of the input above the int8 layers' input range (nil: none reads it in int8).
    var int8InputClipped: Double?
    /// The precision of the fallback engine that ran the frame instead (nil: the network ran it).
    var fallback: Precision?
    var decodeSeconds: Double
    var prepareSeconds: Double
    var networkSeconds: Double
    /// Of `networkSeconds`, the colour step's: the camera colour stage's, or network colour's
    /// conversion of the network's output to samples.
    var colourSeconds: Double
    /// When writing began after the network (`ProcessMetrics.nanoseconds()`).
    var writeStart: UInt64
    var colour: ColourUsed
}

/// The colour a frame got, for its report.
struct ColourUsed {
    enum WhiteBalanceSource: String {
        case camera, auto, given
        /// `camera` asked for, but the file records no white balance.
        case autoForMissing = "auto (the file records no white balance)"
    }

    var mode: ColorMode
    /// Camera colour was asked for, but the file has no usable colour matrix.
    var noMatrix = false
    var matrix: ColorMatrix3?
    var whiteBalance = SIMD3<Double>(1, 1, 1)
    var whiteBalanceSource = WhiteBalanceSource.camera
}
