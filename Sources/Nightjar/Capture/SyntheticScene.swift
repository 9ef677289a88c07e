import FoundationEssentials
import Glibc

/// A linear RGB image, interleaved, values nominally in [0, 1].
public struct LinearImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `width * height * 3` values, row-major, R G B per pixel.
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(pixels.count == width * height * 3, "pixels must hold width*height*3 values")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(row: Int, col: Int, channel: Int) -> Float {
        get { pixels[(row * width + col) * 3 + channel] }
        set { pixels[(row * width + col) * 3 + channel] = newValue }
    }

    /// sRGB-encoded 8-bit samples (values 0...255 in UInt16, for `CaptureOutput.writePNG`).
    public func sRGB8() -> [UInt16] {
        pixels.map { UInt16(CapturePipeline.quantise8(SyntheticScene.encodeSRGB($0))) }
    }
}

/// Renders a test scene of our own (a colour chart, lettering from a built-in bitmap font,
/// gradients) and turns it into a dark Bayer capture, as the demo and tests need.
public enum SyntheticScene {
    /// Parameters of the simulated dark exposure.
    public struct Exposure: Sendable {
        public var cfa: CFAPattern = .rggb
        /// Significant bits of the sensor data (10, 12, 14 or 16).
        public var bits: Int = 14
        /// Black level; default 64 at 10-bit, 256 at 12-bit, 512 at 14-bit, 2048 at 16-bit.
        public var black: UInt16?
        /// How much darker than a normal exposure the capture is (the scene's 1.0 maps to
        /// (white − black) / exposureRatio).
        public var exposureRatio: Double = 100
        /// Camera channel sensitivities (the white balance the network has learned to undo).
        public var channelGains: [Double] = [0.3965, 1.0, 0.5329]
        /// Read noise standard deviation, in DN.
        public var readNoise: Double = 1.5
        /// Shot noise: variance grows by this many DN² per DN of signal.
        public var shotNoiseGain: Double = 0.25
        public var seed: UInt64 = 0x4E49_4748_544A_4152 // "NIGHTJAR"
        /// TIFF orientation written to the DNG (1 = as stored).
        public var orientation: Int = 1
        public var make: String = "Nightjar"
        public var model: String = "Synthetic"
        /// A camera colour model (XYZ→camera, D65): the scene is rendered through its inverse,
        /// camera RGB = (ColorMatrix · sRGB→XYZ) · scene, scaled so that white gives green 1,
        /// and the DNG records it as ColorMatrix1 with the matching AsShotNeutral. nil: the
        /// plain `channelGains` (no cross-talk), with the writer's default matrix.
        public var xyzToCamera: ColorMatrix3?

        public init(cfa: CFAPattern = .rggb, bits: Int = 14, black: UInt16? = nil, exposureRatio: Double = 100,
                    readNoise: Double = 1.5, shotNoiseGain: Double = 0.25, seed: UInt64 = 0x4E49_4748_544A_4152,
                    orientation: Int = 1) {
            self.cfa = cfa
            self.bits = bits
            self.black = black
            self.exposureRatio = exposureRatio
            self.readNoise = readNoise
            self.shotNoiseGain = shotNoiseGain
            self.seed = seed
            self.orientation = orientation
        }

        /// The black level used.
        public var blackLevel: UInt16 {
            if let black { return black }
            switch bits {
            case ..<10: return 16
            case 10, 11: return 64
            case 12, 13: return 256
            case 14, 15: return 512
            default: return 2048
            }
        }
    }

    // MARK: - Scene

