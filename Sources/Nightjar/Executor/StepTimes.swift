/// Wall time spent in each step of a streaming engine's schedule (a convolution, an unshuffle,
/// a conversion, the network input), summed over the frames run while it is attached
/// (`StreamingEngine.stepTimes`; `nightjar bench --layers`). Its counters are allocated when it
/// is made: attached, each step costs two clock reads and nothing else.
public final class StepTimes: @unchecked Sendable {
    private var nanoseconds: [UInt64]
    private var calls: [Int]

    init(steps: Int) {
        nanoseconds = [UInt64](repeating: 0, count: steps)
        calls = [Int](repeating: 0, count: steps)
    }

    func add(step: Int, nanoseconds elapsed: UInt64) {
        nanoseconds[step] &+= elapsed
        calls[step] += 1
    }

    /// Seconds and calls of one step so far.
    func total(step: Int) -> (seconds: Double, calls: Int) {
        (Double(nanoseconds[step]) / 1e9, calls[step])
    }

    public func reset() {
        for i in nanoseconds.indices {
            nanoseconds[i] = 0
            calls[i] = 0
        }
    }
}

/// One row of `StreamingEngine.layerTimes`: a convolution (`layer` its index in the
/// architecture) or the steps of one kind that are not convolutions.
public struct LayerTime: Sendable, Equatable {
    public var name: String
    public var layer: Int?
    public var seconds: Double
    public var calls: Int
    /// The convolution folded into `layer`, whose work this row's time includes.
    public var folded: Int? = nil
}
