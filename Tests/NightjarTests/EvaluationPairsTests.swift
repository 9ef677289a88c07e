import Foundation
@testable import Nightjar
import XCTest

/// Finding short/long pairs: SID's names, CSV lists and EXIF exposure times.
final class EvaluationPairsTests: XCTestCase {
    func touch(_ names: [String], in directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try names.map { name in
            let url = directory.appendingPathComponent(name)
            try Data().write(to: url)
            return url
        }
    }

    func testSIDNames() {
        let name = SIDName("10003_00_0.1s.ARW")
        XCTAssertEqual(name?.scene, "10003")
        XCTAssertEqual(name?.shot, "00")
        XCTAssertEqual(name?.exposure, 0.1)
        XCTAssertEqual(SIDName("10003_00_10s.ARW")?.exposure, 10)
        XCTAssertEqual(SIDName("00001_01_0.033s.RAF")?.exposure, 0.033)
        XCTAssertEqual(SIDName("20211_09_0.04s.ARW")?.shot, "09")
        XCTAssertEqual(SIDName("10003_00_30s")?.exposure, 30)
        for bad in ["IMG_0001.ARW", "10003_00_10.ARW", "10003_xx_10s.ARW", "a_b_00_0.1s.ARW", "10003_00_0s.ARW",
                    "10003_00_.s.ARW", "10003_00_1e3s.ARW", "_00_0.1s.ARW", "10003__0.1s.ARW", "10003_00_-1s.ARW"] {
            XCTAssertNil(SIDName(bad), bad)
        }
    }

    /// SID's layout: shorts in one directory, longs in another; ratios 100, 250, 300 and a
    /// capped 303; what cannot be paired comes back with a reason.
    func testMatchingSIDDirectories() throws {
        let root = try makeTemporaryDirectory(self)
        let shortDir = root.appendingPathComponent("short"), longDir = root.appendingPathComponent("long")
        _ = try touch(["10003_00_0.1s.ARW", "10003_01_0.04s.ARW", "10003_02_0.033s.ARW", "10016_00_0.1s.ARW",
                       "10040_00_0.1s.ARW", "IMG_0001.ARW", "notes.txt"], in: shortDir)
        _ = try touch(["10003_00_10s.ARW", "10016_00_30s.ARW", "10016_01_30s.ARW", "10199_00_10s.ARW"], in: longDir)
        let found = try EvaluationPairs.collect([shortDir, longDir, root.appendingPathComponent("typo")])
        let pairs = found.pairs.map { ($0.short.lastPathComponent, $0.long.lastPathComponent, $0.ratio ?? -1) }
        XCTAssertEqual(pairs.count, 4)
        let expected: [(String, String, Double)] = [
            ("10003_00_0.1s.ARW", "10003_00_10s.ARW", 100), ("10003_01_0.04s.ARW", "10003_00_10s.ARW", 250),
            ("10003_02_0.033s.ARW", "10003_00_10s.ARW", 300), ("10016_00_0.1s.ARW", "10016_00_30s.ARW", 300),
        ]
        for (got, want) in zip(pairs, expected) {
            XCTAssertEqual(got.0, want.0)
            XCTAssertEqual(got.1, want.1)
            XCTAssertEqual(got.2, want.2, accuracy: 1e-9, got.0)
        }
        XCTAssertEqual(found.pairs[0].long, longDir.appendingPathComponent("10003_00_10s.ARW"))
        // Reported, not dropped: a second long exposure, a scene with one file each, a
        // name SID's layout does not explain. (notes.txt is not a RAW file.)
        let unpaired = Dictionary(uniqueKeysWithValues: found.unpaired.map { (URL(fileURLWithPath: $0.path).lastPathComponent, $0.reason) })
        XCTAssertEqual(Set(unpaired.keys), ["10016_01_30s.ARW", "10040_00_0.1s.ARW", "10199_00_10s.ARW", "IMG_0001.ARW", "typo"])
        XCTAssertEqual(unpaired["typo"], "no such file or directory")
        XCTAssertTrue(unpaired["10016_01_30s.ARW"]!.contains("10016_00_30s.ARW"))
        XCTAssertTrue(unpaired["10040_00_0.1s.ARW"]!.contains("no other exposure of scene 10040"))
        XCTAssertTrue(unpaired["IMG_0001.ARW"]!.contains("CSV"))
    }

    func testCSV() throws {
        let root = try makeTemporaryDirectory(self)
        let csv = root.appendingPathComponent("pairs.csv")
        try """
            short,long,ratio
            # a comment

            a/dark.dng, a/bright.dng ,100
            "/abs/dark 2.dng","/abs/bright 2.dng",1000
            s/10003_00_0.1s.ARW,l/10003_00_10s.ARW
            x.dng,y.dng
            only-one.dng
            p.dng,q.dng,fast
            p.dng,q.dng,-3\r
            """.write(to: csv, atomically: true, encoding: .utf8)
        let found = try EvaluationPairs.readCSV(csv)
        XCTAssertEqual(found.pairs, [
            EvaluationPair(short: root.appendingPathComponent("a/dark.dng"), long: root.appendingPathComponent("a/bright.dng"), ratio: 100),
            EvaluationPair(short: URL(fileURLWithPath: "/abs/dark 2.dng"), long: URL(fileURLWithPath: "/abs/bright 2.dng"), ratio: 300),
            EvaluationPair(short: root.appendingPathComponent("s/10003_00_0.1s.ARW"), long: root.appendingPathComponent("l/10003_00_10s.ARW"), ratio: 100),
            EvaluationPair(short: root.appendingPathComponent("x.dng"), long: root.appendingPathComponent("y.dng"), ratio: nil),
        ])
        XCTAssertEqual(found.unpaired.map(\.path), ["\(csv.path) line 8", "\(csv.path) line 9", "\(csv.path) line 10"])
        XCTAssertThrowsError(try EvaluationPairs.readCSV(root.appendingPathComponent("missing.csv"))) { error in
            XCTAssertTrue("\(error)".contains("missing.csv"))
        }
    }

    /// Without a ratio in the names or the CSV, the files' EXIF ExposureTime gives it.
    func testExposureRatioFromEXIF() throws {
        let root = try makeTemporaryDirectory(self)
        var short = SyntheticScene.darkCapture(SyntheticScene.render(width: 32, height: 32))
        short.exposureTime = 0.1
        var long = short
        long.exposureTime = 10
        var bare = short
        bare.exposureTime = nil
        let shortURL = try CaptureFixtures.write(short, named: "a.dng", in: root)
        let longURL = try CaptureFixtures.write(long, named: "b.dng", in: root)
        let bareURL = try CaptureFixtures.write(bare, named: "c.dng", in: root)
        XCTAssertEqual(try XCTUnwrap(EvaluationPairs.exposureTime(longURL)), 10, accuracy: 1e-6)
        XCTAssertEqual(try EvaluationPairs.exposureRatio(EvaluationPair(short: shortURL, long: longURL, ratio: nil)), 100, accuracy: 1e-4)
        XCTAssertNil(try EvaluationPairs.exposureTime(bareURL))
        XCTAssertThrowsError(try EvaluationPairs.exposureRatio(EvaluationPair(short: bareURL, long: longURL, ratio: nil))) { error in
            XCTAssertTrue("\(error)".contains("c.dng: records no exposure time"), "\(error)")
        }
        XCTAssertThrowsError(try EvaluationPairs.exposureTime(root.appendingPathComponent("none.dng")))
    }
}
