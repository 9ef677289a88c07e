import Foundation
@testable import Nightjar
import XCTest

/// The cgroup memory limit (systemd MemoryMax=) as `watch` and `doctor` read it, and what they
/// say when it is below what the planned frames need.
final class MemoryLimitTests: XCTestCase {
    /// A cgroup tree under a temporary root: each (path, file, contents) written.
    func tree(_ files: [(String, String, String)]) throws -> String {
        let root = try makeTemporaryDirectory(self)
        for (path, file, contents) in files {
            let directory = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: directory.appendingPathComponent(file))
        }
        return root.path
    }

    func testTheSmallestLimitOfTheCgroupAndItsAncestors() throws {
        // cgroup v2: the service's own memory.max ("max": none) and a slice's above it.
        let v2 = try tree([("system.slice/nightjar.service", "memory.max", "max\n"),
                           ("system.slice", "memory.max", "120586240\n"), ("", "memory.max", "max\n")])
        XCTAssertEqual(CgroupMemoryLimit.bytes(membership: "0::/system.slice/nightjar.service\n", root: v2), 120_586_240)
        let own = try tree([("system.slice/nightjar.service", "memory.max", "96468992\n"),
                            ("system.slice", "memory.max", "120586240\n")])
        XCTAssertEqual(CgroupMemoryLimit.bytes(membership: "0::/system.slice/nightjar.service\n", root: own), 96_468_992)
        let none = try tree([("system.slice/nightjar.service", "memory.max", "max\n")])
        XCTAssertNil(CgroupMemoryLimit.bytes(membership: "0::/system.slice/nightjar.service\n", root: none))

        // cgroup v1: the memory controller's hierarchy (also when it shares a line with others);
        // "no limit" is a number near 2^63. The v2 line of a hybrid system has no memory.max there.
        let v1 = try tree([("memory/process/job", "memory.limit_in_bytes", "104857600\n"),
                           ("memory/process", "memory.limit_in_bytes", "9223372036854771712\n"),
                           ("memory", "memory.limit_in_bytes", "9223372036854771712\n")])
        XCTAssertEqual(CgroupMemoryLimit.bytes(membership: "4:memory:/process/job\n0::/\n", root: v1), 104_857_600)
        XCTAssertEqual(CgroupMemoryLimit.bytes(membership: "5:cpu,memory:/process/job\n", root: v1), 104_857_600)
        XCTAssertNil(CgroupMemoryLimit.bytes(membership: "4:memory:/process\n", root: v1))
        XCTAssertNil(CgroupMemoryLimit.bytes(membership: "3:cpu:/process/job\n", root: v1), "not the memory controller")
        XCTAssertNil(CgroupMemoryLimit.bytes(membership: nil, root: v1))
    }

    func testWatchWarnsWhenMemoryMaxIsBelowWhatMaxSizeFramesNeed() throws {
        let engine = try StreamingEngine(model: try FootprintTests.zeroModel(), maxHeight: FramePadding.paddedLength(2848),
                                         maxWidth: FramePadding.paddedLength(4256), threads: 2)
        let footprint = MemoryFootprint(engine: engine, width: 4256, height: 2848,
                                        baseline: .init(residentBytes: 20 << 20, anonymousBytes: 2 << 20))
        let needed = footprint.predictedCombinedPeakBytes
        let warning = try XCTUnwrap(Watcher.memoryLimitWarning(footprint, cgroupLimit: needed - (1 << 20)))
        XCTAssertTrue(warning.contains("4256x2848 frames need"), warning)
        XCTAssertTrue(warning.contains("set MemoryMax=\(footprint.suggestedMemoryMax)"), warning)
        XCTAssertNil(Watcher.memoryLimitWarning(footprint, cgroupLimit: needed))
        XCTAssertNil(Watcher.memoryLimitWarning(footprint, cgroupLimit: footprint.suggestedMemoryMaxBytes))
    }

    /// A child of this process's memory cgroup with `limit` (v1 or v2), or nil where the tests
    /// cannot make one (not root, no writable memory hierarchy).
    func childCgroup(limit: Int) -> String? {
        guard geteuid() == 0 else { return nil }
        let membership = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        for cgroup in CgroupMemoryLimit.memoryCgroups(membership: membership, root: "/sys/fs/cgroup") {
            // A unified line on a v1 system (no cgroup.controllers) names no memory controller.
            if cgroup.file == "memory.max" && !FileManager.default.fileExists(atPath: cgroup.hierarchy + "/cgroup.controllers") { continue }
            let child = cgroup.hierarchy + cgroup.path + "/nightjar-test-\(getpid())"
            guard mkdir(child, 0o755) == 0 || errno == EEXIST else { continue }
            if (try? Data("\(limit)\n".utf8).write(to: URL(fileURLWithPath: child + "/" + cgroup.file))) != nil { return child }
            rmdir(child)
        }
        return nil
    }

    /// doctor run in a cgroup whose limit is below the frame's need fails on it (the way a
    /// user checks a unit: `systemd-run -p MemoryMax=... nightjar doctor`).
    func testDoctorFailsUnderACgroupLimitBelowTheFrame() throws {
        let arguments = ["doctor", "--size", "4256x2848", "--json"]
        let free = try runNightjar(arguments)
        let needed = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(free.stdout.utf8)) as? [String: Any])?["memory"]
            .flatMap { $0 as? [String: Any] }?["predicted_combined_peak_bytes"] as? Int, free.stdout + free.stderr)
        if let limit = CgroupMemoryLimit.bytes, limit < needed + (64 << 20) {
            throw XCTSkip("this process's own cgroup limit (\(limit) bytes) leaves no room for the test")
        }
        let limit = (needed - (4 << 20)) & ~4095  // the kernel keeps whole pages
        guard let cgroup = childCgroup(limit: limit) else {
            print("SKIPPED: \(name) needs root and a writable memory cgroup (CI has them)")
            throw XCTSkip("no writable memory cgroup")
        }
        defer { rmdir(cgroup) }
        let run = try runNightjar(arguments, prelude: "echo $$ > '\(cgroup)/cgroup.procs'")
        XCTAssertEqual(run.status, 1, run.stdout + run.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((report["memory"] as? [String: Any])?["cgroup_memory_limit_bytes"] as? Int, limit)
        let checks = try XCTUnwrap(report["checks"] as? [[String: Any]])
        let memory = try XCTUnwrap(checks.first { $0["name"] as? String == "memory" })
        XCTAssertEqual(memory["status"] as? String, "failed")
        XCTAssertTrue((memory["detail"] as? String ?? "").contains("the memory limit of this cgroup (MemoryMax=)"), "\(memory)")
    }
}
