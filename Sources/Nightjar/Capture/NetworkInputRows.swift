import NightjarKernels

/// Produces rows of the network input from a frame's raw mosaic on demand (REFERENCE.md §3
/// steps 2–5): black subtraction and scaling through a per-site table, RGGB alignment,
/// amplification, and reflect padding to multiples of 32. No frame-sized float buffer exists:
/// the streaming engine asks for the rows it needs, twice per frame.
///
/// The table and the column map live either in storage of this value's own (`init(frame:)`)
/// or in a `CaptureWorkspace`, which fills them for each frame without allocating.
public struct NetworkInputRows: @unchecked Sendable {
    public let frameWidth: Int
    public let offset: (dy: Int, dx: Int)
    /// The aligned, even size.
    public let width: Int
    public let height: Int
    public let paddedWidth: Int
    public let paddedHeight: Int
    public let amplification: Float
    /// Normalised value of each (site, raw) pair: entry `site * tableStride + raw`.
    private let table: UnsafePointer<Float>
    private let tableStride: Int
    /// Source column in the frame of each padded column.
    private let sourceColumns: UnsafePointer<Int>
    /// Keeps `table` and `sourceColumns` alive (read-only once made, so the value can be shared
    /// by the engine's threads).
    private let owner: AnyObject

    /// With tables of its own (allocates them).
    public init(frame: BayerFrame, amplification: Double) {
        let maxRaw = frame.mosaic.withUnsafeBufferPointer { CapturePipeline.maximum($0) }
        let offset = frame.cfa.rggbOffset
        let aligned = CapturePipeline.alignedSize(width: frame.width, height: frame.height, offset: offset)
        let storage = Storage(tableCount: 4 * (maxRaw + 1), columnCount: FramePadding.paddedLength(aligned.width))
        CapturePipeline.fillNormalisationTable(storage.table, black: SIMD4(frame.black), white: frame.white, maxRaw: maxRaw)
        self.init(frameWidth: frame.width, frameHeight: frame.height, cfa: frame.cfa, maxRaw: maxRaw,
                  amplification: amplification, table: storage.table, columns: storage.columns, owner: storage)
    }

    /// Over tables the caller keeps alive through `owner` (no allocation): `table` is the
    /// frame's normalisation table for `maxRaw`, already filled; `columns` has room for the
    /// padded width and is filled here.
    init(frameWidth: Int, frameHeight: Int, cfa: CFAPattern, maxRaw: Int, amplification: Double,
         table: UnsafePointer<Float>, columns: UnsafeMutablePointer<Int>, owner: AnyObject) {
        self.frameWidth = frameWidth
        offset = cfa.rggbOffset
        let size = CapturePipeline.alignedSize(width: frameWidth, height: frameHeight, offset: offset)
        width = size.width
        height = size.height
        paddedWidth = FramePadding.paddedLength(size.width)
        paddedHeight = FramePadding.paddedLength(size.height)
        self.amplification = Float(amplification)
        self.table = table
        tableStride = maxRaw + 1
        for column in 0..<paddedWidth {
            columns[column] = CapturePipeline.reflectIndex(column, count: size.width) + offset.dx
        }
        sourceColumns = UnsafePointer(columns)
        self.owner = owner
    }

    /// Writes padded mosaic rows `rows` at `destination`, `paddedWidth` floats each.
    public func fill(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>, mosaic: UnsafeBufferPointer<UInt16>) {
        let mosaic = MosaicView(raw: mosaic.baseAddress!)
        for row in rows {
            let source = sourceRow(row)
            let out = destination + (row - rows.lowerBound) * paddedWidth
            for col in 0..<paddedWidth { out[col] = value(col, source, mosaic) }
        }
    }

    /// Writes padded mosaic rows 2p and 2p + 1 for p in `pairs`, split as the network's first
    /// layers read them (`NetworkRowSource`): the pixel unshuffles, done on the way in.
    public func fill(pairs: Range<Int>, split: Int, into planes: UnsafeMutablePointer<Float>, channelStride: Int,
                     mosaic: UnsafeBufferPointer<UInt16>) {
        fill(pairs: pairs, split: split,
             into: NetworkInputPlanes(base: UnsafeMutableRawPointer(planes), element: .fp32, channelStride: channelStride,
                                      width: paddedWidth / (2 * split)),
             mosaic: MosaicView(raw: mosaic.baseAddress!))
    }

    /// The same from a mosaic of raw values or of 8-bit codes (then `table` is the codes'), in
    /// either element type, a row at a time by the C kernels (nj_u16_network_input_row and its
    /// binary16 form).
    func fill(pairs: Range<Int>, split: Int, into planes: NetworkInputPlanes, mosaic: MosaicView) {
        precondition(planes.width == paddedWidth / (2 * split), "the planes are as wide as the padded mosaic split")
        let out = SplitInput(pairs: pairs, split: split, planes: planes)
        for row in (2 * pairs.lowerBound)..<(2 * pairs.upperBound) {
            let source = sourceRow(row), target = out.row(row)
            let even = table + source.site * tableStride, odd = even + tableStride
            if let raw = mosaic.raw {
                target.store(row: raw + source.base, sources: sourceColumns, tableEven: even, tableOdd: odd,
                             amplification: amplification, count: paddedWidth)
            } else {
                target.store(row: mosaic.codes.unsafelyUnwrapped + source.base, sources: sourceColumns, tableEven: even, tableOdd: odd,
                             amplification: amplification, count: paddedWidth)
            }
        }
    }

    /// Where padded row `row` comes from: its first pixel in the mosaic, and its CFA row.
    @inline(__always)
    private func sourceRow(_ row: Int) -> (base: Int, site: Int) {
        let y = CapturePipeline.reflectIndex(row, count: height) + offset.dy
        return (y * frameWidth, (y & 1) * 2)
    }

    /// The network input at padded column `col` of a row.
    @inline(__always)
    private func value(_ col: Int, _ row: (base: Int, site: Int), _ mosaic: MosaicView) -> Float {
        let sourceCol = sourceColumns[col]
        let site = row.site + (sourceCol & 1)
        return table[site * tableStride + mosaic.index(row.base + sourceCol)] * amplification
    }

    /// The tables of a value made from a `BayerFrame`.
    private final class Storage {
        let table: UnsafeMutablePointer<Float>
        let columns: UnsafeMutablePointer<Int>

        init(tableCount: Int, columnCount: Int) {
            table = .allocate(capacity: tableCount)
            columns = .allocate(capacity: max(columnCount, 1))
        }

        deinit {
            table.deallocate()
            columns.deallocate()
        }
    }
}

/// The network's row source for one frame: `NetworkInputRows` over the frame's mosaic.
struct MosaicRowSource: NetworkRowSource {
    let input: NetworkInputRows
    let mosaic: MosaicView

    func fill(pairs: Range<Int>, split: Int, into planes: NetworkInputPlanes) {
        input.fill(pairs: pairs, split: split, into: planes, mosaic: mosaic)
    }
}
