import Foundation
import XCTest
@testable import Nightjar

/// Expanding INPUT... and -o into jobs, and running a batch.
final class CaptureBatchTests: XCTestCase {
    private func touch(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data().write(to: url)
    }

    func testDirectoriesExpandToRawFilesNextToThemselves() throws {
        let root = try makeTemporaryDirectory(self)
        for name in ["b.NEF", "a.dng", "c.txt", ".hidden.dng", "sub/d.arw", "e.Cr3", "f.png"] {
            try touch(root.appendingPathComponent(name))
        }
        let jobs = try RestoreBatch.plan(inputs: [root])
        XCTAssertEqual(jobs.map(\.input.lastPathComponent), ["a.dng", "b.NEF", "e.Cr3"])
        XCTAssertEqual(jobs.map { $0.output.path }, ["a.png", "b.png", "e.png"].map { root.appendingPathComponent($0).path })

        let all = try RestoreBatch.plan(inputs: [root], recursive: true)
        XCTAssertEqual(all.map(\.input.lastPathComponent), ["a.dng", "b.NEF", "e.Cr3", "d.arw"])
        XCTAssertEqual(all.last?.output.path, root.appendingPathComponent("sub/d.png").path)

        XCTAssertTrue(RestoreBatch.isRawFile(URL(fileURLWithPath: "/x/IMG_0001.CR2")))
        XCTAssertFalse(RestoreBatch.isRawFile(URL(fileURLWithPath: "/x/IMG_0001.jpg")))
    }

    func testOutputFileForOneInputAndDirectoryForMany() throws {
        let root = try makeTemporaryDirectory(self)
        let a = root.appendingPathComponent("in/a.dng"), b = root.appendingPathComponent("in/b.arw")
        try touch(a)
        try touch(b)

        // One input, -o FILE.
        let file = root.appendingPathComponent("restored.png")
        XCTAssertEqual(try RestoreBatch.plan(inputs: [a], output: file), [RestoreJob(input: a, output: file)])

        // Several inputs, -o DIR (created).
        let out = root.appendingPathComponent("out")
        let jobs = try RestoreBatch.plan(inputs: [a, b], output: out)
        XCTAssertEqual(jobs.map(\.output), [out.appendingPathComponent("a.png"), out.appendingPathComponent("b.png")])
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path, isDirectory: &isDirectory) && isDirectory.boolValue)

        // One input and an existing directory: into the directory.
        XCTAssertEqual(try RestoreBatch.plan(inputs: [a], output: out).first?.output, out.appendingPathComponent("a.png"))
        // A trailing slash names a directory even for one input.
        let slash = URL(fileURLWithPath: root.appendingPathComponent("slash").path + "/")
        XCTAssertEqual(try RestoreBatch.plan(inputs: [a], output: slash).first?.output.lastPathComponent, "a.png")

        // Several inputs and an existing file as -o: a usage error.
        XCTAssertThrowsError(try RestoreBatch.plan(inputs: [a, b], output: a)) { error in
            guard case CaptureError.invalidArgument? = error as? CaptureError else { return XCTFail("\(error)") }
        }
        // Two inputs that would write one output.
        let twin = root.appendingPathComponent("in/a.nef")
        try touch(twin)
        XCTAssertThrowsError(try RestoreBatch.plan(inputs: [root.appendingPathComponent("in")])) { error in
            guard case CaptureError.invalidArgument(let message)? = error as? CaptureError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("a.png"), message)
        }
        XCTAssertThrowsError(try RestoreBatch.plan(inputs: []))
        // Missing files are kept: restoreCapture reports them one by one.
        let missing = root.appendingPathComponent("gone.dng")
        XCTAssertEqual(try RestoreBatch.plan(inputs: [missing]).first?.output, root.appendingPathComponent("gone.png"))
    }

    func testBatchGoesOnAfterAFailure() throws {
        let root = try makeTemporaryDirectory(self)
        let scene = SyntheticScene.render(width: 40, height: 30)
        let good = try CaptureFixtures.write(SyntheticScene.darkCapture(scene), named: "good.dng", in: root)
        let bad = root.appendingPathComponent("bad.dng")
        try Data("not a raw".utf8).write(to: bad)
        let jobs = try RestoreBatch.plan(inputs: [bad, good])
        var calls: [Int] = []
        let outcomes = try RestoreBatch.run(jobs, options: RestoreOptions(), modelName: "m",
                                            network: CaptureFixtures.affineNetwork(alignedHeight: 30, alignedWidth: 40)) { i, n, _ in
            XCTAssertEqual(n, 2)
            calls.append(i)
        }
        XCTAssertEqual(calls, [0, 1])
        XCTAssertFalse(outcomes[0].succeeded)
        XCTAssertTrue(outcomes[1].succeeded)
        XCTAssertEqual(RestoreExitStatus(outcomes: outcomes), .partialFailure)
        XCTAssertEqual(RestoreExitStatus(outcomes: [outcomes[1]]), .allRestored)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("good.png").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("bad.png").path))
        XCTAssertThrowsError(try RestoreBatch.run(jobs, options: RestoreOptions(bits: 7), modelName: "m") { _, _, _, _ in })
    }
}

