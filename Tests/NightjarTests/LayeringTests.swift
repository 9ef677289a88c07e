import Foundation
import XCTest

/// The library's folders are layers along the data flow (README, "Layout"): checkpoint → model
/// → plan → executor → capture → service → evaluation, with Support under all of them. A file
/// may use the types of its own layer and the layers before it, never a later one's (the plan
/// must not know the executor, the executor not the capture pipeline). Read from the sources,
/// so a new upward reference fails here rather than in review.
final class LayeringTests: XCTestCase {
    static let layers = ["Support", "Checkpoint", "Model", "Plan", "Executor", "Capture", "Service", "Evaluate"]

    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Nightjar")
    }

    /// The Swift files of a layer, as (name, code without `//` comments).
    static func files(of layer: String) throws -> [(name: String, code: String)] {
        let folder = sources.appendingPathComponent(layer)
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }.sorted().map { name in
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            let code = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
                guard let comment = line.range(of: "//") else { return line }
                return line[..<comment.lowerBound]
            }.joined(separator: "\n")
            return ("\(layer)/\(name)", code)
        }
    }

    /// Identifiers in order (letters, digits, underscores).
    static func identifiers(_ code: String) -> [Substring] {
        code.split { !($0.isLetter || $0.isNumber || $0 == "_") }
    }

    static let declarationKeywords: Set<Substring> = ["struct", "class", "enum", "protocol", "actor", "typealias"]

    /// Type names declared in `code` (nested ones too).
    static func declaredTypes(_ code: String) -> Set<Substring> {
        let words = identifiers(code)
        var names: Set<Substring> = []
        for (keyword, name) in zip(words, words.dropFirst()) where declarationKeywords.contains(keyword) {
            if name.first?.isUppercase == true { names.insert(name) }
        }
        return names
    }

    func testSourcesUseOnlyTheirOwnAndEarlierLayers() throws {
        var files: [[(name: String, code: String)]] = []
        for layer in Self.layers { files.append(try Self.files(of: layer)) }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: Self.sources.path)).subtracting(["Nightjar.swift"]),
                       Set(Self.layers), "every folder of Sources/Nightjar has its place in `layers`")
        // The earliest layer declaring each name (a name declared in two layers counts as the earlier's).
        var layerOf: [Substring: Int] = [:]
        for (index, layerFiles) in files.enumerated() {
            for file in layerFiles {
                for name in Self.declaredTypes(file.code) where layerOf[name] == nil { layerOf[name] = index }
            }
        }
        XCTAssertGreaterThan(layerOf.count, 100, "the declarations were found")
        XCTAssertEqual(layerOf["Restorer"], Self.layers.firstIndex(of: "Service"))
        XCTAssertEqual(layerOf["MemoryPlan"], Self.layers.firstIndex(of: "Plan"))
        var upward: [String] = []
        for (index, layerFiles) in files.enumerated() {
            for file in layerFiles {
                for name in Set(Self.identifiers(file.code)) {
                    if let owner = layerOf[name], owner > index {
                        upward.append("\(file.name) uses \(name) (\(Self.layers[owner]))")
                    }
                }
            }
        }
        XCTAssertEqual(upward.sorted(), [], "a layer reaches into a later one")
    }

    /// The check finds what it is meant to find.
    func testAnUpwardReferenceIsFound() {
        let declared = Self.declaredTypes("public final class FrameEngine: FrameNetwork {\n    enum Mode { case a }\n}\nstruct Plan {}")
        XCTAssertEqual(declared, ["FrameEngine", "Mode", "Plan"])
        XCTAssertTrue(Set(Self.identifiers("let x = RestoreReport.int8ClippedWarningShare // Restorer")).contains("RestoreReport"))
    }
}
