import Glibc

/// Whole files read with plain system calls, so that a failure carries errno's words.
package enum FileContents {
    /// Every byte of the file at `path`.
    package static func bytes(atPath path: String) throws(SystemError) -> [UInt8] {
        let fd = try openForReading(path)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .last }
        return try readToEnd(fd, sizeHint: Int(info.st_size))
    }

    /// Runs `body` on the bytes of the file at `path`: mapped, not copied, when it is a regular
    /// file; read into memory otherwise (a pipe, a /proc file). Throws `SystemError` when the
    /// file cannot be read, and whatever `body` throws.
    package static func withMappedBytes<R>(atPath path: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let fd = try openForReading(path)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError.last }
        let size = Int(info.st_size)
        guard info.st_mode & S_IFMT == S_IFREG, size > 0 else {
            return try readToEnd(fd, sizeHint: size).withUnsafeBytes(body)
        }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              mapping != UnsafeMutableRawPointer(bitPattern: -1) // MAP_FAILED
        else { throw SystemError.last }
        defer { munmap(mapping, size) }
        return try body(UnsafeRawBufferPointer(start: mapping, count: size))
    }

    private static func openForReading(_ path: String) throws(SystemError) -> Int32 {
        while true {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { return fd }
            if errno != EINTR { throw .last }
        }
    }

    /// Reads `fd` until end of file; `sizeHint` (the file's size, if known) saves regrowing.
    static func readToEnd(_ fd: Int32, sizeHint: Int = 0) throws(SystemError) -> [UInt8] {
        // One byte more than the hint, so that a file of the expected size ends in one read.
        var bytes = [UInt8](repeating: 0, count: max(sizeHint, 0) + 1)
        var count = 0
        while true {
            if count == bytes.count { bytes += repeatElement(0, count: max(bytes.count, 1 << 16)) }
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .last
            }
            count += n
        }
        bytes.removeSubrange(count...)
        return bytes
    }
}
