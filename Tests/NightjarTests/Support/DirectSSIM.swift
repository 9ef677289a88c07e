import Foundation
@testable import Nightjar

/// Mean SSIM the plain way, independently of `ImageMetrics.ssim`: at every valid position an
/// 11x11 Gaussian window (σ = 1.5) of weighted means, variances and covariance, per channel.
func directSSIM(_ x: RGBImage8, _ y: RGBImage8) -> Double {
    var g = [[Double]](repeating: [Double](repeating: 0, count: 11), count: 11)
    var gs = 0.0
    for i in 0..<11 { for j in 0..<11 { g[i][j] = exp(-Double((i - 5) * (i - 5) + (j - 5) * (j - 5)) / 4.5); gs += g[i][j] } }
    let c1 = 6.5025, c2 = 58.5225
    var ssim = 0.0, windows = 0
    for ch in 0..<3 {
        for top in 0...(x.height - 11) {
            for left in 0...(x.width - 11) {
                var mx = 0.0, my = 0.0
                for i in 0..<11 { for j in 0..<11 {
                    let k = ((top + i) * x.width + left + j) * 3 + ch
                    mx += g[i][j] / gs * Double(x.pixels[k]); my += g[i][j] / gs * Double(y.pixels[k])
                } }
                var vx = 0.0, vy = 0.0, cxy = 0.0
                for i in 0..<11 { for j in 0..<11 {
                    let k = ((top + i) * x.width + left + j) * 3 + ch
                    let dx = Double(x.pixels[k]) - mx, dy = Double(y.pixels[k]) - my
                    vx += g[i][j] / gs * dx * dx; vy += g[i][j] / gs * dy * dy; cxy += g[i][j] / gs * dx * dy
                } }
                ssim += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
                windows += 1
            }
        }
    }
    return ssim / Double(windows)
}
