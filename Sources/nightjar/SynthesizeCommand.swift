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

    @Option(help: "Image size WxH (default 1536x1024; with --scene, the centre of the photograph is cut to this size).")
    var size: FrameSize?

    @Option(help: "CFA pattern: RGGB, BGGR, GRBG or GBRG.")
    var cfa: String = "RGGB"

    @Option(help: "Sensor bits: 10, 12, 14 or 16.")
    var bits: Int = 12

    @Option(help: "How many times darker than a normal exposure.")
    var ratio: Double = 100

    @Option(help: "Camera colour model: \(CameraModel.builtIn.map(\.id).joined(separator: ", ")). The scene is rendered through the inverse of its colour matrix and white balance, written into the DNG as ColorMatrix1 and AsShotNeutral.")
    var camera: String = "sony-a7s2"

    @Option(help: "A camera colour matrix instead of --camera: nine numbers XYZ(D65)->camera, row-major, comma-separated (as DNG ColorMatrix1).")
    var colorMatrix: String?

    @Option(help: "A photograph to use as the scene instead of Nightjar's chart: PNG, or binary PPM (`djpeg -pnm PHOTO.jpg`), taken as sRGB; its own size replaces --size.")
    var scene: String?

    @Option(help: "Noise seed.")
    var seed: UInt64 = 1

    @Flag(help: "Replace existing files.")
    var overwrite = false

    @Flag(help: "Write only the DNG, without the -before and -scene previews.")
    var noPreviews = false

    @Flag(help: ArgumentHelp("Add a LinearizationTable that changes no sample: LibRaw then unpacks the file sample by sample, as it unpacks a camera's own format, instead of the decoder reading plain samples from the file.",
                             discussion: "What `footprint --measure` restores: the decoder's largest memory."))
    var linearizationTable = false

    func validate() throws {
        guard CFAPattern(letters: cfa.uppercased()) != nil else { throw ValidationError("--cfa must be RGGB, BGGR, GRBG or GBRG") }
        guard [10, 12, 14, 16].contains(bits) else { throw ValidationError("--bits must be 10, 12, 14 or 16") }
        // A 16-bit table that changes no sample is the identity LibRaw starts from.
        guard !linearizationTable || bits < 16 else { throw ValidationError("--linearization-table needs --bits below 16") }
        guard ratio.isFinite, ratio >= 1 else { throw ValidationError("--ratio must be at least 1") }
        if let size, !(size.width >= 16 && size.height >= 16 && size.width * size.height <= 100_000_000) {
            throw ValidationError("--size must be at least 16x16 and at most 100 MP")
        }
        guard CameraModel.named(camera) != nil else {
            throw ValidationError("--camera must be one of \(CameraModel.builtIn.map(\.id).joined(separator: ", ")), not '\(camera)'")
        }
        if let colorMatrix { _ = try Self.parseMatrix(colorMatrix) }
    }

    /// Nine finite numbers, comma-separated, forming an invertible matrix whose white is
    /// positive in every camera channel.
    static func parseMatrix(_ text: String) throws -> ColorMatrix3 {
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Double(String($0.filter { $0 != " " })) }
        guard values.count == 9, values.allSatisfy({ $0?.isFinite == true }) else {
            throw ValidationError("--color-matrix needs nine comma-separated numbers (XYZ->camera, row-major), e.g. 0.5838,-0.1430,-0.0246,-0.3497,1.1477,0.2297,-0.0748,0.1885,0.5778")
        }
        let matrix = ColorMatrix3(values.map { $0! })
        let white = matrix * (ColorMatrix3.sRGBToXYZ * SIMD3(1, 1, 1))
        guard matrix.inverse != nil, white.min() > 0 else {
            throw ValidationError("--color-matrix must be invertible and give white a positive response in every camera channel")
        }
        return matrix
    }

    func run() throws {
        try reportingErrors {
            let dng = URL(fileURLWithPath: output)
            let stem = dng.deletingPathExtension()
            let before = URL(fileURLWithPath: stem.path + "-before.png")
            let scenePNG = URL(fileURLWithPath: stem.path + "-scene.png")
            let scene: LinearImage
            if let path = self.scene {
                let photo = try SceneImage.read(URL(fileURLWithPath: path))
                scene = size.map { photo.centreCrop(width: $0.width, height: $0.height) } ?? photo
            } else {
                scene = SyntheticScene.render(width: size?.width ?? 1536, height: size?.height ?? 1024)
            }
            var exposure = SyntheticScene.Exposure(cfa: CFAPattern(letters: cfa.uppercased())!, bits: bits, exposureRatio: ratio)
            exposure.seed = seed
            let model = CameraModel.named(camera)!
            exposure.xyzToCamera = try colorMatrix.map(Self.parseMatrix) ?? model.xyzToCamera
            if colorMatrix == nil { (exposure.make, exposure.model) = (model.make, model.model) }
            var capture = SyntheticScene.darkCapture(scene, exposure: exposure)
            if linearizationTable {
                capture.linearization = (0..<(1 << capture.significantBits)).map { UInt16($0) }
            }
            try capture.write(to: dng, overwrite: overwrite)
            standardOutput("\(displayable(dng.path)): \(scene.width)x\(scene.height) \(cfa.uppercased()) \(bits)-bit, \(Int(ratio))x underexposed, "
                           + (colorMatrix == nil ? "colour of the \(model.make) \(model.model)" : "the given colour matrix"))
            if noPreviews { return }
            try CaptureOutput.writePNG(scene.sRGB8(), width: scene.width, height: scene.height, bits: 8, to: scenePNG, overwrite: overwrite)
            let frame = try RawDecoder().decode(dng)
            try CapturePreview.writeHalfSizePNG(frame, to: before, overwrite: overwrite)
            standardOutput("\(displayable(before.path)): the dark capture as shot (half size)")
            standardOutput("\(displayable(scenePNG.path)): the scene at full exposure")
        }
    }
}
