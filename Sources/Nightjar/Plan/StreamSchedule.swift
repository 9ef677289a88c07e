/// A line-buffer schedule for the network: every tensor is held as a window of rows, a step
/// computes rows as soon as the rows it reads exist, and a window drops rows once no reader
/// needs them, so no row is computed twice. Two passes read the input: the first builds the
/// 1/32 branch's result (the only tensor kept whole, it is small); the second streams the 1/8
/// and 1/2 branches and hands finished output rows on.
///
/// The schedule only decides what to do; `StreamActions` does it. A dry run with a recorder
/// gives each window's height, from which the arena is planned; execution then replays the
/// identical schedule with kernels.
public struct StreamSchedule: Sendable {
    /// Band heights: how far each pass advances at a time.
    public struct Bands: Sendable, Equatable {
        /// Rows of the 1/32 branch computed per band in the first pass.
        public var lowResolutionRows: Int
        /// Output rows per band in the second pass (a multiple of 8).
        public var outputRows: Int
        /// Whether a band pulls each layer of a dense block to its last row in one call: fewer,
        /// larger pool rounds, for windows that hold the blocks' look-ahead (see `ensure`).
        /// Without it the layers extend each other a row at a time: the smallest windows.
        public var wholeBlocks: Bool

        public init(lowResolutionRows: Int = 1, outputRows: Int = 16, wholeBlocks: Bool = false) {
            self.lowResolutionRows = lowResolutionRows
            self.outputRows = outputRows
            self.wholeBlocks = wholeBlocks
        }

        /// The bands an engine of `precision` uses unless told otherwise. int8 layers are quick
        /// enough that with 16-row bands the pool's hand-offs and the kernels' staging of each
        /// call's rows cost 7 % of the network's time (Zen 4, 12.1 MP, 2 threads); 32 rows take
        /// 2.3 MB more arena there. FP32 measured no gain from 32. The first pass likewise: its
        /// rounds were a few microseconds of work each, half of them a dense layer extended by
        /// one row. Whole blocks and 4 rows a band cut int8's pool rounds from ~5000 a frame to
        /// ~2400 and its network time by about 8 % for 7 % more arena (Zen 5, 12.1 MP). FP32
        /// measured about 1 % for 23 % more arena, so it keeps the smallest windows. int8 now
        /// takes 2 first-pass rows, not 4: the first pass's windows set the arena's size, and 2
        /// rows hold 0.94 MB less of them (8.82 -> 7.88 MB at 12.1 MP), which brings `restore`'s
        /// peak under issue 9's 48 MB (48.1-48.5 -> 47.3-47.6 MB); the network took 0-4 % longer,
        /// within the host's noise (Zen 3, 12.1 MP, 2 threads, four alternating runs).
        public static func standard(for precision: Precision) -> Bands {
            precision == .int8 ? Bands(lowResolutionRows: 2, outputRows: 32, wholeBlocks: true) : Bands()
        }

        /// Whether a schedule can run these bands: at least one low-resolution row, and output
        /// rows a positive multiple of 8 (whole rows at 1/8 scale).
        public var isValid: Bool { lowResolutionRows >= 1 && outputRows >= 8 && outputRows % 8 == 0 }
    }

    public let graph: NetworkGraph
    public let bands: Bands
    public let convolutions: [ConvolutionSpec]

    // Nodes are the graph's steps, then one source per input window (graph.inputSplits).
    let nodeCount: Int
    let finalNode: Int
    let lowResolutionNode: Int
    let resetBetweenPasses: [Int]
    /// nodeInPass[pass][node]: whether the node runs in that pass.
    let nodeInPass: [[Bool]]
    let nodeOutput: [Int]
    let nodeInputs: [[Int]]
    let nodeWriters: [[[Int]]]
    /// Rows a node computes per call, in multiples of its granularity (nil: the whole range
    /// asked for at once; see `ensure`).
    let rowsPerCall: [Int?]
    /// Output rows each node produces in multiples of (at its output's scale): the step's own
    /// granularity times the row block of its convolution's kernel.
    let rowGranularity: [Int]
    // Buffers are the graph's, then the input windows (graph.inputSplits), then the output window.
    public let bufferCount: Int
    /// The window of each of graph.inputSplits.
    public let inputBuffers: [Int]
    public let outputBuffer: Int
    public let bufferDivisor: [Int]
    public let bufferChannels: [Int]
    /// Each buffer's element type (the input and output windows': the graph's input and output
    /// precisions).
    public let bufferPrecisions: [Precision]
    public let bufferNames: [String]
    /// The passes (0, 1) in which each buffer is used: its lifetime for the planner.
    public let bufferPasses: [ClosedRange<Int>]
    let bufferWriters: [[Int]]
    let bufferReaders: [[(node: Int, input: Int)]]

