import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

struct FootprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint",
        abstract: "Say in advance how much memory restoring frames up to a size will take.",
        discussion: """
            Predicts the peak resident set of `nightjar restore` (and of the watch daemon, which \
            restores one frame at a time through the same engine), of LibRaw's decoder child, \
            and of both together, which is what a systemd MemoryMax= must allow; suggests a \
            MemoryMax= with headroom. The arena is planned exactly as the engine plans it; the \
            runtime baseline is this process's own resident set at start. With --board, the \
            board's cores are the default thread count and the combined peak is checked against \
            its RAM less a reserve for the operating system.
            """
    )

    @Option(help: "The Nightjar model file.")
    var model: String

    @Option(help: "The largest frame, WxH visible pixels (e.g. 4056x3040).")
    var size: FrameSize

    @Option(help: PrecisionOption.help)
    var precision: PrecisionOption?

    @Option(help: "As restore's --int8-fallback: count the fp16 or fp32 engine that restores frames too bright for an int8 model (none, fp16, fp32).")
    var int8Fallback: Int8FallbackOption = .none

    @Option(help: "Worker threads (default: the board's cores with --board, else all cores).")
    var threads: Int?

    @Option(help: "Output rows per band of the streaming engine's second pass (multiple of 8; default: 32 in int8, else 16).")
    var bandRows: Int?

    @Option(help: "1/32-scale rows per band of the streaming engine's first pass (default: 1).")
    var lowResolutionRows: Int?

    @Option(help: "A board id from boards/ (e.g. pi-zero-2w) or the path of a board profile JSON file.")
    var board: String?

    @Flag(help: "The captures carry a rotated or mirrored orientation (the PNG writer then holds the frame).")
    var rotated = false

    @Option(help: "Bits per PNG sample, as restore's --bits: 8 or 16 (the depth of a held rotated frame).")
    var bits: Int = 8

    @Flag(help: ArgumentHelp("Also restore a synthetic frame of --size (twice, as a batch does) and measure the peaks, re-measuring the runtime constants on this machine.",
                             discussion: "The constants were measured on x86-64; run this on the board itself."))
    var measure = false

    /// The measuring child (see `measured()`): restore this file and report the peaks.
    @Option(help: .hidden)
    var measureInput: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        if let threads { guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") } }
        guard size.width >= 2, size.height >= 2 else { throw ValidationError("--size must be at least 2x2") }
        guard size.width * size.height <= Self.maximumPixels else {
            throw ValidationError("--size \(size.width)x\(size.height) is beyond what restore accepts "
                                  + "(at most \(Self.maximumPixels / 1_000_000) MP)")
        }
        guard bits == 8 || bits == 16 else { throw ValidationError("--bits must be 8 or 16") }
        if let lowResolutionRows, lowResolutionRows < 1 { throw ValidationError("--low-resolution-rows must be at least 1") }
        if let bandRows, bandRows < 8 || bandRows % 8 != 0 { throw ValidationError("--band-rows must be a positive multiple of 8") }
    }

    /// `restore`'s default --max-pixels; larger frames are refused there.
    static let maximumPixels = 100_000_000

    func run() throws {
        // Before anything is loaded: the same binary and libraries as a restore at this point.
        let baseline = MemoryFootprint.RuntimeBaseline(
            residentBytes: ProcessMetrics.currentResidentBytes() ?? 0,
            anonymousBytes: ProcessMetrics.currentAnonymousResidentBytes() ?? 0)
        if measure, measureInput == nil { return try runMeasuringChild() }
        try reportingErrors {
            let profile = try board.map { name in
                try BoardProfile.resolve(name, searching: BoardProfile.searchDirectories(
                    executable: currentExecutable, environment: ProcessInfo.processInfo.environment))
            }
            let threadCount = threads ?? profile?.cores ?? Engine.availableCores
            // The model goes once the engine has packed its weights, as in `restore`; the engine
            // is planned for --size, as `restore --max-size` plans it.
            let (frameEngine, architecture, bands) = try { () throws -> (FrameEngine, String, StreamSchedule.Bands) in
                let network = try NightjarModel.load(contentsOf: URL(fileURLWithPath: model))
                let bands = requestedBands(lowResolutionRows: lowResolutionRows, outputRows: bandRows, model: network,
                                           precision: precision?.precision)
                return (try FrameEngine(model: network, threads: threadCount, bands: bands,
                                        maximumSize: (height: size.height, width: size.width), precision: precision?.precision,
                                        modelPath: model, int8Fallback: int8Fallback.precision),
                        network.architecture.description, bands)
            }()
            if let warning = frameEngine.unusedFallbackWarning(int8Fallback.precision) { StandardStream.error.write("nightjar: warning: \(warning)\n") }
            let engine = frameEngine.engine!
            let footprint = MemoryFootprint(engine: engine, width: size.width, height: size.height,
                                            baseline: baseline, rotated: rotated, bits: bits, fallback: frameEngine.fallback?.engine)
            var report = FootprintReport(model: model, architecture: architecture,
                                         precision: engine.layerPrecisions.max()!.rawValue, bands: bands, footprint: footprint,
                                         table: engine.plan.table(), board: profile)
            report.layerPrecisions = zip(engine.architecture.convolutions, engine.layerPrecisions).map {
                LayerPrecision(layer: $0.name, precision: $1.rawValue)
            }
            report.parameterCount = engine.architecture.parameterCount
            if let measureInput {
                report.measured = try Self.measureRestore(of: URL(fileURLWithPath: measureInput), engine: frameEngine, bits: bits)
                // To the parent, which prints it.
                StandardStream.error.write((json ? report.jsonString() : report.text()) + "\n")
                return
            }
            standardOutput(json ? report.jsonString() : report.text())
        }
    }

    /// `--measure`: a synthetic capture of `--size` written by a child process, then this
    /// command again in a child that restores it and measures itself. A child of its own, so
    /// that its peak and its children's (the decoder's) are restore's alone, not the scene
    /// renderer's.
    func runMeasuringChild() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nightjar-footprint-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try reportingErrors {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
            } catch {
                throw CommandFailure("cannot create a temporary directory for the measurement: \(SystemError.reason(for: error))")
            }
            defer { try? FileManager.default.removeItem(at: directory) }
            // Unpacked by LibRaw, as a camera's own format is: the decoder child's largest memory.
            let capture = try EndToEndBench.synthesize(size: size, into: directory, unpackedByLibRaw: true)
            let arguments = Array(CommandLine.arguments.dropFirst()).filter { $0 != "--measure" } + ["--measure-input", capture.path]
            let child = try ChildProcess.runCollectingStandardError(executable: currentExecutable.path, arguments: arguments)
            let text = String(decoding: child.standardError, as: UTF8.self)
            guard child.termination == .exited(status: 0) else {
                StandardStream.error.write(text)
                throw ExitStatus.failure
            }
            StandardStream.output.write(text)
        }
    }

    /// Restores `capture` twice (the second decode's child maps the arena, as in a batch) and
    /// returns this process's peak resident set and its decoder children's largest. With an
    /// int8 fallback, three times: in int8, on the fallback (made to take any frame) and in int8
    /// again, so both engines have used the shared arena and held their weights in a frame.
    static func measureRestore(of capture: URL, engine: FrameEngine, bits: Int) throws -> FootprintReport.Measured {
        ProcessMetrics.releaseFreedMemory()
        // As a `Restorer` makes it: an int8 network's holds the frame as 8-bit codes.
        let workspace = CaptureWorkspace(mosaicCodes: engine.precision == .int8)
        var options = RestoreOptions(bits: bits)
        options.overwrite = true
        let shares = engine.fallback == nil ? [Double.infinity, .infinity] : [.infinity, 0, .infinity]
        for share in shares {
            engine.fallbackShare = share
            _ = try restoreCapture(input: capture, output: capture.deletingPathExtension().appendingPathExtension("png"), options: options,
                                   modelName: "footprint", network: engine, workspace: workspace)
        }
        var children = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &children)
        return .init(peakRSSBytes: ProcessMetrics.peakResidentBytes(), decoderPeakRSSBytes: children.ru_maxrss * 1024)
    }
}

