import Glibc
import NightjarIOShims
import Synchronization

/// The one way Nightjar creates output files, so that no reader ever sees a partial file, no
/// planted link redirects a write, and nothing is left behind:
///
/// - `init(path:)` creates a temporary `.nightjar-PID-RANDOM.partial` in the target's
///   directory with `O_CREAT|O_EXCL|O_NOFOLLOW` (an existing name, link or not, is never
///   opened), holds an exclusive flock(2) on it while it is written, and remembers it for the
///   SIGTERM/SIGINT/SIGHUP handler, which removes it. The name is short, so any final name
///   the file system allows works.
/// - `commit(overwrite:)` fsyncs and closes the file, then link(2)s it to the final name
///   (never replaces; EEXIST is `exists`) or, with `overwrite`, rename(2)s it over a regular
///   file or a symbolic link (never over a device, FIFO, socket or directory), and fsyncs the
///   directory so that the new name survives a power cut.
/// - `abandon()` (also on deinit) closes and removes the temporary.
///
/// The first file created in a directory removes that directory's stale temporaries of this
/// naming: those whose process is gone and whose lock nobody holds (left by SIGKILL or a
/// power cut).
public final class OutputFile {
    /// The final name.
    public let path: String
    /// The temporary's path, beside `path`.
    public let temporaryPath: String
    /// Write here; valid until `commit` or `abandon`.
    public private(set) var fd: Int32
    private var slot: Int32
    private var done = false

    public init(path: String) throws(OutputFileError) {
        self.path = path
        let directory = Self.directory(of: path)
        Self.cleanStaleTemporariesOnce(in: directory)
        nj_cleanup_install_handlers()
        var random = SystemRandomNumberGenerator()
        var fd: Int32 = -1
        var slot: Int32 = -1
        var temporary = ""
        // A collision with a live name is astronomically unlikely; a planted one is skipped.
        for _ in 0..<8 {
            let suffix = String(random.next() & 0xFFFF_FFFF_FFFF, radix: 16)
            temporary = (directory == "." && !path.hasPrefix("./") ? "" : directory == "/" ? "/" : directory + "/")
                + "\(Self.prefix)\(getpid())-\(suffix)\(Self.suffix)"
            // Created and recorded for the signal handler in one step (no window between).
            fd = withPathBytes(temporary) { nj_cleanup_create($0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666, &slot) }
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw .system(path: path, action: "cannot create a file in \(directory)", code: errno) }
        // The lock tells a concurrent run's cleaning that this temporary is alive.
        _ = flock(fd, LOCK_EX | LOCK_NB)
        self.fd = fd
        self.temporaryPath = temporary
        self.slot = slot
    }

    deinit { abandon() }

