import NightjarKernels

// The network's two ends, in the layout its first and last convolutions use: both at half
// scale. The pixel unshuffle at the input and the pixel shuffle at the output are not steps of
// their own: whoever produces the input writes the four Bayer phases directly (the capture
// pipeline does it while it normalises and amplifies), and whoever consumes the output reads
// the 12 planes as an RGB image and clamps it (the PNG writer does it while it quantises). So
// no full-resolution float tensor is ever written or read.

/// Where the network's input rows come from.
public protocol NetworkRowSource {
    /// Writes rows `rows` (at half scale) of the network input (normalised, amplified, padded to
    /// multiples of 32) as its four Bayer phase planes: plane 2i + j starts at
    /// `planes + (2i + j) * channelStride`, and its row y, `(y - rows.lowerBound) * width` floats
    /// further, holds the mosaic's row 2y + i at columns j, j + 2, j + 4, … (`width` is half the
    /// mosaic's). Called from several threads at once for disjoint rows.
    func fill(rows: Range<Int>, into planes: UnsafeMutablePointer<Float>, channelStride: Int, width: Int)
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
    /// Plane 0 at row `rows.lowerBound`; planes are `channelStride` apart, rows `width` apart.
    public let start: UnsafePointer<Float>
    public let channelStride: Int
    /// Half the image's width.
    public let width: Int

    public init(rows: Range<Int>, start: UnsafePointer<Float>, channelStride: Int, width: Int) {
        self.rows = rows
        self.start = start
        self.channelStride = channelStride
        self.width = width
    }

    /// The image rows these rows cover.
    public var imageRows: Range<Int> { (2 * rows.lowerBound)..<(2 * rows.upperBound) }

    /// Image row `row` of `channel`, as its even columns (element x is column 2x) and its odd
    /// columns (element x is column 2x + 1).
    @inline(__always)
    public func columns(channel: Int, imageRow row: Int) -> (even: UnsafePointer<Float>, odd: UnsafePointer<Float>) {
        let even = start + (4 * channel + 2 * (row & 1)) * channelStride + (row / 2 - rows.lowerBound) * width
        return (even, even + channelStride)
    }

    /// Writes these rows into a planar 3×height×(2·width) image, clamped to [0, 1] (NaN → 0).
    public func write(toPlanar image: UnsafeMutablePointer<Float>, height: Int) {
        let imageWidth = 2 * width
        let first = image + imageRows.lowerBound * imageWidth
        nj_f32_pixel_shuffle_scalar(start, channelStride, Int32(rows.count), 12, Int32(width), 2,
                                    0, Int32(rows.count), first, height * imageWidth, Int32(imageRows.count))
        for channel in 0..<3 {
            nj_f32_clamp_scalar(first + channel * height * imageWidth, imageRows.count * imageWidth, 0, 1)
        }
    }
}

/// Splits rows of a row-major mosaic (`2 * width` columns) into the four phase planes, as a
/// `NetworkRowSource` writes them.
@inline(__always)
func splitMosaic(_ mosaic: UnsafePointer<Float>, rows: Range<Int>, into planes: UnsafeMutablePointer<Float>,
                 channelStride: Int, width: Int) {
    nj_f32_pixel_unshuffle_scalar(mosaic + 2 * rows.lowerBound * 2 * width, 0, Int32(2 * rows.count), 1, Int32(2 * width), 2,
                                  0, Int32(rows.count), planes, channelStride, Int32(rows.count))
}

/// A whole input plane in memory (height × 2·width floats, row-major).
public struct PlanarInput: NetworkRowSource {
    public let base: UnsafePointer<Float>
    public init(base: UnsafePointer<Float>) { self.base = base }
    public func fill(rows: Range<Int>, into planes: UnsafeMutablePointer<Float>, channelStride: Int, width: Int) {
        splitMosaic(base, rows: rows, into: planes, channelStride: channelStride, width: width)
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
