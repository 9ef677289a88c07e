import Foundation
import XCTest
@testable import Nightjar

/// One `CaptureWorkspace` for many files, as a batch or the daemon uses it: the same PNGs as
/// without one, growth, a fixed size's refusals, and failures that leave it fit for the next
/// file. (Its allocation counts are in `AllocationTests`.)
final class CaptureWorkspaceTests: XCTestCase {
    private func capture(width: Int, height: Int, orientation: Int = 1, cfa: CFAPattern = .grbg, seed: UInt64 = 3,
                         named name: String, in directory: URL) throws -> URL {
        var exposure = SyntheticScene.Exposure(cfa: cfa, bits: 12, exposureRatio: 80, orientation: orientation)
        exposure.seed = seed
        return try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height), exposure: exposure),
                                         named: name, in: directory)
    }

    private func options(bits: Int = 8) -> RestoreOptions {
        var options = RestoreOptions(bits: bits, overwrite: true)
        options.compressionLevel = 0 // StoredPNG reads it back without libpng
        return options
    }

    /// Restores `input` with `workspace` and on its own; both PNGs must hold the same image.
    private func assertSameAsWithoutWorkspace(_ input: URL, workspace: CaptureWorkspace, options: RestoreOptions,
                                              in directory: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let network = BandNetwork(maxWidth: 256)
        let shared = directory.appendingPathComponent("shared.png"), alone = directory.appendingPathComponent("alone.png")
        let a = try restoreCapture(input: input, output: shared, options: options, modelName: "m", network: network, workspace: workspace)
        let b = try restoreCapture(input: input, output: alone, options: options, modelName: "m", network: network)
        let (x, y) = (try StoredPNG.read(shared), try StoredPNG.read(alone))
        XCTAssertEqual([x.width, x.height, x.bits], [y.width, y.height, y.bits], input.lastPathComponent, file: file, line: line)
        XCTAssertTrue(x.samples == y.samples, "\(input.lastPathComponent): pixels differ", file: file, line: line)
        XCTAssertEqual(a.amplification, b.amplification, file: file, line: line)
        XCTAssertEqual(a.cameraMake, b.cameraMake, file: file, line: line)
        XCTAssertEqual([a.outputWidth, a.outputHeight], [b.outputWidth, b.outputHeight], file: file, line: line)
    }

    /// A growing engine is made at its first frame, but before that frame's PNG starts: the
    /// first frame's pieces already go to the engine's threads (no compressor threads of the
    /// encoder's own competing with them), as later frames' do; the image is the same.
    func testFirstFrameLendsTheEnginesThreads() throws {
        let directory = try makeTemporaryDirectory(self)
        let input = try capture(width: 120, height: 90, named: "first.dng", in: directory)
        let engine = try FrameEngine(model: ModelFileTests.syntheticModel(), threads: Engine.availableCores, precision: .fp32)
        XCTAssertNil((engine as WorkerPoolOwner).workerPool, "no engine before the first frame")
        let workspace = CaptureWorkspace()
        let first = directory.appendingPathComponent("first.png"), second = directory.appendingPathComponent("second.png")
        _ = try restoreCapture(input: input, output: first, options: options(), modelName: "m", network: engine, workspace: workspace)
        XCTAssertTrue(workspace.encoder.piecesOnWorkers, "the first frame's PNG pieces on the engine's threads")
        _ = try restoreCapture(input: input, output: second, options: options(), modelName: "m", network: engine, workspace: workspace)
        XCTAssertTrue(try StoredPNG.read(first).samples == StoredPNG.read(second).samples)
    }

    func testGrowingWorkspaceGrowsToTheLargestFrame() throws {
        let directory = try makeTemporaryDirectory(self)
        let workspace = CaptureWorkspace()
        XCTAssertNil(workspace.maximumSize)
        XCTAssertEqual(workspace.capacityPixels, 0)
        let small = try capture(width: 64, height: 48, named: "small.dng", in: directory)
        let large = try capture(width: 120, height: 90, orientation: 6, named: "large.dng", in: directory)
        try assertSameAsWithoutWorkspace(small, workspace: workspace, options: options(), in: directory)
        XCTAssertEqual([workspace.capacityPixels, workspace.capacitySide], [64 * 48, 64])
        try assertSameAsWithoutWorkspace(large, workspace: workspace, options: options(bits: 16), in: directory)
        XCTAssertEqual([workspace.capacityPixels, workspace.capacitySide], [120 * 90, 120])
        // Smaller again: nothing shrinks or grows.
        try assertSameAsWithoutWorkspace(small, workspace: workspace, options: options(bits: 16), in: directory)
        XCTAssertEqual([workspace.capacityPixels, workspace.capacitySide], [120 * 90, 120])
    }

    /// A fixed workspace refuses a larger frame before reading its pixels, in one line, and
    /// leaves no file behind; frames that fit, in either orientation, are restored.
    func testFixedWorkspaceRefusesLargerFrames() throws {
        let directory = try makeTemporaryDirectory(self)
        let workspace = try CaptureWorkspace(maximumWidth: 96, maximumHeight: 64)
        XCTAssertEqual([workspace.capacityPixels, workspace.capacitySide], [96 * 64, 96])
        let input = try capture(width: 100, height: 64, named: "wide.dng", in: directory)
        let output = directory.appendingPathComponent("out.png")
        XCTAssertThrowsError(try restoreCapture(input: input, output: output, options: options(), modelName: "m",
                                                network: BandNetwork(maxWidth: 128), workspace: workspace)) { error in
            XCTAssertEqual(error as? CaptureError, .exceedsMemoryPlan(path: input.path, width: 100, height: 64, maxWidth: 96, maxHeight: 64))
            XCTAssertEqual("\(error)", "\(input.path): the 100x64 frame does not fit the memory planned for frames of 96x64 (raise --max-size)")
        }
        XCTAssertEqual(CaptureFixtures.listing(directory), ["wide.dng"])
        let portrait = try capture(width: 64, height: 96, named: "portrait.dng", in: directory)
        try assertSameAsWithoutWorkspace(portrait, workspace: workspace, options: options(), in: directory)
        XCTAssertEqual([workspace.capacityPixels, workspace.capacitySide], [96 * 64, 96])
        XCTAssertThrowsError(try CaptureWorkspace(maximumWidth: 0, maximumHeight: 64))
    }

    /// Failures at every stage leave the workspace fit for the next file, and no file behind:
    /// a missing input, a damaged one, LibRaw crashing in its child, the network failing after
    /// some rows were encoded (rotated and not), a frame too small.
    func testFailuresLeaveTheWorkspaceFitForTheNextFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let workspace = CaptureWorkspace()
        let good = try capture(width: 96, height: 72, named: "good.dng", in: directory)
        let rotated = try capture(width: 96, height: 72, orientation: 8, cfa: .bggr, seed: 9, named: "rotated.dng", in: directory)
        let bytes = try Data(contentsOf: good)
        let truncated = directory.appendingPathComponent("truncated.dng")
        try bytes.prefix(bytes.count - 1000).write(to: truncated)
        let tiny = try CaptureFixtures.write(DNGImage(width: 3, height: 3, layout: .cfa(.bggr), samples: [UInt16](repeating: 700, count: 9)),
                                             named: "tiny.dng", in: directory)
        let output = directory.appendingPathComponent("out.png")
        let failing = BandNetwork(maxWidth: 256, failAfterBands: 1)
        let inputs = ["good.dng", "rotated.dng", "truncated.dng", "tiny.dng"].map { directory.appendingPathComponent($0) }

        try assertSameAsWithoutWorkspace(rotated, workspace: workspace, options: options(bits: 16), in: directory)
        for (input, network) in [(directory.appendingPathComponent("missing.dng"), BandNetwork(maxWidth: 256)),
                                 (truncated, BandNetwork(maxWidth: 256)), (tiny, BandNetwork(maxWidth: 256)),
                                 (good, failing), (rotated, failing)] {
            XCTAssertThrowsError(try restoreCapture(input: input, output: output, options: options(), modelName: "m",
                                                    network: network, workspace: workspace)) { error in
                XCTAssertEqual((error as? CaptureError)?.path, input.path, "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), input.lastPathComponent)
            XCTAssertEqual(Set(CaptureFixtures.listing(directory)), Set(inputs.map(\.lastPathComponent) + ["alone.png", "shared.png"]))
            try assertSameAsWithoutWorkspace(good, workspace: workspace, options: options(), in: directory)
            try assertSameAsWithoutWorkspace(rotated, workspace: workspace, options: options(bits: 16), in: directory)
        }
    }

    /// The batch runner hands one workspace to every file.
    func testBatchUsesTheGivenWorkspace() throws {
        let directory = try makeTemporaryDirectory(self)
        let inputs = try [(80, 60), (64, 64), (40, 30)].enumerated().map { index, size in
            try capture(width: size.0, height: size.1, orientation: index == 1 ? 6 : 1, named: "f\(index).dng", in: directory)
        }
        let workspace = CaptureWorkspace()
        let jobs = inputs.map { RestoreJob(input: $0, output: $0.deletingPathExtension().appendingPathExtension("png")) }
        let outcomes = try RestoreBatch.run(jobs, options: options(), modelName: "m", network: BandNetwork(maxWidth: 128),
                                            workspace: workspace)
        XCTAssertTrue(outcomes.allSatisfy(\.succeeded))
        XCTAssertEqual([workspace.capacityPixels, workspace.capacitySide], [80 * 60, 80], "grown to the most pixels and the longest side seen")
        for job in jobs {
            let reference = directory.appendingPathComponent("reference.png")
            _ = try restoreCapture(input: job.input, output: reference, options: options(), modelName: "m", network: BandNetwork(maxWidth: 128))
            XCTAssertTrue(try StoredPNG.read(job.output).samples == StoredPNG.read(reference).samples, job.input.lastPathComponent)
        }
    }
}
