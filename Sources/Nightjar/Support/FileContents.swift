import Glibc

/// The one way Nightjar reads input files (models, checkpoints, tensors, board profiles):
/// opened with `O_NONBLOCK` so that a FIFO cannot block the open, checked with fstat(2) to be a
/// regular file (a FIFO, device, socket or directory is named and refused), its size checked
/// against the caller's limit before any memory is allocated, then read into memory this
/// process owns. Nothing is mapped, so a file rewritten or truncated while it is read cannot
/// fault the process; a file whose size or modification time changes during the read is
/// refused (its bytes could be a mix of two versions). Failures carry errno's words.
package enum FileContents {
    /// The default limit: 1 GiB, far above any input Nightjar reads (models are 3 MB).
    package static let defaultMaximumBytes = 1 << 30

    /// Every byte of the regular file at `path`, at most `maximumBytes` of them.
    /// `leadingCheck`, when given, sees the first bytes (up to 16) before the rest is read or
    /// allocated and returns why they cannot start a file of the expected kind, or nil.
    package static func bytes(atPath path: String, maximumBytes: Int = defaultMaximumBytes,
                              leadingCheck: (([UInt8]) -> String?)? = nil) throws(SystemError) -> [UInt8] {
        let fd = try openForReading(path)
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw .last }
        try requireRegular(before.st_mode)
        let size = Int(before.st_size)
        guard size <= maximumBytes else {
            throw SystemError(code: EFBIG, explanation: "the file is \(size) bytes, more than the \(maximumBytes) accepted here")
        }
        // The file is regular: reads no longer need O_NONBLOCK (and some file systems mind it).
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        if let leadingCheck {
            var leading = [UInt8](repeating: 0, count: 16)
            let n = leading.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 16, 0) }
            if n < 0 { throw .last }
            if let problem = leadingCheck(Array(leading.prefix(n))) { throw SystemError(code: EINVAL, explanation: problem) }
        }
        let bytes = try readToEnd(fd, sizeHint: size, maximumBytes: maximumBytes)
        var after = stat()
        guard fstat(fd, &after) == 0 else { throw .last }
        // Files of /proc and /sys report size 0 and are read to their end.
        if after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec
            || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec || (size > 0 && bytes.count != size) {
            throw SystemError(code: EAGAIN, explanation: "the file changed while it was being read; try again once it is complete")
        }
        return bytes
    }

    /// A person's name for a file type that is not a regular file, from stat's `st_mode`.
    package static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "regular file"
        case S_IFDIR: return "directory"
        case S_IFIFO: return "FIFO (named pipe)"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFSOCK: return "socket"
        case S_IFLNK: return "symbolic link"
        default: return "special file"
        }
    }

    /// Throws unless `mode` is a regular file's.
    package static func requireRegular(_ mode: mode_t) throws(SystemError) {
        let type = mode & S_IFMT
        if type == S_IFREG { return }
        throw SystemError(code: type == S_IFDIR ? EISDIR : EINVAL,
                          explanation: "it is a \(kindName(mode)), not a regular file")
    }

    private static func openForReading(_ path: String) throws(SystemError) -> Int32 {
        while true {
            let fd = withPathBytes(path) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
            if fd >= 0 { return fd }
            if errno != EINTR { throw .last }
        }
    }

    /// Reads `fd` until end of file; `sizeHint` (the file's size, if known) saves regrowing.
    /// More than `maximumBytes` is an error (EFBIG).
    static func readToEnd(_ fd: Int32, sizeHint: Int = 0, maximumBytes: Int = Int.max) throws(SystemError) -> [UInt8] {
        // One byte more than the hint, so that a file of the expected size ends in one read.
        var bytes = [UInt8](repeating: 0, count: min(max(sizeHint, 0), maximumBytes) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                guard count <= maximumBytes else {
                    throw SystemError(code: EFBIG, explanation: "the file holds more than the \(maximumBytes) bytes accepted here")
                }
                bytes += repeatElement(0, count: max(bytes.count, 1 << 16))
            }
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .last
            }
            count += n
            if count > maximumBytes {
                throw SystemError(code: EFBIG, explanation: "the file holds more than the \(maximumBytes) bytes accepted here")
            }
        }
        bytes.removeSubrange(count...)
        return bytes
    }
}
