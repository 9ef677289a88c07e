import Foundation
import MallocCounter
@testable import Nightjar
import XCTest

/// After warm-up, running a frame makes no heap allocation at all. Counted in optimised
/// builds only: unoptimised Swift boxes values in unspecialised generic code, which the shipped
/// binary never does. `scripts/test.sh` runs every suite with `-c release`.
final class AllocationTests: XCTestCase {
    private static let cache = ModelCache()

    private func requireOptimisedBuild() throws {
        #if DEBUG
        throw XCTSkip("SKIPPED: allocation counts need an optimised build (scripts/test.sh runs the suites with `swift test -c release`)")
        #endif
    }

    func testCounterSeesAllocations() {
        nj_malloc_counter_start()
        let array = [Int](repeating: 7, count: Int.random(in: 1000...2000))
        let counted = nj_malloc_counter_stop()
        XCTAssertGreaterThan(counted, 0)
        XCTAssertEqual(array[0], 7)
    }

    func testStreamingFrameMakesNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let (height, width) = (192, 256)
        let engine = try StreamingEngine(model: model, maxHeight: height, maxWidth: width, threads: 2)
        let input = StreamingTests.input(height: height, width: width, seed: 5)
        var output = [Float](repeating: 0, count: 3 * height * width)
        try input.withUnsafeBufferPointer { inputs in
            try output.withUnsafeMutableBufferPointer { outputs in
                let (i, o) = (inputs.baseAddress!, outputs.baseAddress!)
                try engine.run(input: i, output: o, height: height, width: width)  // warm-up
                nj_malloc_counter_start()
                try engine.run(input: i, output: o, height: height, width: width)
                let counted = nj_malloc_counter_stop()
                XCTAssertEqual(counted, 0, "heap allocations while running a frame")
                // Timed step by step (`bench --layers`): still none.
                let steps = engine.makeStepTimes()
                engine.stepTimes = steps
                nj_malloc_counter_start()
                try engine.run(input: i, output: o, height: height, width: width)
                let countedTimed = nj_malloc_counter_stop()
                engine.stepTimes = nil
                XCTAssertEqual(countedTimed, 0, "heap allocations while running a frame timed step by step")
                XCTAssertGreaterThan(engine.layerTimes(steps).reduce(0) { $0 + $1.calls }, 0)
            }
        }
        XCTAssertGreaterThan(output.max()!, 0)
    }

    /// The same in FP16 (conversions at the ends, f16 kernels) and in int8 with FP16 layers
    /// mixed in (conversions between the types), from a model calibrated here.
    func testReducedPrecisionFramesMakeNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let (height, width) = (192, 256)
        let input = StreamingTests.input(height: height, width: width, seed: 5)
        var options = ModelQuantizer.Options()
        options.threads = 2
        options.targetPSNR = 1
        let (allInt8, _) = try ModelQuantizer(options: options).quantize(
            model, inputs: [.init(name: "a", values: input, height: height, width: width)])
        // Every third layer FP16: conversions between the types in both directions.
        let specs = model.architecture.convolutions
        let mixed = specs.indices.map { $0 % 3 == 1 ? Precision.fp16 : .int8 }
        var tensors = allInt8.tensors
        for (spec, precision) in zip(specs, mixed) where precision == .fp16 {
            for name in ModelQuantization.names(spec) { tensors[name] = nil }
        }
        let quantized = try NightjarModel(architecture: model.architecture, provenance: model.provenance, tensors: tensors,
                                          layerPrecisions: mixed)
        for (network, precision) in [(model, Precision.fp16), (quantized, .int8)] {
            let engine = try StreamingEngine(model: network, maxHeight: height, maxWidth: width, threads: 2, precision: precision)
            var output = [Float](repeating: 0, count: 3 * height * width)
            try input.withUnsafeBufferPointer { inputs in
                try output.withUnsafeMutableBufferPointer { outputs in
                    let (i, o) = (inputs.baseAddress!, outputs.baseAddress!)
                    try engine.run(input: i, output: o, height: height, width: width)  // warm-up
                    nj_malloc_counter_start()
                    try engine.run(input: i, output: o, height: height, width: width)
                    XCTAssertEqual(nj_malloc_counter_stop(), 0, "heap allocations while running a \(precision) frame")
                }
            }
            XCTAssertGreaterThan(output.max()!, 0)
        }
    }

    func testWholeFrameEngineMakesNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let engine = try Engine(model: model, maxHeight: 64, maxWidth: 96, threads: 2)
        let input = StreamingTests.input(height: 64, width: 96, seed: 6)
        var output = [Float](repeating: 0, count: 3 * 64 * 96)
        try input.withUnsafeBufferPointer { inputs in
            try output.withUnsafeMutableBufferPointer { outputs in
                try engine.run(input: inputs.baseAddress!, output: outputs.baseAddress!, height: 64, width: 96)
                nj_malloc_counter_start()
                try engine.run(input: inputs.baseAddress!, output: outputs.baseAddress!, height: 64, width: 96)
                XCTAssertEqual(nj_malloc_counter_stop(), 0)
            }
        }
    }

    // MARK: - The capture path

    /// Frames of two sizes (visible pixels); the fixed workspace and engine are made for the
    /// larger, in either orientation.
    private static let sizes = [(width: 200, height: 150), (width: 150, height: 106)]

    /// A dark synthetic capture as DNG. `variant` changes the noise, the exposure, the sensor's
    /// depth and the CFA, so the warm-up and the counted frame differ in everything but size.
    private func capture(width: Int, height: Int, orientation: Int, variant: Int, in directory: URL) throws -> URL {
        var exposure = SyntheticScene.Exposure(cfa: variant == 0 ? .rggb : .bggr, bits: variant == 0 ? 12 : 14,
                                               exposureRatio: variant == 0 ? 100 : 60, orientation: orientation)
        exposure.seed = UInt64(17 + variant)
        // A camera matrix, so that the default camera colour runs (on the engine's threads).
        exposure.xyzToCamera = CameraModel.named(variant == 0 ? "sony-a7s2" : "canon-5d3")!.xyzToCamera
        let dng = SyntheticScene.darkCapture(SyntheticScene.render(width: width, height: height), exposure: exposure)
        return try CaptureFixtures.write(dng, named: "c\(width)x\(height)-o\(orientation)-v\(variant).dng", in: directory)
    }

    /// `restoreCapture` with `workspace`, counting heap allocations inside the frame step
    /// (`CaptureWorkspace.restoreFrame`) only.
    private func restoreCounting<Network: FrameNetwork>(_ input: URL, to output: URL, options: RestoreOptions,
                                                        network: Network, workspace: CaptureWorkspace) throws -> Int64 {
        var counted: Int64 = -1
        _ = try restoreCapture(input: input, output: output, options: options, modelName: "m", network: network,
                               workspace: workspace) { frame in
            nj_malloc_counter_start()
            defer { counted = nj_malloc_counter_stop() }
            return try frame()
        }
        return counted
    }

    /// The PNG written with a workspace has the pixels and header of the one `restoreCapture`
    /// writes with a workspace of its own (the trailer differs in its timings only).
    private func assertSamePNG<Network: FrameNetwork>(_ output: URL, as input: URL, options: RestoreOptions, network: Network,
                                                      in directory: URL, _ label: String) throws {
        let reference = directory.appendingPathComponent("reference.png")
        _ = try restoreCapture(input: input, output: reference, options: options, modelName: "m", network: network)
        let (got, want) = (try StoredPNG.read(output), try StoredPNG.read(reference))
        XCTAssertEqual([got.width, got.height, got.bits], [want.width, want.height, want.bits], label)
        XCTAssertTrue(got.samples == want.samples, "pixels differ: \(label)")
        XCTAssertEqual(got.text.map(\.key), ["Software", "Source", "Nightjar"], label)
        XCTAssertEqual(got.text.prefix(2).map(\.value), want.text.prefix(2).map(\.value), label)
    }

    /// The requirement: after warm-up, restoring a frame makes no heap allocation. Counted
    /// around `CaptureWorkspace.restoreFrame`, the pixel path of one capture: decoding the DNG
    /// (LibRaw in its forked child) into the workspace, normalisation, alignment, the
    /// amplifier, the streaming FP32 engine, quantisation, orientation, and encoding and writing
    /// the PNG's header and every row into the temporary file. Outside it (they allocate):
    /// checking and naming the files and opening the temporary (before), the report, its JSON
    /// trailer, ending the PNG, the rename, the sidecar (after).
    ///
    /// For each size, depth and orientation: a warm-up frame, then another DNG of that size
    /// counted. A new frame size needs its own warm-up because the engine re-derives its
    /// window heights then (a dry run that allocates, in `StreamingEngine`); the workspace
    /// does not (next test). The first frame of all, rotated, before any warm-up, must allocate
    /// (the held frame is made then): the counter sees allocations in this region.
    ///
    /// Two counts are checked: that the capture path adds nothing to what the engine alone
    /// allocates for a frame of that size (so a regression is attributed to the right side),
    /// and that the whole is zero.
    func testRestoringACaptureMakesNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let directory = try makeTemporaryDirectory(self)
        let largest = Self.sizes[0]
        let engine = try FrameEngine(model: model, threads: 2, maximumSize: (height: largest.height, width: largest.width))
        let workspace = try CaptureWorkspace(maximumWidth: largest.width, maximumHeight: largest.height)
        let output = directory.appendingPathComponent("out.png")
        var first = true
        for size in Self.sizes {
            for bits in [8, 16] {
                for orientation in [6, 1] {
                    let label = "\(size.width)x\(size.height) \(bits)-bit orientation \(orientation)"
                    var options = RestoreOptions(bits: bits, overwrite: true)
                    options.compressionLevel = 0 // StoredPNG reads it back without libpng
                    let warmUp = try capture(width: size.width, height: size.height, orientation: orientation, variant: 0, in: directory)
                    let counted = try capture(width: size.width, height: size.height, orientation: orientation, variant: 1, in: directory)

                    let warmUpAllocations = try restoreCounting(warmUp, to: output, options: options, network: engine, workspace: workspace)
                    if first {
                        XCTAssertGreaterThan(warmUpAllocations, 0, "the first frame allocates (the held frame, made on first need): the counter counts")
                        first = false
                    }
                    let allocations = try restoreCounting(counted, to: output, options: options, network: engine, workspace: workspace)
                    XCTAssertEqual(allocations, try engineAllocations(engine, width: size.width, height: size.height),
                                   "heap allocations of the capture path around the engine: \(label)")
                    XCTAssertEqual(allocations, 0, "heap allocations restoring a frame after warm-up: \(label)")
                    try assertSamePNG(output, as: counted, options: options, network: engine, in: directory, label)
                }
            }
        }
        XCTAssertEqual(workspace.capacityPixels, largest.width * largest.height, "a fixed workspace never grows")
    }

    /// An int8 restorer with an FP16 fallback (`--int8-fallback fp16`): once each engine has
    /// run a frame, frames on either make no heap allocation, switching in both directions.
    func testInt8FallbackFramesMakeNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let directory = try makeTemporaryDirectory(self)
        let size = Self.sizes[0]
        let engine = try FrameEngine(model: Int8EngineTests.int8Model(), threads: 2, maximumSize: (height: size.height, width: size.width),
                                     precision: .int8, int8Fallback: .fp16)
        let workspace = try CaptureWorkspace(maximumWidth: size.width, maximumHeight: size.height, mosaicCodes: true)
        let output = directory.appendingPathComponent("out.png")
        var options = RestoreOptions(overwrite: true)
        options.compressionLevel = 0
        let warmUp = try capture(width: size.width, height: size.height, orientation: 1, variant: 0, in: directory)
        let counted = try capture(width: size.width, height: size.height, orientation: 1, variant: 1, in: directory)
        // The share the fallback takes from: 0, every frame; infinity, none.
        for share in [0, Double.infinity] {
            engine.fallbackShare = share
            _ = try restoreCounting(warmUp, to: output, options: options, network: engine, workspace: workspace)
        }
        for share in [0, .infinity, 0, Double.infinity] {
            engine.fallbackShare = share
            let allocations = try restoreCounting(counted, to: output, options: options, network: engine, workspace: workspace)
            XCTAssertEqual(allocations, 0, "heap allocations restoring a frame on the \(share == 0 ? "fallback" : "int8 network")")
        }
    }

    /// What the engine alone allocates running a frame of this visible size (warmed up), for the
    /// counted captures' layout (BGGR).
    private func engineAllocations(_ engine: FrameEngine, width: Int, height: Int) throws -> Int64 {
        let size = CapturePipeline.alignedSize(width: width, height: height, offset: CFAPattern.bggr.rggbOffset)
        let (h, w) = (FramePadding.paddedLength(size.height), FramePadding.paddedLength(size.width))
        let streaming = try XCTUnwrap(engine.engine)
        var input = [Float](repeating: 0.01, count: h * w), output = [Float](repeating: 0, count: 3 * h * w)
        return try input.withUnsafeMutableBufferPointer { i in
            try output.withUnsafeMutableBufferPointer { o in
                try streaming.run(input: i.baseAddress!, output: o.baseAddress!, height: h, width: w)
                nj_malloc_counter_start()
                try streaming.run(input: i.baseAddress!, output: o.baseAddress!, height: h, width: w)
                return nj_malloc_counter_stop()
            }
        }
    }

    /// The workspace's side of it: made for the largest frame, it needs one warm-up frame in
    /// all (the largest, 16-bit and rotated: the held frame is made on first need), after which
    /// smaller frames, either depth and either orientation restore without allocating. The
    /// network here is a stand-in that allocates nothing whatever the frame size, unlike the
    /// engine's re-planning on a new size. A growing workspace counts the same once grown.
    func testWorkspaceNeedsOneWarmUpForEverySizeItHolds() throws {
        try requireOptimisedBuild()
        let directory = try makeTemporaryDirectory(self)
        let largest = Self.sizes[0]
        let network = BandNetwork(maxWidth: FramePadding.paddedLength(largest.width))
        let output = directory.appendingPathComponent("out.png")
        // The last: an int8 restore's, holding the frame as 8-bit codes.
        for workspace in [try CaptureWorkspace(maximumWidth: largest.width, maximumHeight: largest.height), CaptureWorkspace(),
                          try CaptureWorkspace(maximumWidth: largest.width, maximumHeight: largest.height, mosaicCodes: true)] {
            let kind = (workspace.maximumSize == nil ? "growing" : "fixed") + (workspace.mosaicCodes ? " codes" : "")
            var options = RestoreOptions(bits: 16, overwrite: true)
            options.compressionLevel = 0
            let warmUp = try capture(width: largest.width, height: largest.height, orientation: 6, variant: 0, in: directory)
            let first = try restoreCounting(warmUp, to: output, options: options, network: network, workspace: workspace)
            if workspace.maximumSize == nil {
                XCTAssertGreaterThan(first, 0, "a growing workspace allocates on its first frame: the counter counts")
            }
            for size in Self.sizes.reversed() {
                for bits in [8, 16] {
                    for orientation in [6, 1] {
                        let label = "\(kind) \(size.width)x\(size.height) \(bits)-bit orientation \(orientation)"
                        options.bits = bits
                        let input = try capture(width: size.width, height: size.height, orientation: orientation, variant: 1, in: directory)
                        let allocations = try restoreCounting(input, to: output, options: options, network: network, workspace: workspace)
                        XCTAssertEqual(allocations, 0, "heap allocations restoring a frame: \(label)")
                        // (Codes may stand for several raw values: MosaicCodesTests compares their images.)
                        if !workspace.mosaicCodes {
                            try assertSamePNG(output, as: input, options: options, network: network, in: directory, label)
                        }
                    }
                }
            }
        }
    }
}
