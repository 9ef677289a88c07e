import Foundation
@testable import Nightjar
import XCTest

/// The helpers that stand in for full Foundation in the library and the CLI, checked against
/// the Foundation calls they replace (which the tests may still use).
final class PlatformSupportTests: XCTestCase {
    // MARK: text

    func testFormattedWritesWhatStringFormatWrote() {
        XCTAssertEqual(formatted("%8.1f MiB", 1234.56), String(format: "%8.1f MiB", 1234.56))
        XCTAssertEqual(formatted("%.3f s median (min %.3f, max %.3f, %ld runs)", 0.5, 0.25, 1.0, 5),
                       String(format: "%.3f s median (min %.3f, max %.3f, %d runs)", 0.5, 0.25, 1.0, 5))
        XCTAssertEqual(formatted("%.0f %%", 42.5), String(format: "%.0f %%", 42.5))
        XCTAssertEqual(formatted("%ld", Int.max), "\(Int.max)")
        XCTAssertEqual(formatted("no arguments"), "no arguments")
        XCTAssertEqual(formatted(""), "")
    }

    func testTrimmingAndPaddingAsFoundation() {
        for text in ["  a b\t", "\u{00A0}x\u{2003}", "\n y \n", "", " \t ", "é "] {
            XCTAssertEqual(text.trimmingSpacesAndTabs(), text.trimmingCharacters(in: .whitespaces), text.debugDescription)
        }
        XCTAssertEqual("'<f4'".trimmingScalars { $0 == "'" || $0 == "\"" }, "<f4")
        for (text, length) in [("label", 8), ("exactly", 7), ("too long here", 5), ("", 3)] {
            XCTAssertEqual(text.padded(toLength: length), text.padding(toLength: length, withPad: " ", startingAt: 0))
        }
    }

    // MARK: files

    func testFileKind() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("f")
        try Data("x".utf8).write(to: file)
        let fifo = directory.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let dangling = directory.appendingPathComponent("dangling")
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: "/nonexistent/nightjar")
        let linkToDirectory = directory.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(atPath: linkToDirectory.path, withDestinationPath: directory.path)
        XCTAssertEqual(FileKind(atPath: file.path), .regularFile)
        XCTAssertEqual(FileKind(atPath: directory.path), .directory)
        XCTAssertEqual(FileKind(atPath: linkToDirectory.path), .directory)
        XCTAssertEqual(FileKind(atPath: fifo.path), .other)
        XCTAssertEqual(FileKind(atPath: dangling.path), .missing)
        XCTAssertEqual(FileKind(atPath: directory.appendingPathComponent("none").path), .missing)
        XCTAssertEqual(FileKind(atPath: file.appendingPathComponent("below-a-file").path), .missing)
    }

    func testFileContentsReadAndMapAndSayWhyNot() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("f")
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: file)
        let empty = directory.appendingPathComponent("empty")
        try Data().write(to: empty)
        XCTAssertEqual(try FileContents.bytes(atPath: file.path), bytes)
        XCTAssertEqual(try FileContents.withMappedBytes(atPath: file.path) { Array($0) }, bytes)
        XCTAssertEqual(try FileContents.bytes(atPath: empty.path), [])
        XCTAssertEqual(try FileContents.withMappedBytes(atPath: empty.path) { $0.count }, 0)
        // /proc files report size 0 and are read, not mapped.
        let status = try FileContents.withMappedBytes(atPath: "/proc/self/status") { String(decoding: $0, as: UTF8.self) }
        XCTAssertTrue(status.contains("VmRSS:"), status)

        XCTAssertThrowsError(try FileContents.bytes(atPath: directory.appendingPathComponent("none").path)) { error in
            XCTAssertEqual(error as? SystemError, SystemError(code: ENOENT))
            XCTAssertEqual("\(error)", "No such file or directory")
        }
        XCTAssertThrowsError(try FileContents.bytes(atPath: directory.path)) { XCTAssertEqual($0 as? SystemError, SystemError(code: EISDIR)) }
        XCTAssertThrowsError(try FileContents.withMappedBytes(atPath: directory.path) { _ in }) {
            XCTAssertEqual($0 as? SystemError, SystemError(code: EISDIR))
        }
        // An error from the body comes through as it is.
        XCTAssertThrowsError(try FileContents.withMappedBytes(atPath: file.path) { _ in throw CocoaError(.featureUnsupported) }) {
            XCTAssertTrue($0 is CocoaError, "\($0)")
        }
    }

    func testFileManagerErrorsAreGivenInErrnosWords() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("f")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try FileManager.default.createDirectory(at: file.appendingPathComponent("d"), withIntermediateDirectories: true)) {
            XCTAssertEqual(SystemError.reason(for: $0), "Not a directory")
        }
        XCTAssertThrowsError(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("none").path)) {
            XCTAssertEqual(SystemError.reason(for: $0), "No such file or directory")
        }
        XCTAssertEqual(SystemError.reason(for: CocoaError(.fileWriteOutOfSpace)), "No space left on device")
        XCTAssertEqual(SystemError.reason(for: CaptureError.exists(path: "p")), "p: output exists (use --overwrite to replace it)")
    }

    // MARK: child processes

    func testChildProcessReportsItsEndAndStandardError() throws {
        let failed = try ChildProcess.runCollectingStandardError(
            executable: "/bin/sh", arguments: ["-c", "echo to-stdout; echo to-stderr >&2; exit 3"])
        XCTAssertEqual(failed.termination, .exited(status: 3))
        XCTAssertEqual(String(decoding: failed.standardError, as: UTF8.self), "to-stderr\n")
        let killed = try ChildProcess.runCollectingStandardError(executable: "/bin/sh", arguments: ["-c", "kill -9 $$"])
        XCTAssertEqual(killed.termination, .signalled(signal: 9))
        // More than a pipe holds: read while the child still writes.
        let chatty = try ChildProcess.runCollectingStandardError(
            executable: "/bin/sh", arguments: ["-c", "head -c 300000 /dev/zero >&2"])
        XCTAssertEqual(chatty.termination, .exited(status: 0))
        XCTAssertEqual(chatty.standardError.count, 300_000)
        XCTAssertThrowsError(try ChildProcess.runCollectingStandardError(executable: "/nonexistent/nightjar", arguments: [])) {
            XCTAssertEqual($0 as? SystemError, SystemError(code: ENOENT))
        }
    }
}

