import Foundation
@testable import Nightjar
import XCTest

/// Issue #14: hostile files, signals and races. Each test names the case of the issue it
/// covers. Command-line cases run the real executable; they use a model of the published
/// architecture with small deterministic weights (written here, no ../shared needed), since
/// what is checked is what the process does with files, not the image.
final class HardeningTests: XCTestCase {
    // MARK: Support

    private static let modelDirectory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nightjar-hardening-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    override class func tearDown() {
        try? FileManager.default.removeItem(at: modelDirectory)
        super.tearDown()
    }

    /// Tensors of the published architecture with small deterministic values.
    static func smallTensors(scale: Float = 0.01) -> [String: SafeTensorsFile.Tensor] {
        var tensors: [String: SafeTensorsFile.Tensor] = [:]
        var state: UInt32 = 12345
        func next() -> Float {
            state = state &* 1_664_525 &+ 1_013_904_223
            return (Float(state >> 8) / Float(1 << 24) - 0.5) * 2 * scale
        }
        for spec in Architecture.published.convolutions {
            tensors[spec.weightName] = .init(shape: spec.weightShape, values: (0..<spec.weightShape.reduce(1, *)).map { _ in next() })
            if spec.bias { tensors[spec.biasName] = .init(shape: [spec.outChannels], values: (0..<spec.outChannels).map { _ in next() }) }
        }
        return tensors
    }

    static func smallModel() throws -> NightjarModel {
        try NightjarModel(architecture: .published,
                          provenance: .init(checkpointName: "test", checkpointSHA256: "0", keyLayout: "official"),
                          tensors: smallTensors())
    }

    /// The small model as a file, written once.
    static let modelFile: URL = {
        let url = modelDirectory.appendingPathComponent("small.safetensors")
        try? smallModel().write(to: url)
        return url
    }()

