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
