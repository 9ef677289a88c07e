import FoundationEssentials
import Glibc
import NightjarKernels

/// Runs a `NightjarModel` on whole frames up to a fixed size: the simple reference executor
/// that `StreamingEngine` is checked against, in FP32 only. Everything is allocated once, here: the weights,
/// and one arena laid out by `MemoryPlan` for the largest frame. A frame of any smaller
/// size (multiples of 32) reuses the same offsets, since each of its buffers is smaller than the
/// slot planned for it, so `run` never allocates.
public final class Engine: @unchecked Sendable {
    public let model: NightjarModel
    public let graph: NetworkGraph
    public let plan: MemoryPlan
    public let maxHeight: Int
    public let maxWidth: Int
    /// Threads that share each convolution, the caller's included.
    public let threads: Int

    private let arena: UnsafeMutableRawPointer
    private let weights: PackedParameters
    private let pool: OpaquePointer?

    /// The number of CPUs this process may run on.
    public static var availableCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public init(model: NightjarModel, maxHeight: Int, maxWidth: Int, threads: Int = Engine.availableCores) throws {
        try Engine.checkSize(height: maxHeight, width: maxWidth)
        guard threads >= 1 else { throw EngineError.badThreadCount(threads) }
        self.threads = threads
        self.model = model
        self.maxHeight = maxHeight
        self.maxWidth = maxWidth
        graph = NetworkGraph(architecture: model.architecture)
        // The graph's ends, its split inputs and the 12 output planes, get slots too (the
        // split inputs hold as many floats as the mosaic, the output planes three times that).
        let steps = graph.steps.count, mosaicBytes = maxHeight * maxWidth * Precision.fp32.elementBytes
        plan = MemoryPlan(graph.memoryRequests(height: maxHeight, width: maxWidth)
            + graph.inputSplits.map { .init(name: "input.split\($0)", bytes: mosaicBytes, firstUse: 0, lastUse: steps) }
            + [.init(name: "output.phases", bytes: 3 * mosaicBytes, firstUse: 0, lastUse: steps)])

        guard let arena = aligned_alloc(MemoryPlan.alignment, plan.allocationBytes) else {
            throw EngineError.outOfMemory(bytes: plan.arenaBytes)
        }
        self.arena = arena
        guard let pool = nj_threadpool_create(Int32(threads)) else {
            free(arena)
            throw EngineError.cannotStartThreads(threads)
        }
        self.pool = pool

        weights = try PackedParameters(model, precision: .fp32)
    }

    deinit {
        nj_threadpool_destroy(pool)
        free(arena)
    }

    /// Frame sides must be positive multiples of 32 (the 1/32 branch).
    public static func checkSize(height: Int, width: Int) throws {
        guard height >= 32, width >= 32, height % 32 == 0, width % 32 == 0 else {
            throw EngineError.badFrameSize(height: height, width: width)
        }
    }

