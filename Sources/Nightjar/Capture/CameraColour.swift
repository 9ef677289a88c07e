import NightjarIOShims

/// Where the restored image's colour comes from (`restore --color`).
public enum ColorMode: String, Sendable, Codable, CaseIterable {
    /// The network's luminance and detail, the chroma from the capture through the camera's own
    /// calibration (white balance and camera-to-sRGB matrix). The default.
    case camera
    /// The network's output as it is (bit for bit what the network gives).
    case network
}

/// The white balance of the camera colour (`restore --white-balance`).
public enum WhiteBalance: Sendable, Equatable {
    /// As shot (LibRaw's `cam_mul`, DNG AsShotNeutral); `auto` when the file records none.
    case camera
    /// Grey-world over the frame's unclipped colour quads.
    case auto
    /// Multipliers for camera R, G, B (normalised so that G is 1).
    case multipliers(SIMD3<Double>)

    /// Parses `camera`, `auto` or `R,G,B` (three positive numbers).
    public init?(argument: String) {
        switch argument.lowercased() {
        case "camera": self = .camera
        case "auto": self = .auto
        default:
            let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            var values = SIMD3<Double>()
            for i in 0..<3 {
                guard let v = Double(parts[i].trimmingCharacters(in: " ")), v.isFinite, v > 0 else { return nil }
                values[i] = v
            }
            self = .multipliers(values / values[1])
        }
    }

    public var description: String {
        switch self {
        case .camera: return "camera"
        case .auto: return "auto"
        case .multipliers(let m): return "\(m[0]),\(m[1]),\(m[2])"
        }
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}

/// A 3x3 matrix of doubles, row-major (plain values: no heap).
public struct ColorMatrix3: Sendable, Equatable {
    public var rows: (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>)

    public init(_ r0: SIMD3<Double>, _ r1: SIMD3<Double>, _ r2: SIMD3<Double>) { rows = (r0, r1, r2) }

    /// From nine numbers, row-major.
    public init(_ v: [Double]) {
        precondition(v.count == 9, "a 3x3 matrix has nine numbers")
        rows = (SIMD3(v[0], v[1], v[2]), SIMD3(v[3], v[4], v[5]), SIMD3(v[6], v[7], v[8]))
    }

    public static func == (a: ColorMatrix3, b: ColorMatrix3) -> Bool {
        a.rows.0 == b.rows.0 && a.rows.1 == b.rows.1 && a.rows.2 == b.rows.2
    }

    public static let identity = ColorMatrix3(SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1))

    public var values: [Double] { [rows.0[0], rows.0[1], rows.0[2], rows.1[0], rows.1[1], rows.1[2], rows.2[0], rows.2[1], rows.2[2]] }

    public subscript(row: Int, col: Int) -> Double {
        switch row {
        case 0: return rows.0[col]
        case 1: return rows.1[col]
        default: return rows.2[col]
        }
    }

    public static func * (m: ColorMatrix3, v: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3((m.rows.0 * v).sum(), (m.rows.1 * v).sum(), (m.rows.2 * v).sum())
    }

    public static func * (a: ColorMatrix3, b: ColorMatrix3) -> ColorMatrix3 {
        let c0 = b * SIMD3(1, 0, 0), c1 = b * SIMD3(0, 1, 0), c2 = b * SIMD3(0, 0, 1)
        let p0 = a * c0, p1 = a * c1, p2 = a * c2
        return ColorMatrix3(SIMD3(p0[0], p1[0], p2[0]), SIMD3(p0[1], p1[1], p2[1]), SIMD3(p0[2], p1[2], p2[2]))
    }

    public var determinant: Double {
        let (a, b, c) = rows
        return a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0])
    }

    /// The inverse, or nil when (nearly) singular.
    public var inverse: ColorMatrix3? {
        let d = determinant
        guard d.isFinite, abs(d) > 1e-12 else { return nil }
        let (a, b, c) = rows
        let r0 = SIMD3(b[1] * c[2] - b[2] * c[1], a[2] * c[1] - a[1] * c[2], a[1] * b[2] - a[2] * b[1])
        let r1 = SIMD3(b[2] * c[0] - b[0] * c[2], a[0] * c[2] - a[2] * c[0], a[2] * b[0] - a[0] * b[2])
        let r2 = SIMD3(b[0] * c[1] - b[1] * c[0], a[1] * c[0] - a[0] * c[1], a[0] * b[1] - a[1] * b[0])
        return ColorMatrix3(r0 / d, r1 / d, r2 / d)
    }

    /// Linear sRGB (D65) → XYZ (IEC 61966-2-1).
    public static let sRGBToXYZ = ColorMatrix3(SIMD3(0.4124564, 0.3575761, 0.1804375),
                                               SIMD3(0.2126729, 0.7151522, 0.0721750),
                                               SIMD3(0.0193339, 0.1191920, 0.9503041))
}

/// The colour calibration a RAW file carries, as LibRaw reads it.
public struct CameraCalibration: Sendable, Equatable {
    /// The as-shot white balance (LibRaw's `cam_mul`) for camera R, G, B, normalised to G = 1;
    /// nil when the file records none.
    public var asShot: SIMD3<Double>?
    /// Camera RGB (after white balance) → linear sRGB (LibRaw's `rgb_cam`, green columns
    /// merged); nil when the file gives no usable matrix (LibRaw's identity fallback).
    public var cameraToSRGB: ColorMatrix3?

    public init(asShot: SIMD3<Double>?, cameraToSRGB: ColorMatrix3?) {
        self.asShot = asShot
        self.cameraToSRGB = cameraToSRGB
    }

