import Foundation
@testable import Nightjar
import XCTest

/// `nightjar doctor` on this machine, and `restore --sensor` as a user runs them.
final class BoardCommandTests: XCTestCase {
    private static let converted = ConvertedModel()

    override class func tearDown() {
        converted.remove()
        super.tearDown()
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// A PNG's chunks by type, the data of repeated chunks (IDAT) concatenated.
    static func chunks(_ url: URL) throws -> [String: [UInt8]] {
        let bytes = [UInt8](try Data(contentsOf: url))
        var chunks: [String: [UInt8]] = [:]
        var i = 8
        while i + 8 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            chunks[type, default: []] += bytes[(i + 8)..<(i + 8 + length)]
            i += 12 + length
        }
        return chunks
    }

    func testDoctorOnThisMachine() throws {
        let model = try Self.converted.file().path
        let dir = try makeTemporaryDirectory(self)
        let result = try runNightjar(["doctor", "--model", model, "--size", "1536x1024", "--input", dir.path, "--output", dir.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let report = try json(result.stdout)
        XCTAssertEqual(report["ok"] as? Bool, true)
        let board = try XCTUnwrap(report["board"] as? [String: Any])
        XCTAssertEqual(board["architecture"] as? String, BoardDetection.currentArchitecture)
        XCTAssertEqual(board["online_cores"] as? Int, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let system = BoardDetection.detect()
        XCTAssertEqual(board["cpu_features"] as? [String], system.features.names)
        #if arch(x86_64)
        XCTAssertEqual(board["profile"] as? String, "generic-x86-64")
        XCTAssertEqual(board["profile_chosen"] as? String, "detected")
        #endif
        // The kernels each precision runs, as the registry selects them here.
        let precisions = try XCTUnwrap(report["precisions"] as? [[String: Any]])
        XCTAssertEqual(precisions.map { $0["precision"] as? String }, ["fp32", "fp16", "int8"])
        XCTAssertEqual(precisions.map { $0["available"] as? Bool }, [true, true, true])
        XCTAssertEqual(precisions[1]["kernels"] as? [String], KernelInfo.convolutionKernels(.fp16).map { "\($0.kernelSize)x\($0.kernelSize): \($0.name)" })
        XCTAssertEqual(precisions[2]["kernels"] as? [String], KernelInfo.convolutionKernels(.int8).map { "\($0.kernelSize)x\($0.kernelSize): \($0.name)" })
        XCTAssertEqual(precisions[0]["isa"] as? String, KernelInfo.activeISA)
        XCTAssertEqual(precisions[0]["kernels"] as? [String], KernelInfo.fp32ConvolutionKernels.map { "\($0.kernelSize)x\($0.kernelSize): \($0.name)" })
        XCTAssertEqual(Set(KernelInfo.fp32ConvolutionKernels.map(\.kernelSize)), [1, 3, 5])
        // The same kernels the engine runs, layer by layer.
        for precision in [Precision.fp32, .fp16] {
            let engine = try StreamingEngine(model: try NightjarModel.load(contentsOf: URL(fileURLWithPath: model)),
                                             maxHeight: 64, maxWidth: 64, threads: 1, precision: precision)
            XCTAssertEqual(Set(KernelInfo.convolutionKernels(precision).map(\.name)), Set(engine.kernelNames), "\(precision)")
        }
        // The memory agrees with `footprint` for the same model, size and threads.
        let memory = try XCTUnwrap(report["memory"] as? [String: Any])
        let threads = try XCTUnwrap(memory["threads"] as? Int)
        let footprint = try json(try runNightjar(["footprint", "--model", model, "--size", "1536x1024", "--threads", "\(threads)", "--json"]).stdout)
        XCTAssertEqual(memory["arena_bytes"] as? Int, footprint["arena_bytes"] as? Int)
        let doctorPeak = Double(try XCTUnwrap(memory["predicted_combined_peak_bytes"] as? Int))
        let footprintPeak = Double(try XCTUnwrap(footprint["predicted_combined_peak_bytes"] as? Int))
        XCTAssertEqual(doctorPeak, footprintPeak, accuracy: footprintPeak * 0.03, "the two differ only by their measured baselines")
        let checks = try XCTUnwrap(report["checks"] as? [[String: Any]])
        for name in ["profile", "kernels", "model", "memory", "input", "output"] {
            XCTAssertTrue(checks.contains { $0["name"] as? String == name && $0["status"] as? String == "ok" }, "\(name): \(checks)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".nightjar-doctor-probe").path))
        XCTAssertEqual(CaptureFixtures.listing(dir), [], "the write probe is removed")

        // Text, without a model: still usable, with a warning.
        let text = try runNightjar(["doctor"])
        XCTAssertEqual(text.status, 0, text.stdout + text.stderr)
        XCTAssertTrue(text.stdout.contains("warning model: not checked"), text.stdout)
        XCTAssertTrue(text.stdout.hasSuffix("Nightjar will work here.\n"), text.stdout)
    }

    /// Under an address-space limit (ulimit -v, LimitAS=) doctor checks it against what one
    /// process keeps resident: below that a frame certainly fails.
    func testDoctorChecksAnAddressSpaceLimit() throws {
        let arguments = ["doctor", "--size", "8000x6000", "--json"]
        let unlimited = try runNightjar(arguments)
        let memory = try XCTUnwrap(try json(unlimited.stdout)["memory"] as? [String: Any], unlimited.stdout + unlimited.stderr)
        XCTAssertNil(memory["address_space_limit_bytes"], "the tests run without a limit")
        let resident = max(try XCTUnwrap(memory["predicted_peak_rss_bytes"] as? Int), try XCTUnwrap(memory["predicted_decoder_peak_rss_bytes"] as? Int))
        XCTAssertGreaterThan(resident, 100 << 20, "an 8000x6000 frame keeps more than 100 MiB resident")
        func addressSpace(under kib: Int) throws -> (check: [String: Any]?, ok: Bool?) {
            let run = try runNightjar(arguments, prelude: "ulimit -v \(kib)")
            let report = try json(run.stdout)
            let memory = try XCTUnwrap(report["memory"] as? [String: Any], run.stdout + run.stderr)
            XCTAssertEqual(memory["address_space_limit_bytes"] as? Int, kib << 10)
            let checks = try XCTUnwrap(report["checks"] as? [[String: Any]])
            return (checks.first { $0["name"] as? String == "address space" }, report["ok"] as? Bool)
        }
        let below = try addressSpace(under: (resident >> 10) - (8 << 10))
        XCTAssertEqual(below.check?["status"] as? String, "failed")
        XCTAssertEqual(below.ok, false)
        XCTAssertTrue((below.check?["detail"] as? String ?? "").contains("the address-space limit (ulimit -v, systemd LimitAS=)"), "\(below)")
        XCTAssertEqual(try addressSpace(under: (resident >> 10) + (16 << 10)).check?["status"] as? String, "warning")
        XCTAssertEqual(try addressSpace(under: (resident >> 10) + (256 << 10)).check?["status"] as? String, "ok")
    }

    func testDoctorSaysWhatWillNotWork() throws {
        let dir = try makeTemporaryDirectory(self)
        // A frame too large for the Pi Zero's MemoryMax=, a missing model, an output that is not a directory.
        let file = dir.appendingPathComponent("file")
        try Data().write(to: file)
        let result = try runNightjar(["doctor", "--board", "pi-zero-2w", "--size", "8000x6000", "--model", dir.appendingPathComponent("none.safetensors").path,
                                      "--output", file.path, "--input", dir.appendingPathComponent("missing").path])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let failed = result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAILED") }
        XCTAssertEqual(failed.count, 4, result.stdout)
        XCTAssertTrue(result.stdout.contains("MemoryMax=192M would kill the service"), result.stdout)
        XCTAssertTrue(result.stdout.contains("none.safetensors"), result.stdout)
        XCTAssertTrue(result.stdout.contains("\(file.path): not a directory"), result.stdout)
        XCTAssertTrue(result.stdout.contains("missing: No such file or directory"), result.stdout)
        XCTAssertTrue(result.stdout.hasSuffix("(see FAILED above).\n"), result.stdout)

        let unknown = try runNightjar(["doctor", "--board", "pi-9", "--json"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(try json(unknown.stdout)["ok"] as? Bool, false)
        XCTAssertTrue(unknown.stdout.contains("unknown board 'pi-9'"), unknown.stdout)
        XCTAssertEqual(try runNightjar(["doctor", "--threads", "0"]).status, 64)
    }

    func testFootprintMeasureRemeasuresTheConstantsHere() throws {
        let model = try Self.converted.file().path
        let result = try runNightjar(["footprint", "--model", model, "--size", "1024x768", "--threads", "2", "--measure", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try json(result.stdout)
        let measured = try XCTUnwrap(report["measured_peak_rss_bytes"] as? Int, result.stdout)
        let predicted = try XCTUnwrap(report["predicted_peak_rss_bytes"] as? Int)
        let decoder = try XCTUnwrap(report["measured_decoder_peak_rss_bytes"] as? Int)
        let predictedDecoder = try XCTUnwrap(report["predicted_decoder_peak_rss_bytes"] as? Int)
        // The constants were measured on x86-64: here the prediction holds within a few per cent
        // (10 % allowed for a busy machine), and the re-measured constants are what was left over.
        XCTAssertEqual(Double(predicted), Double(measured), accuracy: Double(measured) * 0.10)
        XCTAssertEqual(Double(predictedDecoder), Double(decoder), accuracy: Double(decoder) * 0.15)
        XCTAssertEqual(report["measured_runtime_growth_bytes"] as? Int, measured - (predicted - MemoryFootprint.runtimeGrowthBytes))
        XCTAssertEqual(report["measured_decoder_overhead_bytes"] as? Int,
                       decoder - (predictedDecoder - (report["decoder_private_bytes"] as! Int - (report["decoder_buffer_bytes"] as! Int))
                                  - MemoryFootprint.decoderSharedLibraryBytes))
        let text = try runNightjar(["footprint", "--model", model, "--size", "256x256", "--measure"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("measured here (a synthetic 256x256 capture restored twice)"), text.stdout)
        XCTAssertEqual(try runNightjar(["footprint", "--model", "/nonexistent", "--size", "256x256", "--measure"]).status, 1)
    }

    func testRestoreReadsASensorDumpAsItReadsTheSameFrameAsDNG() throws {
        let model = try Self.converted.file().path
        let dir = try makeTemporaryDirectory(self)
        // A synthetic dark capture, as DNG and as a 12-bit CSI-2 dump with padded rows.
        var exposure = SyntheticScene.Exposure()
        exposure.bits = 12
        exposure.cfa = .bggr
        let image = SyntheticScene.darkCapture(SyntheticScene.render(width: 98, height: 66), exposure: exposure)
        let dng = try CaptureFixtures.write(image, named: "frame.dng", in: dir)
        guard case .cfa(let cfa) = image.layout else { return XCTFail("not a CFA capture") }
        let description = dir.appendingPathComponent("sensor.json")
        let stride = SensorPacking.mipiRaw12.rowBytes(width: 98) + 11
        try Data("""
            {"id": "test", "width": 98, "height": 66, "stride": \(stride), "bits": 12, "cfa": "\(cfa.rawValue)",
             "black": [\(image.siteBlack.map(String.init).joined(separator: ", "))], "white": 4095, "packing": "mipi-raw12"}
            """.utf8).write(to: description)
        let parsed = try SensorDescription.load(contentsOf: description)
        let dump = dir.appendingPathComponent("frame.raw")
        try Data(SensorDump.encode(image.samples, description: parsed)).write(to: dump)

        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let fromDump = try runNightjar(["restore", dump.path, "-o", out.appendingPathComponent("dump.png").path, "--model", model,
                                        "--sensor", description.path, "--threads", "1", "--json", "--color", "network"])
        XCTAssertEqual(fromDump.status, 0, fromDump.stderr)
        XCTAssertEqual(try json(String(fromDump.stdout.split(separator: "\n")[0]))["sensor"] as? String, "test")
        // Network colour on both: a dump carries no colour calibration (camera colour falls back).
        let fromDNG = try runNightjar(["restore", dng.path, "-o", out.appendingPathComponent("dng.png").path, "--model", model,
                                       "--sensor", description.path, "--threads", "1", "--color", "network"])
        XCTAssertEqual(fromDNG.status, 0, fromDNG.stderr)
        // The same header and the same compressed pixels (the text chunks name the source and the timings).
        let a = try Self.chunks(out.appendingPathComponent("dump.png")), b = try Self.chunks(out.appendingPathComponent("dng.png"))
        XCTAssertEqual(a["IHDR"], b["IHDR"])
        XCTAssertEqual(Array(a["IHDR"]!.prefix(8)), [0, 0, 0, 96, 0, 0, 0, 64], "BGGR 98x66 aligned to RGGB and even sides")
        XCTAssertEqual(a["IDAT"], b["IDAT"], "the image restored from the dump equals the one from the DNG, byte for byte")
        XCTAssertGreaterThan(a["IDAT"]?.count ?? 0, 100)

        // Usage: an unknown built-in sensor (64); a dump of the wrong size (1, one line, nothing written).
        let unknown = try runNightjar(["restore", dump.path, "-o", out.path + "/", "--model", model, "--sensor", "imx999"])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("imx477-4056x3040"), unknown.stderr)
        let short = dir.appendingPathComponent("short.raw")
        try Data(repeating: 0, count: stride * 66 - 1).write(to: short)
        let wrong = try runNightjar(["restore", short.path, "-o", out.appendingPathComponent("short.png").path, "--model", model,
                                     "--sensor", description.path])
        XCTAssertEqual(wrong.status, 1, wrong.stderr)
        XCTAssertTrue(wrong.stderr.hasPrefix("nightjar: error: \(short.path): truncated or corrupt RAW data: the dump is"), wrong.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("short.png").path))
    }
}