    /// Renders the scene at `width` x `height` (any size ≥ 16x16): a grey ramp and a hue
    /// ramp at the top, a 6x4 colour chart in the middle, and lettering over a gradient below.
    public static func render(width: Int, height: Int) -> LinearImage {
        precondition(width >= 16 && height >= 16, "the scene needs at least 16x16 pixels")
        var image = LinearImage(width: width, height: height, pixels: [Float](repeating: 0, count: width * height * 3))
        let greyEnd = height * 12 / 100, hueEnd = height * 22 / 100, chartEnd = height * 70 / 100

        for row in 0..<height {
            for col in 0..<width {
                let u = Double(col) / Double(max(width - 1, 1))
                var rgb: (Double, Double, Double)
                if row < greyEnd {
                    let g = decodeSRGB(u)
                    rgb = (g, g, g)
                } else if row < hueEnd {
                    rgb = hue(u)
                    let v = Double(row - greyEnd) / Double(max(hueEnd - greyEnd - 1, 1)) // fade to white
                    rgb = (rgb.0 + (1 - rgb.0) * v * 0.5, rgb.1 + (1 - rgb.1) * v * 0.5, rgb.2 + (1 - rgb.2) * v * 0.5)
                } else if row < chartEnd {
                    rgb = chartColour(row: row - hueEnd, col: col, height: chartEnd - hueEnd, width: width)
                } else {
                    let v = Double(row - chartEnd) / Double(max(height - chartEnd - 1, 1))
                    let base = decodeSRGB(0.12 + 0.25 * v)
                    rgb = (base * 0.8, base * 0.9, base)
                }
                image[row, col, 0] = Float(rgb.0)
                image[row, col, 1] = Float(rgb.1)
                image[row, col, 2] = Float(rgb.2)
            }
        }
        // Lettering in the bottom band: two lines, scaled to fit.
        let band = height - chartEnd
        drawText("NIGHTJAR", into: &image, top: chartEnd + band / 8, height: band * 3 / 8,
                 colour: (0.9, 0.9, 0.85))
        drawText("DARK RAW 2021", into: &image, top: chartEnd + band * 9 / 16, height: band / 4,
                 colour: (0.95, 0.55, 0.1))
        return image
    }

    /// The 24 patches of a ColorChecker-like chart, sRGB 8-bit, row by row.
    static let chart: [(Double, Double, Double)] = [
        (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177), (103, 189, 170),
        (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108), (157, 188, 64), (224, 163, 46),
        (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31), (187, 86, 149), (8, 133, 161),
        (243, 243, 242), (200, 200, 200), (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
    ]

    static func chartColour(row: Int, col: Int, height: Int, width: Int) -> (Double, Double, Double) {
        let cellH = Double(height) / 4, cellW = Double(width) / 6
        let i = min(Int(Double(row) / cellH), 3), j = min(Int(Double(col) / cellW), 5)
        let y = Double(row) - Double(i) * cellH, x = Double(col) - Double(j) * cellW
        let gap = max(1.0, min(cellH, cellW) * 0.08)
        if y < gap || x < gap { return (0.01, 0.01, 0.01) } // dark frame lines between patches
        let c = chart[i * 6 + j]
        return (decodeSRGB(c.0 / 255), decodeSRGB(c.1 / 255), decodeSRGB(c.2 / 255))
    }

    static func hue(_ u: Double) -> (Double, Double, Double) {
        let h = u * 6
        let x = 1 - abs(h.truncatingRemainder(dividingBy: 2) - 1)
        let rgb: (Double, Double, Double)
        switch Int(h) {
        case 0: rgb = (1, x, 0)
        case 1: rgb = (x, 1, 0)
        case 2: rgb = (0, 1, x)
        case 3: rgb = (0, x, 1)
        case 4: rgb = (x, 0, 1)
        default: rgb = (1, 0, x)
        }
        return (decodeSRGB(rgb.0), decodeSRGB(rgb.1), decodeSRGB(rgb.2))
    }

    /// sRGB transfer function, encoded → linear.
    public static func decodeSRGB(_ v: Double) -> Double {
        v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
    }

    /// sRGB transfer function, linear → encoded.
    public static func encodeSRGB(_ v: Float) -> Float {
        let c = min(max(v, 0), 1)
        return c <= 0.0031308 ? c * 12.92 : 1.055 * pow(c, 1 / 2.4) - 0.055
    }

    // MARK: - Lettering

    /// A 5x7 bitmap font of our own for the letters the scene uses.
    static let font: [Character: [String]] = [
        "A": [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        "D": ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
        "G": [".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"],
        "H": ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
        "I": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "#####"],
        "J": ["..###", "...#.", "...#.", "...#.", "#..#.", "#..#.", ".##.."],
        "K": ["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"],
        "N": ["#...#", "##..#", "#.#.#", "#.#.#", "#..##", "#...#", "#...#"],
        "R": ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
        "T": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
        "W": ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "##.##", "#...#"],
        "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        " ": [".....", ".....", ".....", ".....", ".....", ".....", "....."],
    ]

