import FoundationEssentials
import Glibc

/// How to restore one capture.
public struct RestoreOptions: Sendable, Equatable {
    /// The amplifier's target mean factor (REFERENCE.md §3 step 4), default 5.
    public var m: Double = 5
    /// A known exposure ratio replacing the amplifier (`--amp`), or nil to compute it.
    public var amplification: Double?
    /// Output bits per sample: 8 or 16.
    public var bits: Int = 8
    /// Apply the camera orientation from the file (`--no-rotate` sets false).
    public var rotate: Bool = true
    /// Replace an existing output (and sidecar).
    public var overwrite: Bool = false
    /// Also write `OUTPUT.json` (the output path plus ".json") with the report.
    public var sidecar: Bool = false
    /// Refuse files with more pixels than this before decoding them (0: no limit).
    public var maxPixels: Int = 100_000_000
    /// zlib level for the PNG, 0...9. Default 1: on a 12 MP frame level 1 wrote in 0.65 s
    /// versus 3.3 s at zlib's usual 6, for a file of about the same size.
    public var compressionLevel: Int = 1

    /// The zlib level a `--png-compression` value names: `fast` (1), `small` (6) or a level
    /// 0...9; nil for anything else. One parser for `restore` and `watch`.
    public static func compressionLevel(named text: String) -> Int? {
        switch text {
        case "fast": return 1
        case "small": return 6
        default:
            guard text.count == 1, let level = Int(text), (0...9).contains(level) else { return nil }
            return level
        }
    }
    /// Decode through LibRaw in a child process (see `RawDecoder.isolated`), killed after
    /// `decodeTimeoutSeconds` (0: no limit).
    public var isolateDecoder: Bool = true
    public var decodeTimeoutSeconds: Double = 300
    /// How to read headerless sensor dumps (`.raw` files without a TIFF header; `--sensor`):
    /// one description, or several of which the dump's size selects one. Empty: the built-in
    /// Raspberry Pi camera modes (`BuiltInSensors`), selected by size.
    public var sensorDescriptions: [SensorDescription] = []
    /// Where the colour comes from (`--color`): the camera's calibration (default) or the network.
    public var color: ColorMode = .camera
    /// The camera colour's white balance (`--white-balance`).
    public var whiteBalance: WhiteBalance = .camera

    public init(m: Double = 5, amplification: Double? = nil, bits: Int = 8, rotate: Bool = true,
                overwrite: Bool = false, sidecar: Bool = false, maxPixels: Int = 100_000_000,
                compressionLevel: Int = 1, isolateDecoder: Bool = true, decodeTimeoutSeconds: Double = 300) {
        self.m = m
        self.amplification = amplification
        self.bits = bits
        self.rotate = rotate
        self.overwrite = overwrite
        self.sidecar = sidecar
        self.maxPixels = maxPixels
        self.compressionLevel = compressionLevel
        self.isolateDecoder = isolateDecoder
        self.decodeTimeoutSeconds = decodeTimeoutSeconds
    }

    /// Throws `CaptureError.invalidArgument` for impossible values.
    public func validate() throws {
        guard bits == 8 || bits == 16 else { throw CaptureError.invalidArgument("--bits must be 8 or 16, not \(bits)") }
        guard m.isFinite, m > 0 else { throw CaptureError.invalidArgument("--m must be a positive number, not \(m)") }
        if let a = amplification, !(a.isFinite && a > 0) {
            throw CaptureError.invalidArgument("--amp must be a positive number, not \(a)")
        }
        guard maxPixels >= 0 else { throw CaptureError.invalidArgument("the pixel limit must not be negative") }
        guard (0...9).contains(compressionLevel) else { throw CaptureError.invalidArgument("the PNG compression level must be 0...9") }
        guard decodeTimeoutSeconds >= 0, decodeTimeoutSeconds.isFinite else { throw CaptureError.invalidArgument("the decode time limit must be a finite number of seconds ≥ 0") }
    }
}

