import Glibc

/// The service manager's notification socket (sd_notify(3) without libsystemd): datagrams of
/// `KEY=VALUE` lines to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the
/// abstract namespace). Without `$NOTIFY_SOCKET` every message is dropped.
public final class ServiceNotifier {
    private var fd: Int32 = -1
    private var address = sockaddr_un()
    private var addressLength = socklen_t(0)
    /// Half of `$WATCHDOG_USEC` (as sd_watchdog_enabled(3) advises), or nil: no watchdog.
    public let watchdogInterval: Double?

    public init(environment: [String: String] = ServiceNotifier.processEnvironment()) {
        if let pidText = environment["WATCHDOG_PID"], Int32(pidText) != getpid() {
            watchdogInterval = nil
        } else if let usec = environment["WATCHDOG_USEC"].flatMap(Double.init), usec > 0 {
            watchdogInterval = usec / 2e6
        } else {
            watchdogInterval = nil
        }
        guard let socketPath = environment["NOTIFY_SOCKET"], !socketPath.isEmpty else { return }
        var bytes = Array(socketPath.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (i, b) in bytes.enumerated() { path[i] = b }
        }
        // Abstract names are exactly their bytes long; paths end at their NUL.
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    deinit { if fd >= 0 { close(fd) } }

    public var isEnabled: Bool { fd >= 0 }

    /// Sends one notification (e.g. "READY=1\nSTATUS=..."), never waiting: a manager that does
    /// not read loses messages rather than stalling frames. Failures are ignored, as sd_notify's are.
    public func send(_ message: String) {
        guard fd >= 0 else { return }
        var bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeMutableBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), socketAddress, addressLength) }
            }
        }
    }

    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return result
    }
}

/// Log lines on stderr with the sd-daemon(3) priority prefix, which journald turns into the
/// line's priority: `<3>` error, `<4>` warning, `<6>` information.
public enum ServiceLog {
    public static func error(_ text: String) { StandardStream.error.write("<3>nightjar: \(displayable(text))\n") }
    public static func warning(_ text: String) { StandardStream.error.write("<4>nightjar: \(displayable(text))\n") }
    public static func info(_ text: String) { StandardStream.error.write("<6>nightjar: \(displayable(text))\n") }
}
