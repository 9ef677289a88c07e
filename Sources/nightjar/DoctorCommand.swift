import ArgumentParser
import FoundationEssentials
import Glibc
import Nightjar

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Say before a deployment whether Nightjar will work on this machine.",
        discussion: """
            Detects the board (device tree or DMI) and the CPU's features (AT_HWCAP or cpuinfo), \
            chooses its profile from boards/ (or --board), names the kernels each precision \
            runs, predicts the arena and peak memory for the frame size against the RAM and the \
            profile's MemoryMax= (and the memory limit of the cgroup it runs in, and an \
            address-space limit, ulimit -v or LimitAS=, when it runs under one), and checks the \
            model and the directories. \
            Exit status: 0 it will work (warnings aside), 1 something will not work (each \
            failed check says why), 64 usage error.
            """
    )

    @Option(help: "The Nightjar model file to check (and whose network the memory is planned for).")
    var model: String?

    @Option(help: "A board id from boards/ or a profile JSON file (default: the detected board's profile).")
    var board: String?

    @Option(help: "The largest frame, WxH visible pixels (default: the profile's max_frame).")
    var size: FrameSize?

    @Option(help: "Worker threads (default: the profile's).")
    var threads: Int?

    @Option(help: "A directory RAW files will be read from (must be readable).")
    var input: String?

    @Option(help: "A directory PNGs will be written to (must be writable).")
    var output: String?

    @Flag(help: "The captures carry a rotated orientation (the PNG writer then holds the frame).")
    var rotated = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        if let threads { guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") } }
        if let size { guard size.width >= 2, size.height >= 2 else { throw ValidationError("--size must be at least 2x2") } }
    }

    func run() throws {
        let baseline = MemoryFootprint.RuntimeBaseline(
            residentBytes: ProcessMetrics.currentResidentBytes() ?? 0,
            anonymousBytes: ProcessMetrics.currentAnonymousResidentBytes() ?? 0)
        let report = DoctorReport.make(options: self, baseline: baseline)
        standardOutput(json ? report.jsonString() : report.text())
        if !report.ok { throw ExitStatus.failure }
    }
}

/// What `nightjar doctor` found: facts, and checks that pass, warn or fail.
struct DoctorReport: Encodable {
    struct Check: Encodable {
        var name: String
        /// "ok", "warning" or "failed".
        var status: String
        var detail: String
    }

    struct Board: Encodable {
        var detected_model: String?
        var architecture: String
        var online_cores: Int?
        var memory_bytes: Int?
        var cpu_features: [String]
        var cpu_feature_source: String
        var hwcap: String?
        var hwcap2: String?
        var profile: String?
        var profile_chosen: String
        var profile_memory_max: String?
        /// The profile's values for this machine (threads: its cores when the profile says 0).
        var profile_threads: Int?
        var profile_max_frame: String?
        var profile_precision: String?
    }

    struct Precision: Encodable {
        var precision: String
        var available: Bool
        var isa: String?
        var kernels: [String]
    }

    struct Memory: Encodable {
        var width: Int
        var height: Int
        var threads: Int
        var rotated: Bool
        var arena_bytes: Int
        var predicted_peak_rss_bytes: Int
        var predicted_decoder_peak_rss_bytes: Int
        var predicted_combined_peak_bytes: Int
        var suggested_memory_max: String
        var available_bytes: Int?
        /// This process's address-space limit (ulimit -v, LimitAS=), which the service and its
        /// decoder child inherit when doctor runs under the same limits; nil when none is set.
        var address_space_limit_bytes: Int?
        /// The memory limit of doctor's own cgroup (MemoryMax= when it runs in the service's
        /// unit, e.g. `systemd-run -p MemoryMax=...`); nil when none is set.
        var cgroup_memory_limit_bytes: Int?
    }

    var ok: Bool
    var board: Board
    var precisions: [Precision]
    var memory: Memory?
    var checks: [Check]

