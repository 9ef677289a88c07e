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
        // Half-scale rows per band; the phases and the 12 output planes each span the band's
        // mosaic rows.
        let rowsPerBand = Self.bandRows / 2, half = width / 2
        let plane = rowsPerBand * half
        for (index, band) in stride(from: 0, to: height / 2, by: rowsPerBand).enumerated() {
            if let failAfterBands, index == failAfterBands { throw Failure() }
            let rows = band..<min(band + rowsPerBand, height / 2)
            source.fill(pairs: rows, split: 1, into: input, channelStride: plane, width: half)
            for phase in 0..<4 {
                for i in 0..<(rows.count * half) {
                    let x = min(max(input[phase * plane + i], 0), 1)
                    output[phase * plane + i] = x
                    output[(4 + phase) * plane + i] = x / 2
                    output[(8 + phase) * plane + i] = 1 - x
                }
            }
            try sink.consume(NetworkOutputRows(rows: rows, start: output, channelStride: plane, width: half))
        }
    }
}
