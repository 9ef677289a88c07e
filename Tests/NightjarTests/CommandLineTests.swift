import Foundation
@testable import Nightjar
import XCTest

/// `nightjar restore`, `footprint` and `bench` run as a user runs them, with the official
/// model converted from ../shared and small synthetic captures.
final class CommandLineTests: XCTestCase {
    /// The official model, converted once for the class by `nightjar convert`.
    private static let converted = ConvertedModel()

    static func modelFile() throws -> URL { try converted.file() }

    override class func tearDown() {
        converted.remove()
        super.tearDown()
    }

    /// A synthetic dark capture written as DNG (TIFF orientation 1: upright).
    func capture(_ name: String, width: Int, height: Int, orientation: Int = 1, in directory: URL) throws -> URL {
        let exposure = SyntheticScene.Exposure(orientation: orientation)
        return try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height), exposure: exposure),
                                         named: name, in: directory)
    }

    func jsonObject(_ text: Substring) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], String(text))
    }

    /// Every stderr line of a failure is one `nightjar: error:` line.
    func assertErrorLines(_ result: ProcessResult, count: Int, file: StaticString = #filePath, line: UInt = #line) {
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, count, result.stderr, file: file, line: line)
        for text in lines { XCTAssertTrue(text.hasPrefix("nightjar: error: "), String(text), file: file, line: line) }
    }

    // MARK: restore

    func testRestoreExitStatusesAndJSON() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        let good = try capture("good.dng", width: 96, height: 64, in: dir)
        let garbage = dir.appendingPathComponent("garbage.dng")
        try Data("not a raw file".utf8).write(to: garbage)
        let out = dir.appendingPathComponent("out")

        // 2: one restored, one failed; one JSON object per file, then the summary.
        let partial = try runNightjar(["restore", good.path, garbage.path, "-o", out.path + "/", "--model", model, "--threads", "1", "--json"])
        XCTAssertEqual(partial.status, 2, partial.stderr)
        assertErrorLines(partial, count: 1)
        XCTAssertTrue(partial.stderr.contains(garbage.path), partial.stderr)
        let records = try partial.stdout.split(separator: "\n").map(jsonObject)
        XCTAssertEqual(records.count, 3, partial.stdout)
        XCTAssertEqual(records[0]["input"] as? String, good.path)
        XCTAssertEqual(records[0]["output"] as? String, out.appendingPathComponent("good.png").path)
        XCTAssertEqual(records[0]["width"] as? Int, 96)
        XCTAssertEqual(records[0]["paddedWidth"] as? Int, 96)
        XCTAssertEqual(records[0]["paddedHeight"] as? Int, 64)
        XCTAssertEqual(records[1]["input"] as? String, garbage.path)
        XCTAssertTrue((records[1]["error"] as? String ?? "").contains(garbage.path))
        let summary = try XCTUnwrap(records[2]["summary"] as? [String: Any])
        XCTAssertEqual(summary["restored"] as? Int, 1)
        XCTAssertEqual(summary["failed"] as? Int, 1)
        let png = try Data(contentsOf: out.appendingPathComponent("good.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertEqual(CaptureFixtures.listing(out), ["good.png"], "nothing of the failed file is left")

        // 0: all restored.
        let all = try runNightjar(["restore", good.path, "-o", dir.appendingPathComponent("again.png").path, "--model", model, "--threads", "1"])
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("again.png").path))

        // 1: none restored.
        let none = try runNightjar(["restore", garbage.path, "-o", dir.appendingPathComponent("none.png").path, "--model", model, "--json"])
        XCTAssertEqual(none.status, 1, none.stderr)
        assertErrorLines(none, count: 1)
        let noneSummary = try XCTUnwrap(try jsonObject(try XCTUnwrap(none.stdout.split(separator: "\n").last))["summary"] as? [String: Any])
        XCTAssertEqual(noneSummary["restored"] as? Int, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("none.png").path))

        // 64: usage errors, before anything is read or written.
        for arguments in [["--bits", "12"], ["--threads", "0"], ["--no-such-option"]] {
            let usage = try runNightjar(["restore", good.path, "-o", dir.appendingPathComponent("usage.png").path, "--model", model] + arguments)
            XCTAssertEqual(usage.status, 64, "\(arguments): \(usage.stderr)")
            assertErrorLines(usage, count: 1)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("usage.png").path))
        }
        let missing = try runNightjar(["restore", good.path])
        XCTAssertEqual(missing.status, 64)
        XCTAssertTrue(missing.stderr.contains("--model"), missing.stderr)
    }

    func testPNGCompressionOption() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        let input = try capture("noisy.dng", width: 192, height: 128, in: dir)
        // zlib's header records the level class (FLEVEL, RFC 1950): 0 for level 1, 2 for 6, 3 for 9.
        func zlibLevelClass(_ url: URL) throws -> Int {
            let bytes = [UInt8](try Data(contentsOf: url))
            var at = 8
            while at + 12 <= bytes.count {
                let length = bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
                if String(decoding: bytes[at + 4..<at + 8], as: UTF8.self) == "IDAT" { return Int(bytes[at + 9] >> 6) }
                at += 12 + length
            }
            XCTFail("no IDAT in \(url.path)")
            return -1
        }
        var sizes: [String: Int] = [:]
        for (value, levelClass) in [("fast", 0), ("small", 2), ("9", 3), ("0", 0)] {
            let out = dir.appendingPathComponent("out-\(value).png")
            let run = try runNightjar(["restore", input.path, "-o", out.path, "--model", model, "--threads", "1", "--png-compression", value])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertEqual(try zlibLevelClass(out), levelClass, value)
            sizes[value] = try XCTUnwrap(pngImageData(out)).count
        }
        // Image data only (the trailing text differs in its timings). A higher level keeps each
        // piece in whichever coding is smaller, so it is never larger than `fast`.
        XCTAssertLessThanOrEqual(sizes["small"]!, sizes["fast"]!)
        XCTAssertLessThanOrEqual(sizes["9"]!, sizes["small"]!)
        XCTAssertLessThan(sizes["fast"]!, sizes["0"]! * 9 / 10)
        // Level 0 is a plain PNG of the frame, read back without libpng.
        let stored = try StoredPNG.read(dir.appendingPathComponent("out-0.png"))
        XCTAssertEqual([stored.width, stored.height], [192, 128])
        for value in ["faster", "10", "-1", ""] {
            let usage = try runNightjar(["restore", input.path, "-o", dir.appendingPathComponent("usage.png").path, "--model", model,
                                         "--png-compression", value])
            XCTAssertEqual(usage.status, 64, "\(value): \(usage.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("usage.png").path))
        }
    }

    func testExistingOutputIsKeptWithoutOverwrite() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        let input = try capture("scene.dng", width: 64, height: 64, in: dir)
        let output = dir.appendingPathComponent("scene.png")
        try Data("precious".utf8).write(to: output)

        let refused = try runNightjar(["restore", input.path, "--model", model, "--threads", "1", "--json"])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        assertErrorLines(refused, count: 1)
        XCTAssertTrue(refused.stderr.contains(output.path), refused.stderr)
        XCTAssertEqual(try Data(contentsOf: output), Data("precious".utf8))
        XCTAssertEqual(CaptureFixtures.listing(dir), ["scene.dng", "scene.png"], "no temporary file left behind")

        let replaced = try runNightjar(["restore", input.path, "--model", model, "--threads", "1", "--overwrite"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(Array(try Data(contentsOf: output).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    /// `--max-size` plans the memory once: frames up to the size are restored, a larger one
    /// fails with one line naming the file and the planned size, and the batch goes on.
    /// `--mlock` locks that arena (this machine allows it).
    func testMaxSizeRefusesLargerFramesAndTheBatchGoesOn() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        let small = try capture("a-small.dng", width: 96, height: 64, in: dir)
        let large = try capture("b-large.dng", width: 160, height: 96, in: dir)
        let fits = try capture("c-fits.dng", width: 128, height: 62, in: dir)
        let out = dir.appendingPathComponent("out")
        let result = try runNightjar(["restore", small.path, large.path, fits.path, "-o", out.path + "/", "--model", model,
                                      "--threads", "2", "--max-size", "128x64", "--mlock", "--json"])
        XCTAssertEqual(result.status, 2, result.stderr)
        assertErrorLines(result, count: 1)
        XCTAssertTrue(result.stderr.contains(large.path), result.stderr)
        XCTAssertTrue(result.stderr.contains("160x96 frame does not fit the memory planned for frames of 128x64 (raise --max-size)"), result.stderr)
        XCTAssertEqual(CaptureFixtures.listing(out), ["a-small.png", "c-fits.png"])
        let usage = try runNightjar(["restore", small.path, "--model", model, "--max-size", "0x10"])
        XCTAssertEqual(usage.status, 64, usage.stderr)
    }

    // MARK: footprint

    func testFootprintJSONAgreesWithTheEngine() throws {
        let model = try Self.modelFile()
        let network = try NightjarModel.load(contentsOf: model)
        for (size, bands) in [("1500x1000", StreamSchedule.Bands()), ("4256x2848", StreamSchedule.Bands(lowResolutionRows: 2, outputRows: 32))] {
            let run = try runNightjar(["footprint", "--model", model.path, "--size", size, "--threads", "2", "--json",
                                       "--band-rows", "\(bands.outputRows)", "--low-resolution-rows", "\(bands.lowResolutionRows)"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let object = try jsonObject(Substring(run.stdout))
            let sides = size.split(separator: "x").map { Int($0)! }
            let padded = sides.map(FramePadding.paddedLength)
            let engine = try StreamingEngine(model: network, maxHeight: padded[1], maxWidth: padded[0], bands: bands, threads: 2)
            XCTAssertEqual(object["arena_bytes"] as? Int, engine.plan.arenaBytes, size)
            XCTAssertEqual(object["padded_width"] as? Int, padded[0])
            XCTAssertEqual(object["padded_height"] as? Int, padded[1])
            XCTAssertEqual(object["mosaic_bytes"] as? Int, 2 * sides[0] * sides[1])
            // The packed weights: 4 bytes a parameter, more where a Winograd kernel's filters
            // are transformed (16 floats for 9).
            XCTAssertEqual(object["weights_bytes"] as? Int, engine.weightBytes)
            XCTAssertGreaterThanOrEqual(engine.weightBytes, network.architecture.parameterCount * 4)
            XCTAssertEqual((object["arena_buffers"] as? [Any])?.count, engine.plan.requests.count)
            XCTAssertEqual((object["arena_by_branch"] as? [[String: Any]])?.compactMap { $0["divisor"] as? Int }, [32, 8, 2])
            let baseline = try XCTUnwrap(object["runtime_baseline_bytes"] as? Int)
            XCTAssertGreaterThan(baseline, 1 << 20, "the baseline is this process's measured resident set")
            let peak = try XCTUnwrap(object["predicted_peak_rss_bytes"] as? Int)
            XCTAssertGreaterThan(peak, baseline + engine.plan.arenaBytes + 2 * sides[0] * sides[1])
            let combined = try XCTUnwrap(object["predicted_combined_peak_bytes"] as? Int)
            XCTAssertEqual(combined - peak, object["decoder_private_bytes"] as? Int)
            for key in ["predicted_decoder_peak_rss_bytes", "suggested_memory_max_bytes", "png_writer_bytes", "input_rows_bytes",
                        "startup_peak_bytes", "frame_peak_bytes", "decoder_buffer_bytes", "decoder_transfer_bytes"] {
                XCTAssertGreaterThan(object[key] as? Int ?? 0, 0, key)
            }
            XCTAssertNil(object["board"])
        }
    }

    /// The prediction against a real restore's peak resident set, measured by GNU time (the
    /// larger of the process's and its decoder child's, from wait4).
    func testFootprintPredictsTheMeasuredPeak() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        // Upright, and rotated (orientation 6: the PNG writer holds the whole frame).
        for (width, height, orientation) in [(2048, 1536, 1), (1536, 1024, 6)] {
            let input = try capture("frame\(orientation).dng", width: width, height: height, orientation: orientation, in: dir)
            let measured = try measuredPeakResidentBytes(["restore", input.path, "--model", model, "--threads", "2"], in: dir)
            let run = try runNightjar(["footprint", "--model", model, "--size", "\(width)x\(height)", "--threads", "2", "--json"]
                                      + (orientation == 1 ? [] : ["--rotated"]))
            XCTAssertEqual(run.status, 0, run.stderr)
            let predicted = try XCTUnwrap(try jsonObject(Substring(run.stdout))["predicted_peak_rss_bytes"] as? Int)
            let error = Double(predicted - measured) / Double(measured)
            XCTAssertLessThanOrEqual(abs(error), 0.10, "\(width)x\(height) orientation \(orientation): predicted \(predicted) bytes, measured \(measured)")
        }
    }

    /// FP16: `footprint --precision fp16` predicts the measured peak of `restore --precision
    /// fp16` as closely, and its arena is smaller than FP32's.
    func testFootprintPredictsTheMeasuredPeakInFP16() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        let (width, height) = (2048, 1536)
        let input = try capture("frame.dng", width: width, height: height, in: dir)
        let measured = try measuredPeakResidentBytes(["restore", input.path, "--model", model, "--threads", "2", "--precision", "fp16"], in: dir)
        var arenas: [String: Int] = [:]
        for precision in ["fp32", "fp16"] {
            let run = try runNightjar(["footprint", "--model", model, "--size", "\(width)x\(height)", "--threads", "2", "--json",
                                       "--precision", precision])
            XCTAssertEqual(run.status, 0, run.stderr)
            let report = try jsonObject(Substring(run.stdout))
            XCTAssertEqual(report["precision"] as? String, precision)
            XCTAssertEqual((report["layer_precisions"] as? [[String: Any]])?.count, Architecture.published.convolutions.count)
            arenas[precision] = try XCTUnwrap(report["arena_bytes"] as? Int)
            guard precision == "fp16" else { continue }
            let predicted = try XCTUnwrap(report["predicted_peak_rss_bytes"] as? Int)
            let error = Double(predicted - measured) / Double(measured)
            print("fp16 footprint at \(width)x\(height): predicted \(predicted), measured \(measured) (\(Int(error * 1000)) per mille)")
            XCTAssertLessThanOrEqual(abs(error), 0.10, "predicted \(predicted) bytes, measured \(measured)")
        }
        print("arena at \(width)x\(height): fp32 \(arenas["fp32"]!), fp16 \(arenas["fp16"]!)")
        XCTAssertLessThan(arenas["fp16"]!, arenas["fp32"]!)
    }

    /// Runs nightjar under /usr/bin/time and returns its "maximum resident set size". Not
    /// wait4 from here: a child spawned by this (large) test process inherits its peak
    /// across exec in ru_maxrss; GNU time forks from a small process.
    /// int8: `footprint --precision int8` predicts the measured peak of `restore --precision
    /// int8` as closely (every layer int8, the official model's weights), with an arena below
    /// FP32's. (FP16's is smaller still: its input windows are binary16, while int8 keeps an
    /// FP32 input and converts it for its readers.)
    func testFootprintPredictsTheMeasuredPeakInInt8() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("int8.safetensors")
        try Int8EngineTests.allInt8(NightjarModel.load(contentsOf: try Self.modelFile())).write(to: model)
        let (width, height) = (2048, 1536)
        let input = try capture("frame.dng", width: width, height: height, in: dir)
        let measured = try measuredPeakResidentBytes(["restore", input.path, "--model", model.path, "--threads", "2", "--precision", "int8"], in: dir)
        var arenas: [String: Int] = [:]
        for precision in ["fp32", "int8"] {
            let run = try runNightjar(["footprint", "--model", model.path, "--size", "\(width)x\(height)", "--threads", "2", "--json",
                                       "--precision", precision])
            XCTAssertEqual(run.status, 0, run.stderr)
            let report = try jsonObject(Substring(run.stdout))
            XCTAssertEqual(report["precision"] as? String, precision)
            arenas[precision] = try XCTUnwrap(report["arena_bytes"] as? Int)
            guard precision == "int8" else { continue }
            let predicted = try XCTUnwrap(report["predicted_peak_rss_bytes"] as? Int)
            let error = Double(predicted - measured) / Double(measured)
            print("int8 footprint at \(width)x\(height): predicted \(predicted), measured \(measured) (\(Int(error * 1000)) per mille)")
            XCTAssertLessThanOrEqual(abs(error), 0.10, "predicted \(predicted) bytes, measured \(measured)")
            XCTAssertEqual(report["mosaic_bytes"] as? Int, width * height, "int8 holds the frame as 8-bit codes")
            // restore's own figure (VmHWM of the process alone) against the prediction too.
            let restore = try runNightjar(["restore", input.path, "--model", model.path, "--threads", "2", "--precision", "int8", "--json",
                                           "-o", dir.appendingPathComponent("own.png").path])
            XCTAssertEqual(restore.status, 0, restore.stderr)
            let summary = try jsonObject(try XCTUnwrap(restore.stdout.split(separator: "\n").last))["summary"] as? [String: Any]
            let own = try XCTUnwrap(summary?["peakResidentBytes"] as? Int)
            XCTAssertLessThanOrEqual(abs(Double(predicted - own) / Double(own)), 0.10, "predicted \(predicted) bytes, restore's own peak \(own)")
        }
        XCTAssertLessThan(arenas["int8"]!, arenas["fp32"]!)

        // The benchmark's int8 network reads 8-bit codes, as restore's does (`SyntheticMosaic`).
        let bench = try runNightjar(["bench", "--model", model.path, "--precision", "int8", "--size", "200x130", "--runs", "1",
                                     "--threads", "2", "--network-only", "--json"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let report = try jsonObject(Substring(bench.stdout))
        XCTAssertEqual(report["precision"] as? String, "int8")
        XCTAssertGreaterThan(report["network_seconds_median"] as? Double ?? 0, 0)
    }

    /// `--int8-fallback fp16`: a frame too bright for the int8 calibration (a large given
    /// amplification) is restored in FP16, and `footprint --int8-fallback fp16` predicts the
    /// measured peak, the int8 terms plus the FP16 engine's weights and thread stacks (its
    /// arena is the int8 one's).
    func testFootprintPredictsTheMeasuredPeakWithTheInt8Fallback() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("int8.safetensors")
        try Int8EngineTests.allInt8(NightjarModel.load(contentsOf: try Self.modelFile())).write(to: model)
        let (width, height) = (2048, 1536)
        let input = try capture("frame.dng", width: width, height: height, in: dir)
        let arguments = ["restore", input.path, "--model", model.path, "--threads", "2", "--amp", "2000", "--int8-fallback", "fp16"]
        let restore = try runNightjar(arguments + ["--json", "-o", dir.appendingPathComponent("own.png").path])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        let report = try jsonObject(try XCTUnwrap(restore.stdout.split(separator: "\n").first))
        XCTAssertEqual(report["int8Fallback"] as? String, "fp16", restore.stdout)
        let summary = try jsonObject(try XCTUnwrap(restore.stdout.split(separator: "\n").last))["summary"] as? [String: Any]
        XCTAssertEqual(summary?["int8Fallback"] as? Int, 1, restore.stdout)
        let text = try runNightjar(arguments + ["-o", dir.appendingPathComponent("text.png").path])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stderr.contains("restored 1 of 1 file in ") && text.stderr.contains(" s (1 in fp16: too bright for int8)"), text.stderr)
        let measured = try measuredPeakResidentBytes(arguments, in: dir)
        var peaks: [String: Int] = [:]
        for fallback in ["none", "fp16"] {
            let run = try runNightjar(["footprint", "--model", model.path, "--size", "\(width)x\(height)", "--threads", "2", "--json",
                                       "--int8-fallback", fallback])
            XCTAssertEqual(run.status, 0, run.stderr)
            let footprint = try jsonObject(Substring(run.stdout))
            peaks[fallback] = try XCTUnwrap(footprint["predicted_peak_rss_bytes"] as? Int)
            // Each run measures its own baseline: compare what comes after it.
            let baseline = try XCTUnwrap(footprint["runtime_baseline_bytes"] as? Int)
            guard fallback == "fp16" else {
                peaks["noneAfterBaseline"] = peaks["none"]! - baseline
                XCTAssertNil(footprint["int8_fallback"])
                continue
            }
            XCTAssertEqual(footprint["int8_fallback"] as? String, "fp16")
            let weights = try XCTUnwrap(footprint["int8_fallback_weights_bytes"] as? Int)
            let arena = try XCTUnwrap(footprint["int8_fallback_arena_bytes"] as? Int)
            // The fallback plans in the network's arena: it adds only where its plan is larger.
            let added = weights + max(0, arena - (footprint["arena_bytes"] as! Int)) + MemoryFootprint.threadStackBytes
            XCTAssertEqual(footprint["int8_fallback_bytes"] as? Int, added)
            XCTAssertEqual(peaks["fp16"]! - baseline - peaks["noneAfterBaseline"]!, added)
            // FP16 weights: at least 2 bytes per parameter (4 where the kernels convert around an FP32 FMA).
            XCTAssertGreaterThanOrEqual(weights, 2 * 780_000)
            let error = Double(peaks["fp16"]! - measured) / Double(measured)
            print("int8 + fp16 fallback footprint at \(width)x\(height): predicted \(peaks["fp16"]!), measured \(measured) (\(Int(error * 1000)) per mille)")
            XCTAssertLessThanOrEqual(abs(error), 0.10, "predicted \(peaks["fp16"]!) bytes, measured \(measured)")
        }
    }

    func measuredPeakResidentBytes(_ arguments: [String], in directory: URL) throws -> Int {
        let time = "/usr/bin/time"
        guard FileManager.default.isExecutableFile(atPath: time) else {
            throw XCTSkip("SKIPPED: \(time) (GNU time) is not installed; scripts/install-deps.sh installs it")
        }
        let report = directory.appendingPathComponent("time.txt")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: time)
        process.arguments = ["-f", "%M", "-o", report.path, nightjarExecutable.path] + arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "nightjar \(arguments.joined(separator: " ")) failed")
        let text = try String(contentsOf: report, encoding: .utf8)
        let kilobytes = try XCTUnwrap(text.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }, text)
        return kilobytes * 1024
    }

    func testFootprintForABoard() throws {
        let model = try Self.modelFile().path
        let fits = try runNightjar(["footprint", "--model", model, "--size", "1536x1024", "--board", "pi-zero-2w", "--json"])
        XCTAssertEqual(fits.status, 0, fits.stderr)
        let object = try jsonObject(Substring(fits.stdout))
        XCTAssertEqual(object["threads"] as? Int, 4, "the board's cores are the default thread count")
        let board = try XCTUnwrap(object["board"] as? [String: Any])
        XCTAssertEqual(board["id"] as? String, "pi-zero-2w")
        XCTAssertEqual(board["ram_bytes"] as? Int, 512 << 20)
        let combined = try XCTUnwrap(object["predicted_combined_peak_bytes"] as? Int)
        XCTAssertEqual(board["margin_bytes"] as? Int, (320 << 20) - combined)
        XCTAssertEqual(board["fits"] as? Bool, true)

        // 100 MP does not fit in 512 MB: the text says so and by how much.
        let tooLarge = try runNightjar(["footprint", "--model", model, "--size", "12000x8000", "--board", "pi-zero-2w", "--threads", "1"])
        XCTAssertEqual(tooLarge.status, 0, tooLarge.stderr)
        XCTAssertTrue(tooLarge.stdout.contains("does not fit"), tooLarge.stdout)
        XCTAssertTrue(tooLarge.stdout.contains("MemoryMax="), tooLarge.stdout)

        let path = BoardProfileTests.boardsDirectory.appendingPathComponent("jetson-orin-nano.json").path
        let byPath = try runNightjar(["footprint", "--model", model, "--size", "1536x1024", "--board", path, "--json"])
        XCTAssertEqual(byPath.status, 0, byPath.stderr)
        XCTAssertEqual(try jsonObject(Substring(byPath.stdout))["threads"] as? Int, 6)
    }

    func testFootprintRefusesBadInputInOneLine() throws {
        let model = try Self.modelFile().path
        let dir = try makeTemporaryDirectory(self)
        let broken = dir.appendingPathComponent("broken.json")
        try Data(#"{"id": "broken", "name": "B", "cpu": "A53", "cores": "four", "ram_bytes": 1, "cpu_features": {}}"#.utf8).write(to: broken)
        let cases: [([String], Int32, String)] = [
            (["--size", "1536x1024", "--board", "pi-zero-3"], 1, "unknown board 'pi-zero-3'"),
            (["--size", "1536x1024", "--board", broken.path], 1, "'cores'"),
            (["--size", "1536by1024"], 64, "--size"),
            (["--size", "0x1024"], 64, "--size"),
            (["--size", "20000x20000"], 64, "100 MP"),
            (["--size", "99999999999x99999999999"], 64, "--size"),
            (["--size", "1536x1024", "--threads", "0"], 64, "--threads"),
            (["--size", "1536x1024", "--band-rows", "12"], 64, "--band-rows"),
            (["--size", "1536x1024", "--precision", "int8"], 1, "fp32"),
        ]
        for (arguments, status, mention) in cases {
            let run = try runNightjar(["footprint", "--model", model] + arguments)
            XCTAssertEqual(run.status, status, "\(arguments): \(run.stderr)")
            assertErrorLines(run, count: 1)
            XCTAssertTrue(run.stderr.contains(mention), "\(arguments): \(run.stderr)")
            XCTAssertEqual(run.stdout, "")
        }
        let unreadable = try runNightjar(["footprint", "--model", dir.appendingPathComponent("none.safetensors").path, "--size", "64x64"])
        XCTAssertEqual(unreadable.status, 1)
        assertErrorLines(unreadable, count: 1)
        XCTAssertTrue(unreadable.stderr.contains("none.safetensors"), unreadable.stderr)
    }

    // MARK: bench

    func testBenchMeasuresNetworkAndEndToEnd() throws {
        let model = try Self.modelFile().path
        let temporary = try makeTemporaryDirectory(self)
        let run = try runNightjar(["bench", "--model", model, "--json", "--size", "64x64", "--runs", "1", "--threads", "1"],
                                  environment: ["TMPDIR": temporary.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try jsonObject(Substring(run.stdout))
        XCTAssertGreaterThan(report["network_seconds_median"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(report["end_to_end_seconds_median"] as? Double ?? 0, 0)
        XCTAssertEqual((report["end_to_end_seconds"] as? [String: Any])?["count"] as? Int, 1)
        XCTAssertGreaterThan(report["end_to_end_batch_seconds_median"] as? Double ?? 0, 0)
        XCTAssertEqual((report["end_to_end_batch_seconds"] as? [String: Any])?["count"] as? Int, 1)
        // Each end-to-end run paired with a network-only run after it: with one run, one pair,
        // whose ratio is the end-to-end time over that network time.
        let paired = report["end_to_end_paired"] as? [String: Any] ?? [:]
        let pairedNetwork = paired["network"] as? [String: Any] ?? [:], pairedRatio = paired["ratio"] as? [String: Any] ?? [:]
        XCTAssertEqual(pairedNetwork["count"] as? Int, 1)
        XCTAssertEqual(pairedRatio["count"] as? Int, 1)
        XCTAssertEqual(pairedRatio["median"] as? Double ?? 0,
                       (report["end_to_end_seconds_median"] as? Double ?? 0) / (pairedNetwork["median"] as? Double ?? 1), accuracy: 1e-9)
        // The CPU time of each pair's runs, taken around each run alone: on one thread the
        // network's cannot exceed its wall time (with room for rusage's rounding).
        let cpu = paired["cpu"] as? [String: Any] ?? [:], networkCPU = paired["network_cpu"] as? [String: Any] ?? [:]
        XCTAssertEqual(cpu["count"] as? Int, 1)
        XCTAssertEqual(networkCPU["count"] as? Int, 1)
        XCTAssertGreaterThan(networkCPU["median"] as? Double ?? 0, 0)
        XCTAssertLessThanOrEqual(networkCPU["median"] as? Double ?? .infinity, 1.5 * (pairedNetwork["median"] as? Double ?? 0) + 0.02)
        XCTAssertGreaterThan(cpu["median"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(report["peak_rss_bytes"] as? Int ?? 0, 0)
        XCTAssertEqual(CaptureFixtures.listing(temporary), [], "the benchmark's temporary files are removed")
        // End to end as restore does it by default: the synthetic capture carries a colour matrix.
        XCTAssertEqual(report["end_to_end_color"] as? String, "camera")
        XCTAssertEqual(report["end_to_end_color_used"] as? String, "camera")
        let network = try runNightjar(["bench", "--model", model, "--json", "--size", "64x64", "--runs", "1", "--threads", "1", "--color", "network"],
                                      environment: ["TMPDIR": temporary.path])
        XCTAssertEqual(network.status, 0, network.stderr)
        XCTAssertEqual(try jsonObject(Substring(network.stdout))["end_to_end_color_used"] as? String, "network")

        // Which kernels ran: every convolution of the network once, 4915 MAC per raw pixel in all
        // (REFERENCE.md §1); on AVX-512 conv2x (4 inputs) on the direct tile for this machine's
        // FMA ports and conv_2_8_32 (24 inputs) by Winograd.
        let kernels = report["kernels"] as? [[String: Any]] ?? []
        let layers = kernels.flatMap { $0["layers"] as? [String] ?? [] }
        XCTAssertEqual(layers.sorted(), Architecture.published.convolutions.map(\.name).sorted())
        XCTAssertEqual(kernels.reduce(0.0) { $0 + ($1["mac_per_raw_pixel"] as? Double ?? 0) }, 4915, accuracy: 0.5)
        XCTAssertEqual(kernels.reduce(0.0) { $0 + ($1["share_of_macs"] as? Double ?? 0) }, 1, accuracy: 1e-9)
        func kernel(of layer: String) -> String? {
            kernels.first { ($0["layers"] as? [String] ?? []).contains(layer) }?["kernel"] as? String
        }
        if report["isa"] as? String == "avx512" {
            XCTAssertEqual(kernel(of: "conv2x"), report["fma_ports"] as? Int == 2 ? "f32-conv2d-5x5-avx512-6x4" : "f32-conv2d-5x5-avx512-12x1")
            XCTAssertEqual(kernel(of: "conv_2_8_32"), "f32-conv2d-5x5-winograd2x2-avx512-12x2")
        } else {
            for layer in ["conv2x", "conv_2_8_32"] {
                XCTAssertTrue(kernel(of: layer)?.hasPrefix("f32-conv2d-5x5-") ?? false, kernel(of: layer) ?? "none")
            }
        }

        // A RAW file that cannot be restored fails the run, and its files are removed too.
        let garbage = temporary.appendingPathComponent("garbage.dng")
        try Data("not a raw file".utf8).write(to: garbage)
        let failed = try runNightjar(["bench", "--model", model, "--size", "64x64", "--runs", "1", "--threads", "1", "--input", garbage.path],
                                     environment: ["TMPDIR": temporary.path])
        XCTAssertEqual(failed.status, 1, failed.stderr)
        assertErrorLines(failed, count: 1)
        XCTAssertEqual(CaptureFixtures.listing(temporary), ["garbage.dng"])

        let networkOnly = try runNightjar(["bench", "--model", model, "--json", "--size", "64x64", "--runs", "1", "--threads", "1", "--network-only"])
        XCTAssertEqual(networkOnly.status, 0, networkOnly.stderr)
        XCTAssertNil(try jsonObject(Substring(networkOnly.stdout))["end_to_end_seconds_median"])
        XCTAssertNil(try jsonObject(Substring(networkOnly.stdout))["end_to_end_batch_seconds_median"])
        XCTAssertNil(try jsonObject(Substring(networkOnly.stdout))["end_to_end_paired"])
        XCTAssertNil(try jsonObject(Substring(networkOnly.stdout))["layers"])

        // --layers: a row per convolution (its kernel and precision, the kernels' names as
        // listed above) and per other kind of step, shares of the profiled runs adding up to
        // at most the whole.
        let layered = try runNightjar(["bench", "--model", model, "--json", "--size", "64x64", "--runs", "1", "--threads", "1",
                                       "--network-only", "--layers"])
        XCTAssertEqual(layered.status, 0, layered.stderr)
        let layeredReport = try jsonObject(Substring(layered.stdout))
        let rows = try XCTUnwrap(layeredReport["layers"] as? [[String: Any]])
        let convolutions = try NightjarModel.load(contentsOf: URL(fileURLWithPath: model)).architecture.convolutions.map(\.name)
        let convolutionRows = Array(rows.prefix(convolutions.count)), otherRows = Array(rows.dropFirst(convolutions.count))
        XCTAssertEqual(convolutionRows.compactMap { $0["name"] as? String }, convolutions)
        let kernelUses = try XCTUnwrap(layeredReport["kernels"] as? [[String: Any]])
        let listed: Set<String> = Set(kernelUses.compactMap { $0["kernel"] as? String })
        let timedKernels: Set<String> = Set(convolutionRows.compactMap { $0["kernel"] as? String })
        XCTAssertEqual(timedKernels, listed)
        for row in convolutionRows {
            let rate = row["gmac_per_second"] as? Double ?? 0
            XCTAssertGreaterThan(rate, 0, "\(row)")
        }
        for row in otherRows {
            XCTAssertNil(row["kernel"], "\(row)")
            XCTAssertNil(row["gmac_per_second"], "\(row)")
        }
        // Every row ran (kinds that never ran are left out): one run, so whole calls.
        for row in rows {
            let calls = row["calls_per_frame"] as? Double ?? 0
            XCTAssertGreaterThanOrEqual(calls, 1, "\(row)")
            XCTAssertEqual(calls, calls.rounded(), "\(row)")
        }
        // The steps are timed within the frames' wall time, so their shares add up to at most
        // one. How much of a 64x64 frame they cover depends on the host's load (0.29 once in a
        // loaded CI run), so the sum has no lower bound: each step only took some time.
        let shares: [Double] = rows.compactMap { $0["share_of_network"] as? Double }
        XCTAssertEqual(shares.count, rows.count)
        for (row, share) in zip(rows, shares) {
            XCTAssertGreaterThan(share, 0, "\(row)")
        }
        XCTAssertLessThanOrEqual(shares.reduce(0, +), 1)

        let badColour = try runNightjar(["bench", "--model", model, "--color", "purple", "--runs", "1"])
        XCTAssertEqual(badColour.status, 64, badColour.stderr)
        assertErrorLines(badColour, count: 1)
        for size in ["20000x20000", "99999999999x99999999999", "8x8"] {
            let refused = try runNightjar(["bench", "--model", model, "--size", size, "--runs", "1"])
            XCTAssertEqual(refused.status, 64, "\(size): \(refused.stderr)")
            assertErrorLines(refused, count: 1)
        }
    }

    /// `bench --against`: a second precision's network, run for run alternating with the one
    /// benchmarked. With one pair its ratio is that pair's two times; with three, three pairs.
    /// A precision the model lacks, or the same one twice, is refused before anything runs.
    func testBenchAgainstAnotherPrecisionPairsTheRuns() throws {
        let dir = try makeTemporaryDirectory(self)
        let model = dir.appendingPathComponent("int8.safetensors")
        try Int8EngineTests.allInt8(NightjarModel.load(contentsOf: try Self.modelFile())).write(to: model)
        let base = ["bench", "--model", model.path, "--size", "64x64", "--threads", "2", "--network-only", "--json"]
        for runs in [1, 3] {
            let run = try runNightjar(base + ["--precision", "int8", "--against", "fp32", "--runs", "\(runs)"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let report = try jsonObject(Substring(run.stdout))
            XCTAssertEqual(report["precision"] as? String, "int8")
            let against = try XCTUnwrap(report["against"] as? [String: Any], run.stdout)
            XCTAssertEqual(against["precision"] as? String, "fp32")
            let seconds = try XCTUnwrap(against["seconds"] as? [String: Any])
            let alongside = try XCTUnwrap(against["seconds_alongside"] as? [String: Any])
            let ratio = try XCTUnwrap(against["ratio"] as? [String: Any])
            for summary in [seconds, alongside, ratio] {
                XCTAssertEqual(summary["count"] as? Int, runs)
                let (low, middle, high) = (summary["min"] as? Double ?? 0, summary["median"] as? Double ?? 0, summary["max"] as? Double ?? 0)
                XCTAssertGreaterThan(low, 0)
                XCTAssertLessThanOrEqual(low, middle)
                XCTAssertLessThanOrEqual(middle, high)
            }
            if runs == 1 {
                XCTAssertEqual(ratio["median"] as? Double ?? 0,
                               (seconds["median"] as? Double ?? 0) / (alongside["median"] as? Double ?? 1), accuracy: 1e-9)
            }
        }
        let same = try runNightjar(base + ["--precision", "int8", "--against", "int8", "--runs", "1"])
        XCTAssertEqual(same.status, 64, same.stderr)
        assertErrorLines(same, count: 1)
        let fp32Model = try Self.modelFile().path
        let uncalibrated = try runNightjar(["bench", "--model", fp32Model, "--size", "64x64", "--runs", "1", "--against", "int8"])
        XCTAssertEqual(uncalibrated.status, 1, uncalibrated.stderr)
        assertErrorLines(uncalibrated, count: 1)
        XCTAssertTrue(uncalibrated.stderr.contains("nightjar quantize"), uncalibrated.stderr)
        let theDefault = try runNightjar(["bench", "--model", fp32Model, "--size", "64x64", "--runs", "1", "--against", "fp32"])
        XCTAssertEqual(theDefault.status, 1, theDefault.stderr)
        assertErrorLines(theDefault, count: 1)
        XCTAssertFalse(theDefault.stdout.contains("network"), "refused before the network ran: \(theDefault.stdout)")
    }
}

/// A model converted by the command line into a temporary directory, once, on first use.
final class ConvertedModel: @unchecked Sendable {
    private let lock = NSLock()
    private var directory: URL?

    func file() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let directory { return directory.appendingPathComponent("official.safetensors") }
        let checkpoint = try SharedReference.url("models/official-sid-sony.pth")
        let created = FileManager.default.temporaryDirectory.appendingPathComponent("nightjar-cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: created, withIntermediateDirectories: true)
        directory = created
        let model = created.appendingPathComponent("official.safetensors")
        let converted = try runNightjar(["convert", checkpoint.path, "-o", model.path])
        guard converted.status == 0 else {
            XCTFail("cannot convert the official model: \(converted.stderr)")
            throw CocoaError(.fileWriteUnknown)
        }
        return model
    }

    func remove() {
        lock.lock()
        defer { lock.unlock() }
        if let directory { try? FileManager.default.removeItem(at: directory) }
        directory = nil
    }
}
