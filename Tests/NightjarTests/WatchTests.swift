import Foundation
@testable import Nightjar
import XCTest

/// `nightjar watch` as systemd runs it: real processes on real files in temporary
/// directories, a small random-weight model and small synthetic DNGs.
final class WatchTests: XCTestCase {
    var dir: URL!
    var capture: URL!
    var output: URL!
    var model: URL!
    /// A 64x48 synthetic dark DNG.
    var dng: Data!

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
        capture = dir.appendingPathComponent("capture")
        output = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: capture, withIntermediateDirectories: true)
        model = dir.appendingPathComponent("random.safetensors")
        try RestorerTests.randomModel().write(to: model)
        let source = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 64, height: 48)),
                                               named: "source.dng", in: dir)
        dng = try Data(contentsOf: source)
    }

    func arguments(settle: Double = 0.3, _ extra: [String] = []) -> [String] {
        ["--capture-dir", capture.path, "--output-dir", output.path, "--model", model.path, "--threads", "1",
         "--settle", "\(settle)", "--rescan", "1"] + extra
    }

    /// The pixels `nightjar restore` writes for `dng` with the same model, as compressed image data.
    func referenceImageData() throws -> Data {
        let input = dir.appendingPathComponent("reference.dng")
        try dng.write(to: input)
        let result = try runNightjar(["restore", input.path, "--model", model.path, "--threads", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(pngImageData(dir.appendingPathComponent("reference.png")))
    }

    /// No temporaries or leftovers anywhere: output names are all visible, the work area is empty.
    func assertClean(file: StaticString = #filePath, line: UInt = #line) {
        let hidden = (FileManager.default.enumerator(atPath: output.path)?.allObjects as? [String] ?? [])
            .filter { $0.split(separator: "/").contains { $0.hasPrefix(".") } }
        XCTAssertEqual(hidden, [], "temporary files in the output directory", file: file, line: line)
        let claimed = capture.appendingPathComponent(".nightjar/claimed")
        for area in names(in: claimed) {
            XCTAssertEqual(names(in: claimed.appendingPathComponent(area)), [], "frames left claimed by \(area)", file: file, line: line)
        }
        XCTAssertEqual(names(in: capture).filter { $0.hasPrefix(".") && $0 != ".nightjar" }, [], file: file, line: line)
    }

    // MARK: - Discovery and delivery

    func testEveryKindOfArrivalEndsWhereItShould() throws {
        let reference = try referenceImageData()
        try dng.write(to: capture.appendingPathComponent("backlog.dng"))
        try Data("unrelated".utf8).write(to: capture.appendingPathComponent("notes.txt"))
        let daemon = try WatchDaemon(arguments(settle: 0.5, ["--latest", "latest.png"]), in: dir, watchdogMicroseconds: 300_000,
                                     notify: true)
        let notify = try XCTUnwrap(daemon.notifications)
        XCTAssertTrue(waitUntil(timeout: 30) { notify.read().contains { $0.hasPrefix("READY=1") } }, daemon.logText)

        // Written in place, slowly, in chunks with pauses shorter than the settle time.
        let slow = capture.appendingPathComponent("slow.dng")
        FileManager.default.createFile(atPath: slow.path, contents: nil)
        let handle = try FileHandle(forWritingTo: slow)
        let chunk = dng.count / 4 + 1
        for start in stride(from: 0, to: dng.count, by: chunk) {
            handle.write(dng[start..<min(dng.count, start + chunk)])
            usleep(200_000)
        }
        try handle.close()
        // Written in place at once; renamed in from a temporary name; temporary names left alone.
        try dng.write(to: capture.appendingPathComponent("inplace.dng"))
        try dng.write(to: capture.appendingPathComponent(".renamed.dng"))
        try FileManager.default.moveItem(at: capture.appendingPathComponent(".renamed.dng"), to: capture.appendingPathComponent("renamed.DNG"))
        try dng.prefix(5000).write(to: capture.appendingPathComponent("camera.dng.part"))
        // Frames that cannot be restored.
        FileManager.default.createFile(atPath: capture.appendingPathComponent("empty.dng").path, contents: nil)
        try dng.prefix(dng.count / 3).write(to: capture.appendingPathComponent("truncated.dng"))
        let linear = DNGImage(width: 32, height: 24, layout: .linearRGB, samples: [UInt16](repeating: 900, count: 32 * 24 * 3),
                              significantBits: 12)
        _ = try CaptureFixtures.write(linear, named: "linear.dng", in: capture)

        let done = capture.appendingPathComponent("done"), failed = capture.appendingPathComponent("failed")
        XCTAssertTrue(waitUntil(timeout: 60) { names(in: done).count == 4 && names(in: failed).count == 6 },
                      "done: \(names(in: done)), failed: \(names(in: failed))\n\(daemon.logText)")
        XCTAssertEqual(names(in: done), ["backlog.dng", "inplace.dng", "renamed.DNG", "slow.dng"])
        for name in ["backlog", "inplace", "renamed", "slow"] {
            XCTAssertEqual(pngImageData(output.appendingPathComponent("\(name).png")), reference, name)
        }
        XCTAssertEqual(names(in: failed), ["empty.dng", "empty.dng.error.txt", "linear.dng", "linear.dng.error.txt",
                                            "truncated.dng", "truncated.dng.error.txt"])
        let linearReason = try String(contentsOf: failed.appendingPathComponent("linear.dng.error.txt"), encoding: .utf8)
        XCTAssertTrue(linearReason.hasPrefix(capture.appendingPathComponent("linear.dng").path + ": not a Bayer RAW"), linearReason)
        for name in ["empty", "truncated"] {
            let reason = try String(contentsOf: failed.appendingPathComponent("\(name).dng.error.txt"), encoding: .utf8)
            XCTAssertTrue(reason.hasPrefix(capture.appendingPathComponent("\(name).dng").path + ": "), reason)
        }
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: output.appendingPathComponent("latest.png").path)
                        .hasSuffix(".png"), true)
        XCTAssertEqual(names(in: capture).filter { !$0.hasPrefix(".") }, ["camera.dng.part", "done", "failed", "notes.txt"])

        // The counters, as node_exporter and `nightjar status` read them.
        let metrics = WatchMetrics(text: try String(contentsOf: capture.appendingPathComponent(".nightjar/nightjar.prom"), encoding: .utf8))
        XCTAssertEqual(metrics.restored, 4)
        XCTAssertEqual(metrics.failed, 3)
        XCTAssertGreaterThan(metrics.arenaBytes, 0)
        XCTAssertGreaterThan(metrics.lastFrameTime, Date().timeIntervalSince1970 - 120)
        let status = try runNightjar(["status", "--capture-dir", capture.path])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("daemons running: 1"), status.stdout)
        XCTAssertTrue(status.stdout.contains("4 restored, 3 failed"), status.stdout)

        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        let messages = notify.read()
        XCTAssertEqual(messages.first?.hasPrefix("READY=1\nSTATUS="), true, "\(messages)")
        XCTAssertTrue(messages.contains { $0.hasPrefix("STATUS=Restored 4, failed 3") }, "\(messages)")
        XCTAssertGreaterThanOrEqual(messages.filter { $0 == "WATCHDOG=1" }.count, 3, "\(messages)")
        XCTAssertEqual(messages.last?.hasPrefix("STOPPING=1"), true, "\(messages)")
        for line in daemon.logText.split(separator: "\n") {
            XCTAssertTrue(line.hasPrefix("<3>nightjar: ") || line.hasPrefix("<4>nightjar: ") || line.hasPrefix("<6>nightjar: "), String(line))
        }
        assertClean()
        let stopped = try runNightjar(["status", "--capture-dir", capture.path])
        XCTAssertEqual(stopped.status, 3, stopped.stdout)
    }
}
