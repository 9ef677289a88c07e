@testable import Nightjar
import XCTest

/// PSNR, SSIM and CIE76 ΔE against closed forms, published values and an independent
/// computation (`scripts/metric-expectations.py`, NumPy and SciPy).
final class ImageMetricsTests: XCTestCase {
    func image(width: Int, height: Int, _ value: (Int, Int, Int) -> Int) -> RGBImage8 {
        var pixels: [UInt8] = []
        for r in 0..<height { for c in 0..<width { for ch in 0..<3 { pixels.append(UInt8(clamping: value(r, c, ch))) } } }
        return RGBImage8(width: width, height: height, pixels: pixels)
    }

    /// The test images of scripts/metric-expectations.py: a textured image and a noisy, partly
    /// brightened copy of it.
    func scriptImages() -> (RGBImage8, RGBImage8) {
        func a(_ r: Int, _ c: Int, _ ch: Int) -> Int { (r * 37 + c * 11 + ch * 71 + ((r * c) % 13) * 9) % 256 }
        let x = image(width: 29, height: 23, a)
        let y = image(width: 29, height: 23) { r, c, ch in
            a(r, c, ch) + (r * 5 + c * 3 + ch * 7) % 17 - 8 + ((r + c) % 4 == 0 ? 40 : 0)
        }
        return (x, y)
    }

    func testIdenticalImages() {
        let (x, _) = scriptImages()
        XCTAssertEqual(ImageMetrics.psnr(x, x), .infinity)
        XCTAssertEqual(ImageMetrics.ssim(x, x), 1, accuracy: 1e-12)
        XCTAssertEqual(ImageMetrics.meanDeltaE76(x, x), 0)
    }

    /// A constant shift d of every sample: MSE = d², so PSNR = 20·log10(255/d).
    func testPSNROfConstantShifts() {
        let (x, _) = scriptImages()
        // Samples in 20...219, so no shift up to 30 clips.
        let base = RGBImage8(width: 29, height: 23, pixels: x.pixels.map { 20 + $0 % 200 })
        for d in [1, 2, 5, 17, 30] {
            let shifted = RGBImage8(width: 29, height: 23, pixels: base.pixels.map { $0 + UInt8(d) })
            XCTAssertEqual(ImageMetrics.psnr(shifted, base), 20 * log10(255 / Double(d)), accuracy: 1e-9, "d = \(d)")
        }
        // Black against white: MSE = 255², 0 dB.
        let black = image(width: 12, height: 12) { _, _, _ in 0 }, white = image(width: 12, height: 12) { _, _, _ in 255 }
        XCTAssertEqual(ImageMetrics.psnr(black, white), 0, accuracy: 1e-12)
    }

    /// Two flat images: no variance, so SSIM = (2ab + C1) / (a² + b² + C1) exactly.
    func testSSIMOfFlatImages() {
        let c1 = (0.01 * 255) * (0.01 * 255)
        for (a, b) in [(100, 110), (0, 255), (30, 200), (128, 128)] {
            let x = image(width: 16, height: 13) { _, _, _ in a }, y = image(width: 16, height: 13) { _, _, _ in b }
            let expected = (2 * Double(a * b) + c1) / (Double(a * a + b * b) + c1)
            XCTAssertEqual(ImageMetrics.ssim(x, y), expected, accuracy: 1e-12, "\(a) vs \(b)")
        }
    }

    /// The window is the normalised 11-tap Gaussian of σ = 1.5, and SSIM is symmetric.
    func testSSIMWindowAndSymmetry() {
        let window = ImageMetrics.ssimWindow
        XCTAssertEqual(window.count, 11)
        XCTAssertEqual(window.reduce(0, +), 1, accuracy: 1e-15)
        XCTAssertEqual(window[5] / window[6], exp(1 / (2 * 1.5 * 1.5)), accuracy: 1e-12)
        let (x, y) = scriptImages()
        XCTAssertEqual(ImageMetrics.ssim(x, y), ImageMetrics.ssim(y, x), accuracy: 1e-12)
    }

    /// Published L*a*b* (D65) of sRGB primaries and white: e.g. red (255, 0, 0) is
    /// L* 53.24, a* 80.09, b* 67.20 (Lindbloom's calculator; within 0.05, the rounding of the
    /// sRGB standard's 4-digit matrix used here).
    func testLabOfKnownColours() {
        let cases: [((UInt8, UInt8, UInt8), (Double, Double, Double))] = [
            ((255, 255, 255), (100, 0, 0)), ((0, 0, 0), (0, 0, 0)),
            ((255, 0, 0), (53.24, 80.09, 67.20)), ((0, 255, 0), (87.73, -86.18, 83.18)),
            ((0, 0, 255), (32.30, 79.19, -107.86)),
        ]
        for (rgb, expected) in cases {
            let lab = ImageMetrics.lab(rgb.0, rgb.1, rgb.2)
            XCTAssertEqual(lab.l, expected.0, accuracy: 0.05, "\(rgb)")
            XCTAssertEqual(lab.a, expected.1, accuracy: 0.05, "\(rgb)")
            XCTAssertEqual(lab.b, expected.2, accuracy: 0.05, "\(rgb)")
        }
        // Black against white: ΔE = 100 at every pixel.
        let black = image(width: 4, height: 3) { _, _, _ in 0 }, white = image(width: 4, height: 3) { _, _, _ in 255 }
        XCTAssertEqual(ImageMetrics.meanDeltaE76(black, white), 100, accuracy: 1e-9)
    }

    /// An image wider than SSIM's column tiles (256 outputs): the tiles join seamlessly.
    func testSSIMAcrossTiles() {
        let x = image(width: 530, height: 14) { r, c, ch in (r * 37 + c * 11 + ch * 71 + ((r * c) % 13) * 9) % 256 }
        let y = image(width: 530, height: 14) { r, c, ch in (r * 37 + c * 11 + ch * 71 + ((r * c) % 13) * 9) % 256 + (c * 7 + r) % 23 - 11 }
        XCTAssertEqual(ImageMetrics.ssim(x, y), directSSIM(x, y), accuracy: 1e-10)
    }

    /// The numbers printed by scripts/metric-expectations.py for the same two images.
    func testAgainstIndependentComputation() {
        let (x, y) = scriptImages()
        let score = ImageMetrics.score(y, against: x)
        XCTAssertEqual(score.psnr, 22.254636244304, accuracy: 1e-9)
        XCTAssertEqual(score.ssim, 0.965809467269, accuracy: 1e-9)
        XCTAssertEqual(score.deltaE, 7.658417894559, accuracy: 1e-9)
    }
}
