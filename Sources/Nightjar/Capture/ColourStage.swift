import Glibc
import NightjarKernels

/// A box filter over a stream of rows, `channels` planes per row: the mean over a window of
/// `2 · radius + 1` rows and columns, cut at the frame's edges (the means divide by what is
/// inside). Rows are kept in a ring; their column sums run in Double, so that adding and
/// removing rows over a whole frame does not drift (one pass per row inside the frame: the
/// entering row added and the leaving one taken away together).
///
/// Work comes in batches of at most `batch` rows, in steps a thread pool can share, each split
/// by columns: `sumColumns` (any split), then `filter` one row at a time (in whole strips of
/// `strips(width:)`, one or several, reading `radius` columns of halo either side), then `finish`. Rows go in
/// with `input(row:)` and `commit(through:)`, in order.
final class BoxFilterRing {
    /// What is box-filtered: a stored plane, or the product of two (the guided filter's
    /// I · I and I · c are formed as rows enter and leave the window instead of being stored,
    /// which halves the statistics ring and what the intake writes).
    enum Term: Equatable {
        case plane(Int)
        case product(Int, Int)
    }
    /// Channels filtered (their means are `mean(channel:)`), one per term.
    let channels: Int
    /// Planes stored per ring row.
    let planes: Int
    let terms: [Term]
    let radius: Int
    let batch: Int
    private(set) var width = 0
    private(set) var height = 0
    private(set) var capacity = 0
    /// Rows in the ring: the window, the row leaving it, and a batch of new rows.
    var slots: Int { 2 * radius + 2 + batch }
    /// The arrays below, in one mapping of its own, kept out of forked children
    /// (`PageBuffer`): the decoder's child is forked while a frame runs, and every page of a
    /// forkable ring the stage then wrote took a copy-on-write fault (1.5 % of a camera-colour
    /// batch's CPU samples, Zen 5).
    private var memory: PageBuffer?
    private var ring = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    private var sums = ColourMemory.unmapped.assumingMemoryBound(to: Double.self)
    /// A batch's rows: their window's column sums.
    private var window = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    /// One row's means, each strip's in its own columns.
    private var means = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    /// Each strip's two scratch rows for the row filter's levels (strips run at once).
    private var scratch = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    private(set) var last = -1
    private(set) var next = 0
    /// The C steps for this CPU (nightjar_kernels_colour.h), the stage's for the frame: Swift's
    /// own loops here compile to 2-lane SSE2, the C forms use AVX2 or AVX-512 and give the same bits.
    private var kernels = nj_colour_kernels_named("scalar")

    /// A ring filtering `channels` stored planes.
    convenience init(channels: Int, radius: Int, batch: Int) {
        self.init(planes: channels, terms: (0..<channels).map { .plane($0) }, radius: radius, batch: batch)
    }

    /// A ring storing `planes` planes per row and filtering `terms` of them.
    init(planes: Int, terms: [Term], radius: Int, batch: Int) {
        self.planes = planes
        self.terms = terms
        channels = terms.count
        self.radius = radius
        self.batch = batch
    }

    /// Bytes held.
    var bytes: Int { Self.bytes(width: capacity, planes: planes, channels: channels, radius: radius, batch: batch) }

    static func bytes(width: Int, planes: Int, channels: Int, radius: Int, batch: Int) -> Int {
        width * (planes * (2 * radius + 2 + batch) * 4 + channels * (8 + batch * 4 + 4))
            + strips(width: width) * scratchFloats(radius: radius) * 4
    }

    /// A strip's scratch: two rows of the strip's columns and their halo.
    static func scratchFloats(radius: Int) -> Int { 2 * (stripColumns + 2 * radius) }

    /// Columns per strip of `filter`: the thread pool's unit of work in each round. A mean does
    /// not depend on the strips (each reads its halo of column sums), so the image is the same
    /// whatever the thread count.
    static let stripColumns = 128

    /// How many strips a row of `width` has.
    static func strips(width: Int) -> Int { (width + stripColumns - 1) / stripColumns }

    /// Strip `index`'s columns.
    static func strip(_ index: Int, width: Int) -> Range<Int> {
        (index * stripColumns)..<min(width, (index + 1) * stripColumns)
    }

    /// Makes room for frames `width` wide (maps only when wider than before); false when the
    /// system refuses the mapping.
    func reserve(width: Int) -> Bool {
        guard width > capacity else { return true }
        memory = nil
        capacity = 0
        let floats = (ring: slots * planes * width, window: batch * channels * width, means: channels * width,
                      scratch: Self.strips(width: width) * Self.scratchFloats(radius: radius))
        let sumsBytes = channels * width * MemoryLayout<Double>.stride
        guard let mapped = PageBuffer(bytes: sumsBytes + 4 * (floats.ring + floats.window + floats.means + floats.scratch)) else {
            return false
        }
        // The Doubles first, at the mapping's page-aligned start.
        sums = mapped.base.bindMemory(to: Double.self, capacity: channels * width)
        let rest = (mapped.base + sumsBytes).bindMemory(to: Float.self, capacity: floats.ring + floats.window + floats.means + floats.scratch)
        ring = rest
        window = ring + floats.ring
        means = window + floats.window
        scratch = means + floats.means
        memory = mapped
        capacity = width
        return true
    }

    /// Gives the pages back between frames (`begin` starts every frame from zeroed sums).
    func releasePages() {
        if let memory { memory.release(firstBytes: memory.bytes) }
    }

    /// Starts a frame of `height` rows of `width` (at most what `reserve` made room for) with
    /// the stage's `kernels`.
    func begin(width: Int, height: Int, kernels: nj_colour_kernels) {
        precondition(width <= capacity, "reserve(width:) first")
        self.width = width
        self.height = height
        self.kernels = kernels
        sums.update(repeating: 0, count: channels * capacity)
        (last, next) = (-1, 0)
    }

    /// Where row `row`'s planes go (plane c at `c * stride`), before `commit(through:)`.
    func input(row: Int) -> UnsafeMutablePointer<Float> { ring + (row % slots) * planes * capacity }

    var stride: Int { capacity }

