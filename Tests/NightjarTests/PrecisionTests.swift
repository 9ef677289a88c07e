import Foundation
@testable import Nightjar
import XCTest

/// The precision axis outside the kernels: safetensors F16/I8/I32 tensors, the model file's
/// precision metadata, element types in the graph and the arena, element conversions.
final class PrecisionTests: XCTestCase {
    // MARK: - safetensors dtypes

    func testF16I8AndI32TensorsRoundTripWithTheirSizes() throws {
        let tensors: [String: SafeTensorsFile.Tensor] = [
            "a": .init(shape: [3], storage: .f16([0x3C00, 0xC000, 0x7C00])),  // 1, -2, +inf
            "b": .init(shape: [2, 2], storage: .i8([-128, -1, 0, 127])),
            "c": .init(shape: [2], storage: .i32([-5, 1 << 20])),
            "d": .init(shape: [1], values: [0.5]),
        ]
        let bytes = try SafeTensorsFile(metadata: ["k": "v"], tensors: tensors).encoded()
        let header = Int(bytes[0]) | Int(bytes[1]) << 8
        let json = String(decoding: bytes[8..<(8 + header)], as: UTF8.self)
        XCTAssertTrue(json.contains(#""a":{"data_offsets":[0,6],"dtype":"F16","shape":[3]}"#), json)
        XCTAssertTrue(json.contains(#""b":{"data_offsets":[6,10],"dtype":"I8","shape":[2,2]}"#), json)
        XCTAssertTrue(json.contains(#""c":{"data_offsets":[10,18],"dtype":"I32","shape":[2]}"#), json)
        // Little-endian data, in the order of the offsets.
        XCTAssertEqual(Array(bytes[(8 + header)..<(8 + header + 10)]), [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C, 0x80, 0xFF, 0x00, 0x7F])
        XCTAssertEqual(Array(bytes[(8 + header + 10)..<(8 + header + 18)]), [0xFB, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x10, 0x00])
        let parsed = try SafeTensorsFile.parse(bytes, path: "t")
        XCTAssertEqual(parsed.tensors, tensors)
        XCTAssertEqual(parsed.tensors["a"]!.values, [1, -2, .infinity])
        XCTAssertEqual(parsed.tensors["b"]!.values, [-128, -1, 0, 127])
        XCTAssertEqual(parsed.tensors["c"]!.integers, [-5, 1 << 20])
    }

    func testTensorSizesAreCheckedPerDType() throws {
        // 3 F16 values need 6 bytes; 4 bytes of offsets are refused, naming both.
        let header = #"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes[0] = UInt8(header.utf8.count)
        bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 8)
        XCTAssertThrowsError(try SafeTensorsFile.parse(bytes, path: "t")) { error in
            XCTAssertEqual("\(error)", "t: tensor 'a': shape [3] of F16 needs 6 bytes, offsets give 4")
        }
        let unknown = #"{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}"#
        var other = [UInt8](repeating: 0, count: 8)
        other[0] = UInt8(unknown.utf8.count)
        other += Array(unknown.utf8) + [0, 0]
        XCTAssertThrowsError(try SafeTensorsFile.parse(other, path: "t")) { error in
            XCTAssertEqual("\(error)", "t: tensor 'a': dtype BF16 is not supported (expected F32, F16, I8, I32)")
        }
    }

    // MARK: - model files

    func testPlainModelsCarryFP32AndKeepTheirMetadata() throws {
        let model = try ModelFileTests.syntheticModel()
        XCTAssertEqual(model.precisions, [.fp32])
        XCTAssertEqual(model.defaultPrecision, .fp32)
        XCTAssertEqual(model.runnablePrecisions, [.fp32, .fp16])
        XCTAssertEqual(model.metadata["precision"], "fp32")
        XCTAssertNil(model.metadata["precisions"])
        XCTAssertNil(model.metadata["layer_precisions"])
        XCTAssertEqual(try model.layerPrecisions(for: .fp16, path: "m"), [Precision](repeating: .fp16, count: model.architecture.convolutions.count))
        XCTAssertThrowsError(try model.layerPrecisions(for: .int8, path: "m.safetensors")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("m.safetensors carries no int8 calibration; run `nightjar quantize m.safetensors --calibrate"), text)
        }
    }

    func testQuantizedModelRoundTripsItsLayersAndScales() throws {
        let model = try ModelFileTests.syntheticModel()
        let specs = model.architecture.convolutions
        var precisions = [Precision](repeating: .int8, count: specs.count)
        precisions[specs.count - 1] = .fp16
        var layers: [Int: LayerQuantization] = [:]
        for (index, spec) in specs.enumerated() {
            layers[index] = LayerQuantization(
                quantizing: model.weights(spec), outChannels: spec.outChannels,
                input: .init(low: -0.5, high: Float(index + 1)), output: .init(low: -1, high: 2),
                residual: spec.name.hasSuffix(".fuse") ? .init(low: -3, high: 3) : nil)
        }
        let quantized = try model.quantized(layerPrecisions: precisions, layers: layers)
        XCTAssertEqual(quantized.precisions, [.fp32, .int8])
        XCTAssertEqual(quantized.defaultPrecision, .int8)
        let url = try makeTemporaryDirectory(self).appendingPathComponent("q.safetensors")
        try quantized.write(to: url)
        let file = try SafeTensorsFile.read(contentsOf: url)
        XCTAssertEqual(file.metadata["precision"], "int8")
        XCTAssertEqual(file.metadata["precisions"], "fp32,int8")
        XCTAssertEqual(file.metadata["layer_precisions"]?.split(separator: ",").last, "fp16")
        XCTAssertEqual(file.tensors["conv2x.weight_q"]?.dtype, .i8)
        XCTAssertEqual(file.tensors["conv2x.activation_zero_point"]?.dtype, .i32)
        XCTAssertNil(file.tensors["conv_2_8_32.weight_q"], "an fp16 layer carries no int8 numbers")
        let loaded = try NightjarModel.load(contentsOf: url)
        XCTAssertEqual(loaded.layerPrecisions, precisions)
        for (index, spec) in specs.enumerated().dropLast() {
            XCTAssertEqual(loaded.quantization(spec), layers[index], spec.name)
        }
        // Per-output-channel scales: the largest magnitude of each channel maps to ±127.
        let spec = specs[1], q = loaded.quantization(spec)!, w = model.weights(spec)
        let perChannel = spec.weightCount / spec.outChannels
        for oc in 0..<spec.outChannels {
            let slice = w[(oc * perChannel)..<((oc + 1) * perChannel)]
            XCTAssertEqual(q.weightScales[oc], slice.map(abs).max()! / 127)
            XCTAssertEqual(q.weights[(oc * perChannel)..<((oc + 1) * perChannel)].map { abs(Int($0)) }.max(), 127)
            for i in slice.indices { XCTAssertLessThanOrEqual(abs(Float(q.weights[i]) * q.weightScales[oc] - w[i]), q.weightScales[oc] / 2 * 1.0001) }
        }
        // The same numbers give the same bytes.
        XCTAssertEqual(try SafeTensorsFile(metadata: quantized.metadata, tensors: quantized.tensors).encoded(),
                       try Array(Data(contentsOf: url)))
    }

    func testDamagedQuantizationIsNamed() throws {
        let model = try ModelFileTests.syntheticModel()
        let specs = model.architecture.convolutions
        let precisions = [Precision](repeating: .int8, count: specs.count)
        let layers = Dictionary(uniqueKeysWithValues: specs.enumerated().map { index, spec in
            (index, LayerQuantization(quantizing: model.weights(spec), outChannels: spec.outChannels,
                                      input: .init(low: 0, high: 1), output: .init(low: 0, high: 1), residual: nil))
        })
        let quantized = try model.quantized(layerPrecisions: precisions, layers: layers)
        var tensors = quantized.tensors
        tensors["conv2x.weight_scale"] = .init(shape: [12], values: [Float](repeating: 0, count: 12))
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: quantized.metadata, tensors: tensors).withContentDigest(), path: "m")) { error in
            XCTAssertEqual("\(error)", "m: tensor 'conv2x': scale 0.0 is not a positive finite number")
        }
        tensors = quantized.tensors
        tensors["rdball.weight_q"] = nil
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: quantized.metadata, tensors: tensors).withContentDigest(), path: "m")) { error in
            XCTAssertEqual("\(error)", "m: tensor 'rdball.weight_q': missing (the layer is int8 in layer_precisions)")
        }
        var meta = quantized.metadata
        meta["layer_precisions"] = "int8,int8"
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: meta, tensors: quantized.tensors).withContentDigest(), path: "m")) { error in
            XCTAssertTrue("\(error)".contains("layer_precisions names 2 layers"), "\(error)")
        }
        meta = quantized.metadata
        meta["precision"] = "fp32"
        XCTAssertThrowsError(try NightjarModel(file: SafeTensorsFile(metadata: meta, tensors: quantized.tensors).withContentDigest(), path: "m")) { error in
            XCTAssertFalse("\(error)".contains("content digest"), "\(error)")
        }
    }

    // MARK: - graph and arena

    /// Every convolution reads and writes buffers of its own precision; conversions appear
    /// only where types change. A uniform FP16 network reads its input as binary16 (the source
    /// writes it so) and converts only at the FP32 output; a uniform int8 one converts the two
    /// input splits, the unshuffled 1/8 input for each of its two uses, and the output; an FP16
    /// network with one FP32 reader of the input keeps the input FP32.
    func testConversionsSitWhereTypesChange() {
        let architecture = Architecture.published
        let count = architecture.convolutions.count
        let fp32 = NetworkGraph(architecture: architecture)
        let fp16 = NetworkGraph(architecture: architecture, layerPrecisions: [Precision](repeating: .fp16, count: count))
        let int8 = NetworkGraph(architecture: architecture, layerPrecisions: [Precision](repeating: .int8, count: count))
        func copies(_ g: NetworkGraph) -> Int { g.steps.filter { if case .copy = $0 { return true }; return false }.count }
        func inputCopies(_ g: NetworkGraph) -> Int {
            g.steps.filter { if case .copy(let input, _, _) = $0, case .input = input.storage { return true }; return false }.count
        }
        XCTAssertEqual(copies(fp16) - copies(fp32), 1)
        XCTAssertEqual(copies(int8) - copies(fp32), 5)
        XCTAssertEqual([fp32, fp16, int8].map(\.inputPrecision), [.fp32, .fp16, .fp32])
        XCTAssertEqual([fp32, fp16, int8].map(inputCopies), [0, 0, 2])
        for graph in [fp32, fp16, int8] { assertOperandsMatch(graph) }
        for reader in ["conv32x.0", "conv2x", "resblock8x.conv1", "resblock8x.conv2"] {
            var precisions = [Precision](repeating: .fp16, count: count)
            precisions[architecture.convolutions.firstIndex { $0.name == reader }!] = .fp32
            let graph = NetworkGraph(architecture: architecture, layerPrecisions: precisions)
            XCTAssertEqual(graph.inputPrecision, .fp32, reader)
            assertOperandsMatch(graph)
        }
        // Alternating precisions: still consistent, and more conversions.
        let mixed = NetworkGraph(architecture: architecture, layerPrecisions: (0..<count).map { $0 % 2 == 0 ? .fp16 : .fp32 })
        assertOperandsMatch(mixed)
        XCTAssertGreaterThan(copies(mixed), copies(fp16))
    }

    private func assertOperandsMatch(_ graph: NetworkGraph, file: StaticString = #filePath, line: UInt = #line) {
        for step in graph.steps {
            switch step {
            case .convolution(let layer, let input, let output, let residual, _, _, _):
                let p = graph.layerPrecisions[layer]
                for slice in [input, output] + (residual.map { [$0] } ?? []) {
                    XCTAssertEqual(graph.precision(of: slice.storage), p, graph.convolutions[layer].name, file: file, line: line)
                }
            case .leakyReLU(let input, let output, _), .unshuffle(let input, _, _, let output):
                XCTAssertEqual(graph.precision(of: input.storage), graph.precision(of: output.storage), file: file, line: line)
            case .copy:
                break
            }
        }
    }

    /// The arena is planned in bytes of each buffer's type: FP16 windows take half of FP32's
    /// (the input's too), int8 a quarter; int8's input and output windows (and its FP32 1/8
    /// input) stay FP32, and every network's output window, so the whole shrinks less.
    func testArenaShrinksWithTheElementSize() throws {
        let architecture = Architecture.published
        let count = architecture.convolutions.count
        var bytes: [Precision: Int] = [:]
        for precision in Precision.allCases {
            let graph = NetworkGraph(architecture: architecture, layerPrecisions: [Precision](repeating: precision, count: count))
            let schedule = StreamSchedule(graph: graph, bands: .init())
            let rows = try schedule.windowRows(height: 1024, width: 1536)
            for buffer in 0..<schedule.bufferCount {
                XCTAssertEqual(schedule.windowBytes(buffer, rows: rows[buffer], width: 1536),
                               rows[buffer] * 1536 / schedule.bufferDivisor[buffer] * schedule.bufferChannels[buffer]
                                   * schedule.bufferPrecisions[buffer].elementBytes)
            }
            bytes[precision] = (0..<schedule.bufferCount).reduce(0) { $0 + schedule.windowBytes($1, rows: rows[$1], width: 1536) }
        }
        print("window bytes at 1536x1024: fp32 \(bytes[.fp32]!), fp16 \(bytes[.fp16]!), int8 \(bytes[.int8]!)")
        // (At 1536x1024: 5.68, 3.13 and 2.88 MB.)
        XCTAssertLessThan(Double(bytes[.fp16]!), 0.6 * Double(bytes[.fp32]!))
        XCTAssertLessThan(Double(bytes[.int8]!), 0.95 * Double(bytes[.fp16]!))
    }

    // MARK: - element conversions

    /// FP16 LeakyReLU over every binary16 value, under flush-to-zero and denormals-are-zero
    /// as the pool threads run it, against the IEEE result (x · slope rounded to the nearest
    /// binary16, computed here in the default mode). Swift's own Float16 conversions follow
    /// MXCSR and passed negative subnormals through unscaled there. NaNs: any NaN.
    func testFP16LeakyReLUIsIEEEUnderFlushToZero() {
        let inputs = (0...UInt16.max).map { $0 }
        let slope: Float = 0.2
        let expected = inputs.map { b -> UInt16 in
            let x = Float(Float16(bitPattern: b))
            return Float16(x < 0 ? x * slope : x).bitPattern
        }
        var output = [UInt16](repeating: 0, count: inputs.count)
        var saved = fenv_t()
        fegetenv(&saved)
        #if arch(x86_64)
        var flushing = saved
        flushing.__mxcsr |= 0x8040  // FTZ | DAZ
        fesetenv(&flushing)
        #endif
        inputs.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                ElementRows.leakyReLU(source.baseAddress!, to: target.baseAddress!, ElementType(precision: .fp16, quantization: nil),
                                      count: inputs.count, slope: slope)
            }
        }
        fesetenv(&saved)
        var differing = 0
        for (b, (have, want)) in zip(inputs, zip(output, expected)) {
            let isNaN = Float16(bitPattern: b).isNaN
            if isNaN ? !Float16(bitPattern: have).isNaN : have != want {
                differing += 1
                if differing <= 5 { XCTFail("binary16 \(String(b, radix: 16)): \(String(have, radix: 16)), expected \(String(want, radix: 16))") }
            }
        }
        XCTAssertEqual(differing, 0)
    }

    func testElementConversionsRoundAndSaturate() {
        let q = ActivationQuantization(scale: 0.5, zeroPoint: -10)
        let values: [Float] = [0, 0.25, 0.75, -0.25, 1000, -1000, .nan, 3]
        var int8 = [Int8](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { s in
            int8.withUnsafeMutableBytes { ElementRows.store(s.baseAddress!, to: $0.baseAddress!, .init(precision: .int8, quantization: q), count: values.count) }
        }
        // Round half to even (0.25 / 0.5 = 0.5 -> 0, 1.5 -> 2, -0.5 -> 0), saturation, NaN -> zero point.
        XCTAssertEqual(int8, [-10, -10, -8, -10, 127, -128, -10, -4])
        var back = [Float](repeating: 0, count: values.count)
        int8.withUnsafeBytes { s in
            back.withUnsafeMutableBufferPointer { ElementRows.load(s.baseAddress!, .init(precision: .int8, quantization: q), into: $0.baseAddress!, count: values.count) }
        }
        XCTAssertEqual(back, [0, 0, 1, 0, 68.5, -59, 0, 3])
        // FP32 -> FP16 -> int8 with another encoding goes through FP32.
        let halves: [UInt16] = [Float16(1.5).bitPattern, Float16(-2).bitPattern]
        var out = [Int8](repeating: 0, count: 2)
        halves.withUnsafeBytes { s in
            out.withUnsafeMutableBytes {
                ElementRows.convert(s.baseAddress!, .init(precision: .fp16), to: $0.baseAddress!, .init(precision: .int8, quantization: q), count: 2)
            }
        }
        XCTAssertEqual(out, [-7, -14])
    }
}