    static func make(options: DoctorCommand, baseline: MemoryFootprint.RuntimeBaseline) -> DoctorReport {
        var checks: [Check] = []
        func check(_ name: String, _ status: String, _ detail: String) { checks.append(Check(name: name, status: status, detail: detail)) }

        // The board and its profile.
        let system = BoardDetection.detect()
        let directories = BoardProfile.searchDirectories(executable: currentExecutable, environment: ProcessInfo.processInfo.environment)
        var profile: BoardProfile?
        var chosen = "none"
        if let name = options.board {
            do {
                profile = try BoardProfile.resolve(name, searching: directories)
                chosen = "--board"
            } catch {
                check("profile", "failed", "\(error)")
            }
        } else {
            let loaded = BoardDetection.loadProfiles(in: directories)
            for problem in loaded.problems { check("profile", "warning", problem) }
            profile = BoardDetection.choose(for: system, among: loaded.profiles)
            chosen = profile == nil ? "none" : "detected"
            if profile == nil {
                check("profile", "warning", directories.isEmpty
                      ? "no boards/ directory found (set NIGHTJAR_BOARDS or install the boards); defaults are used"
                      : "no profile matches '\(system.model ?? "an unnamed \(system.architecture) machine")'; defaults are used (name one with --board)")
            }
        }
        if let profile {
            check("profile", "ok", "\(profile.id) (\(profile.name), \(chosen == "--board" ? "given with --board" : "detected"))")
            if profile.architecture != system.architecture {
                check("profile", "warning", "\(profile.id) is for \(profile.architecture) but this machine is \(system.architecture)")
            }
            let missing = Set(profile.features.names).subtracting(system.features.names).sorted()
            if !missing.isEmpty, profile.architecture == system.architecture {
                check("cpu", "warning", "\(profile.id) expects \(missing.joined(separator: ", ")) but this CPU lacks it; kernels follow the CPU found")
            }
        }
        let board = Board(
            detected_model: system.model, architecture: system.architecture, online_cores: system.onlineCores,
            memory_bytes: system.memoryBytes, cpu_features: system.features.names, cpu_feature_source: system.featureSource,
            hwcap: system.hwcap.map { "0x" + String($0, radix: 16) }, hwcap2: system.hwcap2.map { "0x" + String($0, radix: 16) },
            profile: profile?.id, profile_chosen: chosen, profile_memory_max: profile?.memoryMax,
            profile_threads: profile?.threads(onlineCores: system.onlineCores ?? Engine.availableCores),
            profile_max_frame: profile.map { "\($0.maxFrame.width)x\($0.maxFrame.height)" }, profile_precision: profile?.defaultPrecision)

        // Kernels per precision.
        let kernels = KernelInfo.fp32ConvolutionKernels
        let precisions = BoardProfile.precisions.map { precision in
            KernelInfo.runnablePrecisions.contains(precision)
                ? Precision(precision: precision, available: true, isa: KernelInfo.activeISA,
                            kernels: KernelInfo.convolutionKernels(named: precision).map {
                                "\($0.kernelSize)x\($0.kernelSize): \($0.name)"
                            })
                : Precision(precision: precision, available: false, isa: nil, kernels: [])
        }
        if KernelInfo.activeISA != KernelInfo.detectedISA {
            check("kernels", "warning", "dispatch is capped at \(KernelInfo.activeISA) (NIGHTJAR_MAX_ISA) on a CPU with \(KernelInfo.detectedISA)")
        } else {
            check("kernels", "ok", "fp32 on \(KernelInfo.activeISA): " + kernels.map(\.name).joined(separator: ", "))
        }
        if let profile, !KernelInfo.runnablePrecisions.contains(profile.defaultPrecision) {
            check("precision", "failed", "\(profile.id)'s default precision \(profile.defaultPrecision) is not available in this build "
                  + "(it runs \(KernelInfo.runnablePrecisions.joined(separator: ", ")))")
        }

        // The model.
        var network: NightjarModel?
        if let path = options.model {
            do {
                network = try NightjarModel.load(contentsOf: URL(fileURLWithPath: path))
                check("model", "ok", "\(path): \(network!.architecture.description), \(network!.architecture.parameterCount) parameters")
            } catch {
                check("model", "failed", "\(error)")
            }
        } else {
            check("model", "warning", "not checked (give --model); memory planned for the published network")
        }

        // Memory for the frame size.
        let frame: (width: Int, height: Int) = options.size.map { ($0.width, $0.height) } ?? profile?.maxFrame ?? (4056, 3040)
        let threads = options.threads ?? profile?.threads(onlineCores: system.onlineCores ?? Engine.availableCores) ?? Engine.availableCores
        var memory: Memory?
        do {
            let planned = try network ?? placeholderModel()
            let engine = try StreamingEngine(model: planned, maxHeight: FramePadding.paddedLength(frame.height),
                                             maxWidth: FramePadding.paddedLength(frame.width), threads: threads)
            let f = MemoryFootprint(engine: engine, width: frame.width, height: frame.height, baseline: baseline,
                                    rotated: options.rotated, bits: 8)
            // RAM: the profile's reserve rule applied to the RAM this machine has, or to the
            // named board's smallest RAM (planning for another machine).
            let ram = chosen == "--board" ? profile?.ramBytes : system.memoryBytes ?? profile?.ramBytes
            let available = ram.map { $0 - max(BoardProfile.minimumOSReserveBytes, $0 / 4) }
            let cgroupLimit = CgroupMemoryLimit.bytes
            memory = Memory(width: frame.width, height: frame.height, threads: threads, rotated: options.rotated,
                            arena_bytes: f.arenaBytes, predicted_peak_rss_bytes: f.predictedPeakRSSBytes,
                            predicted_decoder_peak_rss_bytes: f.predictedDecoderPeakRSSBytes,
                            predicted_combined_peak_bytes: f.predictedCombinedPeakBytes,
                            suggested_memory_max: f.suggestedMemoryMax, available_bytes: available,
                            address_space_limit_bytes: AddressSpaceLimit.bytes, cgroup_memory_limit_bytes: cgroupLimit)
            let peak = mebibytes(f.predictedCombinedPeakBytes)
            if let available, f.predictedCombinedPeakBytes > available {
                check("memory", "failed", "\(frame.width)x\(frame.height) frames need \(peak) (process and decoder child) but only "
                      + "\(mebibytes(available)) of RAM is left for Nightjar; plan a smaller --size")
            } else if let cgroupLimit, f.predictedCombinedPeakBytes > cgroupLimit {
                check("memory", "failed", "\(frame.width)x\(frame.height) frames need \(peak) but the memory limit of this cgroup "
                      + "(MemoryMax=) is \(mebibytes(cgroupLimit)): the kernel would stop the service in the middle of a frame; set "
                      + "MemoryMax=\(f.suggestedMemoryMax) or plan a smaller --size")
            } else if let profile, f.predictedCombinedPeakBytes > profile.memoryMaxBytes {
                check("memory", "failed", "\(frame.width)x\(frame.height) frames need \(peak) but \(profile.id)'s MemoryMax=\(profile.memoryMax) "
                      + "would kill the service; set MemoryMax=\(f.suggestedMemoryMax) or plan a smaller --size")
            } else if let profile, f.suggestedMemoryMaxBytes > profile.memoryMaxBytes {
                check("memory", "warning", "\(peak) predicted for \(frame.width)x\(frame.height) leaves less than the usual headroom under "
                      + "MemoryMax=\(profile.memoryMax) (suggested \(f.suggestedMemoryMax))")
            } else {
                check("memory", "ok", "\(frame.width)x\(frame.height), \(threads) threads: \(peak) predicted peak (process and decoder child)"
                      + (available.map { " of \(mebibytes($0)) available" } ?? ""))
            }
            if let limit = AddressSpaceLimit.bytes {
                addressSpaceCheck(limit: limit, footprint: f, check)
            }
        } catch {
            check("memory", "failed", "cannot plan \(frame.width)x\(frame.height) frames: \(error)")
        }

        // Directories.
        if let input = options.input { directoryCheck("input", input, writable: false, check) }
        if let output = options.output { directoryCheck("output", output, writable: true, check) }

        return DoctorReport(ok: !checks.contains { $0.status == "failed" }, board: board, precisions: precisions,
                            memory: memory, checks: checks)
    }

