import NightjarKernels

/// All folded weights and biases in one allocation, with each convolution's offsets.
final class PackedParameters: @unchecked Sendable {
    let storage: UnsafeMutablePointer<Float>
    let weightOffsets: [Int]
    let biasOffsets: [Int?]

    init(_ model: NightjarModel) {
        var weights: [Int] = [], biases: [Int?] = [], total = 0
        let specs = model.architecture.convolutions
        for spec in specs {
            weights.append(total)
            total += spec.weightCount
            biases.append(spec.bias ? total : nil)
            total += spec.bias ? spec.outChannels : 0
        }
        let storage = UnsafeMutablePointer<Float>.allocate(capacity: total)
        for (index, spec) in specs.enumerated() {
            model.weights(spec).withUnsafeBufferPointer { (storage + weights[index]).update(from: $0.baseAddress!, count: $0.count) }
            if let bias = model.bias(spec), let offset = biases[index] {
                bias.withUnsafeBufferPointer { (storage + offset).update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        self.storage = storage
        weightOffsets = weights
        biasOffsets = biases
    }

    deinit { storage.deallocate() }

    func bind(_ layer: Int, to args: inout nj_conv2d_f32_args) {
        args.weights = UnsafePointer(storage + weightOffsets[layer])
        args.bias = biasOffsets[layer].map { UnsafePointer(storage + $0) }
    }
}
