import NightjarKernels

// The network's two ends, in the layout its first and last convolutions use: both at half
// scale. The pixel unshuffle at the input and the pixel shuffle at the output are not steps of
// their own: whoever produces the input writes the four Bayer phases directly (the capture
// pipeline does it while it normalises and amplifies), and whoever consumes the output reads
// the 12 planes as an RGB image and clamps it (the PNG writer does it while it quantises). So
// no full-resolution float tensor is ever written or read.

/// Where the network's input rows come from.
///
/// The input is the padded mosaic (normalised, amplified, RGGB at (0, 0)), delivered already
/// split the way the network's first layers read it: `split` 1 gives the four Bayer phase planes
/// at half scale (what the 1/2 and 1/8 branches read), `split` 16 the 1024 planes at 1/32 scale
/// that the 1/32 branch reads (the phases split again by 16). Plane (2·ci + cj)·split² +
/// i·split + j, row y, column x holds the mosaic at row 2·(split·y + i) + ci, column
/// 2·(split·x + j) + cj. `SplitInput` does this addressing; a source only produces values.
public protocol NetworkRowSource {
    /// Writes mosaic rows 2p and 2p + 1 for every p in `pairs` into `planes`, the input split
    /// by `split`, as FP32, binary16 or int8 (`planes.element`; binary16: each FP32 value
    /// rounded once, to nearest even, as `nj_f32_to_f16` rounds it; int8: each FP32 value
    /// quantised as `nj_qs8_quantize` quantises it). `planes.base` is plane 0 at row
    /// `pairs.lowerBound / split`. Called from several threads at once for disjoint pairs (of
    /// the same rows, for split > 1).
    func fill(pairs: Range<Int>, split: Int, into planes: NetworkInputPlanes)
}

extension NetworkRowSource {
    /// The same into FP32 planes `channelStride` floats apart, rows `width` floats.
    public func fill(pairs: Range<Int>, split: Int, into planes: UnsafeMutablePointer<Float>, channelStride: Int, width: Int) {
        fill(pairs: pairs, split: split, into: NetworkInputPlanes(base: UnsafeMutableRawPointer(planes), element: .fp32,
                                                                  channelStride: channelStride, width: width))
    }
}

/// Where a source writes the network's input: the planes of a split input, in the element type
/// the network's first layers read (FP32; binary16 where they all run in FP16; int8 where they
/// all run in int8 and read one encoding), so the input is never written twice.
public struct NetworkInputPlanes {
    public enum Element: Sendable, Equatable {
        case fp32, fp16
        case int8(ActivationQuantization)

        public var bytes: Int {
            switch self {
            case .fp32: return 4
            case .fp16: return 2
            case .int8: return 1
            }
        }
    }

    public let base: UnsafeMutableRawPointer
    public let element: Element
    /// Elements between planes.
    public let channelStride: Int
    /// Elements per row: the mosaic's width / (2·split).
    public let width: Int

    public init(base: UnsafeMutableRawPointer, element: Element, channelStride: Int, width: Int) {
        self.base = base
        self.element = element
        self.channelStride = channelStride
        self.width = width
    }
}

/// The addressing of a split input (see `NetworkRowSource`), for sources to write through.
public struct SplitInput {
    let planes: NetworkInputPlanes
    let split: Int
    let shift: Int
    let firstRow: Int

    @inline(__always)
    public init(pairs: Range<Int>, split: Int, planes: NetworkInputPlanes) {
        precondition(split > 0 && split & (split - 1) == 0, "the split is a power of two")
        self.planes = planes
        self.split = split
        shift = split.trailingZeroBitCount
        firstRow = pairs.lowerBound >> shift
    }

    /// Where mosaic row `row` goes: `row[column]` of the result stores a value.
    @inline(__always)
    public func row(_ row: Int) -> Row {
        let pair = row >> 1, i = pair & (split - 1)
        let offset = ((row & 1) * 2 * split * split + i * split) * planes.channelStride + ((pair >> shift) - firstRow) * planes.width
        return Row(base: planes.base + offset * planes.element.bytes, element: planes.element, channelStride: planes.channelStride,
                   split: split, shift: shift)
    }

    public struct Row {
        /// Where the row's first even column goes (plane 0 of its pair's planes).
        public let base: UnsafeMutableRawPointer
        public let element: NetworkInputPlanes.Element
        /// Elements between planes.
        public let channelStride: Int
        let split: Int
        let shift: Int

