import FoundationEssentials
import Glibc

/// One file to restore and where its PNG goes.
public struct RestoreJob: Sendable, Equatable {
    public var input: URL
    public var output: URL

    public init(input: URL, output: URL) {
        self.input = input
        self.output = output
    }
}

/// Turns the command line's INPUT... and `-o` into (input, output) pairs.
public enum RestoreBatch {
    /// File extensions (lower case) taken as RAW files when scanning a directory. Files named
    /// explicitly are always tried, whatever their extension.
    public static let rawExtensions: Set<String> = [
        "dng", "arw", "srf", "sr2", "nef", "nrw", "cr2", "cr3", "crw", "rw2", "raw", "rwl",
        "orf", "pef", "raf", "srw", "3fr", "fff", "iiq", "mef", "mos", "mrw", "x3f", "erf",
        "kdc", "dcr", "k25", "gpr", "ari", "cap", "rwz", "bay", "mdc", "nksc",
    ]

    /// Whether `url` has one of the `rawExtensions` (any case).
    public static func isRawFile(_ url: URL) -> Bool {
        rawExtensions.contains(url.pathExtension.lowercased())
    }

    /// The default output for an input: NAME.png in `directory`, or next to the input.
    public static func defaultOutput(for input: URL, in directory: URL? = nil) -> URL {
        let name = input.deletingPathExtension().lastPathComponent + ".png"
        return (directory ?? input.deletingLastPathComponent()).appendingPathComponent(name)
    }

    /// Expands `inputs` (files and directories) into jobs.
    ///
    /// - Directories contribute their RAW files (by extension, sorted by name; hidden files
    ///   skipped; subdirectories only when `recursive`). Files are taken as given, even when
    ///   missing: `restoreCapture` then reports them one by one, so the batch goes on.
    /// - `output` nil: each PNG goes next to its input as NAME.png.
    /// - `output` an existing directory, or a path ending in "/", or several inputs: the PNGs
    ///   go into that directory (created when `createDirectory`).
    /// - One input file and an `output` that is not a directory: that file is the output.
    ///
    /// Throws `CaptureError.invalidArgument` for usage errors: no inputs, a directory that
    /// cannot be listed, an output file for several inputs, two inputs mapping to one output.
    public static func plan(inputs: [URL], output: URL? = nil, recursive: Bool = false,
                            createDirectory: Bool = true) throws -> [RestoreJob] {
        guard !inputs.isEmpty else { throw CaptureError.invalidArgument("no input files given") }
        var files: [URL] = []
        var sawDirectory = false
        for input in inputs {
            if FileKind(atPath: input.path) == .directory {
                sawDirectory = true
                files += try scan(input, recursive: recursive)
            } else {
                files.append(input)
            }
        }

        var outputDirectory: URL?
        var outputFile: URL?
        if let output {
            let kind = FileKind(atPath: output.path)
            let namesDirectory = output.relativeString.hasSuffix("/") || output.path.hasSuffix("/")
            if kind == .directory || namesDirectory {
                outputDirectory = output
            } else if inputs.count == 1 && !sawDirectory {
                outputFile = output
            } else if kind.exists {
                throw CaptureError.invalidArgument("\(output.path): -o must name a directory when there are several inputs")
            } else {
                outputDirectory = output
            }
        }
        if let directory = outputDirectory, createDirectory, !FileKind(atPath: directory.path).exists {
            do {
                try makeDirectories(directory.path)
            } catch {
                throw CaptureError.unwritable(path: directory.path, reason: "cannot create the output directory: \(error)")
            }
        }

        let jobs = files.map { input in
            RestoreJob(input: input, output: outputFile ?? defaultOutput(for: input, in: outputDirectory))
        }
        // Two inputs must never write the same output (e.g. IMG.DNG and IMG.CR2).
        var seen: [String: URL] = [:]
        for job in jobs {
            let key = job.output.standardizedFileURL.path
            if let other = seen[key] {
                throw CaptureError.invalidArgument("\(other.path) and \(job.input.path) would both be written to \(job.output.path); restore them into different directories")
            }
            seen[key] = job.input
        }
        return jobs
    }

    /// RAW files in `directory`, sorted by path.
    static func scan(_ directory: URL, recursive: Bool) throws -> [URL] {
        let names: [String]
        do {
            names = try entries(of: directory.path)
        } catch {
            throw CaptureError.invalidArgument("\(directory.path): cannot list the directory: \(error)")
        }
        var found: [URL] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let url = directory.appendingPathComponent(name)
            switch FileKind(atPath: url.path) {
            case .missing: continue
            case .directory: if recursive { found += try scan(url, recursive: true) }
            case .regularFile, .other: if isRawFile(url) { found.append(url) }
            }
        }
        return found
    }
}

