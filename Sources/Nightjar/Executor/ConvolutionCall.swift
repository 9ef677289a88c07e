import NightjarKernels

/// A convolution family's argument struct as the executor drives it, so the three families
/// run through one path: fill the geometry (`ConvolutionGeometry`, the same fields in each),
/// point the operands at the windows, bind the layer's packed parameters, and run it on the
/// thread pool's one row/channel split (`nj_threadpool_conv2d_<type>`).
protocol ConvolutionCall: ConvolutionGeometry {
    associatedtype Kernel
    init()
    /// The windows, whose elements are of the family's type.
    mutating func setOperands(input: UnsafeRawPointer, output: UnsafeMutableRawPointer, residual: UnsafeRawPointer?)
    /// The activation after the convolution (int8 layers carry it in their multipliers).
    mutating func setActivation(_ activation: Int32, negativeSlope: Float)
    /// Points the args at the layer's packed parameters and returns its kernel.
    mutating func bind(_ parameters: PackedParameters, layer: Int) -> UnsafePointer<Kernel>
    static func run(_ pool: OpaquePointer, _ kernel: UnsafePointer<Kernel>, _ args: UnsafePointer<Self>)
    /// The folded layer's input (a window of `rows` rows, `channelStride` elements between
    /// channels), and the main input narrowed to the channels after the folded layer's: only
    /// int8 folds.
    mutating func setFold(_ fold: NetworkGraph.Fold, input: UnsafeRawPointer, channelStride: Int, rows: Int,
                          _ convolutions: [ConvolutionSpec])
}

extension ConvolutionCall {
    mutating func setFold(_ fold: NetworkGraph.Fold, input: UnsafeRawPointer, channelStride: Int, rows: Int,
                          _ convolutions: [ConvolutionSpec]) {
        preconditionFailure("only int8 layers fold")
    }
}

extension nj_conv2d_f32_args: ConvolutionCall {
    mutating func setOperands(input: UnsafeRawPointer, output: UnsafeMutableRawPointer, residual: UnsafeRawPointer?) {
        self.input = input.assumingMemoryBound(to: Float.self)
        self.output = output.assumingMemoryBound(to: Float.self)
        self.residual = residual?.assumingMemoryBound(to: Float.self)
    }
    mutating func setActivation(_ activation: Int32, negativeSlope: Float) {
        self.activation = activation
        negative_slope = negativeSlope
    }
    mutating func bind(_ parameters: PackedParameters, layer: Int) -> UnsafePointer<nj_conv2d_f32_kernel> {
        parameters.bind(layer, to: &self)
    }
    static func run(_ pool: OpaquePointer, _ kernel: UnsafePointer<nj_conv2d_f32_kernel>, _ args: UnsafePointer<Self>) {
        nj_threadpool_conv2d_f32(pool, kernel, args)
    }
}

extension nj_conv2d_f16_args: ConvolutionCall {
    mutating func setOperands(input: UnsafeRawPointer, output: UnsafeMutableRawPointer, residual: UnsafeRawPointer?) {
        self.input = input.assumingMemoryBound(to: UInt16.self)
        self.output = output.assumingMemoryBound(to: UInt16.self)
        self.residual = residual?.assumingMemoryBound(to: UInt16.self)
    }
    mutating func setActivation(_ activation: Int32, negativeSlope: Float) {
        self.activation = activation
        negative_slope = negativeSlope
    }
    mutating func bind(_ parameters: PackedParameters, layer: Int) -> UnsafePointer<nj_conv2d_f16_kernel> {
        parameters.bind(layer, to: &self)
    }
    static func run(_ pool: OpaquePointer, _ kernel: UnsafePointer<nj_conv2d_f16_kernel>, _ args: UnsafePointer<Self>) {
        nj_threadpool_conv2d_f16(pool, kernel, args)
    }
}

extension nj_conv2d_qs8_args: ConvolutionCall {
    mutating func setOperands(input: UnsafeRawPointer, output: UnsafeMutableRawPointer, residual: UnsafeRawPointer?) {
        self.input = input.assumingMemoryBound(to: Int8.self)
        self.output = output.assumingMemoryBound(to: Int8.self)
        self.residual = residual?.assumingMemoryBound(to: Int8.self)
    }
    /// Folded into the layer's negative multipliers when its parameters were prepared.
    mutating func setActivation(_ activation: Int32, negativeSlope: Float) {}
    mutating func bind(_ parameters: PackedParameters, layer: Int) -> UnsafePointer<nj_conv2d_qs8_kernel> {
        parameters.bind(layer, to: &self)
    }
    static func run(_ pool: OpaquePointer, _ kernel: UnsafePointer<nj_conv2d_qs8_kernel>, _ args: UnsafePointer<Self>) {
        nj_threadpool_conv2d_qs8(pool, kernel, args)
    }
    mutating func setFold(_ fold: NetworkGraph.Fold, input: UnsafeRawPointer, channelStride: Int, rows: Int,
                          _ convolutions: [ConvolutionSpec]) {
        let folded = convolutions[fold.layer]
        in_channels -= Int32(folded.outChannels)
        fold_input = input.assumingMemoryBound(to: Int8.self)
        fold_input_channel_stride = channelStride
        fold_input_rows = Int32(rows)
        fold_in_channels = Int32(folded.inChannels)
        fold_kernel_size = Int32(folded.kernel + Int(kernel_size) - 1)
    }
}