    /// `bands` must be valid (`Bands.isValid`; the engine checks what users give).
    /// `rowBlocks`: by convolution layer, the rows its kernel computes together (nil: 1 for
    /// every layer). A Winograd kernel computes pairs of rows starting at even rows, and a row
    /// alone costs it most of a pair's products: ranges of such a layer then start and end on
    /// even rows (except at the plane's end), for windows a row or two taller.
    public init(graph: NetworkGraph, bands: Bands, rowBlocks: [Int]? = nil) {
        precondition(bands.isValid, "bands of \(bands.lowResolutionRows) low-resolution and \(bands.outputRows) output rows")
        self.graph = graph
        self.bands = bands
        let convolutions = graph.convolutions
        self.convolutions = convolutions
        let steps = graph.steps
        let arenaBuffers = graph.buffers.count
        let splits = graph.inputSplits
        nodeCount = steps.count + splits.count
        bufferCount = arenaBuffers + splits.count + 1
        inputBuffers = splits.indices.map { arenaBuffers + $0 }
        let output = arenaBuffers + splits.count
        outputBuffer = output
        // The input windows (the mosaic split by 2·s: 4·s² planes at 1/(2·s) scale) and the
        // output window (the 12 output planes at half scale).
        bufferDivisor = graph.buffers.map(\.divisor) + splits.map { 2 * $0 } + [2]
        bufferChannels = graph.buffers.map(\.channels) + splits.map { 4 * $0 * $0 } + [12]
        bufferPrecisions = graph.buffers.map(\.precision) + splits.map { _ in graph.inputPrecision } + [graph.outputPrecision]
        bufferNames = graph.buffers.map(\.name) + splits.map { $0 == 1 ? "input.phases" : "input.in\(2 * $0)" } + ["output.phases"]

        func index(_ storage: NetworkGraph.Storage) -> Int {
            switch storage {
            case .input(let split): return arenaBuffers + splits.firstIndex(of: split)!
            case .output: return output
            case .arena(let id): return id
            }
        }
        func channels(_ slice: NetworkGraph.Slice, _ count: Int) -> Set<Int> {
            Set((0..<count).map { slice.channelOffset + $0 * slice.channelStride })
        }
        var outputs: [Int] = [], inputs: [[Int]] = [], written: [Set<Int>] = [], read: [[Set<Int>]] = []
        for step in steps {
            let counts = step.channelCounts(convolutions)
            outputs.append(index(step.output.storage))
            inputs.append(step.inputs.map { index($0.storage) })
            written.append(channels(step.output, counts.output))
            read.append(zip(step.inputs, counts.inputs).map { channels($0, $1) })
        }
        for (k, split) in splits.enumerated() {  // the sources write the input windows
            outputs.append(arenaBuffers + k)
            inputs.append([])
            written.append(Set(0..<(4 * split * split)))
            read.append([])
        }

        var writersOf = [[Int]](repeating: [], count: bufferCount)
        var readersOf = [[(node: Int, input: Int)]](repeating: [], count: bufferCount)
        for node in 0..<nodeCount {
            writersOf[outputs[node]].append(node)
            for (i, buffer) in inputs[node].enumerated() { readersOf[buffer].append((node, i)) }
        }
        // An input depends only on the writers of the channels it reads (concatenations).
        let writers = (0..<nodeCount).map { node in
            inputs[node].enumerated().map { i, buffer in
                writersOf[buffer].filter { !written[$0].isDisjoint(with: read[node][i]) }
            }
        }
        nodeOutput = outputs
        nodeInputs = inputs
        nodeWriters = writers
        rowsPerCall = (0..<nodeCount).map { node in
            guard node < steps.count else { return nil }
            if case .unshuffle = steps[node] { return 1 }
            guard inputs[node].contains(where: { $0 >= arenaBuffers && $0 < output && splits[$0 - arenaBuffers] > 1 }) else {
                return nil
            }
            // The convolution reading the 1/32 split goes a first-pass band at a time: an int8
            // kernel stages each call's rows and their halo (3 input rows for a 1-row call), and
            // conv32x.0 ran at a tenth of the int8 kernels' rate in 1-row calls. Its window then
            // holds a band and the halo (3 rows more at 4-row bands: 0.4 MB of int8 at 12.1
            // MP), not the band's whole look-ahead (20 rows more).
            if case .convolution = steps[node] { return bands.lowResolutionRows }
            return 1
        }
        rowGranularity = (0..<nodeCount).map { node in
            guard node < steps.count else { return 1 }
            let step = steps[node]
            if case .convolution(let layer, _, _, _, _, _, _) = step, let rowBlocks {
                return step.rowGranularity * max(rowBlocks[layer], 1)
            }
            return step.rowGranularity
        }
        bufferWriters = writersOf
        bufferReaders = readersOf
        finalNode = writersOf[output][0]
        lowResolutionNode = writersOf[graph.lowResolutionResult][0]

        func closure(from target: Int, keeping kept: Int?) -> Set<Int> {
            var seen: Set<Int> = [], stack = [target]
            while let node = stack.popLast() {
                guard seen.insert(node).inserted else { continue }
                for list in writers[node] { stack += list.filter { outputs[$0] != kept } }
            }
            return seen
        }
        let first = closure(from: lowResolutionNode, keeping: nil)
        let second = closure(from: finalNode, keeping: graph.lowResolutionResult)
        resetBetweenPasses = first.intersection(second).sorted()
        let count = steps.count + 1
        nodeInPass = [first, second].map { set in (0..<count).map { set.contains($0) } }
        var passes = [ClosedRange<Int>?](repeating: nil, count: bufferCount)
        for node in 0..<nodeCount {
            let used = (first.contains(node) ? [0] : []) + (second.contains(node) ? [1] : [])
            for buffer in [outputs[node]] + inputs[node] {
                for pass in used {
                    passes[buffer] = passes[buffer].map { min($0.lowerBound, pass)...max($0.upperBound, pass) } ?? pass...pass
                }
            }
        }
        bufferPasses = passes.map { $0 ?? 0...0 }
    }