/// What was done to one capture (also the JSON sidecar and `--json` record).
public struct RestoreReport: Codable, Sendable, Equatable {
    public var input: String
    public var output: String
    /// The model's name as given by the caller.
    public var model: String
    public var cameraMake: String
    public var cameraModel: String
    /// The CFA layout of the file's visible area, e.g. "BGGR".
    public var cfa: String
    /// The sensor description a headerless dump was read with (absent for files LibRaw read).
    public var sensor: String?
    /// Visible size of the mosaic in the file.
    public var visibleWidth: Int
    public var visibleHeight: Int
    /// Rows and columns dropped at the top/left to reach RGGB: [dy, dx].
    public var offset: [Int]
    /// The aligned, even size (the network's output is cropped to this).
    public var width: Int
    public var height: Int
    /// The padded size the network ran at.
    public var paddedWidth: Int
    public var paddedHeight: Int
    /// The written image's size (after orientation).
    public var outputWidth: Int
    public var outputHeight: Int
    /// Black level at the four 2x2 sites of the visible area, and white level.
    public var black: [Double]
    public var white: Double
    public var amplification: Double
    /// "auto" (the paper's amplifier with `m`) or "given" (`--amp`).
    public var amplificationSource: String
    public var m: Double
    public var bits: Int
    /// LibRaw's flip code from the file, and whether it was applied.
    public var flip: Int
    public var rotated: Bool
    public var decodeSeconds: Double
    public var prepareSeconds: Double
    public var networkSeconds: Double
    /// Of `networkSeconds`, the colour step's wall time: the camera colour stage's, or for
    /// network colour the conversion of the network's output to samples (which camera colour
    /// replaces; the difference is what camera colour costs).
    public var colorSeconds: Double? = nil
    public var writeSeconds: Double
    public var totalSeconds: Double
    /// The sidecar written, if any.
    public var sidecar: String?
    /// The colour used: "camera" (the file's calibration) or "network".
    public var color: String = ColorMode.network.rawValue
    /// With camera colour: the white balance's camera R, G, B multipliers, where they came
    /// from ("camera", "auto", "given"), and the camera-to-sRGB matrix (row-major).
    public var whiteBalance: [Double]? = nil
    public var whiteBalanceSource: String? = nil
    public var colorMatrix: [Double]? = nil
    /// With an int8 network: the share of the input (0...1) above the largest value its int8
    /// layers hold (`FrameNetwork.int8InputLimit`), which they clip: light brighter than the
    /// calibration frames had. Absent for FP32 and FP16.
    public var int8InputClipped: Double? = nil
    /// The precision the frame ran in instead of int8 ("fp16", "fp32") when `int8InputClipped`
    /// reached the fallback's share (`--int8-fallback`); absent when the network ran it.
    public var int8Fallback: String? = nil
    /// Warnings about this file (e.g. camera colour asked for, but the file has no matrix).
    public var warnings: [String]? = nil
    /// When the frame was taken, from the file's own metadata (DNG or EXIF DateTimeOriginal, as
    /// LibRaw reads it: the camera's clock), "YYYY-MM-DDTHH:MM:SS"; absent when it records none.
    public var captureTime: String? = nil
    /// How the pixels were decoded: "LibRaw" (unpacked by LibRaw in the decoder child), "plain
    /// DNG samples" (read from the file as stored: LibRaw would have copied them unchanged) or
    /// "sensor dump" (a headerless dump read with its description).
    public var decoder: String? = nil

    /// Whether enough of the input was clipped to warn (`Int8InputClipping.significantShare`).
    public var int8ClippingWarns: Bool { (int8InputClipped ?? 0) >= Int8InputClipping.significantShare }

    /// One-line JSON (sorted keys).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// A prepared network input with everything needed to turn the network's output into pixels.
public struct PreparedCapture: Sendable {
    public var frame: BayerFrame
    /// Normalised, amplified, padded mosaic: `paddedHeight * paddedWidth` values.
    public var input: [Float]
    public var paddedWidth: Int
    public var paddedHeight: Int
    /// The aligned size (crop target).
    public var width: Int
    public var height: Int
    public var offset: (dy: Int, dx: Int)
    public var amplification: Double
    public var amplificationGiven: Bool