    /// Rows up to `row` are in. A row may only come in once the row `slots` before it has left
    /// every window that was filtered.
    func commit(through row: Int) {
        precondition(row >= last && row < height && row <= next + radius + batch, "rows go in once, in order, a batch at a time")
        last = row
    }

    /// The rows whose windows are complete and not yet filtered, at most `batch` of them.
    var ready: Range<Int> {
        let end = last == height - 1 ? height : max(next, last - radius + 1)
        return next..<min(end, next + batch)
    }

    /// Step 1: the window's column sums of each row of `rows` (`ready`), for `columns`.
    func sumColumns(_ rows: Range<Int>, columns: Range<Int>) {
        var m = rows.lowerBound
        while m < rows.upperBound {
            // Rows inside the frame, where one row enters the window and one leaves: the run of
            // them in one call per term (the kernels keep the sums in registers along the run).
            var end = m
            while end < rows.upperBound, Self.oneInOneOut(end, radius: radius, height: height) { end += 1 }
            if end > m {
                stepInside(m..<end, batchStart: rows.lowerBound, columns: columns)
                m = end
                continue
            }
            let low = max(0, m - radius), high = min(height - 1, m + radius)
            let previousLow = max(0, m - 1 - radius), previousHigh = m == 0 ? -1 : min(height - 1, m - 1 + radius)
            let out = window + (m - rows.lowerBound) * channels * capacity
            if previousHigh < high {
                for r in (previousHigh + 1)...high { add(row: r, sign: 1, columns: columns) }
            }
            if previousLow < low {
                for r in previousLow..<low { add(row: r, sign: -1, columns: columns) }
            }
            for c in 0..<channels {
                let s = sums + c * capacity, o = out + c * capacity
                for x in columns { o[x] = Float(s[x]) }
            }
            m += 1
        }
    }

    /// Whether row `m`'s window is row m − 1's with one row more at the bottom and one fewer at the top.
    private static func oneInOneOut(_ m: Int, radius: Int, height: Int) -> Bool {
        m > radius && m + radius < height
    }

    /// `oneInOneOut` rows `run` (at most `batch`), each with row m + radius entering and
    /// m − radius − 1 leaving.
    private func stepInside(_ run: Range<Int>, batchStart: Int, columns: Range<Int>) {
        let x0 = columns.lowerBound, count = columns.count, stride = capacity
        let rowStride = channels * capacity
        // The run's rows, on the stack (a batch is a few rows): entering and leaving, a plane apart per term.
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: 4 * run.count) { rowsIn in
            let n = run.count
            let enterA = rowsIn.baseAddress!, enterB = enterA + n, leaveA = enterB + n, leaveB = leaveA + n
            for (c, term) in terms.enumerated() {
                let s = sums + (c * stride + x0)
                let o = window + (run.lowerBound - batchStart) * rowStride + c * stride + x0
                switch term {
                case .plane(let k):
                    for (i, m) in run.enumerated() {
                        enterA[i] = UnsafePointer(input(row: m + radius) + k * stride + x0)
                        leaveA[i] = UnsafePointer(input(row: m - radius - 1) + k * stride + x0)
                    }
                    kernels.column_step!(s, o, rowStride, enterA, leaveA, n, count)
                case .product(let a, let b):
                    for (i, m) in run.enumerated() {
                        let entering = input(row: m + radius), leaving = input(row: m - radius - 1)
                        enterA[i] = UnsafePointer(entering + a * stride + x0)
                        enterB[i] = UnsafePointer(entering + b * stride + x0)
                        leaveA[i] = UnsafePointer(leaving + a * stride + x0)
                        leaveB[i] = UnsafePointer(leaving + b * stride + x0)
                    }
                    kernels.product_step!(s, o, rowStride, enterA, enterB, leaveA, leaveB, n, count)
                }
            }
        }
    }

    private func add(row: Int, sign: Double, columns: Range<Int>) {
        let source = input(row: row)
        for (c, term) in terms.enumerated() {
            let s = sums + c * capacity
            switch term {
            case .plane(let k):
                let v = source + k * capacity
                for x in columns { s[x] += sign * Double(v[x]) }
            case .product(let a, let b):
                let (va, vb) = (source + a * capacity, source + b * capacity)
                for x in columns { s[x] += sign * Double(va[x] * vb[x]) }
            }
        }
    }

    /// Step 2: row `rows.lowerBound + j`'s means for `columns` (whole strips), from its column sums
    /// (read `radius` columns beyond the strip, so strips can run at once), into `mean(channel:)`.
    /// Where the whole window is inside the frame, the window's sum is built by doubling (sums
    /// of 1, 2, 4, 8, ... columns, those of the window length's binary digits added): a few
    /// passes over the strip that the compiler vectorises, instead of a running sum whose
    /// every step waits on the one before (the stage's costliest loop when it ran that way).
    /// For 2 · r + 1 columns with r a power of two (the stage's radius 4), one kernel pass
    /// forms those sums in registers.
    /// The few columns whose window the frame's edge cuts are summed directly.
    func filter(_ j: Int, of rows: Range<Int>, columns: Range<Int>) {
        guard !columns.isEmpty else { return }
        let m = rows.lowerBound + j
        let rowCount = Float(min(height - 1, m + radius) - max(0, m - radius) + 1)
        let r = radius, w = width, n = channels, cap = capacity, length = 2 * r + 1
        let base = window + j * n * cap
        let first = columns.lowerBound, end = columns.upperBound
        // Columns whose window is whole: [inner, innerEnd).
        let inner = min(max(first, r), end), innerEnd = max(inner, min(end, w - r))
        let count = innerEnd - inner
        for c in 0..<n {
            let s = base + c * cap, out = means + c * cap
            for x in first..<inner { out[x] = Self.directMean(s, x, r, w, rowCount) }
            for x in innerEnd..<end { out[x] = Self.directMean(s, x, r, w, rowCount) }
        }
        guard count > 0 else { return }
        let scale = 1 / (rowCount * Float(length))
        // In one piece over the strips the columns touch, in those strips' scratch (their
        // rows laid end to end: 2 · (k · stripColumns + 2 · r) floats fit in k strips'
        // 2 · k · (stripColumns + 2 · r)); calls that run at once touch different strips. A
        // thread's strips in one piece make the kernel calls per row a few instead of a few per strip.
        let touched = (end - 1) / Self.stripColumns - first / Self.stripColumns + 1
        let piece = touched * Self.stripColumns
        // length = 2 · r + 1 with r a power of two: the window is two halves and one column.
        let twoHalves = r > 0 && r & (r - 1) == 0
        let scratchRow = scratch + (first / Self.stripColumns) * Self.scratchFloats(radius: r)
        let levels = (scratchRow, scratchRow + piece + 2 * r)
        for start in Swift.stride(from: inner, to: innerEnd, by: piece) {
            let count = min(piece, innerEnd - start)
            for c in 0..<n {
                let sums = UnsafePointer(base + c * cap + start - r), acc = means + c * cap + start
                // Level `block`: level[i] = the sum of `block` column sums from column start − r + i,
                // for i < available. Level 1 is the column sums themselves; the levels alternate
                // between the two scratch rows (a level made in place would not vectorise).
                var current = sums, available = count + 2 * r, block = 1, flip = false
                func doubleLevel() {
                    available -= block
                    let next = flip ? levels.1 : levels.0
                    kernels.level!(next, current, block, available)
                    current = UnsafePointer(next)
                    block *= 2
                    flip.toggle()
                }
                if twoHalves {
                    // length = 2 · r + 1 with r a power of two (radius 4: 9 = 4 + 4 + 1): the first
                    // column sum and the two halves' level-r sums, in one pass that forms those
                    // in registers. The same additions in the same order as the general way
                    // below, so the same means.
                    kernels.window!(acc, sums, r, scale, count)
                    continue
                }
                // Any length: acc[i] = the sum of `offset` column sums so far, a level added for
                // each binary digit of the length.
                var offset = 0
                acc.update(repeating: 0, count: count)
                while true {
                    if length & block != 0 {
                        let part = current + offset
                        for i in 0..<count { acc[i] += part[i] }
                        offset += block
                    }
                    if 2 * block > length { break }
                    doubleLevel()
                }
                for i in 0..<count { acc[i] *= scale }
            }
        }
    }

    /// The mean over column `x`'s window cut at the frame's edges, summed directly.
    @inline(__always)
    private static func directMean(_ s: UnsafeMutablePointer<Float>, _ x: Int, _ r: Int, _ w: Int, _ rowCount: Float) -> Float {
        let low = max(0, x - r), high = min(w - 1, x + r)
        var sum: Float = 0
        for k in low...high { sum += s[k] }
        return sum / (rowCount * Float(high - low + 1))
    }

    /// Plane `channel` of the means `filter` computed last (in each strip's columns).
    func mean(channel: Int) -> UnsafeMutablePointer<Float> { means + channel * capacity }

    /// Step 3: `rows` are done.
    func finish(_ rows: Range<Int>) { next = rows.upperBound }
}

