import NightjarKernels
import XCTest

/// Run-time kernel dispatch: every instruction-set level this machine supports selects a
/// kernel that agrees with the scalar reference on the network's convolution shapes.
/// (The exhaustive shape sweep, including AArch64 under qemu, is scripts/test-kernels.sh.)
final class KernelDispatchTests: XCTestCase {
    struct Shape {
        var k: Int32, inChannels: Int32, outChannels: Int32, groups: Int32
        var width: Int32, height: Int32
        var rowBegin: Int32, rowEnd: Int32
        var bias = true, residual = false, leakyReLU = false
    }

    /// Shapes of the network (REFERENCE.md §1) at small sizes, with odd widths, sub-ranges.
    static let shapes: [Shape] = [
        Shape(k: 5, inChannels: 4, outChannels: 12, groups: 1, width: 37, height: 6, rowBegin: 0, rowEnd: 6),
        Shape(k: 5, inChannels: 24, outChannels: 12, groups: 1, width: 53, height: 7, rowBegin: 2, rowEnd: 6),
        Shape(k: 3, inChannels: 64, outChannels: 64, groups: 1, width: 35, height: 5, rowBegin: 1, rowEnd: 5,
              residual: true),
        Shape(k: 3, inChannels: 64, outChannels: 64, groups: 1, width: 20, height: 4, rowBegin: 0, rowEnd: 4,
              leakyReLU: true),
        Shape(k: 3, inChannels: 4, outChannels: 64, groups: 1, width: 17, height: 3, rowBegin: 0, rowEnd: 3),
        Shape(k: 3, inChannels: 128, outChannels: 32, groups: 4, width: 33, height: 4, rowBegin: 1, rowEnd: 3),
        Shape(k: 3, inChannels: 32, outChannels: 192, groups: 1, width: 19, height: 3, rowBegin: 0, rowEnd: 3,
              leakyReLU: true),
        Shape(k: 3, inChannels: 1024, outChannels: 128, groups: 128, width: 9, height: 3, rowBegin: 0, rowEnd: 3),
        Shape(k: 3, inChannels: 160, outChannels: 32, groups: 1, width: 13, height: 3, rowBegin: 0, rowEnd: 3,
              bias: false),
        Shape(k: 1, inChannels: 192, outChannels: 64, groups: 1, width: 21, height: 3, rowBegin: 0, rowEnd: 3,
              bias: false, residual: true),
    ]

