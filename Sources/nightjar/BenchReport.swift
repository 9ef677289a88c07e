import FoundationEssentials
import Nightjar
import NightjarKernels

/// What `nightjar bench` measures and prints.
struct BenchReport: Codable {
    var model: String
    /// The network's precision (the best of its layers').
    var precision: String
    var width: Int
    var height: Int
    var threads: Int
    var runs: Int
    var isa: String
    /// 512-bit FMA ports per core that kernel selection assumed (1 without AVX-512).
    var fma_ports: Int
    /// Which kernels ran: each kernel, its layers and its share of the network's MACs.
    var kernels: [KernelUse]
    /// The precision of every convolution, in execution order.
    var layer_precisions: [LayerPrecision]
    var network_seconds_median: Double
    var network_seconds: ProcessMetrics.Summary
    var end_to_end_seconds_median: Double?
    var end_to_end_seconds: ProcessMetrics.Summary?
    /// End to end per file in a batch: each file decoded while the one before it ran.
    var end_to_end_batch_seconds_median: Double?
    var end_to_end_batch_seconds: ProcessMetrics.Summary?
    /// The end-to-end colour (`--color`) the runs asked for, and what the restores used
    /// (`network` where the file has no usable matrix).
    var end_to_end_color: String?
    var end_to_end_color_used: String?
    /// Where the end-to-end time goes (medians).
    var end_to_end_stages: EndToEndBench.Stages?
    /// Each end-to-end run paired with a network-only run right after it on the restorer's
    /// engine: the network's times and the ratios pair by pair (the median ratio is the figure
    /// a noisy machine moves least).
    var end_to_end_paired: EndToEndBench.Paired?
    var megapixels_per_second: Double
    var gmac_per_second: Double
    var fma_peak_gmac_per_second: Double
    var share_of_fma_peak: Double
    /// A cache line's round trip between the first two threads (ns), measured before the
    /// network's runs and after the last run: on a virtual machine the host may move the
    /// threads between cores that share a cache and cores that do not, which changes every
    /// figure here (nil with one thread).
    var thread_round_trip_ns_before: Double?
    var thread_round_trip_ns_after: Double?
    /// This process's peak resident set over the whole run (network and end-to-end phases).
    /// The decoder child is not included, nor is the synthetic capture, rendered by a child.
    var peak_rss_bytes: Int
    var arena_bytes: Int
    /// With `--layers`: where the network's time goes, from as many runs again after the timed
    /// ones (so these do not carry the clock reads).
    var layers: [LayerShare]?
    /// With `--against`: the network in another precision, run for run alternating with this one
    /// (after everything above; `peak_rss_bytes` was read before it).
    var against: PrecisionComparison?

