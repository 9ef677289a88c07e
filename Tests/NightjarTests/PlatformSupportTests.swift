import Foundation
@testable import Nightjar
import XCTest

/// The helpers that stand in for full Foundation in the library and the CLI, checked against
/// the Foundation calls they replace (which the tests may still use).
final class PlatformSupportTests: XCTestCase {
    // MARK: safetensors header

    /// The header keeps the key order of the models converted while Nightjar used
    /// JSONSerialization (the content digest is one more metadata entry).
    func testHeaderIsTheOneJSONSerializationWrote() throws {
        let architectures = [
            Architecture.published,
            Architecture(blockKind: .canonical, denseLayers: [8, 1, 8, 2, 3, 4, 5, 6]),
            Architecture(blockKind: .rdbStar, denseLayers: [1]),
        ]
        for architecture in architectures {
            let model = try ModelFileTests.syntheticModel(architecture)
            // The digest is part of the header like any metadata entry.
            let file = SafeTensorsFile(metadata: model.metadata, tensors: model.tensors).withContentDigest()
            let bytes = try file.encoded()
            var header: [String: Any] = ["__metadata__": file.metadata]
            var offset = 0
            for name in file.tensors.keys.sorted() {
                let tensor = file.tensors[name]!
                header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.values.count * 4]] as [String: Any]
                offset += tensor.values.count * 4
            }
            var expected = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
            while (8 + expected.count) % 8 != 0 { expected.append(0x20) }
            let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual(length, expected.count, "\(architecture)")
            XCTAssertEqual(String(decoding: bytes[8..<(8 + length)], as: UTF8.self), String(decoding: expected, as: UTF8.self))
        }
    }

    func testHeaderKeyOrderIsJSONSerializationsForNamesLikeNightjars() throws {
        var random = SplitMix64(seed: 7)
        let alphabets = [Array("abcxyz_.-0123456789"), Array("convrdbAB_.0129")]
        for alphabet in alphabets {
            for _ in 0..<200 {
                var keys = Set<String>()
                while keys.count < 8 {
                    let length = Int(random.next() % 6) + 1
                    keys.insert(String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }))
                }
                let object = Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) })
                let foundation = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
                let ours = String(decoding: try JSONValue.object(object.mapValues { .integer($0) })
                    .compactJSON(keyPrecedes: SafeTensorsFile.headerKeyPrecedes), as: UTF8.self)
                XCTAssertEqual(ours, foundation)
            }
        }
        XCTAssertEqual(["conv_2_8_32", "conv32x", "conv2x", "__metadata__", "rdb1.dense10", "rdb1.dense2"]
            .sorted(by: SafeTensorsFile.headerKeyPrecedes),
                       ["__metadata__", "conv_2_8_32", "conv2x", "conv32x", "rdb1.dense2", "rdb1.dense10"])
    }

    func testHeaderFieldsAreCheckedAsBefore() throws {
        func parse(_ header: String, data: Int = 8) throws -> SafeTensorsFile {
            var json = Array(header.utf8)
            while (8 + json.count) % 8 != 0 { json.append(0x20) }
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
            return try SafeTensorsFile.parse(bytes + json + [UInt8](repeating: 0, count: data), path: "m")
        }
        // A whole number written with a zero fraction is still a whole number.
        XCTAssertEqual(try parse(#"{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#).tensors["t"]?.shape, [2])
        XCTAssertEqual(try parse(#"{"__metadata__":{"a":"b"}}"#, data: 0).metadata, ["a": "b"])
        let refusals = [
            (#"{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}"#, "m: tensor 't': entry lacks dtype, shape or data_offsets"),
            (#"{"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, "m: tensor 't': dtype BF16 is not supported (expected F32, F16, I8, I32)"),
            (#"{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#, "m: tensor 't': shape [2] of F16 needs 4 bytes, offsets give 8"),
            (#"{"__metadata__":{"a":1}}"#, "m: not a valid model file: __metadata__ must map strings to strings"),
            (#"[1]"#, "m: not a valid model file: header is not a JSON object"),
            (#"{"t":"#, "m: not a valid model file: header is not valid JSON"),
        ]
        for (header, message) in refusals {
            XCTAssertThrowsError(try parse(header)) { XCTAssertEqual("\($0)", message) }
        }
    }

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

    func testFileContentsReadRegularFilesAndSayWhyNot() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("f")
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: file)
        let empty = directory.appendingPathComponent("empty")
        try Data().write(to: empty)
        XCTAssertEqual(try FileContents.bytes(atPath: file.path), bytes)
        XCTAssertEqual(try FileContents.bytes(atPath: empty.path), [])
        // /proc files report size 0 and are read to their end.
        let status = String(decoding: try FileContents.bytes(atPath: "/proc/self/status"), as: UTF8.self)
        XCTAssertTrue(status.contains("VmRSS:"), status)

        XCTAssertThrowsError(try FileContents.bytes(atPath: directory.appendingPathComponent("none").path)) { error in
            XCTAssertEqual(error as? SystemError, SystemError(code: ENOENT))
            XCTAssertEqual("\(error)", "No such file or directory")
        }
        XCTAssertThrowsError(try FileContents.bytes(atPath: directory.path)) {
            XCTAssertEqual(($0 as? SystemError)?.code, EISDIR)
            XCTAssertEqual("\($0)", "it is a directory, not a regular file")
        }
        // Refused by size before anything is allocated or read.
        XCTAssertThrowsError(try FileContents.bytes(atPath: file.path, maximumBytes: 199_999)) {
            XCTAssertEqual(($0 as? SystemError)?.code, EFBIG)
            XCTAssertEqual("\($0)", "the file is 200000 bytes, more than the 199999 accepted here")
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

