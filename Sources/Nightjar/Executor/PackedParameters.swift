import Glibc
import NightjarKernels

/// Every convolution's kernel, chosen once for this CPU (within the ISA cap in force when the
/// parameters are packed) and the layer's precision, and its parameters packed in the layout
/// that kernel reads, all in one allocation: FP32 layers their folded weights and bias, FP16
/// layers the weights the FP16 packer makes from the FP32 ones (rounded to binary16) and the
/// FP32 bias, int8 layers what the qs8 preparation makes of the model's int8 weights and scales.
/// Engines share one instance; nothing here changes per frame.
final class PackedParameters: @unchecked Sendable {
    /// The precision of each convolution, by layer index.
    let layerPrecisions: [Precision]
    /// The network's precision: the highest of its layers' (int8 with some layers FP16 is int8).
    var precision: Precision { layerPrecisions.max()! }
    let storage: UnsafeMutableRawPointer
    /// Byte offsets into `storage`, by layer.
    let weightOffsets: [Int]
    let biasOffsets: [Int?]
    /// The kernel of each convolution, by layer index (the entry of its precision's registry).
    let kernels: [Kernel]
    /// Output channels per group of each convolution: the packed weights' stride between taps.
    let weightStrides: [Int32]
    /// The int8 layers' numbers (nil for the others).
    let quantizations: [LayerQuantization?]

    enum Kernel {
        case fp32(UnsafePointer<nj_conv2d_f32_kernel>)
        case fp16(UnsafePointer<nj_conv2d_f16_kernel>)
        case int8(UnsafePointer<nj_conv2d_qs8_kernel>)

        /// Output rows one pass of the kernel computes together (2 for Winograd's 2x2 tiles).
        var rowBlock: Int {
            switch self {
            case .fp32(let k): return Int(max(k.pointee.row_block, 1))
            case .fp16(let k): return Int(max(k.pointee.row_block, 1))
            case .int8(let k): return Int(max(k.pointee.row_block, 1))
            }
        }

        var name: String {
            switch self {
            case .fp32(let k): return String(cString: k.pointee.name)
            case .fp16(let k): return String(cString: k.pointee.name)
            case .int8(let k): return String(cString: k.pointee.name)
            }
        }
    }

    /// The largest network input value that every int8 layer reading the input (directly, or
    /// through the unshuffles and conversions that copy it) holds without saturating: the
    /// least of their input encodings' upper ends. nil when no int8 layer reads the input.
    let int8InputLimit: Float?

    /// The int8 layers' requantisation numbers (pointing into `storage`), by layer.
    let qs8Params: UnsafeMutablePointer<nj_conv2d_qs8_params>

