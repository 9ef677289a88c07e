import Foundation
@testable import Nightjar
import XCTest

/// `MemoryFootprint`'s terms against the engine they describe. (The prediction against a
/// measured restore is in `CommandLineTests`.)
final class FootprintTests: XCTestCase {
    /// The published network with zero weights: the plan depends only on the architecture.
    static func zeroModel(_ architecture: Architecture = .published) throws -> NightjarModel {
        var tensors: [String: SafeTensorsFile.Tensor] = [:]
        for spec in architecture.convolutions {
            tensors[spec.weightName] = .init(shape: spec.weightShape, values: [Float](repeating: 0, count: spec.weightCount))
            if spec.bias { tensors[spec.biasName] = .init(shape: [spec.outChannels], values: [Float](repeating: 0, count: spec.outChannels)) }
        }
        return try NightjarModel(architecture: architecture,
                                 provenance: .init(checkpointName: "zeros", checkpointSHA256: "", keyLayout: "official"),
                                 tensors: tensors)
    }

    let baseline = MemoryFootprint.RuntimeBaseline(residentBytes: 20 << 20, anonymousBytes: 2 << 20)

    func footprint(width: Int, height: Int, bands: StreamSchedule.Bands = .init(), threads: Int = 2,
                   rotated: Bool = false, bits: Int = 8) throws -> (MemoryFootprint, StreamingEngine) {
        let engine = try StreamingEngine(model: try Self.zeroModel(), maxHeight: FramePadding.paddedLength(height),
                                         maxWidth: FramePadding.paddedLength(width), bands: bands, threads: threads)
        return (MemoryFootprint(engine: engine, width: width, height: height, baseline: baseline, rotated: rotated, bits: bits), engine)
    }

    func testArenaAndBranchesComeFromTheEnginesPlan() throws {
        let (f, engine) = try footprint(width: 4256, height: 2848)
        XCTAssertEqual(f.arenaBytes, engine.plan.arenaBytes)
        XCTAssertEqual(f.buffers.map(\.bytes), engine.plan.requests.map(\.bytes))
        XCTAssertEqual(f.buffers.map(\.offset), engine.plan.offsets)
        // The network's scales (REFERENCE.md §1): 1/32, 1/8, 1/2; the input's Bayer phases and the
        // output's 12 planes are 1/2-scale windows, so nothing is held at full resolution.
        XCTAssertEqual(f.branches.map(\.divisor), [32, 8, 2])
        XCTAssertEqual(f.branches.reduce(0) { $0 + $1.bytes }, engine.plan.requests.reduce(0) { $0 + $1.bytes })
        func divisor(of name: String) -> Int? { f.buffers.first { $0.name.hasPrefix(name + " [") }?.divisor }
        XCTAssertEqual(divisor(of: "input.in32"), 32)
        XCTAssertEqual(divisor(of: "in8"), 8)
        XCTAssertEqual(divisor(of: "input.phases"), 2)
        XCTAssertEqual(divisor(of: "output.phases"), 2)
        // The ends: 4 phase planes in, 12 planes out, at half the width, 4-byte floats.
        let schedule = engine.schedule
        let ends = f.buffers.filter { $0.name.hasPrefix("input.phases [") || $0.name.hasPrefix("output.phases [") }
        XCTAssertEqual(ends.map(\.bytes), [engine.plannedWindowRows[schedule.inputBuffers[0]] * 4 * 2128 * 4,
                                          engine.plannedWindowRows[schedule.outputBuffer] * 12 * 2128 * 4])
        // Windows of the two passes share space: the branches add up to more than the arena.
        XCTAssertGreaterThan(f.branches.reduce(0) { $0 + $1.bytes }, f.arenaBytes)
    }

    func testBandsChangeTheArenaAsTheEngineDoes() throws {
        let wide = StreamSchedule.Bands(lowResolutionRows: 2, outputRows: 64)
        let (a, _) = try footprint(width: 1536, height: 1024)
        let (b, engine) = try footprint(width: 1536, height: 1024, bands: wide)
        XCTAssertEqual(b.arenaBytes, engine.plan.arenaBytes)
        XCTAssertGreaterThan(b.arenaBytes, a.arenaBytes)
        XCTAssertEqual(b.secondPassArenaBytes, engine.secondPassBytes)
        XCTAssertGreaterThan(b.secondPassArenaBytes, a.secondPassArenaBytes)
        XCTAssertEqual(b.predictedPeakRSSBytes - a.predictedPeakRSSBytes, b.arenaAndWriterBytes - a.arenaAndWriterBytes)
    }

