import Foundation
@testable import Nightjar
import XCTest

/// An int8 restore holds the decoded frame as 8-bit codes (`MosaicCodebook`, 1 byte per pixel)
/// instead of raw values: the codebook against values computed here from its definition, and
/// restores from codes against restores from the 16-bit mosaic.
final class MosaicCodesTests: XCTestCase {
    private func build(_ counts: [UInt32]) -> (count: Int, values: [Double], codeOf: [UInt8]) {
        let maxRaw = counts.count - 1
        var values = [Double](repeating: .nan, count: 256), lasts = [Int](repeating: 0, count: 256)
        var codeOf = [UInt8](repeating: 0, count: counts.count)
        let count = MosaicCodebook.build(counts: counts, maxRaw: maxRaw, values: &values, lasts: &lasts, codeOf: &codeOf)
        return (count, values, codeOf)
    }

    /// At most 256 distinct values: each keeps a code that stands for the value itself; values
    /// the site does not have take the nearer neighbour's code.
    func testEveryValueKeepsItsOwnCodeWhenASiteHasAtMost256() {
        var counts = [UInt32](repeating: 0, count: 4096)
        var state: UInt32 = 3
        var present: [Int] = []
        for k in 0..<256 {
            state = state &* 1_664_525 &+ 1_013_904_223
            let raw = k * 16 + Int(state >> 28)
            counts[raw] = 1 + (state >> 20) % 1000
            present.append(raw)
        }
        let (count, values, codeOf) = build(counts)
        XCTAssertEqual(count, 256)
        for (k, raw) in present.enumerated() {
            XCTAssertEqual(values[k], Double(raw))
            XCTAssertEqual(Int(codeOf[raw]), k)
        }
        for raw in 0..<counts.count where counts[raw] == 0 {
            let nearest = present.map { abs(Double($0 - raw)) }.min()!
            XCTAssertEqual(abs(values[Int(codeOf[raw])] - Double(raw)), nearest, "raw \(raw)")
        }
    }

    /// A dark frame's histogram (a crowd of values just above black, sparse highlights up to
    /// 14 bits): 256 codes in raw order, each standing for the mean of the values that take it,
    /// the crowded values kept exact, and a squared error far below 256 even steps'.
    func testNeighboursOfADarkHistogramAreMerged() {
        let maxRaw = 16383
        var counts = [UInt32](repeating: 0, count: maxRaw + 1)
        for raw in 480...maxRaw {
            counts[raw] = UInt32(1e6 * exp(-Double(abs(raw - 540)) / 40)) + (raw % 97 == 0 ? 1 : 0)
        }
        let (count, values, codeOf) = build(counts)
        XCTAssertEqual(count, 256)
        var sums = [Double](repeating: 0, count: 256), n = [Double](repeating: 0, count: 256)
        var last = 0
        for raw in 0...maxRaw {
            XCTAssertGreaterThanOrEqual(Int(codeOf[raw]), last, "codes follow raw order")
            last = Int(codeOf[raw])
            guard counts[raw] > 0 else { continue }
            sums[last] += Double(counts[raw]) * Double(raw)
            n[last] += Double(counts[raw])
        }
        for k in 0..<256 where n[k] > 0 {
            XCTAssertEqual(values[k], sums[k] / n[k], accuracy: 1e-9 * values[k], "code \(k)")
        }
        for raw in 520...560 { XCTAssertEqual(values[Int(codeOf[raw])], Double(raw), "crowded value \(raw) kept exact") }
        var error = 0.0, uniformError = 0.0
        let step = Double(maxRaw - 480) / 256
        for raw in 480...maxRaw where counts[raw] > 0 {
            let c = Double(counts[raw]), v = Double(raw)
            error += c * (v - values[Int(codeOf[raw])]) * (v - values[Int(codeOf[raw])])
            let uniform = 480 + (min(floor((v - 480) / step), 255) + 0.5) * step
            uniformError += c * (v - uniform) * (v - uniform)
        }
        XCTAssertLessThan(error, uniformError / 1000, "error \(error) against even steps' \(uniformError)")
    }

    private func restore(_ input: URL, ratio: Double, engine: FrameEngine, codes: Bool, isolated: Bool, in directory: URL,
                         color: ColorMode = .camera) throws -> [UInt8] {
        var options = RestoreOptions(amplification: ratio)
        options.color = color
        options.isolateDecoder = isolated
        options.compressionLevel = 0
        options.overwrite = true
        let output = directory.appendingPathComponent("\(input.lastPathComponent)-\(codes)-\(isolated)-\(color.rawValue).png")
        _ = try restoreCapture(input: input, output: output, options: options, modelName: "m", network: engine,
                               workspace: CaptureWorkspace(pngThreads: 2, mosaicCodes: codes))
        return try PNGReader.readRGB8(output).pixels
    }

