import Foundation
import XCTest

/// The read-only reference material beside the repository (`../shared`). Tests that need it
/// skip with a visible message when it is missing; CI always has it.
enum SharedReference {
    static let root: URL = {
        // Tests/NightjarTests/Support/SharedReference.swift -> repository root -> ../shared
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared")
    }()

    /// A path under ../shared, or an XCTSkip naming what is missing.
    static func url(_ relative: String) throws -> URL {
        let url = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("SKIPPED: reference file \(url.path) is missing (../shared not present)")
        }
        return url
    }

    /// The parsed golden manifest.
    static func manifest() throws -> [String: Any] {
        let data = try Data(contentsOf: try url("golden/manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("nightjar-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}
