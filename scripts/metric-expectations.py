#!/usr/bin/env python3
"""Expected PSNR, SSIM and mean CIE76 dE for ImageMetricsTests, computed independently of
Nightjar: NumPy, and SciPy's Gaussian filter over the whole image (reflect mode, truncate 3.5,
i.e. 11 taps for sigma 1.5) cropped to the valid windows afterwards, as scikit-image's
structural_similarity(gaussian_weights=True, use_sample_covariance=False, data_range=255) does.
The images are the same integer formulas as the Swift test's. Prints the numbers the test holds.
Run: python3 scripts/metric-expectations.py"""
import numpy as np
from scipy.ndimage import gaussian_filter

H, W = 23, 29
r, c, ch = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
a = (r * 37 + c * 11 + ch * 71 + ((r * c) % 13) * 9) % 256
b = np.clip(a + ((r * 5 + c * 3 + ch * 7) % 17) - 8 + np.where((r + c) % 4 == 0, 40, 0), 0, 255)
a = a.astype(np.float64)
b = b.astype(np.float64)

mse = np.mean((a - b) ** 2)
psnr = 10 * np.log10(255.0 ** 2 / mse)

def ssim_channel(x, y):
    f = lambda v: gaussian_filter(v, sigma=1.5, truncate=3.5, mode="reflect")
    ux, uy = f(x), f(y)
    vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return s[5:-5, 5:-5].mean()

ssim = np.mean([ssim_channel(a[..., k], b[..., k]) for k in range(3)])

def lab(img):
    v = img / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / m.sum(axis=1)
    d = 6 / 29
    f = np.where(xyz > d ** 3, np.cbrt(xyz), xyz / (3 * d * d) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)

delta_e = np.mean(np.linalg.norm(lab(a) - lab(b), axis=-1))
print(f"psnr {psnr:.12f}\nssim {ssim:.12f}\ndelta_e {delta_e:.12f}")