/// What `nightjar footprint` prints.
struct FootprintReport {
    var model: String
    var architecture: String
    var precision: String
    /// The precision of every convolution.
    var layerPrecisions: [LayerPrecision] = []
    /// The network's parameters (the packed weights' bytes per parameter depend on the kernels:
    /// FP16 kernels that convert around an FP32 FMA keep their weights as FP32).
    var parameterCount = 0
    var bands: StreamSchedule.Bands
    var footprint: MemoryFootprint
    var table: String
    var board: BoardProfile?
    var measured: Measured?

    /// What `--measure` measured (peak resident sets of a real restore of the frame).
    struct Measured {
        var peakRSSBytes: Int
        var decoderPeakRSSBytes: Int
    }

    init(model: String, architecture: String, precision: String, bands: StreamSchedule.Bands, footprint: MemoryFootprint,
         table: String, board: BoardProfile?) {
        (self.model, self.architecture, self.precision, self.bands) = (model, architecture, precision, bands)
        (self.footprint, self.table, self.board) = (footprint, table, board)
    }

    /// The runtime growth this machine shows: the measured peak less every other term.
    var measuredRuntimeGrowthBytes: Int? {
        measured.map { $0.peakRSSBytes - (footprint.predictedPeakRSSBytes - MemoryFootprint.runtimeGrowthBytes) }
    }

