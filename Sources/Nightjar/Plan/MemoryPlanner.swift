/// Places buffers in one arena from their sizes and lifetimes, reusing the space of buffers that
/// are dead. Buffers go in as (size, first use, last use); offsets and the arena size come out.
/// The planner knows nothing of operations or kernels.
///
/// Greedy by size: the largest buffers are placed first, each at the lowest offset that does not
/// overlap, in both space and time, any buffer already placed. Lifetimes are inclusive step
/// indices, so an operation's inputs and outputs never share memory.
public struct MemoryPlan: Sendable, Equatable {
    public struct Request: Sendable, Equatable {
        public var name: String
        public var bytes: Int
        public var firstUse: Int
        public var lastUse: Int
        public init(name: String, bytes: Int, firstUse: Int, lastUse: Int) {
            self.name = name
            self.bytes = bytes
            self.firstUse = firstUse
            self.lastUse = lastUse
        }
    }

    public var requests: [Request]
    /// Byte offset of each request, in request order.
    public var offsets: [Int]
    public var arenaBytes: Int
    /// Every offset and size is a multiple of this (cache line, widest vector).
    public static let alignment = 64
    /// What to allocate for the arena: `arenaBytes`, and one aligned block for an empty plan.
    public var allocationBytes: Int { max(arenaBytes, Self.alignment) }

    public init(_ requests: [Request]) {
        self.requests = requests
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [Int] = []
        let order = requests.indices.sorted {
            (requests[$0].bytes, -$0) > (requests[$1].bytes, -$1)
        }
        var arena = 0
        for index in order {
            let request = requests[index]
            let size = Self.aligned(request.bytes)
            // Intervals already taken by buffers alive at the same time, lowest first.
            let busy = placed
                .filter { other in
                    requests[other].firstUse <= request.lastUse && request.firstUse <= requests[other].lastUse
                }
                .map { (offsets[$0], offsets[$0] + Self.aligned(requests[$0].bytes)) }
                .sorted { $0.0 < $1.0 }
            var candidate = 0
            for (begin, end) in busy {
                if candidate + size <= begin { break }
                candidate = max(candidate, end)
            }
            offsets[index] = candidate
            placed.append(index)
            arena = max(arena, candidate + size)
        }
        self.offsets = offsets
        self.arenaBytes = arena
    }

    static func aligned(_ bytes: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }

    /// The bytes of live buffers at each step: the lower bound any placement must reach.
    public var liveBytesPerStep: [Int] {
        let steps = (requests.map(\.lastUse).max() ?? -1) + 1
        var live = [Int](repeating: 0, count: steps)
        for request in requests {
            for step in request.firstUse...request.lastUse { live[step] += Self.aligned(request.bytes) }
        }
        return live
    }

    /// Where the buffers alive at `step` end: the arena past this offset is free while that
    /// step runs.
    public func highWater(step: Int) -> Int {
        requests.indices.filter { requests[$0].firstUse <= step && step <= requests[$0].lastUse }
            .map { offsets[$0] + Self.aligned(requests[$0].bytes) }.max() ?? 0
    }

    /// A table of the plan, one buffer a line, for `nightjar footprint` and debugging.
    public func table() -> String {
        var lines = ["offset       bytes        steps    buffer"]
        for index in requests.indices.sorted(by: { offsets[$0] < offsets[$1] }) {
            let r = requests[index]
            lines.append(
                String(offsets[index]).leftPadded(12) + " " + String(r.bytes).leftPadded(12) + " "
                    + "\(r.firstUse)-\(r.lastUse)".leftPadded(8) + "    " + r.name)
        }
        lines.append("arena \(arenaBytes) bytes (peak live \(liveBytesPerStep.max() ?? 0))")
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
