import Glibc

/// Names of files finished in one directory, from inotify: written and closed
/// (`IN_CLOSE_WRITE`) or moved in (`IN_MOVED_TO`). An overflowed queue is reported so the
/// caller rescans; the caller's periodic scan covers file systems without inotify (NFS).
final class DirectoryEvents {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// nil where inotify is unavailable (the caller then relies on scanning).
    init?(directory: String) {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        if inotify_add_watch(fd, directory, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)) < 0 {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Events pending now: the names, and whether events were lost (rescan).
    func read() -> (names: [String], overflowed: Bool) {
        var names: [String] = []
        var overflowed = false
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                let header = MemoryLayout<inotify_event>.size
                while offset + header <= n {
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    if event.mask & UInt32(IN_Q_OVERFLOW) != 0 { overflowed = true }
                    if event.len > 0 {
                        let start = offset + header
                        let bytes = raw[start..<(start + Int(event.len))].prefix { $0 != 0 }
                        names.append(String(decoding: bytes, as: UTF8.self))
                    }
                    offset += header + Int(event.len)
                }
            }
        }
        return (names, overflowed)
    }
}