/// The transfer curves. The network learned LibRaw's default rendering, whose curve is dcraw's
/// gamma 0.45 with a linear toe of slope 4.5 (the BT.709 curve): its output is decoded with that
/// curve's inverse by the luma kernel (a polynomial, nj-colour-steps.h). The result is encoded
/// with the sRGB curve through these tables, made once and read at the nearest entry: for 16
/// bits by the square root of the value (fine steps where the curve is steep), for 8 bits by
/// the value itself in finer steps (no square root).
final class TransferTables: @unchecked Sendable {
    static let shared = TransferTables()
    /// The encoding table's steps (of the square root of the linear value): 1/16384 is finer
    /// than a 16-bit code anywhere on the curve.
    static let encodeSteps = 16384
    let encode: UnsafeMutablePointer<Float>
    /// 8-bit codes by the linear value itself, in steps of 1/65536 (at most 0.05 of a code
    /// where the curve is steepest): no square root per sample, so the loop that finds the
    /// entries vectorises; one load per sample of an 8-bit PNG.
    static let encode8Steps = 65536
    let encode8: UnsafeMutablePointer<UInt8>

    private init() {
        encode = .allocate(capacity: Self.encodeSteps + 1)
        // 3 bytes after the last entry: the composition kernel may read a table entry as 32 bits.
        encode8 = .allocate(capacity: Self.encode8Steps + 4)
        encode8.advanced(by: Self.encode8Steps + 1).initialize(repeating: 0, count: 3)
        for i in 0...Self.encodeSteps {
            let root = Double(i) / Double(Self.encodeSteps)
            encode[i] = SyntheticScene.encodeSRGB(Float(root * root))
        }
        for i in 0...Self.encode8Steps {
            encode8[i] = CapturePipeline.quantise8(SyntheticScene.encodeSRGB(Float(Double(i) / Double(Self.encode8Steps))))
        }
    }

    @inline(__always)
    func encoded(_ l: Float) -> Float {
        encode[Int((l > 0 ? min(l, 1) : 0).squareRoot() * Float(Self.encodeSteps) + 0.5)]
    }
}

