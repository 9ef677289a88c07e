import Glibc

/// A vertical-and-horizontal box mean over a stream of rows, `channels` planes per row, kept
/// in a ring of `2 * radius + 2` rows with running column sums (in Double, so that adding and
/// removing rows over a whole frame does not drift). Windows are cut at the frame's edges and
/// the means divide by what is inside. Rows go in with `input(row:)` + `commit(row:)`; means
/// come out in order from `nextMean()` as soon as their window is complete.
final class BoxMeanRing {
    let channels: Int
    let radius: Int
    private(set) var width = 0
    private(set) var height = 0
    private var capacity = 0
    private var ring: UnsafeMutablePointer<Float>
    private var sums: UnsafeMutablePointer<Double>
    private var prefix: UnsafeMutablePointer<Double>
    private var means: UnsafeMutablePointer<Float>
    private var low = 0, high = -1, last = -1, next = 0

    private var slots: Int { 2 * radius + 2 }

    init(channels: Int, radius: Int) {
        self.channels = channels
        self.radius = radius
        ring = .allocate(capacity: 1)
        sums = .allocate(capacity: 1)
        prefix = .allocate(capacity: 1)
        means = .allocate(capacity: 1)
    }

    deinit {
        ring.deallocate()
        sums.deallocate()
        prefix.deallocate()
        means.deallocate()
    }

    /// Bytes held.
    var bytes: Int { capacity * (slots * channels * 4 + channels * 8 + 8 + channels * 4) }

    /// Starts a frame of `height` rows of `width` (allocates only when wider than before).
    func begin(width: Int, height: Int) {
        if width > capacity {
            ring.deallocate(); sums.deallocate(); prefix.deallocate(); means.deallocate()
            ring = .allocate(capacity: slots * channels * width)
            sums = .allocate(capacity: channels * width)
            prefix = .allocate(capacity: width + 1)
            means = .allocate(capacity: channels * width)
            capacity = width
        }
        self.width = width
        self.height = height
        sums.update(repeating: 0, count: channels * capacity)
        (low, high, last, next) = (0, -1, -1, 0)
    }

    /// Where row `row`'s planes go (plane c at `c * capacity`), before `commit(row:)`.
    func input(row: Int) -> UnsafeMutablePointer<Float> { ring + (row % slots) * channels * capacity }

    /// Plane `channel` of the last mean `nextMean()` returned.
    func mean(channel: Int) -> UnsafeMutablePointer<Float> { means + channel * capacity }

    var stride: Int { capacity }

    func commit(row: Int) {
        precondition(row == last + 1 && row < height, "rows go in once, in order")
        last = row
    }

    /// The next row whose window is complete, its means computed; nil when none is yet.
    func nextMean() -> Int? {
        guard next < height, min(height - 1, next + radius) <= last else { return nil }
        let m = next
        let newLow = max(0, m - radius), newHigh = min(height - 1, m + radius)
        while high < newHigh { high += 1; add(row: high, sign: 1) }
        while low < newLow { add(row: low, sign: -1); low += 1 }
        // Interior columns see 2r + 1 columns; only the r at each edge see fewer.
        let rows = Double(high - low + 1), span = 2 * radius + 1
        let interior = 1 / (rows * Double(span))
        for c in 0..<channels {
            let s = sums + c * capacity, out = means + c * capacity
            prefix[0] = 0
            var running = 0.0
            for x in 0..<width {
                running += s[x]
                prefix[x + 1] = running
            }
            if width > span {
                for x in radius..<(width - radius) {
                    out[x] = Float((prefix[x + radius + 1] - prefix[x - radius]) * interior)
                }
                for x in 0..<radius { out[x] = edgeMean(x, rows) }
                for x in (width - radius)..<width { out[x] = edgeMean(x, rows) }
            } else {
                for x in 0..<width { out[x] = edgeMean(x, rows) }
            }
        }
        next += 1
        return m
    }

    @inline(__always)
    private func edgeMean(_ x: Int, _ rows: Double) -> Float {
        let l = max(0, x - radius), h = min(width - 1, x + radius)
        return Float((prefix[h + 1] - prefix[l]) / (rows * Double(h - l + 1)))
    }

    private func add(row: Int, sign: Double) {
        let source = input(row: row)
        for c in 0..<channels {
            let s = sums + c * capacity, v = source + c * capacity
            for x in 0..<width { s[x] += sign * Double(v[x]) }
        }
    }
}

