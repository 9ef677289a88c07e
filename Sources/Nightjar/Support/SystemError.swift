import FoundationEssentials
import Glibc

/// A failed system call's errno, described in strerror's words ("No such file or directory"):
/// the reason in messages such as "PATH: cannot read: REASON".
package struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    package var code: Int32
    /// Said instead of strerror's words where errno alone would mislead ("it is a FIFO...").
    package var explanation: String?

    package init(code: Int32, explanation: String? = nil) {
        self.code = code
        self.explanation = explanation
    }

    /// errno as the call that just failed left it.
    package static var last: SystemError { SystemError(code: errno) }

    package var description: String { explanation ?? String(cString: strerror(code)) }

    /// The errno behind an error thrown by FileManager or Data (a CocoaError wrapping a
    /// POSIXError, or one whose code names the cause), or nil.
    package init?(carriedBy error: any Error) {
        switch error {
        case let error as SystemError:
            self = error
        case let error as POSIXError:
            self.init(code: error.code.rawValue)
        case let error as CocoaError:
            if let underlying = error.underlying, let carried = SystemError(carriedBy: underlying) {
                self = carried
                return
            }
            switch error.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: self.init(code: ENOENT)
            case .fileReadNoPermission, .fileWriteNoPermission: self.init(code: EACCES)
            case .fileWriteFileExists: self.init(code: EEXIST)
            case .fileWriteOutOfSpace: self.init(code: ENOSPC)
            case .fileWriteVolumeReadOnly: self.init(code: EROFS)
            case .fileReadTooLarge: self.init(code: EFBIG)
            default: return nil
            }
        default:
            return nil
        }
    }

    /// A reason a person can act on for an error thrown by a file operation: errno's words
    /// when the error carries one, else the error's own description.
    package static func reason(for error: any Error) -> String {
        if let carried = SystemError(carriedBy: error) { return carried.description }
        if let error = error as? CocoaError { return "file operation failed (error \(error.code.rawValue))" }
        return String(describing: error)
    }
}
