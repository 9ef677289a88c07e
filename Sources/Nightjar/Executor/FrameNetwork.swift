/// What restores a padded mosaic: the streaming engine, or a whole-frame stand-in. Rows come
/// from `source` and finished rows go to `sink` in order.
public protocol FrameNetwork {
    func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws
    /// The largest input value the network's int8 layers hold (larger ones saturate); nil when
    /// no layer reading the input is int8.
    var int8InputLimit: Float? { get }
    /// The network that restores a frame instead when at least `share` of its input lies above
    /// `int8InputLimit` (`--int8-fallback`); nil for none.
    var int8Fallback: (network: FrameEngine, share: Double)? { get }
}

extension FrameNetwork {
    public var int8InputLimit: Float? { nil }
    public var int8Fallback: (network: FrameEngine, share: Double)? { nil }
}

extension StreamingEngine: FrameNetwork {
    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try run(height: height, width: width, source: source, sink: &sink)
    }
}
