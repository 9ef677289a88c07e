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
        let window = ssimWindow
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        let outWidth = a.width - 10, outHeight = a.height - 10
        // ring[slot][channel][quantity][column]: rows filtered horizontally, 5 quantities
        // (x, y, x², y², xy), 11 rows kept.
        let quantities = 5
        let rowStride = 3 * quantities * outWidth
        var ring = [Double](repeating: 0, count: 11 * rowStride)
        var total = 0.0
        a.pixels.withUnsafeBufferPointer { x in
            b.pixels.withUnsafeBufferPointer { y in
                ring.withUnsafeMutableBufferPointer { ring in
                    for row in 0..<a.height {
                        let slot = (row % 11) * rowStride
                        for channel in 0..<3 {
                            let base = slot + channel * quantities * outWidth
                            for col in 0..<outWidth {
                                var sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
                                for k in 0..<11 {
                                    let i = (row * a.width + col + k) * 3 + channel
                                    let vx = Double(x[i]), vy = Double(y[i]), w = window[k]
                                    sx += w * vx; sy += w * vy
                                    sxx += w * vx * vx; syy += w * vy * vy; sxy += w * vx * vy
                                }
                                ring[base + col] = sx
                                ring[base + outWidth + col] = sy
                                ring[base + 2 * outWidth + col] = sxx
                                ring[base + 3 * outWidth + col] = syy
                                ring[base + 4 * outWidth + col] = sxy
                            }
                        }
                        guard row >= 10 else { continue }
                        let top = row - 10
                        for channel in 0..<3 {
                            for col in 0..<outWidth {
                                var m = (0.0, 0.0, 0.0, 0.0, 0.0)
                                for k in 0..<11 {
                                    let base = ((top + k) % 11) * rowStride + channel * quantities * outWidth + col
                                    let w = window[k]
                                    m.0 += w * ring[base]
                                    m.1 += w * ring[base + outWidth]
                                    m.2 += w * ring[base + 2 * outWidth]
                                    m.3 += w * ring[base + 3 * outWidth]
                                    m.4 += w * ring[base + 4 * outWidth]
                                }
                                let varX = m.2 - m.0 * m.0, varY = m.3 - m.1 * m.1, cov = m.4 - m.0 * m.1
                                total += ((2 * m.0 * m.1 + c1) * (2 * cov + c2))
                                    / ((m.0 * m.0 + m.1 * m.1 + c1) * (varX + varY + c2))
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
