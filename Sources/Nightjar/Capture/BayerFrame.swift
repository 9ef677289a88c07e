import FoundationEssentials

/// The four 2x2 Bayer layouts, named by the colours at (0,0), (0,1), (1,0), (1,1).
public enum CFAPattern: String, Sendable, Codable, CaseIterable {
    case rggb = "RGGB"
    case bggr = "BGGR"
    case grbg = "GRBG"
    case gbrg = "GBRG"

    /// Parses "RGGB" etc. (any case).
    public init?(letters: String) {
        self.init(rawValue: letters.uppercased())
    }

    /// The colour letters of the four sites, row-major.
    public var letters: [Character] { Array(rawValue) }

    /// Channel per site, row-major: 0 red, 1 green, 2 blue.
    public var channels: [Int] {
        letters.map { $0 == "R" ? 0 : $0 == "G" ? 1 : 2 }
    }

    /// Rows and columns to drop at the top/left so that (0,0) becomes red.
    public var rggbOffset: (dy: Int, dx: Int) {
        switch self {
        case .rggb: return (0, 0)
        case .grbg: return (0, 1)
        case .gbrg: return (1, 0)
        case .bggr: return (1, 1)
        }
    }
}

/// A decoded Bayer capture: the visible mosaic and what is needed to normalise it.
public struct BayerFrame: Sendable {
    /// Visible width and height of the mosaic.
    public var width: Int
    public var height: Int
    /// Row-major raw values, `width * height` of them.
    public var mosaic: [UInt16]
    /// The CFA layout of the visible area.
    public var cfa: CFAPattern
    /// Black level at the four sites (0,0), (0,1), (1,0), (1,1) of the visible area.
    public var black: [Double]
    /// White level (LibRaw's `maximum`).
    public var white: Double
    /// LibRaw's `sizes.flip`: 0 none, 3 rotate 180, 5 rotate 90 CCW, 6 rotate 90 CW
    /// (bit 4 transposes, bit 2 flips rows, bit 1 flips columns, after the transpose).
    public var flip: Int
    public var make: String
    public var model: String
    /// The file's white balance and colour matrix (none for frames made in memory).
    public var calibration: CameraCalibration

    public init(width: Int, height: Int, mosaic: [UInt16], cfa: CFAPattern, black: [Double],
                white: Double, flip: Int = 0, make: String = "", model: String = "",
                calibration: CameraCalibration = CameraCalibration(asShot: nil, cameraToSRGB: nil)) {
        precondition(mosaic.count == width * height, "mosaic size does not match width x height")
        precondition(black.count == 4, "black levels are given for the four 2x2 sites")
        self.width = width
        self.height = height
        self.mosaic = mosaic
        self.cfa = cfa
        self.black = black
        self.white = white
        self.flip = flip
        self.make = make
        self.model = model
        self.calibration = calibration
    }

    /// The raw value at (row, col).
    public subscript(row: Int, col: Int) -> UInt16 { mosaic[row * width + col] }
}
