import Glibc

/// The process's standard output and error, written without buffering (FoundationEssentials
/// has no FileHandle).
package enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    /// Writes all of `text`, however many write(2) calls that takes. A stream that fails
    /// (closed, full disk) loses the rest: there is nowhere left to report it.
    package func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
