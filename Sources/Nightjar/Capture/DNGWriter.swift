import FoundationEssentials

/// A minimal DNG writer: one uncompressed 16-bit image in IFD0 of a TIFF (little-endian unless
/// `bigEndian`), either a 2x2 CFA mosaic or (for tests of non-Bayer input) LinearRaw data with 3 samples
/// (demosaiced) or 1 (monochrome).
/// It writes what LibRaw needs to accept the file: DNGVersion, UniqueCameraModel, CFA tags,
/// BlackLevel (per 2x2 site, BlackLevelRepeatDim 2x2), WhiteLevel, ColorMatrix1,
/// AsShotNeutral, Orientation.
public struct DNGImage: Sendable {
    public enum Layout: Sendable, Equatable {
        /// One sample per pixel through a 2x2 colour filter array.
        case cfa(CFAPattern)
        /// Three samples (R, G, B) per pixel, already demosaiced (PhotometricInterpretation 34892).
        case linearRGB
        /// One sample per pixel without a colour filter (LinearRaw, as monochrome cameras write).
        case monochrome
    }

    public var width: Int
    public var height: Int
    public var layout: Layout
    /// Row-major samples: `width * height` for a CFA or monochrome, `width * height * 3`
    /// (interleaved) for linearRGB.
    public var samples: [UInt16]
    /// Significant bits of the data (10, 12, 14 or 16); the file always stores 16 bits per sample.
    public var significantBits: Int
    /// Black level per 2x2 site (0,0), (0,1), (1,0), (1,1), or a single value for all.
    public var black: [UInt16]
    /// White level; defaults to 2^significantBits − 1.
    public var white: UInt32?
    /// TIFF Orientation 1...8 (1: as stored, 3: 180°, 6: 90° CW, 8: 90° CCW to display).
    public var orientation: Int
    public var make: String
    public var model: String
    /// The ActiveArea (top, left, bottom, right) inside the stored readout, or nil for all of
    /// it. CFAPattern and BlackLevel are relative to its top-left corner, as DNG specifies.
    public var activeArea: (top: Int, left: Int, bottom: Int, right: Int)?
    /// XYZ→camera ColorMatrix1 (row-major 3x3), D65 calibration illuminant; empty: no
    /// ColorMatrix1 (a file without colour calibration).
    public var colorMatrix: [Double]
    /// AsShotNeutral (camera RGB of a neutral grey); empty: none recorded.
    public var asShotNeutral: [Double]
    /// EXIF ExposureTime in seconds (4 decimals), written when set.
    public var exposureTime: Double?
    /// EXIF DateTimeOriginal, "YYYY:MM:DD HH:MM:SS" (the camera's clock), written when set.
    public var dateTimeOriginal: String?
    /// A big-endian ("MM") file instead of little-endian ("II"): cameras write both.
    public var bigEndian = false
    /// LinearizationTable: stored sample value -> linear value (empty: none, the identity).
    public var linearization: [UInt16] = []
    /// MaskedAreas (top, left, bottom, right) of the stored readout: covered pixels whose
    /// values give the black level.
    public var maskedAreas: [(top: Int, left: Int, bottom: Int, right: Int)] = []

    public init(width: Int, height: Int, layout: Layout, samples: [UInt16], significantBits: Int = 14,
                black: [UInt16] = [512], white: UInt32? = nil, orientation: Int = 1,
                make: String = "Nightjar", model: String = "Synthetic",
                activeArea: (top: Int, left: Int, bottom: Int, right: Int)? = nil,
                colorMatrix: [Double] = [0.5838, -0.1430, -0.0246, -0.3497, 1.1477, 0.2297, -0.0748, 0.1885, 0.5778],
                asShotNeutral: [Double] = [0.3965, 1.0, 0.5329]) {
        self.width = width
        self.height = height
        self.layout = layout
        self.samples = samples
        self.significantBits = significantBits
        self.black = black
        self.white = white
        self.orientation = orientation
        self.make = make
        self.model = model
        self.activeArea = activeArea
        self.colorMatrix = colorMatrix
        self.asShotNeutral = asShotNeutral
    }

    /// The white level written to the file.
    public var whiteLevel: UInt32 { white ?? UInt32((1 << significantBits) - 1) }

    /// The black levels at the four 2x2 sites.
    public var siteBlack: [UInt16] { black.count == 4 ? black : [UInt16](repeating: black.first ?? 0, count: 4) }

