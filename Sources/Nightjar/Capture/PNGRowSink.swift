/// Takes the network's output rows as they finish and writes the PNG: crops the padding,
/// quantises to 8 or 16 bits and writes each row at once. A rotated frame (the camera's
/// orientation) cannot be written row by row, so its quantised pixels are kept until the end.
struct PNGRowSink: NetworkRowSink {
    let writer: PNGRowWriter
    /// The aligned (cropped) size, before orientation.
    let width: Int
    let height: Int
    let bits: Int
    let flip: Int
    private var row8: [UInt8]
    private var row16: [UInt16]
    /// Quantised source-order pixels of a rotated frame (empty when flip is 0).
    private var held: [UInt16]

    init(writer: PNGRowWriter, width: Int, height: Int, bits: Int, flip: Int) {
        self.writer = writer
        self.width = width
        self.height = height
        self.bits = bits
        self.flip = flip
        let outWidth = CapturePipeline.orientedSize(width: width, height: height, flip: flip).width
        row8 = bits == 8 ? [UInt8](repeating: 0, count: outWidth * 3) : []
        row16 = bits == 16 ? [UInt16](repeating: 0, count: outWidth * 3) : []
        held = flip == 0 ? [] : [UInt16](repeating: 0, count: width * height * 3)
    }

    mutating func consume(rows: Range<Int>, start: UnsafePointer<Float>, channelStride: Int, width padded: Int) throws {
        for row in rows where row < height {
            let red = start + (row - rows.lowerBound) * padded
            let green = red + channelStride, blue = green + channelStride
            if flip != 0 {
                let base = row * width * 3
                for x in 0..<width {
                    held[base + 3 * x] = quantise(red[x])
                    held[base + 3 * x + 1] = quantise(green[x])
                    held[base + 3 * x + 2] = quantise(blue[x])
                }
            } else if bits == 8 {
                for x in 0..<width {
                    row8[3 * x] = CapturePipeline.quantise8(red[x])
                    row8[3 * x + 1] = CapturePipeline.quantise8(green[x])
                    row8[3 * x + 2] = CapturePipeline.quantise8(blue[x])
                }
                try row8.withUnsafeBufferPointer { try writer.writeRow($0) }
            } else {
                for x in 0..<width {
                    row16[3 * x] = CapturePipeline.quantise16(red[x])
                    row16[3 * x + 1] = CapturePipeline.quantise16(green[x])
                    row16[3 * x + 2] = CapturePipeline.quantise16(blue[x])
                }
                try row16.withUnsafeBufferPointer { try writer.writeRow($0) }
            }
        }
    }

    private func quantise(_ y: Float) -> UInt16 {
        bits == 8 ? UInt16(CapturePipeline.quantise8(y)) : CapturePipeline.quantise16(y)
    }

    /// Writes the held rows of a rotated frame, in output orientation.
    mutating func finish() throws {
        guard flip != 0 else { return }
        let size = CapturePipeline.orientedSize(width: width, height: height, flip: flip)
        for y in 0..<size.height {
            for x in 0..<size.width {
                let s = CapturePipeline.sourcePixel(row: y, col: x, width: width, height: height, flip: flip)
                let from = (s.row * width + s.col) * 3
                for c in 0..<3 {
                    if bits == 8 { row8[3 * x + c] = UInt8(held[from + c]) } else { row16[3 * x + c] = held[from + c] }
                }
            }
            if bits == 8 {
                try row8.withUnsafeBufferPointer { try writer.writeRow($0) }
            } else {
                try row16.withUnsafeBufferPointer { try writer.writeRow($0) }
            }
        }
    }
}