    /// The state of a run: rows computed per node and the first row held per window.
    public struct Cursor: Sendable {
        var progress: [Int]
        var row0: [Int]
        var delivered = 0
        var pass = 0

        init(nodes: Int, buffers: Int) {
            progress = [Int](repeating: 0, count: nodes)
            row0 = [Int](repeating: 0, count: buffers)
        }

        public func firstRow(_ buffer: Int) -> Int { row0[buffer] }
    }

    public func makeCursor() -> Cursor { Cursor(nodes: nodeCount, buffers: bufferCount) }

    /// Bytes of `buffer`'s window of `rows` rows in a frame `width` wide.
    public func windowBytes(_ buffer: Int, rows: Int, width: Int) -> Int {
        rows * (width / bufferDivisor[buffer]) * bufferChannels[buffer] * bufferPrecisions[buffer].elementBytes
    }

    /// Window heights (rows at each buffer's scale) for a frame, from a dry run.
    public func windowRows(height: Int, width: Int) throws -> [Int] {
        var recorder = WindowRecorder(rows: [Int](repeating: 0, count: bufferCount))
        var cursor = makeCursor()
        try run(height: height, width: width, cursor: &cursor, actions: &recorder)
        return recorder.rows
    }

    /// The step behind a node (nil for a source).
    public func step(_ node: Int) -> NetworkGraph.Step? { node < graph.steps.count ? graph.steps[node] : nil }
    /// The split of the input a source node writes (nil for a step).
    public func sourceSplit(_ node: Int) -> Int? { node < graph.steps.count ? nil : graph.inputSplits[node - graph.steps.count] }
    public func outputBuffer(of node: Int) -> Int { nodeOutput[node] }
    public func inputBuffers(of node: Int) -> [Int] { nodeInputs[node] }

    /// Runs the whole schedule for one frame.
    public func run<Actions: StreamActions>(height: Int, width: Int, cursor: inout Cursor, actions: inout Actions) throws {
        for i in cursor.progress.indices { cursor.progress[i] = 0 }
        for i in cursor.row0.indices { cursor.row0[i] = 0 }
        cursor.delivered = 0
        cursor.pass = 0
        // The 1/32 branch's result is stored shuffled (at 1/8 scale): a band of n rows at 1/32
        // is n · 4 rows of it.
        let lowHeight = height / bufferDivisor[nodeOutput[lowResolutionNode]]
        let lowBand = bands.lowResolutionRows * rowGranularity[lowResolutionNode]
        var row = 0
        while row < lowHeight {
            row = min(row + lowBand, lowHeight)
            try ensure(lowResolutionNode, upTo: row, height: height, cursor: &cursor, actions: &actions)
        }
        for node in resetBetweenPasses {
            cursor.progress[node] = 0
            cursor.row0[nodeOutput[node]] = 0
        }
        cursor.pass = 1
        // Output rows are at half scale, as the output window holds them.
        let outputHeight = planeHeight(outputBuffer, height)
        row = 0
        while row < outputHeight {
            let next = min(row + bands.outputRows / 2, outputHeight)
            try ensure(finalNode, upTo: next, height: height, cursor: &cursor, actions: &actions)
            try actions.deliver(rows: row..<next, cursor: cursor)
            cursor.delivered = next
            row = next
        }
    }