    /// The encoded file.
    public func encoded() -> [UInt8] {
        let samplesPerPixel: Int
        switch layout {
        case .cfa, .monochrome: samplesPerPixel = 1
        case .linearRGB: samplesPerPixel = 3
        }
        let isCFA: Bool
        if case .cfa = layout { isCFA = true } else { isCFA = false }
        precondition(width > 0 && height > 0, "DNG needs a non-empty image")
        precondition(samples.count == width * height * samplesPerPixel, "sample count does not match the size")
        precondition(black.count == 1 || black.count == 4, "black is one value or four sites")

        var tiff = TIFFBuilder(bigEndian: bigEndian)
        let imageBytes = samples.count * 2
        var entries: [TIFFBuilder.Entry] = [
            .long(254, [0]), // NewSubfileType: the main image
            .long(256, [UInt32(width)]),
            .long(257, [UInt32(height)]),
            .short(258, [UInt16](repeating: 16, count: samplesPerPixel)),
            .short(259, [1]), // no compression
            .short(262, [isCFA ? 32803 : 34892]), // CFA or LinearRaw
            .ascii(271, make),
            .ascii(272, model),
            .long(273, [0]), // StripOffsets, patched below
            .short(274, [UInt16(orientation)]),
            .short(277, [UInt16(samplesPerPixel)]),
            .long(278, [UInt32(height)]), // one strip
            .long(279, [UInt32(imageBytes)]),
            .short(284, [1]), // chunky
            .ascii(305, "Nightjar \(Nightjar.version)"),
        ]
        if case .cfa(let pattern) = layout {
            entries.append(.short(33421, [2, 2])) // CFARepeatPatternDim
            entries.append(.byte(33422, pattern.channels.map { UInt8($0) })) // CFAPattern: 0 R, 1 G, 2 B
            entries.append(.byte(50710, [0, 1, 2])) // CFAPlaneColor
            entries.append(.short(50711, [1])) // CFALayout: rectangular
        }
        entries += [
            .byte(50706, [1, 4, 0, 0]), // DNGVersion
            .byte(50707, [1, 1, 0, 0]), // DNGBackwardVersion
            .ascii(50708, "\(make) \(model)"), // UniqueCameraModel
        ]
        if !linearization.isEmpty {
            entries.append(.short(50712, linearization)) // LinearizationTable
        }
        if black.count == 4 {
            entries.append(.short(50713, [2, 2])) // BlackLevelRepeatDim
            entries.append(.long(50714, black.map { UInt32($0) }))
        } else {
            entries.append(.long(50714, [UInt32(black[0])]))
        }
        entries.append(.long(50717, [whiteLevel])) // WhiteLevel
        if !colorMatrix.isEmpty {
            precondition(colorMatrix.count == 9, "ColorMatrix1 has nine values")
            entries.append(.srational(50721, colorMatrix)) // ColorMatrix1
            entries.append(.short(50778, [21])) // CalibrationIlluminant1: D65
        }
        if !asShotNeutral.isEmpty {
            entries.append(.rational(50728, asShotNeutral)) // AsShotNeutral
        }
        if let exposureTime {
            entries.append(.rational(33434, [exposureTime])) // ExposureTime
        }
        if let dateTimeOriginal {
            precondition(dateTimeOriginal.utf8.count == 19, "DateTimeOriginal is YYYY:MM:DD HH:MM:SS")
            // In the EXIF IFD, where cameras (and LibRaw) keep it.
            entries.append(.exif([.ascii(36867, dateTimeOriginal)])) // ExifIFD: DateTimeOriginal
        }
        if let area = activeArea {
            precondition(area.top >= 0 && area.left >= 0 && area.bottom <= height && area.right <= width
                         && area.top < area.bottom && area.left < area.right, "ActiveArea outside the image")
            entries.append(.long(50829, [area.top, area.left, area.bottom, area.right].map { UInt32($0) }))
        }
        if !maskedAreas.isEmpty {
            entries.append(.long(50830, maskedAreas.flatMap { [$0.top, $0.left, $0.bottom, $0.right].map { UInt32($0) } }))
        }
        let stripOffset = tiff.layout(entries: entries)
        var bytes = tiff.bytes
        // Patch StripOffsets now that the IFD size is known, then append the pixels.
        tiff.patchStripOffset(&bytes, value: UInt32(stripOffset))
        bytes.reserveCapacity(bytes.count + imageBytes)
        samples.withUnsafeBufferPointer { pixels in
            for v in pixels {
                let (first, second) = bigEndian ? (UInt8(v >> 8), UInt8(v & 0xFF)) : (UInt8(v & 0xFF), UInt8(v >> 8))
                bytes.append(first)
                bytes.append(second)
            }
        }
        return bytes
    }

    /// Writes the DNG atomically, refusing to replace an existing file unless `overwrite`.
    public func write(to url: URL, overwrite: Bool = false) throws {
        try CaptureOutput.writeData(Data(encoded()), to: url, overwrite: overwrite)
    }
}

/// Builds one TIFF IFD with its out-of-line values (tags in ascending order), little-endian
/// unless `bigEndian`.
struct TIFFBuilder {
    let bigEndian: Bool

    init(bigEndian: Bool = false) { self.bigEndian = bigEndian }

    enum Entry {
        case byte(UInt16, [UInt8])
        case ascii(UInt16, String)
        case short(UInt16, [UInt16])
        case long(UInt16, [UInt32])
        case rational(UInt16, [Double])
        case srational(UInt16, [Double])
        /// The EXIF IFD (tag 34665) with these entries.
        indirect case exif([Entry])

