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
        let daemon = try WatchDaemon(arguments(settle: 0.5, ["--latest", "latest.png", "--sidecar"]), in: dir, watchdogMicroseconds: 300_000,
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
        // The sidecar names the file where the camera put it, not the daemon's work area.
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("slow.png.json"))) as? [String: Any]
        XCTAssertEqual(sidecar?["input"] as? String, capture.appendingPathComponent("slow.dng").path)
        XCTAssertEqual(sidecar?["output"] as? String, output.appendingPathComponent("slow.png").path)
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

        // The counters, as node_exporter and `nightjar status` read them (written after the
        // frame's files are in place).
        let metricsFile = capture.appendingPathComponent(".nightjar/nightjar.prom")
        func readMetrics() -> WatchMetrics { WatchMetrics(text: (try? String(contentsOf: metricsFile, encoding: .utf8)) ?? "") }
        XCTAssertTrue(waitUntil(timeout: 10) { readMetrics().failed == 3 })
        let metrics = readMetrics()
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

    /// A frame brighter than the int8 model was calibrated for: the daemon logs the warning
    /// (warning priority), counts the frame in its metrics, and `status` says so. With
    /// `--int8-fallback fp16` such a frame is restored in FP16 instead, counted as such,
    /// without a warning.
    func testFramesBrighterThanTheInt8CalibrationAreCounted() throws {
        // Every layer int8 with the input read in [0, 0.1]: far narrower than the frame's.
        let narrow = ["conv2x", "conv32x.0", "resblock8x.conv1", "resblock8x.conv2.residual"].reduce(into: [:]) { $0[$1] = (Float(0), Float(0.1)) }
        let int8 = try Int8InputClippingTests.model(inputs: narrow)
        model = dir.appendingPathComponent("int8.safetensors")
        try int8.write(to: model)
        let source = dir.appendingPathComponent("frame.dng")
        try dng.write(to: source)
        let expected = try restoreCapture(input: source, output: dir.appendingPathComponent("frame.png"), modelName: "m",
                                          network: FrameEngine(model: int8, threads: 1), workspace: CaptureWorkspace(mosaicCodes: true))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(expected.int8InputClipped), Int8InputClipping.significantShare)

        let daemon = try WatchDaemon(arguments(settle: 0), in: dir)
        try dng.write(to: capture.appendingPathComponent("bright.dng"))
        let metricsFile = capture.appendingPathComponent(".nightjar/nightjar.prom")
        func metrics() -> WatchMetrics { WatchMetrics(text: (try? String(contentsOf: metricsFile, encoding: .utf8)) ?? "") }
        XCTAssertTrue(waitUntil(timeout: 30) { metrics().restored == 1 }, daemon.logText)
        XCTAssertEqual(metrics().int8Clipped, 1)
        XCTAssertTrue(daemon.logText.split(separator: "\n").contains {
            $0.hasPrefix("<4>nightjar: ") && $0.contains("bright.dng") && $0.contains("brighter than the int8 model's calibrated range")
        }, daemon.logText)
        let status = try runNightjar(["status", "--capture-dir", capture.path])
        XCTAssertTrue(status.stdout.contains("int8: 1 of the restored frames were brighter than the model was calibrated for"),
                      status.stdout)
        let json = try runNightjar(["status", "--capture-dir", capture.path, "--json"])
        XCTAssertTrue(json.stdout.contains("\"int8_clipped\":1"), json.stdout)
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        assertClean()

        // The next daemon's counters start from 0: none of the first's may be read for them.
        try FileManager.default.removeItem(at: metricsFile)
        let fallback = try WatchDaemon(arguments(settle: 0, ["--int8-fallback", "fp16"]), in: dir)
        try dng.write(to: capture.appendingPathComponent("bright2.dng"))
        XCTAssertTrue(waitUntil(timeout: 30) { metrics().restored == 1 }, fallback.logText)
        XCTAssertEqual(metrics().int8Clipped, 1)
        XCTAssertEqual(metrics().int8Fallback, 1)
        XCTAssertFalse(fallback.logText.contains("brighter than the int8 model's calibrated range"), fallback.logText)
        XCTAssertTrue(fallback.logText.split(separator: "\n").contains {
            $0.hasPrefix("<6>nightjar: bright2.dng → ") && $0.hasSuffix(" s, in fp16: too bright for the int8 calibration)")
        }, fallback.logText)
        let fallbackStatus = try runNightjar(["status", "--capture-dir", capture.path])
        XCTAssertTrue(fallbackStatus.stdout.contains("int8: 1 frames too bright for the model's calibration were restored in the int8 fallback's precision"),
                      fallbackStatus.stdout)
        XCTAssertFalse(fallbackStatus.stdout.contains("were brighter than the model was calibrated for"), fallbackStatus.stdout)
        XCTAssertEqual(fallback.stop(), 0, fallback.logText)
        assertClean()
    }

    /// `int8-fallback` with a model that runs FP32: the daemon starts and says, once, at
    /// warning priority, that the setting does nothing.
    func testAnInt8FallbackTheModelCannotUseIsLogged() throws {
        let daemon = try WatchDaemon(arguments(settle: 0, ["--int8-fallback", "fp16"]), in: dir)
        XCTAssertTrue(waitUntil(timeout: 30) { daemon.logText.contains("nightjar: watching ") }, daemon.logText)
        let warnings = daemon.logText.split(separator: "\n").filter { $0.contains("int8-fallback") }
        XCTAssertEqual(warnings, ["<4>nightjar: int8-fallback = fp16 has no effect: the network runs fp32 and no int8 layer reads its input"],
                       daemon.logText)
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
    }

    // MARK: - Crashes and concurrency

    /// 200 frames, the daemon killed with SIGKILL at random moments and restarted until they
    /// are all through: every frame restored exactly once (no NAME-2.png), each output whole
    /// and equal to `nightjar restore`'s, nothing failed, no temporary or claimed file left.
    func testSoakWithKill9LosesNothingAndDoublesNothing() throws {
        let reference = try referenceImageData()
        let count = 200
        // The frames arrive in five batches, one as each of the first five lives starts: on a
        // fast, quiet machine the daemon once cleared all 200 within four lives, and the soak
        // ended with too few kills to say anything.
        let batches = 5
        var written = 0
        func writeBatch() throws {
            for i in (written * count / batches)..<((written + 1) * count / batches) {
                try dng.write(to: capture.appendingPathComponent(String(format: "frame%03d.dng", i)))
            }
            written += 1
        }
        let done = capture.appendingPathComponent("done")
        var seed = UInt64(Date().timeIntervalSince1970 * 1000)
        let firstSeed = seed
        func random(_ range: ClosedRange<Int>) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return range.lowerBound + Int((seed >> 33) % UInt64(range.count))
        }
        var kills = 0
        // Bounded in count and time (CI): up to 30 kills in up to 45 s, then one run to the end.
        let deadline = Date().addingTimeInterval(45)
        while names(in: done).count < count, kills < 30, Date() < deadline {
            if written < batches { try writeBatch() }
            let daemon = try WatchDaemon(arguments(settle: 0), in: dir, name: "run\(kills)")
            // Short lives: a daemon that decodes ahead clears tiny frames quickly, and the soak
            // must still kill it often (at start-up, mid-frame, between frames). Every other
            // life is timed from the daemon's readiness rather than its launch: on a loaded
            // machine start-up alone can outlast the longest sleep, and then no kill would
            // ever find a frame in hand.
            if kills % 2 == 1 { _ = waitUntil(timeout: 20) { daemon.logText.contains("watching") } }
            usleep(UInt32(random(50_000...500_000)))
            if daemon.process.isRunning { daemon.killHard(); kills += 1 }
        }
        while written < batches { try writeBatch() }
        let last = try WatchDaemon(arguments(settle: 0), in: dir, name: "last")
        XCTAssertTrue(waitUntil(timeout: 30) { last.logText.contains("watching") }, last.logText)
        XCTAssertTrue(waitUntil(timeout: 60) { names(in: done).count == count }, "seed \(firstSeed): \(names(in: done).count) done\n\(last.logText)")
        XCTAssertEqual(last.stop(), 0, last.logText)
        XCTAssertGreaterThanOrEqual(kills, 5, "the soak must actually kill the daemon")
        // Some kill found a frame in hand (claimed, or delivered with its original not yet moved).
        let logs = names(in: dir).filter { $0.hasSuffix(".log") }.compactMap { try? String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8) }
        XCTAssertGreaterThan(logs.reduce(0) { $0 + $1.components(separatedBy: "by a stopped daemon").count - 1 }, 0,
                             "seed \(firstSeed): no kill found a frame in hand")
        XCTAssertEqual(names(in: capture.appendingPathComponent("failed")), [], "seed \(firstSeed)")
        let expected = (0..<count).map { String(format: "frame%03d.png", $0) }
        XCTAssertEqual(names(in: output), expected, "seed \(firstSeed)")
        for name in expected where pngImageData(output.appendingPathComponent(name)) != reference {
            XCTFail("seed \(firstSeed): \(name) is not the whole restored frame")
        }
        XCTAssertEqual(names(in: done), (0..<count).map { String(format: "frame%03d.dng", $0) })
        assertClean()
    }

    /// What a daemon killed at any step leaves is finished at start: a frame whose output was
    /// committed is not restored again (its original goes to done/), one whose output was not
    /// is restored, and temporaries of dead processes go.
    func testLeftoversOfADeadDaemonAreFinishedAtStart() throws {
        let reference = try referenceImageData()
        let area = capture.appendingPathComponent(".nightjar/claimed/4194303-dead")
        try FileManager.default.createDirectory(at: area, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        // a.dng: output committed, original not yet moved.
        try dng.write(to: area.appendingPathComponent("a.dng"))
        try Data("already delivered".utf8).write(to: output.appendingPathComponent("a.png"))
        try Data(output.appendingPathComponent("a.png").path.utf8).write(to: area.appendingPathComponent(".a.dng.output"))
        // b.dng: output chosen, never committed; c.dng: claimed only.
        try dng.write(to: area.appendingPathComponent("b.dng"))
        try Data(output.appendingPathComponent("b.png").path.utf8).write(to: area.appendingPathComponent(".b.dng.output"))
        try dng.write(to: area.appendingPathComponent("c.dng"))
        // d.dng: delivered, and killed between linking the original into done/ and unlinking
        // it here: the move is finished, not made twice (no done/d-2.dng).
        try dng.write(to: area.appendingPathComponent("d.dng"))
        try Data("delivered too".utf8).write(to: output.appendingPathComponent("d.png"))
        try Data(output.appendingPathComponent("d.png").path.utf8).write(to: area.appendingPathComponent(".d.dng.output"))
        try FileManager.default.createDirectory(at: capture.appendingPathComponent("done"), withIntermediateDirectories: true)
        XCTAssertEqual(link(area.appendingPathComponent("d.dng").path, capture.appendingPathComponent("done/d.dng").path), 0)
        try Data("half".utf8).write(to: output.appendingPathComponent(".nightjar-4194303-abc123.partial"))

        let daemon = try WatchDaemon(arguments(settle: 0), in: dir)
        let done = capture.appendingPathComponent("done")
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: done) == ["a.dng", "b.dng", "c.dng", "d.dng"] }, daemon.logText)
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        XCTAssertEqual(names(in: done), ["a.dng", "b.dng", "c.dng", "d.dng"])
        XCTAssertEqual(names(in: output), ["a.png", "b.png", "c.png", "d.png"])
        XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("d.png")), Data("delivered too".utf8))
        XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("a.png")), Data("already delivered".utf8))
        XCTAssertEqual(pngImageData(output.appendingPathComponent("b.png")), reference)
        XCTAssertEqual(pngImageData(output.appendingPathComponent("c.png")), reference)
        XCTAssertTrue(daemon.logText.contains("a.dng: delivered by a stopped daemon"), daemon.logText)
        XCTAssertTrue(daemon.logText.contains("b.dng: left over by a stopped daemon"), daemon.logText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: area.path))
        assertClean()
    }

    /// A frame a stopped daemon held waits behind the others: one that stops the daemon every
    /// time (killed for memory, a crash) must not hold up the frames after it by name.
    func testAFrameADeadDaemonHeldIsRestoredAfterTheOthers() throws {
        let area = capture.appendingPathComponent(".nightjar/claimed/4194303-dead")
        try FileManager.default.createDirectory(at: area, withIntermediateDirectories: true)
        try dng.write(to: area.appendingPathComponent("a.dng"))
        for name in ["b.dng", "c.dng"] { try dng.write(to: capture.appendingPathComponent(name)) }
        let daemon = try WatchDaemon(arguments(settle: 0), in: dir)
        let done = capture.appendingPathComponent("done")
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: done) == ["a.dng", "b.dng", "c.dng"] }, daemon.logText)
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        let restored = daemon.logText.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("<6>nightjar: "), line.contains(".dng → ") else { return nil }
            return String(line.dropFirst("<6>nightjar: ".count).prefix { $0 != " " })
        }
        XCTAssertEqual(restored, ["b.dng", "c.dng", "a.dng"], daemon.logText)
        XCTAssertTrue(daemon.logText.contains("a.dng: left over by a stopped daemon; restoring it again after the other waiting frames"),
                      daemon.logText)
        assertClean()
    }

    /// Two daemons on one capture directory share the frames without restoring any twice,
    /// whether originals are moved away or kept in place (each daemon then reads what the
    /// other has kept).
    func testTwoDaemonsOnOneDirectoryNeverRestoreAFrameTwice() throws {
        for policy in ["move", "keep"] {
            try? FileManager.default.removeItem(at: output)
            let count = 40
            let first = try WatchDaemon(arguments(settle: 0.2, ["--originals", policy, "--rescan", "0.3"]), in: dir, name: "first-\(policy)")
            let second = try WatchDaemon(arguments(settle: 0.2, ["--originals", policy, "--rescan", "0.3"]), in: dir, name: "second-\(policy)")
            let frames = (0..<count).map { String(format: "\(policy)%03d", $0) }
            for frame in frames { try dng.write(to: capture.appendingPathComponent(frame + ".dng")) }
            XCTAssertTrue(waitUntil(timeout: 60) { names(in: output).count == count }, first.logText + second.logText)
            usleep(1_000_000) // several rescans by both: a kept original must not be taken again
            XCTAssertEqual(first.stop(), 0)
            XCTAssertEqual(second.stop(), 0)
            XCTAssertEqual(names(in: output), frames.map { $0 + ".png" }, policy)
            let stayed = names(in: capture).filter { $0.hasPrefix(policy) }
            XCTAssertEqual(stayed, policy == "keep" ? frames.map { $0 + ".dng" } : [], policy)
            // Kept originals are not counted as waiting.
            let status = try runNightjar(["status", "--capture-dir", capture.path])
            XCTAssertTrue(status.stdout.contains("queue: 0 waiting, 0 in progress"), status.stdout)
            func restored(_ daemon: WatchDaemon) -> [String] {
                daemon.logText.split(separator: "\n").filter { $0.contains(".dng → ") }.map { String($0.dropFirst("<6>nightjar: ".count).prefix(11)) }
            }
            let a = restored(first), b = restored(second)
            XCTAssertEqual(a.count + b.count, count, "\(policy): each frame restored by exactly one daemon")
            XCTAssertEqual(Set(a).intersection(b), [], policy)
            assertClean()
        }
    }

    // MARK: - Signals

    /// SIGTERM while a frame is in hand: the frame is finished and delivered, then the daemon
    /// stops cleanly (exit 0, STOPPING=1), leaving no partial output and nothing claimed. (6.3
    /// MP, as the watchdog test below: the signal must find the frame still in hand, and 1.6 MP
    /// took 0.24 s on a Zen 5 test machine.)
    func testSIGTERMMidFrameFinishesTheFrameAndStops() throws {
        let big = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 3072, height: 2048)),
                                            named: "big.dng", in: dir)
        let daemon = try WatchDaemon(arguments(settle: 0), in: dir, notify: true)
        let notify = try XCTUnwrap(daemon.notifications)
        XCTAssertTrue(waitUntil(timeout: 30) { notify.read().contains { $0.hasPrefix("READY=1") } }, daemon.logText)
        try FileManager.default.moveItem(at: big, to: capture.appendingPathComponent("big.dng"))
        let claimed = capture.appendingPathComponent(".nightjar/claimed")
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: claimed).contains { names(in: claimed.appendingPathComponent($0)).contains("big.dng") } },
                      daemon.logText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent("big.png").path), "SIGTERM came too late to test")
        XCTAssertEqual(daemon.stop(timeout: 60), 0, daemon.logText)
        XCTAssertNotNil(pngChunks(output.appendingPathComponent("big.png")), "the frame in hand is delivered whole")
        XCTAssertEqual(names(in: capture.appendingPathComponent("done")), ["big.dng"])
        XCTAssertEqual(notify.read().last?.hasPrefix("STOPPING=1"), true, "\(notify.read())")
        assertClean()
    }

    /// The watchdog hears from the daemon during a frame, not only between frames: a frame may
    /// take longer than WatchdogSec= on a small board. Pings every 50 ms are asked for; a frame
    /// of about a second must see several of them between its claim and its delivery. (6.3 MP:
    /// 1.6 MP took 0.24 s on a Zen 5 test machine, too quick to tell pings during the frame
    /// from pings around it.)
    func testWatchdogPingsArriveDuringAFrame() throws {
        let big = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 3072, height: 2048)),
                                            named: "big.dng", in: dir)
        let daemon = try WatchDaemon(arguments(settle: 0), in: dir, watchdogMicroseconds: 100_000, notify: true)
        let notify = try XCTUnwrap(daemon.notifications)
        XCTAssertTrue(waitUntil(timeout: 30) { notify.read().contains { $0.hasPrefix("READY=1") } }, daemon.logText)
        try FileManager.default.moveItem(at: big, to: capture.appendingPathComponent("big.dng"))
        let claimed = capture.appendingPathComponent(".nightjar/claimed")
        let delivered = output.appendingPathComponent("big.png")
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: claimed).contains { names(in: claimed.appendingPathComponent($0)).contains("big.dng") } },
                      daemon.logText)
        let claimedAt = ProcessMetrics.now()
        XCTAssertFalse(FileManager.default.fileExists(atPath: delivered.path), "the frame was too quick to test")
        XCTAssertTrue(waitUntil(timeout: 120) { FileManager.default.fileExists(atPath: delivered.path) }, daemon.logText)
        let deliveredAt = ProcessMetrics.now()
        XCTAssertEqual(daemon.stop(timeout: 60), 0, daemon.logText)
        let pings = notify.readTimed().filter { $0.message == "WATCHDOG=1" && $0.time > claimedAt && $0.time < deliveredAt }
        XCTAssertGreaterThanOrEqual(deliveredAt - claimedAt, 0.3, "the frame was too quick to test")
        XCTAssertGreaterThanOrEqual(pings.count, 3, "pings while the frame ran (\(deliveredAt - claimedAt) s): \(pings.count)")
        // No gap between pings (or from the claim to the first) longer than a few intervals.
        let times = [claimedAt] + pings.map(\.time) + [deliveredAt]
        let longest = zip(times.dropFirst(), times).map { $0 - $1 }.max() ?? 0
        XCTAssertLessThan(longest, max(0.5, (deliveredAt - claimedAt) / 2), "longest gap without a ping during the frame")
        assertClean()
    }

    /// `{date}` and `{time}` come from when the frame was taken (DateTimeOriginal, which LibRaw
    /// reads), not from the file's modification time; a file that records none falls back to
    /// its modification time.
    func testOutputNameUsesTheCapturesOwnTimestamp() throws {
        setenv("TZ", "UTC", 1)
        tzset()
        var image = SyntheticScene.darkCapture(SyntheticScene.render(width: 64, height: 48))
        image.dateTimeOriginal = "2024:07:21 23:41:05"
        let stamped = try CaptureFixtures.write(image, named: "stamped.dng", in: dir)
        let plain = dir.appendingPathComponent("plain.dng")
        try dng.write(to: plain)
        // Both files' modification time: 2023-11-14 22:13:20 UTC.
        for file in [stamped, plain] {
            var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
            XCTAssertEqual(utimensat(AT_FDCWD, file.path, &times, 0), 0)
        }
        // The daemon inherits TZ=UTC.
        let daemon = try WatchDaemon(arguments(settle: 0, ["--name", "{date}/{time}-{stem}.png", "--sidecar"]), in: dir)
        for file in [stamped, plain] {
            try FileManager.default.moveItem(at: file, to: capture.appendingPathComponent(file.lastPathComponent))
        }
        let fromCapture = output.appendingPathComponent("2024-07-21/234105-stamped.png")
        let fromModification = output.appendingPathComponent("2023-11-14/221320-plain.png")
        XCTAssertTrue(waitUntil(timeout: 60) {
            FileManager.default.fileExists(atPath: fromCapture.path) && FileManager.default.fileExists(atPath: fromModification.path)
        }, daemon.logText + "\n" + ((FileManager.default.enumerator(atPath: output.path)?.allObjects as? [String]) ?? []).joined(separator: " "))
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        let sidecar = try JSONDecoder().decode(RestoreReport.self, from: Data(contentsOf: fromCapture.appendingPathExtension("json")))
        XCTAssertEqual(sidecar.captureTime, "2024-07-21T23:41:05")
        let plainSidecar = try JSONDecoder().decode(RestoreReport.self, from: Data(contentsOf: fromModification.appendingPathExtension("json")))
        XCTAssertNil(plainSidecar.captureTime)
        assertClean()
    }

    /// SIGHUP re-reads the configuration: a new output template and originals policy apply to
    /// the next frame; a broken configuration is refused with its line and the old one kept.
    func testSIGHUPReloadsTheConfiguration() throws {
        let config = dir.appendingPathComponent("nightjar.conf")
        let base = """
            # test configuration
            capture-dir = \(capture.path)
            output-dir = \(output.path)
            model = \(model.path)
            threads = 1
            settle = 0.2
            rescan = 0.5

            """
        try base.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try WatchDaemon(["--config", config.path], in: dir)
        try dng.write(to: capture.appendingPathComponent("a.dng"))
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: capture.appendingPathComponent("done")) == ["a.dng"] }, daemon.logText)
        XCTAssertEqual(names(in: output), ["a.png"])

        try (base + "name = night/{stem}-r.png\noriginals = keep\n").write(to: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 30) { daemon.logText.contains("reloaded \(config.path)") }, daemon.logText)
        try dng.write(to: capture.appendingPathComponent("b.dng"))
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: output.appendingPathComponent("night")) == ["b-r.png"] }, daemon.logText)
        // Kept in place and remembered: later scans do not take it again.
        usleep(1_500_000)
        XCTAssertEqual(names(in: output.appendingPathComponent("night")), ["b-r.png"])
        XCTAssertTrue(names(in: capture).contains("b.dng"))

        try (base + "bogus = 1\n").write(to: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: 30) { daemon.logText.contains("reload failed") }, daemon.logText)
        XCTAssertTrue(daemon.logText.contains("\(config.path):8: unknown setting 'bogus'"), daemon.logText)
        try dng.write(to: capture.appendingPathComponent("c.dng"))
        XCTAssertTrue(waitUntil(timeout: 30) { names(in: output.appendingPathComponent("night")) == ["b-r.png", "c-r.png"] }, daemon.logText)
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        assertClean()
    }

    // MARK: - Disk full

    /// A full output file system pauses the daemon (metrics say so) without failing or losing
    /// a frame; once there is room again every frame is delivered. Uses a small tmpfs (root).
    func testFullDiskPausesAndLosesNothing() throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        guard getuid() == 0, mountTmpfs(at: output, bytes: 256 * 1024) else {
            throw XCTSkip("SKIPPED: needs root to mount a small tmpfs for the full-disk test")
        }
        addTeardownBlock { [output] in _ = umount2(output!.path, Int32(MNT_DETACH)) }
        // Fill it.
        let filler = output.appendingPathComponent("filler")
        let fd = open(filler.path, O_WRONLY | O_CREAT, 0o644)
        var block = [UInt8](repeating: 0x55, count: 4096)
        while block.withUnsafeMutableBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)

        let daemon = try WatchDaemon(arguments(settle: 0), in: dir)
        for name in ["x.dng", "y.dng", "z.dng"] { try dng.write(to: capture.appendingPathComponent(name)) }
        let metricsFile = capture.appendingPathComponent(".nightjar/nightjar.prom")
        func metrics() -> WatchMetrics { WatchMetrics(text: (try? String(contentsOf: metricsFile, encoding: .utf8)) ?? "") }
        XCTAssertTrue(waitUntil(timeout: 30) { metrics().paused }, daemon.logText)
        XCTAssertTrue(daemon.logText.contains("No space left on device"), daemon.logText)
        XCTAssertEqual(names(in: capture.appendingPathComponent("failed")), [])
        XCTAssertEqual(metrics().failed, 0)

        try FileManager.default.removeItem(at: filler)
        XCTAssertTrue(waitUntil(timeout: 60) { names(in: capture.appendingPathComponent("done")).count == 3 }, daemon.logText)
        XCTAssertEqual(names(in: output), ["x.png", "y.png", "z.png"])
        XCTAssertFalse(metrics().paused)
        XCTAssertEqual(daemon.stop(), 0, daemon.logText)
        assertClean()
    }

    func mountTmpfs(at directory: URL, bytes: Int) -> Bool {
        mount("tmpfs", directory.path, "tmpfs", 0, "size=\(bytes)") == 0
    }
}

