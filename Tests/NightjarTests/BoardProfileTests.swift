import Foundation
@testable import Nightjar
import XCTest

/// The profiles in boards/ and their loader.
final class BoardProfileTests: XCTestCase {
    static let boardsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("boards")

    /// REFERENCE.md §6 as rows: board, CPU, cores, RAM, FP16, dot product.
    static func referenceTable() throws -> [[String]] {
        let text = try String(contentsOf: try SharedReference.url("REFERENCE.md"), encoding: .utf8)
        guard let section = text.range(of: "## 6.") else { throw XCTSkip("SKIPPED: REFERENCE.md has no §6") }
        var rows: [[String]] = []
        for line in text[section.upperBound...].split(separator: "\n") {
            if line.hasPrefix("## ") { break }
            guard line.hasPrefix("|"), !line.hasPrefix("|---") else { continue }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.first == "board" { continue }
            rows.append(cells)
        }
        return rows
    }

    /// "512 MB" → 512 MiB; "2–16 GB" → 2 GiB (the smallest size sold).
    static func smallestRAM(_ cell: String) -> Int? {
        let parts = cell.split(separator: " ")
        guard parts.count == 2, let smallest = Int(parts[0].split(separator: "–")[0]) else { return nil }
        switch parts[1] {
        case "MB": return smallest << 20
        case "GB": return smallest << 30
        default: return nil
        }
    }