    /// LibRaw's overhead and the libraries the decoder child maps, measured the same way.
    var measuredDecoderOverheadBytes: Int? {
        measured.map { $0.decoderPeakRSSBytes - (footprint.predictedDecoderPeakRSSBytes - footprint.decoderOverheadBytes
                                                 - MemoryFootprint.decoderSharedLibraryBytes) }
    }

    /// What `--json` prints: the property names are the keys (sorted when printed).
    struct JSONReport: Encodable {
        struct Buffer: Encodable {
            var name: String
            var bytes: Int
            var offset: Int
            var first_pass: Int
            var last_pass: Int
            var divisor: Int
        }

        struct Branch: Encodable {
            var branch: String
            var divisor: Int
            var buffers: Int
            var bytes: Int
        }

        struct Board: Encodable {
            var id: String
            var name: String
            var cpu: String
            var cores: Int
            var ram_bytes: Int
            var os_reserve_bytes: Int
            var available_bytes: Int
            var fits: Bool
            var margin_bytes: Int
        }

        var model: String
        var architecture: String
        var precision: String
        var layer_precisions: [LayerPrecision]
        var width: Int
        var height: Int
        var padded_width: Int
        var padded_height: Int
        var threads: Int
        var band_rows: Int
        var low_resolution_rows: Int
        var whole_blocks: Bool
        var rotated: Bool
        var bits: Int
        var arena_bytes: Int
        var arena_buffers: [Buffer]
        var arena_by_branch: [Branch]
        var weights_bytes: Int
        var mosaic_bytes: Int
        var input_rows_bytes: Int
        var png_writer_bytes: Int
        var second_pass_arena_bytes: Int
        var arena_and_writer_bytes: Int
        var thread_stacks_bytes: Int
        /// Left out without --int8-fallback.
        var int8_fallback: String?
        var int8_fallback_bytes: Int?
        var int8_fallback_weights_bytes: Int?
        var int8_fallback_arena_bytes: Int?
        var runtime_baseline_bytes: Int
        var runtime_baseline_anonymous_bytes: Int
        var runtime_growth_bytes: Int
        var startup_peak_bytes: Int
        var frame_peak_bytes: Int
        var predicted_peak_rss_bytes: Int
        var decoder_buffer_bytes: Int
        var decoder_private_bytes: Int
        var decoder_transfer_bytes: Int
        var predicted_decoder_peak_rss_bytes: Int
        var predicted_combined_peak_bytes: Int
        var suggested_memory_max_bytes: Int
        var suggested_memory_max: String
        /// Left out without --board.
        var board: Board?
        /// Left out without --measure.
        var measured_peak_rss_bytes: Int?
        var measured_decoder_peak_rss_bytes: Int?
        var measured_runtime_growth_bytes: Int?
        var measured_decoder_overhead_bytes: Int?
    }

