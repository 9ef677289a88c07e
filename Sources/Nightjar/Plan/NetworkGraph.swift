/// The network as a list of steps over named buffers, independent of the frame size: each buffer
/// is a number of channel planes at a scale (1, 1/2, 1/8 or 1/32 of the raw frame), so the same
/// graph serves every frame size and the planner only needs sizes for the largest one.
///
/// Concatenations and the channel shuffle cost nothing: producers write straight into channel
/// slices of the consumer's buffer (REFERENCE.md §1; the shuffle interleaves l8 and r8).
///
/// No pixel shuffle is a step of its own, and only one pixel unshuffle is. The input comes
/// already split as the first layers read it: the four Bayer phases at 1/2 scale, and the 1024 planes of the
/// 1/32 branch (both written directly by whoever produces the mosaic: the executor's row sources).
/// The output is the last convolution's 12 planes at 1/2 scale, which the consumer reads as the
/// 3-channel image (depth-to-space by 2) and clamps while it quantises. The two shuffles by 4
/// are stored directly by the convolutions before them. No full-resolution float tensor exists.
/// The one unshuffle left makes the 1/8 branch's input from the phases while their rows are in
/// cache: its consumer's SIMD kernel needs runs of adjacent pixels (reading the phases 4 floats
/// apart would take gathers, slower than the copy), and a source writing it as well would
/// compute every input pixel twice.
///
/// Precision: every convolution has one (`layerPrecisions`), and every buffer an element type,
/// the precision of the first convolution that writes it. The input (and the 1/8 branch's
/// unshuffled copy of it) is FP32, or binary16 when every layer reading it runs in FP16: the
/// source writes it so. The output is FP32, or, when asked for (`int8Output`) and the last
/// convolution runs in int8, its codes: the sinks read them in that encoding (the colour
/// stage's luminance, the PNG's quantisation) instead of a converted copy.
/// Where a convolution's input, residual or output buffer has another type, a `convert` step
/// makes a copy of the type the kernel reads or writes, so a uniform FP16 or int8 network
/// converts only at its ends, and mixed precision costs a conversion where the type changes.
public struct NetworkGraph: Sendable {
    /// Where an operand lives: the caller's input or output, or a buffer in the arena.
    public enum Storage: Sendable, Equatable {
        /// The mosaic split by 2 (`split` 1: the four Bayer phase planes R, G₁, G₂, B at 1/2
        /// scale) and then by `split` again (16: the 1024 planes at 1/32 scale); the layout the
        /// executor's row sources write.
        case input(split: Int)
        /// The 12 planes of the last convolution at 1/2 scale, not clamped: plane 4c + 2i + j at
        /// (y, x) is channel c of the image at (2y + i, 2x + j).
        case output
        case arena(Int)
    }

    /// A buffer of `channels` planes at 1/`divisor` of the frame's height and width, of
    /// elements of `precision`.
    public struct Buffer: Sendable {
        public var name: String
        public var channels: Int
        public var divisor: Int
        public var precision: Precision
        public var firstUse: Int
        public var lastUse: Int

        public func planeElements(height: Int, width: Int) -> Int { (height / divisor) * (width / divisor) }
        public func bytes(height: Int, width: Int) -> Int { channels * planeElements(height: height, width: width) * precision.elementBytes }
    }

    /// Channels [offset, offset + count·stride) of a buffer, every `stride`-th plane.
    public struct Slice: Sendable, Equatable {
        public var storage: Storage
        public var divisor: Int
        public var channelOffset: Int
        public var channelStride: Int
    }

    /// A convolution folded into the one after it (`Step.convolution`'s `fold`): `layer`, which
    /// read `input` and wrote the first outChannels channels of the next one's input. In int8 the
    /// two are one kernel (conv2x into conv_2_8_32: nightjar_kernels_qs8.h's folded input), which
    /// reads `input` through the composed, larger kernel instead of a tensor between them.
    public struct Fold: Sendable, Equatable {
        public var layer: Int
        public var input: Slice
        /// The composed kernel's size: the two kernels' reaches added.
        public func kernel(after spec: ConvolutionSpec, _ convolutions: [ConvolutionSpec]) -> Int {
            spec.kernel + convolutions[layer].kernel - 1
        }
    }