    /// `precision`: the network's (nil: the model's default); throws `PrecisionError` when the
    /// model cannot run it. `streamedIn`: for a streaming engine, the bands it will run (given
    /// the network's precision), so that each int8 layer's kernel is chosen for the rows a call
    /// gets (`rowsPerCall`); nil where the rows a call gets are not known (the quantizer's
    /// check, the FP32 `Engine`).
    /// `foldConv2x`: fold conv2x into conv_2_8_32 when both run in int8 and their numbers allow
    /// it (`conv2xFold`; NIGHTJAR_INT8_FOLD=0 in the environment turns it off, to compare).
    init(_ model: NightjarModel, precision: Precision? = nil,
         streamedIn bands: ((Precision) -> StreamSchedule.Bands)? = nil, path: String = "the model",
         foldConv2x: Bool = PackedParameters.foldsByDefault) throws {
        let specs = model.architecture.convolutions
        let layerPrecisions = try model.layerPrecisions(for: precision ?? model.defaultPrecision, path: path)
        let conv2xFold = foldConv2x ? Self.makeConv2xFold(model, layerPrecisions) : nil
        let rowsPerCall = bands.map {
            Self.rowsPerCall(model.architecture, layerPrecisions: layerPrecisions, bands: $0(layerPrecisions.max()!))
        }
        var kernels: [Kernel] = [], sizes: [(weights: Int, bias: Int)] = []
        for (layer, (spec, layerPrecision)) in zip(specs, layerPrecisions).enumerated() {
            switch layerPrecision {
            case .fp32:
                var geometry = Self.geometry(spec, nj_conv2d_f32_args())
                let kernel = nj_conv2d_f32_kernel_select(&geometry, -1)!
                kernels.append(.fp32(kernel))
                // Winograd kernels read transformed filters: 16 floats per channel pair, not 9.
                let count = nj_f32_conv2d_packed_count(kernel.pointee.weight_layout, Int32(spec.outChannels),
                                                       Int32(spec.inChannels), Int32(spec.groups), Int32(spec.kernel))
                sizes.append((count * 4, spec.bias ? spec.outChannels * 4 : 0))
            case .int8:
                var geometry = Self.geometry(spec, nj_conv2d_qs8_args(), rowsPerCall: rowsPerCall?[layer])
                if let fold = conv2xFold, fold.layer == layer { Self.setFold(layer: fold.layer, folded: fold.folded, specs, &geometry) }
                let kernel = nj_conv2d_qs8_kernel_select(&geometry, -1)!
                kernels.append(.int8(kernel))
                sizes.append((nj_qs8_conv2d_packed_bytes(kernel, &geometry), 0))
            case .fp16:
                var geometry = Self.geometry(spec, nj_conv2d_f16_args())
                let kernel = nj_conv2d_f16_kernel_select(&geometry, -1)!
                kernels.append(.fp16(kernel))
                sizes.append((nj_f16_conv2d_packed_bytes(kernel, &geometry), spec.bias ? spec.outChannels * 4 : 0))
            }
        }
        // What the int8 preparation needs of the graph: each layer's activation and residual.
        let graph = NetworkGraph(architecture: model.architecture, layerPrecisions: layerPrecisions)
        var activations = [Int32](repeating: Int32(NJ_ACTIVATION_NONE.rawValue), count: specs.count)
        for case .convolution(let layer, _, _, _, let leakyReLU, _, _) in graph.steps where leakyReLU {
            activations[layer] = Int32(NJ_ACTIVATION_LEAKY_RELU.rawValue)
        }
        // FP32 blocks are packed back to back, as they always were (4-byte aligned); the
        // others start on cache lines.
        var weightOffsets: [Int] = [], biasOffsets: [Int?] = [], total = 0
        for (size, layerPrecision) in zip(sizes, layerPrecisions) {
            let alignment = layerPrecision == .fp32 ? 4 : 64
            total = (total + alignment - 1) / alignment * alignment
            weightOffsets.append(total)
            total += size.weights
            total = (total + 3) / 4 * 4
            biasOffsets.append(size.bias > 0 ? total : nil)
            total += size.bias
        }
        guard let storage = aligned_alloc(64, max(total, 64)) else { throw EngineError.outOfMemory(bytes: total) }
        let qs8Params = UnsafeMutablePointer<nj_conv2d_qs8_params>.allocate(capacity: max(specs.count, 1))
        qs8Params.initialize(repeating: nj_conv2d_qs8_params(), count: max(specs.count, 1))
        for (index, spec) in specs.enumerated() {
            let weights = storage + weightOffsets[index]
            switch kernels[index] {
            case .fp16(let kernel):
                var geometry = Self.geometry(spec, nj_conv2d_f16_args())
                model.weights(spec).withUnsafeBufferPointer { nj_f16_conv2d_pack_weights(kernel, &geometry, $0.baseAddress, weights) }
            case .int8(let kernel) where conv2xFold?.layer == index:
                let fold = conv2xFold!
                var geometry = Self.geometry(spec, nj_conv2d_qs8_args())
                Self.setFold(layer: fold.layer, folded: fold.folded, specs, &geometry)
                let q = model.quantization(spec)!, first = model.quantization(specs[fold.folded])!
                let status = fold.numbers.mainWeights.withUnsafeBufferPointer { w in
                    q.weightScales.withUnsafeBufferPointer { scales in
                        fold.numbers.bias.withUnsafeBufferPointer { b in
                            fold.numbers.foldWeights.withUnsafeBufferPointer { fw in
                                fold.numbers.foldWeightScales.withUnsafeBufferPointer { fs in
                                    var numbers = nj_qs8_fold(weights: fw.baseAddress, weight_scales: fs.baseAddress,
                                                              input: nj_qs8_quantization(first.input))
                                    return nj_qs8_conv2d_prepare_folded(kernel, &geometry, w.baseAddress, scales.baseAddress, b.baseAddress,
                                                                        nj_qs8_quantization(q.input), &numbers, nj_qs8_quantization(q.output),
                                                                        activations[index], Architecture.leakySlope, weights, qs8Params + index)
                                }
                            }
                        }
                    }
                }
                guard status == Int32(NJ_QS8_OK.rawValue) else {
                    free(storage)
                    qs8Params.deallocate()
                    throw ModelFileError.malformedTensor(path: path, tensor: spec.name,
                                                         reason: "int8 numbers of the folded layer cannot be used: " +
                                                             String(cString: nj_qs8_status_message(status)))
                }
            case .int8(let kernel):
                let q = model.quantization(spec)!
                var geometry = Self.geometry(spec, nj_conv2d_qs8_args())
                var residual = q.residual.map(nj_qs8_quantization.init)
                let bias = model.bias(spec)
                let status = q.weights.withUnsafeBufferPointer { w in
                    q.weightScales.withUnsafeBufferPointer { scales in
                        (bias ?? []).withUnsafeBufferPointer { b in
                            withUnsafePointer(to: &residual) { r in
                                nj_qs8_conv2d_prepare(kernel, &geometry, w.baseAddress, scales.baseAddress, bias == nil ? nil : b.baseAddress,
                                                      nj_qs8_quantization(q.input), nj_qs8_quantization(q.output),
                                                      q.residual == nil ? nil : UnsafeRawPointer(r).assumingMemoryBound(to: nj_qs8_quantization.self),
                                                      activations[index], Architecture.leakySlope, weights, qs8Params + index)
                            }
                        }
                    }
                }
                guard status == Int32(NJ_QS8_OK.rawValue) else {
                    free(storage)
                    qs8Params.deallocate()
                    throw ModelFileError.malformedTensor(path: path, tensor: spec.name,
                                                         reason: "int8 numbers cannot be used: " + String(cString: nj_qs8_status_message(status)))
                }
            case .fp32(let kernel):
                model.weights(spec).withUnsafeBufferPointer {
                    nj_f32_conv2d_pack_weights(kernel.pointee.weight_layout, $0.baseAddress, Int32(spec.outChannels),
                                               Int32(spec.inChannels), Int32(spec.groups), Int32(spec.kernel),
                                               weights.assumingMemoryBound(to: Float.self))
                }
            }
            if let bias = model.bias(spec), let offset = biasOffsets[index] {
                bias.withUnsafeBufferPointer { (storage + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count * 4) }
            }
        }
        modelBytes = model.tensors.values.reduce(0) { $0 + $1.count * $1.dtype.size }
        self.conv2xFold = conv2xFold.map { (layer: $0.layer, folded: $0.folded) }
        self.qs8Params = qs8Params
        self.layerPrecisions = layerPrecisions
        quantizations = zip(specs, layerPrecisions).map { $1 == .int8 ? model.quantization($0) : nil }
        int8InputLimit = graph.int8InputLimit(quantizations)
        self.storage = storage
        self.bytes = total
        self.kernels = kernels
        self.weightOffsets = weightOffsets
        self.biasOffsets = biasOffsets
        weightStrides = specs.map { Int32($0.outChannels / $0.groups) }
    }

