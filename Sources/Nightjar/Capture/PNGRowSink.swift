import NightjarKernels

/// Takes the network's output rows as they finish and writes the PNG, in stages:
/// 1. read: the network's 12 half-scale planes as RGB rows (FP32 values, or an int8 network's
///    codes), the padding cropped;
/// 2. colour: with a `ColourStage` (`--color camera`), the rows go through it (on the engine's
///    worker threads) and come back a few rows later with the camera's colour, sRGB-encoded
///    and quantised; without one (`--color network`) the network's values go on as they are,
///    bit for bit;
/// 3. quantise: clamp to [0, 1] and round to 8 or 16 bits (network colour: a C kernel,
///    nj_f32_rgb_quantise8/16, vectorised, with the formula of `CapturePipeline.quantise8`);
/// 4. orient and write: each row at once, or, for a rotated frame (the camera's orientation),
///    which cannot be written row by row, kept until the end as samples of the output's depth
///    (1 byte each for 8-bit output, 2 for 16-bit) and written turned.
/// The row and the held frame are memory of the caller's (a `CaptureWorkspace`): no
/// allocation here.
struct PNGRowSink: NetworkRowSink, ColourRowTarget {
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
    /// The camera colour stage, or nil for the network's own colour.
    private let colour: ColourStage?
    /// The network colour's quantisation for this CPU, resolved once per frame
    /// (nightjar_kernels_colour.h: `CapturePipeline.quantise8`/`quantise16`'s formula,
    /// vectorised and interleaved into RGB).
    private let kernels = nj_colour_kernels_active()

    /// Wall time spent making colour samples so far, the PNG writer's rows not included: the
    /// camera colour stage (its rounds on the worker threads included), or for network colour
    /// the conversion of the network's planes to samples, the work camera colour replaces.
    /// Their difference is what camera colour adds to a frame.
    var colourNanoseconds: UInt64 { stageNanoseconds - placingNanoseconds }
    private var stageNanoseconds: UInt64 = 0
    private var placingNanoseconds: UInt64 = 0

    /// `row` holds `3 * max(width, height)` samples of `bits`; `held`, needed when `flip` is not
    /// 0, `3 * width * height` of them.
    init(encoder: PNGEncoder, width: Int, height: Int, bits: Int, flip: Int,
         row: UnsafeMutableRawPointer, held: UnsafeMutableRawPointer?, colour: ColourStage? = nil) {
        precondition(flip == 0 || held != nil, "a rotated frame needs memory to be held in")
        self.encoder = encoder
        self.width = width
        self.height = height
        self.bits = bits
        self.flip = flip
        self.row = row
        self.held = flip == 0 ? nil : held
        self.colour = colour
    }

    /// Reads the network's 12 half-scale planes as RGB (the last pixel shuffle) and clamps while
    /// it quantises: no full-resolution float row is made.
    mutating func consume(_ rows: NetworkOutputRows) throws {
        if let colour {
            // The stage's own time, without the PNG writer's (which network colour pays too).
            // (Timed through stored properties: a local counter captured by the closure was
            // boxed on the heap at every call.)
            let start = ProcessMetrics.nanoseconds()
            try colour.consume(rows, into: &self)
            stageNanoseconds += ProcessMetrics.nanoseconds() - start
            return
        }
        for y in rows.imageRows where y < height {
            let start = ProcessMetrics.nanoseconds()
            let out = held.map { $0 + y * width * 3 * (bits / 8) } ?? row
            if let encoding = rows.encoding {
                // An int8 network's codes, each dequantised as it is quantised to a sample.
                let red = rows.codeColumns(channel: 0, imageRow: y), green = rows.codeColumns(channel: 1, imageRow: y)
                let blue = rows.codeColumns(channel: 2, imageRow: y)
                if bits == 8 {
                    kernels.code_quantise8!(out.assumingMemoryBound(to: UInt8.self), red.even, red.odd, green.even, green.odd,
                                            blue.even, blue.odd, encoding.scale, encoding.zeroPoint, width)
                } else {
                    kernels.code_quantise16!(out.assumingMemoryBound(to: UInt16.self), red.even, red.odd, green.even, green.odd,
                                             blue.even, blue.odd, encoding.scale, encoding.zeroPoint, width)
                }
            } else {
                let red = rows.columns(channel: 0, imageRow: y), green = rows.columns(channel: 1, imageRow: y)
                let blue = rows.columns(channel: 2, imageRow: y)
                if bits == 8 {
                    kernels.quantise8!(out.assumingMemoryBound(to: UInt8.self), red.even, red.odd, green.even, green.odd,
                                      blue.even, blue.odd, width)
                } else {
                    kernels.quantise16!(out.assumingMemoryBound(to: UInt16.self), red.even, red.odd, green.even, green.odd,
                                       blue.even, blue.odd, width)
                }
            }
            stageNanoseconds += ProcessMetrics.nanoseconds() - start
            if held == nil { try encoder.writeRow(row) }
        }
    }

    /// Where the colour stage composes rows `rows`: a rotated frame's held rows, or the PNG
    /// encoder's slots when they hold the rows at once.
    mutating func reserve(_ rows: Range<Int>, _ pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws -> Bool {
        let start = ProcessMetrics.nanoseconds()
        defer { placingNanoseconds += ProcessMetrics.nanoseconds() - start }
        if let held {
            let bytes = 3 * width * (bits / 8)
            for (i, y) in rows.enumerated() { pointers[i] = held + y * bytes }
            return true
        }
        return try encoder.reserveRows(rows, into: pointers)
    }

    /// Rows composed where `reserve` said: the encoder takes them (held rows wait for `finish`).
    mutating func composed(_ rows: Range<Int>) throws {
        guard held == nil else { return }
        let start = ProcessMetrics.nanoseconds()
        defer { placingNanoseconds += ProcessMetrics.nanoseconds() - start }
        try encoder.commitRows(rows)
    }

    /// Writes or holds the colour stage's row `y` (quantised samples of `bits`).
    mutating func place(_ samples: UnsafeRawPointer, y: Int) throws {
        let start = ProcessMetrics.nanoseconds()
        defer { placingNanoseconds += ProcessMetrics.nanoseconds() - start }
        if let held {
            let bytes = 3 * width * (bits / 8)
            (held + y * bytes).copyMemory(from: samples, byteCount: bytes)
            return
        }
        try encoder.writeRow(samples)
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