    private func planeHeight(_ buffer: Int, _ height: Int) -> Int { height / bufferDivisor[buffer] }

    /// Computes `node`'s output rows up to `target`, first pulling the rows its inputs need.
    private func ensure<Actions: StreamActions>(_ node: Int, upTo target: Int, height: Int,
                                                cursor: inout Cursor, actions: inout Actions) throws {
        let output = nodeOutput[node]
        let outHeight = planeHeight(output, height)
        let isSource = node >= graph.steps.count
        let granularity = rowGranularity[node]
        let end = min((target + granularity - 1) / granularity * granularity, outHeight)
        // Space-to-depth steps go one output row at a time, and the step reading the 1/32 split
        // of the input a first-pass band at a time, so the windows they read hold a few rows
        // more than they need, not a whole band and its look-ahead (a 1/32 input row is 1024
        // channels wide); everything else takes the range at once (a convolution's threads
        // split it).
        let chunk = rowsPerCall[node].map { $0 * granularity } ?? end
        while cursor.progress[node] < end {
            let begin = cursor.progress[node]
            let stop = min(begin + chunk, end)
            if !isSource {
                let step = graph.steps[node]
                for (i, buffer) in nodeInputs[node].enumerated() {
                    let needed = step.inputRows(i, for: begin..<stop, convolutions)
                    let upper = min(needed.upperBound, planeHeight(buffer, height))
                    // A dense block's layers each read every earlier layer's output with a
                    // halo. Pulled in order, each later layer extends the earlier ones a row
                    // at a time; pulled last first (whole blocks), the last layer takes each
                    // earlier one to its furthest row for the band in one call.
                    let writers = nodeWriters[node][i]
                    for k in writers.indices {
                        let writer = writers[bands.wholeBlocks ? writers.count - 1 - k : k]
                        try ensure(writer, upTo: upper, height: height, cursor: &cursor, actions: &actions)
                    }
                }
            }
            try makeRoom(output, from: begin, to: stop, height: height, cursor: &cursor, actions: &actions)
            try actions.compute(node: node, rows: begin..<stop, cursor: cursor)
            cursor.progress[node] = stop
        }
    }

    /// Advances a window so rows up to `end` fit: rows below what every unfinished reader still
    /// needs, and below what every writer has written, are dropped.
    private func makeRoom<Actions: StreamActions>(_ buffer: Int, from begin: Int, to end: Int, height: Int,
                                                  cursor: inout Cursor, actions: inout Actions) throws {
        var keep = begin
        for writer in bufferWriters[buffer] {
            keep = min(keep, cursor.progress[writer])
        }
        // The 1/32 result is kept whole for the second pass.
        if buffer == graph.lowResolutionResult { keep = 0 }
        for (reader, input) in bufferReaders[buffer] where nodeInPass[cursor.pass][reader] {
            let readerEnd = planeHeight(nodeOutput[reader], height)
            let done = cursor.progress[reader]
            guard done < readerEnd else { continue }
            let step = graph.steps[reader]
            let next = step.inputRows(input, for: done..<(done + rowGranularity[reader]), convolutions)
            keep = min(keep, max(next.lowerBound, 0))
        }
        if buffer == outputBuffer { keep = min(keep, cursor.delivered) }
        // Windows are rings: dropping rows moves nothing, the rows still needed must only fit.
        cursor.row0[buffer] = max(keep, cursor.row0[buffer])
        try actions.reserve(buffer: buffer, rows: end - cursor.row0[buffer])
    }
}

/// What a schedule's decisions turn into: kernels and copies, or only records.
public protocol StreamActions {
    /// Window `buffer` must hold `rows` rows from its first row (the oldest still needed).
    mutating func reserve(buffer: Int, rows: Int) throws
    /// Compute `rows` of `node`'s output.
    mutating func compute(node: Int, rows: Range<Int>, cursor: StreamSchedule.Cursor) throws
    /// Output `rows` are final.
    mutating func deliver(rows: Range<Int>, cursor: StreamSchedule.Cursor) throws
}

/// The dry run: remembers the tallest window each buffer needs.
struct WindowRecorder: StreamActions {
    var rows: [Int]
    mutating func reserve(buffer: Int, rows count: Int) { rows[buffer] = max(rows[buffer], count) }
    mutating func compute(node: Int, rows: Range<Int>, cursor: StreamSchedule.Cursor) {}
    mutating func deliver(rows: Range<Int>, cursor: StreamSchedule.Cursor) {}
}