/// The colour stage's memory, kept by a `CaptureWorkspace` and reused frame after frame.
final class ColourMemory {
    /// Quarter-scale radius of the guided filter: windows of 9 x 9 quarter-scale values (each
    /// the mean of 2 x 2 colour quads), about the 17 x 17 quads the filter was tuned on at half
    /// scale: with a NumPy model of this stage on the 18 captures of scripts/colour-targets.sh,
    /// a half-scale radius of 6–8 was best (+8.1–8.4 dB), 12 lost 0.4 dB, 16 0.7 dB (larger
    /// windows average the camera's level over more of the scene). At quarter scale the box
    /// filters and the fit, three fifths of the stage's CPU samples at half scale, do a quarter
    /// of their work ("fast guided filter", He & Sun 2015): the coefficients come back to half
    /// scale linearly, and the network's luminance keeps the detail at full resolution.
    static let radius = 4
    /// Half rows per batch: what one round of the worker threads takes.
    static let batch = 8
    /// Quarter rows per batch of the rings.
    static let quarterBatch = batch / 2
    /// Stored: the guide I and the colour c (4 planes); filtered: I, I · I, c, I · c (8 means).
    let statistics = BoxFilterRing(planes: 4, terms: [.plane(0), .product(0, 0), .plane(1), .plane(2), .plane(3),
                                                      .product(0, 1), .product(0, 2), .product(0, 3)],
                                   radius: ColourMemory.radius, batch: ColourMemory.quarterBatch)
    let coefficients = BoxFilterRing(channels: 6, radius: ColourMemory.radius, batch: ColourMemory.quarterBatch)
    /// Linear luminance of the network's output, two full rows per half row, in a ring.
    private(set) var luminance = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    /// The guide and colour of the last two half rows (4 planes each, slot p % 2), halved
    /// into the statistics ring once both are in.
    private(set) var halfPlanes = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    /// The filtered coefficients ā and b̄ (6 planes) of quarter rows, in a ring of
    /// `storedSlots`, for the half rows between them.
    private(set) var stored = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    /// One half row's coefficients back at half scale (6 planes), each strip in its columns.
    private(set) var upsampled = ColourMemory.unmapped.assumingMemoryBound(to: Float.self)
    /// A batch's composed rows, quantised: 2 · batch rows of 3 samples per pixel, 2 bytes each
    /// at most.
    private(set) var output = ColourMemory.unmapped
    /// These, in one mapping kept out of forked children, as the rings' (`BoxFilterRing`).
    private var rows: PageBuffer?
    /// Where the arrays point before `reserve` makes them (never read or written there).
    nonisolated(unsafe) static let unmapped = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    /// An int8 frame's code values per quad site, as the code-quads kernel reads them: site k's
    /// value of code c at `256 · k + c` (the frame's own, written by each frame's stage).
    let codeValues = UnsafeMutablePointer<Float>.allocate(capacity: ColourMemory.codeValueCount)
    static let codeValueCount = 4 * 256
    /// Full-resolution width made room for.
    private(set) var capacity = 0
    var halfCapacity: Int { (capacity + 1) / 2 }
    var quarterCapacity: Int { Self.quarterScale(capacity) }
    /// The rings' size for `fullResolution` pixels: half scale (quads), then halved again.
    static func quarterScale(_ fullResolution: Int) -> Int { ((fullResolution + 1) / 2 + 1) / 2 }
    /// Half rows in the luminance ring: those in before a half row can be composed (its
    /// quarter row and the next through both rings: (2 · radius + 1) quarter rows, two half
    /// rows each), a batch more, and two to spare.
    static var slots: Int { 2 * (2 * radius + 1) + batch + 2 }
    /// Quarter rows of stored coefficients: those a batch of half rows reads, and the rows
    /// stored before the half rows between them are composed.
    static var storedSlots: Int { 2 * quarterBatch + 4 }

    /// The frame's progress, set by `ColourStage.init`: the next half row to compose, and the
    /// last quarter row whose coefficients are stored (−1: none).
    var nextComposed = 0
    var storedThrough = -1

    deinit {
        codeValues.deallocate()
        outputRows.deallocate()
    }

    var bytes: Int {
        statistics.bytes + coefficients.bytes + Self.rowsBytes(width: capacity) + Self.codeValueCount * 4
    }

    /// The luminance ring, the half rows, the stored and upsampled coefficients and the output.
    static func rowsBytes(width: Int) -> Int {
        let half = (width + 1) / 2, quarter = quarterScale(width)
        return 4 * (2 * slots * width + 2 * 4 * half + storedSlots * 6 * quarter + 6 * half) + outputBytes(width: width)
    }

    static func outputBytes(width: Int) -> Int { 2 * batch * 3 * width * 2 }

    /// Gives the rings' and rows' pages back between frames: they are resident only while a
    /// frame's second pass runs, when the network's first-pass windows have been given back
    /// (`StreamingEngine.releaseFirstPassPages`). Nothing in them outlives a frame.
    func releasePages() {
        statistics.releasePages()
        coefficients.releasePages()
        if let rows { rows.release(firstBytes: rows.bytes) }
    }

    /// Makes room for frames `width` pixels wide, the rings included (maps only when wider
    /// than before); false when the system refuses the mapping.
    func reserve(width: Int) -> Bool {
        let quarter = Self.quarterScale(width)
        guard statistics.reserve(width: quarter), coefficients.reserve(width: quarter) else { return false }
        guard width > capacity else { return true }
        rows = nil
        capacity = 0
        guard let mapped = PageBuffer(bytes: Self.rowsBytes(width: width)) else { return false }
        let half = (width + 1) / 2, floats = (luminance: 2 * Self.slots * width, halfPlanes: 2 * 4 * half,
                                              stored: Self.storedSlots * 6 * quarter, upsampled: 6 * half)
        let all = floats.luminance + floats.halfPlanes + floats.stored + floats.upsampled
        luminance = mapped.base.bindMemory(to: Float.self, capacity: all)
        halfPlanes = luminance + floats.luminance
        stored = halfPlanes + floats.halfPlanes
        upsampled = stored + floats.stored
        output = UnsafeMutableRawPointer(upsampled + floats.upsampled)
        rows = mapped
        capacity = width
        return true
    }

    func luminanceRow(halfRow: Int, parity: Int) -> UnsafeMutablePointer<Float> {
        luminance + ((halfRow % Self.slots) * 2 + parity) * capacity
    }

    /// Plane `plane` (I, c0, c1, c2) of half row `halfRow`, half-scale columns.
    func halfPlane(halfRow: Int, plane: Int) -> UnsafeMutablePointer<Float> {
        halfPlanes + ((halfRow & 1) * 4 + plane) * halfCapacity
    }

    /// Plane `plane` (ā0, ā1, ā2, b̄0, b̄1, b̄2) of quarter row `quarterRow`'s stored coefficients.
    func storedRow(_ quarterRow: Int, plane: Int) -> UnsafeMutablePointer<Float> {
        stored + ((quarterRow % Self.storedSlots) * 6 + plane) * quarterCapacity
    }

