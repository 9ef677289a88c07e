@testable import Nightjar

/// A stand-in network that allocates nothing per frame: R = x, G = x/2, B = 1 − x (clamped),
/// band by band in buffers made once for frames up to `maxWidth` padded columns. With
/// `failAfterBands`, it throws after handing on that many bands (a failure mid-image).
final class BandNetwork: FrameNetwork {
    static let bandRows = 32
    struct Failure: Error {}

    let maxWidth: Int
    let failAfterBands: Int?
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(maxWidth: Int, failAfterBands: Int? = nil) {
        self.maxWidth = maxWidth
        self.failAfterBands = failAfterBands
        input = .allocate(capacity: Self.bandRows * maxWidth)
        output = .allocate(capacity: 3 * Self.bandRows * maxWidth)
    }

    deinit {
        input.deallocate()
        output.deallocate()
    }

    func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        precondition(width <= maxWidth)
        let plane = Self.bandRows * width
        for (index, band) in stride(from: 0, to: height, by: Self.bandRows).enumerated() {
            if let failAfterBands, index == failAfterBands { throw Failure() }
            let rows = band..<min(band + Self.bandRows, height)
            source.fill(rows: rows, into: input, width: width)
            for i in 0..<(rows.count * width) {
                let x = min(max(input[i], 0), 1)
                output[i] = x
                output[plane + i] = x / 2
                output[2 * plane + i] = 1 - x
            }
            try sink.consume(rows: rows, start: output, channelStride: plane, width: width)
        }
    }
}