        /// Mosaic column `column` is at plane cj·split² + j, column x of this row. (One value
        /// at a time: for sources where speed does not matter; the capture's rows are written
        /// by the C kernels.)
        @inline(__always)
        public func store(_ value: Float, column: Int) {
            let half = column >> 1
            let index = ((column & 1) * split * split + (half & (split - 1))) * channelStride + (half >> shift)
            switch element {
            case .fp32:
                base.assumingMemoryBound(to: Float.self)[index] = value
            case .fp16:
                withUnsafePointer(to: value) { nj_f32_to_f16($0, base.assumingMemoryBound(to: UInt16.self) + index, 1) }
            case .int8(let q):
                withUnsafePointer(to: value) {
                    nj_qs8_quantize($0, base.assumingMemoryBound(to: Int8.self) + index, 1, nj_qs8_quantization(q))
                }
            }
        }

        /// The whole mosaic row `row` of `count` columns by the C kernel of the element type:
        /// column c's value is `(sources[c] even ? tableEven : tableOdd)[row[sources[c]]] ·
        /// amplification` (nj_u16_network_input_row, or its binary16 or int8 form). A source
        /// is never more than one column past the one before (a reflected map).
        @inline(__always)
        public func store(row: UnsafePointer<UInt16>, sources: UnsafePointer<Int>, tableEven: UnsafePointer<Float>,
                          tableOdd: UnsafePointer<Float>, amplification: Float, count: Int) {
            switch element {
            case .fp32:
                nj_u16_network_input_row(base.assumingMemoryBound(to: Float.self), channelStride, Int32(split), row, sources,
                                         tableEven, tableOdd, amplification, count)
            case .fp16:
                nj_u16_network_input_row_f16(base.assumingMemoryBound(to: UInt16.self), channelStride, Int32(split), row, sources,
                                             tableEven, tableOdd, amplification, count)
            case .int8(let q):
                nj_u16_network_input_row_qs8(base.assumingMemoryBound(to: Int8.self), channelStride, Int32(split), row, sources,
                                             tableEven, tableOdd, amplification, nj_qs8_quantization(q), count)
            }
        }

        /// The same from a row of 8-bit codes (nj_u8_network_input_row and its other forms).
        @inline(__always)
        public func store(row: UnsafePointer<UInt8>, sources: UnsafePointer<Int>, tableEven: UnsafePointer<Float>,
                          tableOdd: UnsafePointer<Float>, amplification: Float, count: Int) {
            switch element {
            case .fp32:
                nj_u8_network_input_row(base.assumingMemoryBound(to: Float.self), channelStride, Int32(split), row, sources,
                                        tableEven, tableOdd, amplification, count)
            case .fp16:
                nj_u8_network_input_row_f16(base.assumingMemoryBound(to: UInt16.self), channelStride, Int32(split), row, sources,
                                            tableEven, tableOdd, amplification, count)
            case .int8(let q):
                nj_u8_network_input_row_qs8(base.assumingMemoryBound(to: Int8.self), channelStride, Int32(split), row, sources,
                                            tableEven, tableOdd, amplification, nj_qs8_quantization(q), count)
            }
        }
    }
}

/// Where the network's finished output rows go.
public protocol NetworkRowSink {
    /// Takes finished rows, in order, each once.
    mutating func consume(_ rows: NetworkOutputRows) throws
}

/// Finished output rows as the last convolution leaves them: 12 planes at half scale, not yet
/// clamped to [0, 1]. Plane 4c + 2i + j, row y, column x is channel c (red, green, blue) of the
/// image at row 2y + i, column 2x + j.
public struct NetworkOutputRows {
    /// Rows at half scale: image rows 2·lowerBound ..< 2·upperBound.
    public let rows: Range<Int>
    /// Plane 0 at row `rows.lowerBound`; planes are `channelStride` apart, rows `width` apart:
    /// FP32 values, or an int8 last layer's codes (`encoding`).
    public let raw: UnsafeRawPointer
    /// nil: FP32 values; else the codes' encoding (value = scale · (code − zero point)).
    public let encoding: ActivationQuantization?
    public let channelStride: Int
    /// Half the image's width.
    public let width: Int

