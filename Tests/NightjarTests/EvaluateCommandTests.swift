import Foundation
@testable import Nightjar
import XCTest

/// `nightjar evaluate` run as a user runs it, on SID-named pairs synthesized here (a dark and
/// a bright DNG of the same scene), with the official model converted from ../shared.
final class EvaluateCommandTests: XCTestCase {
    private static let converted = ConvertedModel()

    override class func tearDown() {
        converted.remove()
        super.tearDown()
    }

    func jsonObjects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
    }

    /// A scene of 90x70 at the given exposure ratio (the long one: 1, nearly noise-free).
    func capture(_ name: String, ratio: Double, cfa: CFAPattern = .bggr, orientation: Int = 6, in directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let exposure = SyntheticScene.Exposure(cfa: cfa, bits: 12, exposureRatio: ratio, orientation: orientation)
        return try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 90, height: 70), exposure: exposure),
                                         named: name, in: directory)
    }

    /// The metrics computed here the plain way, independently of `ImageMetrics`: PSNR from the
    /// squared errors, SSIM with a direct 11x11 window at every valid position (`directSSIM`),
    /// ΔE per pixel.
    func directScore(_ x: RGBImage8, _ y: RGBImage8) -> (psnr: Double, ssim: Double, deltaE: Double) {
        let n = x.pixels.count
        var squared = 0.0
        for i in 0..<n {
            let d = Double(x.pixels[i]) - Double(y.pixels[i])
            squared += d * d
        }
        let psnr = 10 * log10(255 * 255 * Double(n) / squared)
        let ssim = directSSIM(x, y)
        var deltaE = 0.0
        for p in 0..<(x.width * x.height) {
            let a = ImageMetrics.lab(x.pixels[3 * p], x.pixels[3 * p + 1], x.pixels[3 * p + 2])
            let b = ImageMetrics.lab(y.pixels[3 * p], y.pixels[3 * p + 1], y.pixels[3 * p + 2])
            deltaE += ((a.l - b.l) * (a.l - b.l) + (a.a - b.a) * (a.a - b.a) + (a.b - b.b) * (a.b - b.b)).squareRoot()
        }
        return (psnr, ssim, deltaE / Double(x.width * x.height))
    }

    func testEndToEndOnSynthesizedPairs() throws {
        let model = try Self.converted.file()
        let root = try makeTemporaryDirectory(self)
        let shortDir = root.appendingPathComponent("short"), longDir = root.appendingPathComponent("long")
        let short = try capture("10001_00_0.1s.dng", ratio: 100, in: shortDir)
        let long = try capture("10001_00_10s.dng", ratio: 1, in: longDir)
        // A pair whose short exposure is damaged (each configuration fails on it) and one whose
        // long exposure is (the pair fails once): reported, skipped, exit status 2.
        try Data("not a raw file".utf8).write(to: shortDir.appendingPathComponent("10002_00_0.1s.dng"))
        _ = try capture("10002_00_10s.dng", ratio: 1, in: longDir)
        _ = try capture("10003_00_0.1s.dng", ratio: 100, in: shortDir)
        try Data("not a raw file either".utf8).write(to: longDir.appendingPathComponent("10003_00_10s.dng"))
        // Two models (the same weights under two names): two configurations.
        let second = root.appendingPathComponent("second.safetensors")
        try FileManager.default.copyItem(at: model, to: second)
        let saved = root.appendingPathComponent("saved"), csv = root.appendingPathComponent("results.csv")

        let result = try runNightjar(["evaluate", "--model", model.path, "--model", second.path, shortDir.path, longDir.path,
                                      "--json", "--save-dir", saved.path, "--csv", csv.path, "--threads", "2"])
        XCTAssertEqual(result.status, 2, result.stderr)
        let errorLines = result.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(errorLines.count, 3, result.stderr)
        XCTAssertEqual(errorLines.filter { $0.hasPrefix("nightjar: error: \(shortDir.path)/10002_00_0.1s.dng: ") }.count, 2, result.stderr)
        XCTAssertEqual(errorLines.filter { $0.hasPrefix("nightjar: error: \(longDir.path)/10003_00_10s.dng: ") }.count, 1, result.stderr)

        let objects = try jsonObjects(result.stdout)
        XCTAssertEqual(objects.count, 7, result.stdout)
        guard objects.count == 7 else { return }
        let pair = objects[0]
        XCTAssertEqual(pair["short"] as? String, short.path)
        XCTAssertEqual(pair["long"] as? String, long.path)
        XCTAssertEqual(pair["ratio"] as? Double, 100)
        XCTAssertEqual(pair["model"] as? String, "official")
        XCTAssertEqual(pair["precision"] as? String, "fp32")
        XCTAssertEqual(pair["color"] as? String, "camera")
        XCTAssertGreaterThan(try XCTUnwrap(pair["seconds"] as? Double), 0)
        XCTAssertEqual(objects[1]["model"] as? String, "second")
        // The same weights give the same numbers.
        for key in ["psnr", "ssim", "delta_e"] { XCTAssertEqual(objects[1][key] as? Double, pair[key] as? Double, key) }
        XCTAssertEqual(objects[2]["short"] as? String, shortDir.appendingPathComponent("10002_00_0.1s.dng").path)
        XCTAssertNotNil(objects[2]["error"] as? String)
        XCTAssertNotNil(objects[3]["error"] as? String)
        XCTAssertEqual(objects[4]["long"] as? String, longDir.appendingPathComponent("10003_00_10s.dng").path)
        XCTAssertNotNil(objects[4]["error"] as? String)
        for (summary, name) in zip(objects[5...], ["official", "second"]) {
            XCTAssertEqual(summary["pairs"] as? Int, 1)
            XCTAssertEqual(summary["model"] as? String, name)
            XCTAssertEqual(summary["precision"] as? String, "fp32")
            XCTAssertEqual(summary["color"] as? String, "camera")
            XCTAssertEqual(summary["mean_psnr"] as? Double, pair["psnr"] as? Double)
            XCTAssertEqual(summary["mean_ssim"] as? Double, pair["ssim"] as? Double)
            XCTAssertEqual(summary["mean_delta_e"] as? Double, pair["delta_e"] as? Double)
        }
        XCTAssertEqual(pair["restored"] as? String, saved.appendingPathComponent("10001_00_0.1s-official-fp32-camera.png").path)
        XCTAssertEqual(pair["reference"] as? String, saved.appendingPathComponent("10001_00_0.1s-reference.png").path)

        // The saved images: the restore of the short exposure (turned upright, as restore
        // writes it) and LibRaw's rendering of the long one over the same area.
        let restored = try PNGReader.readRGB8(saved.appendingPathComponent("10001_00_0.1s-official-fp32-camera.png"))
        let reference = try PNGReader.readRGB8(saved.appendingPathComponent("10001_00_0.1s-reference.png"))
        XCTAssertEqual(restored.width, 68)  // BGGR 90x70: one row and column dropped, even sides, turned 90°
        XCTAssertEqual(restored.height, 88)
        XCTAssertEqual(reference.width, restored.width)
        XCTAssertEqual(reference.height, restored.height)
        let expected = directScore(restored, reference)
        XCTAssertEqual(try XCTUnwrap(pair["psnr"] as? Double), expected.psnr, accuracy: 1e-5)
        XCTAssertEqual(try XCTUnwrap(pair["ssim"] as? Double), expected.ssim, accuracy: 1e-7)
        XCTAssertEqual(try XCTUnwrap(pair["delta_e"] as? Double), expected.deltaE, accuracy: 1e-5)
        // A restoration, not noise: the network's output resembles the scene.
        XCTAssertGreaterThan(expected.psnr, 10)

        // The CSV: a header and the measured pair.
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(rows.first, ["short", "long", "ratio", "model", "precision", "color", "psnr", "ssim", "delta_e", "seconds"])
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[1].prefix(6).map { $0 }, [short.path, long.path, "100", "official", "fp32", "camera"])
        XCTAssertEqual(try XCTUnwrap(Double(rows[1][6])), expected.psnr, accuracy: 1e-3)
        XCTAssertEqual(rows[2][3], "second")

        // The terminal table, without --save-dir: the restored images live in a private
        // directory that is removed; --m uses the paper's amplifier instead of the ratio.
        let scratch = root.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let table = try runNightjar(["evaluate", "--model", model.path, short.path, long.path, "--m", "5"],
                                    environment: ["TMPDIR": scratch.path])
        XCTAssertEqual(table.status, 0, table.stderr)
        let amplified = try runNightjar(["evaluate", "--model", model.path, short.path, long.path, "--m", "5", "--json"],
                                        environment: ["TMPDIR": scratch.path])
        let first = try XCTUnwrap(try jsonObjects(amplified.stdout).first)
        XCTAssertEqual(first["ratio"] as? Double, 100)
        XCTAssertNotEqual(first["amplification"] as? Double, 100)
        XCTAssertNil(first["restored"])
        XCTAssertTrue(table.stdout.contains("10001_00_0.1s.dng"), table.stdout)
        XCTAssertTrue(table.stdout.contains("mean PSNR"), table.stdout)
        XCTAssertEqual(CaptureFixtures.listing(scratch), [])
    }

    /// `--int8-fallback fp16` measures what `restore` and `watch` would deliver with it: a pair
    /// amplified beyond the int8 calibration (ratio 300, evaluate's cap, given in the CSV) runs in FP16 and
    /// scores exactly what the FP16 configuration scores on it; the pair at its own ratio stays
    /// int8. JSON, the summary, the CSV's last column and the table say which pairs fell back.
    func testInt8FallbackIsMeasuredAsRestoreRunsIt() throws {
        let root = try makeTemporaryDirectory(self)
        let model = root.appendingPathComponent("int8.safetensors")
        try Int8EngineTests.allInt8(NightjarModel.load(contentsOf: try Self.converted.file())).write(to: model)
        let short = try capture("10001_00_0.1s.dng", ratio: 100, in: root)
        let long = try capture("10001_00_10s.dng", ratio: 1, in: root)
        let pairs = root.appendingPathComponent("pairs.csv"), csv = root.appendingPathComponent("out.csv")
        try Data("\(short.path),\(long.path),100\n\(short.path),\(long.path),300\n".utf8).write(to: pairs)
        let run = try runNightjar(["evaluate", "--model", model.path, pairs.path, "--precision", "int8", "--precision", "fp16",
                                   "--int8-fallback", "fp16", "--threads", "2", "--json", "--csv", csv.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let objects = try jsonObjects(run.stdout)
        let rows = objects.filter { $0["short"] != nil }, summaries = objects.filter { $0["pairs"] != nil }
        XCTAssertEqual(rows.count, 4, run.stdout + run.stderr)
        func row(_ ratio: Double, _ precision: String) throws -> [String: Any] {
            try XCTUnwrap(rows.first { $0["ratio"] as? Double == ratio && $0["precision"] as? String == precision })
        }
        XCTAssertNil(try row(100, "int8")["int8_fallback"])
        XCTAssertEqual(try row(300, "int8")["int8_fallback"] as? String, "fp16")
        XCTAssertNil(try row(300, "fp16")["int8_fallback"])
        XCTAssertEqual(try XCTUnwrap(row(300, "int8")["psnr"] as? Double), try XCTUnwrap(row(300, "fp16")["psnr"] as? Double))
        XCTAssertEqual(try XCTUnwrap(row(300, "int8")["ssim"] as? Double), try XCTUnwrap(row(300, "fp16")["ssim"] as? Double))
        XCTAssertNotEqual(try XCTUnwrap(row(100, "int8")["psnr"] as? Double), try XCTUnwrap(row(100, "fp16")["psnr"] as? Double))
        XCTAssertEqual(summaries.first { $0["precision"] as? String == "int8" }?["int8_fallback"] as? Int, 1)
        XCTAssertEqual(summaries.first { $0["precision"] as? String == "fp16" }?["int8_fallback"] as? Int, 0)
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.isEmpty }.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(lines.first?.last, "int8_fallback")
        XCTAssertEqual(lines.dropFirst().filter { $0[2] == "300" && $0[4] == "int8" }.map(\.last), ["fp16"])
        XCTAssertEqual(lines.dropFirst().filter { $0.last == "fp16" }.count, 1)
        // The table marks the pair; without an int8 configuration the option is said to do nothing.
        let table = try runNightjar(["evaluate", "--model", model.path, pairs.path, "--precision", "int8", "--int8-fallback", "fp16",
                                     "--threads", "2"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("int8 (fp16)"), table.stdout)
        let plain = try runNightjar(["evaluate", "--model", model.path, short.path, long.path, "--precision", "fp16",
                                     "--int8-fallback", "fp16", "--threads", "2"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stderr.contains("--int8-fallback fp16 has no effect"), plain.stderr)
    }

    func testRefusals() throws {
        let model = try Self.converted.file()
        let root = try makeTemporaryDirectory(self)
        let short = try capture("10001_00_0.1s.dng", ratio: 100, in: root)
        let long = try capture("10001_00_10s.dng", ratio: 1, in: root)
        // Both colour modes run; each configuration gets its own row, and they differ.
        let colours = try runNightjar(["evaluate", "--model", model.path, short.path, long.path,
                                       "--color", "camera", "--color", "network", "--json"])
        XCTAssertEqual(colours.status, 0, colours.stderr)
        let rows = try jsonObjects(colours.stdout).filter { $0["short"] != nil }
        XCTAssertEqual(rows.compactMap { $0["color"] as? String }, ["camera", "network"])
        XCTAssertNotEqual(rows.first?["psnr"] as? Double, rows.last?["psnr"] as? Double)
        // int8 of a model without calibration: one line naming the fix, nothing measured.
        let int8 = try runNightjar(["evaluate", "--model", model.path, short.path, long.path, "--precision", "int8"])
        XCTAssertEqual(int8.status, 1)
        XCTAssertTrue(int8.stderr.contains("run `nightjar quantize"), int8.stderr)
        let lonely = try runNightjar(["evaluate", "--model", model.path, short.path])
        XCTAssertEqual(lonely.status, 64)
        XCTAssertTrue(lonely.stderr.contains("no short/long pairs found"), lonely.stderr)
        XCTAssertTrue(lonely.stderr.contains("no other exposure of scene 10001"), lonely.stderr)
        let noModel = try runNightjar(["evaluate", short.path, long.path])
        XCTAssertEqual(noModel.status, 64)
        let badCSV = try runNightjar(["evaluate", "--model", model.path, short.path, long.path, "--csv", root.appendingPathComponent("no/such/dir/r.csv").path])
        XCTAssertEqual(badCSV.status, 64)
        XCTAssertTrue(badCSV.stderr.contains("cannot write the CSV there"), badCSV.stderr)
        // A long exposure of another size is that pair's error, not a crash.
        let other = root.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        let small = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 40, height: 40)), named: "small.dng", in: other)
        let csv = other.appendingPathComponent("pairs.csv")
        try "\(short.path),\(small.path),100\n".write(to: csv, atomically: true, encoding: .utf8)
        let mismatch = try runNightjar(["evaluate", "--model", model.path, csv.path])
        XCTAssertEqual(mismatch.status, 1, mismatch.stderr)
        XCTAssertTrue(mismatch.stderr.contains("a pair must come from the same camera and mode"), mismatch.stderr)
    }
}