    /// Restores one amplified mosaic: `input` is height×width, `output` 3×height×width, both
    /// planar float32. Makes no heap allocation.
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, height: Int, width: Int) throws {
        try run(input: input, output: output, height: height, width: width, observer: nil)
    }

    /// What calibration sees of a run: each step's operands, before and after it runs, as
    /// whole planes (`plane` floats apart), to record activation ranges. (The quantizer
    /// measures reduced precision with the int8 engine itself, not by rounding these.)
    typealias StepObserver = (_ index: Int, _ step: NetworkGraph.Step, _ after: Bool,
                              _ address: (NetworkGraph.Slice) -> (UnsafeMutablePointer<Float>, plane: Int)) -> Void

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, height: Int, width: Int,
             observer: StepObserver?) throws {
        try Engine.checkSize(height: height, width: width)
        guard fits(height: height, width: width) else {
            throw EngineError.frameTooLarge(height: height, width: width, maxHeight: maxHeight, maxWidth: maxWidth)
        }
        for (k, split) in graph.inputSplits.enumerated() {
            let planeWidth = width / (2 * split)
            PlanarInput(base: input).fill(pairs: 0..<(height / 2), split: split, into: slot(graph.buffers.count + k),
                                          channelStride: height / (2 * split) * planeWidth, width: planeWidth)
        }
        let outputPhases = slot(graph.buffers.count + graph.inputSplits.count)
        for (index, step) in graph.steps.enumerated() {
            if let observer {
                observer(index, step, false) { self.pointer($0, output: outputPhases, height: height, width: width) }
            }
            execute(step, output: outputPhases, height: height, width: width)
            if let observer {
                observer(index, step, true) { self.pointer($0, output: outputPhases, height: height, width: width) }
            }
        }
        NetworkOutputRows(rows: 0..<(height / 2), start: outputPhases, channelStride: height / 2 * width / 2, width: width / 2)
            .write(toPlanar: output, height: height)
    }

    /// Whether every buffer of a frame this size fits in the slot planned for it.
    public func fits(height: Int, width: Int) -> Bool {
        height * width <= maxHeight * maxWidth
            && graph.buffers.allSatisfy { $0.bytes(height: height, width: width) <= $0.bytes(height: maxHeight, width: maxWidth) }
    }

    private func slot(_ request: Int) -> UnsafeMutablePointer<Float> {
        (arena + plan.offsets[request]).assumingMemoryBound(to: Float.self)
    }

    // MARK: - Steps

    private func pointer(_ slice: NetworkGraph.Slice, output: UnsafeMutablePointer<Float>,
                         height: Int, width: Int) -> (UnsafeMutablePointer<Float>, plane: Int) {
        let plane = (height / slice.divisor) * (width / slice.divisor)
        let base: UnsafeMutablePointer<Float>
        switch slice.storage {
        case .input(let split): base = slot(graph.buffers.count + graph.inputSplits.firstIndex(of: split)!)
        case .output: base = output
        case .arena(let id): base = slot(id)
        }
        return (base + slice.channelOffset * plane, plane)
    }

    private func execute(_ step: NetworkGraph.Step, output: UnsafeMutablePointer<Float>, height: Int, width: Int) {
        func resolve(_ slice: NetworkGraph.Slice) -> (UnsafeMutablePointer<Float>, plane: Int) {
            pointer(slice, output: output, height: height, width: width)
        }
        switch step {
        case .convolution(let layer, let inSlice, let outSlice, let residualSlice, let leakyReLU, let depthToSpace, let fold):
            precondition(fold == nil, "the FP32 engine's graph folds nothing")
            let spec = graph.convolutions[layer]
            let (src, plane) = resolve(inSlice)
            let (dst, outPlane) = resolve(outSlice)
            var args = nj_conv2d_f32_args()
            args.input = UnsafePointer(src)
            args.input_channel_stride = plane * inSlice.channelStride
            args.output = dst
            // The output is at depthToSpace times the input's scale.
            args.output_channel_stride = outPlane * outSlice.channelStride
            args.output_depth_to_space = Int32(depthToSpace)
            // Whole planes: rings as tall as the plane.
            let rows = Int32(height / inSlice.divisor)
            (args.input_rows, args.output_rows, args.residual_rows) = (rows, Int32(height / outSlice.divisor), rows)
            if let residualSlice {
                let (res, _) = resolve(residualSlice)
                args.residual = UnsafePointer(res)
                args.residual_channel_stride = plane * residualSlice.channelStride
            }
            let kernel = weights.bind(layer, to: &args)
            args.in_channels = Int32(spec.inChannels)
            args.out_channels = Int32(spec.outChannels)
            args.groups = Int32(spec.groups)
            args.kernel_size = Int32(spec.kernel)
            args.height = Int32(height / inSlice.divisor)
            args.width = Int32(width / inSlice.divisor)
            args.row_begin = 0
            args.row_end = args.height
            args.activation = Int32(leakyReLU ? NJ_ACTIVATION_LEAKY_RELU.rawValue : NJ_ACTIVATION_NONE.rawValue)
            args.negative_slope = Architecture.leakySlope
            nj_threadpool_conv2d_f32(pool, kernel, &args)
        case .unshuffle(let inSlice, let channels, let factor, let outSlice):
            let (src, inPlane) = resolve(inSlice)
            let (dst, outPlane) = resolve(outSlice)
            let outRows = Int32(height / outSlice.divisor)
            nj_f32_pixel_unshuffle_scalar(src, inPlane * inSlice.channelStride, Int32(height / inSlice.divisor), Int32(channels),
                                          Int32(width / inSlice.divisor), Int32(factor), 0, outRows,
                                          dst, outPlane * outSlice.channelStride, outRows)
        case .leakyReLU(let inSlice, let outSlice, let channels):
            let (src, plane) = resolve(inSlice)
            let (dst, _) = resolve(outSlice)
            nj_f32_leaky_relu_scalar(src, dst, channels * plane, Architecture.leakySlope)
        case .copy(let inSlice, let outSlice, let channels):
            let (src, plane) = resolve(inSlice)
            let (dst, _) = resolve(outSlice)
            dst.update(from: src, count: channels * plane)
        }
    }
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case badFrameSize(height: Int, width: Int)
    case frameTooLarge(height: Int, width: Int, maxHeight: Int, maxWidth: Int)
    case outOfMemory(bytes: Int)
    case cannotLockMemory(bytes: Int, reason: String)
    case badThreadCount(Int)
    case cannotStartThreads(Int)
    case badBands(lowResolutionRows: Int, outputRows: Int)
    case internalInconsistency(String)
    case inputShape(found: [Int], reason: String)

    public var description: String {
        switch self {
        case .badFrameSize(let h, let w):
            return "frame \(w)x\(h): both sides must be positive multiples of 32"
        case .frameTooLarge(let h, let w, let mh, let mw):
            return "frame \(w)x\(h) is larger than the \(mw)x\(mh) the memory arena was planned for; plan for a larger size"
        case .outOfMemory(let bytes):
            return "cannot allocate the \(bytes)-byte memory arena" + resourceLimitHint()
        case .cannotLockMemory(let bytes, let reason):
            return "cannot lock the \(bytes)-byte memory arena into RAM (\(reason)); raise the locked-memory limit "
                + "(ulimit -l, systemd LimitMEMLOCK=) or run without --mlock"
        case .badThreadCount(let n):
            return "thread count \(n): must be at least 1"
        case .cannotStartThreads(let n):
            return "cannot start \(n) worker threads" + resourceLimitHint()
        case .badBands(let low, let rows):
            return "bands of \(low) low-resolution rows and \(rows) output rows: need at least 1, and a positive multiple of 8"
        case .internalInconsistency(let what):
            return "internal error: \(what)"
        case .inputShape(let found, let reason):
            return "input of shape \(found): \(reason)"
        }
    }
}

/// What may have refused memory or threads: the address-space limit when one is set (each
/// thread's stack is address space), else the process limit; "" when neither explains it.
func resourceLimitHint() -> String {
    let addressSpace = addressSpaceLimitHint()
    if !addressSpace.isEmpty { return addressSpace }
    var limit = rlimit()
    if getrlimit(__rlimit_resource_t(__RLIMIT_NPROC.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
        return ": the system refused (the process limit, ulimit -u, is \(limit.rlim_cur)); use fewer --threads or raise it"
    }
    return ": the system refused (out of memory?)"
}

/// The address-space limit's part of `resourceLimitHint` (for memory that could not be mapped),
/// "" when no limit is set.
func addressSpaceLimitHint() -> String {
    guard let limit = AddressSpaceLimit.bytes else { return "" }
    return ": the address-space limit (ulimit -v, systemd LimitAS=) of \(limit >> 20) MiB is too low; raise it"
}