    public init(rows: Range<Int>, start: UnsafePointer<Float>, channelStride: Int, width: Int) {
        self.rows = rows
        self.raw = UnsafeRawPointer(start)
        self.encoding = nil
        self.channelStride = channelStride
        self.width = width
    }

    public init(rows: Range<Int>, codes: UnsafePointer<Int8>, encoding: ActivationQuantization, channelStride: Int, width: Int) {
        self.rows = rows
        self.raw = UnsafeRawPointer(codes)
        self.encoding = encoding
        self.channelStride = channelStride
        self.width = width
    }

    /// The image rows these rows cover.
    public var imageRows: Range<Int> { (2 * rows.lowerBound)..<(2 * rows.upperBound) }

    /// Elements from plane 0's first row to image row `row` of `channel`'s even columns.
    @inline(__always)
    private func offset(channel: Int, imageRow row: Int) -> Int {
        (4 * channel + 2 * (row & 1)) * channelStride + (row / 2 - rows.lowerBound) * width
    }

    /// Image row `row` of `channel`, as its even columns (element x is column 2x) and its odd
    /// columns (element x is column 2x + 1). FP32 rows only.
    @inline(__always)
    public func columns(channel: Int, imageRow row: Int) -> (even: UnsafePointer<Float>, odd: UnsafePointer<Float>) {
        let even = raw.assumingMemoryBound(to: Float.self) + offset(channel: channel, imageRow: row)
        return (even, even + channelStride)
    }

    /// The same for int8 rows: the codes.
    @inline(__always)
    public func codeColumns(channel: Int, imageRow row: Int) -> (even: UnsafePointer<Int8>, odd: UnsafePointer<Int8>) {
        let even = raw.assumingMemoryBound(to: Int8.self) + offset(channel: channel, imageRow: row)
        return (even, even + channelStride)
    }

    /// Writes these rows into a planar 3×height×(2·width) image, clamped to [0, 1] (NaN → 0);
    /// int8 rows as nj_qs8_dequantize makes their values.
    public func write(toPlanar image: UnsafeMutablePointer<Float>, height: Int) {
        let imageWidth = 2 * width
        let first = image + imageRows.lowerBound * imageWidth
        guard let encoding else {
            nj_f32_pixel_shuffle_scalar(raw.assumingMemoryBound(to: Float.self), channelStride, Int32(rows.count), 12, Int32(width), 2,
                                        0, Int32(rows.count), first, height * imageWidth, Int32(imageRows.count))
            for channel in 0..<3 {
                nj_f32_clamp_scalar(first + channel * height * imageWidth, imageRows.count * imageWidth, 0, 1)
            }
            return
        }
        // Each code once, no scratch: a plane's row dequantised straight into its pixels.
        let scale = encoding.scale, zeroPoint = encoding.zeroPoint
        @inline(__always) func value(_ code: Int8) -> Float {
            let v = scale * Float(Int32(code) - zeroPoint)
            return v >= 0 ? (v <= 1 ? v : 1) : 0
        }
        for channel in 0..<3 {
            for y in imageRows {
                let (even, odd) = codeColumns(channel: channel, imageRow: y)
                let target = image + channel * height * imageWidth + y * imageWidth
                for x in 0..<width {
                    target[2 * x] = value(even[x])
                    target[2 * x + 1] = value(odd[x])
                }
            }
        }
    }
}

/// A whole input mosaic in memory (row-major, `2·split·width` floats per row).
public struct PlanarInput: NetworkRowSource {
    public let base: UnsafePointer<Float>
    public init(base: UnsafePointer<Float>) { self.base = base }
    public func fill(pairs: Range<Int>, split: Int, into planes: NetworkInputPlanes) {
        let out = SplitInput(pairs: pairs, split: split, planes: planes)
        let mosaicWidth = 2 * split * planes.width
        for row in (2 * pairs.lowerBound)..<(2 * pairs.upperBound) {
            let target = out.row(row), source = base + row * mosaicWidth
            for column in 0..<mosaicWidth { target.store(source[column], column: column) }
        }
    }
}

/// A whole 3×height×width output in memory, clamped to [0, 1].
public struct PlanarOutput: NetworkRowSink {
    public let base: UnsafeMutablePointer<Float>
    public let height: Int
    public init(base: UnsafeMutablePointer<Float>, height: Int) {
        self.base = base
        self.height = height
    }
    public mutating func consume(_ rows: NetworkOutputRows) {
        rows.write(toPlanar: base, height: height)
    }
}
