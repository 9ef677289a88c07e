import FoundationEssentials

/// Quick looks at a capture without the network, e.g. the demo's "before" image: each RGGB
/// quad of the aligned mosaic becomes one pixel (R, mean of the greens, B), multiplied by a
/// gain, white-balanced by `channelGains` and sRGB-encoded. Half the aligned size.
public enum CapturePreview {
    public static func halfSize(_ frame: BayerFrame, gain: Double = 1,
                                channelGains: [Double] = [1, 1, 1]) -> (samples: [UInt16], width: Int, height: Int) {
        let normalised = CapturePipeline.normalisedAligned(frame)
        let w = normalised.width / 2, h = normalised.height / 2
        var samples = [UInt16](repeating: 0, count: w * h * 3)
        let stride = normalised.width
        for y in 0..<h {
            for x in 0..<w {
                let i = (2 * y) * stride + 2 * x
                let r = Double(normalised.values[i])
                let g = (Double(normalised.values[i + 1]) + Double(normalised.values[i + stride])) / 2
                let b = Double(normalised.values[i + stride + 1])
                for (c, v) in [r, g, b].enumerated() {
                    let linear = Float(v * gain * channelGains[c])
                    samples[(y * w + x) * 3 + c] = UInt16(CapturePipeline.quantise8(SyntheticScene.encodeSRGB(linear)))
                }
            }
        }
        return (samples, w, h)
    }

    /// Writes `halfSize` as an 8-bit PNG (atomically; refuses to replace unless `overwrite`).
    public static func writeHalfSizePNG(_ frame: BayerFrame, to url: URL, gain: Double = 1,
                                        channelGains: [Double] = [1, 1, 1], overwrite: Bool = false) throws {
        let preview = halfSize(frame, gain: gain, channelGains: channelGains)
        try CaptureOutput.writePNG(preview.samples, width: preview.width, height: preview.height, bits: 8,
                                   to: url, overwrite: overwrite)
    }
}