        var tag: UInt16 {
            switch self {
            case .byte(let t, _), .ascii(let t, _), .short(let t, _), .long(let t, _),
                 .rational(let t, _), .srational(let t, _): return t
            case .exif: return 34665
            }
        }

        /// (TIFF type, count, value bytes)
        func encoded(bigEndian: Bool) -> (type: UInt16, count: Int, bytes: [UInt8]) {
            let u16 = { (v: UInt16) in TIFFBuilder.bytes(of: v, bigEndian: bigEndian) }
            let u32 = { (v: UInt32) in TIFFBuilder.bytes(of: v, bigEndian: bigEndian) }
            switch self {
            case .byte(_, let v): return (1, v.count, v)
            case .ascii(_, let s):
                let b = Array(s.utf8.map { $0 < 128 ? $0 : UInt8(ascii: "?") }) + [0]
                return (2, b.count, b)
            case .short(_, let v): return (3, v.count, v.flatMap { u16($0) })
            case .long(_, let v): return (4, v.count, v.flatMap { u32($0) })
            case .rational(_, let v):
                return (5, v.count, v.flatMap { x -> [UInt8] in
                    u32(UInt32(max(0, (x * 10000).rounded()))) + u32(10000)
                })
            case .srational(_, let v):
                return (10, v.count, v.flatMap { x -> [UInt8] in
                    u32(UInt32(bitPattern: Int32((x * 10000).rounded()))) + u32(10000)
                })
            case .exif:
                // The offset is filled in by `layout`.
                return (4, 1, u32(0))
            }
        }
    }

    private(set) var bytes: [UInt8] = []
    private var stripOffsetField = -1

    /// Lays out header, IFD0 and the out-of-line values; returns where the image data start.
    mutating func layout(entries unsorted: [Entry]) -> Int {
        let entries = unsorted.sorted { $0.tag < $1.tag }
        bytes = (bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]) + u16(42) + u32(8) // "II" or "MM", 42, IFD0 at 8
        let ifdSize = 2 + 12 * entries.count + 4
        var extra: [UInt8] = []
        var ifd: [UInt8] = u16(UInt16(entries.count))
        for entry in entries {
            let (type, count, value) = entry.encoded(bigEndian: bigEndian)
            ifd += u16(entry.tag) + u16(type) + u32(UInt32(count))
            if entry.tag == 273 { stripOffsetField = 8 + ifd.count }
            if case .exif(let inner) = entry {
                if extra.count % 2 == 1 { extra.append(0) }
                let base = 8 + ifdSize + extra.count
                ifd += u32(UInt32(base))
                extra += subIFD(inner, at: base)
            } else if value.count <= 4 {
                ifd += value + [UInt8](repeating: 0, count: 4 - value.count)
            } else {
                if extra.count % 2 == 1 { extra.append(0) } // word alignment
                ifd += u32(UInt32(8 + ifdSize + extra.count))
                extra += value
            }
        }
        ifd += u32(0) // no next IFD
        bytes += ifd + extra
        if bytes.count % 2 == 1 { bytes.append(0) }
        return bytes.count
    }

    /// An IFD with its out-of-line values, to be placed at file offset `base`.
    func subIFD(_ unsorted: [Entry], at base: Int) -> [UInt8] {
        let entries = unsorted.sorted { $0.tag < $1.tag }
        let size = 2 + 12 * entries.count + 4
        var ifd: [UInt8] = u16(UInt16(entries.count))
        var extra: [UInt8] = []
        for entry in entries {
            let (type, count, value) = entry.encoded(bigEndian: bigEndian)
            ifd += u16(entry.tag) + u16(type) + u32(UInt32(count))
            if value.count <= 4 {
                ifd += value + [UInt8](repeating: 0, count: 4 - value.count)
            } else {
                if extra.count % 2 == 1 { extra.append(0) }
                ifd += u32(UInt32(base + size + extra.count))
                extra += value
            }
        }
        return ifd + u32(0) + extra
    }

    func patchStripOffset(_ data: inout [UInt8], value: UInt32) {
        precondition(stripOffsetField >= 0, "no StripOffsets entry")
        data.replaceSubrange(stripOffsetField..<(stripOffsetField + 4), with: u32(value))
    }

    func u16(_ v: UInt16) -> [UInt8] { Self.bytes(of: v, bigEndian: bigEndian) }
    func u32(_ v: UInt32) -> [UInt8] { Self.bytes(of: v, bigEndian: bigEndian) }

    static func bytes<T: FixedWidthInteger>(of v: T, bigEndian: Bool) -> [UInt8] {
        let count = MemoryLayout<T>.size
        return (0..<count).map { i in UInt8(truncatingIfNeeded: v >> (8 * (bigEndian ? count - 1 - i : i))) }
    }
}