    static func measure(model: NightjarModel, modelPath: String, size: FrameSize, threads: Int, runs: Int,
                        bands: StreamSchedule.Bands, lockMemory: Bool = false, input: URL?, endToEnd: Bool,
                        precision: Precision? = nil, color: ColorMode = .camera, layers: Bool = false,
                        against: (precision: Precision, bands: StreamSchedule.Bands)? = nil) throws -> BenchReport {
        let padded = (height: (size.height + 31) / 32 * 32, width: (size.width + 31) / 32 * 32)
        let roundTripBefore = ProcessMetrics.threadRoundTrip(threads: threads)
        let (network, arenaBytes, kernelNames, precisions, layerTimes) = try measureNetwork(
            model: model, modelPath: modelPath, height: padded.height, width: padded.width, threads: threads, runs: runs, bands: bands,
            lockMemory: lockMemory, precision: precision, layers: layers)
        let pixels = Double(padded.height * padded.width)
        let macs = model.architecture.macsPerPixel * pixels
        let peak = ProcessMetrics.fmaPeak(threads: threads)
        var e2e: ProcessMetrics.Summary?
        var batch: ProcessMetrics.Summary?
        var stages: EndToEndBench.Stages?
        var colorUsed: String?
        var paired: EndToEndBench.Paired?
        if endToEnd {
            (e2e, batch, stages, colorUsed, paired) = try EndToEndBench.measure(model: model, modelName: URL(fileURLWithPath: modelPath).deletingPathExtension().lastPathComponent,
                                            size: size, threads: threads, bands: bands, lockMemory: lockMemory, runs: runs, input: input,
                                            precision: precision, color: color)
        }
        let roundTripAfter = ProcessMetrics.threadRoundTrip(threads: threads)
        // The peak of the phases above, before a second engine is made for the comparison.
        let peakResident = ProcessMetrics.peakResidentBytes()
        let comparison = try against.map {
            try PrecisionComparison.measure(model: model, modelPath: modelPath, height: padded.height, width: padded.width,
                                            threads: threads, runs: runs, lockMemory: lockMemory,
                                            measured: (precision, bands), against: $0)
        }
        return BenchReport(
            model: modelPath, precision: precisions.max()!.rawValue, width: padded.width, height: padded.height, threads: threads, runs: runs,
            isa: KernelInfo.activeISA, fma_ports: KernelInfo.fmaPorts,
            kernels: KernelUse.byKernel(architecture: model.architecture, kernelNames: kernelNames),
            layer_precisions: zip(model.architecture.convolutions, precisions).map { LayerPrecision(layer: $0.name, precision: $1.rawValue) },
            network_seconds_median: network.median, network_seconds: network,
            end_to_end_seconds_median: e2e?.median, end_to_end_seconds: e2e,
            end_to_end_batch_seconds_median: batch?.median, end_to_end_batch_seconds: batch,
            end_to_end_color: endToEnd ? color.rawValue : nil, end_to_end_color_used: colorUsed, end_to_end_stages: stages,
            end_to_end_paired: paired,
            megapixels_per_second: pixels / 1e6 / network.median,
            gmac_per_second: macs / 1e9 / network.median,
            fma_peak_gmac_per_second: peak / 1e9,
            share_of_fma_peak: macs / network.median / peak,
            thread_round_trip_ns_before: roundTripBefore, thread_round_trip_ns_after: roundTripAfter,
            peak_rss_bytes: peakResident,
            arena_bytes: arenaBytes,
            layers: layerTimes.map { LayerShare.shares($0, runs: runs, architecture: model.architecture, kernelNames: kernelNames,
                                                       precisions: precisions, pixels: pixels) },
            against: comparison)
    }

    /// The network alone on an in-memory mosaic. Its engine is released on return, so the
    /// end-to-end phase runs with only its own arena, as `nightjar restore` does.
    private static func measureNetwork(model: NightjarModel, modelPath: String, height: Int, width: Int, threads: Int, runs: Int,
                                       bands: StreamSchedule.Bands, lockMemory: Bool, precision: Precision?, layers: Bool)
        throws -> (ProcessMetrics.Summary, arenaBytes: Int, kernelNames: [String], precisions: [Precision],
                   layers: (times: [LayerTime], seconds: Double)?) {
        let engine = try networkEngine(model: model, modelPath: modelPath, height: height, width: width, threads: threads,
                                       bands: bands, lockMemory: lockMemory, precision: precision)
        let source = SyntheticMosaic(seed: 42, width: width)
        var sink = DiscardRows()
        var times: [Double] = []
        for run in 0...runs {
            let seconds = try timedRun(engine, height: height, width: width, source: source, sink: &sink)
            if run > 0 { times.append(seconds) }
        }
        var layerTimes: (times: [LayerTime], seconds: Double)?
        if layers {
            let steps = engine.makeStepTimes()
            engine.stepTimes = steps
            let start = ProcessMetrics.now()
            for _ in 0..<runs { try engine.run(height: height, width: width, source: source, sink: &sink) }
            layerTimes = (engine.layerTimes(steps), ProcessMetrics.now() - start)
            engine.stepTimes = nil
        }
        return (ProcessMetrics.Summary(times), engine.plan.arenaBytes, engine.kernelNames, engine.layerPrecisions, layerTimes)
    }