/// Transfer tables, made once, read at the nearest entry. The network learned LibRaw's default
/// rendering, whose curve is dcraw's gamma 0.45 with a linear toe of slope 4.5 (the BT.709
/// curve): its output is decoded with that curve's inverse (by value). The result is
/// encoded with the sRGB curve (by the square root of the value: fine steps where it is steep).
final class TransferTables: @unchecked Sendable {
    static let shared = TransferTables()
    static let steps = 4096
    /// The encoding table's steps (of the square root of the linear value): 1/16384 is finer
    /// than a 16-bit code anywhere on the curve.
    static let encodeSteps = 16384
    let decode: UnsafeMutablePointer<Float>
    let encode: UnsafeMutablePointer<Float>

    private init() {
        decode = .allocate(capacity: Self.steps + 1)
        encode = .allocate(capacity: Self.encodeSteps + 1)
        for i in 0...Self.steps {
            decode[i] = Float(Self.decodeBT709(Double(i) / Double(Self.steps)))
        }
        for i in 0...Self.encodeSteps {
            let root = Double(i) / Double(Self.encodeSteps)
            encode[i] = SyntheticScene.encodeSRGB(Float(root * root))
        }
    }

    /// The inverse of V = 1.099 L^0.45 − 0.099 (L ≥ 0.018), V = 4.5 L below.
    static func decodeBT709(_ v: Double) -> Double {
        v < 0.081 ? v / 4.5 : pow((v + 0.099) / 1.099, 1 / 0.45)
    }

    @inline(__always)
    func linear(_ v: Float) -> Float {
        // Nearest entry: the curve's slope is at most about 2, so the error is below 3e-4,
        // far under what luminance at 8 or 16 bits shows after re-encoding.
        decode[Int((v > 0 ? min(v, 1) : 0) * Float(Self.steps) + 0.5)]
    }

    @inline(__always)
    func encoded(_ l: Float) -> Float {
        encode[Int((l > 0 ? min(l, 1) : 0).squareRoot() * Float(Self.encodeSteps) + 0.5)]
    }
}

/// The colour stage's memory, kept by a `CaptureWorkspace` and reused frame after frame.
final class ColourMemory {
    /// Half-scale radius of the chroma filter: windows of 25 x 25 colour quads (chroma at 1/100
    /// exposure needs that much averaging; the guide keeps it from crossing edges).
    static let radius = 12
    let statistics = BoxMeanRing(channels: 8, radius: ColourMemory.radius)
    let coefficients = BoxMeanRing(channels: 6, radius: ColourMemory.radius)
    /// Linear luminance of the network's output, two full rows per half row, in a ring.
    private(set) var luminance: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    /// One composed row: 3 samples per pixel, sRGB-encoded.
    private(set) var composed: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    private(set) var capacity = 0
    static var slots: Int { 2 * radius + 2 }

    deinit {
        luminance.deallocate()
        composed.deallocate()
    }

    var bytes: Int { statistics.bytes + coefficients.bytes + capacity * 4 * (2 * Self.slots + 3) }

    /// Makes room for frames `width` pixels wide (allocates only when wider than before).
    func reserve(width: Int) {
        guard width > capacity else { return }
        luminance.deallocate()
        composed.deallocate()
        luminance = .allocate(capacity: 2 * Self.slots * width)
        composed = .allocate(capacity: 3 * width)
        capacity = width
    }

    func luminanceRow(halfRow: Int, parity: Int) -> UnsafeMutablePointer<Float> {
        luminance + ((halfRow % Self.slots) * 2 + parity) * capacity
    }
}

/// The camera colour of one frame (`restore --color camera`): the network's output gives the
/// luminance and the detail, the capture's own colour quads give the chroma.
///
/// Per half-scale row, as the network's rows arrive:
/// 1. the network's rows are linearised (the curve of LibRaw's rendering it learned) and their
///    luminance Y kept;
/// 2. each 2x2 quad (R, (G1+G2)/2, B) of the normalised, amplified mosaic is white-balanced
///    and taken to linear sRGB through the camera's matrix: c = M · (q ⊙ wb);
/// 3. a guided filter (He, Sun & Tang) with the network's luminance I as the guide smooths c
///    over 25 x 25 quads without crossing the luminance's edges: per window
///    a = cov(I, c) / (var(I) + ε), b = mean(c) − a · mean(I), both averaged again over the
///    window (two `BoxMeanRing`s, so 2 · radius half rows of delay);
/// 4. at full resolution the filtered colour is q = ā · Y + b̄ (the guide's own detail), its
///    chromaticity q / Y(q) (pulled towards grey by κ where the colour signal is too weak to
///    trust) times the network's Y gives the linear colour, sRGB-encoded.
/// Nothing full-resolution is held: the rings are a few hundred KB to a few MB.
struct ColourStage {
    let memory: ColourMemory
    let tables = TransferTables.shared
    /// The aligned size.
    let width: Int
    let height: Int
    let mosaic: UnsafePointer<UInt16>
    let frameWidth: Int
    let offset: (dy: Int, dx: Int)
    /// Per site of the frame (row parity * 2 + column parity): value = raw * scale − shift.
    let scale: SIMD4<Float>
    let shift: SIMD4<Float>
    /// Camera → linear sRGB with the white balance folded in (columns scaled by wb).
    let matrix: (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)
    /// Where the chroma fades to grey: the colour signal's floor, in the quads' units.
    let kappa: Float

