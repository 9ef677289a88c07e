import FoundationEssentials
import Glibc

/// Writes whole files so that no reader ever sees a partial one: the bytes go to a hidden
/// temporary file in the same directory, which is renamed over the target only when complete.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let temporary = temporaryURL(for: url)
        guard FileManager.default.createFile(atPath: temporary.path, contents: Data(bytes)) else {
            throw AtomicFileError.cannotWrite(path: url.path)
        }
        try commit(temporary, to: url)
    }

    /// A hidden sibling name for writing `url` before the rename.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).partial")
    }

    /// Renames a finished temporary file over `url` (atomic within one file system).
    public static func commit(_ temporary: URL, to url: URL) throws {
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw AtomicFileError.cannotRename(path: url.path, reason: reason)
        }
    }
}

public enum AtomicFileError: Error, CustomStringConvertible {
    case cannotWrite(path: String)
    case cannotRename(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotWrite(let path): return "\(path): cannot write (is the directory writable?)"
        case .cannotRename(let path, let reason): return "\(path): cannot move the finished file into place: \(reason)"
        }
    }
}
