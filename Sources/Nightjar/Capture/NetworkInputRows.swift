/// Produces rows of the network input from a frame's raw mosaic on demand (REFERENCE.md §3
/// steps 2–5): black subtraction and scaling through a per-site table, RGGB alignment,
/// amplification, and reflect padding to multiples of 32. No frame-sized float buffer exists:
/// the streaming engine asks for the rows it needs, twice per frame.
public struct NetworkInputRows: Sendable {
    public let frameWidth: Int
    public let offset: (dy: Int, dx: Int)
    /// The aligned, even size.
    public let width: Int
    public let height: Int
    public let paddedWidth: Int
    public let paddedHeight: Int
    public let amplification: Float
    /// Normalised value of each (site, raw) pair: entry `site * tableStride + raw`.
    private let table: [Float]
    private let tableStride: Int
    /// Source column in the frame of each padded column.
    private let sourceColumns: [Int]

    public init(frame: BayerFrame, amplification: Double) {
        frameWidth = frame.width
        offset = frame.cfa.rggbOffset
        let size = CapturePipeline.alignedSize(width: frame.width, height: frame.height, offset: offset)
        width = size.width
        height = size.height
        paddedWidth = CapturePipeline.paddedLength(size.width)
        paddedHeight = CapturePipeline.paddedLength(size.height)
        self.amplification = Float(amplification)
        let maxRaw = Int(frame.mosaic.max() ?? 0)
        table = CapturePipeline.normalisationTable(black: frame.black, white: frame.white, maxRaw: maxRaw)
        tableStride = maxRaw + 1
        let (w, dx) = (size.width, offset.dx)
        sourceColumns = (0..<paddedWidth).map { CapturePipeline.reflectIndex($0, count: w) + dx }
    }

    /// Writes padded rows `rows` at `destination`, `paddedWidth` floats each.
    public func fill(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>, mosaic: UnsafeBufferPointer<UInt16>) {
        let a = amplification
        table.withUnsafeBufferPointer { table in
            sourceColumns.withUnsafeBufferPointer { columns in
                for row in rows {
                    let sourceRow = CapturePipeline.reflectIndex(row, count: height) + offset.dy
                    let rowSite = (sourceRow & 1) * 2
                    let base = sourceRow * frameWidth
                    let out = destination + (row - rows.lowerBound) * paddedWidth
                    for col in 0..<paddedWidth {
                        let sourceCol = columns[col]
                        let site = rowSite + (sourceCol & 1)
                        out[col] = table[site * tableStride + Int(mosaic[base + sourceCol])] * a
                    }
                }
            }
        }
    }
}

/// The network's row source for one frame: `NetworkInputRows` over the frame's mosaic.
struct MosaicRowSource: NetworkRowSource {
    let input: NetworkInputRows
    let mosaic: UnsafeBufferPointer<UInt16>

    func fill(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>, width: Int) {
        input.fill(rows: rows, into: destination, mosaic: mosaic)
    }
}
