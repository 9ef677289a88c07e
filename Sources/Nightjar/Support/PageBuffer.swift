import Glibc

/// Memory of its own mapping (mmap), for a workspace's long-lived per-frame buffers:
/// - pages become resident only when first written, so a buffer sized for the largest frame
///   costs a smaller frame only what that frame uses;
/// - `MADV_DONTFORK` keeps it out of forked children: the RAW decoder's child (forked for
///   every file) neither maps it nor copies its page tables;
/// - it goes back to the system when released, whatever malloc's thresholds.
final class PageBuffer {
    let base: UnsafeMutableRawPointer
    let bytes: Int

    /// Maps `bytes`, rounded up to whole pages; nil when the system refuses.
    init?(bytes: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = max((bytes + page - 1) / page * page, page)
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else { return nil }
        _ = madvise(mapped, size, MADV_DONTFORK)
        base = mapped
        self.bytes = size
    }

    deinit { munmap(base, bytes) }

    /// Gives the pages of the first `bytes` back to the system, the page holding the last of
    /// them included.
    func release(firstBytes bytes: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        release(0..<(bytes + page - 1) / page * page)
    }

    /// Gives the whole pages of `range` (bytes from the start; a page only partly inside it
    /// stays) back to the system: they read as zeros again and are resident only once written
    /// again. A system call, no heap allocation.
    func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let begin = (range.lowerBound + page - 1) / page * page, end = min(range.upperBound / page * page, bytes)
        if end > begin { _ = madvise(base + begin, end - begin, MADV_DONTNEED) }
    }

    /// The buffer as `T`s (binding is free at run time; a buffer holds one type per frame).
    func pointer<T>(to type: T.Type) -> UnsafeMutablePointer<T> {
        base.bindMemory(to: type, capacity: bytes / MemoryLayout<T>.stride)
    }
}