    /// Address space a process needs beyond what it keeps resident: mapped libraries, thread
    /// stacks and allocator reservations. A 12.1 MP FP32 restore with 66 MiB predicted resident
    /// (2 threads, one malloc arena under a limit) failed at 80 MiB and ran at 90 (2026-12-06).
    static let addressSpaceHeadroomBytes = 64 << 20

    /// An address-space limit applies to the service and, separately, to its decoder child: each
    /// must fit what it keeps resident (below that, a frame certainly fails), and the libraries
    /// and stacks besides. MemoryMax= is the limit that bounds memory itself.
    static func addressSpaceCheck(limit: Int, footprint f: MemoryFootprint, _ check: (String, String, String) -> Void) {
        let resident = max(f.predictedPeakRSSBytes, f.predictedDecoderPeakRSSBytes)
        let frame = "\(f.width)x\(f.height)"
        if limit < resident {
            check("address space", "failed", "the address-space limit (ulimit -v, systemd LimitAS=) of \(mebibytes(limit)) is below the "
                  + "\(mebibytes(resident)) one process keeps resident for \(frame) frames; raise or remove it (MemoryMax= bounds memory "
                  + "without counting mapped libraries and stacks)")
        } else if limit < resident + addressSpaceHeadroomBytes {
            check("address space", "warning", "the address-space limit (ulimit -v, systemd LimitAS=) of \(mebibytes(limit)) leaves less "
                  + "than \(mebibytes(addressSpaceHeadroomBytes)) beyond the \(mebibytes(resident)) one process keeps resident for \(frame) "
                  + "frames, for libraries and thread stacks; raise it, or bound memory with MemoryMax= instead")
        } else {
            check("address space", "ok", "limit \(mebibytes(limit)) (ulimit -v, LimitAS=) for \(mebibytes(resident)) resident per process")
        }
    }