/// The configuration format and the output template, in process.
final class WatchSettingsTests: XCTestCase {
    func testConfigurationFileAndFlags() throws {
        var settings = WatchSettings()
        try settings.read(configuration: """
            # comment
            capture-dir = /srv/camera
              output-dir=/srv/restored
            model = "/opt/models/sony.safetensors"
            bits = 16
            originals = keep
            max-size = 4056x3040
            sidecar = yes

            """, path: "n.conf")
        XCTAssertEqual(settings.captureDirectory, "/srv/camera")
        XCTAssertEqual(settings.outputDirectory, "/srv/restored")
        XCTAssertEqual(settings.model, "/opt/models/sony.safetensors")
        XCTAssertEqual(settings.bits, 16)
        XCTAssertEqual(settings.originals, .keep)
        XCTAssertEqual(settings.maxSize, WatchSettings.Size(width: 4056, height: 3040))
        XCTAssertTrue(settings.sidecar)
        XCTAssertEqual(settings.restoreOptions.bits, 16)
        XCTAssertFalse(settings.restoreOptions.overwrite, "the daemon never replaces an output")

        XCTAssertThrowsError(try settings.read(configuration: "bits = 8\n\ncolour = yes\n", path: "n.conf")) { error in
            XCTAssertEqual(error as? WatchConfigurationError, .unknownKey(source: "n.conf:3", key: "colour"))
            XCTAssertTrue("\(error)".hasPrefix("n.conf:3: unknown setting 'colour' (known: capture-dir,"), "\(error)")
        }
        XCTAssertThrowsError(try settings.read(configuration: "bits 8", path: "n.conf")) { error in
            XCTAssertEqual(error as? WatchConfigurationError, .badLine(source: "n.conf:1", line: "bits 8"))
        }
        XCTAssertThrowsError(try settings.read(configuration: "bits = 12", path: "n.conf")) { error in
            XCTAssertEqual("\(error)", "n.conf:1: bits = '12': expected 8 or 16")
        }
        for (key, value) in [("originals", "archive"), ("max-size", "4056"), ("threads", "0"), ("settle", "-1"), ("latest", "a/b"),
                             ("precision", "fp64"), ("int8-fallback", "int8"), ("name", "../{stem}.png")] {
            XCTAssertThrowsError(try settings.set(key, value, source: "--\(key)"), "\(key) = \(value)")
        }

        // Flags win over the file; what is missing is named.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nightjar-settings-\(UUID().uuidString).conf")
        try "capture-dir = /a\noutput-dir = /b\nmodel = /m\nbits = 16\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let loaded = try WatchSettings.load(configurationFile: file.path, flags: [("bits", "8"), ("output-dir", "/c")])
        XCTAssertEqual(loaded.bits, 8)
        XCTAssertEqual(loaded.outputDirectory, "/c")
        XCTAssertEqual(loaded.metricsPath, "/a/.nightjar/nightjar.prom")
        XCTAssertThrowsError(try WatchSettings.load(configurationFile: nil, flags: [("capture-dir", "/a")])) { error in
            XCTAssertEqual(error as? WatchConfigurationError, .missing(key: "output-dir"))
        }
    }

