import Glibc
import NightjarKernels

/// The reference capture pipeline of REFERENCE.md §3, step by step, on plain arrays.
/// `restoreCapture` strings these together; they are public so tests and tools can check
/// each step on its own.
public enum CapturePipeline {
    // MARK: - Alignment

    /// The size left after dropping `offset` rows/columns at the top/left and then a trailing
    /// row/column to make both sides even.
    public static func alignedSize(width: Int, height: Int, offset: (dy: Int, dx: Int)) -> (width: Int, height: Int) {
        (max(width - offset.dx, 0) & ~1, max(height - offset.dy, 0) & ~1)
    }

    // MARK: - Normalisation

    /// x = max(raw − black, 0) / (white − black) for each 2x2 site of the *unaligned* frame,
    /// as one flat table: entry `site * (maxRaw + 1) + raw`, site = `(row & 1) * 2 + (col & 1)`.
    /// Computed in float64, stored as float32 (the network's input type).
    static func normalisationTable(black: [Double], white: Double, maxRaw: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: 4 * (maxRaw + 1)) { table, initialized in
            fillNormalisationTable(table.baseAddress!, black: SIMD4(black), white: white, maxRaw: maxRaw)
            initialized = 4 * (maxRaw + 1)
        }
    }

    /// The same table written at `table` (room for `4 * (maxRaw + 1)` floats).
    static func fillNormalisationTable(_ table: UnsafeMutablePointer<Float>, black: SIMD4<Double>, white: Double, maxRaw: Int) {
        for site in 0..<4 {
            let b = black[site], range = white - b
            for raw in 0...maxRaw {
                table[site * (maxRaw + 1) + raw] = Float(max(Double(raw) - b, 0) / range)
            }
        }
    }

    /// The largest raw value of a mosaic (0 for an empty one).
    static func maximum(_ mosaic: UnsafeBufferPointer<UInt16>) -> Int {
        var largest: UInt16 = 0
        for value in mosaic { largest = max(largest, value) }
        return Int(largest)
    }

    /// The normalised, RGGB-aligned, even-sized mosaic (row-major, `height * width` values).
    public static func normalisedAligned(_ frame: BayerFrame) -> (values: [Float], width: Int, height: Int, offset: (dy: Int, dx: Int)) {
        let offset = frame.cfa.rggbOffset
        let size = alignedSize(width: frame.width, height: frame.height, offset: offset)
        let maxRaw = frame.mosaic.withUnsafeBufferPointer { maximum($0) }
        let table = normalisationTable(black: frame.black, white: frame.white, maxRaw: maxRaw)
        var values = [Float](repeating: 0, count: size.width * size.height)
        values.withUnsafeMutableBufferPointer { out in
            table.withUnsafeBufferPointer { table in
                frame.mosaic.withUnsafeBufferPointer { mosaic in
                    for row in 0..<size.height {
                        let sr = row + offset.dy
                        for col in 0..<size.width {
                            let sc = col + offset.dx
                            let site = (sr & 1) * 2 + (sc & 1)
                            out[row * size.width + col] = table[site * (maxRaw + 1) + Int(mosaic[sr * frame.width + sc])]
                        }
                    }
                }
            }
        }
        return (values, size.width, size.height, offset)
    }

    // MARK: - Amplification

    /// Bin edges eₖ = (2^(8k/127) − 1)/255, k = 0…127.
    public static let binEdges: [Double] = (0...127).map { (pow(2.0, 8.0 * Double($0) / 127.0) - 1.0) / 255.0 }
    /// Bin weights wₖ = 10^(−5k/126), k = 0…126.
    public static let binWeights: [Double] = (0...126).map { pow(10.0, -5.0 * Double($0) / 126.0) }

    /// The weight of one normalised value: wₖ for eₖ ≤ x < eₖ₊₁, 0 outside [e₀, e₁₂₇).
    public static func binWeight(_ x: Double) -> Double {
        guard x >= binEdges[0], x < binEdges[127] else { return 0 }
        // Largest k with eₖ ≤ x (binary search over the 128 edges).
        var lo = 0, hi = 127
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if binEdges[mid] <= x { lo = mid } else { hi = mid }
        }
        return binWeights[lo]
    }

    /// The paper's amplifier: a = m · 0.01 · Σw / Σ(w·x), float64, clamped to [1, 300].
    public static func amplification<C: Collection>(of values: C, m: Double = 5) -> Double where C.Element == Float {
        var sumW = 0.0, sumWX = 0.0
        for v in values {
            let x = Double(v)
            let w = binWeight(x)
            sumW += w
            sumWX += w * x
        }
        return clampAmplification(m * 0.01 * sumW / sumWX)
    }

    /// The amplifier computed straight from a frame's aligned area: one weight per distinct
    /// (site, raw value) pair instead of per pixel. Same values as `amplification(of:)` on
    /// `normalisedAligned(frame).values` (up to float64 summation order).
    public static func amplification(of frame: BayerFrame, m: Double = 5) -> Double {
        frame.mosaic.withUnsafeBufferPointer { mosaic in
            let maxRaw = maximum(mosaic)
            let table = normalisationTable(black: frame.black, white: frame.white, maxRaw: maxRaw)
            var counts = [UInt32](repeating: 0, count: 4 * (maxRaw + 1))
            return table.withUnsafeBufferPointer { table in
                counts.withUnsafeMutableBufferPointer { counts in
                    amplification(mosaic: mosaic, width: frame.width, height: frame.height, cfa: frame.cfa, maxRaw: maxRaw,
                                  table: table.baseAddress!, counts: counts.baseAddress!, m: m)
                }
            }
        }
    }

    /// The amplifier over caller-provided memory (no allocation): `table` is the frame's
    /// normalisation table for `maxRaw` (see `fillNormalisationTable`), `counts` has room for
    /// `4 * (maxRaw + 1)` counts (its contents are overwritten). A site holds at most a quarter
    /// of a frame of 65535 × 65535 pixels, so 32-bit counts cannot overflow.
    static func amplification(mosaic: UnsafeBufferPointer<UInt16>, width: Int, height: Int, cfa: CFAPattern, maxRaw: Int,
                              table: UnsafePointer<Float>, counts: UnsafeMutablePointer<UInt32>, m: Double) -> Double {
        histogram(mosaic: mosaic, width: width, height: height, cfa: cfa, maxRaw: maxRaw, counts: counts)
        return amplification(counts: counts, countsStride: maxRaw + 1, offset: cfa.rggbOffset, maxRaw: maxRaw, table: table, m: m)
    }

    /// The aligned area's histogram per site (as `amplification(counts:...)` reads it) into
    /// `counts` (room for `4 * (maxRaw + 1)`; overwritten).
    static func histogram(mosaic: UnsafeBufferPointer<UInt16>, width: Int, height: Int, cfa: CFAPattern, maxRaw: Int,
                          counts: UnsafeMutablePointer<UInt32>) {
        let offset = cfa.rggbOffset
        let size = alignedSize(width: width, height: height, offset: offset)
        for parity in 0..<2 {
            histogramRows(parity: parity, mosaic: mosaic, width: width, height: height, offset: offset, size: size,
                          stride: maxRaw + 1, counts: counts)
        }
    }

    /// Counts per site in `histogramWhileFilling`'s histogram: one per 16-bit value.
    static let histogramStride = 65536

    /// Takes a frame's rows from the decoder (`fill`) band by band, `bandRows` rows at a time,
    /// into the memory `place` gives each band, and counts as they come the aligned area's
    /// values per site (65536 counts a site, any 16-bit value; `counts` holds 4 × 65536 zeros
    /// when called) and the largest value of the whole mosaic: the amplifier's histogram, in
    /// the same pass as the decoding. With a pool of two threads or more this is a pipeline of
    /// two stages (`parallelForBehind`): this thread reads band k + 1 while the pool's workers
    /// count band k, each row parity on its own (its own two sites, so no counts are shared).
    /// `place` must therefore give neighbouring bands separate memory (the two halves of a
    /// ring, or the frame's own rows). Returns the largest value.
    ///
    /// Decoding first and counting after, the two passes one after the other, left the pool's
    /// threads idle while the decoder's rows came in (and, for a ring of rows, woke them for
    /// every band, tens of microseconds of work each).
    static func histogramWhileFilling(width: Int, height: Int, cfa: CFAPattern, bandRows: Int,
                                      counts: UnsafeMutablePointer<UInt32>, pool: OpaquePointer?,
                                      place: (Range<Int>) -> UnsafeMutablePointer<UInt16>,
                                      fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void) throws -> Int {
        let offset = cfa.rggbOffset
        let aligned = alignedSize(width: width, height: height, offset: offset)
        guard width > 0 else { return 0 }
        return try withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 2) { largest -> Int in
            largest.initialize(repeating: 0)
            // The band's two row parities (each its own sites' counts) on the workers.
            try fillInBands(height: height, bandRows: bandRows, pool: pool, place: place, fill: fill, parts: { _ in 2 },
                            work: { rows, memory -> HistogramBand in
                                (UnsafePointer(memory), width, rows, offset, aligned, counts, largest.baseAddress!)
                            }, histogramParities)
            return Int(max(largest[0], largest[1]))
        }
    }

    /// Takes a frame's rows from `fill` band by band, `bandRows` at a time, into the memory
    /// `place` gives each band, and has the pool's workers run `body(work(band), range)` over
    /// [0, `parts(band)`) for each band while this thread reads the next one
    /// (`parallelForBehind`; without a pool, band after band on this thread). `place` must give
    /// neighbouring bands separate memory.
    static func fillInBands<Work>(height: Int, bandRows: Int, pool: OpaquePointer?,
                                  place: (Range<Int>) -> UnsafeMutablePointer<UInt16>,
                                  fill: (Range<Int>, UnsafeMutablePointer<UInt16>) throws -> Void,
                                  parts: (Range<Int>) -> Int, work: (Range<Int>, UnsafeMutablePointer<UInt16>) -> Work,
                                  _ body: @escaping (Work, Range<Int>) -> Void) throws {
        precondition(bandRows >= 1, "a band holds at least one row")
        let bands = (height + bandRows - 1) / bandRows
        func rows(ofBand band: Int) -> Range<Int> { band * bandRows..<min((band + 1) * bandRows, height) }
        guard bands > 0 else { return }
        var memory = place(rows(ofBand: 0))
        try fill(rows(ofBand: 0), memory)
        for band in 0..<bands {
            let these = rows(ofBand: band)
            let next = band + 1 < bands ? place(rows(ofBand: band + 1)) : memory
            try parallelForBehind(pool, parts(these), work(these, memory), body) {
                if band + 1 < bands { try fill(rows(ofBand: band + 1), next) }
            }
            memory = next
        }
    }

    /// A band of rows for `histogramWhileFilling`: where its first row is, its rows of the frame,
    /// the aligned area, the counts and each row parity's largest value so far.
    private typealias HistogramBand = (rows: UnsafePointer<UInt16>, width: Int, frameRows: Range<Int>, offset: (dy: Int, dx: Int),
                                       aligned: (width: Int, height: Int), counts: UnsafeMutablePointer<UInt32>,
                                       largest: UnsafeMutablePointer<UInt16>)

    /// A band's counts and largest values for the given row parities.
    private static func histogramParities(_ band: HistogramBand, _ parities: Range<Int>) {
        for parity in parities {
            band.largest[parity] = nj_u16_mosaic_histogram_rows(
                band.rows, band.width, Int32(band.frameRows.lowerBound), Int32(band.frameRows.lowerBound),
                Int32(band.frameRows.upperBound), Int32(band.offset.dy), Int32(band.offset.dx), Int32(band.aligned.width),
                Int32(band.aligned.height), Int32(parity), band.counts, histogramStride, band.largest[parity])
        }
    }

    /// The counts of the aligned area's rows of one parity (its two sites: `counts` from
    /// `2 * parity * stride`, zeroed first), every value below `stride`, and the largest value
    /// of the mosaic's rows of that parity, whole: nj_u16_mosaic_histogram_rows, the pass an
    /// int8 frame's codes make too (`CaptureWorkspace.storeCodes`).
    @discardableResult
    private static func histogramRows(parity: Int, mosaic: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
                                      offset: (dy: Int, dx: Int), size: (width: Int, height: Int), stride: Int,
                                      counts: UnsafeMutablePointer<UInt32>) -> Int {
        (counts + parity * 2 * stride).update(repeating: 0, count: 2 * stride)
        guard let pixels = mosaic.baseAddress, width > 0, height > 0 else { return 0 }
        return Int(nj_u16_mosaic_histogram_rows(pixels, width, 0, 0, Int32(height), Int32(offset.dy), Int32(offset.dx),
                                                Int32(size.width), Int32(size.height), Int32(parity), counts, stride, 0))
    }

    /// The share of the aligned area's pixels whose network input (the normalised value times
    /// `amplification`, in float32 as the input rows compute it) is above `limit`, from the
    /// area's histogram (`counts`, `countsStride`, as `amplification(counts:...)` reads it).
    static func share(above limit: Float, counts: UnsafePointer<UInt32>, countsStride: Int, offset: (dy: Int, dx: Int),
                      maxRaw: Int, table: UnsafePointer<Float>, amplification: Double) -> Double {
        let stride = maxRaw + 1, gain = Float(amplification)
        var above = 0, total = 0
        for site in 0..<4 {
            let frameSite = ((offset.dy + site / 2) & 1) * 2 + ((offset.dx + site % 2) & 1)
            let hist = counts + site * countsStride
            for raw in 0...maxRaw where hist[raw] > 0 {
                total += Int(hist[raw])
                if table[frameSite * stride + raw] * gain > limit { above += Int(hist[raw]) }
            }
        }
        return total > 0 ? Double(above) / Double(total) : 0
    }

    /// The amplifier from the aligned area's histogram: `counts` holds, for each site of the
    /// aligned frame in turn (`countsStride` apart), how many pixels have each raw value
    /// 0...`maxRaw`; `table` is the frame's normalisation table for `maxRaw`.
    static func amplification(counts: UnsafePointer<UInt32>, countsStride: Int, offset: (dy: Int, dx: Int), maxRaw: Int,
                              table: UnsafePointer<Float>, m: Double) -> Double {
        let stride = maxRaw + 1
        var sumW = 0.0, sumWX = 0.0
        for site in 0..<4 {
            // Site index in the unaligned frame, which is what the table is keyed by.
            let frameSite = ((offset.dy + site / 2) & 1) * 2 + ((offset.dx + site % 2) & 1)
            let hist = counts + site * countsStride
            for raw in 0...maxRaw where hist[raw] > 0 {
                let x = Double(table[frameSite * stride + raw])
                let w = binWeight(x) * Double(hist[raw])
                sumW += w
                sumWX += w * x
            }
        }
        return clampAmplification(m * 0.01 * sumW / sumWX)
    }

    /// Clamps to [1, 300]. An all-black frame (Σ(w·x) = 0) gives +inf, so 300; a frame with
    /// no value in [e₀, e₁₂₇) at all (everything saturated) gives 0/0, taken as 1 (no gain).
    static func clampAmplification(_ a: Double) -> Double {
        if a.isNaN { return 1 }
        return min(max(a, 1), 300)
    }

    // MARK: - Padding (the padded size itself: `FramePadding`)

    /// numpy 'reflect' indexing: mirror about the last sample without repeating it
    /// (…, n−2, n−1, n−2, …), repeated as often as needed. Keeps parity, so the CFA phase.
    public static func reflectIndex(_ i: Int, count n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var k = i % period
        if k < 0 { k += period }
        return k < n ? k : period - k
    }

    /// The network input: the aligned normalised mosaic times `amplification` (in float32),
    /// reflect-padded at the bottom/right to multiples of 32.
    public static func networkInput(_ frame: BayerFrame, amplification: Double) -> (values: [Float], width: Int, height: Int) {
        let input = NetworkInputRows(frame: frame, amplification: amplification)
        var values = [Float](repeating: 0, count: input.paddedWidth * input.paddedHeight)
        values.withUnsafeMutableBufferPointer { out in
            frame.mosaic.withUnsafeBufferPointer { mosaic in
                input.fill(rows: 0..<input.paddedHeight, into: out.baseAddress!, mosaic: mosaic)
            }
        }
        return (values, input.paddedWidth, input.paddedHeight)
    }

    // MARK: - Quantisation

    /// floor(clamp(y, 0, 1) · 255 + 0.5), in float32 (NaN gives 0). The sum is positive, so
    /// the conversion's truncation is the floor: one instruction where `rounded(.down)` was a
    /// call to floorf per sample on baseline x86-64.
    @inline(__always)
    public static func quantise8(_ y: Float) -> UInt8 {
        let c = y > 0 ? min(y, 1) : 0
        return UInt8(c * 255 + 0.5)
    }

    /// floor(clamp(y, 0, 1) · 65535 + 0.5), in float32 (NaN gives 0), truncated as above.
    @inline(__always)
    public static func quantise16(_ y: Float) -> UInt16 {
        let c = y > 0 ? min(y, 1) : 0
        return UInt16(c * 65535 + 0.5)
    }

    // MARK: - Orientation

    /// Output size after applying LibRaw's `flip` (bit 4 swaps the sides).
    public static func orientedSize(width: Int, height: Int, flip: Int) -> (width: Int, height: Int) {
        flip & 4 != 0 ? (height, width) : (width, height)
    }

    /// The source pixel shown at output (row, col) for LibRaw's `flip` (LibRaw's flip_index:
    /// transpose if bit 4, then mirror rows if bit 2, columns if bit 1). `width`/`height` are
    /// the source's. flip 3 turns 180°, 5 turns 90° counter-clockwise, 6 turns 90° clockwise.
    @inline(__always)
    public static func sourcePixel(row: Int, col: Int, width: Int, height: Int, flip: Int) -> (row: Int, col: Int) {
        var r = row, c = col
        if flip & 4 != 0 { swap(&r, &c) }
        if flip & 2 != 0 { r = height - 1 - r }
        if flip & 1 != 0 { c = width - 1 - c }
        return (r, c)
    }
}
