import NightjarKernels

/// Every convolution's kernel, chosen once for this CPU (within the ISA cap in force when the
/// parameters are packed), and its folded weights and bias packed in the layout that kernel
/// reads, all in one allocation. Engines share one instance; nothing here changes per frame.
final class PackedParameters: @unchecked Sendable {
    let storage: UnsafeMutablePointer<Float>
    let weightOffsets: [Int]
    let biasOffsets: [Int?]
    /// The kernel of each convolution, by layer index.
    let kernels: [UnsafePointer<nj_conv2d_f32_kernel>]
    /// Output channels per group of each convolution: the packed weights' stride between taps.
    let weightStrides: [Int32]

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
        var kernels: [UnsafePointer<nj_conv2d_f32_kernel>] = []
        for (index, spec) in specs.enumerated() {
            var geometry = nj_conv2d_f32_args()
            geometry.in_channels = Int32(spec.inChannels)
            geometry.out_channels = Int32(spec.outChannels)
            geometry.groups = Int32(spec.groups)
            geometry.kernel_size = Int32(spec.kernel)
            let kernel = nj_conv2d_f32_kernel_select(&geometry, -1)!
            kernels.append(kernel)
            model.weights(spec).withUnsafeBufferPointer {
                nj_f32_conv2d_pack_weights(kernel.pointee.weight_layout, $0.baseAddress, geometry.out_channels,
                                           geometry.in_channels, geometry.groups, geometry.kernel_size,
                                           storage + weights[index])
            }
            if let bias = model.bias(spec), let offset = biases[index] {
                bias.withUnsafeBufferPointer { (storage + offset).update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        self.storage = storage
        self.bytes = total * MemoryLayout<Float>.size
        self.kernels = kernels
        weightOffsets = weights
        biasOffsets = biases
        weightStrides = specs.map { Int32($0.outChannels / $0.groups) }
    }

    deinit { storage.deallocate() }

    /// Points `args` at the layer's weights and bias and returns the layer's kernel.
    func bind(_ layer: Int, to args: inout nj_conv2d_f32_args) -> UnsafePointer<nj_conv2d_f32_kernel> {
        args.weights = UnsafePointer(storage + weightOffsets[layer])
        args.bias = biasOffsets[layer].map { UnsafePointer(storage + $0) }
        args.weight_stride = weightStrides[layer]
        return kernels[layer]
    }

    /// The kernel names by layer, for reports.
    var kernelNames: [String] { kernels.map { String(cString: $0.pointee.name) } }

    /// Bytes of packed weights and biases.
    let bytes: Int
}