    func capture(_ name: String, width: Int = 64, height: Int = 64, in directory: URL) throws -> URL {
        try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height),
                                                             exposure: SyntheticScene.Exposure()),
                                  named: name, in: directory)
    }

    /// Names in `directory` that are temporaries of ours.
    func temporaries(in directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { OutputFile.ownerPID(ofTemporaryNamed: $0) != nil }
    }

    /// Runs nightjar, killing it after `seconds` (a hang is a failure, not a stuck test run).
    func runBounded(_ arguments: [String], seconds: Double = 60, executable: URL = nightjarExecutable) throws -> (result: ProcessResult, timedOut: Bool) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let timer = DispatchSource.makeTimerSource()
        var timedOut = false
        let lock = NSLock()
        timer.schedule(deadline: .now() + seconds)
        timer.setEventHandler {
            lock.lock(); timedOut = true; lock.unlock()
            kill(process.processIdentifier, SIGKILL)
        }
        timer.resume()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        lock.lock(); defer { lock.unlock() }
        return (ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                              stderr: String(decoding: stderr, as: UTF8.self)), timedOut)
    }

    func skipUnlessRoot() throws {
        if geteuid() != 0 {
            print("SKIPPED: \(name) needs root (CI runs as root)")
            throw XCTSkip("needs root")
        }
    }

    // MARK: 1, 6, 7: one way to create output files

    /// Case 1: the temporary's name cannot be predicted (random, per file), and it is created
    /// with O_EXCL|O_NOFOLLOW, so a link planted anywhere is never written through.
    func testTemporaryNamesAreRandomAndExclusive() throws {
        let dir = try makeTemporaryDirectory(self)
        let target = dir.appendingPathComponent("out.png").path
        let a = try OutputFile(path: target), b = try OutputFile(path: target)
        XCTAssertNotEqual(a.temporaryPath, b.temporaryPath)
        for file in [a, b] {
            let name = String(file.temporaryPath.split(separator: "/").last!)
            XCTAssertEqual(OutputFile.ownerPID(ofTemporaryNamed: name), getpid(), name)
            XCTAssertLessThanOrEqual(name.utf8.count, 40, name)
            var info = stat()
            XCTAssertEqual(lstat(file.temporaryPath, &info), 0)
            XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG)
            XCTAssertEqual(info.st_nlink, 1)
        }
        a.abandon()
        b.abandon()
        XCTAssertEqual(temporaries(in: dir), [])

        // The attack of case 1: a victim file and links to it planted at the final name.
        let victim = dir.appendingPathComponent("victim")
        try Data("precious".utf8).write(to: victim)
        let planted = dir.appendingPathComponent("planted.png")
        try FileManager.default.createSymbolicLink(atPath: planted.path, withDestinationPath: victim.path)
        XCTAssertThrowsError(try OutputFile.write(Array("evil".utf8), to: planted.path, overwrite: false)) {
            XCTAssertEqual($0 as? OutputFileError, .exists(path: planted.path))
        }
        // Racing the early check: the link appears after it; link(2) still refuses.
        let late = try OutputFile(path: dir.appendingPathComponent("late.png").path)
        try Array("evil".utf8).withUnsafeBytes { try late.write($0) }
        try FileManager.default.createSymbolicLink(atPath: late.path, withDestinationPath: victim.path)
        XCTAssertThrowsError(try late.commit(overwrite: false)) { XCTAssertEqual($0 as? OutputFileError, .exists(path: late.path)) }
        // --overwrite replaces the link itself, never the file it points to.
        try OutputFile.write(Array("new".utf8), to: planted.path, overwrite: true)
        XCTAssertEqual(try Data(contentsOf: victim), Data("precious".utf8))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: planted.path)[.type] as? FileAttributeType, .typeRegular)
        XCTAssertEqual(try Data(contentsOf: planted), Data("new".utf8))
        XCTAssertEqual(temporaries(in: dir), [])
    }

    /// Case 6 (second half): a 250-byte final name works; the temporary's name is short.
    func testLongFinalNamesWork() throws {
        let dir = try makeTemporaryDirectory(self)
        let name = String(repeating: "n", count: 246) + ".png"
        XCTAssertEqual(name.utf8.count, 250)
        try OutputFile.write(Array("png".utf8), to: dir.appendingPathComponent(name).path, overwrite: false)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent(name)), Data("png".utf8))
        // Through restore, with its sidecar (NAME.png.json: 255 bytes).
        let input = try capture("in.dng", in: dir)
        let output = dir.appendingPathComponent(String(repeating: "r", count: 246) + ".png")
        let run = try runNightjar(["restore", input.path, "-o", output.path, "--model", Self.modelFile.path, "--threads", "1", "--sidecar"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.path + ".json"))
        XCTAssertEqual(temporaries(in: dir), [])
    }

    /// Case 7: --overwrite replaces regular files and links only: never a FIFO, a directory or
    /// a device node (a copy of /dev/null's node made here, as root).
    func testOverwriteNeverReplacesDevicesFIFOsOrDirectories() throws {
        let dir = try makeTemporaryDirectory(self)
        let fifo = dir.appendingPathComponent("fifo.png")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let subdirectory = dir.appendingPathComponent("dir.png")
        try FileManager.default.createDirectory(at: subdirectory, withIntermediateDirectories: false)
        XCTAssertThrowsError(try OutputFile.write([1], to: fifo.path, overwrite: true)) {
            XCTAssertEqual($0 as? OutputFileError, .notReplaceable(path: fifo.path, kind: "FIFO (named pipe)"))
        }
        XCTAssertThrowsError(try OutputFile.write([1], to: subdirectory.path, overwrite: true)) {
            XCTAssertEqual($0 as? OutputFileError, .notReplaceable(path: subdirectory.path, kind: "directory"))
        }
        let input = try capture("in.dng", in: dir)
        let run = try runNightjar(["restore", input.path, "-o", fifo.path, "--overwrite", "--model", Self.modelFile.path, "--threads", "1"])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("is a FIFO (named pipe), not a regular file; it is never replaced"), run.stderr)
        var info = stat()
        XCTAssertEqual(lstat(fifo.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO)

        try skipUnlessRoot()
        let null = dir.appendingPathComponent("null")
        // makedev(1, 3): the node of /dev/null. Some containers forbid mknod even to root.
        guard mknod(null.path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 else {
            print("SKIPPED: \(name): mknod refused here: \(String(cString: strerror(errno)))")
            throw XCTSkip("mknod refused")
        }
        let device = try runNightjar(["restore", input.path, "-o", null.path, "--overwrite", "--model", Self.modelFile.path, "--threads", "1"])
        XCTAssertEqual(device.status, 1, device.stderr)
        XCTAssertTrue(device.stderr.contains("is a character device, not a regular file; it is never replaced"), device.stderr)
        XCTAssertEqual(lstat(null.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR)
        XCTAssertEqual(temporaries(in: dir), [])
    }

    // MARK: 5: signals and stale temporaries

    /// Stale temporaries of ours (their process gone) are removed by the next file created in
    /// the directory; live ones, other processes' and other names are kept.
    func testStaleTemporariesAreCleanedOnlyWhenTheirProcessIsGone() throws {
        let dir = try makeTemporaryDirectory(self)
        // A PID that is surely not running: above the kernel's pid_max.
        let maxPID = Int((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 4_194_304
        let stale = ".nightjar-\(maxPID + 1)-abc123.partial"
        let live = ".nightjar-1-abc123.partial" // PID 1 always runs
        let others = [".nightjar-x-1.partial", "nightjar-\(maxPID + 1)-abc.partial", ".other.png.123.partial"]
        for name in [stale, live] + others { try Data("x".utf8).write(to: dir.appendingPathComponent(name)) }
        let removed = OutputFile.cleanStaleTemporaries(in: dir.path)
        XCTAssertEqual(removed, [stale])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), Set([live] + others))
    }

    /// Case 5: SIGTERM and SIGINT during a restore remove the temporary, and the process still
    /// ends by the signal; after SIGKILL the next run removes it.
    func testSignalsDuringARestoreLeaveNothingBehind() throws {
        let dir = try makeTemporaryDirectory(self)
        let input = dir.appendingPathComponent("large.dng")
        let made = try runNightjar(["synthesize", "-o", input.path, "--size", "2048x1536"])
        XCTAssertEqual(made.status, 0, made.stderr)
        for signal in [SIGTERM, SIGINT, SIGKILL] {
            let out = dir.appendingPathComponent("out-\(signal)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
            let process = Process()
            process.executableURL = nightjarExecutable
            process.arguments = ["restore", input.path, "-o", out.path + "/", "--model", Self.modelFile.path, "--threads", "1"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait for the temporary to appear (it exists from before the decode to the commit).
            let deadline = Date().addingTimeInterval(60)
            while temporaries(in: out).isEmpty, process.isRunning, Date() < deadline { usleep(2000) }
            XCTAssertFalse(temporaries(in: out).isEmpty, "no temporary seen for signal \(signal)")
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "signal \(signal)")
            XCTAssertEqual(process.terminationStatus, signal)
            if signal == SIGKILL {
                XCTAssertEqual(temporaries(in: out).count, 1, "SIGKILL cannot be caught")
                let next = try runNightjar(["restore", try capture("small.dng", in: dir).path, "-o", out.path + "/",
                                            "--model", Self.modelFile.path, "--threads", "1"])
                XCTAssertEqual(next.status, 0, next.stderr)
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), ["small.png"])
            } else {
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [], "signal \(signal)")
            }
        }
    }

    // MARK: 2, 3, 4: one way to read input files

    /// Case 2: a model file rewritten in place while it loads (as a daemon reloading a model
    /// meets it) never crashes the process: every load gives the model or a clean error.
    func testModelRewrittenWhileLoadingNeverFaults() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("model.safetensors")
        let good = try SafeTensorsFile(metadata: try Self.smallModel().metadata, tensors: Self.smallTensors()).encoded()
        try Data(good).write(to: url)
        let stop = ManagedAtomicFlag()
        let writer = Thread {
            // Truncate and rewrite in place, the way `cp` over the file does.
            while !stop.isSet {
                let fd = open(url.path, O_WRONLY | O_TRUNC)
                guard fd >= 0 else { continue }
                var offset = 0
                while offset < good.count {
                    let n = good.withUnsafeBytes { write(fd, $0.baseAddress! + offset, min(1 << 16, good.count - offset)) }
                    if n <= 0 { break }
                    offset += n
                }
                close(fd)
            }
        }
        writer.start()
        var loaded = 0, refused = 0
        for _ in 0..<150 {
            do {
                let model = try NightjarModel.load(contentsOf: url)
                XCTAssertEqual(model.tensors, Self.smallTensors())
                loaded += 1
            } catch {
                refused += 1
            }
        }
        stop.set()
        while writer.isExecuting { usleep(1000) }
        XCTAssertEqual(loaded + refused, 150)
        print("model rewritten while loading: \(loaded) loaded whole, \(refused) refused with an error, no fault")
    }

    /// Case 3: sizes from a file are checked arithmetic: a shape whose byte count overflows
    /// Int is an error naming the tensor (safetensors and .npy).
    func testOverflowingShapesAreRefused() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4194304,1048576,1048576],"data_offsets":[0,4]}}"#
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
        bytes += [0, 0, 0, 0]
        XCTAssertThrowsError(try SafeTensorsFile.parse(bytes, path: "x")) {
            XCTAssertEqual("\($0)", "x: tensor 'w': shape [4194304, 1048576, 1048576] holds more values than the 4-byte data section")
        }
        for shape in ["(4194304, 1048576, 1048576)", "(4611686018427387904,)", "(9223372036854775807, 2)"] {
            var npy: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
            let text = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }\n"
            npy += [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)] + Array(text.utf8) + [0, 0, 0, 0]
            XCTAssertThrowsError(try NPYArray.parse(npy, path: "t.npy")) {
                XCTAssertTrue("\($0)".contains("needs more than the largest possible file") || "\($0)".contains("needs"), "\($0)")
            }
        }
    }

    /// Case 4: FIFOs and devices are refused at once with what they are, wherever a file is
    /// read (`--model`, the `convert` input, `--board`, `run-tensor`); sizes are checked before
    /// anything is read.
    func testInputsThatAreNotRegularFilesAreRefusedAtOnce() throws {
        let dir = try makeTemporaryDirectory(self)
        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let input = try capture("in.dng", in: dir)
        let npy = dir.appendingPathComponent("in.npy")
        try NPYArray(shape: [32, 32], floats: [Float](repeating: 0.1, count: 1024)).write(to: npy)
        let cases: [([String], String)] = [
            (["restore", input.path, "--model", fifo.path], "FIFO (named pipe)"),
            (["restore", input.path, "--model", "/dev/zero"], "character device"),
            (["convert", fifo.path, "-o", dir.appendingPathComponent("m.safetensors").path], "FIFO (named pipe)"),
            (["footprint", "--model", Self.modelFile.path, "--size", "64x64", "--board", fifo.path], "FIFO (named pipe)"),
            (["run-tensor", fifo.path, npy.path, dir.appendingPathComponent("o.npy").path], "FIFO (named pipe)"),
            (["run-tensor", Self.modelFile.path, fifo.path, dir.appendingPathComponent("o.npy").path], "FIFO (named pipe)"),
            (["restore", fifo.path, "--model", Self.modelFile.path, "-o", dir.appendingPathComponent("f.png").path], "FIFO (named pipe)"),
            (["synthesize", "-o", dir.appendingPathComponent("s.dng").path, "--scene", fifo.path], "FIFO (named pipe)"),
        ]
        for (arguments, kind) in cases {
            let (run, timedOut) = try runBounded(arguments, seconds: 60)
            XCTAssertFalse(timedOut, "\(arguments) hung")
            XCTAssertEqual(run.status, 1, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("it is a \(kind), not a regular file"), "\(arguments): \(run.stderr)")
        }
        // evaluate's pair lists: refused at once too (the pair list is then empty: a usage error).
        let csv = dir.appendingPathComponent("pairs.csv")
        XCTAssertEqual(mkfifo(csv.path, 0o600), 0)
        let (pairs, pairsTimedOut) = try runBounded(["evaluate", "--model", Self.modelFile.path, csv.path], seconds: 60)
        XCTAssertFalse(pairsTimedOut, "evaluate hung on a FIFO")
        XCTAssertNotEqual(pairs.status, 0, pairs.stderr)
        XCTAssertTrue(pairs.stderr.contains("it is a FIFO (named pipe), not a regular file"), pairs.stderr)
        // A 1 GiB (sparse) checkpoint is refused by its size, before it is read.
        let huge = dir.appendingPathComponent("huge.pth")
        XCTAssertTrue(FileManager.default.createFile(atPath: huge.path, contents: nil))
        XCTAssertEqual(truncate(huge.path, 1 << 30), 0)
        let (run, timedOut) = try runBounded(["convert", huge.path, "-o", dir.appendingPathComponent("m.safetensors").path], seconds: 60)
        XCTAssertFalse(timedOut)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("the file is 1073741824 bytes, more than the"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.safetensors").path))
        // Under the limit, a file that starts like no checkpoint is refused on its first bytes.
        XCTAssertEqual(truncate(huge.path, 256 << 20), 0)
        let garbage = try runNightjar(["convert", huge.path, "-o", dir.appendingPathComponent("m.safetensors").path])
        XCTAssertEqual(garbage.status, 1, garbage.stderr)
        XCTAssertTrue(garbage.stderr.contains("huge.pth: not a PyTorch checkpoint: it starts with neither a zip header"), garbage.stderr)
    }

    // MARK: 8, 11: limits and messages

    /// Cases 8 and 11: thread counts are bounded, negative numbers and `--max-pixels 0` are
    /// usage errors that say what is wrong, and a usage error creates nothing (not the -o
    /// directory).
    func testLimitsAreUsageErrorsThatCreateNothing() throws {
        let dir = try makeTemporaryDirectory(self)
        let input = try capture("in.dng", in: dir)
        let out = dir.appendingPathComponent("never-created")
        let cases: [([String], String)] = [
            (["--threads", "5000"], "--threads 5000 is more than the"),
            (["--threads", "100000"], "--threads 100000 is more than the"),
            (["--threads", "-5"], "--threads must be at least 1, not -5"),
            (["--threads", "0"], "--threads must be at least 1, not 0"),
            (["--m", "-1.5"], "--m must be a positive number"),
            (["--max-pixels", "0"], "--max-pixels must be at least 1, not 0"),
        ]
        for (extra, message) in cases {
            let run = try runNightjar(["restore", input.path, "-o", out.path + "/", "--model", Self.modelFile.path] + extra)
            XCTAssertEqual(run.status, 64, "\(extra): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(message), "\(extra): \(run.stderr)")
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(extra) created the output directory")
        }
        // Usage errors found after parsing (no RAW files) and a bad model create nothing either.
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: false)
        let none = try runNightjar(["restore", empty.path, "-o", out.path + "/", "--model", Self.modelFile.path])
        XCTAssertEqual(none.status, 64, none.stderr)
        let badModel = try runNightjar(["restore", input.path, "-o", out.path + "/", "--model", input.path])
        XCTAssertEqual(badModel.status, 1, badModel.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        let bench = try runNightjar(["bench", "--model", Self.modelFile.path, "--threads", "5000"])
        XCTAssertEqual(bench.status, 64, bench.stderr)
    }

    /// Case 11: a symlink loop and an over-long name component are named as such, not as
    /// "no such file".
    func testPathErrorsNameTheirCause() throws {
        let dir = try makeTemporaryDirectory(self)
        let loop = dir.appendingPathComponent("loop.dng")
        try FileManager.default.createSymbolicLink(atPath: loop.path, withDestinationPath: loop.path)
        let long = dir.appendingPathComponent(String(repeating: "l", count: 300) + ".dng")
        let run = try runNightjar(["restore", loop.path, long.path, "-o", dir.path + "/", "--model", Self.modelFile.path])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("loop.dng: cannot read: Too many levels of symbolic links"), run.stderr)
        XCTAssertTrue(run.stderr.contains(".dng: cannot read: File name too long"), run.stderr)
    }

    /// Case 11: an address-space limit that stops the engine's threads or its memory is named
    /// in the message (`ulimit -v`), never a bare "cannot start 8 worker threads" or "cannot
    /// map"; limits from too low for the frame's memory to enough for everything.
    func testAddressSpaceLimitsAreNamed() throws {
        let dir = try makeTemporaryDirectory(self)
        let input = try capture("in.dng", width: 256, height: 192, in: dir)
        var refused = 0
        for mebibytes in [40, 48, 64, 400] {
            let output = dir.appendingPathComponent("out-\(mebibytes).png")
            let (run, timedOut) = try runBounded(["-c", "ulimit -v \(mebibytes << 10) && exec \"$0\" \"$@\"", nightjarExecutable.path,
                                                  "restore", input.path, "-o", output.path, "--model", Self.modelFile.path, "--threads", "8"],
                                                 executable: URL(fileURLWithPath: "/bin/sh"))
            XCTAssertFalse(timedOut)
            if run.status == 0 { continue }
            // 400 MiB is ample: a refusal there is a failure, whatever it says.
            XCTAssertNotEqual(mebibytes, 400, "400 MiB: \(run.stderr)")
            // Too little to load the libraries or for the Swift runtime's first allocations:
            // nothing of ours ran yet (this depends on the build and the machine).
            if run.stderr.contains("error while loading shared libraries") || run.stderr.contains("Fatal error: failed to allocate") {
                print("\(name): \(mebibytes) MiB is too little to start: \(run.stderr.prefix(120))")
                continue
            }
            refused += 1
            XCTAssertEqual(run.status, 1, "\(mebibytes) MiB: \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("the address-space limit (ulimit -v, systemd LimitAS=) of \(mebibytes) MiB is too low"),
                          "\(mebibytes) MiB: \(run.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
        }
        XCTAssertGreaterThan(refused, 0, "no limit stopped the restore")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-400.png").path))
    }

    /// Case 11: a full disk is named ("No space left on device"), nothing is committed and
    /// no temporary is left, with or without the sidecar (a 1 MiB tmpfs, as root).
    func testFullDiskIsNamedAndLeavesNothing() throws {
        try skipUnlessRoot()
        let dir = try makeTemporaryDirectory(self)
        let input = try capture("in.dng", width: 256, height: 192, in: dir)
        let reference = dir.appendingPathComponent("reference.png")
        let first = try runNightjar(["restore", input.path, "-o", reference.path, "--model", Self.modelFile.path, "--threads", "1"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let pngBytes = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: reference.path)[.size] as? Int)
        let mount = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: false)
        let mounted = Process()
        mounted.executableURL = URL(fileURLWithPath: "/bin/mount")
        mounted.arguments = ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.path]
        try mounted.run()
        mounted.waitUntilExit()
        guard mounted.terminationStatus == 0 else {
            print("SKIPPED: \(name): cannot mount a tmpfs here")
            throw XCTSkip("cannot mount a tmpfs")
        }
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = [mount.path]
            try? unmount.run()
            unmount.waitUntilExit()
        }
        // Leave room for the PNG's pages only: the sidecar (or the PNG) meets a full disk.
        var info = statvfs()
        XCTAssertEqual(statvfs(mount.path, &info), 0)
        let page = Int(info.f_bsize)
        let free = Int(info.f_bavail) * page
        let filler = mount.appendingPathComponent("filler")
        try Data(count: free - (pngBytes + page - 1) / page * page).write(to: filler)
        for sidecar in [true, false] {
            if !sidecar { try Data(count: (pngBytes + page - 1) / page * page - page).write(to: mount.appendingPathComponent("more")) }
            let run = try runNightjar(["restore", input.path, "-o", mount.path + "/", "--model", Self.modelFile.path, "--threads", "1"]
                                      + (sidecar ? ["--sidecar"] : []))
            XCTAssertEqual(run.status, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains("No space left on device"), run.stderr)
            XCTAssertTrue(run.stderr.contains("restored 0 of 1"), run.stderr)
            XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: mount.path)),
                           Set(sidecar ? ["filler"] : ["filler", "more"]), "sidecar \(sidecar)")
        }
    }

    // MARK: 9: untrusted text

    /// Case 9: control characters, escape sequences and bidi overrides are escaped on their
    /// way to a terminal or a log.
    func testUntrustedTextIsNeutralised() throws {
        XCTAssertEqual(displayable("plain é ü 日本"), "plain é ü 日本")
        XCTAssertEqual(displayable("a\u{1B}]0;pwned\u{7}b"), "a\\x1B]0;pwned\\x07b")
        XCTAssertEqual(displayable("x\ny\rz\tw"), "x\\ny\\rz\\tw")
        XCTAssertEqual(displayable("\u{9B}31m\u{7F}"), "\\x9B31m\\x7F")
        XCTAssertEqual(displayable("evil\u{202E}gnp.exe\u{2066}\u{2028}"), "evil\\u{202E}gnp.exe\\u{2066}\\u{2028}")
        for scalar in (0..<0x20).map({ Unicode.Scalar($0)! }) + (0x7F...0x9F).map({ Unicode.Scalar($0)! }) {
            XCTAssertFalse(displayable("a\(Character(scalar))b").unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        }

        // A file name with an escape sequence and a newline that fakes a log line.
        let dir = try makeTemporaryDirectory(self)
        let name = "x\u{1B}]0;pwned\u{7}\nnightjar: restored everything.dng"
        let hostile = dir.appendingPathComponent(name)
        try Data("not a raw".utf8).write(to: hostile)
        let run = try runNightjar(["restore", hostile.path, "-o", dir.appendingPathComponent("o.png").path, "--model", Self.modelFile.path])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertFalse(run.stderr.contains("\u{1B}"), run.stderr)
        let lines = run.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, run.stderr) // the error and the summary
        XCTAssertTrue(lines[0].hasPrefix("nightjar: error: ") && lines[0].contains("x\\x1B]0;pwned\\x07\\nnightjar: restored"), run.stderr)

        // A checkpoint naming a global with an escape sequence that would retitle the terminal.
        // The legacy container's magic-number pickle, then PROTO 2, GLOBAL "MODULE\nsystem\n",
        // BINUNICODE "true", TUPLE1, REDUCE, STOP.
        let magic: [UInt8] = [0x80, 2, 0x8A, 10, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, UInt8(ascii: ".")]
        let pickle: [UInt8] = magic + [0x80, 2] + Array("cos\u{1B}]0;pwned\u{7}\nsystem\n".utf8) + [0x58, 4, 0, 0, 0] + Array("true".utf8)
            + [0x85, UInt8(ascii: "R"), UInt8(ascii: ".")]
        let checkpoint = dir.appendingPathComponent("evil.pth")
        try Data(pickle).write(to: checkpoint)
        let convert = try runNightjar(["convert", checkpoint.path, "-o", dir.appendingPathComponent("m.safetensors").path])
        XCTAssertEqual(convert.status, 1, convert.stderr)
        XCTAssertFalse(convert.stderr.contains("\u{1B}") || convert.stderr.contains("\u{7}"), convert.stderr)
        XCTAssertTrue(convert.stderr.contains("os\\x1B]0;pwned\\x07"), convert.stderr)
        XCTAssertEqual(convert.stderr.split(separator: "\n").count, 1, convert.stderr)
    }

    // MARK: 10: plausibility of what LibRaw and models give

    /// `bytes` (a little-endian DNG from `DNGImage`) with IFD0's single-valued `tag` set to `value`.
    func patched(_ bytes: [UInt8], tag: UInt16, value: UInt32) -> [UInt8] {
        var bytes = bytes
        let count = Int(bytes[8]) | Int(bytes[9]) << 8
        for index in 0..<count {
            let at = 10 + 12 * index
            guard UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 == tag else { continue }
            let type = Int(bytes[at + 2])
            if type == 3 {
                bytes[at + 8] = UInt8(value & 0xFF); bytes[at + 9] = UInt8(value >> 8)
            } else {
                for k in 0..<4 { bytes[at + 8 + k] = UInt8((value >> (8 * UInt32(k))) & 0xFF) }
            }
            return bytes
        }
        XCTFail("tag \(tag) not found")
        return bytes
    }

    /// Case 10: DNGs that LibRaw 0.20 would restore into a wrong image (data past the end,
    /// Compression 7 on uncompressed data, BitsPerSample 0, WhiteLevel 0 or below black) are
    /// refused with a clear error, every time; the intact file is restored.
    func testImplausibleDNGsAreRefusedEveryTime() throws {
        let dir = try makeTemporaryDirectory(self)
        let image = SyntheticScene.darkCapture(SyntheticScene.render(width: 64, height: 64), exposure: SyntheticScene.Exposure())
        let good = image.encoded()
        let cases: [(String, [UInt8], String)] = [
            ("offset", patched(good, tag: 273, value: UInt32(good.count + 100)), "lie past the end of the"),
            ("shifted", patched(good, tag: 273, value: UInt32(good.count - 64 * 64)), "lie past the end of the"),
            ("jpeg", patched(good, tag: 259, value: 7), "Compression 7 (lossless JPEG) but strip 0 holds no JPEG data"),
            ("bits", patched(good, tag: 258, value: 0), "bits per sample 0 is outside 1...16"),
            ("white", patched(good, tag: 50717, value: 0), "white level 0 is not above the black level"),
            ("whiteBelowBlack", patched(good, tag: 50717, value: 100), "white level 100 is not above the black level"),
            ("short", Array(good.dropLast(64 * 2)), "lie past the end of the"),
        ]
        let goodURL = dir.appendingPathComponent("good.dng")
        try Data(good).write(to: goodURL)
        XCTAssertNoThrow(try RawDecoder.checkReadable(goodURL.path))
        for (name, bytes, message) in cases {
            let url = dir.appendingPathComponent("\(name).dng")
            try Data(bytes).write(to: url)
            for _ in 0..<3 {
                XCTAssertThrowsError(try RawDecoder.checkReadable(url.path), name) {
                    guard case .corrupt(let path, let reason) = $0 as? CaptureError else { return XCTFail("\(name): \($0)") }
                    XCTAssertEqual(path, url.path)
                    XCTAssertTrue(reason.contains(message), "\(name): \(reason)")
                }
            }
        }
        let run = try runNightjar(["restore", goodURL.path, dir.appendingPathComponent("bits.dng").path, "-o", dir.appendingPathComponent("out").path + "/",
                                   "--model", Self.modelFile.path, "--threads", "1"])
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("bits.dng: truncated or corrupt RAW data: bits per sample 0 is outside 1...16"), run.stderr)
    }

    /// Case 10: finite but absurd weights are refused, naming the tensor; the bound is far above
    /// what trained models hold (checked against ../shared's when present).
    func testAbsurdWeightsAreRefused() throws {
        var tensors = Self.smallTensors()
        tensors["rdb2.dense3.weight"]!.values[17] = 3e38
        let model = try Self.smallModel()
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: model.metadata, tensors: tensors).withContentDigest(), path: "m")) {
            XCTAssertEqual("\($0)", "m: tensor 'rdb2.dense3.weight': holds 3e+38, beyond the ±1000 any trained network of this kind has (damaged or crafted weights)")
        }
        tensors["rdb2.dense3.weight"]!.values[17] = -999
        XCTAssertNoThrow(try NightjarModel(file: SafeTensorsFile(metadata: model.metadata, tensors: tensors).withContentDigest(), path: "m"))
    }

    /// `bytes` (a safetensors file) with its JSON header rewritten by `edit`, the header length
    /// and padding fixed up, the data untouched.
    func editingHeader(_ bytes: [UInt8], _ edit: (String) -> String) -> [UInt8] {
        let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        var json = Array(edit(String(decoding: bytes[8..<(8 + length)], as: UTF8.self)).utf8)
        while json.last == 0x20 { json.removeLast() }
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + bytes[(8 + length)...]
    }

    /// Case 10: a model whose `architecture` contradicts its tensors is refused, naming the fix.
    /// RDB* and canonical blocks have the same tensor shapes, so only the content digest written
    /// with the file can tell; it also catches changed weights, and a file without a digest is
    /// refused the same way.
    func testModelMetadataThatContradictsItsTensorsIsRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let good = Array(try Data(contentsOf: Self.modelFile))
        XCTAssertEqual(try NightjarModel.load(contentsOf: Self.modelFile).architecture, .published)
        // Shapes alone cannot tell: the same tensors pass every check as a canonical network.
        let model = try Self.smallModel()
        var canonical = model.metadata
        canonical["architecture"] = "canonical"
        XCTAssertEqual(try NightjarModel(file: SafeTensorsFile(metadata: canonical, tensors: model.tensors).withContentDigest(),
                                         path: "m").architecture.blockKind, .canonical)

        let fix = "re-run `nightjar convert` on its checkpoint"
        let contradicting = dir.appendingPathComponent("contradicting.safetensors")
        var replaced = false
        try Data(editingHeader(good) { header in
            replaced = header.contains(#""architecture":"rdb-star""#)
            return header.replacingOccurrences(of: #""architecture":"rdb-star""#, with: #""architecture":"canonical""#)
        }).write(to: contradicting)
        XCTAssertTrue(replaced)
        XCTAssertEqual(try SafeTensorsFile.read(contentsOf: contradicting).metadata["architecture"], "canonical")
        var damaged = good
        damaged[damaged.count - 3] ^= 0x01 // one bit of the last weight
        let damagedURL = dir.appendingPathComponent("damaged.safetensors")
        try Data(damaged).write(to: damagedURL)
        let undigested = dir.appendingPathComponent("undigested.safetensors")
        try Data(editingHeader(good) { header in
            header.replacingOccurrences(of: #""content_digest":"[0-9a-f]{16}","#, with: "", options: .regularExpression)
        }).write(to: undigested)
        XCTAssertNil(try SafeTensorsFile.read(contentsOf: undigested).metadata[SafeTensorsFile.contentDigestKey])
        for (url, reason) in [(contradicting, "does not match its content digest"), (damagedURL, "does not match its content digest"),
                              (undigested, "records no content digest")] {
            XCTAssertThrowsError(try NightjarModel.load(contentsOf: url)) {
                guard case .malformed(let path, let text) = $0 as? ModelFileError else { return XCTFail("\($0)") }
                XCTAssertEqual(path, url.path)
                XCTAssertTrue(text.contains(reason) && text.hasSuffix(fix), text)
            }
        }
        // Through the command line: one line, exit 1, nothing created.
        let input = try capture("in.dng", in: dir)
        let out = dir.appendingPathComponent("out")
        let run = try runNightjar(["restore", input.path, "-o", out.path + "/", "--model", contradicting.path, "--threads", "1"])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("does not match its content digest") && run.stderr.contains(fix), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    // MARK: 6: paths as bytes

    /// Every byte string (no NUL) maps to one path string and back; valid UTF-8 is kept as it is.
    func testPathBytesRoundTrip() {
        var state: UInt64 = 6
        for length in 0..<400 {
            var bytes: [UInt8] = []
            for _ in 0..<(length % 24) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56) | 1)
            }
            XCTAssertEqual(PathBytes.bytes(PathBytes.string(bytes)), bytes)
        }
        XCTAssertEqual(PathBytes.string(Array("nuit-é/日本.dng".utf8)), "nuit-é/日本.dng")
        // A name holding one of the escape scalars itself stays distinct from the byte it stands for.
        let own = Array("a\u{F7FF}b".utf8)
        XCTAssertEqual(PathBytes.bytes(PathBytes.string(own)), own)
        XCTAssertNotEqual(PathBytes.string(own), PathBytes.string([0x61, 0xFF, 0x62]))
        XCTAssertEqual(displayable(PathBytes.string([0x61, 0xFF, 0xC3, 0x28])), "a\\xFF\\xC3(")
    }

    /// Runs nightjar with arguments given as bytes (Process only takes strings).
    func runWithByteArguments(_ arguments: [[UInt8]]) throws -> (status: Int32, stderr: String) {
        let all = [Array(nightjarExecutable.path.utf8)] + arguments
        var argv: [UnsafeMutablePointer<CChar>?] = all.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        } + [nil]
        defer { for p in argv { p?.deallocate() } }
        var pipe: [Int32] = [0, 0]
        XCTAssertEqual(Glibc.pipe(&pipe), 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], STDERR_FILENO)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0]!, &actions, nil, &argv, environ)
        close(pipe[1])
        XCTAssertEqual(rc, 0)
        let stderr = try FileContents.readToEnd(pipe[0])
        close(pipe[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xFF, String(decoding: stderr, as: UTF8.self))
    }

    /// Case 6: names that are not UTF-8 are restored from a directory batch, when named on the
    /// command line, and as `-o`, under exactly their bytes; messages show the bytes escaped.
    func testNamesThatAreNotUTF8Work() throws {
        let dir = try makeTemporaryDirectory(self)
        let base = Array(dir.path.utf8)
        let batch = dir.appendingPathComponent("batch"), out = dir.appendingPathComponent("out")
        for d in [batch, out] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: false) }
        let valid = try Data(contentsOf: try capture("valid.dng", in: dir))
        let latin1Name: [UInt8] = Array("nuit-".utf8) + [0xE9, 0xFF] + Array(".dng".utf8)
        let latin1 = Array(batch.path.utf8) + [0x2F] + latin1Name
        let fd = open(latin1.map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = valid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try valid.write(to: batch.appendingPathComponent("plain.dng"))

        let model = Array(Self.modelFile.path.utf8)
        let batchRun = try runWithByteArguments([Array("restore".utf8), Array(batch.path.utf8), Array("-o".utf8), Array(out.path.utf8) + [0x2F],
                                                 Array("--model".utf8), model, Array("--threads".utf8), Array("1".utf8)])
        XCTAssertEqual(batchRun.status, 0, batchRun.stderr)
        XCTAssertTrue(batchRun.stderr.contains("restored 2 of 2"), batchRun.stderr)
        let written = try RestoreBatch.entries(of: out.path).map(PathBytes.bytes).sorted { $0.lexicographicallyPrecedes($1) }
        XCTAssertEqual(written, [Array("nuit-".utf8) + [0xE9, 0xFF] + Array(".png".utf8), Array("plain.png".utf8)])

        // Named, with a non-UTF-8 -o.
        let named = Array(out.path.utf8) + [0x2F, 0x6F, 0xFE, 0x2E, 0x70, 0x6E, 0x67] // "o\xFE.png"
        let namedRun = try runWithByteArguments([Array("restore".utf8), latin1, Array("-o".utf8), named,
                                                 Array("--model".utf8), model, Array("--threads".utf8), Array("1".utf8)])
        XCTAssertEqual(namedRun.status, 0, namedRun.stderr)
        var info = stat()
        XCTAssertEqual(stat(named.map { CChar(bitPattern: $0) } + [0], &info), 0, "the -o name's exact bytes")
        XCTAssertEqual(temporaries(in: out), [])

        let missing = base + Array("/gone-".utf8) + [0xFF] + Array(".dng".utf8)
        let missingRun = try runWithByteArguments([Array("restore".utf8), missing, Array("-o".utf8), Array(out.path.utf8) + [0x2F],
                                                   Array("--model".utf8), model])
        XCTAssertEqual(missingRun.status, 1, missingRun.stderr)
        XCTAssertTrue(missingRun.stderr.contains("gone-\\xFF.dng: cannot read: No such file or directory"), missingRun.stderr)
    }
}

/// A flag one thread sets and another reads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
