import NightjarKernels

/// How a window's elements are stored: FP32, FP16 (binary16 bits), or int8 with its encoding.
struct ElementType: Equatable {
    var precision: Precision
    /// int8 only.
    var quantization: ActivationQuantization?

    static let fp32 = ElementType(precision: .fp32, quantization: nil)
}

extension nj_qs8_quantization {
    /// The kernels' form of an encoding.
    init(_ encoding: ActivationQuantization) {
        self.init(scale: encoding.scale, zero_point: encoding.zeroPoint)
    }
}

/// Row operations between windows of any element type (the graph's copy, conversion and
/// LeakyReLU steps). Called per row from the pool's threads: no allocation (conversions through
/// FP32 go through a small stack buffer).
enum ElementRows {
    /// Copies `count` elements, converting between types (or int8 encodings) when they differ.
    static func convert(_ source: UnsafeRawPointer, _ from: ElementType, to target: UnsafeMutableRawPointer, _ to: ElementType, count: Int) {
        if from == to {
            target.copyMemory(from: source, byteCount: count * from.precision.elementBytes)
            return
        }
        switch (from.precision, to.precision) {
        case (.fp32, _):
            store(source.assumingMemoryBound(to: Float.self), to: target, to, count: count)
        case (_, .fp32):
            load(source, from, into: target.assumingMemoryBound(to: Float.self), count: count)
        default:
            // Through FP32, a chunk at a time.
            inFP32Chunks(count) { done, n, buffer in
                load(source + done * from.precision.elementBytes, from, into: buffer, count: n)
                store(buffer, to: target + done * to.precision.elementBytes, to, count: n)
            }
        }
    }

    private static let chunk = 256

    /// `body(first, count, scratch)` over `count` elements in chunks, with FP32 scratch for one
    /// chunk on the stack.
    private static func inFP32Chunks(_ count: Int, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { buffer in
            var done = 0
            while done < count {
                let n = min(chunk, count - done)
                body(done, n, buffer.baseAddress!)
                done += n
            }
        }
    }

    /// LeakyReLU of `count` elements of one type (input and output share it, and for int8
    /// the encoding: the zero point stays, values below it are scaled by the slope).
    static func leakyReLU(_ source: UnsafeRawPointer, to target: UnsafeMutableRawPointer, _ type: ElementType, count: Int, slope: Float) {
        switch type.precision {
        case .fp32:
            nj_f32_leaky_relu_scalar(source.assumingMemoryBound(to: Float.self), target.assumingMemoryBound(to: Float.self), count, slope)
        case .fp16:
            // In FP32 by one C pass (F16C where present): the bulk conversions' rounding and the
            // FP32 form's arithmetic, 8 values in registers instead of three passes over a
            // buffer. Swift's Float16 conversions were runtime calls per element (2 % of an int8
            // frame with FP16 layers) and depend on MXCSR: under the pool threads' flush-to-zero
            // they passed negative binary16 subnormals through unscaled. This is IEEE
            // round-to-nearest-even whatever the mode (all 65536 inputs checked).
            nj_f16_leaky_relu(source.assumingMemoryBound(to: UInt16.self), target.assumingMemoryBound(to: UInt16.self), count, slope)
        case .int8:
            // The zero point stays, values below it are scaled by the slope (a C loop: the Swift
            // one called rintf per element, 1.6 % of an int8 network's time).
            nj_qs8_leaky_relu(source.assumingMemoryBound(to: Int8.self), target.assumingMemoryBound(to: Int8.self), count,
                              type.quantization!.zeroPoint, slope)
        }
    }

    static func load(_ source: UnsafeRawPointer, _ from: ElementType, into target: UnsafeMutablePointer<Float>, count: Int) {
        switch from.precision {
        case .fp32: target.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .fp16:
            nj_f16_to_f32(source.assumingMemoryBound(to: UInt16.self), target, count)
        case .int8:
            let q = from.quantization!
            nj_qs8_dequantize(source.assumingMemoryBound(to: Int8.self), target, count, nj_qs8_quantization(q))
        }
    }

    static func store(_ source: UnsafePointer<Float>, to target: UnsafeMutableRawPointer, _ to: ElementType, count: Int) {
        switch to.precision {
        case .fp32: target.assumingMemoryBound(to: Float.self).update(from: source, count: count)
        case .fp16:
            nj_f32_to_f16(source, target.assumingMemoryBound(to: UInt16.self), count)
        case .int8:
            let q = to.quantization!
            nj_qs8_quantize(source, target.assumingMemoryBound(to: Int8.self), count, nj_qs8_quantization(q))
        }
    }
}