    deinit {
        free(storage)
        qs8Params.deallocate()
    }

    /// Whether engines fold conv2x into conv_2_8_32 unless told: yes, but for NIGHTJAR_INT8_FOLD=0.
    static var foldsByDefault: Bool { getenv("NIGHTJAR_INT8_FOLD").map { String(cString: $0) != "0" } ?? true }

    /// conv_2_8_32 (`layer`) with conv2x (`folded`) folded in, when the parameters do it: the
    /// graph of an engine running them must be built with `foldConv2x` (no conv2x step).
    let conv2xFold: (layer: Int, folded: Int)?

    /// The fold's numbers, when both layers run in int8 and the composed weights fit.
    private static func makeConv2xFold(_ model: NightjarModel, _ precisions: [Precision])
        -> (layer: Int, folded: Int, numbers: Int8ConvolutionFold)? {
        let specs = model.architecture.convolutions
        guard let (layer, folded) = NetworkGraph.conv2xFold(specs), precisions[folded] == .int8, precisions[layer] == .int8,
              let q1 = model.quantization(specs[folded]), let q2 = model.quantization(specs[layer]),
              let numbers = Int8ConvolutionFold(first: specs[folded], firstWeights: model.weights(specs[folded]),
                                                firstBias: model.bias(specs[folded]), firstQuantization: q1,
                                                second: specs[layer], secondWeights: model.weights(specs[layer]),
                                                secondBias: model.bias(specs[layer]), secondQuantization: q2) else { return nil }
        return (layer, folded, numbers)
    }

