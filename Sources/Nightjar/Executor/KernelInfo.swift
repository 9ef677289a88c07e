import NightjarKernels

/// What the kernel registry chose on this machine, for `bench` and `doctor`.
public enum KernelInfo {
    /// The instruction set dispatch uses now (after any NIGHTJAR_MAX_ISA cap).
    public static var activeISA: String { String(cString: nj_isa_name(nj_isa_active())) }
    /// The best instruction set this CPU supports.
    public static var detectedISA: String { String(cString: nj_isa_name(nj_isa_detected())) }
    /// The precisions this build's kernels run.
    public static let runnablePrecisions = ["fp32", "fp16", "int8"]

    /// The FP32 convolution kernels dispatch picks for the network's layers (see
    /// `convolutionKernels(_:)`).
    public static var fp32ConvolutionKernels: [(kernelSize: Int, name: String)] { convolutionKernels(.fp32) }

    /// Every kernel dispatch picks for the published network's layers in a precision, as the
    /// engine selects them (by the CPU found, the cap and each layer's geometry): by kernel
    /// size, and within a size the kernel serving the most layers first. A size can have more
    /// than one: the FP32 Winograd 3x3 kernel serves only ungrouped layers with 16 or more
    /// channels each side, the direct one the rest.
    public static func convolutionKernels(_ precision: Precision) -> [(kernelSize: Int, name: String)] {
        var layers: [Int: [String: (count: Int, first: Int)]] = [:]
        let architecture = Architecture.published
        // int8 kernels are chosen for the rows a call gets in int8's standard bands.
        let rowsPerCall = precision != .int8 ? nil : PackedParameters.rowsPerCall(
            architecture, layerPrecisions: architecture.convolutions.map { _ in .int8 }, bands: .standard(for: .int8))
        for (index, spec) in architecture.convolutions.enumerated() {
            let name: String
            switch precision {
            case .fp32:
                var geometry = PackedParameters.geometry(spec, nj_conv2d_f32_args())
                name = nj_conv2d_f32_kernel_select(&geometry, -1).map { String(cString: $0.pointee.name) } ?? "none"
            case .fp16:
                var geometry = PackedParameters.geometry(spec, nj_conv2d_f16_args())
                name = nj_conv2d_f16_kernel_select(&geometry, -1).map { String(cString: $0.pointee.name) } ?? "none"
            case .int8:
                // conv2x runs inside conv_2_8_32's fold kernel, as engines run them (unless
                // NIGHTJAR_INT8_FOLD=0): both report that kernel.
                let fold = PackedParameters.foldsByDefault ? NetworkGraph.conv2xFold(architecture.convolutions) : nil
                let layer = fold?.folded == index ? fold!.layer : index
                var geometry = PackedParameters.geometry(architecture.convolutions[layer], nj_conv2d_qs8_args(),
                                                         rowsPerCall: rowsPerCall?[layer])
                if let fold, fold.layer == layer {
                    PackedParameters.setFold(layer: fold.layer, folded: fold.folded, architecture.convolutions, &geometry)
                }
                name = nj_conv2d_qs8_kernel_select(&geometry, -1).map { String(cString: $0.pointee.name) } ?? "none"
            }
            let seen = layers[spec.kernel, default: [:]][name]
            layers[spec.kernel, default: [:]][name] = (count: (seen?.count ?? 0) + 1, first: seen?.first ?? index)
        }
        return layers.keys.sorted().flatMap { size in
            layers[size]!.sorted { ($1.value.count, $0.value.first) < ($0.value.count, $1.value.first) }
                .map { (kernelSize: size, name: $0.key) }
        }
    }

    /// The same by the precision's name (fp32, fp16, int8; none for others).
    public static func convolutionKernels(named precision: String) -> [(kernelSize: Int, name: String)] {
        Precision(rawValue: precision).map(convolutionKernels) ?? []
    }

    /// 512-bit FMA ports per core as the registry sees them (measured, or NIGHTJAR_FMA_PORTS):
    /// decides the register tiles.
    public static var fmaPorts: Int { Int(nj_fma_ports()) }
}
