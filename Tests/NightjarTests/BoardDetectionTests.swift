import Foundation
@testable import Nightjar
import XCTest

/// Every profile against the memory model and the engine; detection on fixture trees of each
/// board (device tree, cpuinfo, meminfo, online CPUs) and their hardware capability words.
final class BoardDetectionTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/boards")

    static func profiles() throws -> [BoardProfile] {
        let loaded = BoardDetection.loadProfiles(in: [BoardProfileTests.boardsDirectory])
        XCTAssertEqual(loaded.problems, [])
        return loaded.profiles
    }

    /// The runtime baseline profiles plan with: a resident set at start of at most 20 MiB
    /// (measured 16.1 MiB for a debug build on x86-64, less for the release build), 2 MiB of it
    /// anonymous.
    static let planningBaseline = MemoryFootprint.RuntimeBaseline(residentBytes: 20 << 20, anonymousBytes: 2 << 20)

    func testProfilesAreConsistent() throws {
        let profiles = try Self.profiles()
        XCTAssertEqual(profiles.map(\.id).sorted(),
                       ["generic-x86-64", "jetson-nano", "jetson-orin-nano", "pi-3b", "pi-4b", "pi-5", "pi-zero-2w"])
        for profile in profiles {
            let id = profile.id
            // The default precision must be one the engine runs today.
            XCTAssertTrue(KernelInfo.runnablePrecisions.contains(profile.defaultPrecision),
                          "\(id): default precision \(profile.defaultPrecision) is not one the engine runs (\(KernelInfo.runnablePrecisions))")
            XCTAssertLessThanOrEqual(profile.defaultThreads, profile.cores, id)
            // MemoryMax covers the footprint of the largest frame, rotated (the PNG writer then
            // holds the frame), 8-bit output, at the profile's threads.
            let threads = profile.threads(onlineCores: profile.cores)
            let frame = profile.maxFrame
            let engine = try StreamingEngine(model: try FootprintTests.zeroModel(), maxHeight: FramePadding.paddedLength(frame.height),
                                             maxWidth: FramePadding.paddedLength(frame.width), threads: threads)
            let footprint = MemoryFootprint(engine: engine, width: frame.width, height: frame.height,
                                            baseline: Self.planningBaseline, rotated: true, bits: 8)
            XCTAssertGreaterThanOrEqual(profile.memoryMaxBytes, footprint.suggestedMemoryMaxBytes,
                                        "\(id): MemoryMax=\(profile.memoryMax) is below the suggested \(footprint.suggestedMemoryMax) for \(frame.width)x\(frame.height)")
            // ... and is not far above it (a limit that protects nothing).
            XCTAssertLessThanOrEqual(profile.memoryMaxBytes, footprint.suggestedMemoryMaxBytes + (32 << 20), "\(id): suggested \(footprint.suggestedMemoryMax)")
            // ... and fits the smallest RAM the board is sold with, less the OS reserve.
            XCTAssertTrue(profile.fit(profile.memoryMaxBytes).fits, "\(id): MemoryMax=\(profile.memoryMax) does not fit \(profile.availableBytes >> 20) MiB")
            // Camera modules are sensors with built-in modes, and the largest frame covers them.
            for camera in profile.cameraModules {
                let modes = try SensorDescription.resolve(camera)
                for mode in modes {
                    XCTAssertTrue(mode.width <= frame.width && mode.height <= frame.height, "\(id): \(mode.id) is larger than \(frame)")
                }
            }
            let isX86 = profile.architecture == "x86_64"
            XCTAssertEqual(profile.modelPrefixes.isEmpty, isX86, "\(id): only the generic profile matches by architecture alone")
        }
    }

    // MARK: - Detection

    /// AT_HWCAP of each board's kernel: the bits of the features its cpuinfo lists
    /// (fp 0, asimd 1, evtstrm 2, aes 3, pmull 4, sha1 5, sha2 6, crc32 7, atomics 8, fphp 9,
    /// asimdhp 10, cpuid 11, asimdrdm 12, lrcpc 15, dcpop 16, asimddp 20, uscat 25, ilrcpc 26,
    /// flagm 27, paca 30, pacg 31).
    static let hwcaps: [String: UInt64] = [
        "pi-zero-2w": 0x887, "pi-3b": 0x887, "pi-4b": 0x887, "jetson-nano": 0x8FF,
        "pi-5": 0x11_9FFF, "jetson-orin-nano": 0xCE11_9FFF, "unknown-arm": 0x8FF,
    ]

    func testEachBoardIsDetectedFromItsFixtureTree() throws {
        let profiles = try Self.profiles()
        let expected: [String: (model: String, cores: Int, memory: Int)] = [
            "pi-zero-2w": ("Raspberry Pi Zero 2 W Rev 1.0", 4, 438_000 * 1024),
            "pi-3b": ("Raspberry Pi 3 Model B Rev 1.2", 4, 944_000 * 1024),
            "pi-4b": ("Raspberry Pi 4 Model B Rev 1.4", 4, 3_884_000 * 1024),
            "pi-5": ("Raspberry Pi 5 Model B Rev 1.0", 4, 8_245_000 * 1024),
            "jetson-nano": ("NVIDIA Jetson Nano Developer Kit", 4, 4_058_000 * 1024),
            "jetson-orin-nano": ("NVIDIA Jetson Orin Nano Developer Kit", 6, 7_620_000 * 1024),
        ]
        for (board, facts) in expected {
            let root = Self.fixtures.appendingPathComponent(board)
            let hwcap = try XCTUnwrap(Self.hwcaps[board])
            let fromHWCAP = BoardDetection.detect(root: root, architecture: "aarch64", hwcap: (hwcap, 0))
            let fromCPUInfo = BoardDetection.detect(root: root, architecture: "aarch64", hwcap: nil)
            XCTAssertEqual(fromHWCAP.model, facts.model, board)
            XCTAssertEqual(fromHWCAP.featureSource, "hwcap", board)
            XCTAssertEqual(fromCPUInfo.featureSource, "cpuinfo", board)
            XCTAssertEqual(fromHWCAP.features, fromCPUInfo.features, "\(board): the hwcap word and cpuinfo disagree")
            XCTAssertEqual(fromHWCAP.onlineCores, facts.cores, board)
            XCTAssertEqual(fromHWCAP.memoryBytes, facts.memory, board)
            let profile = try XCTUnwrap(BoardDetection.choose(for: fromHWCAP, among: profiles), board)
            XCTAssertEqual(profile.id, board)
            XCTAssertEqual(profile.features, fromHWCAP.features, "\(board): the profile's CPU features are what the board reports")
        }
    }

    func testFeatureBitsAndNamesAreReadAsTheKernelDefinesThem() {
        XCTAssertEqual(BoardDetection.features(hwcap: 0x887), .init(neon: true))
        XCTAssertEqual(BoardDetection.features(hwcap: 1 << 10 | 1 << 1), .init(neon: true, fp16Arithmetic: true))
        XCTAssertEqual(BoardDetection.features(hwcap: 1 << 20), .init(dotProduct: true))
        XCTAssertEqual(BoardDetection.features(cpuinfo: "Features\t: fp asimd asimddp\n", architecture: "aarch64"),
                       .init(neon: true, dotProduct: true))
        // "asimdhp" is not "asimd" and "fphp" is not FP16 vector arithmetic.
        XCTAssertEqual(BoardDetection.features(cpuinfo: "Features\t: fp fphp asimdhp\n", architecture: "aarch64"),
                       .init(fp16Arithmetic: true))
        XCTAssertEqual(BoardDetection.features(cpuinfo: "flags\t\t: sse4_1 avx2\n", architecture: "x86_64"), .init(sse41: true),
                       "AVX2 without FMA is not the kernel library's AVX2 level")
        XCTAssertEqual(BoardDetection.countCPUs("0-3,6"), 5)
        XCTAssertEqual(BoardDetection.countCPUs("0"), 1)
        XCTAssertNil(BoardDetection.countCPUs("x"))
        XCTAssertEqual(BoardDetection.memTotal("MemTotal:        1000 kB\n"), 1_024_000)
    }

    func testAnUnknownARMBoardHasNoProfileAndX86FallsBackToTheGenericOne() throws {
        let profiles = try Self.profiles()
        let arm = BoardDetection.detect(root: Self.fixtures.appendingPathComponent("unknown-arm"), architecture: "aarch64", hwcap: (0x8FF, 0))
        XCTAssertEqual(arm.model, "Pine64 RockPro64 v2.1")
        XCTAssertEqual(arm.onlineCores, 6)
        XCTAssertNil(BoardDetection.choose(for: arm, among: profiles))

        let vm = BoardDetection.detect(root: Self.fixtures.appendingPathComponent("x86-vm"), architecture: "x86_64", hwcap: nil)
        XCTAssertEqual(vm.model, "QEMU Standard PC (Q35 + ICH9, 2009)")
        XCTAssertEqual(vm.features, .init(sse41: true, avx2: true, avx512f: true))
        XCTAssertEqual(vm.onlineCores, 2)
        XCTAssertEqual(vm.memoryBytes, 16_369_420 * 1024)
        XCTAssertEqual(BoardDetection.choose(for: vm, among: profiles)?.id, "generic-x86-64")

        let old = BoardDetection.detect(root: Self.fixtures.appendingPathComponent("x86-old"), architecture: "x86_64", hwcap: nil)
        XCTAssertNil(old.model)
        XCTAssertEqual(old.features, .init(sse41: true))
        XCTAssertEqual(old.onlineCores, 3, "counted from cpuinfo when /sys has no online list")
        XCTAssertNil(old.memoryBytes)
        XCTAssertEqual(BoardDetection.choose(for: old, among: profiles)?.id, "generic-x86-64")

        // A Pi 3 B+ is close enough to a 3 B; a longer prefix wins over a shorter one.
        var plus = arm
        plus.model = "Raspberry Pi 3 Model B Plus Rev 1.3"
        XCTAssertEqual(BoardDetection.choose(for: plus, among: profiles)?.id, "pi-3b")
        var longer = profiles.first { $0.id == "pi-3b" }!
        longer.id = "pi-3b-plus"
        longer.modelPrefixes = ["Raspberry Pi 3 Model B Plus"]
        XCTAssertEqual(BoardDetection.choose(for: plus, among: profiles + [longer])?.id, "pi-3b-plus")
    }

    func testThisMachine() throws {
        let system = BoardDetection.detect()
        XCTAssertEqual(system.architecture, BoardDetection.currentArchitecture)
        XCTAssertEqual(system.onlineCores, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        XCTAssertNotNil(system.memoryBytes)
        #if arch(x86_64)
        // cpuinfo and the kernel library's cpuid detection agree.
        XCTAssertEqual(system.features.avx512f, KernelInfo.detectedISA == "avx512")
        XCTAssertEqual(system.features.avx2, ["avx2", "avx512"].contains(KernelInfo.detectedISA))
        XCTAssertEqual(BoardDetection.choose(for: system, among: try Self.profiles())?.id, "generic-x86-64")
        #endif
    }
}
