import NightjarKernels

/// What the kernel registry chose on this machine, for `bench` and `doctor`.
public enum KernelInfo {
    /// The instruction set dispatch uses now (after any NIGHTJAR_MAX_ISA cap).
    public static var activeISA: String { String(cString: nj_isa_name(nj_isa_active())) }
    /// The best instruction set this CPU supports.
    public static var detectedISA: String { String(cString: nj_isa_name(nj_isa_detected())) }
    /// The precisions the engine runs (fp16 and int8 engines are to come).
    public static let runnablePrecisions = ["fp32"]
}
