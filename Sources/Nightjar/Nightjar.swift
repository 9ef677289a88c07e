/// Nightjar restores extremely dark Bayer RAW frames with the network of Lamba & Mitra
/// (CVPR 2021). The library is laid out in the order data flows through it:
/// `Checkpoint` (PyTorch files) -> `Model` (Nightjar model files) -> `Plan` (the memory arena)
/// -> `Executor` (kernels) -> `Capture` (RAW in, PNG out).
public enum Nightjar {
    public static let version = "0.1.0"
}