    public enum Step: Sendable {
        /// out = act(conv(in) + bias) + residual, for the convolution `layer` of the architecture.
        /// With `depthToSpace` r > 1 the pixel shuffle by r that follows it is folded into its
        /// stores: `output` is at r times the input's scale and gets outChannels / r² channels.
        /// With a `fold`, `input` holds only the channels after the folded layer's, and the fold's
        /// input is read last (no residual then).
        case convolution(layer: Int, input: Slice, output: Slice, residual: Slice?, leakyReLU: Bool, depthToSpace: Int,
                         fold: Fold?)
        /// Space-to-depth by `factor`; `input` holds `channels` planes.
        case unshuffle(input: Slice, channels: Int, factor: Int, output: Slice)
        case leakyReLU(input: Slice, output: Slice, channels: Int)
        /// A copy; between buffers of different element types (or int8 encodings), a conversion.
        case copy(input: Slice, output: Slice, channels: Int)

        /// The slices the step reads (input first, then any residual, then any fold's input).
        public var inputs: [Slice] {
            switch self {
            case .convolution(_, let input, _, let residual, _, _, let fold):
                return [input] + (residual.map { [$0] } ?? []) + (fold.map { [$0.input] } ?? [])
            case .unshuffle(let input, _, _, _),
                 .leakyReLU(let input, _, _), .copy(let input, _, _):
                return [input]
            }
        }

        /// Channels read from each of `inputs`, and channels written.
        public func channelCounts(_ convolutions: [ConvolutionSpec]) -> (inputs: [Int], output: Int) {
            switch self {
            case .convolution(let layer, _, _, let residual, _, let r, let fold):
                let spec = convolutions[layer]
                if let fold {
                    let folded = convolutions[fold.layer]
                    return ([spec.inChannels - folded.outChannels, folded.inChannels], spec.outChannels / (r * r))
                }
                return (residual == nil ? [spec.inChannels] : [spec.inChannels, spec.outChannels], spec.outChannels / (r * r))
            case .unshuffle(_, let channels, let factor, _): return ([channels], channels * factor * factor)
            case .leakyReLU(_, _, let channels), .copy(_, _, let channels): return ([channels], channels)
            }
        }

        /// The rows of input `index` (at its scale, before clipping to the plane) that output
        /// rows `rows` (at the output's scale) read.
        public func inputRows(_ index: Int, for rows: Range<Int>, _ convolutions: [ConvolutionSpec]) -> Range<Int> {
            switch self {
            case .convolution(let layer, _, _, let residual, _, let r, let fold):
                // Output rows are at r times the input's scale (r = 1: the same).
                let spec = convolutions[layer]
                let foldIndex = fold == nil ? -1 : residual == nil ? 1 : 2
                let kernel = index == 0 ? spec.kernel : index == foldIndex ? fold!.kernel(after: spec, convolutions) : 1
                let pad = (kernel - 1) / 2
                return (rows.lowerBound / r - pad)..<((rows.upperBound + r - 1) / r + pad)
            case .unshuffle(_, _, let factor, _):
                return (rows.lowerBound * factor)..<(rows.upperBound * factor)
            case .leakyReLU, .copy:
                return rows
            }
        }

        /// Output rows are produced in multiples of this.
        public var rowGranularity: Int {
            switch self {
            case .convolution(_, _, _, _, _, let factor, _): return factor
            default: return 1
            }
        }

        public var output: Slice {
            switch self {
            case .convolution(_, _, let output, _, _, _, _), .unshuffle(_, _, _, let output),
                 .leakyReLU(_, let output, _), .copy(_, let output, _):
                return output
            }
        }
    }

