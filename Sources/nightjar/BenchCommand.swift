import ArgumentParser
import FoundationEssentials
import Nightjar

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure network and end-to-end speed, and peak memory.",
        discussion: """
            Warms up, then reports the median and spread of K runs: the network alone (the \
            streaming engine on an in-memory mosaic) and end to end (RAW file in, PNG out), alone \
            and per file in a batch (the next file decoded meanwhile, as restore DIR and watch run). A \
            synthetic dark capture of the requested size is benchmarked unless --input names a \
            RAW file, with --color as restore does it (camera colour by default). GMAC/s counts the network's multiply-accumulates per raw pixel; the share \
            of peak compares it with this machine's register-resident FMA rate on the same threads, \
            with the widest vectors NIGHTJAR_MAX_ISA allows.
            """
    )

    @Option(help: "The Nightjar model file.")
    var model: String

    @Option(help: "Frame size WxH for the synthetic frame (default 4256x2848, 12.1 MP).")
    var size: FrameSize = FrameSize(width: 4256, height: 2848)

    @Option(help: PrecisionOption.help)
    var precision: PrecisionOption?

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = Engine.availableCores

    @Flag(help: "Lock the network's memory arena into RAM (mlock), as restore --mlock does.")
    var mlock = false

    @Option(help: "Timed runs after one warm-up run.")
    var runs: Int = 5

    @Option(help: "Benchmark this RAW file end to end instead of a synthetic capture.")
    var input: String?

    @Option(help: "End to end: the colour, as in restore: camera (the file's own calibration) or network.")
    var color: ColorMode = .camera

    @Flag(help: "Skip the end-to-end (file to file) measurement.")
    var networkOnly = false

    @Option(help: "Output rows per band of the streaming engine's second pass (multiple of 8; default: 32 in int8, else 16).")
    var bandRows: Int?

    @Option(help: "1/32-scale rows per band of the streaming engine's first pass (default: 2 in int8, else 1).")
    var lowResolutionRows: Int?

    @Flag(help: "Then time each layer of the network in as many runs again, and print where its time goes.")
    var layers = false

    @Option(help: ArgumentHelp(
        "Then run the network in this precision too, alternating run by run with the one benchmarked, and report both times and their ratio pair by pair.",
        discussion: "The same frame and threads in one process, so that both precisions see the same spells of a shared machine."))
    var against: PrecisionOption?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        try validateThreads(threads)
        guard size.width * size.height <= 100_000_000 else { throw ValidationError("--size must be at most 100 MP") }
        if let against, against == precision {
            throw ValidationError("--against must name another precision than --precision")
        }
        if !networkOnly, input == nil {
            guard size.width >= 16, size.height >= 16 else {
                throw ValidationError("--size must be at least 16x16 for the synthetic capture")
            }
        }
    }

    func run() throws {
        try reportingErrors {
            let network = try NightjarModel.load(contentsOf: URL(fileURLWithPath: model))
            let measured = precision?.precision ?? network.defaultPrecision
            if let against {
                guard against.precision != measured else {
                    throw CommandFailure("--against \(against.rawValue) is the precision benchmarked (the model's default); name another")
                }
                // Refused before anything is measured, in the words --precision would get.
                _ = try network.layerPrecisions(for: against.precision, path: model)
            }
            let report = try BenchReport.measure(
                model: network, modelPath: model, size: size, threads: threads, runs: runs,
                bands: requestedBands(lowResolutionRows: lowResolutionRows, outputRows: bandRows, model: network,
                                      precision: precision?.precision), lockMemory: mlock,
                input: input.map { URL(fileURLWithPath: $0) }, endToEnd: !networkOnly, precision: precision?.precision,
                color: color, layers: layers,
                against: against.map { ($0.precision, requestedBands(lowResolutionRows: lowResolutionRows, outputRows: bandRows,
                                                                     model: network, precision: $0.precision)) })
            if json {
                standardOutput(report.jsonString())
            } else {
                standardOutput(report.text())
            }
        }
    }
}

/// A frame size given as WxH, each side 1...65535 (the largest a TIFF strip or PNG row
/// Nightjar writes holds, and small enough that the product cannot overflow).
struct FrameSize: ExpressibleByArgument, Equatable {
    static let maximumSide = 65_535

    var width: Int
    var height: Int

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy((1...Self.maximumSide).contains) else { return nil }
        self.init(width: parts[0], height: parts[1])
    }

    var defaultValueDescription: String { "\(width)x\(height)" }
}