/// The synthetic scene and its dark capture (the demo's input).
final class CaptureSyntheticSceneTests: XCTestCase {
    func testSceneIsDeterministicAndHasItsParts() {
        let a = SyntheticScene.render(width: 120, height: 90)
        XCTAssertEqual(a, SyntheticScene.render(width: 120, height: 90))
        // Grey ramp at the top: black on the left, white on the right, neutral.
        XCTAssertEqual(a[0, 0, 0], 0)
        XCTAssertEqual(a[0, 119, 1], 1, accuracy: 1e-6)
        XCTAssertEqual(a[2, 60, 0], a[2, 60, 2])
        // A chart patch (row 1, column 3 of the chart: "red" is patch 15 = row 2, col 2).
        let chartTop = 90 * 22 / 100, cellH = Double(90 * 70 / 100 - chartTop) / 4
        let red = (Int(Double(chartTop) + 2.5 * cellH), Int(2.5 * 120.0 / 6))
        XCTAssertGreaterThan(a[red.0, red.1, 0], 3 * a[red.0, red.1, 1])
        // Lettering: some bright, near-neutral pixels in the bottom band.
        var lit = 0
        for row in (90 * 70 / 100)..<90 {
            for col in 0..<120 where a[row, col, 0] > 0.8 && a[row, col, 2] > 0.8 { lit += 1 }
        }
        XCTAssertGreaterThan(lit, 40)
        XCTAssertEqual(a.sRGB8().count, 120 * 90 * 3)
    }

    func testDarkCaptureDecodesToWhatWasWritten() throws {
        let directory = try makeTemporaryDirectory(self)
        let scene = SyntheticScene.render(width: 96, height: 64)
        for (cfa, bits) in [(CFAPattern.rggb, 14), (.bggr, 12), (.gbrg, 10)] {
            let exposure = SyntheticScene.Exposure(cfa: cfa, bits: bits, exposureRatio: 100, orientation: 6)
            let dng = SyntheticScene.darkCapture(scene, exposure: exposure)
            XCTAssertEqual(dng.samples, SyntheticScene.darkCapture(scene, exposure: exposure).samples, "seeded")
            let url = try CaptureFixtures.write(dng, named: "\(cfa.rawValue).dng", in: directory)
            let frame = try RawDecoder().decode(url)
            XCTAssertEqual(frame.mosaic, dng.samples)
            XCTAssertEqual(frame.cfa, cfa)
            XCTAssertEqual(frame.flip, 6)
            XCTAssertEqual(frame.black, [Double](repeating: Double(exposure.blackLevel), count: 4))
            XCTAssertEqual(frame.white, Double((1 << bits) - 1))
            // Dark: the mean sits a little above black, far below white.
            let mean = Double(frame.mosaic.reduce(0) { $0 + Int($1) }) / Double(frame.mosaic.count)
            XCTAssertGreaterThan(mean, Double(exposure.blackLevel))
            XCTAssertLessThan(mean, Double(exposure.blackLevel) + 0.02 * (frame.white - Double(exposure.blackLevel)))
            let a = CapturePipeline.amplification(of: frame)
            XCTAssertGreaterThan(a, 1)
            XCTAssertLessThanOrEqual(a, 300)
        }
        // The ground truth can be written as a PNG (the demo's reference image).
        let truth = directory.appendingPathComponent("truth.png")
        try CaptureOutput.writePNG(scene.sRGB8(), width: 96, height: 64, bits: 8, to: truth)
        XCTAssertEqual(try Data(contentsOf: truth).prefix(4), Data([0x89, 0x50, 0x4E, 0x47]))
        XCTAssertThrowsError(try CaptureOutput.writePNG(scene.sRGB8(), width: 96, height: 64, bits: 8, to: truth))
    }
}

final class CapturePreviewTests: XCTestCase {
    func testHalfSizePreviewBinsAlignedQuads() throws {
        // GRBG 6x4: after dropping the first column, quads are R G / G B of columns 1...4.
        let mosaic: [UInt16] = [
            0, 1100, 0, 600, 0, 0,
            0, 0, 1100, 0, 100, 0,
            0, 100, 0, 100, 0, 0,
            0, 0, 100, 0, 100, 0,
        ]
        let frame = BayerFrame(width: 6, height: 4, mosaic: mosaic, cfa: .grbg, black: [100, 100, 100, 100], white: 1100)
        let preview = CapturePreview.halfSize(frame)
        XCTAssertEqual(preview.width, 2)
        XCTAssertEqual(preview.height, 2)
        // Quad (0,0): R = 1 -> 255, G = (0 + 0)/2 -> 0, B = 1 -> 255.
        XCTAssertEqual(Array(preview.samples[0..<3]), [255, 0, 255])
        // Quad (0,1): R = 0.5 -> sRGB 188, G = 0, B = 0.
        XCTAssertEqual(Array(preview.samples[3..<6]), [188, 0, 0])
        XCTAssertEqual(Array(preview.samples[6..<12]), [0, 0, 0, 0, 0, 0])
    }
}
