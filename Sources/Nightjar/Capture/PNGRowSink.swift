/// Takes the network's output rows as they finish and writes the PNG: crops the padding,
/// quantises to 8 or 16 bits and writes each row at once. A rotated frame (the camera's
/// orientation) cannot be written row by row, so its quantised pixels are kept until the end,
/// as samples of the output's depth (1 byte each for 8-bit output, 2 for 16-bit).
/// The row and the held frame are memory of the caller's (a `CaptureWorkspace`): no
/// allocation here.
struct PNGRowSink: NetworkRowSink {
    let encoder: PNGEncoder
    /// The aligned (cropped) size, before orientation.
    let width: Int
    let height: Int
    let bits: Int
    let flip: Int
    /// One output row: `3 * outputWidth` samples.
    private let row: UnsafeMutableRawPointer
    /// Quantised source-order pixels of a rotated frame, `3 * width * height` samples (nil
    /// when flip is 0).
    private let held: UnsafeMutableRawPointer?

    /// `row` holds `3 * max(width, height)` samples of `bits`; `held`, needed when `flip` is not
    /// 0, `3 * width * height` of them.
    init(encoder: PNGEncoder, width: Int, height: Int, bits: Int, flip: Int,
         row: UnsafeMutableRawPointer, held: UnsafeMutableRawPointer?) {
        precondition(flip == 0 || held != nil, "a rotated frame needs memory to be held in")
        self.encoder = encoder
        self.width = width
        self.height = height
        self.bits = bits
        self.flip = flip
        self.row = row
        self.held = flip == 0 ? nil : held
    }

    mutating func consume(rows: Range<Int>, start: UnsafePointer<Float>, channelStride: Int, width padded: Int) throws {
        for y in rows where y < height {
            let red = start + (y - rows.lowerBound) * padded
            let green = red + channelStride, blue = green + channelStride
            if let held {
                let base = y * width * 3
                if bits == 8 {
                    quantise8(red, green, blue, into: held.assumingMemoryBound(to: UInt8.self) + base)
                } else {
                    quantise16(red, green, blue, into: held.assumingMemoryBound(to: UInt16.self) + base)
                }
            } else if bits == 8 {
                quantise8(red, green, blue, into: row.assumingMemoryBound(to: UInt8.self))
                try encoder.writeRow(row)
            } else {
                quantise16(red, green, blue, into: row.assumingMemoryBound(to: UInt16.self))
                try encoder.writeRow(row)
            }
        }
    }

    private func quantise8(_ red: UnsafePointer<Float>, _ green: UnsafePointer<Float>, _ blue: UnsafePointer<Float>,
                           into out: UnsafeMutablePointer<UInt8>) {
        for x in 0..<width {
            out[3 * x] = CapturePipeline.quantise8(red[x])
            out[3 * x + 1] = CapturePipeline.quantise8(green[x])
            out[3 * x + 2] = CapturePipeline.quantise8(blue[x])
        }
    }

    private func quantise16(_ red: UnsafePointer<Float>, _ green: UnsafePointer<Float>, _ blue: UnsafePointer<Float>,
                            into out: UnsafeMutablePointer<UInt16>) {
        for x in 0..<width {
            out[3 * x] = CapturePipeline.quantise16(red[x])
            out[3 * x + 1] = CapturePipeline.quantise16(green[x])
            out[3 * x + 2] = CapturePipeline.quantise16(blue[x])
        }
    }

    /// Writes the held rows of a rotated frame, in output orientation.
    func finish() throws {
        guard let held else { return }
        if bits == 8 {
            try writeHeld(held.assumingMemoryBound(to: UInt8.self), row: row.assumingMemoryBound(to: UInt8.self))
        } else {
            try writeHeld(held.assumingMemoryBound(to: UInt16.self), row: row.assumingMemoryBound(to: UInt16.self))
        }
    }

    private func writeHeld<Sample>(_ held: UnsafeMutablePointer<Sample>, row: UnsafeMutablePointer<Sample>) throws {
        let size = CapturePipeline.orientedSize(width: width, height: height, flip: flip)
        for y in 0..<size.height {
            for x in 0..<size.width {
                let s = CapturePipeline.sourcePixel(row: y, col: x, width: width, height: height, flip: flip)
                let from = (s.row * width + s.col) * 3
                row[3 * x] = held[from]
                row[3 * x + 1] = held[from + 1]
                row[3 * x + 2] = held[from + 2]
            }
            try encoder.writeRow(UnsafeRawPointer(row))
        }
    }
}
