import NightjarKernels

/// What the kernel registry chose on this machine, for `bench` and `doctor`.
public enum KernelInfo {
    /// The instruction set dispatch uses now (after any NIGHTJAR_MAX_ISA cap).
    public static var activeISA: String { String(cString: nj_isa_name(nj_isa_active())) }
    /// The best instruction set this CPU supports.
    public static var detectedISA: String { String(cString: nj_isa_name(nj_isa_detected())) }
    /// 512-bit FMA ports per core as the registry sees them (measured, or NIGHTJAR_FMA_PORTS):
    /// decides the register tiles.
    public static var fmaPorts: Int { Int(nj_fma_ports()) }
}
