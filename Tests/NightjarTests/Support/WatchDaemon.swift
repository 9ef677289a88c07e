import Foundation
@testable import Nightjar
import XCTest

/// A `nightjar watch` process for tests: its stderr goes to a file, its notifications to a
/// datagram socket of the test's own (as systemd's $NOTIFY_SOCKET).
final class WatchDaemon {
    let process = Process()
    let log: URL
    let notifications: NotifySocket?

    init(_ arguments: [String], in directory: URL, name: String = "daemon", watchdogMicroseconds: Int? = nil,
         notify: Bool = false) throws {
        log = directory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = nil
        notifications = notify ? try NotifySocket(path: directory.appendingPathComponent("\(name).notify").path) : nil
        if let notifications { environment["NOTIFY_SOCKET"] = notifications.path }
        if let usec = watchdogMicroseconds { environment["WATCHDOG_USEC"] = "\(usec)" }
        process.executableURL = nightjarExecutable
        process.arguments = ["watch"] + arguments
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Sends SIGTERM and waits for the exit status (nil: still running after `timeout`).
    func stop(timeout: TimeInterval = 20) -> Int32? {
        signal(SIGTERM)
        return waitForExit(timeout: timeout)
    }

    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning { return nil }
        return process.terminationStatus
    }

    func killHard() {
        signal(SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { killHard() } }
}

/// A bound AF_UNIX datagram socket that collects sd_notify messages on a thread of its own
/// (as systemd reads them as they come).
final class NotifySocket: @unchecked Sendable {
    let path: String
    let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    /// When each message arrived (`ProcessMetrics.now()`, monotonic seconds).
    private var arrivals: [Double] = []
    private var thread: Thread?

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw CocoaError(.fileWriteUnknown) }
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                lock.lock()
                received.append(String(decoding: buffer[0..<n], as: UTF8.self))
                arrivals.append(ProcessMetrics.now())
                lock.unlock()
            }
        }
        thread.start()
        self.thread = thread
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Every message received so far.
    func read() -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Every message received so far with its arrival time (monotonic seconds).
    func readTimed() -> [(message: String, time: Double)] {
        lock.lock()
        defer { lock.unlock() }
        return Array(zip(received, arrivals))
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func waitUntil(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Names in a directory (empty when it is missing).
func names(in directory: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
}

/// A PNG's chunks by type, in order; nil when the file is not a whole PNG (no IEND at its end).
func pngChunks(_ url: URL) -> [(type: String, data: Data)]? {
    guard let bytes = try? Data(contentsOf: url), bytes.count > 8, bytes.prefix(8) == Data([137, 80, 78, 71, 13, 10, 26, 10]) else {
        return nil
    }
    var chunks: [(String, Data)] = []
    var pos = 8
    while pos + 12 <= bytes.count {
        let length = bytes[pos..<(pos + 4)].reduce(0) { $0 << 8 | Int($1) }
        guard pos + 12 + length <= bytes.count else { return nil }
        let type = String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self)
        chunks.append((type, Data(bytes[(pos + 8)..<(pos + 8 + length)])))
        pos += 12 + length
        if type == "IEND" { return pos == bytes.count ? chunks : nil }
    }
    return nil
}

/// The concatenated image data of a whole PNG (the pixels, as zlib compressed them), or nil.
func pngImageData(_ url: URL) -> Data? {
    pngChunks(url).map { $0.filter { $0.type == "IDAT" }.reduce(Data()) { $0 + $1.data } }
}
