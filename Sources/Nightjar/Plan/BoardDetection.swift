import FoundationEssentials
import Glibc

/// What this machine says about itself: the board's name, its CPU's features, cores and RAM.
public struct DetectedSystem: Sendable, Equatable {
    /// "aarch64" or "x86_64" (another architecture has no profile).
    public var architecture: String
    /// `/proc/device-tree/model` on a board with a device tree, DMI's "vendor product" on x86;
    /// nil when neither is there.
    public var model: String?
    public var features: BoardProfile.Features
    /// Where the features came from: "hwcap" (the kernel's AT_HWCAP/AT_HWCAP2) or "cpuinfo".
    public var featureSource: String
    /// AT_HWCAP and AT_HWCAP2 on aarch64, as read.
    public var hwcap: UInt64?
    public var hwcap2: UInt64?
    /// Online CPU cores, and the RAM the kernel manages (MemTotal: a little less than fitted).
    public var onlineCores: Int?
    public var memoryBytes: Int?
}

/// Detection of the board from files under a root directory (`/` on a real system; a fixture
/// tree in tests) and, on aarch64, the kernel's hardware capability words.
public enum BoardDetection {
    /// This build's architecture.
    public static var currentArchitecture: String {
        #if arch(arm64)
        return "aarch64"
        #elseif arch(x86_64)
        return "x86_64"
        #else
        return "other"
        #endif
    }

    /// AT_HWCAP and AT_HWCAP2 of this process on aarch64; nil elsewhere.
    public static var liveHWCAP: (UInt64, UInt64)? {
        #if arch(arm64)
        // AT_HWCAP = 16, AT_HWCAP2 = 26 (linux/auxvec.h).
        return (UInt64(getauxval(16)), UInt64(getauxval(26)))
        #else
        return nil
        #endif
    }

    // arm64 HWCAP bits (arch/arm64/include/uapi/asm/hwcap.h).
    static let hwcapASIMD: UInt64 = 1 << 1
    static let hwcapASIMDHP: UInt64 = 1 << 10
    static let hwcapASIMDDP: UInt64 = 1 << 20

    /// Reads what the system under `root` says. `hwcap` (AT_HWCAP, AT_HWCAP2) gives the aarch64
    /// features when present; otherwise /proc/cpuinfo's feature list does.
    public static func detect(root: URL = URL(fileURLWithPath: "/"), architecture: String = currentArchitecture,
                              hwcap: (UInt64, UInt64)? = liveHWCAP) -> DetectedSystem {
        func read(_ path: String) -> String? {
            guard let bytes = try? FileContents.bytes(atPath: root.appendingPathComponent(path).path) else { return nil }
            // Device-tree strings end in NUL.
            let text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingScalars { $0.properties.isWhitespace }
            return text.isEmpty ? nil : text
        }
        var model = read("proc/device-tree/model") ?? read("sys/firmware/devicetree/base/model")
        if model == nil, let vendor = read("sys/class/dmi/id/sys_vendor") {
            model = [vendor, read("sys/class/dmi/id/product_name")].compactMap { $0 }.joined(separator: " ")
        }
        let cpuinfo = read("proc/cpuinfo") ?? ""
        var features: BoardProfile.Features
        var source = "cpuinfo"
        if architecture == "aarch64", let (word, _) = hwcap {
            features = Self.features(hwcap: word)
            source = "hwcap"
        } else {
            features = Self.features(cpuinfo: cpuinfo, architecture: architecture)
        }
        if architecture == "aarch64", features == BoardProfile.Features(), source == "cpuinfo" {
            // A 64-bit ARM kernel that lists no features still has Advanced SIMD.
            features.neon = true
        }
        let cores = read("sys/devices/system/cpu/online").flatMap(countCPUs)
            ?? cpuinfo.split(separator: "\n").filter { $0.hasPrefix("processor") }.count
        let memory = read("proc/meminfo").flatMap(memTotal)
        return DetectedSystem(architecture: architecture, model: model, features: features, featureSource: source,
                              hwcap: hwcap?.0, hwcap2: hwcap?.1, onlineCores: cores > 0 ? cores : nil, memoryBytes: memory)
    }

    /// The aarch64 features in AT_HWCAP.
    public static func features(hwcap: UInt64) -> BoardProfile.Features {
        BoardProfile.Features(neon: hwcap & hwcapASIMD != 0, fp16Arithmetic: hwcap & hwcapASIMDHP != 0,
                              dotProduct: hwcap & hwcapASIMDDP != 0)
    }

    /// The features in /proc/cpuinfo's "Features" (aarch64) or "flags" (x86) line.
    public static func features(cpuinfo: String, architecture: String) -> BoardProfile.Features {
        let key = architecture == "x86_64" ? "flags" : "Features"
        guard let line = cpuinfo.split(separator: "\n").first(where: {
            $0.hasPrefix(key) && $0.dropFirst(key.count).drop(while: { $0 == " " || $0 == "\t" }).hasPrefix(":")
        }), let colon = line.firstIndex(of: ":") else { return BoardProfile.Features() }
        let flags = Set(line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
        if architecture == "x86_64" {
            // The kernel library's AVX2 level needs FMA too.
            return BoardProfile.Features(sse41: flags.contains("sse4_1"), avx2: flags.contains("avx2") && flags.contains("fma"),
                                         avx512f: flags.contains("avx512f"))
        }
        return BoardProfile.Features(neon: flags.contains("asimd"), fp16Arithmetic: flags.contains("asimdhp"),
                                     dotProduct: flags.contains("asimddp"))
    }

    /// "0-3,6" → 5.
    static func countCPUs(_ list: String) -> Int? {
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int(String($0).trimmingScalars { $0.properties.isWhitespace }) }
            switch bounds.count {
            case 1: guard bounds[0] != nil else { return nil }; count += 1
            case 2: guard let a = bounds[0], let b = bounds[1], b >= a else { return nil }; count += b - a + 1
            default: return nil
            }
        }
        return count > 0 ? count : nil
    }

    /// MemTotal from /proc/meminfo, in bytes.
    static func memTotal(_ meminfo: String) -> Int? {
        guard let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }) else { return nil }
        let parts = line.split(separator: " ")
        guard parts.count >= 2, let kib = Int(parts[1]) else { return nil }
        return kib * 1024
    }

    /// The profile for `system`: one whose model prefix starts its name (the longest such
    /// prefix wins), else the generic profile of its architecture (no prefixes), else nil.
    public static func choose(for system: DetectedSystem, among profiles: [BoardProfile]) -> BoardProfile? {
        let candidates = profiles.filter { $0.architecture == system.architecture }
        if let model = system.model {
            var best: (profile: BoardProfile, length: Int)?
            for profile in candidates {
                for prefix in profile.modelPrefixes where model.hasPrefix(prefix) && prefix.count > (best?.length ?? 0) {
                    best = (profile, prefix.count)
                }
            }
            if let best { return best.profile }
        }
        return candidates.first { $0.modelPrefixes.isEmpty }
    }

    /// Every profile in `directories` (the first file of an id wins), and the files that
    /// could not be read, with why.
    public static func loadProfiles(in directories: [URL]) -> (profiles: [BoardProfile], problems: [String]) {
        var profiles: [BoardProfile] = [], problems: [String] = [], seen = Set<String>()
        for directory in directories {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
            for name in names where name.hasSuffix(".json") && seen.insert(name).inserted {
                do {
                    profiles.append(try BoardProfile.load(contentsOf: directory.appendingPathComponent(name)))
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        return (profiles, problems)
    }
}
