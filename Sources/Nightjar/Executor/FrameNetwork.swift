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
    /// Makes the network ready for frames of this padded size before the frame runs, so that
    /// its worker threads exist for the work around it (the amplifier's histogram, the colour
    /// stage, the PNG's pieces) from the first frame on. Throws as `restore` would for a frame
    /// that does not fit.
    func reserve(height: Int, width: Int) throws
}

/// How much clipping of the input by int8 layers matters.
public enum Int8InputClipping {
    /// The share of a frame's input above `FrameNetwork.int8InputLimit` from which a restore
    /// warns and, by default, `--int8-fallback` takes the frame. The calibration itself lets
    /// 0.01 % of a tensor's values clip; on synthesized captures measured against FP32 (README,
    /// "Calibrating for your camera"), frames with up to 0.05 % clipped kept 41 dB and more,
    /// 0.1 % gave 38 dB and 0.4 % 34 dB.
    public static let significantShare = 0.001
}

extension FrameNetwork {
    public var int8InputLimit: Float? { nil }
    public var int8Fallback: (network: FrameEngine, share: Double)? { nil }
    public func reserve(height: Int, width: Int) throws {}
}

extension StreamingEngine: FrameNetwork {
    public func restore<Source: NetworkRowSource, Sink: NetworkRowSink>(height: Int, width: Int, source: Source, sink: inout Sink) throws {
        try run(height: height, width: width, source: source, sink: &sink)
    }
}