    var jsonReport: JSONReport {
        let f = footprint
        return JSONReport(
            model: model, architecture: architecture, precision: precision, layer_precisions: layerPrecisions,
            width: f.width, height: f.height, padded_width: f.paddedWidth, padded_height: f.paddedHeight,
            threads: f.threads, band_rows: bands.outputRows, low_resolution_rows: bands.lowResolutionRows,
            whole_blocks: bands.wholeBlocks, rotated: f.rotated, bits: f.bits, arena_bytes: f.arenaBytes,
            arena_buffers: f.buffers.map {
                .init(name: $0.name, bytes: $0.bytes, offset: $0.offset, first_pass: $0.firstPass,
                      last_pass: $0.lastPass, divisor: $0.divisor)
            },
            arena_by_branch: f.branches.map { .init(branch: $0.label, divisor: $0.divisor, buffers: $0.buffers, bytes: $0.bytes) },
            weights_bytes: f.weightBytes, mosaic_bytes: f.mosaicBytes, input_rows_bytes: f.inputRowsBytes,
            png_writer_bytes: f.pngWriterBytes, second_pass_arena_bytes: f.secondPassArenaBytes,
            arena_and_writer_bytes: f.arenaAndWriterBytes, thread_stacks_bytes: f.threadStacksBytes,
            int8_fallback: f.fallback?.precision.rawValue, int8_fallback_bytes: f.fallback.map { _ in f.fallbackBytes },
            int8_fallback_weights_bytes: f.fallback?.weightBytes, int8_fallback_arena_bytes: f.fallback?.arenaBytes,
            runtime_baseline_bytes: f.baseline.residentBytes, runtime_baseline_anonymous_bytes: f.baseline.anonymousBytes,
            runtime_growth_bytes: MemoryFootprint.runtimeGrowthBytes,
            startup_peak_bytes: f.startupPeakBytes, frame_peak_bytes: f.framePeakBytes,
            predicted_peak_rss_bytes: f.predictedPeakRSSBytes,
            decoder_buffer_bytes: f.decoderBufferBytes, decoder_private_bytes: f.decoderPrivateBytes,
            decoder_transfer_bytes: f.decoderTransferBytes,
            predicted_decoder_peak_rss_bytes: f.predictedDecoderPeakRSSBytes,
            predicted_combined_peak_bytes: f.predictedCombinedPeakBytes,
            suggested_memory_max_bytes: f.suggestedMemoryMaxBytes, suggested_memory_max: f.suggestedMemoryMax,
            board: board.map { board in
                let fit = board.fit(f.predictedCombinedPeakBytes)
                return .init(id: board.id, name: board.name, cpu: board.cpu, cores: board.cores, ram_bytes: board.ramBytes,
                             os_reserve_bytes: board.osReserveBytes, available_bytes: board.availableBytes,
                             fits: fit.fits, margin_bytes: fit.marginBytes)
            },
            measured_peak_rss_bytes: measured?.peakRSSBytes, measured_decoder_peak_rss_bytes: measured?.decoderPeakRSSBytes,
            measured_runtime_growth_bytes: measuredRuntimeGrowthBytes, measured_decoder_overhead_bytes: measuredDecoderOverheadBytes)
    }

