import FoundationEssentials
import Nightjar

/// The end-to-end part of `nightjar bench`: a RAW file in, a PNG out, through a `Restorer`, as
/// `nightjar restore` and `nightjar watch` run it. Works in a temporary directory that
/// is removed afterwards, also when a run fails.
enum EndToEndBench {
    static func measure(model: NightjarModel, modelName: String, size: FrameSize, threads: Int, bands: StreamSchedule.Bands, lockMemory: Bool,
                        runs: Int, input: URL?, precision: Precision? = nil,
                        color: ColorMode = .camera) throws -> (total: ProcessMetrics.Summary, batch: ProcessMetrics.Summary, stages: Stages,
                                                               colorUsed: String, paired: Paired) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nightjar-bench-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("cannot create a temporary directory for the benchmark: \(SystemError.reason(for: error))")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let raw = try input ?? synthesize(size: size, into: directory)
        let output = directory.appendingPathComponent("restored.png")
        var options = RestoreOptions()
        options.overwrite = true
        options.compressionLevel = 1 // as `nightjar restore` writes
        options.color = color
        let restorer = try Restorer(model: model, modelName: modelName, options: options, threads: threads, bands: bands,
                                    lockMemory: lockMemory, precision: precision)
        var times: [Double] = []
        var reports: [RestoreReport] = []
        var networkTimes: [Double] = []
        var ratios: [Double] = []
        var cpu: [Double] = []
        var networkCPU: [Double] = []
        for run in 0...runs {
            let start = ProcessMetrics.now(), startCPU = ProcessMetrics.cpuSeconds()
            let report = try restorer.restore(input: raw, output: output)
            let seconds = ProcessMetrics.now() - start, runCPU = ProcessMetrics.cpuSeconds() - startCPU
            // The network alone on the same engine right after, so that each end-to-end time has
            // a network time taken under the same load: a shared machine's speed changes from
            // one second to the next, and the two phases' medians can come from different spells.
            let networkStartCPU = ProcessMetrics.cpuSeconds()
            let network = try networkAlone(on: restorer.engine, height: report.paddedHeight, width: report.paddedWidth)
            let networkRunCPU = ProcessMetrics.cpuSeconds() - networkStartCPU
            if run > 0 {
                times.append(seconds)
                reports.append(report)
                networkTimes.append(network)
                ratios.append(seconds / network)
                cpu.append(runCPU)
                networkCPU.append(networkRunCPU)
            }
        }
        func median(_ stage: (RestoreReport) -> Double) -> Double { ProcessMetrics.Summary(reports.map(stage)).median }
        let stages = Stages(decode: median(\.decodeSeconds), decoder: reports.last?.decoder, prepare: median(\.prepareSeconds),
                            network: median(\.networkSeconds), finish: median(\.writeSeconds))
        // As a batch (`restore DIR`, `watch`) runs: each file decoding in its own child while the
        // one before it runs through the network. A file's time is from the end of the one
        // before; the first is not counted (nothing decoded it ahead).
        var batch: [Double] = []
        var last = ProcessMetrics.now()
        for run in 0...runs {
            _ = try restorer.restore(input: raw, output: output, next: run < runs ? raw : nil)
            let now = ProcessMetrics.now()
            if run > 0 { batch.append(now - last) }
            last = now
        }
        return (ProcessMetrics.Summary(times), ProcessMetrics.Summary(batch), stages, reports.last?.color ?? color.rawValue,
                Paired(network: ProcessMetrics.Summary(networkTimes), ratio: ProcessMetrics.Summary(ratios),
                       cpu: ProcessMetrics.Summary(cpu), network_cpu: ProcessMetrics.Summary(networkCPU)))
    }

    /// One network-only run of `engine` on the benchmark's synthetic mosaic at the frame's padded size.
    private static func networkAlone(on engine: FrameEngine, height: Int, width: Int) throws -> Double {
        let source = SyntheticMosaic(seed: 42, width: width)
        var sink = DiscardRows()
        let start = ProcessMetrics.now()
        try engine.restore(height: height, width: width, source: source, sink: &sink)
        return ProcessMetrics.now() - start
    }

    /// Each single-file end-to-end run against a network-only run right after it on the same
    /// engine: their times, and the ratios taken pair by pair.
    struct Paired: Codable {
        var network: ProcessMetrics.Summary
        var ratio: ProcessMetrics.Summary
        /// CPU seconds of each end-to-end run and of the network-only run after it: all the
        /// process's threads (the pool's waiting spins included) and the decoder child. Their
        /// difference is the CPU the frame costs besides the network: on a board whose cores
        /// are shared with other work it is what the frame takes from them, whatever the
        /// wall-clock ratio says.
        var cpu: ProcessMetrics.Summary
        var network_cpu: ProcessMetrics.Summary
    }

    /// Where an end-to-end frame's time goes (medians of the runs, from the restore's report).
    struct Stages: Codable {
        /// The decoder child (LibRaw, or the file's plain samples), the mosaic read from it.
        var decode: Double
        /// How (`RestoreReport.decoder`): the synthetic DNG's plain samples are read from the file;
        /// a camera's own format is unpacked by LibRaw, which takes longer.
        var decoder: String?
        /// Normalisation table, amplifier, colour statistics.
        var prepare: Double
        /// The network with the rows it finishes: colour stage, quantising, handing rows to
        /// the PNG compressors (which deflate meanwhile on threads of their own).
        var network: Double
        /// After the network: the pieces still deflating, the trailer, fsync, the rename.
        var finish: Double
    }

    /// Writes a synthetic dark DNG of `size` with `nightjar synthesize` in a child process, so
    /// that rendering the scene (12 bytes per pixel of linear RGB) does not count in this
    /// process's peak resident set, which should be restore's.
    /// `unpackedByLibRaw`: with a LinearizationTable that changes nothing, so that the decoder
    /// has LibRaw unpack it instead of reading its plain samples (`synthesize --linearization-table`).
    static func synthesize(size: FrameSize, into directory: URL, unpackedByLibRaw: Bool = false) throws -> URL {
        let dng = directory.appendingPathComponent("synthetic.dng")
        let executable = currentExecutable.path
        let child: (termination: ChildProcess.Termination, standardError: [UInt8])
        do {
            child = try ChildProcess.runCollectingStandardError(
                executable: executable,
                arguments: ["synthesize", "-o", dng.path, "--size", "\(size.width)x\(size.height)", "--no-previews"]
                    + (unpackedByLibRaw ? ["--linearization-table"] : []))
        } catch {
            throw CommandFailure("cannot start \(executable) to write the benchmark capture: \(error)")
        }
        if child.termination != .exited(status: 0) {
            let message = String(decoding: child.standardError, as: UTF8.self)
            // A signal is reported by its number, as Foundation's Process reported it.
            let status = switch child.termination {
            case .exited(let status): status
            case .signalled(let signal): signal
            }
            let reason = message.split(separator: "\n").first.map(String.init) ?? "exit status \(status)"
            throw CommandFailure("writing the synthetic benchmark capture failed: \(reason)")
        }
        return dng
    }
}