    static let levels: [nj_isa] = [NJ_ISA_AVX512, NJ_ISA_AVX2, NJ_ISA_SSE41, NJ_ISA_NEON, NJ_ISA_SCALAR]

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Int32(truncatingIfNeeded: state >> 40) & 0xFFFFFF - 0x800000) / Float(0x800000)
        }
    }

    /// Runs `kernel` (nil: the scalar reference) on a shape whose input buffer is a ring of just
    /// the rows the range needs and whose output buffer is a ring of the range's rows (so rows
    /// wrap when the range does not start at 0), with channel strides larger than the planes. The
    /// weights are packed in the kernel's layout first.
    static func run(_ s: Shape, kernel: UnsafePointer<nj_conv2d_f32_kernel>?, absolute: Bool = false) -> [Float] {
        let pad = (s.k - 1) / 2
        let inRow0 = max(0, s.rowBegin - pad)
        let inRows = min(s.height, s.rowEnd + pad) - inRow0
        let inStride = Int(inRows * s.width) + 5
        let outRows = s.rowEnd - s.rowBegin
        let outStride = Int(outRows * s.width) + 3
        let weightCount = Int(s.outChannels * (s.inChannels / s.groups) * s.k * s.k)
        func prepared(_ v: [Float]) -> [Float] { absolute ? v.map { abs($0) } : v }
        let input = prepared(values(inStride * Int(s.inChannels), seed: 1))
        let oihw = prepared(values(weightCount, seed: 2))
        let layout = kernel?.pointee.weight_layout ?? NJ_WEIGHTS_OIHW
        var weights = [Float](repeating: .nan, count: nj_f32_conv2d_packed_count(layout, s.outChannels, s.inChannels,
                                                                                 s.groups, s.k))
        nj_f32_conv2d_pack_weights(layout, oihw, s.outChannels, s.inChannels,
                                   s.groups, s.k, &weights)
        let bias = prepared(values(Int(s.outChannels), seed: 3))
        let residual = prepared(values(outStride * Int(s.outChannels), seed: 4))
        var output = [Float](repeating: .nan, count: outStride * Int(s.outChannels))
        input.withUnsafeBufferPointer { inp in
            weights.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    residual.withUnsafeBufferPointer { r in
                        output.withUnsafeMutableBufferPointer { out in
                            var a = nj_conv2d_f32_args()
                            a.input = inp.baseAddress
                            a.input_channel_stride = inStride
                            a.input_rows = inRows
                            a.output = out.baseAddress
                            a.output_channel_stride = outStride
                            a.output_rows = outRows
                            a.residual = s.residual ? r.baseAddress : nil
                            a.residual_channel_stride = outStride
                            a.residual_rows = outRows
                            a.weights = w.baseAddress
                            a.weight_stride = s.outChannels / s.groups
                            a.bias = s.bias ? b.baseAddress : nil
                            a.in_channels = s.inChannels
                            a.out_channels = s.outChannels
                            a.groups = s.groups
                            a.kernel_size = s.k
                            a.height = s.height
                            a.width = s.width
                            a.row_begin = s.rowBegin
                            a.row_end = s.rowEnd
                            a.activation = Int32(
                                (s.leakyReLU && !absolute ? NJ_ACTIVATION_LEAKY_RELU : NJ_ACTIVATION_NONE)
                                    .rawValue)
                            a.negative_slope = 0.2
                            if let kernel { kernel.pointee.run(&a) } else { nj_f32_conv2d_scalar(&a) }
                        }
                    }
                }
            }
        }
        return output
    }

    static func selected(_ s: Shape, cap: nj_isa) -> UnsafePointer<nj_conv2d_f32_kernel> {
        var a = nj_conv2d_f32_args()
        a.in_channels = s.inChannels
        a.out_channels = s.outChannels
        a.groups = s.groups
        a.kernel_size = s.k
        a.width = s.width
        a.height = s.height
        return nj_conv2d_f32_kernel_select(&a, Int32(cap.rawValue))
    }

    func testEverySupportedLevelMatchesScalarReference() {
        let supported = Self.levels.filter { nj_isa_supported($0) != 0 }
        XCTAssertTrue(supported.contains(NJ_ISA_SCALAR))
        for shape in Self.shapes {
            let expected = Self.run(shape, kernel: nil)
            // Sum of |terms| per output: the same convolution on absolute values.
            let magnitude = Self.run(shape, kernel: nil, absolute: true)
            for level in supported {
                let kernel = Self.selected(shape, cap: level)
                let name = String(cString: kernel.pointee.name)
                if level != NJ_ISA_SCALAR {
                    XCTAssertEqual(kernel.pointee.isa, level, "\(name) selected for \(String(cString: nj_isa_name(level)))")
                    XCTAssertTrue(name.contains("-" + String(cString: nj_isa_name(level)).replacingOccurrences(of: ".", with: "") + "-"), name)
                    XCTAssertEqual(String(cString: nj_conv2d_f32_fn_name(kernel.pointee.run)), name)
                    XCTAssertTrue(name.contains("\(shape.k)x\(shape.k)"), name)
                }
                let got = Self.run(shape, kernel: kernel)
                var worst: Float = 0
                var failures = 0
                for i in 0..<got.count {
                    if expected[i].isNaN {  // channel-stride gap: must stay untouched
                        if !got[i].isNaN { failures += 1 }
                        continue
                    }
                    let error = abs(got[i] - expected[i])
                    if !(error <= 1e-5 * magnitude[i] + 1e-30) { failures += 1 }
                    if magnitude[i] > 0 { worst = max(worst, error / magnitude[i]) }
                }
                XCTAssertEqual(failures, 0, "\(name) on k\(shape.k) \(shape.inChannels)->\(shape.outChannels) g\(shape.groups) \(shape.width)x\(shape.height), worst \(worst)")
            }
        }
    }

    func testCapSelectsEachLevelAndScalar() {
        defer { nj_set_max_isa(-1) }
        let shape = Self.shapes[2]
        var a = nj_conv2d_f32_args()
        a.in_channels = shape.inChannels
        a.out_channels = shape.outChannels
        a.groups = 1
        a.kernel_size = 3
        func selectedName() -> String { String(cString: nj_conv2d_f32_kernel_select(&a, -1).pointee.name) }
        nj_set_max_isa(Int32(NJ_ISA_SCALAR.rawValue))
        XCTAssertEqual(nj_isa_active(), NJ_ISA_SCALAR)
        XCTAssertEqual(selectedName(), "f32-conv2d-scalar")
        XCTAssertEqual(nj_conv2d_f32_kernel_select(&a, -1), nj_conv2d_f32_kernel_reference())
        XCTAssertEqual(nj_conv2d_f32_kernel_reference().pointee.weight_layout, NJ_WEIGHTS_OIHW)
        for level in Self.levels where nj_isa_supported(level) != 0 {
            nj_set_max_isa(Int32(level.rawValue))
            XCTAssertEqual(nj_isa_active(), level)
            // The process-wide cap and an explicit one agree.
            XCTAssertEqual(nj_conv2d_f32_kernel_select(&a, -1), nj_conv2d_f32_kernel_select(&a, Int32(level.rawValue)))
            XCTAssertEqual(nj_conv2d_f32_kernel_select(&a, -1).pointee.isa, level, selectedName())
        }
        nj_set_max_isa(-1)
        XCTAssertEqual(nj_isa_active(), nj_isa_detected())
        // Kernel sizes without SIMD kernels fall back to the reference.
        a.kernel_size = 7
        XCTAssertEqual(selectedName(), "f32-conv2d-scalar")
    }

    /// Packing is a permutation: GIHWO holds each PyTorch weight exactly once, at
    /// [g][icg][ky][kx][o], and OIHW is a copy.
    func testWeightPackingPermutes() {
        let (out, inp, groups, k): (Int32, Int32, Int32, Int32) = (6, 8, 2, 3)
        let count = nj_f32_conv2d_weight_count(out, inp, groups, k)
        XCTAssertEqual(count, 6 * 4 * 9)
        let oihw = (0..<count).map { Float($0) }
        var packed = [Float](repeating: -1, count: count)
        nj_f32_conv2d_pack_weights(NJ_WEIGHTS_OIHW, oihw, out, inp, groups, k, &packed)
        XCTAssertEqual(packed, oihw)
        nj_f32_conv2d_pack_weights(NJ_WEIGHTS_GIHWO, oihw, out, inp, groups, k, &packed)
        let (ipg, opg) = (4, 3)
        for g in 0..<2 { for o in 0..<opg { for icg in 0..<ipg { for t in 0..<9 {
            let source = ((g * opg + o) * ipg + icg) * 9 + t
            XCTAssertEqual(packed[((g * ipg + icg) * 9 + t) * opg + o], Float(source))
        } } } }
    }

    func testIsaNamesParse() {
        for level in Self.levels {
            XCTAssertEqual(nj_isa_parse(nj_isa_name(level)), Int32(level.rawValue))
        }
        XCTAssertEqual(nj_isa_parse("AVX512"), Int32(NJ_ISA_AVX512.rawValue))
        XCTAssertEqual(nj_isa_parse("sse41"), Int32(NJ_ISA_SSE41.rawValue))
        XCTAssertEqual(nj_isa_parse("bogus"), -1)
        XCTAssertEqual(nj_isa_parse(nil), -1)
    }
}