    static let lumaWeights = SIMD3<Float>(0.2126, 0.7152, 0.0722)

    /// `mosaic` is the decoded frame (`frameWidth` wide, aligned by `offset`), `black` and
    /// `white` its levels per site, `amplification` the network input's gain, `whiteBalance`
    /// the camera-RGB multipliers and `cameraToSRGB` the file's matrix; `statistics` the
    /// frame's (`quadStatistics`).
    init(memory: ColourMemory, width: Int, height: Int, mosaic: UnsafePointer<UInt16>, frameWidth: Int,
         offset: (dy: Int, dx: Int), black: SIMD4<Double>, white: Double, amplification: Double,
         whiteBalance: SIMD3<Double>, cameraToSRGB: ColorMatrix3, statistics: QuadStatistics) {
        self.memory = memory
        self.width = width
        self.height = height
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
        let m = cameraToSRGB
        matrix = (SIMD3<Float>(m.rows.0 * whiteBalance), SIMD3<Float>(m.rows.1 * whiteBalance), SIMD3<Float>(m.rows.2 * whiteBalance))
        // κ: where the filtered colour is within about one noise deviation of nothing (or under
        // 2 % of the frame's mean level), its chroma is noise; there it fades to grey. The noise of one sample (from the two greens of each
        // quad) goes through white balance and matrix; the window averages (2r + 1)² quads.
        let sigma = statistics.noise * amplification
        var worst = 0.0
        for i in 0..<3 {
            let coefficients = SIMD3(m[i, 0], m[i, 1], m[i, 2]) * whiteBalance
            let variance = coefficients[0] * coefficients[0] + coefficients[1] * coefficients[1] / 2 + coefficients[2] * coefficients[2]
            worst = max(worst, variance.squareRoot() * sigma)
        }
        let window = Double(2 * ColourMemory.radius + 1)
        kappa = Float(max(worst / window, statistics.means[1] * amplification * 0.02, 1e-6))
        memory.reserve(width: width)
        memory.statistics.begin(width: width / 2, height: height / 2)
        memory.coefficients.begin(width: width / 2, height: height / 2)
    }

    /// What a pass over the frame's quads tells (normalised values, before amplification).
    struct QuadStatistics {
        /// The mean quad per camera channel over unclipped quads: the grey world and the level.
        var means: SIMD3<Double>
        /// The noise of one sample: mean |G1 − G2| / (√2 · √(2/π)) over the quads.
        var noise: Double
    }

    /// `QuadStatistics` from every other quad row.
    static func quadStatistics(mosaic: UnsafePointer<UInt16>, frameWidth: Int, width: Int, height: Int,
                               offset: (dy: Int, dx: Int), black: SIMD4<Double>, white: Double) -> QuadStatistics {
        var sums = SIMD3<Double>(), count = 0, differences = 0.0
        let clip = 0.95
        for p in stride(from: 0, to: height / 2, by: 2) {
            let y = 2 * p + offset.dy
            let row0 = mosaic + y * frameWidth, row1 = row0 + frameWidth
            var rowSums = SIMD3<Double>(), rowCount = 0, rowDifferences = 0.0
            for xh in 0..<(width / 2) {
                let x = 2 * xh + offset.dx
                func v(_ raw: UInt16, _ y: Int, _ x: Int) -> Double {
                    let site = (y & 1) * 2 + (x & 1)
                    return (Double(raw) - black[site]) / (white - black[site])
                }
                let r = v(row0[x], y, x), g1 = v(row0[x + 1], y, x + 1), g2 = v(row1[x], y + 1, x), b = v(row1[x + 1], y + 1, x + 1)
                if max(r, g1, g2, b) >= clip { continue }
                rowSums += SIMD3(r, (g1 + g2) / 2, b)
                rowDifferences += abs(g1 - g2)
                rowCount += 1
            }
            sums += rowSums
            differences += rowDifferences
            count += rowCount
        }
        guard count > 0 else { return QuadStatistics(means: SIMD3(repeating: 0), noise: 0) }
        return QuadStatistics(means: sums / Double(count), noise: differences / Double(count) / (2.0.squareRoot() * (2 / Double.pi).squareRoot()))
    }

