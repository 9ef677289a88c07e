/// One int8 convolution folded into the next (conv2x into conv_2_8_32): the numbers of the
/// qs8 kernels' folded input (nightjar_kernels_qs8.h), made from the model's float weights and
/// both layers' int8 numbers.
///
/// The first convolution is linear and writes the first channels of the second one's input,
/// so the second one's taps over them compose with it into one convolution of the first one's
/// input, (k₁ + k₂ - 1)² taps, except near the border: there the second convolution's zero
/// padding drops the taps that reach outside the image, so the composed weights and bias are
/// made once per border class (per axis: within the second kernel's padding of an edge, or not).
/// The composed weights are quantised at their own scale, 2^-shift of the second layer's
/// accumulator scale (the first layer's input is finer than the concatenation the second
/// reads: 0.0043 against 0.016 in the official model, so at the second layer's scale they would
/// keep 3-4 bits), and the intermediate tensor's rounding disappears. On the golden captures this
/// measured 1-4 dB closer to the FP32 layer than the two int8 layers (docs/measurements.md,
/// 2026-12-07 21:10).
public struct Int8ConvolutionFold: Sendable {
    /// The composed kernel's size.
    public let foldKernel: Int
    /// kernel² of the second convolution.
    public let classes: Int
    /// The second layer's int8 weights of the channels after the first one's:
    /// [out][in - first.out][k][k].
    public let mainWeights: [Int8]
    /// The composed int8 weights, [class][out][first.in][foldKernel][foldKernel].
    public let foldWeights: [Int8]
    /// Per output channel: the composed weights' scale.
    public let foldWeightScales: [Float]
    /// The composed bias (the second's, and the first one's through the kept taps),
    /// [class][out].
    public let bias: [Float]

    /// nil when the composed weights do not fit int8 at any scale 2^0 .. 2^-7 of the second
    /// layer's accumulator scale (they then run as two layers).
    public init?(first: ConvolutionSpec, firstWeights: [Float], firstBias: [Float]?, firstQuantization: LayerQuantization,
                 second: ConvolutionSpec, secondWeights: [Float], secondBias: [Float]?, secondQuantization: LayerQuantization) {
        guard first.groups == 1, second.groups == 1, first.kernel % 2 == 1, second.kernel % 2 == 1,
              second.inChannels > first.outChannels else { return nil }
        let k1 = first.kernel, k2 = second.kernel, kf = k1 + k2 - 1, pad = (k2 - 1) / 2
        let out = second.outChannels, mid = first.outChannels, inner = first.inChannels, cin2 = second.inChannels
        let classesPerAxis = k2
        foldKernel = kf
        classes = classesPerAxis * classesPerAxis
        // A tap t (0 ..< k2) of the second kernel is kept for border class r when the
        // intermediate pixel it reads is inside the image (nj_qs8_border_class's classes).
        func kept(_ t: Int, _ r: Int) -> Bool { r < pad ? t >= pad - r : r > pad ? t <= 3 * pad - r : true }

        // Each tap of the second kernel through the first: a k1 x k1 block per input channel,
        // and its share of the bias; a class then adds up the blocks of the taps it keeps.
        let block = inner * k1 * k1
        var taps = [Double](repeating: 0, count: out * k2 * k2 * block)
        var tapBias = [Double](repeating: 0, count: out * k2 * k2)
        for o in 0..<out {
            for m in 0..<mid {
                for t in 0..<(k2 * k2) {
                    let w2 = Double(secondWeights[(o * cin2 + m) * k2 * k2 + t])
                    tapBias[o * k2 * k2 + t] += w2 * Double(firstBias?[m] ?? 0)
                    let base = (o * k2 * k2 + t) * block
                    for j in 0..<block { taps[base + j] += w2 * Double(firstWeights[m * block + j]) }
                }
            }
        }
        var composed = [Double](repeating: 0, count: classes * out * inner * kf * kf)
        var bias = [Double](repeating: 0, count: classes * out)
        for rowClass in 0..<classesPerAxis {
            for columnClass in 0..<classesPerAxis {
                let c = rowClass * classesPerAxis + columnClass
                for o in 0..<out {
                    var b = Double(secondBias?[o] ?? 0)
                    for ty in 0..<k2 where kept(ty, rowClass) {
                        for tx in 0..<k2 where kept(tx, columnClass) {
                            let t = o * k2 * k2 + ty * k2 + tx
                            b += tapBias[t]
                            for i in 0..<inner {
                                for sy in 0..<k1 {
                                    for sx in 0..<k1 {
                                        composed[(((c * out + o) * inner + i) * kf + ty + sy) * kf + tx + sx] +=
                                            taps[t * block + (i * k1 + sy) * k1 + sx]
                                    }
                                }
                            }
                        }
                    }
                    bias[c * out + o] = b
                }
            }
        }
        // The main accumulator scale is the second layer's; the fold's is 2^-shift of it, the
        // largest shift (up to 7) at which every class's weights fit ±127.
        let perClass = out * inner * kf * kf
        var scales = [Float](repeating: 0, count: out)
        for o in 0..<out {
            var largest = 0.0
            for c in 0..<classes {
                let base = c * perClass + o * inner * kf * kf
                for i in 0..<(inner * kf * kf) { largest = max(largest, abs(composed[base + i])) }
            }
            let mainScale = Double(secondQuantization.input.scale) * Double(secondQuantization.weightScales[o])
            let foldInput = Double(firstQuantization.input.scale)
            var shift = 7
            while shift >= 0, largest / (mainScale / (foldInput * Double(1 << shift))) > 127 { shift -= 1 }
            guard shift >= 0 else { return nil }
            scales[o] = Float(mainScale / (foldInput * Double(1 << shift)))
        }
        foldWeightScales = scales
        foldWeights = composed.indices.map { index in
            let o = (index / (inner * kf * kf)) % out
            return Int8(max(-127, min(127, (composed[index] / Double(scales[o])).rounded(.toNearestOrEven))))
        }
        self.bias = bias.map(Float.init)
        // The second layer's own int8 weights of the channels that are not folded.
        var main: [Int8] = []
        main.reserveCapacity(out * (cin2 - mid) * k2 * k2)
        for o in 0..<out {
            let start = (o * cin2 + mid) * k2 * k2
            main += secondQuantization.weights[start..<(start + (cin2 - mid) * k2 * k2)]
        }
        mainWeights = main
    }
}