    /// Writes all of `bytes` at the current offset.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(OutputFileError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(path: path, action: "cannot write", code: errno)
            }
            offset += n
        }
    }

    /// Makes the finished file visible under `path` (see the type's description). On failure
    /// the temporary is removed and `path` is as it was.
    public func commit(overwrite: Bool) throws(OutputFileError) {
        guard !done else { throw .system(path: path, action: "already finished", code: EINVAL) }
        defer { abandon() }
        if fsync(fd) != 0, errno != EINVAL {
            throw .system(path: path, action: "cannot write", code: errno)
        }
        let closing = fd
        fd = -1
        if close(closing) != 0 { throw .system(path: path, action: "cannot finish writing", code: errno) }
        if overwrite {
            try Self.checkReplaceable(path)
            if Self.rename(temporaryPath, path) != 0 {
                throw .system(path: path, action: "cannot move the finished file into place", code: errno)
            }
        } else if withPathBytes(temporaryPath, { from in withPathBytes(path) { link(from, $0) } }) == 0 {
            withPathBytes(temporaryPath) { _ = unlink($0) }
        } else {
            let linkError = SystemError.last
            if linkError.code == EEXIST { throw .exists(path: path) }
            // File systems without hard links (FAT, some FUSE): check, then rename.
            guard [EPERM, ENOTSUP, EOPNOTSUPP, ENOSYS, EXDEV].contains(linkError.code) else {
                throw .system(path: path, action: "cannot move the finished file into place", code: linkError.code)
            }
            var info = stat()
            if withPathBytes(path, { lstat($0, &info) }) == 0 { throw .exists(path: path) }
            if Self.rename(temporaryPath, path) != 0 {
                throw .system(path: path, action: "cannot move the finished file into place", code: errno)
            }
        }
        nj_cleanup_forget(slot)
        slot = -1
        done = true
        Self.syncDirectory(Self.directory(of: path))
    }

    /// Closes and removes the temporary (nothing, once committed or abandoned).
    public func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        if !done { withPathBytes(temporaryPath) { _ = unlink($0) } }
        done = true
        nj_cleanup_forget(slot)
        slot = -1
    }

    /// Removes every temporary this process is writing. Async-signal-safe: for a program whose
    /// own SIGTERM handler replaces the one installed here (only installed where the
    /// disposition was still the default), to call from that handler.
    public static func removeAllTemporaries() {
        nj_cleanup_remove_all()
    }

    /// Writes a whole file: a temporary, `bytes`, `commit(overwrite:)`.
    public static func write(_ bytes: [UInt8], to path: String, overwrite: Bool) throws(OutputFileError) {
        try checkTarget(path, overwrite: overwrite)
        let file = try OutputFile(path: path)
        var failure: OutputFileError?
        bytes.withUnsafeBytes { raw in
            do { try file.write(raw) } catch let error as OutputFileError { failure = error } catch {}
        }
        if let failure { throw failure }
        try file.commit(overwrite: overwrite)
    }

    /// The checks of `commit` made early, before expensive work: without `overwrite` the
    /// target must not exist (not even as a dangling link); with it, it may only be a regular
    /// file or a link.
    public static func checkTarget(_ path: String, overwrite: Bool) throws(OutputFileError) {
        if overwrite {
            try checkReplaceable(path)
        } else {
            var info = stat()
            if withPathBytes(path, { lstat($0, &info) }) == 0 { throw .exists(path: path) }
        }
    }

    static func checkReplaceable(_ path: String) throws(OutputFileError) {
        var info = stat()
        guard withPathBytes(path, { lstat($0, &info) }) == 0 else { return }
        let type = info.st_mode & S_IFMT
        if type != S_IFREG && type != S_IFLNK { throw .notReplaceable(path: path, kind: FileContents.kindName(info.st_mode)) }
    }

    // MARK: - Names and cleaning

    private static func rename(_ from: String, _ to: String) -> Int32 {
        withPathBytes(from) { from in withPathBytes(to) { Glibc.rename(from, $0) } }
    }

    static let prefix = ".nightjar-"
    static let suffix = ".partial"

    /// The directory part of `path` ("." for a bare name, "/" for a file in the root).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// Makes the names in `directory` durable (fsync of the directory), as after a commit; for
    /// other renames and links into place (the watch daemon's spool). Best effort: a directory
    /// that cannot be opened or synced is left as it is.
    static func syncDirectory(_ directory: String) {
        let fd = withPathBytes(directory) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static let cleanedDirectories = Mutex<Set<String>>([])

    static func cleanStaleTemporariesOnce(in directory: String) {
        let first = cleanedDirectories.withLock { $0.insert(directory).inserted }
        if first { _ = cleanStaleTemporaries(in: directory) }
    }

    /// The PID in a temporary's name of ours, or nil for any other name.
    static func ownerPID(ofTemporaryNamed name: String) -> pid_t? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0,
              !parts[1].isEmpty, parts[1].allSatisfy(\.isHexDigit) else { return nil }
        return pid
    }

    /// Removes temporaries of ours in `directory` that no live process owns: the process
    /// named in the file name is gone and nobody holds the file's lock. Returns the names
    /// removed.
    @discardableResult
    public static func cleanStaleTemporaries(in directory: String) -> [String] {
        guard let dir = withPathBytes(directory, { opendir($0) }) else { return [] }
        defer { closedir(dir) }
        var removed: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in PathBytes.string(Array(raw.prefix { $0 != 0 })) }
            guard let pid = ownerPID(ofTemporaryNamed: name), pid != getpid() else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = directory + "/" + name
            let fd = withPathBytes(path) { open($0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var opened = stat(), named = stat()
            guard fstat(fd, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG,
                  flock(fd, LOCK_EX | LOCK_NB) == 0,
                  withPathBytes(path, { lstat($0, &named) }) == 0, named.st_dev == opened.st_dev, named.st_ino == opened.st_ino
            else { continue }
            if withPathBytes(path, { unlink($0) }) == 0 { removed.append(name) }
        }
        return removed
    }
}

/// Why an output file could not be written; every case names the final path.
public enum OutputFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The target exists and replacing it was not asked for.
    case exists(path: String)
    /// The target is a device, FIFO, socket or directory: never replaced by a file.
    case notReplaceable(path: String, kind: String)
    /// A system call failed with errno `code`; `action` says what was being done.
    case system(path: String, action: String, code: Int32)

    public var path: String {
        switch self {
        case .exists(let path), .notReplaceable(let path, _), .system(let path, _, _): return path
        }
    }

    /// The cause without the path ("exists", "No space left on device"...).
    public var reason: String {
        switch self {
        case .exists: return "exists"
        case .notReplaceable(_, let kind): return "is a \(kind), not a regular file; it is never replaced"
        case .system(_, let action, let code): return "\(action): \(SystemError(code: code))"
        }
    }

    public var description: String { "\(path): \(reason)" }
}