    func testEveryProfileMatchesTheReferenceTable() throws {
        let table = try Self.referenceTable()
        XCTAssertEqual(table.count, 6, "REFERENCE.md §6 lists six boards")
        // The ARM boards of §6; the generic x86-64 profile is checked in testProfilesAreConsistent.
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.boardsDirectory.path)
            .filter { $0.hasSuffix(".json") && $0 != "generic-x86-64.json" }.sorted()
        XCTAssertEqual(files.count, table.count, "one profile per board: \(files)")
        var matched = Set<String>()
        for file in files {
            let profile = try BoardProfile.load(contentsOf: Self.boardsDirectory.appendingPathComponent(file))
            XCTAssertEqual(profile.id + ".json", file)
            guard let row = table.first(where: { $0[0] == profile.name }) else {
                XCTFail("\(file): '\(profile.name)' is not a board of REFERENCE.md §6")
                continue
            }
            matched.insert(row[0])
            XCTAssertEqual(profile.cpu, row[1], file)
            XCTAssertEqual(profile.cores, Int(row[2]), file)
            XCTAssertEqual(profile.ramBytes, Self.smallestRAM(row[3]), file)
            XCTAssertEqual(profile.features.fp16Arithmetic, row[4].hasPrefix("yes"), file)
            XCTAssertEqual(profile.features.dotProduct, row[5].hasPrefix("yes"), file)
            XCTAssertTrue(profile.features.neon, "\(file): every ARMv8-A core of §6 has NEON")
        }
        XCTAssertEqual(matched.count, table.count)
    }

    static var valid: [String: Any] { [
        "id": "test-board", "name": "Test Board", "cpu": "Cortex-A53 @1.0 GHz", "cores": 4, "ram_bytes": 536_870_912,
        "cpu_features": ["neon": true, "fp16_arithmetic": false, "dot_product": false],
        "architecture": "aarch64", "model_prefixes": ["Test Board Rev"], "default_precision": "fp32", "default_threads": 3,
        "max_frame": "4056x3040", "memory_max": "112M", "camera_modules": ["imx477"],
    ] }

    func parse(_ object: Any) throws -> BoardProfile {
        try BoardProfile.parse(try JSONSerialization.data(withJSONObject: object), path: "/boards/test-board.json")
    }

    func assertRefused(_ object: Any, field: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(object), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("/boards/test-board.json: "), text, file: file, line: line)
            XCTAssertTrue(text.contains("'\(field)'"), "\(text) does not name \(field)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), file: file, line: line)
        }
    }

    func testMalformedProfilesAreRefusedNamingTheField() throws {
        let good = try parse(Self.valid)
        XCTAssertEqual(good, BoardProfile(id: "test-board", name: "Test Board", cpu: "Cortex-A53 @1.0 GHz", cores: 4, ramBytes: 536_870_912,
                                          features: .init(neon: true, fp16Arithmetic: false, dotProduct: false),
                                          architecture: "aarch64", modelPrefixes: ["Test Board Rev"], defaultPrecision: "fp32",
                                          defaultThreads: 3, maxFrame: (4056, 3040), memoryMaxBytes: 112 << 20, cameraModules: ["imx477"]))
        XCTAssertEqual(good.memoryMax, "112M")
        XCTAssertEqual(good.threads(onlineCores: 8), 3)
        for field in BoardProfile.fields {
            var object = Self.valid
            object[field] = nil
            assertRefused(object, field: field)
            XCTAssertThrowsError(try parse(object)) { XCTAssertEqual($0 as? BoardProfileError, .missingField(path: "/boards/test-board.json", field: field)) }
        }
        for field in BoardProfile.featureFields {
            var features = Self.valid["cpu_features"] as! [String: Any]
            features[field] = nil
            var object = Self.valid
            object["cpu_features"] = features
            assertRefused(object, field: "cpu_features.\(field)")
            features[field] = "yes"
            object["cpu_features"] = features
            assertRefused(object, field: "cpu_features.\(field)")
        }
        let wrong: [(String, Any)] = [
            ("cores", "four"), ("cores", 0), ("cores", 2.5), ("ram_bytes", -1), ("ram_bytes", "512 MB"),
            ("id", "Pi Zero"), ("id", ""), ("name", ""), ("name", 7), ("cpu", NSNull()), ("cpu_features", true),
            ("architecture", "armv7l"), ("default_precision", "fp64"), ("default_threads", 5), ("default_threads", -1),
            ("max_frame", "4056"), ("max_frame", "0x10"), ("memory_max", "112MB"), ("memory_max", "0M"),
            ("model_prefixes", "Raspberry"), ("model_prefixes", [""]), ("camera_modules", "imx477"),
        ]
        for (field, value) in wrong {
            var object = Self.valid
            object[field] = value
            assertRefused(object, field: field)
        }
        var extra = Self.valid
        extra["ram"] = 1024
        assertRefused(extra, field: "ram")
        var features = Self.valid["cpu_features"] as! [String: Any]
        features["sve"] = true
        extra = Self.valid
        extra["cpu_features"] = features
        assertRefused(extra, field: "cpu_features.sve")
        // Each architecture has its own flags.
        extra = Self.valid
        extra["architecture"] = "x86_64"
        assertRefused(extra, field: "cpu_features.dot_product")
        extra["cpu_features"] = ["sse4_1": true, "avx2": true, "avx512f": false]
        XCTAssertEqual(try parse(extra).features, .init(sse41: true, avx2: true))

        for text in ["", "{", "[1, 2]", "\"pi\""] {
            XCTAssertThrowsError(try BoardProfile.parse(Data(text.utf8), path: "/b.json")) { error in
                guard case .notJSON(let path, _)? = error as? BoardProfileError else { return XCTFail("\(text): \(error)") }
                XCTAssertEqual(path, "/b.json")
            }
        }
    }

    func testBoardsAreFoundByIDOrPath() throws {
        let root = try makeTemporaryDirectory(self)
        let boards = root.appendingPathComponent("boards")
        try FileManager.default.createDirectory(at: boards, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: Self.valid).write(to: boards.appendingPathComponent("test-board.json"))
        var renamed = Self.valid
        renamed["id"] = "other"
        try JSONSerialization.data(withJSONObject: renamed).write(to: boards.appendingPathComponent("misnamed.json"))

        XCTAssertEqual(try BoardProfile.resolve("test-board", searching: [boards]).name, "Test Board")
        XCTAssertEqual(try BoardProfile.resolve(boards.appendingPathComponent("misnamed.json").path, searching: []).id, "other")
        XCTAssertThrowsError(try BoardProfile.resolve("misnamed", searching: [boards])) { error in
            XCTAssertTrue("\(error)".contains("'id' is 'other' but the file is named misnamed.json"), "\(error)")
        }
        XCTAssertThrowsError(try BoardProfile.resolve("pi-9", searching: [boards])) { error in
            XCTAssertEqual(error as? BoardProfileError, .unknownBoard(name: "pi-9", known: ["misnamed", "test-board"], searched: [boards.path]))
        }
        XCTAssertThrowsError(try BoardProfile.resolve(root.appendingPathComponent("none.json").path, searching: [])) { error in
            guard case .unreadable? = error as? BoardProfileError else { return XCTFail("\(error)") }
        }

        // The executable of a build inside a checkout finds the checkout's boards/; an
        // installed one finds <prefix>/share/nightjar/boards; NIGHTJAR_BOARDS comes first.
        let executable = root.appendingPathComponent(".build/release/nightjar")
        try FileManager.default.createDirectory(at: executable.deletingLastPathComponent(), withIntermediateDirectories: true)
        let shared = root.appendingPathComponent(".build/share/nightjar/boards")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        let extra = root.appendingPathComponent("mine")
        try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
        let found = BoardProfile.searchDirectories(executable: executable, environment: ["NIGHTJAR_BOARDS": extra.path + ":/nonexistent"])
        XCTAssertEqual(found.map(\.standardizedFileURL.path), [extra, boards, shared].map(\.standardizedFileURL.path))
    }

    func testReserveForTheOperatingSystem() throws {
        let zero = try BoardProfile.load(contentsOf: Self.boardsDirectory.appendingPathComponent("pi-zero-2w.json"))
        XCTAssertEqual(zero.osReserveBytes, 192 << 20)
        XCTAssertEqual(zero.availableBytes, 320 << 20)
        let pi5 = try BoardProfile.load(contentsOf: Self.boardsDirectory.appendingPathComponent("pi-5.json"))
        XCTAssertEqual(pi5.osReserveBytes, 512 << 20)
        XCTAssertTrue(zero.fit(300 << 20) == (true, 20 << 20))
        XCTAssertTrue(zero.fit(330 << 20) == (false, -(10 << 20)))
    }
}