    func testOutputNameTemplate() throws {
        setenv("TZ", "UTC", 1)
        tzset()
        // 2023-11-14 22:13:20 UTC.
        XCTAssertEqual(OutputName.render("{date}/{stem}.png", fileName: "IMG_0042.DNG", modified: 1_700_000_000), "2023-11-14/IMG_0042.png")
        XCTAssertEqual(OutputName.render("{date}-{time}-{name}.{ext}.png", fileName: "a.b.arw", modified: 1_700_000_000),
                       "2023-11-14-221320-a.b.arw.arw.png")
        XCTAssertEqual(OutputName.render(OutputName.defaultTemplate, fileName: "noext", modified: 0), "noext.png")
        XCTAssertNoThrow(try OutputName.validate("{date}/{stem}.png"))
        for bad in ["", "/abs/{stem}.png", "{date}.png", "{stem}.{size}", "{stem", "../{stem}.png", "a/./{stem}.png", ".hidden/{stem}.png"] {
            XCTAssertThrowsError(try OutputName.validate(bad), bad)
        }
    }

    /// `watch --check` prints the effective settings (flags over the file); a bad file is a
    /// usage error (64) naming the line.
    func testWatchCheckAndConfigurationErrorsOnTheCommandLine() throws {
        let dir = try makeTemporaryDirectory(self)
        let config = dir.appendingPathComponent("n.conf")
        try "capture-dir = /a\noutput-dir = /b\nmodel = /m\nbits = 16\n".write(to: config, atomically: true, encoding: .utf8)
        let checked = try runNightjar(["watch", "--config", config.path, "--bits", "8", "--originals", "delete", "--check"])
        XCTAssertEqual(checked.status, 0, checked.stderr)
        XCTAssertTrue(checked.stdout.contains("bits = 8\n"), checked.stdout)
        XCTAssertTrue(checked.stdout.contains("originals = delete\n"), checked.stdout)
        XCTAssertTrue(checked.stdout.contains("capture-dir = /a\n"), checked.stdout)

        // Every key is a flag and every flag (but --config, --check) a key: each key given as a
        // flag reaches the settings, with the line `--check` prints for it.
        let sensor = BuiltInSensors.modes[0].id
        let everyKey: [String: (flag: [String], line: String)] = [
            "capture-dir": (["/c"], "capture-dir = /c"), "output-dir": (["/o"], "output-dir = /o"), "model": (["/n"], "model = /n"),
            "precision": (["fp32"], "precision = fp32"), "int8-fallback": (["fp16"], "int8-fallback = fp16"), "threads": (["3"], "threads = 3"), "bits": (["16"], "bits = 16"),
            "max-size": (["640x480"], "max-size = 640x480"), "originals": (["keep"], "originals = keep"),
            "sidecar": ([], "sidecar = yes"), "latest": (["newest.png"], "latest = newest.png"), "name": (["{stem}-n.png"], "name = {stem}-n.png"),
            "settle": (["3"], "settle = 3.0"), "rescan": (["7"], "rescan = 7.0"), "metrics": (["/p.prom"], "metrics = /p.prom"),
            "m": (["4"], "m = 4.0"), "no-rotate": ([], "no-rotate = yes"), "mlock": ([], "mlock = yes"), "color": (["network"], "color = network"),
            "white-balance": (["auto"], "white-balance = auto"), "sensor": ([sensor], "sensor = \(sensor)"),
            "png-compression": (["small"], "png-compression = 6"),
        ]
        XCTAssertEqual(Set(everyKey.keys), Set(WatchSettings.keys))
        let help = try runNightjar(["watch", "--help"])
        // An option's own line starts with it ("  --bits <bits>", "  -h, --help"); wrapped help
        // text is indented further.
        let helpFlags = Set(help.stdout.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  -"), let flag = line.split(separator: " ").first(where: { $0.hasPrefix("--") }) else { return nil }
            return String(flag.dropFirst(2))
        })
        XCTAssertEqual(helpFlags.subtracting(["config", "check", "help", "version"]), Set(WatchSettings.keys), help.stdout)
        let allFlags = try runNightjar(["watch", "--check"] + WatchSettings.keys.flatMap { ["--\($0)"] + everyKey[$0]!.flag })
        XCTAssertEqual(allFlags.status, 0, allFlags.stderr)
        for key in WatchSettings.keys {
            XCTAssertTrue(allFlags.stdout.contains(everyKey[key]!.line + "\n"), "--\(key): \(allFlags.stdout)")
        }

