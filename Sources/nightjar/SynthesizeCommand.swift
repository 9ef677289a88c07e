import ArgumentParser
import FoundationEssentials
import Nightjar

struct SynthesizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Render a test scene and write it as a dark Bayer DNG, with before/reference previews.",
        discussion: """
            The scene (a colour chart, lettering, gradients) is rendered by Nightjar itself, \
            mosaicked, darkened by the exposure ratio, given read and shot noise, and written as \
            an uncompressed DNG. Also written: NAME-before.png (the dark capture as a camera \
            would show it) and NAME-scene.png (the scene at full exposure, for comparison).
            """
    )

    @Option(name: .shortAndLong, help: "The DNG to write.")
    var output: String

    @Option(help: "Image size WxH.")
    var size: FrameSize = FrameSize(width: 1536, height: 1024)

    @Option(help: "CFA pattern: RGGB, BGGR, GRBG or GBRG.")
    var cfa: String = "RGGB"

    @Option(help: "Sensor bits: 10, 12, 14 or 16.")
    var bits: Int = 12

    @Option(help: "How many times darker than a normal exposure.")
    var ratio: Double = 100

    @Option(help: "Noise seed.")
    var seed: UInt64 = 1

    @Flag(help: "Replace existing files.")
    var overwrite = false

    @Flag(help: "Write only the DNG, without the -before and -scene previews.")
    var noPreviews = false

    func validate() throws {
        guard CFAPattern(letters: cfa.uppercased()) != nil else { throw ValidationError("--cfa must be RGGB, BGGR, GRBG or GBRG") }
        guard [10, 12, 14, 16].contains(bits) else { throw ValidationError("--bits must be 10, 12, 14 or 16") }
        guard ratio.isFinite, ratio >= 1 else { throw ValidationError("--ratio must be at least 1") }
        guard size.width >= 16, size.height >= 16, size.width * size.height <= 100_000_000 else {
            throw ValidationError("--size must be at least 16x16 and at most 100 MP")
        }
    }

    func run() throws {
        try reportingErrors {
            let dng = URL(fileURLWithPath: output)
            let stem = dng.deletingPathExtension()
            let before = URL(fileURLWithPath: stem.path + "-before.png")
            let scenePNG = URL(fileURLWithPath: stem.path + "-scene.png")
            let scene = SyntheticScene.render(width: size.width, height: size.height)
            var exposure = SyntheticScene.Exposure(cfa: CFAPattern(letters: cfa.uppercased())!, bits: bits, exposureRatio: ratio)
            exposure.seed = seed
            try SyntheticScene.darkCapture(scene, exposure: exposure).write(to: dng, overwrite: overwrite)
            standardOutput("\(displayable(dng.path)): \(size.width)x\(size.height) \(cfa.uppercased()) \(bits)-bit, \(Int(ratio))x underexposed")
            if noPreviews { return }
            try CaptureOutput.writePNG(scene.sRGB8(), width: scene.width, height: scene.height, bits: 8, to: scenePNG, overwrite: overwrite)
            let frame = try RawDecoder().decode(dng)
            try CapturePreview.writeHalfSizePNG(frame, to: before, overwrite: overwrite)
            standardOutput("\(displayable(before.path)): the dark capture as shot (half size)")
            standardOutput("\(displayable(scenePNG.path)): the scene at full exposure")
        }
    }
}
