import Glibc

/// An arena's memory: one `StreamingEngine`'s, or that of engines that take turns. An int8
/// network and its fallback (`FrameEngine.fallback`) run one frame at a time, never together, so
/// they plan their windows in the same pages, as large as the largest plan asked for. Nothing in an arena outlives a
/// frame (every window is written before it is read), so an engine finds nothing of its own
/// left there and needs nothing kept.
///
/// The memory only grows. When it is replaced, engines made on the old pages keep them until
/// they are made again (`StreamingEngine.isOnCurrentArena`); a fixed plan makes every engine at
/// start, so that never happens while frames run.
final class SharedArena {
    let lockMemory: Bool
    private(set) var pages: PageBuffer?
    /// Counts replacements of `pages`.
    private(set) var generation = 0

    init(lockMemory: Bool) {
        self.lockMemory = lockMemory
    }

    /// Bytes mapped now.
    var bytes: Int { pages?.bytes ?? 0 }

    /// Pages of at least `bytes`: the current ones, or larger ones replacing them (locked into
    /// RAM with `lockMemory`; unmapping them when the last engine lets go unlocks them).
    func reserve(bytes: Int) throws -> (pages: PageBuffer, generation: Int) {
        if let pages, pages.bytes >= bytes { return (pages, generation) }
        // The old pages go once no engine holds them; not before the new ones exist.
        guard let grown = PageBuffer(bytes: bytes) else { throw EngineError.outOfMemory(bytes: bytes) }
        if lockMemory, mlock(grown.base, grown.bytes) != 0 {
            throw EngineError.cannotLockMemory(bytes: grown.bytes, reason: String(cString: strerror(errno)))
        }
        pages = grown
        generation += 1
        return (grown, generation)
    }
}
