import ArgumentParser
import FoundationEssentials
import Nightjar

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Calibrate a model for int8 from sample captures of your camera.",
        discussion: """
            Runs the FP32 network on the calibration inputs (RAW files, directories of them, or \
            float32 .npy mosaics as run-tensor reads), records every activation's range \
            (0.01st-99.99th percentile; --headroom widens it), quantises the weights per output channel and writes a \
            model that carries int8 beside FP32. Layers whose int8 rounding costs too much \
            (measured by running the network with int8 rounding, against --target-psnr) stay \
            FP16; the file records each layer's precision. The same inputs give the same file, \
            byte for byte. RAW inputs go through restore's pipeline and amplification (--m, --amp); \
            each input's central 1024x1024 is used. --check measures the written model on frames \
            the calibration did not see and warns when any falls below --target-psnr: the \
            ranges and layer choices are measured on the calibration set only, and frames of \
            other scenes can come out far below it.
            """
    )

    @Argument(help: "The Nightjar model file (from nightjar convert).")
    var model: String

    @Option(name: .customLong("calibrate"), parsing: .upToNextOption, help: "RAW files, directories of them, or float32 .npy mosaics.")
    var calibrate: [String] = []

    @Option(name: .customLong("check"), parsing: .upToNextOption, help: ArgumentHelp(
        "Held-out frames (as --calibrate) to measure the result on: not used for calibration.",
        discussion: "Prints the int8 engine's PSNR against FP32 on each; a warning names those below --target-psnr."))
    var check: [String] = []

    @Option(name: .shortAndLong, help: "The int8 model file to write (.safetensors).")
    var output: String

    @Flag(help: "Replace the output file if it exists.")
    var overwrite = false

    @Option(help: "The paper's amplifier for RAW inputs, as restore's --m.")
    var m: Double = 5

    @Option(help: "A fixed exposure ratio for RAW inputs, as restore's --amp.")
    var amp: Double?

    @Option(help: "Keep layers in FP16 until the int8 engine's PSNR against FP32 on the calibration inputs reaches this (dB).")
    var targetPSNR: Double = 42

    @Option(help: ArgumentHelp(
        "Widen every activation range the calibration measured by this factor (1-16).",
        discussion: "For frames unlike the calibration set (brighter, other scenes), whose activations would clip; the int8 steps get coarser, so more layers may stay FP16 to reach --target-psnr. Check the result on frames you did not calibrate on (--check)."))
    var headroom: Double = 1

    @Option(help: "Worker threads.")
    var threads: Int = Engine.availableCores

    func validate() throws {
        guard !calibrate.isEmpty else { throw ValidationError("--calibrate needs at least one RAW file, directory or .npy mosaic") }
        guard m > 0, m.isFinite else { throw ValidationError("--m must be positive") }
        if let amp { guard amp >= 1, amp.isFinite else { throw ValidationError("--amp must be at least 1") } }
        guard targetPSNR > 0, targetPSNR <= 100 else { throw ValidationError("--target-psnr must be in (0, 100]") }
        guard ModelQuantizer.headroomRange.contains(headroom) else { throw ValidationError("--headroom must be in [1, 16] (1 keeps the measured ranges)") }
        try validateThreads(threads)
    }

    func run() throws {
        try reportingErrors {
            let target = URL(fileURLWithPath: output)
            if !overwrite, FileManager.default.fileExists(atPath: target.path) {
                throw fail("\(target.path) exists; pass --overwrite to replace it")
            }
            let network = try NightjarModel.load(contentsOf: URL(fileURLWithPath: model))
            var options = ModelQuantizer.Options()
            options.m = m
            options.amplification = amp
            options.targetPSNR = targetPSNR
            options.headroom = headroom
            options.threads = threads
            let quantizer = ModelQuantizer(options: options)
            let inputs = try quantizer.inputs(calibrate)
            let held = try quantizer.inputs(check) // read first: a bad path writes nothing
            let (quantized, report) = try quantizer.quantize(network, inputs: inputs)
            let checked = try quantizer.check(quantized, inputs: held)
            let clipped = try quantizer.inputClipped(quantized, inputs: held)
            try quantized.write(to: target, overwrite: overwrite)
            let specs = network.architecture.convolutions
            let fp16 = zip(specs, report.layerPrecisions).filter { $0.1 != .int8 }.map(\.0.name)
            standardOutput(
                "\(displayable(target.path)): int8 calibrated on \(report.inputs) input\(report.inputs == 1 ? "" : "s"); "
                    + formatted("measured PSNR against FP32 %.1f dB (all layers int8: %.1f dB); ", report.psnr, report.allInt8PSNR)
                    + (fp16.isEmpty ? "every layer int8" : "FP16: " + fp16.joined(separator: ", ")))
            guard !held.isEmpty else { return }
            let results = zip(held, checked).map { (name: displayable($0.name), psnr: $1) }
            // Why a frame loses, where it is the usual cause: light beyond the calibrated input range.
            func clipping(_ share: Double) -> String {
                share >= 0.0001 ? formatted(" (%.2f %% of its input above the calibrated range)", 100 * share)
                    : share > 0 ? " (under 0.01 % of its input above the calibrated range)" : ""
            }
            standardOutput("held-out check, int8 against FP32 (frames not used for calibration): "
                + zip(results, clipped).map { $0.name + formatted(" %.1f dB", $0.psnr) + clipping($1) }.joined(separator: ", "))
            let below = results.filter { $0.psnr < targetPSNR }
            if !below.isEmpty {
                StandardStream.error.write("nightjar: warning: \(below.count) of \(results.count) held-out frame\(results.count == 1 ? "" : "s") below --target-psnr "
                    + formatted("%.1f dB (worst %.1f dB): ", targetPSNR, below.map(\.psnr).min()!)
                    + "add frames like them to --calibrate, or restore such scenes with --int8-fallback fp16 or --precision fp16\n")
            }
        }
    }
}