    /// From LibRaw's record: channels are picked by `cdesc` letters, so any colour order works.
    /// No heap allocation (it runs inside a frame's allocation-free region).
    init(info: nj_raw_info) {
        var cdesc = info.cdesc, mul = info.cam_mul, rgbCam = info.rgb_cam
        let letters = withUnsafeBytes(of: &cdesc) { p in (0..<4).reduce(SIMD4<UInt8>()) { v, i in var v = v; v[i] = p[i] & ~0x20; return v } }
        let multipliers = withUnsafeBytes(of: &mul) { p in SIMD4<Float>(p.load(fromByteOffset: 0, as: Float.self), p.load(fromByteOffset: 4, as: Float.self),
                                                                         p.load(fromByteOffset: 8, as: Float.self), p.load(fromByteOffset: 12, as: Float.self)) }
        func index(_ letter: UInt8) -> Int? { (0..<4).first { letters[$0] == letter } }
        guard let r = index(UInt8(ascii: "R")), let g = index(UInt8(ascii: "G")), let b = index(UInt8(ascii: "B")) else {
            self.init(asShot: nil, cameraToSRGB: nil)
            return
        }
        // A second green of its own (4-colour mode): both greens feed the quad's mean.
        let g2 = (0..<4).first { $0 != g && letters[$0] == UInt8(ascii: "G") && Int(info.colors) == 4 }
        let wb = SIMD3<Double>(Double(multipliers[r]), Double(multipliers[g]), Double(multipliers[b]))
        let recorded = wb.min() > 0 && wb.max().isFinite
        let rows = withUnsafeBytes(of: &rgbCam) { p -> (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>) in
            func row(_ i: Int) -> SIMD3<Double> {
                func at(_ j: Int) -> Double { Double(p.load(fromByteOffset: (i * 4 + j) * 4, as: Float.self)) }
                return SIMD3(at(r), at(g) + (g2.map { at($0) } ?? 0), at(b))
            }
            return (row(0), row(1), row(2))
        }
        let matrix = ColorMatrix3(rows.0, rows.1, rows.2)
        self.init(asShot: recorded ? wb / wb[1] : nil, cameraToSRGB: Self.usable(matrix) ? matrix : nil)
    }

    /// LibRaw leaves the identity when it knows no matrix for the camera; a real one maps the
    /// white-balanced neutral (1,1,1) to white, so its rows sum to 1.
    static func usable(_ m: ColorMatrix3) -> Bool {
        var finite = true, identity = true
        for i in 0..<3 {
            for j in 0..<3 {
                let v = m[i, j]
                if !(v.isFinite && abs(v) < 100) { finite = false }
                if abs(v - (i == j ? 1 : 0)) > 1e-3 { identity = false }
            }
        }
        let sums = SIMD3(m.rows.0.sum(), m.rows.1.sum(), m.rows.2.sum())
        let rowsSumToOne = abs(sums[0] - 1) < 0.1 && abs(sums[1] - 1) < 0.1 && abs(sums[2] - 1) < 0.1
        return finite && !identity && rowsSumToOne && abs(m.determinant) > 1e-6
    }
}

/// Built-in camera colour models for `synthesize --camera`: each camera's XYZ(D65)→camera
/// matrix as Adobe publishes it in DNG Converter's profiles and dcraw/LibRaw tabulate it
/// (`adobe_coeff`, ×10000: Sony ILCE-7SM2, Canon EOS 5D Mark III, Nikon D850). Facts about
/// the sensors, stated as such: the numbers only. The CFA is the camera's usual one.
public struct CameraModel: Sendable {
    public var id: String
    public var make: String
    public var model: String
    public var cfa: CFAPattern
    public var bits: Int
    /// XYZ (D65) → camera RGB, as in DNG ColorMatrix1 with a D65 calibration illuminant.
    public var xyzToCamera: ColorMatrix3

    public static let builtIn: [CameraModel] = [
        CameraModel(id: "sony-a7s2", make: "Sony", model: "ILCE-7SM2", cfa: .rggb, bits: 14,
                    xyzToCamera: ColorMatrix3([0.5838, -0.1430, -0.0246, -0.3497, 1.1477, 0.2297, -0.0748, 0.1885, 0.5778])),
        CameraModel(id: "canon-5d3", make: "Canon", model: "EOS 5D Mark III", cfa: .rggb, bits: 14,
                    xyzToCamera: ColorMatrix3([0.6722, -0.0635, -0.0963, -0.4287, 1.2460, 0.2028, -0.0908, 0.2162, 0.5668])),
        CameraModel(id: "nikon-d850", make: "Nikon", model: "D850", cfa: .rggb, bits: 14,
                    xyzToCamera: ColorMatrix3([1.0405, -0.3755, -0.1270, -0.5461, 1.3787, 0.1793, -0.1040, 0.2015, 0.6785])),
    ]

    public static func named(_ id: String) -> CameraModel? { builtIn.first { $0.id == id.lowercased() } }

    /// Linear sRGB → camera RGB, scaled so that sRGB white gives green 1 (the raw response the
    /// synthetic sensor records).
    public static func sRGBToCamera(_ xyzToCamera: ColorMatrix3) -> ColorMatrix3 {
        let m = xyzToCamera * ColorMatrix3.sRGBToXYZ
        let g = m.rows.1.sum()
        return ColorMatrix3(m.rows.0 / g, m.rows.1 / g, m.rows.2 / g)
    }

    /// The camera RGB of sRGB white (D65), green 1: the DNG AsShotNeutral of a D65 scene.
    public static func neutral(_ xyzToCamera: ColorMatrix3) -> SIMD3<Double> {
        sRGBToCamera(xyzToCamera) * SIMD3(1, 1, 1)
    }
}