    public private(set) var architecture: Architecture
    /// The architecture's convolutions, indexed by the steps' `layer`.
    public let convolutions: [ConvolutionSpec]
    /// The precision each convolution computes in, by layer.
    public let layerPrecisions: [Precision]
    public private(set) var buffers: [Buffer] = []
    public private(set) var steps: [Step] = []
    /// The 1/32 branch's result (rdball, already shuffled to 1/8 scale): the one tensor the
    /// streaming engine keeps whole between its two passes.
    public private(set) var lowResolutionResult = 0
    /// The splits of the inputs the graph reads (`Storage.input`).
    public let inputSplits = [1, 16]
    /// The element type of the input: FP16 when the layers reading it (`inputReads`) all run
    /// in FP16, int8 when they all run in int8 and read it in one encoding
    /// (`inputQuantization`), so no conversion step copies it; else FP32 (int8 layers then read
    /// their own encodings of it, made by conversion steps).
    public private(set) var inputPrecision = Precision.fp32
    /// The input's encoding when it is int8.
    public private(set) var inputQuantization: ActivationQuantization?
    /// The element type of the output: int8 (`outputQuantization`) when `int8Output` was asked
    /// for and the last convolution runs in int8, else FP32.
    public private(set) var outputPrecision = Precision.fp32
    /// The output's encoding when it is int8: the last convolution's.
    public private(set) var outputQuantization: ActivationQuantization?
    /// Whether conv2x is folded into conv_2_8_32 (`Fold`): no conv2x step, no tensor between them.
    public let foldsConv2x: Bool

    /// The layers of the fold int8 makes: conv_2_8_32 (`layer`) and conv2x (`folded`).
    public static func conv2xFold(_ convolutions: [ConvolutionSpec]) -> (layer: Int, folded: Int)? {
        guard let folded = convolutions.firstIndex(where: { $0.name == "conv2x" }),
              let layer = convolutions.firstIndex(where: { $0.name == "conv_2_8_32" }) else { return nil }
        return (layer, folded)
    }
    /// The convolutions that read the network's input: directly, or through the steps that
    /// only move or convert its values (unshuffles, conversion copies); `residual` when a layer
    /// reads it as its residual. Found from the steps, so it follows the architecture.
    public private(set) var inputReads: [(layer: Int, residual: Bool)] = []

    /// `layerPrecisions`: by layer; nil: all FP32. `quantizations`: the int8 layers' numbers,
    /// by layer; without them neither the input nor the output is int8. `int8Input` false keeps
    /// an FP32 input where int8 layers could read it directly; `int8Output`: the output holds an
    /// int8 last layer's codes (see `outputPrecision`). `foldConv2x`: conv2x folded into
    /// conv_2_8_32 where both run in int8 (`foldsConv2x`; the int8 parameters decide whether
    /// their numbers allow it).
    public init(architecture: Architecture, layerPrecisions: [Precision]? = nil, quantizations: [LayerQuantization?]? = nil,
                int8Input: Bool = true, int8Output: Bool = false, foldConv2x: Bool = false) {
        self.architecture = architecture
        let convolutions = architecture.convolutions
        self.convolutions = convolutions
        precondition(layerPrecisions == nil || layerPrecisions!.count == convolutions.count, "one precision per convolution")
        let precisions = layerPrecisions ?? [Precision](repeating: .fp32, count: convolutions.count)
        self.layerPrecisions = precisions
        if foldConv2x, let pair = Self.conv2xFold(convolutions) {
            foldsConv2x = precisions[pair.folded] == .int8 && precisions[pair.layer] == .int8
        } else {
            foldsConv2x = false
        }
        // The readers are the same whatever the input's precision: built with FP32 input first,
        // and again with FP16 or int8 when every reader turns out to read it so.
        build()
        inputReads = Self.inputReads(steps)
        if inputReads.allSatisfy({ precisions[$0.layer] == .fp16 }) {
            inputPrecision = .fp16
        } else if int8Input, let quantizations, let encoding = Self.sharedInt8Encoding(inputReads, precisions, quantizations) {
            inputPrecision = .int8
            inputQuantization = encoding
        }
        if int8Output, let quantizations, let last = Self.outputWriter(steps), precisions[last] == .int8,
           let encoding = quantizations[last]?.output {
            outputPrecision = .int8
            outputQuantization = encoding
        }
        if inputPrecision != .fp32 || outputPrecision != .fp32 {
            (buffers, steps, lowResolutionResult) = ([], [], 0)
            build()
        }
    }