        try "capture-dir = /a\nexposure = 3\n".write(to: config, atomically: true, encoding: .utf8)
        let refused = try runNightjar(["watch", "--config", config.path])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.hasPrefix("nightjar: error: \(config.path):2: unknown setting 'exposure'"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        let missingModel = try runNightjar(["watch", "--capture-dir", dir.path, "--output-dir", dir.path, "--model", dir.appendingPathComponent("none").path])
        XCTAssertEqual(missingModel.status, 1, missingModel.stderr)
        XCTAssertTrue(missingModel.stderr.contains("none"), missingModel.stderr)
    }

    /// The notifier reaches an abstract-namespace socket ("@name") and derives the watchdog
    /// interval from WATCHDOG_USEC, only for the process WATCHDOG_PID names.
    func testNotifierAbstractSocketAndWatchdogInterval() throws {
        let name = "nightjar-test-\(UUID().uuidString)"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        XCTAssertEqual(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }, 0)

        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000",
                                                     "WATCHDOG_PID": "\(getpid())"])
        XCTAssertTrue(notifier.isEnabled)
        XCTAssertEqual(notifier.watchdogInterval, 1.5)
        notifier.send("READY=1\nSTATUS=hello")
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        XCTAssertEqual(n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil, "READY=1\nSTATUS=hello")

        XCTAssertNil(ServiceNotifier(environment: ["WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"]).watchdogInterval)
        XCTAssertFalse(ServiceNotifier(environment: [:]).isEnabled)
    }
}