    /// `args` (the second layer's geometry) with the fold: the main input's channels are those
    /// after the folded layer's output, and the fold input its input through the composed kernel.
    static func setFold(layer: Int, folded: Int, _ specs: [ConvolutionSpec], _ args: inout nj_conv2d_qs8_args) {
        let first = specs[folded], second = specs[layer]
        args.in_channels = Int32(second.inChannels - first.outChannels)
        args.fold_in_channels = Int32(first.inChannels)
        args.fold_kernel_size = Int32(first.kernel + second.kernel - 1)
    }

    /// `args` with the layer's channels, groups and kernel size (what selection looks at), and
    /// `rowsPerCall`, where known, as the row range (the int8 registry passes over kernels whose
    /// tiles are taller than the rows a call gets).
    static func geometry<Args: ConvolutionGeometry>(_ spec: ConvolutionSpec, _ args: Args, rowsPerCall: Int? = nil) -> Args {
        var args = args
        args.in_channels = Int32(spec.inChannels)
        args.out_channels = Int32(spec.outChannels)
        args.groups = Int32(spec.groups)
        args.kernel_size = Int32(spec.kernel)
        args.weight_stride = Int32(spec.outChannels / spec.groups)
        if let rowsPerCall {
            args.row_begin = 0
            args.row_end = Int32(rowsPerCall)
        }
        return args
    }

    /// The rows of its output each convolution computes a call when streamed in `bands`, by
    /// layer: the 1/32 branch (the first pass) `lowResolutionRows` at a time, the second pass
    /// a band of `outputRows` full-resolution rows at the layer's scale (16 rows at 1/2 scale and
    /// 4 at 1/8 in int8's 32-row bands). A kernel of 4-row tiles (int8 F(4x4, 3x3)) on int8's
    /// 2-row first-pass calls forms 30 of its 36 transform points for half the rows: conv32x.1
    /// took 1.5x the direct kernel's time that way (Zen 4, 12.1 MP).
    static func rowsPerCall(_ architecture: Architecture, layerPrecisions: [Precision],
                            bands: StreamSchedule.Bands) -> [Int] {
        let graph = NetworkGraph(architecture: architecture, layerPrecisions: layerPrecisions)
        var rows = [Int](repeating: bands.lowResolutionRows, count: architecture.convolutions.count)
        for case .convolution(let layer, let input, _, _, _, _, _) in graph.steps {
            rows[layer] = input.divisor >= Self.lowResolutionDivisor
                ? bands.lowResolutionRows : max(bands.outputRows / input.divisor, 1)
        }
        return rows
    }