    /// The convolution whose values the output holds: the one writing it, or the one whose
    /// buffer a conversion copies into it.
    private static func outputWriter(_ steps: [Step]) -> Int? {
        var source = Storage.output
        for step in steps.reversed() {
            switch step {
            case .copy(let input, let output, _) where output.storage == source:
                source = input.storage
            case .convolution(let layer, _, let output, _, _, _, _) where output.storage == source:
                return layer
            default:
                continue
            }
        }
        return nil
    }

    /// The one encoding every reader of the input reads it in, when all are int8 layers (a
    /// model quantised before `nightjar quantize` gave the unshuffled input its source's
    /// encoding has two, and keeps its FP32 input and conversion steps).
    private static func sharedInt8Encoding(_ reads: [(layer: Int, residual: Bool)], _ precisions: [Precision],
                                           _ quantizations: [LayerQuantization?]) -> ActivationQuantization? {
        let encodings = reads.map { read -> ActivationQuantization? in
            guard precisions[read.layer] == .int8, let q = quantizations[read.layer] else { return nil }
            return read.residual ? q.residual : q.input
        }
        guard let first = encodings.first, let encoding = first,
              encodings.allSatisfy({ $0 == encoding }) else { return nil }
        return encoding
    }

    /// See `inputReads`.
    private static func inputReads(_ steps: [Step]) -> [(layer: Int, residual: Bool)] {
        var copies: [Storage] = []
        func holdsInput(_ slice: Slice?) -> Bool {
            guard let slice else { return false }
            if case .input = slice.storage { return true }
            return copies.contains(slice.storage)
        }
        var reads: [(layer: Int, residual: Bool)] = []
        for step in steps {
            switch step {
            case .unshuffle(let input, _, _, let output), .copy(let input, let output, _):
                if holdsInput(input) { copies.append(output.storage) }
            case .convolution(let layer, let input, _, let residual, _, _, let fold):
                if holdsInput(input) { reads.append((layer, false)) }
                if holdsInput(residual) { reads.append((layer, true)) }
                // The folded layer's input is read in its encoding.
                if let fold, holdsInput(fold.input) { reads.append((fold.layer, false)) }
            default:
                continue
            }
        }
        return reads
    }

    /// The largest input value the int8 layers reading the input hold, given each layer's int8
    /// numbers (nil for layers not in int8): the least upper end of the encodings they read it
    /// in; nil when no int8 layer reads it.
    public func int8InputLimit(_ quantizations: [LayerQuantization?]) -> Float? {
        inputReads.compactMap { read in
            quantizations[read.layer].flatMap { read.residual ? $0.residual?.high : $0.input.high }
        }.min()
    }

    /// The element type of a storage.
    public func precision(of storage: Storage) -> Precision {
        switch storage {
        case .arena(let id): return buffers[id].precision
        case .input: return inputPrecision
        case .output: return outputPrecision
        }
    }

    /// Buffer lifetimes as planner requests for a frame of the given size.
    public func memoryRequests(height: Int, width: Int) -> [MemoryPlan.Request] {
        buffers.map {
            MemoryPlan.Request(name: $0.name, bytes: $0.bytes(height: height, width: width), firstUse: $0.firstUse, lastUse: $0.lastUse)
        }
    }

    // MARK: - Building

    /// A buffer of the precision of `writer`, the first convolution writing it (nil: FP32).
    private mutating func buffer(_ name: String, channels: Int, divisor: Int, writer: String? = nil) -> Int {
        let precision = writer.map { layerPrecisions[layerIndex($0)] } ?? .fp32
        buffers.append(Buffer(name: name, channels: channels, divisor: divisor, precision: precision, firstUse: .max, lastUse: -1))
        return buffers.count - 1
    }

    private func layerIndex(_ name: String) -> Int { convolutions.firstIndex { $0.name == name }! }