    /// Aligns, amplifies and pads `frame` as REFERENCE.md §3 says.
    public init(frame: BayerFrame, m: Double = 5, amplification: Double? = nil, path: String = "<memory>") throws {
        let offset = frame.cfa.rggbOffset
        let size = CapturePipeline.alignedSize(width: frame.width, height: frame.height, offset: offset)
        guard size.width >= 2, size.height >= 2 else {
            throw CaptureError.tooSmall(path: path, width: frame.width, height: frame.height)
        }
        let a = amplification ?? CapturePipeline.amplification(of: frame, m: m)
        let padded = CapturePipeline.networkInput(frame, amplification: a)
        self.frame = frame
        self.input = padded.values
        self.paddedWidth = padded.width
        self.paddedHeight = padded.height
        self.width = size.width
        self.height = size.height
        self.offset = offset
        self.amplification = a
        self.amplificationGiven = amplification != nil
    }

    /// Runs `network` and returns its 3×paddedHeight×paddedWidth output.
    public func run(_ network: NetworkRunner, path: String = "<memory>") throws -> [Float] {
        var output = [Float](repeating: 0, count: 3 * paddedWidth * paddedHeight)
        do {
            try input.withUnsafeBufferPointer { inp in
                try output.withUnsafeMutableBufferPointer { out in
                    try network(inp, paddedHeight, paddedWidth, out)
                }
            }
        } catch let error as CaptureError {
            throw error
        } catch {
            throw CaptureError.network(path: path, reason: "\(error)")
        }
        return output
    }