    /// Draws `text` centred horizontally, glyph cells 6x8 (with spacing) scaled to `height`.
    static func drawText(_ text: String, into image: inout LinearImage, top: Int, height: Int,
                         colour: (Double, Double, Double)) {
        let glyphs = text.map { font[$0] ?? font[" "]! }
        let scaleByHeight = Double(height) / 8
        let scaleByWidth = Double(image.width) * 0.9 / Double(glyphs.count * 6)
        let scale = min(scaleByHeight, scaleByWidth)
        guard scale >= 1 else { return } // too small to be legible: leave the gradient
        let textWidth = Int(Double(glyphs.count * 6) * scale)
        let left = (image.width - textWidth) / 2
        let rows = Int(8 * scale), cols = textWidth
        for y in 0..<rows {
            let gy = Int(Double(y) / scale)
            guard gy < 7, top + y < image.height else { continue }
            for x in 0..<cols {
                let cell = Int(Double(x) / scale)
                let g = cell / 6, gx = cell % 6
                guard g < glyphs.count, gx < 5, left + x >= 0, left + x < image.width else { continue }
                let line = Array(glyphs[g][gy])
                if line[gx] == "#" {
                    image[top + y, left + x, 0] = Float(colour.0)
                    image[top + y, left + x, 1] = Float(colour.1)
                    image[top + y, left + x, 2] = Float(colour.2)
                }
            }
        }
    }

    // MARK: - Dark capture

    /// Mosaics `image` into a dark Bayer capture: each site keeps its CFA colour, scaled by the
    /// channel gain and 1/exposureRatio into the sensor's range above black, with seeded
    /// Gaussian read and shot noise, quantised to `bits`. Deterministic for a given seed.
    public static func darkCapture(_ image: LinearImage, exposure: Exposure = Exposure()) -> DNGImage {
        precondition((8...16).contains(exposure.bits), "bits must be 8...16")
        let maxValue = Double((1 << exposure.bits) - 1)
        let black = Double(exposure.blackLevel)
        let range = maxValue - black
        let channels = exposure.cfa.channels
        var rng = SplitMix64(seed: exposure.seed)
        var samples = [UInt16](repeating: 0, count: image.width * image.height)
        let toCamera = exposure.xyzToCamera.map { CameraModel.sRGBToCamera($0) }
        for row in 0..<image.height {
            for col in 0..<image.width {
                let ch = channels[(row & 1) * 2 + (col & 1)]
                let linear: Double
                if let m = toCamera {
                    let rgb = SIMD3(Double(image[row, col, 0]), Double(image[row, col, 1]), Double(image[row, col, 2]))
                    linear = max(0, (m * rgb)[ch])
                } else {
                    linear = max(0, Double(image[row, col, ch])) * exposure.channelGains[ch]
                }
                let signal = linear * range / exposure.exposureRatio
                let sigma = (exposure.readNoise * exposure.readNoise + exposure.shotNoiseGain * signal).squareRoot()
                let value = black + signal + sigma * rng.nextGaussian()
                samples[row * image.width + col] = UInt16(min(max(value.rounded(), 0), maxValue))
            }
        }
        var dng = DNGImage(width: image.width, height: image.height, layout: .cfa(exposure.cfa), samples: samples,
                           significantBits: exposure.bits, black: [exposure.blackLevel], white: UInt32(maxValue),
                           orientation: exposure.orientation, make: exposure.make, model: exposure.model)
        if let matrix = exposure.xyzToCamera {
            dng.colorMatrix = matrix.values
            let neutral = CameraModel.neutral(matrix)
            dng.asShotNeutral = [neutral[0], neutral[1], neutral[2]]
        }
        return dng
    }
}

/// A small seeded PRNG (SplitMix64), so synthetic captures are the same on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUnit(), 0x1p-60), u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