    /// The streaming engine the network-only measurements run, for frames up to `height` x `width`.
    static func networkEngine(model: NightjarModel, modelPath: String, height: Int, width: Int, threads: Int,
                              bands: StreamSchedule.Bands, lockMemory: Bool, precision: Precision?) throws -> StreamingEngine {
        try StreamingEngine(model: model, maxHeight: height, maxWidth: width, bands: bands, threads: threads,
                            lockMemory: lockMemory, precision: precision, modelPath: modelPath)
    }

    /// One network-only run of `engine` on the synthetic mosaic, in seconds.
    static func timedRun(_ engine: StreamingEngine, height: Int, width: Int, source: SyntheticMosaic,
                         sink: inout DiscardRows) throws -> Double {
        let start = ProcessMetrics.now()
        try engine.run(height: height, width: width, source: source, sink: &sink)
        return ProcessMetrics.now() - start
    }

    func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    func text() -> String {
        func seconds(_ s: ProcessMetrics.Summary) -> String {
            formatted("%.3f s median (min %.3f, max %.3f, %ld runs)", s.median, s.min, s.max, s.count)
        }
        var lines = [
            "frame        \(width)x\(height) (\(formatted("%.1f", Double(width * height) / 1e6)) MP), \(precision), \(threads) threads, \(isa) kernels",
            "network      " + seconds(network_seconds),
            formatted("throughput   %.1f MP/s, %.1f GMAC/s = %.0f %% of this machine's FMA peak (%.1f GMAC/s)",
                      megapixels_per_second, gmac_per_second, share_of_fma_peak * 100, fma_peak_gmac_per_second),
        ]
        if isa == "avx512" {
            lines.append("kernels      \(fma_ports == 2 ? "two" : "one") 512-bit FMA port\(fma_ports == 2 ? "s" : "") per core (tiles chosen for it)")
        } else {
            // Without AVX-512 there is no port count to choose tiles by: say so rather than
            // print the default of one.
            lines.append("kernels      \(isa) tiles (the 512-bit FMA port count chooses tiles only with AVX-512)")
        }
        for use in kernels {
            let name = use.kernel + String(repeating: " ", count: max(1, 27 - use.kernel.count))
            lines.append("  " + name + formatted("%4.1f %% of the MACs: ", use.share_of_macs * 100) + use.layers.joined(separator: ", "))
        }
        lines.append("precision    " + LayerPrecision.summary(layer_precisions))
        if let layers {
            lines.append(formatted("layers       where the network's time goes, in %ld more runs timed step by step (a frame; "
                                   + "calls: kernel calls a frame; GMAC/s: the layer's direct-convolution MACs):", runs))
            let width = layers.map(\.name.count).max() ?? 0
            for row in layers.sorted(by: { $0.seconds_per_frame > $1.seconds_per_frame }) {
                var line = "  " + row.name + String(repeating: " ", count: width + 2 - row.name.count)
                    + formatted("%7.4f s %5.1f %%", row.seconds_per_frame, row.share_of_network * 100)
                line += formatted(" %6.0f calls", row.calls_per_frame)
                if let gmac = row.gmac_per_second { line += formatted(" %7.1f GMAC/s", gmac) }
                if let precision = row.precision, let kernel = row.kernel { line += "  " + precision + " " + kernel }
                lines.append(line)
            }
            lines.append(formatted("  (the steps: %.1f %% of those runs' time; the rest is the schedule's own work between them)",
                                   layers.reduce(0) { $0 + $1.share_of_network } * 100))
        }
        if let e2e = end_to_end_seconds {
            let used = end_to_end_color_used.map { $0 == end_to_end_color ? ", \($0) colour" : ", \(end_to_end_color ?? "?") colour asked, \($0) used" } ?? ""
            lines.append("end to end   " + seconds(e2e) + formatted(" (%.2fx the network)", e2e.median / network_seconds.median) + used)
        }
        if let p = end_to_end_paired {
            lines.append("  paired     " + formatted("%.2fx median (%.2f-%.2fx over %ld runs): each run against the network alone right after it, ",
                                                     p.ratio.median, p.ratio.min, p.ratio.max, p.ratio.count)
                         + formatted("%.3f s median on the restorer's engine", p.network.median))
            lines.append("  cpu        " + formatted("%.3f s of CPU a frame end to end, %.3f s for the network alone (medians, all threads "
                                                     + "and the decoder child): %.3f s a frame besides the network",
                                                     p.cpu.median, p.network_cpu.median, p.cpu.median - p.network_cpu.median))
        }
        if let s = end_to_end_stages {
            lines.append(formatted("  stages     decode %.3f s", s.decode) + (s.decoder.map { " (\($0))" } ?? "")
                         + formatted(", prepare %.3f s, network with colour and PNG rows %.3f s, "
                                     + "finish (last pieces, fsync, rename) %.3f s", s.prepare, s.network, s.finish))
        }
        if let batch = end_to_end_batch_seconds {
            lines.append("in a batch   " + seconds(batch) + formatted(" per file (%.2fx the network), the next file decoded meanwhile",
                                                                  batch.median / network_seconds.median))
        }
        if let c = against {
            lines.append("against      \(c.precision) " + seconds(c.seconds) + ", alternating run by run with \(precision) "
                         + formatted("(%.3f s median in those runs)", c.seconds_alongside.median))
            lines.append("  ratio      \(c.precision) took " + formatted("%.2fx", c.ratio.median) + " \(precision)'s time by the median pair"
                         + formatted(" (%.2f-%.2fx over %ld pairs)", c.ratio.min, c.ratio.max, c.ratio.count))
        }
        lines.append(formatted("memory       arena %.1f MB, peak RSS %.1f MB", Double(arena_bytes) / 1e6, Double(peak_rss_bytes) / 1e6)
                     + (against == nil ? "" : " (before the comparison's engines)"))
        if let before = thread_round_trip_ns_before, let after = thread_round_trip_ns_after {
            lines.append(formatted("threads      a cache line's round trip between two threads: %.0f ns before the runs, %.0f ns after",
                                   before, after))
        }
        return lines.joined(separator: "\n")
    }
}

