import FoundationEssentials
import Glibc

/// The capture directory as a spool that several daemons may share, Maildir-style: a frame is
/// claimed by renaming it into this daemon's own work area, so two daemons never take the same
/// one, and everything a crashed daemon held is found again from the file system alone.
///
///     CAPTURE/NAME                          waiting (written by the camera)
///     CAPTURE/.nightjar/daemons/ID.lock     held (flock) while daemon ID runs
///     CAPTURE/.nightjar/claimed/ID/NAME     being restored by daemon ID
///     CAPTURE/.nightjar/claimed/ID/.NAME.output   the output path chosen for it (written,
///                                           synced, before the output is made)
///     CAPTURE/.nightjar/kept                restored originals left in place (--originals keep)
///     CAPTURE/done/NAME                     restored (--originals move)
///     CAPTURE/failed/NAME, NAME.error.txt   could not be restored, and why
public final class CaptureSpool {
    public let root: URL
    public let id: String
    let work: URL
    let claimed: URL
    public let done: URL
    public let failed: URL
    private var lockFD: Int32 = -1
    /// Originals already restored and left in place: name → (size, mtime) (`keep`).
    private var kept: [String: FileStamp] = [:]
    /// The state file as last read (another daemon on the directory may append to it).
    private var keptFileStamp: FileStamp?

    struct FileStamp: Equatable {
        var size: Int
        var modifiedNanoseconds: Int
    }