    /// Plane `plane` of the half row being composed, its coefficients at half scale.
    func upsampledPlane(_ plane: Int) -> UnsafeMutablePointer<Float> { upsampled + plane * halfCapacity }

    /// Where the batch being composed writes its output rows: the target's memory or `outputRow`'s.
    let outputRows = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 2 * ColourMemory.batch)

    /// Row `row` (0 ..< 2 · batch) of a batch's output, `bits` per sample.
    func outputRow(_ row: Int, bits: Int) -> UnsafeMutableRawPointer { output + row * 3 * capacity * (bits / 8) }
}

/// Where a `ColourStage`'s finished output rows go, a batch at a time.
protocol ColourRowTarget {
    /// Memory for output rows `rows` (`pointers[i]` for row `rows.lowerBound + i`), which the
    /// stage composes straight into and then hands over with `composed`; or false, and the
    /// rows are composed in the stage's memory and given to `place` one at a time.
    mutating func reserve(_ rows: Range<Int>, _ pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws -> Bool
    /// Rows `rows`, composed where `reserve` said.
    mutating func composed(_ rows: Range<Int>) throws
    /// Row `y`, composed in the stage's memory.
    mutating func place(_ samples: UnsafeRawPointer, y: Int) throws
}

/// The camera colour of one frame (`restore --color camera`): the network's output gives the
/// detail, the capture's own colour quads give the colour and its level.
///
/// Per half-scale row, as the network's rows arrive:
/// 1. the network's rows are linearised (the curve of LibRaw's rendering it learned) and their
///    luminance Y kept;
/// 2. each 2x2 quad (R, (G1+G2)/2, B) of the normalised, amplified mosaic is white-balanced
///    and taken to linear sRGB through the camera's matrix: c = M · (q ⊙ wb);
/// 3. a guided filter (He, Sun & Tang) with the network's luminance I (its quad mean) as the
///    guide fits c locally as a linear function of I, at quarter scale (I and c averaged over
///    2 x 2 quads), over 9 x 9 of those (18 x 18 quads): per window
///    a = cov(I, c) / (var(I) + ε), b = mean(c) − a · mean(I), both averaged again over the
///    window (two `BoxFilterRing`s, so 2 · radius quarter rows of delay);
/// 4. ā and b̄ come back to half scale linearly, and at full resolution the colour is
///    ā · Y + b̄: the camera's colour at the scale of the window, with the network's detail
///    within it, sRGB-encoded and quantised.
/// The camera's level is kept, not only its chromaticity: the network's luminance is off
/// wherever its colour is (a blue sky rendered orange is too bright), and the quads' window
/// means are accurate even at 1/300 exposure. On CameraColourTests' six captures: +8.2 dB over
/// the network's colour (+8.3 with the filter at half scale), against +5.6 dB for the
/// box-filtered chromaticity alone on the network's luminance (REFERENCE.md §7's prototype).
///
/// The work runs on the engine's worker threads, a batch of half rows at a time, between the
/// network's bands; nothing full-resolution is held: the rings are a few MB at most.
struct ColourStage {
    let memory: ColourMemory
    let tables = TransferTables.shared
    /// Whose worker threads the stage borrows between the network's bands (nil: the caller's
    /// thread alone). Asked at each batch: a `FrameEngine` may have replaced its engine.
    let workers: WorkerPoolOwner?
    /// The aligned size.
    let width: Int
    let height: Int
    let bits: Int
    let mosaic: MosaicView
    let frameWidth: Int
    let offset: (dy: Int, dx: Int)
    /// Per site of the frame (row parity * 2 + column parity): value = raw * scale − shift.
    let scale: SIMD4<Float>
    let shift: SIMD4<Float>
    /// Camera → linear sRGB with the white balance folded in (columns scaled by wb), row-major.
    let matrix: (Float, Float, Float, Float, Float, Float, Float, Float, Float)
    /// The C steps for this CPU, resolved once per frame.
    let kernels = nj_colour_kernels_active()

    /// BT.709's luminance weights (R, G, B), as the luma kernel takes them.
    static let lumaWeights: [Float] = [0.2126, 0.7152, 0.0722]
    /// ε of the guided filter relative to the local level: edges of more than about 10 %
    /// contrast in the network's luminance stay (0.01 measured best among 0.002–0.05).
    static let relativeEpsilon: Float = 0.01

    /// `mosaic` is the decoded frame (`frameWidth` wide, aligned by `offset`), `black` and
    /// `white` its levels per site, `amplification` the network input's gain, `whiteBalance`
    /// the camera-RGB multipliers and `cameraToSRGB` the file's matrix; `bits` the output's.
    /// `memory` has room for `width` (`ColourMemory.reserve`).
    init(memory: ColourMemory, workers: WorkerPoolOwner?, width: Int, height: Int, bits: Int, mosaic: MosaicView,
         frameWidth: Int, offset: (dy: Int, dx: Int), black: SIMD4<Double>, white: Double, amplification: Double,
         whiteBalance: SIMD3<Double>, cameraToSRGB: ColorMatrix3) {
        precondition(width % 2 == 0 && height % 2 == 0, "the aligned frame has even sides")
        self.memory = memory
        self.workers = workers
        self.width = width
        self.height = height
        self.bits = bits
        self.mosaic = mosaic
        self.frameWidth = frameWidth
        self.offset = offset
        var scale = SIMD4<Float>(), shift = SIMD4<Float>()
        for site in 0..<4 {
            let s = amplification / (white - black[site])
            scale[site] = Float(s)
            shift[site] = Float(black[site] * s)
        }
        self.scale = scale
        self.shift = shift
        let m = cameraToSRGB, wb = whiteBalance
        func f(_ i: Int, _ j: Int) -> Float { Float(m[i, j] * wb[j]) }
        matrix = (f(0, 0), f(0, 1), f(0, 2), f(1, 0), f(1, 1), f(1, 2), f(2, 0), f(2, 1), f(2, 2))
        if let codeValues = mosaic.codeValues {
            // The quads' sites are the same in every half row (y = 2p + dy, x = 2i + dx).
            let sites = Self.quadSites(offset: offset)
            for k in 0..<4 {
                for code in 0..<256 { memory.codeValues[256 * k + code] = Float(codeValues[sites[k] * 256 + code]) }
            }
        }
        let quarter = ColourMemory.quarterScale(width), quarterHeight = ColourMemory.quarterScale(height)
        memory.statistics.begin(width: quarter, height: quarterHeight, kernels: kernels)
        memory.coefficients.begin(width: quarter, height: quarterHeight, kernels: kernels)
        (memory.nextComposed, memory.storedThrough) = (0, -1)
    }

