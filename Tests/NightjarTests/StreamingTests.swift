import Foundation
@testable import Nightjar
import XCTest

/// Stripe execution against whole-frame execution, bit for bit, whatever the thread count.
final class StreamingTests: XCTestCase {
    private static let cache = ModelCache()

    /// A deterministic dark-frame-like input in [0, 1.5).
    static func input(height: Int, width: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<(height * width)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 1.5
        }
    }

    private func wholeFrame(_ model: NightjarModel, _ input: [Float], _ height: Int, _ width: Int) throws -> [Float] {
        var output = [Float](repeating: .nan, count: 3 * height * width)
        try Engine(model: model, maxHeight: height, maxWidth: width).run(input: input, output: &output, height: height, width: width)
        return output
    }

    /// The arena past the second pass's windows (first-pass windows only) is given back once
    /// the second pass delivers: after a frame none of its pages is resident, while the second
    /// pass's are. At 1536x1024 in FP32 the first pass reaches 78 pages further.
    func testFirstPassWindowsAreGivenBackForTheSecondPass() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let (height, width) = (1024, 1536)
        let engine = try StreamingEngine(model: model, maxHeight: height, maxWidth: width, bands: .init(), threads: 2)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let secondPassPages = (engine.secondPassBytes + page - 1) / page, pages = engine.plan.arenaBytes / page
        XCTAssertGreaterThan(pages, secondPassPages + 8, "the first pass's windows reach past the second pass's")
        func resident() -> [Bool] {
            var vector = [UInt8](repeating: 0, count: pages)
            XCTAssertEqual(mincore(UnsafeMutableRawPointer(bitPattern: engine.arenaAddress), pages * page, &vector), 0)
            return vector.map { $0 & 1 != 0 }
        }
        let input = Self.input(height: height, width: width, seed: 3)
        var output = [Float](repeating: .nan, count: 3 * height * width)
        for frame in 0..<2 {  // the next frame takes the pages again
            try engine.run(input: input, output: &output, height: height, width: width)
            let pagesIn = resident()
            XCTAssertEqual(pagesIn[secondPassPages...].filter { $0 }.count, 0, "frame \(frame): first-pass pages still resident")
            XCTAssertGreaterThan(pagesIn[..<secondPassPages].filter { $0 }.count, secondPassPages / 2, "frame \(frame)")
        }
        XCTAssertEqual(output, try wholeFrame(model, input, height, width))
    }

    func testStripesMatchWholeFrameBitForBit() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        // Heights that bands do not divide evenly, the smallest legal frame, and a golden input.
        let cases: [(Int, Int, [Float])] = [
            (32, 32, Self.input(height: 32, width: 32, seed: 1)),
            (96, 64, Self.input(height: 96, width: 64, seed: 2)),
            (224, 160, Self.input(height: 224, width: 160, seed: 3)),
            (512, 768, try NPYArray.read(contentsOf: try SharedReference.url("golden/tensors/official_512x768_in.npy")).floats()),
        ]
        let bandings: [StreamSchedule.Bands] = [.init(), .init(lowResolutionRows: 1, outputRows: 8),
                                                .init(lowResolutionRows: 3, outputRows: 40), .init(lowResolutionRows: 5, outputRows: 72),
                                                .init(lowResolutionRows: 1, outputRows: 16, wholeBlocks: true),
                                                .init(lowResolutionRows: 2, outputRows: 32, wholeBlocks: true)]
        for (height, width, input) in cases {
            let reference = try wholeFrame(model, input, height, width)
            for bands in bandings {
                for threads in [1, 2, 3] {  // results may not depend on the split
                    let engine = try StreamingEngine(model: model, maxHeight: height, maxWidth: width, bands: bands, threads: threads)
                    var output = [Float](repeating: .nan, count: 3 * height * width)
                    try engine.run(input: input, output: &output, height: height, width: width)
                    let differing = zip(output, reference).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "\(width)x\(height) \(bands) threads \(threads)")
                }
            }
        }
    }

    func testEveryVariantStreams() throws {
        for file in ["variants/canonical-3.pth", "variants/star-2.pth", "variants/star-4.pth"] {
            let model = try Self.cache.model(try SharedReference.url("models/" + file))
            let input = Self.input(height: 128, width: 96, seed: 7)
            let reference = try wholeFrame(model, input, 128, 96)
            for bands in [StreamSchedule.Bands(), .standard(for: .int8)] {
                var output = [Float](repeating: .nan, count: reference.count)
                try StreamingEngine(model: model, maxHeight: 128, maxWidth: 96, bands: bands).run(input: input, output: &output, height: 128, width: 96)
                XCTAssertEqual(output, reference, "\(file) \(bands)")
            }
        }
    }

    /// Rows reach the sink in order, each once, and only rows that are final.
    func testSinkReceivesEveryRowOnceInOrder() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let engine = try StreamingEngine(model: model, maxHeight: 160, maxWidth: 64, bands: .init(lowResolutionRows: 2, outputRows: 48))
        struct Constant: NetworkRowSource {
            func fill(pairs: Range<Int>, split: Int, into planes: NetworkInputPlanes) {
                let out = SplitInput(pairs: pairs, split: split, planes: planes)
                for row in (2 * pairs.lowerBound)..<(2 * pairs.upperBound) {
                    for column in 0..<(2 * split * planes.width) { out.row(row).store(0.01, column: column) }
                }
            }
        }
        struct Recorder: NetworkRowSink {
            var bands: [Range<Int>] = []
            mutating func consume(_ rows: NetworkOutputRows) {
                bands.append(rows.imageRows)
            }
        }
        var recorder = Recorder()
        try engine.run(height: 160, width: 64, source: Constant(), sink: &recorder)
        XCTAssertEqual(recorder.bands, [0..<48, 48..<96, 96..<144, 144..<160])
    }

    /// Whole blocks: in the first pass every layer is computed once per band (the 1/32 input's
    /// source a row at a time, its reader a band of rows at a time), where pulled in order the
    /// dense layers extend each other a row at a time; the same rows are computed either way,
    /// each once.
    func testWholeBlocksComputeEachFirstPassLayerOncePerBand() throws {
        struct Calls: StreamActions {
            var calls: [Int: Int] = [:], rows: [Int: Int] = [:], widest: [Int: Int] = [:]
            mutating func reserve(buffer: Int, rows: Int) {}
            mutating func compute(node: Int, rows range: Range<Int>, cursor: StreamSchedule.Cursor) {
                guard cursor.pass == 0 else { return }
                calls[node, default: 0] += 1
                rows[node, default: 0] += range.count
                widest[node] = max(widest[node] ?? 0, range.count)
            }
            mutating func deliver(rows: Range<Int>, cursor: StreamSchedule.Cursor) {}
        }
        let graph = NetworkGraph(architecture: .published)
        let height = 1024, width = 768, lowRows = 4
        func count(wholeBlocks: Bool) throws -> Calls {
            let schedule = StreamSchedule(graph: graph, bands: .init(lowResolutionRows: lowRows, outputRows: 32, wholeBlocks: wholeBlocks))
            var calls = Calls(), cursor = schedule.makeCursor()
            try schedule.run(height: height, width: width, cursor: &cursor, actions: &calls)
            return calls
        }
        let inOrder = try count(wholeBlocks: false), whole = try count(wholeBlocks: true)
        XCTAssertEqual(whole.rows, inOrder.rows, "each row computed once either way")
        let bands = (height / 32 + lowRows - 1) / lowRows
        let schedule = StreamSchedule(graph: graph, bands: .init(lowResolutionRows: lowRows))
        for (node, calls) in whole.calls {
            // The 1/32 input (a source) goes a row at a time so that window stays small; its
            // reader is checked below.
            let rowByRow = node >= graph.steps.count || schedule.rowsPerCall[node] != nil
            XCTAssertTrue(rowByRow || calls <= bands, "node \(node): \(calls) calls for \(bands) bands")
        }
        let readers = (0..<graph.steps.count).filter { whole.calls[$0] != nil && schedule.rowsPerCall[$0] != nil }
        XCTAssertEqual(readers.count, 1, "one first-pass step reads the 1/32 input")
        if let reader = readers.first {
            // Its calls run on from where the last stopped, so they need not meet the bands'
            // edges: at most a band's rows each, and about one call per band.
            XCTAssertEqual(schedule.rowsPerCall[reader], lowRows)
            XCTAssertEqual(whole.widest[reader], lowRows, "a band of rows per call at most")
            XCTAssertLessThanOrEqual(whole.calls[reader] ?? 0, bands + 1)
        }
        XCTAssertGreaterThan(inOrder.calls.values.max() ?? 0, 2 * bands, "in order, dense layers go a row at a time")
        XCTAssertLessThan(whole.calls.values.reduce(0, +) * 2, inOrder.calls.values.reduce(0, +))
    }

    /// A layer whose kernel computes pairs of rows (Winograd) gets ranges that start and end on
    /// even rows of its own scale, except at the plane's last row; the others are unchanged,
    /// and every row is still computed once.
    func testRowBlocksAlignEachLayersRanges() throws {
        struct Ranges: StreamActions {
            var ranges: [Int: [Range<Int>]] = [:]
            mutating func reserve(buffer: Int, rows: Int) {}
            mutating func compute(node: Int, rows range: Range<Int>, cursor: StreamSchedule.Cursor) {
                ranges[node * 2 + cursor.pass, default: []].append(range)
            }
            mutating func deliver(rows: Range<Int>, cursor: StreamSchedule.Cursor) {}
        }
        let graph = NetworkGraph(architecture: .published)
        // 89 rows at 1/32 scale: an odd plane height, as a 12.1 MP frame's.
        let height = 2848, width = 256
        let paired = graph.convolutions.map { $0.kernel == 3 && $0.groups == 1 ? 2 : 1 }
        func ranges(_ rowBlocks: [Int]?) throws -> (StreamSchedule, Ranges) {
            let schedule = StreamSchedule(graph: graph, bands: .init(), rowBlocks: rowBlocks)
            var ranges = Ranges(), cursor = schedule.makeCursor()
            try schedule.run(height: height, width: width, cursor: &cursor, actions: &ranges)
            return (schedule, ranges)
        }
        let (schedule, aligned) = try ranges(paired)
        let (_, plain) = try ranges(nil)
        var pairedNodes = 0, oddStartsBefore = 0
        for (key, list) in aligned.ranges {
            let node = key / 2
            XCTAssertEqual(list.map(\.count).reduce(0, +), plain.ranges[key]?.map(\.count).reduce(0, +),
                           "node \(node): each row computed once")
            guard node < graph.steps.count, case .convolution(let layer, _, _, _, _, let factor, _) = graph.steps[node],
                  paired[layer] == 2 else { continue }
            pairedNodes += 1
            let planeEnd = height / schedule.bufferDivisor[schedule.outputBuffer(of: node)]
            for range in list {
                // Rows at the convolution's own scale (depth-to-space outputs are `factor` apart).
                XCTAssertEqual(range.lowerBound / factor % 2, 0, "node \(node) starts at \(range)")
                XCTAssertTrue(range.upperBound == planeEnd || range.upperBound / factor % 2 == 0, "node \(node) ends at \(range)")
            }
            oddStartsBefore += (plain.ranges[key] ?? []).filter { $0.lowerBound / factor % 2 == 1 }.count
        }
        XCTAssertGreaterThan(pairedNodes, 15)
        XCTAssertGreaterThan(oddStartsBefore, 0, "without row blocks some ranges start on odd rows")
    }

    func testArenaIsSmallerThanWholeFrameAndLargerFramesAreRefused() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let streaming = try StreamingEngine(model: model, maxHeight: 512, maxWidth: 768)
        let whole = try Engine(model: model, maxHeight: 512, maxWidth: 768)
        XCTAssertLessThan(streaming.plan.arenaBytes * 3, whole.plan.arenaBytes)
        var output = [Float](repeating: 0, count: 3 * 512 * 800)
        XCTAssertThrowsError(try streaming.run(input: [Float](repeating: 0, count: 512 * 800), output: &output, height: 512, width: 800)) { error in
            XCTAssertEqual(error as? EngineError, .frameTooLarge(height: 512, width: 800, maxHeight: 512, maxWidth: 768))
        }
        // A smaller frame runs in the same arena.
        let input = Self.input(height: 256, width: 384, seed: 9)
        var small = [Float](repeating: .nan, count: 3 * 256 * 384)
        try streaming.run(input: input, output: &small, height: 256, width: 384)
        XCTAssertEqual(small, try wholeFrame(model, input, 256, 384))
        // Bands the schedule cannot run are the engine's typed error, not a trap in the planner.
        for bands in [StreamSchedule.Bands(lowResolutionRows: 1, outputRows: 12), StreamSchedule.Bands(lowResolutionRows: 0, outputRows: 16)] {
            XCTAssertFalse(bands.isValid)
            XCTAssertThrowsError(try StreamingEngine(model: model, maxHeight: 512, maxWidth: 768, bands: bands)) { error in
                XCTAssertEqual(error as? EngineError, .badBands(lowResolutionRows: bands.lowResolutionRows, outputRows: bands.outputRows))
            }
        }
    }

    /// A fixed plan (a daemon's budget): the arena exists from the start, frames up to the size
    /// run in it (smaller ones too, bit-identical to the whole-frame engine), a larger one is
    /// refused with a clear error and the engine still works afterwards. With `lockMemory` the
    /// arena is locked into RAM.
    func testFixedPlanRefusesLargerFramesAndCanLockTheArena() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let engine = try FrameEngine(model: model, threads: 2, maximumSize: (height: 90, width: 120), lockMemory: true)
        let planned = try XCTUnwrap(engine.engine)
        XCTAssertEqual([planned.maxHeight, planned.maxWidth], [96, 128])  // padded to multiples of 32
        XCTAssertGreaterThanOrEqual(planned.lockedBytes, planned.plan.arenaBytes)
        struct Sink: NetworkRowSink {
            mutating func consume(_ rows: NetworkOutputRows) {}
        }
        var sink = Sink()
        let input = Self.input(height: 128, width: 128, seed: 4)
        XCTAssertThrowsError(try input.withUnsafeBufferPointer {
            try engine.restore(height: 128, width: 128, source: PlanarInput(base: $0.baseAddress!), sink: &sink)
        }) { error in
            XCTAssertEqual(error as? EngineError, .frameTooLarge(height: 128, width: 128, maxHeight: 96, maxWidth: 128))
            XCTAssertTrue("\(error)".contains("larger than the 128x96"), "\(error)")
        }
        XCTAssertTrue(engine.engine === planned, "a refused frame must not re-plan")
        for (height, width) in [(96, 128), (64, 96)] {
            let frame = Self.input(height: height, width: width, seed: 11)
            var output = PlanarOutput(base: .allocate(capacity: 3 * height * width), height: height)
            defer { output.base.deallocate() }
            try frame.withUnsafeBufferPointer {
                try engine.restore(height: height, width: width, source: PlanarInput(base: $0.baseAddress!), sink: &output)
            }
            let got = Array(UnsafeBufferPointer(start: output.base, count: 3 * height * width))
            XCTAssertEqual(got, try wholeFrame(model, frame, height, width), "\(width)x\(height)")
        }
        XCTAssertTrue(engine.engine === planned)
        XCTAssertTrue(EngineError.cannotLockMemory(bytes: 1024, reason: "Cannot allocate memory").description
            .contains("LimitMEMLOCK="))
    }

    /// `bench --layers`: timing each step changes no output bit, every convolution is timed
    /// under its own name and runs as often in every frame, and the steps' time is within the
    /// frames' wall time.
    func testStepTimesCoverEveryLayerWithinTheFramesTime() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let (height, width) = (224, 160)
        let engine = try StreamingEngine(model: model, maxHeight: height, maxWidth: width, bands: .init(), threads: 2)
        let input = Self.input(height: height, width: width, seed: 4)
        var plain = [Float](repeating: .nan, count: 3 * height * width)
        try engine.run(input: input, output: &plain, height: height, width: width)

        let steps = engine.makeStepTimes()
        engine.stepTimes = steps
        var timed = [Float](repeating: .nan, count: 3 * height * width)
        var start = ProcessMetrics.now()
        try engine.run(input: input, output: &timed, height: height, width: width)
        var wall = ProcessMetrics.now() - start
        XCTAssertEqual(timed, plain, "timing the steps changed the output")
        let one = engine.layerTimes(steps)

        let convolutions = model.architecture.convolutions
        XCTAssertEqual(one.prefix(convolutions.count).map(\.name), convolutions.map(\.name))
        XCTAssertEqual(one.prefix(convolutions.count).map(\.layer), convolutions.indices.map { $0 })
        for row in one.prefix(convolutions.count) {
            XCTAssertGreaterThan(row.calls, 0, row.name)
            XCTAssertGreaterThan(row.seconds, 0, row.name)
        }
        // The rest are the other kinds of step, each once, and the network input is among them.
        let others = one.dropFirst(convolutions.count)
        XCTAssertTrue(others.allSatisfy { $0.layer == nil && $0.calls > 0 })
        XCTAssertEqual(Set(others.map(\.name)).count, others.count)
        XCTAssertTrue(others.contains { $0.name == "network input" })
        XCTAssertLessThanOrEqual(one.reduce(0) { $0 + $1.seconds }, wall)

        start = ProcessMetrics.now()
        try engine.run(input: input, output: &timed, height: height, width: width)
        wall += ProcessMetrics.now() - start
        let two = engine.layerTimes(steps)
        XCTAssertEqual(two.map(\.calls), one.map { 2 * $0.calls }, "a frame's steps differ from the first frame's")
        XCTAssertLessThanOrEqual(two.reduce(0) { $0 + $1.seconds }, wall)

        steps.reset()
        XCTAssertEqual(engine.layerTimes(steps).map(\.calls), convolutions.map { _ in 0 })
        engine.stepTimes = nil
        try engine.run(input: input, output: &timed, height: height, width: width)
        XCTAssertEqual(engine.layerTimes(steps).reduce(0) { $0 + $1.calls }, 0, "counted while detached")
        XCTAssertEqual(timed, plain)
    }
}
