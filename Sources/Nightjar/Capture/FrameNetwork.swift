/// What restores a padded mosaic: the streaming engine, or a whole-frame stand-in. Rows come
/// from `source` and finished rows go to `sink` in order.
public protocol FrameNetwork {
    func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws
}

extension StreamingEngine: FrameNetwork {
    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try run(height: height, width: width, source: source, sink: &sink)
    }
}

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
        var input = [Float](repeating: 0, count: height * width)
        input.withUnsafeMutableBufferPointer { source.fill(rows: 0..<height, into: $0.baseAddress!, width: width) }
        var output = [Float](repeating: 0, count: 3 * height * width)
        try input.withUnsafeBufferPointer { inp in
            try output.withUnsafeMutableBufferPointer { out in try runner(inp, height, width, out) }
        }
        try output.withUnsafeBufferPointer { out in
            for band in stride(from: 0, to: height, by: 32) {
                let rows = band..<min(band + 32, height)
                try sink.consume(rows: rows, start: out.baseAddress! + band * width, channelStride: height * width, width: width)
            }
        }
    }
}