    /// The mean quad per camera channel over unclipped quads (normalised values, before
    /// amplification), from every other quad row: the grey world of `--white-balance auto`.
    static func quadMeans(mosaic: MosaicView, frameWidth: Int, width: Int, height: Int,
                          offset: (dy: Int, dx: Int), black: SIMD4<Double>, white: Double) -> SIMD3<Double> {
        var sums = SIMD3<Double>(), count = 0
        let clip = 0.95
        for p in Swift.stride(from: 0, to: height / 2, by: 2) {
            let y = 2 * p + offset.dy
            var rowSums = SIMD3<Double>(), rowCount = 0
            for xh in 0..<(width / 2) {
                let x = 2 * xh + offset.dx
                func v(_ y: Int, _ x: Int) -> Double {
                    let site = (y & 1) * 2 + (x & 1)
                    return (Double(mosaic.rawValue(y * frameWidth + x, site: site)) - black[site]) / (white - black[site])
                }
                let r = v(y, x), g1 = v(y, x + 1), g2 = v(y + 1, x), b = v(y + 1, x + 1)
                if max(r, g1, g2, b) >= clip { continue }
                rowSums += SIMD3(r, (g1 + g2) / 2, b)
                rowCount += 1
            }
            sums += rowSums
            count += rowCount
        }
        return count > 0 ? sums / Double(count) : SIMD3(repeating: 0)
    }

    /// Takes the network's rows; `target` receives each finished output row (quantised samples
    /// of `bits`), in order.
    ///
    /// Per batch of half rows, rounds of the worker threads, each split by columns in the
    /// rings' quarter-scale strips (the row filters read a halo of `radius` columns, and the
    /// upsampling one column, written in an earlier round): new rows in, halved into quarter
    /// rows, and their column sums; the fit and the coefficients' column sums; the
    /// coefficients' means stored; the composition of the half rows they now reach.
    func consume<Target: ColourRowTarget>(_ rows: NetworkOutputRows, into target: inout Target) throws {
        let stats = memory.statistics, pool = workers?.workerPool
        let halfHeight = height / 2
        var p = rows.rows.lowerBound
        let end = min(rows.rows.upperBound, halfHeight)
        while p < end {
            // At most a batch of new rows before the rings are drained again.
            let count = min(end - p, ColourMemory.batch)
            let batch = p..<(p + count)
            precondition(batch.upperBound - memory.nextComposed <= ColourMemory.slots, "the luminance ring holds the rows not yet composed")
            // Quarter row q is complete with half row 2q + 1 (or 2q, a frame's odd last row).
            let last = batch.upperBound - 1
            let complete = last == halfHeight - 1 ? stats.height - 1 : (last + 1) / 2 - 1
            if complete > stats.last { stats.commit(through: complete) }
            // The new rows' luminance, guide and colour, the quarter rows they complete, and the
            // column sums of the rows now complete, in one round.
            let summed = stats.ready
            parallelStrips(pool, (self, rows, batch, summed)) { c, columns in
                let halfColumns = c.0.halfColumns(columns)
                for p in c.2 {
                    c.0.ingest(halfRow: p, c.1, columns: halfColumns)
                    if p & 1 == 1 || p == c.0.height / 2 - 1 { c.0.halve(halfRow: p, columns: halfColumns) }
                }
                c.0.memory.statistics.sumColumns(c.3, columns: columns)
            }
            try drain(pool, summed: summed, &target)
            p += count
        }
    }

    /// The half-scale columns of quarter-scale `columns` (whole strips of the rings).
    private func halfColumns(_ columns: Range<Int>) -> Range<Int> {
        (2 * columns.lowerBound)..<min(width / 2, 2 * columns.upperBound)
    }

    /// Runs every step whose rows are complete.
    /// `summed`: quarter rows whose column sums are already done.
    private func drain<Target: ColourRowTarget>(_ pool: OpaquePointer?, summed: Range<Int>, _ target: inout Target) throws {
        let stats = memory.statistics, coefficients = memory.coefficients
        var summed = summed
        while true {
            let rows = stats.ready
            if !rows.isEmpty {
                if rows != summed {
                    parallelStrips(pool, (stats, rows)) { c, columns in c.0.sumColumns(c.1, columns: columns) }
                }
                coefficients.commit(through: rows.upperBound - 1)
            }
            summed = 0..<0
            // The coefficients' rows whose windows the fit below completes.
            let ready = coefficients.ready
            if rows.isEmpty && ready.isEmpty { return }
            parallelStrips(pool, (self, rows, ready)) { c, columns in
                for j in 0..<c.1.count { c.0.fitRow(j, of: c.1, columns: columns) }
                c.0.memory.coefficients.sumColumns(c.2, columns: columns)
            }
            if !rows.isEmpty { stats.finish(rows) }
            if ready.isEmpty { continue }
            precondition(memory.storedThrough < 0 || ready.upperBound - 1 - ColourStage.firstQuarterRow(halfRow: memory.nextComposed) < ColourMemory.storedSlots,
                         "the stored coefficients hold the rows not yet composed")
            parallelStrips(pool, (self, ready)) { c, columns in
                for j in 0..<c.1.count { c.0.storeRow(j, of: c.1, columns: columns) }
            }
            coefficients.finish(ready)
            memory.storedThrough = ready.upperBound - 1
            try compose(pool, &target)
        }
    }

    /// The quarter rows half row `p` lies between: its centre is a quarter of a quarter row
    /// from the nearer (0.75 of it), clamped to the frame's rows.
    private static func firstQuarterRow(halfRow p: Int) -> Int { max(0, (p - 1) >> 1) }