/// `bench --against`: the network in a second precision, each of its runs paired with a run of
/// the precision benchmarked on the same frame, in one process. On a shared machine both
/// precisions then see the same spells, and the ratio of each pair is the steadier figure (a
/// network-only median taken minutes apart can fall in a different spell).
struct PrecisionComparison: Codable, Equatable {
    var precision: String
    /// The second precision's network times.
    var seconds: ProcessMetrics.Summary
    /// The precision benchmarked, in the same pairs.
    var seconds_alongside: ProcessMetrics.Summary
    /// Pair by pair: the second precision's time over the benchmarked one's (above 1: the
    /// benchmarked precision is faster).
    var ratio: ProcessMetrics.Summary

    /// Both engines made at once and warmed up, then `runs` pairs, which of the two goes first
    /// alternating from pair to pair (so neither always runs on the caches the other left).
    static func measure(model: NightjarModel, modelPath: String, height: Int, width: Int, threads: Int, runs: Int,
                        lockMemory: Bool, measured: (precision: Precision?, bands: StreamSchedule.Bands),
                        against: (precision: Precision, bands: StreamSchedule.Bands)) throws -> PrecisionComparison {
        let engines = try [measured, (against.precision, against.bands)].map {
            try BenchReport.networkEngine(model: model, modelPath: modelPath, height: height, width: width, threads: threads,
                                          bands: $0.bands, lockMemory: lockMemory, precision: $0.precision)
        }
        let source = SyntheticMosaic(seed: 42, width: width)
        var sink = DiscardRows()
        func time(_ engine: StreamingEngine) throws -> Double {
            try BenchReport.timedRun(engine, height: height, width: width, source: source, sink: &sink)
        }
        for engine in engines { _ = try time(engine) }
        var pairs: [(measured: Double, against: Double)] = []
        for pair in 0..<runs {
            if pair % 2 == 0 {
                let first = try time(engines[0])
                pairs.append((first, try time(engines[1])))
            } else {
                let first = try time(engines[1])
                pairs.append((try time(engines[0]), first))
            }
        }
        return PrecisionComparison(precision: against.precision.rawValue, seconds: ProcessMetrics.Summary(pairs.map(\.against)),
                                   seconds_alongside: ProcessMetrics.Summary(pairs.map(\.measured)),
                                   ratio: ProcessMetrics.Summary(pairs.map { $0.against / $0.measured }))
    }
}