    /// The amplifier from the codes' first pass (the histogram counted while the decoder's rows
    /// go by) is the one from the 16-bit mosaic's histogram, to the last bit: the same counts,
    /// summed in the same order. A frame of far more than 256 values per site, of odd size with
    /// a CFA off RGGB (the aligned area drops a row and a column), decoded in process and in
    /// the isolated child.
    func testCodesAmplifierIsTheSixteenBitMosaics() throws {
        let directory = try makeTemporaryDirectory(self)
        var many = SyntheticScene.Exposure(cfa: .grbg, bits: 14, exposureRatio: 8)
        many.seed = 9
        let url = try CaptureFixtures.write(SyntheticScene.darkCapture(SyntheticScene.render(width: 191, height: 127), exposure: many),
                                            named: "odd.dng", in: directory)
        let engine = try FrameEngine(model: Int8EngineTests.int8Model(), threads: 2, precision: .int8)
        func amplification(codes: Bool, isolated: Bool) throws -> Double {
            var options = RestoreOptions()
            options.compressionLevel = 0
            options.overwrite = true
            options.isolateDecoder = isolated
            return try restoreCapture(input: url, output: directory.appendingPathComponent("auto.png"), options: options, modelName: "m",
                                      network: engine, workspace: CaptureWorkspace(pngThreads: 2, mosaicCodes: codes)).amplification
        }
        let automatic = try amplification(codes: false, isolated: true)
        XCTAssertNotEqual(automatic, 1, "the amplifier ran")
        XCTAssertEqual(try amplification(codes: true, isolated: false), automatic)
        XCTAssertEqual(try amplification(codes: true, isolated: true), automatic)
    }

    /// Through `restore` with an int8 network and camera colour: a frame whose sites have at
    /// most 256 raw values gives the same image from codes as from the 16-bit mosaic, with the
    /// isolated decoder (read twice from the child) and in process; a 14-bit frame with more
    /// values stays close.
    func testInt8RestoreFromCodesMatchesTheSixteenBitMosaic() throws {
        let engine = try FrameEngine(model: Int8EngineTests.int8Model(), threads: 2, precision: .int8)
        XCTAssertEqual(engine.precision, .int8)
        let directory = try makeTemporaryDirectory(self)
        let scene = SyntheticScene.render(width: 190, height: 126)
        var few = SyntheticScene.Exposure(cfa: .gbrg, bits: 10, exposureRatio: 6)
        few.seed = 5
        let fewURL = try CaptureFixtures.write(SyntheticScene.darkCapture(scene, exposure: few), named: "few.dng", in: directory)
        func valuesPerSite(_ url: URL) throws -> [Int] {
            let frame = try RawDecoder().decode(url)
            return (0..<4).map { site in
                var seen = Set<UInt16>()
                for y in stride(from: site / 2, to: frame.height, by: 2) {
                    for x in stride(from: site % 2, to: frame.width, by: 2) { seen.insert(frame.mosaic[y * frame.width + x]) }
                }
                return seen.count
            }
        }
        let fewValues = try valuesPerSite(fewURL)
        XCTAssertTrue(fewValues.allSatisfy { 50...256 ~= $0 }, "the frame must have 50-256 values per site: \(fewValues)")
        let reference = try restore(fewURL, ratio: 6, engine: engine, codes: false, isolated: true, in: directory)
        XCTAssertTrue(try restore(fewURL, ratio: 6, engine: engine, codes: true, isolated: true, in: directory) == reference)
        XCTAssertTrue(try restore(fewURL, ratio: 6, engine: engine, codes: true, isolated: false, in: directory) == reference)

        var many = SyntheticScene.Exposure(cfa: .rggb, bits: 14, exposureRatio: 8)
        many.seed = 6
        let manyURL = try CaptureFixtures.write(SyntheticScene.darkCapture(scene, exposure: many), named: "many.dng", in: directory)
        XCTAssertGreaterThan(try valuesPerSite(manyURL).max()!, 1000, "the frame must have far more than 256 values")
        // What the codes change is the network's input: its output (network colour) differs by
        // what this random-weight int8 network makes of the codes' steps, 38.3 dB. Camera colour
        // takes its detail from that output and stays as close (38.8 dB; 48.7 dB when the
        // guided filter ran at half scale and let less of the network's luminance through).
        let a = try restore(manyURL, ratio: 8, engine: engine, codes: false, isolated: true, in: directory).map { Float($0) / 255 }
        let b = try restore(manyURL, ratio: 8, engine: engine, codes: true, isolated: true, in: directory).map { Float($0) / 255 }
        let psnr = ReducedPrecisionTests.psnr(b, a)
        let an = try restore(manyURL, ratio: 8, engine: engine, codes: false, isolated: true, in: directory, color: .network).map { Float($0) / 255 }
        let bn = try restore(manyURL, ratio: 8, engine: engine, codes: true, isolated: true, in: directory, color: .network).map { Float($0) / 255 }
        let networkPSNR = ReducedPrecisionTests.psnr(bn, an)
        print(String(format: "int8 restore of a 14-bit frame from codes against the 16-bit mosaic: %.2f dB (network colour %.2f dB)", psnr, networkPSNR))
        XCTAssertGreaterThanOrEqual(networkPSNR, 37)
        XCTAssertGreaterThanOrEqual(psnr, networkPSNR, "camera colour adds no difference of its own")
        XCTAssertGreaterThan(a.reduce(0, +) / Float(a.count), 0.02, "a real image, not a black one")
    }
}