    /// Composes the half rows whose quarter rows are stored, a batch at a time.
    private func compose<Target: ColourRowTarget>(_ pool: OpaquePointer?, _ target: inout Target) throws {
        let halfHeight = height / 2, quarterHeight = memory.coefficients.height
        // Half row p reads quarter rows up to (p + 1) / 2.
        let reach = memory.storedThrough == quarterHeight - 1 ? halfHeight : 2 * memory.storedThrough
        while memory.nextComposed < min(reach, halfHeight) {
            let rows = memory.nextComposed..<min(reach, halfHeight, memory.nextComposed + ColourMemory.batch)
            // Straight into the target's memory where it has room (no copy on this thread
            // while the workers wait), else into the stage's own rows, placed one by one.
            let outputRows = (2 * rows.lowerBound)..<(2 * rows.upperBound)
            let direct = try target.reserve(outputRows, memory.outputRows)
            if !direct {
                for j in 0..<outputRows.count { memory.outputRows[j] = memory.outputRow(j, bits: bits) }
            }
            parallelStrips(pool, (self, rows)) { c, columns in
                for j in 0..<c.1.count { c.0.composeRow(j, of: c.1, columns: columns) }
            }
            if direct {
                try target.composed(outputRows)
            } else {
                for j in 0..<outputRows.count { try target.place(UnsafeRawPointer(memory.outputRows[j]!), y: outputRows.lowerBound + j) }
            }
            memory.nextComposed = rows.upperBound
        }
    }

    /// Step 1, half row `p`, half-scale `columns`: the network's luminance and the guided
    /// filter's inputs at half scale.
    private func ingest(halfRow p: Int, _ rows: NetworkOutputRows, columns: Range<Int>) {
        let y0 = memory.luminanceRow(halfRow: p, parity: 0), y1 = memory.luminanceRow(halfRow: p, parity: 1)
        let x0 = columns.lowerBound, count = columns.count
        for parity in 0..<2 {
            let target = (parity == 0 ? y0 : y1) + 2 * x0, y = 2 * p + parity
            if let encoding = rows.encoding {
                // An int8 network's codes, dequantised in registers.
                let r = rows.codeColumns(channel: 0, imageRow: y), g = rows.codeColumns(channel: 1, imageRow: y)
                let b = rows.codeColumns(channel: 2, imageRow: y)
                kernels.code_luma!(target, r.even + x0, r.odd + x0, g.even + x0, g.odd + x0, b.even + x0, b.odd + x0,
                                   encoding.scale, encoding.zeroPoint, Self.lumaWeights, count)
            } else {
                let r = rows.columns(channel: 0, imageRow: y), g = rows.columns(channel: 1, imageRow: y)
                let b = rows.columns(channel: 2, imageRow: y)
                kernels.luma!(target, r.even + x0, r.odd + x0, g.even + x0, g.odd + x0, b.even + x0, b.odd + x0,
                              Self.lumaWeights, count)
            }
        }
        let (pI, pC0, pC1, pC2) = (memory.halfPlane(halfRow: p, plane: 0), memory.halfPlane(halfRow: p, plane: 1),
                                   memory.halfPlane(halfRow: p, plane: 2), memory.halfPlane(halfRow: p, plane: 3))
        let y = 2 * p + offset.dy, first = y * frameWidth + offset.dx
        var calibration = nj_colour_quads()
        let sites = Self.quadSites(offset: offset)
        calibration.scale = (scale[sites[0]], scale[sites[1]], scale[sites[2]], scale[sites[3]])
        calibration.shift = (shift[sites[0]], shift[sites[1]], shift[sites[2]], shift[sites[3]])
        calibration.matrix = matrix
        if let raw = mosaic.raw {
            let q0 = raw + first + 2 * x0
            kernels.quads!(pI + x0, pC0 + x0, pC1 + x0, pC2 + x0, q0, q0 + frameWidth, y0 + 2 * x0, y1 + 2 * x0,
                           &calibration, count)
        } else {
            // An int8 restore's 8-bit codes, through the frame's values per code.
            let q0 = mosaic.codes.unsafelyUnwrapped + first + 2 * x0
            kernels.code_quads!(pI + x0, pC0 + x0, pC1 + x0, pC2 + x0, q0, q0 + frameWidth, memory.codeValues,
                                y0 + 2 * x0, y1 + 2 * x0, &calibration, count)
        }
    }

    /// Step 1b, after half row `p` (odd, or the frame's last): the quarter row of it and the
    /// half row before (or of it alone), half-scale `columns` (from an even column), into the
    /// statistics ring.
    private func halve(halfRow p: Int, columns: Range<Int>) {
        let stats = memory.statistics
        let target = stats.input(row: p / 2), q0 = columns.lowerBound / 2
        let upper = p & 1 == 1 ? p - 1 : p
        for plane in 0..<4 {
            let a = memory.halfPlane(halfRow: upper, plane: plane) + columns.lowerBound
            let b = memory.halfPlane(halfRow: p, plane: plane) + columns.lowerBound
            kernels.halve!(target + plane * stats.stride + q0, a, b, columns.count)
        }
    }

    /// The frame sites of a quad's (0,0), (0,1), (1,0) and (1,1) pixels: the same in every half
    /// row, since each starts at an even row after the CFA offset.
    static func quadSites(offset: (dy: Int, dx: Int)) -> SIMD4<Int> {
        let row0 = (offset.dy & 1) * 2, row1 = ((offset.dy + 1) & 1) * 2, dx = offset.dx
        return SIMD4(row0 + (dx & 1), row0 + ((dx + 1) & 1), row1 + (dx & 1), row1 + ((dx + 1) & 1))
    }

