/// The frame sides the network runs: it halves its input five times (down to the 1/32 branch),
/// so both sides are multiples of 32. A capture is reflect-padded up to that (the capture
/// pipeline), and memory is planned for the padded size.
public enum FramePadding {
    public static let multiple = 32

    /// `n` rounded up to a multiple of `multiple`.
    public static func paddedLength(_ n: Int) -> Int {
        (n + multiple - 1) / multiple * multiple
    }
}