    /// `channels` of `slice` in `precision`: the slice itself, or a copy converted into a new
    /// buffer `name` (a step before the reader).
    private mutating func converted(_ slice: Slice, channels: Int, to precision: Precision, name: String) -> Slice {
        guard self.precision(of: slice.storage) != precision else { return slice }
        let copy = buffer(name, channels: channels, divisor: slice.divisor)
        buffers[copy].precision = precision
        add(.copy(input: slice, output: self.slice(copy), channels: channels), touching: [slice, self.slice(copy)])
        return self.slice(copy)
    }

    private func slice(_ buffer: Int, from offset: Int = 0, stride: Int = 1) -> Slice {
        Slice(storage: .arena(buffer), divisor: buffers[buffer].divisor, channelOffset: offset, channelStride: stride)
    }

    private mutating func add(_ step: Step, touching slices: [Slice?]) {
        let index = steps.count
        steps.append(step)
        for case let slice? in slices {
            if case .arena(let id) = slice.storage {
                buffers[id].firstUse = min(buffers[id].firstUse, index)
                buffers[id].lastUse = max(buffers[id].lastUse, index)
            }
        }
    }

    /// The convolution `name`, with conversions around it where its buffers' types differ
    /// from its precision.
    private mutating func conv(_ name: String, _ input: Slice, _ output: Slice, residual: Slice? = nil, leakyReLU: Bool = false,
                               depthToSpace: Int = 1, fold: (name: String, input: Slice)? = nil) {
        let layer = layerIndex(name), precision = layerPrecisions[layer], spec = convolutions[layer]
        let folded = fold.map { layerIndex($0.name) }
        let mainChannels = spec.inChannels - (folded.map { convolutions[$0].outChannels } ?? 0)
        let input = converted(input, channels: mainChannels, to: precision, name: "\(name).input.\(precision)")
        let foldStep = fold.map {
            Fold(layer: folded!, input: converted($0.input, channels: convolutions[folded!].inChannels, to: precision,
                                                  name: "\($0.name).input.\(precision)"))
        }
        let residual = residual.map { converted($0, channels: spec.outChannels, to: precision, name: "\(name).residual.\(precision)") }
        let outChannels = spec.outChannels / (depthToSpace * depthToSpace)
        var target = output
        if self.precision(of: output.storage) != precision {
            let result = buffer("\(name).output.\(precision)", channels: outChannels, divisor: output.divisor)
            buffers[result].precision = precision
            target = slice(result)
        }
        add(.convolution(layer: layer, input: input, output: target, residual: residual, leakyReLU: leakyReLU, depthToSpace: depthToSpace,
                         fold: foldStep),
            touching: [input, target, residual, foldStep?.input])
        if target != output {
            add(.copy(input: target, output: output, channels: outChannels), touching: [target, output])
        }
    }

