import FoundationEssentials

/// Why one capture could not be restored. Every case names the file; `description` is one
/// line meant for a user ("FILE: cause"), so a batch can print it and go on with the next file.
public enum CaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be opened or read (missing, a directory, no permission).
    case unreadable(path: String, reason: String)
    /// LibRaw does not recognise the file as a RAW it can read (or its header is damaged).
    case unsupported(path: String, reason: String)
    /// Recognised, but the data are truncated or corrupt.
    case corrupt(path: String, reason: String)
    /// Not a 2x2 Bayer mosaic: X-Trans, Foveon, monochrome, linear (demosaiced) DNG...
    case notBayer(path: String, kind: SensorKind)
    /// More pixels than the configured limit; refused before the pixels were allocated.
    case tooLarge(path: String, pixels: Int, limit: Int)
    /// No memory for the frame: larger than the workspace a process was started for, or the
    /// system refused more.
    case noRoom(path: String, reason: String)
    /// The image is too small to align to an even RGGB mosaic.
    case tooSmall(path: String, width: Int, height: Int)
    /// The output (or its temporary sibling) cannot be written.
    case unwritable(path: String, reason: String)
    /// The output exists and `overwrite` was not given.
    case exists(path: String)
    /// The frame does not fit the memory planned at start-up for the largest frame
    /// (`--max-size`): the capture workspace's (visible size) or the network arena's (padded).
    case exceedsMemoryPlan(path: String, width: Int, height: Int, maxWidth: Int, maxHeight: Int)
    /// The network runner failed.
    case network(path: String, reason: String)
    /// Bad options or arguments (a usage error rather than a per-file one).
    case invalidArgument(String)

    /// The file the error is about (empty for `invalidArgument`).
    public var path: String {
        switch self {
        case .unreadable(let p, _), .unsupported(let p, _), .corrupt(let p, _), .notBayer(let p, _),
             .tooLarge(let p, _, _), .noRoom(let p, _), .tooSmall(let p, _, _), .unwritable(let p, _), .exists(let p),
             .exceedsMemoryPlan(let p, _, _, _, _), .network(let p, _):
            return p
        case .invalidArgument:
            return ""
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read: \(r)"
        case .unsupported(let p, let r): return "\(p): not a RAW file LibRaw can read: \(r)"
        case .corrupt(let p, let r): return "\(p): truncated or corrupt RAW data: \(r)"
        case .notBayer(let p, let kind): return "\(p): not a Bayer RAW (\(kind.description)); only 2x2 Bayer sensors can be restored"
        case .tooLarge(let p, let pixels, let limit): return "\(p): \(pixels) pixels exceed the limit of \(limit) (raise the pixel limit to allow it)"
        case .noRoom(let p, let r): return "\(p): no memory for this frame: \(r)"
        case .tooSmall(let p, let w, let h): return "\(p): the visible image (\(w)x\(h)) is too small"
        case .unwritable(let p, let r): return "\(p): cannot write output: \(r)"
        case .exists(let p): return "\(p): output exists (use --overwrite to replace it)"
        case .exceedsMemoryPlan(let p, let w, let h, let mw, let mh):
            return "\(p): the \(w)x\(h) frame does not fit the memory planned for frames of \(mw)x\(mh) (raise --max-size)"
        case .network(let p, let r): return "\(p): the network failed: \(r)"
        case .invalidArgument(let m): return m
        }
    }
}

/// The kind of sensor data a RAW file holds.
public enum SensorKind: String, Sendable, Codable, CustomStringConvertible {
    case bayer
    case xTrans = "x-trans"
    case foveon
    case monochrome
    case linear
    case otherCFA = "other-cfa"

    public var description: String {
        switch self {
        case .bayer: return "Bayer CFA"
        case .xTrans: return "Fujifilm X-Trans CFA"
        case .foveon: return "Foveon"
        case .monochrome: return "monochrome sensor"
        case .linear: return "linear, already demosaiced data"
        case .otherCFA: return "colour filter array other than 2x2 R/G/B"
        }
    }
}