    func testTermsFollowTheFrame() throws {
        // Sides are padded to multiples of 32 for the engine; the mosaic keeps the visible size.
        let (f, engine) = try footprint(width: 4250, height: 2845, threads: 3)
        XCTAssertEqual([f.paddedWidth, f.paddedHeight], [4256, 2848])
        XCTAssertEqual([engine.maxWidth, engine.maxHeight], [4256, 2848])
        XCTAssertEqual(f.mosaicBytes, 2 * 4250 * 2845)
        XCTAssertEqual(f.decoderBufferBytes, 2 * 4250 * 2845)
        XCTAssertEqual(f.weightBytes, engine.weightBytes)
        XCTAssertEqual(f.modelBytes, Architecture.published.parameterCount * 4)
        XCTAssertEqual(f.threadStacksBytes, 2 * MemoryFootprint.threadStackBytes)
        XCTAssertEqual(f.decoderTransferBytes, 4 * 256 * 1024, "every slot touched")
        XCTAssertEqual(f.inputRowsBytes, 4 * 65536 * 4 + 8 * 4256)
        XCTAssertEqual(f.framePeakBytes,
                       baseline.residentBytes + MemoryFootprint.runtimeGrowthBytes + f.weightBytes + f.mosaicBytes
                           + f.inputRowsBytes + f.arenaAndWriterBytes + f.threadStacksBytes + f.decoderTransferBytes)
        // The first pass's windows and the second's with the PNG writer are never resident
        // together: the larger counts.
        XCTAssertEqual(f.secondPassArenaBytes, engine.secondPassBytes)
        XCTAssertLessThan(f.secondPassArenaBytes, f.arenaBytes)
        XCTAssertEqual(f.arenaAndWriterBytes, max(f.arenaBytes, f.secondPassArenaBytes + f.pngWriterBytes))
        // A 12 MP frame peaks while it runs; the combined peak adds only the child's private memory.
        XCTAssertEqual(f.predictedPeakRSSBytes, f.framePeakBytes)
        XCTAssertEqual(f.predictedCombinedPeakBytes - f.predictedPeakRSSBytes, f.decoderPrivateBytes)
        XCTAssertEqual(f.decoderPrivateBytes, f.decoderBufferBytes + MemoryFootprint.decoderFixedOverheadBytes + f.decoderBufferBytes / 8)
        // The child's resident set counts what it shares with the parent: the weights, the
        // baseline's anonymous pages and the transfer slots, not the arena (kept out of it).
        XCTAssertEqual(f.predictedDecoderPeakRSSBytes, f.decoderPrivateBytes + f.weightBytes + baseline.anonymousBytes
                           + MemoryFootprint.decoderSharedLibraryBytes + f.decoderTransferBytes)
    }

    func testTinyFramesPeakWhileTheModelLoads() throws {
        let (f, _) = try footprint(width: 32, height: 32)
        XCTAssertEqual(f.decoderTransferBytes, 4096, "2 KiB of pixels touch one page of the slots")
        XCTAssertEqual(f.predictedPeakRSSBytes, f.startupPeakBytes)
        // Loading holds the model's FP32 tensors and the packed weights made from them.
        XCTAssertEqual(f.startupPeakBytes, baseline.residentBytes + MemoryFootprint.runtimeGrowthBytes + f.modelBytes + f.weightBytes)
        XCTAssertGreaterThan(f.startupPeakBytes, f.framePeakBytes)
    }

    func testRotatedFramesAreHeldByThePNGWriter() throws {
        for bits in [8, 16] {
            let (upright, _) = try footprint(width: 1536, height: 1024, bits: bits)
            let (rotated, _) = try footprint(width: 1536, height: 1024, rotated: true, bits: bits)
            // Held at the output's depth: 3 samples of 1 or 2 bytes per pixel.
            XCTAssertEqual(rotated.heldFrameBytes, 3 * (bits / 8) * 1536 * 1024)
            XCTAssertGreaterThanOrEqual(rotated.pngWriterBytes - upright.pngWriterBytes, rotated.heldFrameBytes)
            // The held frame stays beside whichever pass peaks; the rest of the writer counts
            // only with the second pass's windows.
            XCTAssertEqual(rotated.predictedPeakRSSBytes - upright.predictedPeakRSSBytes,
                           rotated.arenaAndWriterBytes - upright.arenaAndWriterBytes)
            XCTAssertEqual(rotated.arenaAndWriterBytes - rotated.heldFrameBytes,
                           max(rotated.arenaBytes, rotated.secondPassArenaBytes + rotated.pngWriterBytes - rotated.heldFrameBytes))
            XCTAssertEqual(upright.pngWriterBytes, try footprint(width: 1536, height: 1024, bits: 24 - bits).0.pngWriterBytes,
                           "the depth matters only for a held frame")
        }
    }

    func testSuggestedMemoryMaxIsWholeMebibytesWithHeadroom() throws {
        for (width, height) in [(640, 480), (4256, 2848), (6000, 4000)] {
            let (f, _) = try footprint(width: width, height: height)
            let mebibyte = 1 << 20
            let floor = Double(f.predictedCombinedPeakBytes) * (1 + MemoryFootprint.headroom)
            XCTAssertEqual(f.suggestedMemoryMaxBytes % mebibyte, 0)
            XCTAssertGreaterThanOrEqual(Double(f.suggestedMemoryMaxBytes), floor)
            XCTAssertLessThan(Double(f.suggestedMemoryMaxBytes), floor + Double(mebibyte))
            XCTAssertEqual(f.suggestedMemoryMax, "\(f.suggestedMemoryMaxBytes / mebibyte)M")
        }
    }
}