    /// Step 2, quarter row `rows.lowerBound + j`, quarter-scale `columns` (whole strips): its
    /// window means, then the linear fit of the colour against the guide, into the
    /// coefficients' ring.
    private func fitRow(_ j: Int, of rows: Range<Int>, columns: Range<Int>) {
        let stats = memory.statistics, coefficients = memory.coefficients
        stats.filter(j, of: rows, columns: columns)
        let meanI = stats.mean(channel: 0), meanII = stats.mean(channel: 1)
        let out = coefficients.input(row: rows.lowerBound + j), cstride = coefficients.stride
        let x0 = columns.lowerBound
        for k in 0..<3 {
            // slope = cov(I, c) / (var(I) + ε·Ī² + 1e-7), offset = c̄ − slope · Ī (the C step).
            let meanC = stats.mean(channel: 2 + k), meanIC = stats.mean(channel: 5 + k)
            kernels.fit!(out + k * cstride + x0, out + (3 + k) * cstride + x0, meanI + x0, meanII + x0, meanC + x0,
                         meanIC + x0, Self.relativeEpsilon, columns.count)
        }
    }

    /// Step 3, quarter row `rows.lowerBound + j`, quarter-scale `columns` (whole strips): the
    /// window means of its coefficients, ā and b̄, kept for the half rows around it.
    private func storeRow(_ j: Int, of rows: Range<Int>, columns: Range<Int>) {
        let coefficients = memory.coefficients
        coefficients.filter(j, of: rows, columns: columns)
        for k in 0..<6 {
            memory.storedRow(rows.lowerBound + j, plane: k).advanced(by: columns.lowerBound)
                .update(from: coefficients.mean(channel: k) + columns.lowerBound, count: columns.count)
        }
    }

    /// Step 4, half row `rows.lowerBound + j`, quarter-scale `columns` (whole strips): its
    /// coefficients back at half scale, then its two full rows, ā · Y + b̄, sRGB-encoded and
    /// quantised into the batch's output rows 2j and 2j + 1.
    private func composeRow(_ j: Int, of rows: Range<Int>, columns: Range<Int>) {
        let m = rows.lowerBound + j, half = halfColumns(columns)
        let quarterRows = memory.coefficients.height, quarterWidth = memory.coefficients.width
        let above = Self.firstQuarterRow(halfRow: m), below = min(quarterRows - 1, (m + 1) >> 1)
        let weight: Float = m & 1 == 1 ? 0.25 : 0.75
        for k in 0..<6 {
            kernels.upsample!(memory.upsampledPlane(k) + half.lowerBound, memory.storedRow(above, plane: k),
                              memory.storedRow(below, plane: k), weight, half.lowerBound, half.count, quarterWidth)
        }
        let a0 = memory.upsampledPlane(0), a1 = memory.upsampledPlane(1), a2 = memory.upsampledPlane(2)
        let b0 = memory.upsampledPlane(3), b1 = memory.upsampledPlane(4), b2 = memory.upsampledPlane(5)
        let pixels = (2 * half.lowerBound)..<(2 * half.upperBound)
        for parity in 0..<2 {
            let luma = memory.luminanceRow(halfRow: m, parity: parity)
            let row = memory.outputRows[2 * j + parity]!
            if bits == 8 {
                composeEightBit(row.assumingMemoryBound(to: UInt8.self), luma: luma, a: (a0, a1, a2), b: (b0, b1, b2), columns: half)
            } else {
                let out = row.assumingMemoryBound(to: UInt16.self)
                for x in pixels {
                    let h = x >> 1, l = luma[x]
                    out[3 * x] = CapturePipeline.quantise16(tables.encoded(a0[h] * l + b0[h]))
                    out[3 * x + 1] = CapturePipeline.quantise16(tables.encoded(a1[h] * l + b1[h]))
                    out[3 * x + 2] = CapturePipeline.quantise16(tables.encoded(a2[h] * l + b2[h]))
                }
            }
        }
    }

    /// Half columns `columns` of one output row, 8 bits: a · Y + b per sample, through the
    /// sRGB table (the C kernel: entries computed in planes, then the table reads into RGB).
    private func composeEightBit(_ out: UnsafeMutablePointer<UInt8>, luma: UnsafeMutablePointer<Float>,
                                 a: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
                                 b: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>),
                                 columns: Range<Int>) {
        let x0 = columns.lowerBound
        kernels.compose8!(out + 6 * x0, luma + 2 * x0, a.0 + x0, a.1 + x0, a.2 + x0, b.0 + x0, b.1 + x0, b.2 + x0,
                          tables.encode8, columns.count)
    }

    /// `body` over the rings' quarter-scale columns in `BoxFilterRing`'s fixed strips, on the
    /// worker threads: each thread's share of the strips in one call (with a call per strip,
    /// the row filter's short kernel calls and its loop took 3.1 % of a camera-colour restore's
    /// CPU samples; in one call 1.9 %, Zen 5).
    private func parallelStrips<Context>(_ pool: OpaquePointer?, _ context: Context,
                                         _ body: @escaping (Context, Range<Int>) -> Void) {
        let quarter = memory.statistics.width, count = BoxFilterRing.strips(width: quarter)
        // The closure captures nothing (all comes in its context), so no round allocates.
        let task = (context, quarter, body)
        // Each thread's strips as one range of columns (every step takes any whole strips), the
        // same strips for a thread in every round: a round reads what the rounds before wrote
        // in its columns, from that core's cache. (With strips handed out as threads came, the
        // row filter's first read of the column sums took 60 % of its samples, Zen 5.)
        if let pool, count > 1 {
            parallelFor(pool, count, task, fixedSplit: true) { c, strips in
                guard let last = strips.last else { return }
                c.2(c.0, BoxFilterRing.strip(strips.lowerBound, width: c.1).lowerBound..<BoxFilterRing.strip(last, width: c.1).upperBound)
            }
        } else {
            body(context, 0..<quarter)
        }
    }
}

/// What can lend its worker threads to the colour stage between the network's bands (the pool
/// is idle then: the engine calls its sink from the calling thread, outside any parallel task).
protocol WorkerPoolOwner: AnyObject {
    var workerPool: OpaquePointer? { get }
}

extension StreamingEngine: WorkerPoolOwner {
    var workerPool: OpaquePointer? { pool }
}

extension FrameEngine: WorkerPoolOwner {
    var workerPool: OpaquePointer? { engine?.pool }
}
