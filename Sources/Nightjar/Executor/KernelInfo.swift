import NightjarKernels

/// What the kernel registry chose on this machine, for `bench` and `doctor`.
public enum KernelInfo {
    /// The instruction set dispatch uses now (after any NIGHTJAR_MAX_ISA cap).
    public static var activeISA: String { String(cString: nj_isa_name(nj_isa_active())) }
    /// The best instruction set this CPU supports.
    public static var detectedISA: String { String(cString: nj_isa_name(nj_isa_detected())) }
    /// The precisions this build's kernels run.
    public static let runnablePrecisions = ["fp32", "fp16", "int8"]

    /// The FP32 convolution kernel dispatch picks for each kernel size the network uses
    /// (1x1, 3x3, 5x5), as the engine selects them: by the CPU found and the cap.
    public static var fp32ConvolutionKernels: [(kernelSize: Int, name: String)] {
        Architecture.published.convolutions.reduce(into: [Int: String]()) { chosen, spec in
            guard chosen[spec.kernel] == nil else { return }
            var geometry = nj_conv2d_f32_args()
            geometry.in_channels = Int32(spec.inChannels)
            geometry.out_channels = Int32(spec.outChannels)
            geometry.groups = Int32(spec.groups)
            geometry.kernel_size = Int32(spec.kernel)
            chosen[spec.kernel] = nj_conv2d_f32_kernel_select(&geometry, -1).map { String(cString: $0.pointee.name) } ?? "none"
        }.sorted { $0.key < $1.key }.map { (kernelSize: $0.key, name: $0.value) }
    }

    /// The kernel dispatch picks for each kernel size the network uses, for a precision.
    public static func convolutionKernels(_ precision: Precision) -> [(kernelSize: Int, name: String)] {
        if precision == .fp32 { return fp32ConvolutionKernels }
        return Architecture.published.convolutions.reduce(into: [Int: String]()) { chosen, spec in
            guard chosen[spec.kernel] == nil else { return }
            switch precision {
            case .fp16:
                var geometry = PackedParameters.geometry(spec, nj_conv2d_f16_args())
                chosen[spec.kernel] = nj_conv2d_f16_kernel_select(&geometry, -1).map { String(cString: $0.pointee.name) } ?? "none"
            case .int8:
                var geometry = PackedParameters.geometry(spec, nj_conv2d_qs8_args())
                chosen[spec.kernel] = nj_conv2d_qs8_kernel_select(&geometry, -1).map { String(cString: $0.pointee.name) } ?? "none"
            case .fp32: break
            }
        }.sorted { $0.key < $1.key }.map { (kernelSize: $0.key, name: $0.value) }
    }

    /// The same by the precision's name (fp32, fp16, int8; none for others).
    public static func convolutionKernels(named precision: String) -> [(kernelSize: Int, name: String)] {
        Precision(rawValue: precision).map(convolutionKernels) ?? []
    }

    /// 512-bit FMA ports per core as the registry sees them (measured, or NIGHTJAR_FMA_PORTS):
    /// decides the register tiles.
    public static var fmaPorts: Int { Int(nj_fma_ports()) }
}
