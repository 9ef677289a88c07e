import FoundationEssentials

/// The memory limit of this process's control group: what systemd's `MemoryMax=` sets on a
/// service. Unlike an address-space limit it stops nothing at allocation: the kernel kills the
/// service when its pages (and its decoder child's) pass the limit, in the middle of a frame.
public enum CgroupMemoryLimit {
    /// The smallest limit set on this process's cgroup or one above it, nil when none is:
    /// cgroup v2 (`memory.max`) or the v1 memory controller (`memory.limit_in_bytes`).
    public static var bytes: Int? {
        bytes(membership: try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8), root: "/sys/fs/cgroup")
    }

    /// v1 reports "no limit" as a number near 2^63 (rounded down to a page).
    private static let unlimitedV1 = 1 << 62

    /// The limit for `membership` (the text of /proc/PID/cgroup: "ID:CONTROLLERS:PATH" lines)
    /// with the hierarchies mounted under `root`.
    static func bytes(membership: String?, root: String) -> Int? {
        memoryCgroups(membership: membership, root: root)
            .flatMap { ancestorLimits(directory: $0.hierarchy, path: $0.path, file: $0.file) }.min()
    }

    /// The process's cgroups that can hold a memory limit, from `membership`: for each, the
    /// hierarchy's mount under `root`, the cgroup's path in it and the limit's file (cgroup v2's
    /// unified line "0::PATH", or a v1 line whose controllers include memory).
    static func memoryCgroups(membership: String?, root: String) -> [(hierarchy: String, path: String, file: String)] {
        guard let membership else { return [] }
        return membership.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { return nil }
            if fields[0] == "0" && fields[1].isEmpty { return (root, String(fields[2]), "memory.max") }
            if fields[1].split(separator: ",").contains("memory") { return (root + "/memory", String(fields[2]), "memory.limit_in_bytes") }
            return nil
        }
    }

    /// The limits in `file` of the cgroup at `path` and each of its ancestors that has one.
    private static func ancestorLimits(directory: String, path: String, file: String) -> [Int] {
        var components = path.split(separator: "/").map(String.init)
        var limits: [Int] = []
        while true {
            let dir = ([directory] + components).joined(separator: "/")
            if let text = try? String(contentsOfFile: dir + "/" + file, encoding: .utf8),
               let value = Int(text.split(whereSeparator: \.isWhitespace).first ?? ""), value < unlimitedV1 {
                limits.append(value)
            }
            if components.isEmpty { return limits }
            components.removeLast()
        }
    }
}
