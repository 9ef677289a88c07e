import Glibc

/// An 8-bit interleaved RGB image: what `restore` writes by default, and a quantised reference.
public struct RGBImage8: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height` rows of `width` × (R, G, B).
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "pixels must hold width * height * 3 values")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// How close a restored image is to its reference.
public struct ImageScore: Sendable, Equatable {
    /// Decibels; +infinity for identical images.
    public var psnr: Double
    public var ssim: Double
    /// Mean CIE76 ΔE over the pixels.
    public var deltaE: Double
}

/// Full-reference image metrics on 8-bit sRGB images, as the SID-based papers report them.
public enum ImageMetrics {
    /// PSNR in dB with peak 255, over all samples of all three channels:
    /// 10 · log10(255² / MSE).
    public static func psnr(_ a: RGBImage8, _ b: RGBImage8) -> Double {
        precondition(a.width == b.width && a.height == b.height, "images must have the same size")
        var sum: UInt64 = 0
        a.pixels.withUnsafeBufferPointer { x in
            b.pixels.withUnsafeBufferPointer { y in
                for i in 0..<x.count {
                    let d = Int(x[i]) - Int(y[i])
                    sum += UInt64(d * d)
                }
            }
        }
        guard sum > 0 else { return .infinity }
        let mse = Double(sum) / Double(a.pixels.count)
        return 10 * log10(255 * 255 / mse)
    }

    /// The SSIM window: 11 taps of a Gaussian with σ = 1.5, normalised to sum 1.
    public static let ssimWindow: [Double] = {
        let taps = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let total = taps.reduce(0, +)
        return taps.map { $0 / total }
    }()

    /// Mean SSIM (Wang et al. 2004): per channel, an 11×11 Gaussian window (σ = 1.5), K1 = 0.01,
    /// K2 = 0.03, L = 255, population (not sample) variances, averaged over every *valid*
    /// window position (windows wholly inside the image, as Wang et al.'s reference code's
    /// `filter2(..., 'valid')`, and scikit-image's `structural_similarity` with
    /// `gaussian_weights=True`, which crops the same 5-pixel border), then over the channels.
    /// Images must be at least 11×11. Streams: holds 11 rows of filtered values per channel.
    public static func ssim(_ a: RGBImage8, _ b: RGBImage8) -> Double {
        precondition(a.width == b.width && a.height == b.height, "images must have the same size")
        precondition(a.width >= 11 && a.height >= 11, "SSIM needs images of at least 11x11")
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        let width = a.width, outWidth = a.width - 10, outHeight = a.height - 10
        // The image is done in tiles of up to `tile` output columns. Per image row of a tile:
        // 15 planes (x, y, x², y², xy for each channel) filtered horizontally, kept in a ring
        // of 11 rows that stays in cache; each output row sums 11 of them. Inner loops run over
        // contiguous memory, so the compiler vectorises them.
        let tile = 256, planes = 15
        let ring = UnsafeMutableBufferPointer<Double>.allocate(capacity: 11 * planes * tile)
        let sums = UnsafeMutableBufferPointer<Double>.allocate(capacity: planes * tile)
        let values = UnsafeMutableBufferPointer<Double>.allocate(capacity: 5 * (tile + 10))
        let window = UnsafeMutableBufferPointer<Double>.allocate(capacity: 11)
        defer { ring.deallocate(); sums.deallocate(); values.deallocate(); window.deallocate() }
        _ = window.initialize(from: ssimWindow)
        var total = 0.0
        a.pixels.withUnsafeBufferPointer { x in
            b.pixels.withUnsafeBufferPointer { y in
                for first in stride(from: 0, to: outWidth, by: tile) {
                    let columns = min(tile, outWidth - first), inputs = columns + 10, rowStride = planes * columns
                    for row in 0..<a.height {
                        let slot = (row % 11) * rowStride
                        for channel in 0..<3 {
                            for j in 0..<inputs {
                                let i = (row * width + first + j) * 3 + channel
                                let vx = Double(x[i]), vy = Double(y[i])
                                values[j] = vx
                                values[inputs + j] = vy
                                values[2 * inputs + j] = vx * vx
                                values[3 * inputs + j] = vy * vy
                                values[4 * inputs + j] = vx * vy
                            }
                            for q in 0..<5 {
                                // Pointers, so the loops carry no checked index arithmetic.
                                let out = ring.baseAddress! + slot + (q * 3 + channel) * columns
                                out.update(repeating: 0, count: columns)
                                for k in 0..<11 {
                                    let w = window[k], source = values.baseAddress! + q * inputs + k
                                    for col in 0..<columns { out[col] += w * source[col] }
                                }
                            }
                        }
                        guard row >= 10 else { continue }
                        let total15 = sums.baseAddress!
                        total15.update(repeating: 0, count: rowStride)
                        for k in 0..<11 {
                            let w = window[k], source = ring.baseAddress! + ((row - 10 + k) % 11) * rowStride
                            for i in 0..<rowStride { total15[i] += w * source[i] }
                        }
                        for channel in 0..<3 {
                            let mx = channel * columns, my = (3 + channel) * columns, mxx = (6 + channel) * columns
                            let myy = (9 + channel) * columns, mxy = (12 + channel) * columns
                            for col in 0..<columns {
                                let ux = sums[mx + col], uy = sums[my + col]
                                let varX = sums[mxx + col] - ux * ux, varY = sums[myy + col] - uy * uy
                                let cov = sums[mxy + col] - ux * uy
                                total += ((2 * ux * uy + c1) * (2 * cov + c2)) / ((ux * ux + uy * uy + c1) * (varX + varY + c2))
                            }
                        }
                    }
                }
            }
        }
        return total / Double(3 * outWidth * outHeight)
    }

    /// 8-bit sRGB code value → linear light (IEC 61966-2-1).
    static let linearFromSRGB: [Double] = (0...255).map { code in
        let v = Double(code) / 255
        return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
    }

    /// CIE L*a*b* (D65 white) of an 8-bit sRGB colour: sRGB → linear → XYZ (the sRGB
    /// standard's matrix, D65) → Lab.
    public static func lab(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (l: Double, a: Double, b: Double) {
        let lr = linearFromSRGB[Int(r)], lg = linearFromSRGB[Int(g)], lb = linearFromSRGB[Int(b)]
        let x = 0.4124 * lr + 0.3576 * lg + 0.1805 * lb
        let y = 0.2126 * lr + 0.7152 * lg + 0.0722 * lb
        let z = 0.0193 * lr + 0.1192 * lg + 0.9505 * lb
        // The white point is the matrix's own image of sRGB white, so white maps to L* = 100, a* = b* = 0.
        let white = (x: 0.4124 + 0.3576 + 0.1805, y: 1.0, z: 0.0193 + 0.1192 + 0.9505)
        func f(_ t: Double) -> Double {
            let delta = 6.0 / 29
            return t > delta * delta * delta ? cbrt(t) : t / (3 * delta * delta) + 4.0 / 29
        }
        let fx = f(x / white.x), fy = f(y / white.y), fz = f(z / white.z)
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    /// Mean CIE76 ΔE (Euclidean distance in L*a*b*) over the pixels.
    public static func meanDeltaE76(_ a: RGBImage8, _ b: RGBImage8) -> Double {
        precondition(a.width == b.width && a.height == b.height, "images must have the same size")
        let count = a.width * a.height
        guard count > 0 else { return 0 }
        var total = 0.0
        a.pixels.withUnsafeBufferPointer { x in
            b.pixels.withUnsafeBufferPointer { y in
                for p in 0..<count {
                    let i = 3 * p
                    if x[i] == y[i] && x[i + 1] == y[i + 1] && x[i + 2] == y[i + 2] { continue }
                    let u = lab(x[i], x[i + 1], x[i + 2]), v = lab(y[i], y[i + 1], y[i + 2])
                    let dl = u.l - v.l, da = u.a - v.a, db = u.b - v.b
                    total += (dl * dl + da * da + db * db).squareRoot()
                }
            }
        }
        return total / Double(count)
    }

    /// PSNR, SSIM and mean ΔE of `restored` against `reference`.
    public static func score(_ restored: RGBImage8, against reference: RGBImage8) -> ImageScore {
        ImageScore(psnr: psnr(restored, reference), ssim: ssim(restored, reference),
                   deltaE: meanDeltaE76(restored, reference))
    }
}