    /// Opens (creating what is missing) the work area of `root` for a new daemon and takes its
    /// lock. Throws `CaptureError.invalidArgument` when `root` is not a directory and
    /// `CaptureError.unwritable` naming what cannot be made.
    public init(root: URL) throws {
        self.root = root
        work = root.appendingPathComponent(".nightjar")
        claimed = work.appendingPathComponent("claimed")
        done = root.appendingPathComponent("done")
        failed = root.appendingPathComponent("failed")
        var random: UInt64 = 0
        arc4random_buf(&random, 8)
        id = "\(getpid())-\(String(random & 0xFFFF_FFFF, radix: 16))"
        guard FileKind(atPath: root.path) == .directory else {
            throw CaptureError.invalidArgument("\(root.path): the capture directory does not exist or is not a directory (is its file system mounted?)")
        }
        for directory in [work, work.appendingPathComponent("daemons"), claimed, done, failed] {
            try Self.makeDirectory(directory)
        }
        let lockPath = work.appendingPathComponent("daemons/\(id).lock").path
        lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            throw CaptureError.unwritable(path: lockPath, reason: "cannot create and lock: \(SystemError.last)")
        }
        try Self.makeDirectory(mine)
        loadKept()
    }

    deinit { close() }

    /// Gives up the work area (a clean stop): its directory and lock go.
    public func close() {
        guard lockFD >= 0 else { return }
        rmdir(mine.path)
        unlink(work.appendingPathComponent("daemons/\(id).lock").path)
        Glibc.close(lockFD)
        lockFD = -1
    }

    var mine: URL { claimed.appendingPathComponent(id) }

    static func makeDirectory(_ url: URL) throws {
        if mkdir(url.path, 0o755) != 0, errno != EEXIST {
            throw CaptureError.unwritable(path: url.path, reason: "cannot create the directory: \(SystemError.last)")
        }
        guard FileKind(atPath: url.path) == .directory else {
            throw CaptureError.unwritable(path: url.path, reason: "exists and is not a directory")
        }
    }

    // MARK: - Waiting frames

    /// Whether a name in the capture directory is a frame to restore: a RAW extension, not a
    /// hidden or temporary name still being written (`.x`, `x.tmp`, `x.part`, ...).
    public static func isCandidate(_ name: String) -> Bool {
        if name.hasPrefix(".") || name.hasSuffix("~") { return false }
        let lower = name.lowercased()
        for suffix in [".tmp", ".part", ".partial", ".crdownload", ".temp", ".swp"] where lower.hasSuffix(suffix) { return false }
        return RestoreBatch.isRawFile(URL(fileURLWithPath: name))
    }

    /// Regular files waiting in the capture directory, by name, with their size and mtime.
    func waiting() -> [(name: String, stamp: FileStamp)] {
        loadKept()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        var found: [(String, FileStamp)] = []
        for name in names.sorted() where Self.isCandidate(name) {
            guard let stamp = stamp(of: root.appendingPathComponent(name).path) else { continue }
            if let known = kept[name], known == stamp { continue }
            found.append((name, stamp))
        }
        return found
    }

    func stamp(of path: String) -> FileStamp? { Self.stamp(of: path) }

    static func stamp(of path: String) -> FileStamp? {
        var s = stat()
        guard lstat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileStamp(size: Int(s.st_size), modifiedNanoseconds: Int(s.st_mtim.tv_sec) * 1_000_000_000 + Int(s.st_mtim.tv_nsec))
    }

    /// Whether `name` (seen with `stamp`) is a restored original kept in place.
    func isKept(_ name: String, stamp: FileStamp) -> Bool {
        loadKept()
        return kept[name] == stamp
    }

    // MARK: - Claiming and finishing

    /// Takes `name` for this daemon (an atomic rename); nil when another daemon took it first
    /// or it went away.
    func claim(_ name: String) -> URL? {
        let target = mine.appendingPathComponent(name)
        return rename(root.appendingPathComponent(name).path, target.path) == 0 ? target : nil
    }

    func markerURL(for claimedFile: URL) -> URL {
        claimedFile.deletingLastPathComponent().appendingPathComponent(".\(claimedFile.lastPathComponent).output")
    }

    /// Records (durably) which output a claimed frame is being restored to, so that after a
    /// crash the frame is known to be delivered when that output exists.
    func recordOutput(_ output: URL, for claimedFile: URL) throws {
        let marker = markerURL(for: claimedFile)
        try Self.writeDurably(Array(output.path.utf8), to: marker)
    }

    /// The frame is delivered: the original goes as `policy` says and the claim is dropped.
    func finishDelivered(_ claimedFile: URL, policy: OriginalsPolicy) throws {
        let name = claimedFile.lastPathComponent
        switch policy {
        case .move:
            try Self.moveKeepingBoth(claimedFile, into: done)
        case .delete:
            if unlink(claimedFile.path) != 0, errno != ENOENT {
                throw CaptureError.unwritable(path: claimedFile.path, reason: "cannot delete the original: \(SystemError.last)")
            }
        case .keep:
            if let stamp = stamp(of: claimedFile.path) {
                // Remembered before it reappears, so that no scan takes it again.
                try appendKept(name, stamp)
                try Self.moveKeepingBoth(claimedFile, into: root)
            }
        }
        unlink(markerURL(for: claimedFile).path)
        OutputFile.syncDirectory(claimedFile.deletingLastPathComponent().path)
    }

    /// The frame cannot be restored: into `failed/` with `NAME.error.txt` naming the cause.
    func finishFailed(_ claimedFile: URL, reason: String) throws {
        let destination = try Self.moveKeepingBoth(claimedFile, into: failed, before: { name in
            try Self.writeDurably(Array((reason + "\n").utf8), to: self.failed.appendingPathComponent(name + ".error.txt"))
        })
        _ = destination
        unlink(markerURL(for: claimedFile).path)
    }

    /// Puts a claimed frame back to wait (the output side failed: disk full, unwritable).
    func release(_ claimedFile: URL) {
        unlink(markerURL(for: claimedFile).path)
        _ = try? Self.moveKeepingBoth(claimedFile, into: root)
    }

    // MARK: - Recovery

    /// What recovery found and did.
    struct Recovery {
        var requeued: [String] = []
        /// Frames whose output was already committed: finished now.
        var delivered: [String] = []
    }

    /// Finds the work areas of daemons that are gone (their lock is free) and finishes what they
    /// held: a frame whose recorded output exists was delivered (its original is now handled as
    /// `policy` says); any other goes back to wait. Also removes temporary files that dead
    /// daemons left in `outputDirectory`.
    func recover(policy: OriginalsPolicy, outputDirectory: URL) -> Recovery {
        var recovery = Recovery()
        let daemons = work.appendingPathComponent("daemons")
        var areas = Set((try? FileManager.default.contentsOfDirectory(atPath: claimed.path)) ?? [])
        for lock in (try? FileManager.default.contentsOfDirectory(atPath: daemons.path)) ?? [] where lock.hasSuffix(".lock") {
            areas.insert(String(lock.dropLast(5)))
        }
        areas.remove(id)
        for other in areas.sorted() {
            let lockPath = daemons.appendingPathComponent("\(other).lock").path
            let fd = open(lockPath, O_RDWR | O_CLOEXEC)
            if fd >= 0 {
                if flock(fd, LOCK_EX | LOCK_NB) != 0 { Glibc.close(fd); continue } // alive
            } else if errno != ENOENT {
                continue
            }
            let area = claimed.appendingPathComponent(other)
            var keepArea = false
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: area.path)) ?? []).sorted() where !name.hasPrefix(".") {
                let file = area.appendingPathComponent(name)
                let marker = markerURL(for: file)
                if let recorded = try? FileContents.bytes(atPath: marker.path),
                   FileKind(atPath: String(decoding: recorded, as: UTF8.self)) == .regularFile {
                    // Delivered: never restored again. If the original cannot be handled now,
                    // it stays here for the next recovery.
                    if (try? finishDelivered(file, policy: policy)) != nil { recovery.delivered.append(name) } else { keepArea = true }
                } else {
                    unlink(marker.path)
                    if (try? Self.moveKeepingBoth(file, into: root)) != nil { recovery.requeued.append(name) } else { keepArea = true }
                }
            }
            if keepArea {
                if fd >= 0 { Glibc.close(fd) }
                continue
            }
            // Markers of frames that were not there any more.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: area.path)) ?? [] where name.hasPrefix(".") {
                unlink(area.appendingPathComponent(name).path)
            }
            rmdir(area.path)
            unlink(lockPath)
            if fd >= 0 { Glibc.close(fd) }
        }
        Self.removeAbandonedTemporaries(in: outputDirectory, depth: 3)
        return recovery
    }

    /// Removes what dead processes left in the output tree: `OutputFile` temporaries whose
    /// process and lock are gone, and the links `--latest` was about to move into place.
    static func removeAbandonedTemporaries(in directory: URL, depth: Int) {
        guard depth > 0, let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        OutputFile.cleanStaleTemporaries(in: directory.path)
        for name in names {
            let url = directory.appendingPathComponent(name)
            if name.hasPrefix(".latest-"), let pid = Int32(name.dropFirst(".latest-".count)), kill(pid, 0) != 0, errno == ESRCH {
                unlink(url.path)
            } else if !name.hasPrefix("."), FileKind(atPath: url.path) == .directory {
                removeAbandonedTemporaries(in: url, depth: depth - 1)
            }
        }
    }

    // MARK: - Looking from outside (`nightjar status`)

    public struct Survey: Sendable {
        public var waiting = 0
        public var inProgress = 0
        public var failed = 0
        public var done = 0
        /// Daemons whose lock is held now.
        public var daemons = 0
    }

    /// Counts, without changing anything, what is in `root`'s spool.
    public static func survey(_ root: URL) -> Survey {
        let fm = FileManager.default
        func names(_ url: URL) -> [String] { (try? fm.contentsOfDirectory(atPath: url.path)) ?? [] }
        var survey = Survey()
        // Originals restored and kept in place are not waiting.
        var kept: [String: FileStamp] = [:]
        if let bytes = try? FileContents.bytes(atPath: root.appendingPathComponent(".nightjar/kept").path) {
            kept = parseKept(bytes)
        }
        survey.waiting = names(root).filter { name in
            guard isCandidate(name) else { return false }
            guard let known = kept[name] else { return true }
            return stamp(of: root.appendingPathComponent(name).path) != known
        }.count
        survey.failed = names(root.appendingPathComponent("failed")).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".error.txt") }.count
        survey.done = names(root.appendingPathComponent("done")).filter { !$0.hasPrefix(".") }.count
        let claimed = root.appendingPathComponent(".nightjar/claimed")
        for area in names(claimed) { survey.inProgress += names(claimed.appendingPathComponent(area)).filter { !$0.hasPrefix(".") }.count }
        let daemons = root.appendingPathComponent(".nightjar/daemons")
        for lock in names(daemons) where lock.hasSuffix(".lock") {
            let fd = open(daemons.appendingPathComponent(lock).path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_SH | LOCK_NB) != 0, errno == EWOULDBLOCK { survey.daemons += 1 }
            Glibc.close(fd)
        }
        return survey
    }

    // MARK: - Kept originals

    private var keptURL: URL { work.appendingPathComponent("kept") }

    /// Reads the state file when it changed since the last read.
    private func loadKept() {
        let current = stamp(of: keptURL.path)
        guard current != keptFileStamp else { return }
        keptFileStamp = current
        guard let bytes = try? FileContents.bytes(atPath: keptURL.path) else { return }
        kept.merge(Self.parseKept(bytes)) { $1 }
    }

    /// The kept state file's lines: NAME, size, mtime in nanoseconds, separated by tabs.
    static func parseKept(_ bytes: [UInt8]) -> [String: FileStamp] {
        var kept: [String: FileStamp] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3, let size = Int(fields[1]), let mtime = Int(fields[2]) else { continue }
            kept[String(fields[0])] = FileStamp(size: size, modifiedNanoseconds: mtime)
        }
        return kept
    }

    private func appendKept(_ name: String, _ stamp: FileStamp) throws {
        loadKept()
        kept[name] = stamp
        let line = Array("\(name)\t\(stamp.size)\t\(stamp.modifiedNanoseconds)\n".utf8)
        let fd = open(keptURL.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CaptureError.unwritable(path: keptURL.path, reason: "\(SystemError.last)") }
        defer { Glibc.close(fd) }
        // One write of one line: appends from two daemons do not interleave.
        guard line.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == line.count, fsync(fd) == 0 else {
            throw CaptureError.unwritable(path: keptURL.path, reason: "\(SystemError.last)")
        }
    }

    // MARK: - File operations

    /// Moves `file` into `directory` under its own name, or NAME-2, NAME-3, ... when that is
    /// taken (link(2) never replaces), then syncs the directory. `before(name)` runs once the
    /// name is chosen, before the move. Returns where it went.
    ///
    /// A move is link then unlink, so a process killed between the two leaves the file under
    /// both names. Finding `file` already linked under one of the candidate names (same
    /// inode) finishes that move instead of making a second copy.
    @discardableResult
    static func moveKeepingBoth(_ file: URL, into directory: URL, before: ((String) throws -> Void)? = nil) throws -> URL {
        let name = file.lastPathComponent
        var source = stat()
        let sourceKnown = lstat(file.path, &source) == 0 && source.st_nlink > 1
        for attempt in 1...1000 {
            let candidate = attempt == 1 ? name : numbered(name, attempt)
            let target = directory.appendingPathComponent(candidate)
            var existing = stat()
            if lstat(target.path, &existing) == 0 {
                if sourceKnown, existing.st_dev == source.st_dev, existing.st_ino == source.st_ino {
                    unlink(file.path)
                    OutputFile.syncDirectory(directory.path)
                    return target
                }
                continue
            }
            try before?(candidate)
            if link(file.path, target.path) == 0 {
                unlink(file.path)
                OutputFile.syncDirectory(directory.path)
                return target
            }
            if errno == EEXIST { continue }
            // No hard links (some file systems): rename, having checked the name is free.
            if errno == EPERM || errno == EOPNOTSUPP || errno == EXDEV {
                if rename(file.path, target.path) == 0 { OutputFile.syncDirectory(directory.path); return target }
            }
            throw CaptureError.unwritable(path: target.path, reason: "cannot move \(file.path) there: \(SystemError.last)")
        }
        throw CaptureError.unwritable(path: directory.appendingPathComponent(name).path, reason: "1000 files of that name exist")
    }

    /// `IMG_1.dng` → `IMG_1-2.dng`.
    static func numbered(_ name: String, _ n: Int) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "\(name)-\(n)" }
        return "\(name[..<dot])-\(n)\(name[dot...])"
    }

    /// Writes a small file through `OutputFile`: a temporary, fsync, rename over the old one,
    /// fsync of the directory.
    static func writeDurably(_ bytes: [UInt8], to url: URL) throws {
        do {
            try OutputFile.write(bytes, to: url.path, overwrite: true)
        } catch {
            throw CaptureOutput.captureError(error, path: url.path)
        }
    }
}