    /// The published network with zero weights: the memory plan depends only on the architecture.
    static func placeholderModel() throws -> NightjarModel {
        let architecture = Architecture.published
        var tensors: [String: SafeTensorsFile.Tensor] = [:]
        for spec in architecture.convolutions {
            tensors[spec.weightName] = .init(shape: spec.weightShape, values: [Float](repeating: 0, count: spec.weightCount))
            if spec.bias { tensors[spec.biasName] = .init(shape: [spec.outChannels], values: [Float](repeating: 0, count: spec.outChannels)) }
        }
        return try NightjarModel(architecture: architecture,
                                 provenance: .init(checkpointName: "published architecture", checkpointSHA256: "", keyLayout: "official"),
                                 tensors: tensors)
    }

    /// Whether `path` is a directory this process can list (input) or create files in (output).
    static func directoryCheck(_ name: String, _ path: String, writable: Bool, _ check: (String, String, String) -> Void) {
        var info = stat()
        guard stat(path, &info) == 0 else { return check(name, "failed", "\(path): \(SystemError.last)") }
        guard info.st_mode & S_IFMT == S_IFDIR else { return check(name, "failed", "\(path): not a directory") }
        if writable {
            // Create and remove a file, as restore does: the permission bits alone do not tell
            // (read-only mounts, ACLs, quotas).
            let probe = path + "/.nightjar-doctor-\(getpid())"
            let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { return check(name, "failed", "\(path): cannot create files: \(SystemError.last)") }
            close(fd)
            unlink(probe)
            check(name, "ok", "\(path): writable")
        } else {
            guard let directory = opendir(path) else { return check(name, "failed", "\(path): cannot list: \(SystemError.last)") }
            var raw = 0
            while let entry = readdir(directory) {
                let entryName = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if !entryName.hasPrefix("."), RestoreBatch.isRawFile(URL(fileURLWithPath: entryName)) { raw += 1 }
            }
            closedir(directory)
            check(name, "ok", "\(path): readable, \(raw) RAW file\(raw == 1 ? "" : "s") now")
        }
    }

    func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    func text() -> String {
        var lines: [String] = []
        lines.append("board: " + (board.detected_model ?? "(no device-tree or DMI name)") + ", \(board.architecture)"
                     + (board.online_cores.map { ", \($0) cores online" } ?? "") + (board.memory_bytes.map { ", \(mebibytes($0)) RAM" } ?? ""))
        lines.append("cpu features (\(board.cpu_feature_source)): " + (board.cpu_features.isEmpty ? "none of the kernels' levels" : board.cpu_features.joined(separator: " "))
                     + (board.hwcap.map { ", AT_HWCAP \($0)" } ?? "") + (board.hwcap2.map { ", AT_HWCAP2 \($0)" } ?? ""))
        lines.append("profile: " + (board.profile.map { "\($0) (\(board.profile_chosen)), MemoryMax=\(board.profile_memory_max ?? "")" } ?? "none"))
        for precision in precisions {
            lines.append("\(precision.precision): " + (precision.available
                ? "\(precision.isa ?? "") kernels " + precision.kernels.joined(separator: ", ")
                : "not available in this build"))
        }
        if let memory {
            lines.append("memory for \(memory.width)x\(memory.height)\(memory.rotated ? " rotated" : ""), \(memory.threads) threads: arena \(mebibytes(memory.arena_bytes)), "
                         + "peak RSS \(mebibytes(memory.predicted_peak_rss_bytes)) process, \(mebibytes(memory.predicted_decoder_peak_rss_bytes)) decoder child, "
                         + "\(mebibytes(memory.predicted_combined_peak_bytes)) both; suggested MemoryMax=\(memory.suggested_memory_max)")
        }
        lines.append("")
        for check in checks {
            let mark = check.status == "ok" ? "ok     " : check.status == "warning" ? "warning" : "FAILED "
            lines.append("\(mark) \(check.name): \(check.detail)")
        }
        lines.append(ok ? "Nightjar will work here." : "Nightjar will not work here as configured (see FAILED above).")
        return lines.joined(separator: "\n")
    }
}