extension RestoreBatch {
    /// The names in `directory` (not "." and ".."), read as bytes: names that are not UTF-8
    /// come back as `PathBytes` strings instead of being skipped or altered.
    static func entries(of directory: String) throws(SystemError) -> [String] {
        guard let dir = withPathBytes(directory, { opendir($0) }) else { throw .last }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .last }
                break
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes == [0x2E] || bytes == [0x2E, 0x2E] { continue }
            names.append(PathBytes.string(bytes))
        }
        return names
    }

    /// mkdir -p, through `withPathBytes`.
    static func makeDirectories(_ path: String) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if withPathBytes(prefix, { mkdir($0, 0o777) }) != 0, errno != EEXIST { throw .last }
        }
        guard FileKind(atPath: path) == .directory else { throw SystemError(code: ENOTDIR) }
    }
}

/// The result of one job in a batch.
public struct RestoreOutcome: Sendable {
    public var job: RestoreJob
    public var result: Result<RestoreReport, CaptureError>

    public var succeeded: Bool {
        if case .success = result { return true }
        return false
    }
}

/// Exit statuses for `nightjar restore` (documented in the README for scripts).
public enum RestoreExitStatus: Int32, Sendable {
    /// Every input was restored.
    case allRestored = 0
    /// Nothing was restored: every input failed.
    case failure = 1
    /// Some inputs failed, the others were restored.
    case partialFailure = 2
    /// Bad arguments: nothing was attempted.
    case usage = 64
    /// An unexpected internal error.
    case internalError = 70

    /// The status for a finished batch.
    public init(outcomes: [RestoreOutcome]) {
        let restored = outcomes.filter(\.succeeded).count
        self = restored == outcomes.count ? .allRestored : restored == 0 ? .failure : .partialFailure
    }
}

extension RestoreBatch {
    /// Restores `jobs` one after another through `restorer`; a failing file is recorded and
    /// the batch goes on. `progress(index, count, outcome)` is called after each file (for a
    /// progress bar or a `--json` line).
    /// Each file after the first has been decoding (in its own decoder child) while the one
    /// before it ran through the network.
    public static func run(_ jobs: [RestoreJob], restorer: Restorer,
                           progress: (_ index: Int, _ count: Int, _ outcome: RestoreOutcome) -> Void = { _, _, _ in }) -> [RestoreOutcome] {
        var index = 0
        return run(jobs, progress: progress) { job in
            index += 1
            return try restorer.restore(input: job.input, output: job.output, next: index < jobs.count ? jobs[index].input : nil)
        }
    }

    /// The same with any network (stand-ins in tests). Invalid options throw before any file
    /// is touched, since they would fail every file alike; everything else is a per-file
    /// outcome. Every file's per-frame memory comes from one `workspace` (a growing one made
    /// here when none is given).
    public static func run<Network: FrameNetwork>(_ jobs: [RestoreJob], options: RestoreOptions, modelName: String,
                           network: Network, workspace: CaptureWorkspace? = nil,
                           progress: (_ index: Int, _ count: Int, _ outcome: RestoreOutcome) -> Void = { _, _, _ in }) throws -> [RestoreOutcome] {
        try options.validate()
        let workspace = workspace ?? CaptureWorkspace()
        return run(jobs, progress: progress) {
            try restoreCapture(input: $0.input, output: $0.output, options: options, modelName: modelName, network: network,
                               workspace: workspace)
        }
    }

    /// The same with a whole-frame network runner.
    public static func run(_ jobs: [RestoreJob], options: RestoreOptions, modelName: String,
                           network: @escaping NetworkRunner, workspace: CaptureWorkspace? = nil,
                           progress: (_ index: Int, _ count: Int, _ outcome: RestoreOutcome) -> Void = { _, _, _ in }) throws -> [RestoreOutcome] {
        try run(jobs, options: options, modelName: modelName, network: WholeFrameNetwork(network), workspace: workspace,
                progress: progress)
    }

    private static func run(_ jobs: [RestoreJob], progress: (_ index: Int, _ count: Int, _ outcome: RestoreOutcome) -> Void,
                            restore: (RestoreJob) throws -> RestoreReport) -> [RestoreOutcome] {
        var outcomes: [RestoreOutcome] = []
        for (index, job) in jobs.enumerated() {
            let outcome: RestoreOutcome
            do {
                outcome = RestoreOutcome(job: job, result: .success(try restore(job)))
            } catch let error as CaptureError {
                outcome = RestoreOutcome(job: job, result: .failure(error))
            } catch {
                outcome = RestoreOutcome(job: job, result: .failure(.network(path: job.input.path, reason: "\(error)")))
            }
            outcomes.append(outcome)
            progress(index, jobs.count, outcome)
        }
        return outcomes
    }
}
