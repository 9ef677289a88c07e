import Glibc

/// What a path names, as stat(2) sees it (symbolic links followed).
package enum FileKind: Sendable, Equatable {
    /// Nothing reachable there: no such file, a dangling link, or a directory on the way that
    /// cannot be searched.
    case missing
    case regularFile
    case directory
    /// A FIFO, socket or device.
    case other

    package init(atPath path: String) {
        var info = stat()
        guard withPathBytes(path, { stat($0, &info) }) == 0 else {
            self = .missing
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: self = .regularFile
        case S_IFDIR: self = .directory
        default: self = .other
        }
    }

    package var exists: Bool { self != .missing }
}