    func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(jsonReport)) ?? Data(), as: UTF8.self)
    }

    func text() -> String {
        let f = footprint
        func mib(_ bytes: Int) -> String { formatted("%8.1f MiB", Double(bytes) / 1_048_576) }
        func line(_ label: String, _ bytes: Int, _ note: String = "") -> String {
            "  " + label.padded(toLength: 28) + mib(bytes) + (note.isEmpty ? "" : "   " + note)
        }
        var lines = [
            "\(model): \(architecture), \(precision)",
            "precision of the layers: " + LayerPrecision.summary(layerPrecisions),
            "frames up to \(f.width)x\(f.height) (the engine runs \(f.paddedWidth)x\(f.paddedHeight)), \(f.threads) thread\(f.threads == 1 ? "" : "s"), "
                + "bands of \(bands.outputRows) output rows and \(bands.lowResolutionRows) 1/32-scale row\(bands.lowResolutionRows == 1 ? "" : "s")"
                + (bands.wholeBlocks ? ", dense blocks pulled whole" : ""),
            "",
            "arena, by buffer (offsets from buffer lifetimes; steps are the schedule's passes)",
            table,
            "",
            "arena, by branch (windows of different passes share space)",
        ]
        for branch in f.branches {
            let note = branch.divisor == 2 ? "\(branch.buffers) windows, with the input phases and the output planes" : "\(branch.buffers) windows"
            lines.append(line(branch.label, branch.bytes, note))
        }
        lines += [
            "",
            "restore process",
            line("runtime baseline", f.baseline.residentBytes, "measured at start, before the model"),
            line("runtime growth", MemoryFootprint.runtimeGrowthBytes, "library code paged in later (measured)"),
            line("packed weights", f.weightBytes, parameterCount > 0
                 ? formatted("%.1f bytes per parameter", Double(f.weightBytes) / Double(parameterCount)) : ""),
            line("decoded mosaic", f.mosaicBytes, f.mosaicCodes ? "1 byte per visible pixel (8-bit codes: int8)" : "2 bytes per visible pixel"),
            line("input rows", f.inputRowsBytes, f.mosaicCodes ? "the codes' codebook, column map"
                : "normalisation table (16-bit worst case), column map"),
            line("arena", f.arenaBytes, "the second pass's windows end at " + mib(f.secondPassArenaBytes).trimmingSpacesAndTabs()
                 + "; the rest is given back while it runs"),
            line("PNG writer", f.pngWriterBytes, (f.rotated ? "pieces in flight, deflate states, the held rotated frame (\(f.bits)-bit)"
                                                            : "pieces in flight and deflate states") + ", colour rings"),
            line("  both at the peak", f.arenaAndWriterBytes, "the arena, or the second pass's windows and the PNG writer"),
            line("worker thread stacks", f.threadStacksBytes),
            line("decoder transfer slots", f.decoderTransferBytes, "shared with the decoder child"),
        ]
        if let fallback = f.fallback {
            lines.append(line("int8 fallback (\(fallback.precision))", f.fallbackBytes,
                              "weights " + mib(fallback.weightBytes).trimmingSpacesAndTabs() + ", threads; its "
                                + mib(fallback.arenaBytes).trimmingSpacesAndTabs() + " arena in the one above"
                                + (fallback.arenaBytes > f.arenaBytes ? ", which it enlarges" : "")))
        }
        lines += [
            line("predicted peak RSS", f.predictedPeakRSSBytes, "start-up (model loading) peaks at " + mib(f.startupPeakBytes).trimmingSpacesAndTabs()),
            "",
            "decoder child (LibRaw, forked per file; shares the parent's pages copy-on-write)",
            line("LibRaw raw buffer", f.decoderBufferBytes, "2 bytes per readout pixel (readout = visible assumed; none for a DNG of plain samples)"),
            line("private memory", f.decoderPrivateBytes, "raw buffer + LibRaw's own: 3 MiB + 1/8 of the buffer (measured)"),
            line("predicted peak RSS", f.predictedDecoderPeakRSSBytes, "counting pages shared with the parent"),
            "",
            "restore process and decoder child together",
            line("predicted combined peak", f.predictedCombinedPeakBytes, "restore peak + the child's private memory"),
            "  suggested MemoryMax=\(f.suggestedMemoryMax)".padded(toLength: 30)
                + mib(f.suggestedMemoryMaxBytes) + "   combined peak + \(Int(MemoryFootprint.headroom * 100)) % headroom",
        ]
        if let measured, let growth = measuredRuntimeGrowthBytes, let overhead = measuredDecoderOverheadBytes {
            func percent(_ a: Int, _ b: Int) -> String { formatted("%+.1f %%", 100 * (Double(a) / Double(b) - 1)) }
            lines += [
                "",
                "measured here (a synthetic \(f.width)x\(f.height) capture restored "
                    + (f.fallback == nil ? "twice)" : "three times, once on the int8 fallback)"),
                line("restore process peak RSS", measured.peakRSSBytes, "predicted " + mib(f.predictedPeakRSSBytes).trimmingSpacesAndTabs()
                     + " (" + percent(f.predictedPeakRSSBytes, measured.peakRSSBytes) + ")"),
                line("decoder child peak RSS", measured.decoderPeakRSSBytes, "predicted " + mib(f.predictedDecoderPeakRSSBytes).trimmingSpacesAndTabs()
                     + " (" + percent(f.predictedDecoderPeakRSSBytes, measured.decoderPeakRSSBytes) + ")"),
                line("runtime growth", growth, "the constant is " + mib(MemoryFootprint.runtimeGrowthBytes).trimmingSpacesAndTabs()),
                line("decoder overhead + libraries", overhead, "the constants add up to "
                     + mib(f.decoderOverheadBytes + MemoryFootprint.decoderSharedLibraryBytes).trimmingSpacesAndTabs()),
            ]
        }
        if let board {
            let fit = board.fit(f.predictedCombinedPeakBytes)
            lines += [
                "",
                "board \(board.id): \(board.name), \(board.cpu), \(board.cores) cores, "
                    + mib(board.ramBytes).trimmingSpacesAndTabs() + " RAM, "
                    + mib(board.osReserveBytes).trimmingSpacesAndTabs() + " kept for the OS",
                fit.fits
                    ? "  fits: " + mib(fit.marginBytes).trimmingSpacesAndTabs() + " to spare of "
                        + mib(board.availableBytes).trimmingSpacesAndTabs() + " available"
                    : "  does not fit: " + mib(-fit.marginBytes).trimmingSpacesAndTabs() + " more than the "
                        + mib(board.availableBytes).trimmingSpacesAndTabs() + " available",
            ]
        }
        return lines.joined(separator: "\n")
    }
}