    /// The cropped, quantised, optionally oriented image: interleaved RGB, `bits` 8 or 16
    /// (8-bit values 0...255 stored in UInt16).
    public func pixels(from output: [Float], bits: Int = 8, rotate: Bool = true) -> (samples: [UInt16], width: Int, height: Int) {
        let flip = rotate ? frame.flip : 0
        let size = CapturePipeline.orientedSize(width: width, height: height, flip: flip)
        func quantise(_ value: Float) -> UInt16 {
            bits == 8 ? UInt16(CapturePipeline.quantise8(value)) : CapturePipeline.quantise16(value)
        }
        let plane = paddedWidth * paddedHeight
        var samples = [UInt16](repeating: 0, count: size.width * size.height * 3)
        output.withUnsafeBufferPointer { out in
            for y in 0..<size.height {
                for x in 0..<size.width {
                    let s = CapturePipeline.sourcePixel(row: y, col: x, width: width, height: height, flip: flip)
                    let i = s.row * paddedWidth + s.col, at = (y * size.width + x) * 3
                    samples[at] = quantise(out[i])
                    samples[at + 1] = quantise(out[plane + i])
                    samples[at + 2] = quantise(out[2 * plane + i])
                }
            }
        }
        return (samples, size.width, size.height)
    }
}

/// Restores one dark Bayer RAW file into a PNG with a whole-frame network (stand-ins, tests).
public func restoreCapture(input: URL, output: URL, options: RestoreOptions = RestoreOptions(),
                           modelName: String, network: @escaping NetworkRunner) throws -> RestoreReport {
    try restoreCapture(input: input, output: output, options: options, modelName: modelName, network: WholeFrameNetwork(network))
}

/// Restores one dark Bayer RAW file into a PNG: decode (LibRaw), normalise, align to RGGB,
/// amplify, pad, run `network`, crop, quantise, orient, and write `output` row by row as the
/// network finishes rows, to a hidden temporary file that is renamed into place only when
/// complete (removed on any error). An existing `output` is refused unless
/// `options.overwrite`. Errors are `CaptureError`s naming the file and the cause in one line.
///
/// Per-frame memory comes from a workspace made for this call (see the form that takes one).
public func restoreCapture<Network: FrameNetwork>(input: URL, output: URL, options: RestoreOptions = RestoreOptions(),
                                                  modelName: String, network: Network) throws -> RestoreReport {
    try restoreCapture(input: input, output: output, options: options, modelName: modelName, network: network,
                       workspace: CaptureWorkspace())
}

/// The same with the per-frame memory of `workspace`, which a batch or a daemon makes once and
/// passes to every call: once `workspace` and `network` have held a frame of a size, restoring
/// another of that size makes no heap allocation between opening the temporary file and
/// building the report (`CaptureWorkspace.restoreFrame`). Outputs are the same, byte for byte
/// but the timings in the trailing report, as with a workspace of its own.
public func restoreCapture<Network: FrameNetwork>(input: URL, output: URL, options: RestoreOptions = RestoreOptions(),
                                                  modelName: String, network: Network,
                                                  workspace: CaptureWorkspace) throws -> RestoreReport {
    try restoreCapture(input: input, output: output, options: options, modelName: modelName, network: network,
                       workspace: workspace) { try $0() }
}

/// `restoreCapture` in three steps, with `around` wrapped around the middle one (tests count
/// heap allocations there):
/// 1. preparation (allocates): options, paths and refusals, the PNG's header text, the
///    temporary file created and opened;
/// 2. the frame, `CaptureWorkspace.restoreFrame` (allocation-free after warm-up): decode into
///    the workspace, normalise, amplify, the network, quantise, orient, encode the PNG's header
///    and every row into the temporary file;
/// 3. finishing (allocates): the report and its JSON (`JSONEncoder`, strings), the trailing
///    text chunk and the end of the PNG (no allocation itself), closing, the rename (or link),
///    the sidecar.
///
/// `reportedInput` names the input in the report and sidecar when it is read from elsewhere
/// (the daemon reads a frame from its work area).
///
/// `next`: a file to start decoding (in its own decoder child) once this one is decoded, while
/// this frame runs through the network (`CaptureWorkspace.decodeAhead`). `progress` is called
/// for every band of the network's output and about twice a second while waiting for the
/// decoder (a daemon's watchdog).
func restoreCapture<Network: FrameNetwork>(input: URL, output: URL, options: RestoreOptions, modelName: String,
                                           network: Network, workspace: CaptureWorkspace, reportedInput: String? = nil,
                                           next: URL? = nil, progress: (() -> Void)? = nil,
                                           around frameStep: (() throws -> RestoredFrame) throws -> RestoredFrame) throws -> RestoreReport {
    // 1. Preparation.
    try options.validate()
    let start = ProcessMetrics.nanoseconds()
    func seconds(since t: UInt64) -> Double { Double(ProcessMetrics.nanoseconds() - t) / 1e9 }
    let inputPath = input.path, outputPath = output.path
    if input.standardizedFileURL.path == output.standardizedFileURL.path {
        throw CaptureError.invalidArgument("\(inputPath): the output would replace the input")
    }
    let sidecarURL = output.appendingPathExtension("json")
    // Fail fast, before the expensive work, on outputs that cannot be written.
    var sidecarFile: OutputFile?
    let file: OutputFile
    do {
        try OutputFile.checkTarget(outputPath, overwrite: options.overwrite)
        if options.sidecar { try OutputFile.checkTarget(sidecarURL.path, overwrite: options.overwrite) }
    } catch {
        throw CaptureOutput.captureError(error, path: outputPath)
    }
    if let problem = CaptureOutput.directoryProblem(output) {
        throw CaptureError.unwritable(path: outputPath, reason: problem)
    }
    try RawDecoder.checkReadable(inputPath, maxPixels: options.maxPixels)
    let header = PNGText([
        ("Software", "Nightjar \(Nightjar.version)"),
        ("Source", input.lastPathComponent),
    ])
    file = try CaptureOutput.create(output, overwrite: options.overwrite)
    var report: RestoreReport
    do {
        // 2. The frame.
        let restored = try frameStep {
            try workspace.restoreFrame(from: inputPath, to: file.fd, options: options, network: network,
                                       text: header, displayPath: outputPath, decodeNext: next?.path, progress: progress)
        }

        // 3. Finishing.
        let frame = restored.frame
        report = RestoreReport(
            input: reportedInput ?? inputPath, output: outputPath, model: modelName,
            cameraMake: workspace.cameraMake, cameraModel: workspace.cameraModel, cfa: frame.cfa.rawValue, sensor: restored.sensor,
            visibleWidth: frame.width, visibleHeight: frame.height,
            offset: [restored.offset.dy, restored.offset.dx],
            width: restored.width, height: restored.height,
            paddedWidth: restored.paddedWidth, paddedHeight: restored.paddedHeight,
            outputWidth: restored.outputWidth, outputHeight: restored.outputHeight,
            black: [frame.black[0], frame.black[1], frame.black[2], frame.black[3]], white: frame.white,
            amplification: restored.amplification,
            amplificationSource: options.amplification != nil ? "given" : "auto",
            m: options.m, bits: options.bits, flip: frame.flip, rotated: options.rotate && frame.flip != 0,
            decodeSeconds: restored.decodeSeconds, prepareSeconds: restored.prepareSeconds,
            networkSeconds: restored.networkSeconds, writeSeconds: 0, totalSeconds: 0, sidecar: nil)
        let colour = restored.colour
        report.color = colour.mode.rawValue
        report.colorSeconds = restored.colourSeconds
        if colour.mode == .camera {
            report.whiteBalance = [colour.whiteBalance[0], colour.whiteBalance[1], colour.whiteBalance[2]]
            report.whiteBalanceSource = colour.whiteBalanceSource.rawValue
            report.colorMatrix = colour.matrix?.values
        }
        report.captureTime = frame.captureTime.map(CaptureTime.text)
        report.decoder = restored.sensor != nil ? "sensor dump" : frame.plainSamples ? "plain DNG samples" : "LibRaw"
        var warnings: [String] = []
        if colour.noMatrix {
            warnings.append("\(inputPath): no usable colour matrix in the file; the network's colour was used")
        }
        report.int8InputClipped = restored.int8InputClipped
        report.int8Fallback = restored.fallback?.rawValue
        if report.int8ClippingWarns, report.int8Fallback == nil, let clipped = report.int8InputClipped, let limit = network.int8InputLimit {
            let share = formatted("%.2f %%", 100 * clipped), range = formatted("%.2f", Double(limit))
            warnings.append("\(inputPath): \(share) of the network input is brighter than the int8 model's calibrated range "
                            + "(above \(range)) and is clipped, so large bright areas can come out wrong: restore such frames "
                            + "with --int8-fallback fp16 or --precision fp16, or calibrate with frames like this one (nightjar quantize --calibrate)")
        }
        if !warnings.isEmpty { report.warnings = warnings }
        var trailer = report
        trailer.totalSeconds = seconds(since: start)
        try workspace.finishPNG(text: PNGText([("Nightjar", trailer.jsonString())]))
        report.writeSeconds = seconds(since: restored.writeStart)
        report.totalSeconds = seconds(since: start)
        // The sidecar is written in full before either file is committed, so a full disk
        // fails the file (with errno's words) instead of leaving a PNG without its sidecar.
        if options.sidecar {
            report.sidecar = sidecarURL.path
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let data = [UInt8](try encoder.encode(report)) + Array("\n".utf8)
            let sidecar = try CaptureOutput.create(sidecarURL, overwrite: options.overwrite)
            sidecarFile = sidecar
            try data.withUnsafeBytes { try sidecar.write($0) }
        }
        try file.commit(overwrite: options.overwrite)
        try sidecarFile?.commit(overwrite: options.overwrite)
    } catch {
        workspace.abandonPNG()
        file.abandon()
        sidecarFile?.abandon()
        throw CaptureOutput.captureError(error, path: outputPath)
    }
    return report
}

/// A capture's own timestamp as text.
enum CaptureTime {
    /// "YYYY-MM-DDTHH:MM:SS" of `seconds` since 1970 in local time: LibRaw took the camera's
    /// clock for local time, so this gives the camera's clock back.
    static func text(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        localtime_r(&t, &parts)
        return formatted("%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                         parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}