    /// Takes the network's two output rows of half row `p`, as even and odd columns per colour.
    func ingest(halfRow p: Int, _ rows: NetworkOutputRows) {
        let half = width / 2
        let y0 = memory.luminanceRow(halfRow: p, parity: 0), y1 = memory.luminanceRow(halfRow: p, parity: 1)
        for parity in 0..<2 {
            let target = parity == 0 ? y0 : y1
            let r = rows.columns(channel: 0, imageRow: 2 * p + parity), g = rows.columns(channel: 1, imageRow: 2 * p + parity)
            let b = rows.columns(channel: 2, imageRow: 2 * p + parity)
            let w = Self.lumaWeights
            for x in 0..<half {
                target[2 * x] = w.x * tables.linear(r.even[x]) + w.y * tables.linear(g.even[x]) + w.z * tables.linear(b.even[x])
                target[2 * x + 1] = w.x * tables.linear(r.odd[x]) + w.y * tables.linear(g.odd[x]) + w.z * tables.linear(b.odd[x])
            }
        }
        let stats = memory.statistics
        let planes = stats.input(row: p), stride = stats.stride
        let y = 2 * p + offset.dy
        let row0 = mosaic + y * frameWidth, row1 = row0 + frameWidth
        let siteRow0 = (y & 1) * 2, siteRow1 = ((y + 1) & 1) * 2
        for xh in 0..<half {
            let x = 2 * xh + offset.dx
            let s00 = siteRow0 + (x & 1), s01 = siteRow0 + ((x + 1) & 1), s10 = siteRow1 + (x & 1), s11 = siteRow1 + ((x + 1) & 1)
            let red = Float(row0[x]) * scale[s00] - shift[s00]
            let green = (Float(row0[x + 1]) * scale[s01] - shift[s01] + Float(row1[x]) * scale[s10] - shift[s10]) * 0.5
            let blue = Float(row1[x + 1]) * scale[s11] - shift[s11]
            let q = SIMD3<Float>(red, green, blue)
            let c = SIMD3<Float>((matrix.0 * q).sum(), (matrix.1 * q).sum(), (matrix.2 * q).sum())
            let guide = (y0[2 * xh] + y0[2 * xh + 1] + y1[2 * xh] + y1[2 * xh + 1]) * 0.25
            planes[xh] = guide
            planes[stride + xh] = guide * guide
            planes[2 * stride + xh] = c.x
            planes[3 * stride + xh] = c.y
            planes[4 * stride + xh] = c.z
            planes[5 * stride + xh] = guide * c.x
            planes[6 * stride + xh] = guide * c.y
            planes[7 * stride + xh] = guide * c.z
        }
        stats.commit(row: p)
        let coefficients = memory.coefficients
        while let m = stats.nextMean() {
            let meanI = stats.mean(channel: 0), meanII = stats.mean(channel: 1)
            let out = coefficients.input(row: m), cstride = coefficients.stride
            for k in 0..<3 {
                let meanC = stats.mean(channel: 2 + k), meanIC = stats.mean(channel: 5 + k)
                let a = out + k * cstride, b = out + (3 + k) * cstride
                for x in 0..<half {
                    let mu = meanI[x]
                    let variance = max(meanII[x] - mu * mu, 0)
                    // ε relative to the local level: edges of more than about 15 % contrast stay.
                    let epsilon = 0.0225 * mu * mu + 1e-7
                    let slope = (meanIC[x] - mu * meanC[x]) / (variance + epsilon)
                    a[x] = slope
                    b[x] = meanC[x] - slope * mu
                }
            }
            coefficients.commit(row: m)
        }
    }

    /// The next half row whose colour is complete (its two full rows can be composed).
    func nextReadyRow() -> Int? { memory.coefficients.nextMean() }

    /// Full row `y` (2m or 2m + 1 of the half row `nextReadyRow` gave), interleaved
    /// sRGB-encoded RGB in [0, 1].
    func compose(row y: Int) -> UnsafePointer<Float> {
        let coefficients = memory.coefficients
        let luma = memory.luminanceRow(halfRow: y / 2, parity: y & 1)
        let out = memory.composed
        let a0 = coefficients.mean(channel: 0), a1 = coefficients.mean(channel: 1), a2 = coefficients.mean(channel: 2)
        let b0 = coefficients.mean(channel: 3), b1 = coefficients.mean(channel: 4), b2 = coefficients.mean(channel: 5)
        let w = Self.lumaWeights
        let k = kappa
        for x in 0..<width {
            let h = x >> 1
            let l = luma[x]
            let q0 = max(a0[h] * l + b0[h], 0), q1 = max(a1[h] * l + b1[h], 0), q2 = max(a2[h] * l + b2[h], 0)
            let scale = l / (w.x * q0 + w.y * q1 + w.z * q2 + k)
            out[3 * x] = tables.encoded((q0 + k) * scale)
            out[3 * x + 1] = tables.encoded((q1 + k) * scale)
            out[3 * x + 2] = tables.encoded((q2 + k) * scale)
        }
        return UnsafePointer(out)
    }
}