    private mutating func build() {
        let f = Architecture.features, g = Architecture.growth
        // The four Bayer phases (low2x) and the 1/32 branch's input come in; the 12 output
        // planes go out.
        let low2x = Slice(storage: .input(split: 1), divisor: 2, channelOffset: 0, channelStride: 1)
        let in32 = Slice(storage: .input(split: 16), divisor: 32, channelOffset: 0, channelStride: 1)
        let output = Slice(storage: .output, divisor: 2, channelOffset: 0, channelStride: 1)

        // 1/32 branch.
        let c32 = buffer("conv32x.0", channels: 128, divisor: 32, writer: "conv32x.0")
        conv("conv32x.0", in32, slice(c32))
        let f32 = buffer("f32", channels: f, divisor: 32, writer: "conv32x.1")
        conv("conv32x.1", slice(c32), slice(f32))

        let blocks = architecture.denseLayers.count
        let rdbOut = buffer("rdb.outputs", channels: f * blocks, divisor: 32, writer: "rdb1.fuse")
        var blockInput = slice(f32)
        for (block, layers) in architecture.denseLayers.enumerated() {
            let prefix = "rdb\(block + 1)"
            let dense = buffer("\(prefix).concat", channels: f + g * layers, divisor: 32, writer: "\(prefix).dense0")
            add(.copy(input: blockInput, output: slice(dense), channels: f), touching: [blockInput, slice(dense)])
            switch architecture.blockKind {
            case .canonical:
                for layer in 0..<layers {
                    conv("\(prefix).dense\(layer)", slice(dense), slice(dense, from: f + g * layer),
                         leakyReLU: layer < layers - 1)
                }
            case .rdbStar:
                // Middle layers read LeakyReLU of the whole running concatenation, which keeps the
                // unrectified outputs: a second buffer holds the rectified copy, grown as we go.
                let rectified = layers > 2 ? buffer("\(prefix).rectified", channels: f + g * (layers - 2), divisor: 32, writer: "\(prefix).dense0") : nil
                if let rectified {
                    add(.leakyReLU(input: slice(dense), output: slice(rectified), channels: f), touching: [slice(dense), slice(rectified)])
                }
                for layer in 0..<layers {
                    let middle = layer > 0 && layer < layers - 1
                    conv("\(prefix).dense\(layer)", middle ? slice(rectified!) : slice(dense), slice(dense, from: f + g * layer))
                    if let rectified, layer < layers - 2 {
                        add(.leakyReLU(input: slice(dense, from: f + g * layer), output: slice(rectified, from: f + g * layer), channels: g),
                            touching: [slice(dense), slice(rectified)])
                    }
                }
            }
            let out = slice(rdbOut, from: f * block)
            conv("\(prefix).fuse", slice(dense), out, residual: slice(dense))
            blockInput = out
        }
        // rdball, stored straight into its pixel shuffle by 4: up8, 4 channels at 1/8 scale.
        let up8 = buffer("rdball.up8", channels: f / 16, divisor: 8, writer: "rdball")
        conv("rdball", slice(rdbOut), slice(up8), residual: slice(f32), depthToSpace: 4)
        lowResolutionResult = up8

        // 1/8 scale. concat(l8, r8) followed by the channel shuffle is one buffer with l8 in the
        // even channels and r8 in the odd ones.
        let cat8 = buffer("cat8.shuffled", channels: 128, divisor: 8, writer: "conv_rdb8x")
        conv("conv_rdb8x", slice(up8), slice(cat8, from: 1, stride: 2))
        let in8 = buffer("in8", channels: 64, divisor: 8)
        buffers[in8].precision = inputPrecision
        add(.unshuffle(input: low2x, channels: 4, factor: 4, output: slice(in8)), touching: [low2x, slice(in8)])
        let t8 = buffer("resblock8x.conv1", channels: 64, divisor: 8, writer: "resblock8x.conv1")
        conv("resblock8x.conv1", slice(in8), slice(t8), leakyReLU: true)
        conv("resblock8x.conv2", slice(t8), slice(cat8, from: 0, stride: 2), residual: slice(in8))
        let g8 = buffer("conv32_8_cat.0", channels: 32, divisor: 8, writer: "conv32_8_cat.0")
        conv("conv32_8_cat.0", slice(cat8), slice(g8))

        // 1/2 scale: concat(conv2x(low2x), shuffle(conv32_8_cat.1, 4)), then the last 5x5
        // convolution. conv32_8_cat.1 stores straight into its pixel shuffle. Folded (`foldsConv2x`),
        // the last convolution reads low2x itself and the shuffle alone.
        if foldsConv2x {
            let up2 = buffer("up2", channels: 12, divisor: 2, writer: "conv32_8_cat.1")
            conv("conv32_8_cat.1", slice(g8), slice(up2), leakyReLU: true, depthToSpace: 4)
            conv("conv_2_8_32", slice(up2), output, fold: ("conv2x", low2x))
            return
        }
        let cat2 = buffer("cat2", channels: 24, divisor: 2, writer: "conv2x")
        conv("conv2x", low2x, slice(cat2))
        conv("conv32_8_cat.1", slice(g8), slice(cat2, from: 12), leakyReLU: true, depthToSpace: 4)
        conv("conv_2_8_32", slice(cat2), output)
    }
}
