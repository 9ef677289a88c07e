import FoundationEssentials

/// One pair measured with one configuration.
public struct EvaluationResult: Sendable {
    public var pair: EvaluationPair
    /// The exposure ratio used (or reported, with the paper's amplifier).
    public var ratio: Double
    /// What the restore's report says it amplified by.
    public var amplification: Double
    public var score: ImageScore
    /// The restore's time for the frame: decode, network, PNG.
    public var seconds: Double
    /// The restored PNG that was measured.
    public var restored: URL
    /// The precision the frame ran in instead of int8 (`RestoreReport.int8Fallback`), if it did.
    public var int8Fallback: String? = nil
}

/// The reference of one pair, rendered once and shared by every configuration.
public struct EvaluationReference: Sendable {
    public var area: ReferenceRender.Area
    public var image: RGBImage8
}

/// `nightjar evaluate`'s measurement: restore a short exposure through the ordinary restore
/// path into a PNG, read that PNG back, and score it against the long exposure as LibRaw
/// renders it (`ReferenceRender`).
public enum Evaluation {
    /// Restores `pair.short` into `output` (replacing it) with `options` (the amplification
    /// set by the caller: the pair's ratio, or the paper's amplifier) and scores it. The
    /// reference is rendered on the first call for a pair, for the area the restore kept, and
    /// kept in `reference` for the next configurations; `savedReference`, when given, receives
    /// it as a PNG. Errors are `CaptureError`s naming the file at fault.
    public static func evaluate(_ pair: EvaluationPair, ratio: Double, options: RestoreOptions, output: URL,
                                modelName: String, restorer: Restorer, reference: inout EvaluationReference?,
                                savedReference: URL? = nil) throws -> EvaluationResult {
        var options = options
        options.bits = 8
        options.rotate = true
        options.overwrite = true
        options.sidecar = false
        let report = try restorer.restore(input: pair.short, output: output, options: options, modelName: modelName)
        let area = ReferenceRender.Area(report)
        if reference == nil || reference?.area != area {
            let image = try ReferenceRender.render(pair.long, area: area, maxPixels: options.maxPixels)
            reference = EvaluationReference(area: area, image: image)
            if let savedReference {
                try CaptureOutput.writePNG(image.pixels.map(UInt16.init), width: image.width, height: image.height, bits: 8,
                                           to: savedReference, overwrite: true,
                                           text: [("Software", "Nightjar \(Nightjar.version)"),
                                                  ("Source", pair.long.lastPathComponent)])
            }
        }
        let restored = try PNGReader.readRGB8(output)
        guard restored.width >= 11, restored.height >= 11 else {
            throw CaptureError.tooSmall(path: pair.short.path, width: restored.width, height: restored.height)
        }
        guard let target = reference?.image, restored.width == target.width, restored.height == target.height else {
            throw CaptureError.invalidArgument("\(output.path): the restored image is \(restored.width)x\(restored.height), not the reference's size")
        }
        return EvaluationResult(pair: pair, ratio: ratio, amplification: report.amplification,
                                score: ImageMetrics.score(restored, against: target), seconds: report.totalSeconds,
                                restored: output, int8Fallback: report.int8Fallback)
    }
}