    /// The scale of the network's low-resolution branch, which the first pass computes.
    static let lowResolutionDivisor = 32

    /// Points `args` at the FP16 layer's packed weights and FP32 bias and returns its kernel.
    func bind(_ layer: Int, to args: inout nj_conv2d_f16_args) -> UnsafePointer<nj_conv2d_f16_kernel> {
        guard case .fp16(let kernel) = kernels[layer] else { preconditionFailure("layer \(layer) is not FP16") }
        args.weights = UnsafeRawPointer(storage + weightOffsets[layer])
        args.bias = biasOffsets[layer].map { UnsafePointer((storage + $0).assumingMemoryBound(to: Float.self)) }
        args.weight_stride = weightStrides[layer]
        return kernel
    }

    /// Points `args` at the int8 layer's packed block and numbers and returns its kernel.
    func bind(_ layer: Int, to args: inout nj_conv2d_qs8_args) -> UnsafePointer<nj_conv2d_qs8_kernel> {
        guard case .int8(let kernel) = kernels[layer] else { preconditionFailure("layer \(layer) is not int8") }
        args.weights = UnsafeRawPointer(storage + weightOffsets[layer])
        args.params = UnsafePointer(qs8Params + layer)
        args.weight_stride = weightStrides[layer]
        return kernel
    }

    /// Points `args` at the FP32 layer's weights and bias and returns the layer's kernel.
    func bind(_ layer: Int, to args: inout nj_conv2d_f32_args) -> UnsafePointer<nj_conv2d_f32_kernel> {
        guard case .fp32(let kernel) = kernels[layer] else { preconditionFailure("layer \(layer) is not FP32") }
        args.weights = UnsafePointer((storage + weightOffsets[layer]).assumingMemoryBound(to: Float.self))
        args.bias = biasOffsets[layer].map { UnsafePointer((storage + $0).assumingMemoryBound(to: Float.self)) }
        args.weight_stride = weightStrides[layer]
        return kernel
    }

    /// The element type of each of `graph`'s buffers: its precision, and for int8 the encoding
    /// of the first convolution writing it (else of the first reading it), as the quantizer
    /// gave every layer touching a buffer the same one.
    func elementTypes(_ graph: NetworkGraph) -> [ElementType] {
        var types = graph.buffers.map { ElementType(precision: $0.precision, quantization: nil) }
        func assign(_ slice: NetworkGraph.Slice?, _ encoding: ActivationQuantization?) {
            guard let slice, case .arena(let id) = slice.storage, types[id].precision == .int8, types[id].quantization == nil else { return }
            types[id].quantization = encoding
        }
        for pass in 0..<2 {
            for case .convolution(let layer, let input, let output, let residual, _, _, let fold) in graph.steps {
                guard let q = quantizations[layer] else { continue }
                if pass == 0 {
                    assign(output, q.output)
                } else {
                    assign(input, q.input)
                    assign(residual, q.residual)
                    if let fold { assign(fold.input, quantizations[fold.layer]?.input) }
                }
            }
        }
        // LeakyReLU keeps its input's encoding.
        for case .leakyReLU(let input, let output, _) in graph.steps {
            if case .arena(let a) = input.storage, case .arena(let b) = output.storage, types[b].precision == .int8 {
                types[b].quantization = types[a].quantization
            }
        }
        return types
    }

    /// The kernel names by layer, for reports (a folded layer's: the kernel that does its work).
    var kernelNames: [String] {
        var names = kernels.map(\.name)
        if let fold = conv2xFold { names[fold.folded] = names[fold.layer] }
        return names
    }

    /// The rows each layer's kernel computes together, by layer (the schedule's row blocks).
    var rowBlocks: [Int] { kernels.map(\.rowBlock) }

    /// Bytes of packed weights, biases and kernel parameters.
    let bytes: Int
    /// Bytes of the model's tensors these were packed from.
    let modelBytes: Int
}