/// The precision one convolution ran in.
struct LayerPrecision: Codable, Equatable {
    var layer: String
    var precision: String

    /// "fp16 (every layer)", or each precision with its layers.
    static func summary(_ layers: [LayerPrecision]) -> String {
        let precisions = layers.reduce(into: [String]()) { if !$0.contains($1.precision) { $0.append($1.precision) } }
        if precisions.count == 1 { return "\(precisions[0]) (every layer)" }
        return precisions.map { p in "\(p): " + layers.filter { $0.precision == p }.map(\.layer).joined(separator: ", ") }
            .joined(separator: "; ")
    }
}

/// One kernel of the network's run: the layers it computed and their multiply-accumulates.
struct KernelUse: Codable, Equatable {
    var kernel: String
    var layers: [String]
    var mac_per_raw_pixel: Double
    var share_of_macs: Double

    /// Groups the layers by kernel, heaviest kernel first.
    static func byKernel(architecture: Architecture, kernelNames: [String]) -> [KernelUse] {
        var uses: [KernelUse] = []
        let total = architecture.macsPerPixel
        for (spec, name) in zip(architecture.convolutions, kernelNames) {
            let macs = architecture.macsPerPixel(of: spec)
            if let i = uses.firstIndex(where: { $0.kernel == name }) {
                uses[i].layers.append(spec.name)
                uses[i].mac_per_raw_pixel += macs
            } else {
                uses.append(KernelUse(kernel: name, layers: [spec.name], mac_per_raw_pixel: macs, share_of_macs: 0))
            }
        }
        for i in uses.indices { uses[i].share_of_macs = uses[i].mac_per_raw_pixel / total }
        return uses.sorted { $0.mac_per_raw_pixel > $1.mac_per_raw_pixel }
    }
}

/// A deterministic dark-frame-like mosaic, generated row by row (no frame-sized buffer) and
/// written as the network's Bayer phases.
///
/// Each value is one lookup in a small table of noise (4096 values, 16 KB) at a per-row
/// offset, through the capture's own C kernel (nj_u16_network_input_row): a row of 16-bit
/// "raw values" (table indices) read through a column map into the table, the same work per
/// value as a real frame's. A random-number generator per value was a serial chain (each
/// value waited for the last multiply) that took about 3 % of the measured "network" time, a
/// cost of the benchmark that no capture pays.
///
/// An int8 network reads 8-bit codes, as `restore` gives it (`MosaicCodebook`: an int8 frame
/// is held as at most 256 codes per CFA site): a row of byte indices into the table's first
/// 256 values, through nj_u8_network_input_row_qs8, one byte read per value. Through the
/// 16-bit kernel int8's input took a product and a quantisation per value that no int8
/// restore does (`perf`, 16 frames, Zen 5: 14.7 against 12.8 ms of CPU per 12.1 MP frame).
struct SyntheticMosaic: NetworkRowSource {
    private let noise: [Float]
    /// Index i of the noise table at position i, repeated: a row at offset o starts at `indices + o`.
    private let indices: [UInt16]
    /// The same as 8-bit codes: index i & 255 at position i.
    private let codes: [UInt8]
    /// Column c's value comes from column c (no reflection, no CFA offset).
    private let columns: [Int]

