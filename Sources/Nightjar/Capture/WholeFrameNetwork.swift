import NightjarKernels

/// Runs the network on one padded mosaic as a whole. `input`: H×W float32, row-major, H and
/// W multiples of 32, RGGB phase at (0,0), normalised and amplified. `output`: 3×H×W planar
/// float32 (R, G, B planes), preallocated and zeroed by the caller. Throw to report a failure.
public typealias NetworkRunner = (_ input: UnsafeBufferPointer<Float>, _ height: Int, _ width: Int,
                                  _ output: UnsafeMutableBufferPointer<Float>) throws -> Void

/// A whole-frame `NetworkRunner` (test stand-ins, other engines) as a `FrameNetwork`: the
/// input is gathered into one buffer, the runner runs, and the output is handed on in bands.
public struct WholeFrameNetwork: FrameNetwork {
    public let runner: NetworkRunner

    public init(_ runner: @escaping NetworkRunner) { self.runner = runner }

    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        let plane = (height / 2) * (width / 2)
        // The source writes Bayer phases; the runner wants the mosaic, and the sink takes the
        // 12 half-scale planes back.
        var phases = [Float](repeating: 0, count: 4 * plane)
        phases.withUnsafeMutableBufferPointer {
            source.fill(pairs: 0..<(height / 2), split: 1, into: $0.baseAddress!, channelStride: plane, width: width / 2)
        }
        var input = [Float](repeating: 0, count: height * width)
        input.withUnsafeMutableBufferPointer { mosaic in
            phases.withUnsafeBufferPointer {
                nj_f32_pixel_shuffle_scalar($0.baseAddress!, plane, Int32(height / 2), 4, Int32(width / 2), 2, 0, Int32(height / 2),
                                            mosaic.baseAddress!, height * width, Int32(height))
            }
        }
        var output = [Float](repeating: 0, count: 3 * height * width)
        try input.withUnsafeBufferPointer { inp in
            try output.withUnsafeMutableBufferPointer { out in try runner(inp, height, width, out) }
        }
        var planes = [Float](repeating: 0, count: 12 * plane)
        planes.withUnsafeMutableBufferPointer { planes in
            output.withUnsafeBufferPointer {
                nj_f32_pixel_unshuffle_scalar($0.baseAddress!, height * width, Int32(height), 3, Int32(width), 2, 0, Int32(height / 2),
                                              planes.baseAddress!, plane, Int32(height / 2))
            }
        }
        try planes.withUnsafeBufferPointer { out in
            for band in stride(from: 0, to: height / 2, by: 16) {
                let rows = band..<min(band + 16, height / 2)
                try sink.consume(NetworkOutputRows(rows: rows, start: out.baseAddress! + band * width / 2, channelStride: plane, width: width / 2))
            }
        }
    }
}