    /// For rows of at most `width` padded columns.
    init(seed: UInt64, width: Int) {
        var state = seed
        noise = (0..<SyntheticMosaic.noiseCount).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 0.6
        }
        indices = (0..<(SyntheticMosaic.noiseCount + width)).map { UInt16($0 & (SyntheticMosaic.noiseCount - 1)) }
        codes = (0..<(SyntheticMosaic.codeCount + width)).map { UInt8($0 & (SyntheticMosaic.codeCount - 1)) }
        columns = Array(0..<width)
    }

    private static let noiseCount = 4096
    private static let codeCount = 256

    func fill(pairs: Range<Int>, split: Int, into planes: NetworkInputPlanes) {
        let out = SplitInput(pairs: pairs, split: split, planes: planes)
        let count = 2 * split * planes.width
        precondition(count <= columns.count, "the synthetic mosaic was made for narrower rows")
        let mask = SyntheticMosaic.noiseCount - 1
        if case .int8 = planes.element {
            noise.withUnsafeBufferPointer { noise in
                codes.withUnsafeBufferPointer { codes in
                    columns.withUnsafeBufferPointer { columns in
                        for row in (2 * pairs.lowerBound)..<(2 * pairs.upperBound) {
                            let offset = (row &* 2_654_435_761) & (SyntheticMosaic.codeCount - 1)
                            out.row(row).store(row: codes.baseAddress! + offset, sources: columns.baseAddress!,
                                               tableEven: noise.baseAddress!, tableOdd: noise.baseAddress!, amplification: 1, count: count)
                        }
                    }
                }
            }
            return
        }
        noise.withUnsafeBufferPointer { noise in
            indices.withUnsafeBufferPointer { indices in
                columns.withUnsafeBufferPointer { columns in
                    for row in (2 * pairs.lowerBound)..<(2 * pairs.upperBound) {
                        // An odd multiplier: neighbouring rows start far apart in the table.
                        let offset = (row &* 2_654_435_761) & mask
                        out.row(row).store(row: indices.baseAddress! + offset, sources: columns.baseAddress!,
                                           tableEven: noise.baseAddress!, tableOdd: noise.baseAddress!, amplification: 1, count: count)
                    }
                }
            }
        }
    }
}

/// Throws the output away (the network-only benchmark).
struct DiscardRows: NetworkRowSink {
    var checksum: Float = 0
    mutating func consume(_ rows: NetworkOutputRows) {
        checksum += Float(rows.raw.load(as: UInt8.self))
    }
}

/// One row of `bench --layers`: a convolution, or the steps of one kind that are not.
struct LayerShare: Codable, Equatable {
    var name: String
    var kernel: String?
    var precision: String?
    var seconds_per_frame: Double
    /// Of the profiled runs' wall time (the rest: the schedule's own work between steps).
    var share_of_network: Double
    /// Kernel calls (pool tasks) a frame: a layer's time over many small calls pays their fixed
    /// costs (transforms of halo rows, the threads' hand-offs) each time.
    var calls_per_frame: Double
    /// The layer's direct-convolution multiply-accumulates per second, whatever algorithm ran.
    var gmac_per_second: Double?

    /// `measured`: the layers' times summed over `runs` frames, and those frames' wall time.
    static func shares(_ measured: (times: [LayerTime], seconds: Double), runs: Int, architecture: Architecture,
                       kernelNames: [String], precisions: [Precision], pixels: Double) -> [LayerShare] {
        let convolutions = architecture.convolutions
        return measured.times.map { time in
            let perFrame = time.seconds / Double(runs)
            var row = LayerShare(name: time.name, seconds_per_frame: perFrame, share_of_network: time.seconds / measured.seconds,
                                 calls_per_frame: Double(time.calls) / Double(runs))
            if let layer = time.layer {
                row.kernel = kernelNames[layer]
                row.precision = precisions[layer].rawValue
                // A folded pair: both layers' direct-convolution MACs.
                let macs = architecture.macsPerPixel(of: convolutions[layer]) +
                    (time.folded.map { architecture.macsPerPixel(of: convolutions[$0]) } ?? 0)
                row.gmac_per_second = perFrame > 0 ? macs * pixels / perFrame / 1e9 : nil
            }
            return row
        }
    }
}
