import Foundation
import XCTest
@testable import Nightjar
import NightjarKernels

/// The pipeline steps of REFERENCE.md §3 on small hand-made inputs.
final class CapturePipelineTests: XCTestCase {
    func testReflectIndexMatchesNumpyReflect() {
        // np.pad(np.arange(n), (0, k), 'reflect').tolist()
        XCTAssertEqual((0..<17).map { CapturePipeline.reflectIndex($0, count: 5) },
                       [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0])
        XCTAssertEqual((0..<9).map { CapturePipeline.reflectIndex($0, count: 2) }, [0, 1, 0, 1, 0, 1, 0, 1, 0])
        XCTAssertEqual((0..<4).map { CapturePipeline.reflectIndex($0, count: 1) }, [0, 0, 0, 0])
        // Parity (the CFA phase) is kept for even lengths.
        for n in stride(from: 2, through: 40, by: 2) {
            for i in 0..<100 { XCTAssertEqual(CapturePipeline.reflectIndex(i, count: n) & 1, i & 1) }
        }
    }

    func testPaddedLengthAndAlignment() {
        XCTAssertEqual(FramePadding.paddedLength(32), 32)
        XCTAssertEqual(FramePadding.paddedLength(33), 64)
        XCTAssertEqual(FramePadding.paddedLength(750), 768)
        XCTAssertEqual(FramePadding.paddedLength(500), 512)
        let bggr = CapturePipeline.alignedSize(width: 770, height: 514, offset: CFAPattern.bggr.rggbOffset)
        XCTAssertEqual(bggr.width, 768)
        XCTAssertEqual(bggr.height, 512)
        let grbg = CapturePipeline.alignedSize(width: 11, height: 9, offset: CFAPattern.grbg.rggbOffset)
        XCTAssertEqual(grbg.width, 10) // drop first column: 10, already even
        XCTAssertEqual(grbg.height, 8) // drop the trailing row
        XCTAssertEqual(CFAPattern.gbrg.rggbOffset.dy, 1)
        XCTAssertEqual(CFAPattern.gbrg.rggbOffset.dx, 0)
    }

    func testBinsAndAmplifier() {
        let edges = CapturePipeline.binEdges, weights = CapturePipeline.binWeights
        XCTAssertEqual(edges.count, 128)
        XCTAssertEqual(weights.count, 127)
        XCTAssertEqual(edges[0], 0)
        XCTAssertEqual(edges[127], 1, accuracy: 1e-15)
        XCTAssertEqual(weights[0], 1)
        XCTAssertEqual(weights[126], 1e-5, accuracy: 1e-18)
        XCTAssertEqual(CapturePipeline.binWeight(0), 1)
        XCTAssertEqual(CapturePipeline.binWeight(edges[1]), weights[1]) // lower edge inclusive
        XCTAssertEqual(CapturePipeline.binWeight(edges[1].nextDown), weights[0])
        XCTAssertEqual(CapturePipeline.binWeight(1.0), 0) // [e0, e127) only
        XCTAssertEqual(CapturePipeline.binWeight(-1e-9), 0)

        // A uniform frame: a = m · 0.01 / x.
        let x: Float = 0.001
        XCTAssertEqual(CapturePipeline.amplification(of: [Float](repeating: x, count: 100), m: 5),
                       5 * 0.01 / Double(x), accuracy: 1e-9)
        // Two bins: a = m · 0.01 · (w_i n_i + w_j n_j) / (w_i n_i x_i + w_j n_j x_j).
        let xs: [Float] = [0.002, 0.002, 0.05]
        let wi = CapturePipeline.binWeight(Double(xs[0])), wj = CapturePipeline.binWeight(Double(xs[2]))
        let expected = 0.05 * (2 * wi + wj) / (2 * wi * Double(xs[0]) + wj * Double(xs[2]))
        XCTAssertEqual(CapturePipeline.amplification(of: xs, m: 5), expected, accuracy: expected * 1e-12)
        // Clamping.
        XCTAssertEqual(CapturePipeline.amplification(of: [Float](repeating: 0, count: 10)), 300)
        XCTAssertEqual(CapturePipeline.amplification(of: [Float](repeating: 0.9, count: 10)), 1)
        XCTAssertEqual(CapturePipeline.amplification(of: [Float](repeating: 1, count: 10)), 1)
    }

    /// The histogram and maximum taken while the decoder's rows come in (the restore path's:
    /// this thread reading the next band while the pool's workers count the last, by row
    /// parity) against the histogram counted pixel by pixel and the mosaic's maximum, for every
    /// CFA layout and odd sizes: the maximum lies outside the aligned area (a dropped edge row
    /// or column), inside it at either parity, or is 0 (a black frame); bands of 1, 2, 3 rows
    /// and the whole frame, into the two halves of a ring as the codes take them; with and
    /// without a pool. Every band is read once, in order, and counted from where it was put.
    func testHistogramWhileFillingOverThePool() throws {
        let pool = try XCTUnwrap(nj_threadpool_create(2))
        defer { nj_threadpool_destroy(pool) }
        var counts = [UInt32](repeating: 0, count: 4 * 65536)
        var state: UInt32 = 5
        for cfa in CFAPattern.allCases {
            for (width, height) in [(37, 23), (64, 48), (2, 2), (3, 1), (1, 5)] {
                for peak in ["edge", "even", "odd", "black"] {
                    var mosaic = (0..<(width * height)).map { _ -> UInt16 in
                        state = state &* 1_664_525 &+ 1_013_904_223
                        return peak == "black" ? 0 : UInt16(state >> 22)
                    }
                    let offset = cfa.rggbOffset
                    let size = CapturePipeline.alignedSize(width: width, height: height, offset: offset)
                    switch peak {
                    case "edge": mosaic[width * height - 1] = 65535  // the last pixel: outside unless the size is even
                    case "even" where size.width > 0 && size.height > 0: mosaic[offset.dy * width + offset.dx] = 60000
                    case "odd" where size.width > 0 && size.height > 1: mosaic[(offset.dy + 1) * width + offset.dx + 1] = 50000
                    default: break
                    }
                    var expected = [UInt32](repeating: 0, count: 4 * 65536)
                    for y in 0..<size.height {
                        for x in 0..<size.width {
                            expected[((y & 1) * 2 + (x & 1)) * 65536 + Int(mosaic[(offset.dy + y) * width + offset.dx + x])] += 1
                        }
                    }
                    for bandRows in [1, 2, 3, height] {
                        // Poison in the ring: a band counted from anywhere but where it was read shows.
                        var ring = [UInt16](repeating: 65534, count: 2 * bandRows * width)
                        for threads in [pool, nil] {
                            counts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                            var read: [Range<Int>] = []
                            let largest = try ring.withUnsafeMutableBufferPointer { ring in
                                try counts.withUnsafeMutableBufferPointer { counts in
                                    try CapturePipeline.histogramWhileFilling(
                                        width: width, height: height, cfa: cfa, bandRows: bandRows, counts: counts.baseAddress!,
                                        pool: threads, place: { ring.baseAddress! + ($0.lowerBound / bandRows & 1) * bandRows * width },
                                        fill: { rows, into in
                                            read.append(rows)
                                            for (i, y) in rows.enumerated() {
                                                for x in 0..<width { into[i * width + x] = mosaic[y * width + x] }
                                            }
                                        })
                                }
                            }
                            let label = "\(cfa) \(width)x\(height) \(peak) bands of \(bandRows) \(threads == nil ? "alone" : "pool")"
                            XCTAssertEqual(largest, Int(mosaic.max()!), label)
                            XCTAssertTrue(counts == expected, label)
                            XCTAssertEqual(read, stride(from: 0, to: height, by: bandRows).map { $0..<min($0 + bandRows, height) }, label)
                        }
                    }
                }
            }
        }
    }

    /// The aligned area's histogram per site against a count pixel by pixel, for every CFA
    /// layout and odd frame sizes (the aligned area then drops a row and a column).
    func testHistogramCountsEverySiteOfTheAlignedArea() {
        var state: UInt32 = 11
        for cfa in CFAPattern.allCases {
            for (width, height) in [(37, 23), (64, 48), (2, 2)] {
                let maxRaw = 200
                // Values bunched near black, as in a dark frame, and spread out.
                let mosaic = (0..<(width * height)).map { i -> UInt16 in
                    state = state &* 1_664_525 &+ 1_013_904_223
                    return UInt16(i % 3 == 0 ? 60 + (state >> 29) : (state >> 8) % UInt32(maxRaw + 1))
                }
                let offset = cfa.rggbOffset
                let size = CapturePipeline.alignedSize(width: width, height: height, offset: offset)
                var expected = [UInt32](repeating: 0, count: 4 * (maxRaw + 1))
                for y in 0..<size.height {
                    for x in 0..<size.width {
                        let site = (y & 1) * 2 + (x & 1)
                        expected[site * (maxRaw + 1) + Int(mosaic[(offset.dy + y) * width + offset.dx + x])] += 1
                    }
                }
                var counts = [UInt32](repeating: 7, count: 4 * (maxRaw + 1))
                mosaic.withUnsafeBufferPointer { mosaic in
                    counts.withUnsafeMutableBufferPointer {
                        CapturePipeline.histogram(mosaic: mosaic, width: width, height: height, cfa: cfa, maxRaw: maxRaw, counts: $0.baseAddress!)
                    }
                }
                XCTAssertEqual(counts, expected, "\(cfa) \(width)x\(height)")
                XCTAssertEqual(counts.reduce(0, +), UInt32(size.width * size.height))
            }
        }
    }

    func testQuantisation() {
        XCTAssertEqual(CapturePipeline.quantise8(0), 0)
        XCTAssertEqual(CapturePipeline.quantise8(1), 255)
        XCTAssertEqual(CapturePipeline.quantise8(2), 255)
        XCTAssertEqual(CapturePipeline.quantise8(-1), 0)
        XCTAssertEqual(CapturePipeline.quantise8(.nan), 0)
        XCTAssertEqual(CapturePipeline.quantise8(0.5 / 255), 1) // rounds half up
        XCTAssertEqual(CapturePipeline.quantise8(0.49 / 255), 0)
        XCTAssertEqual(CapturePipeline.quantise8(100.0 / 255), 100)
        XCTAssertEqual(CapturePipeline.quantise16(1), 65535)
        XCTAssertEqual(CapturePipeline.quantise16(0.5), 32768)
        XCTAssertEqual(CapturePipeline.quantise16(.infinity), 65535)
        for v in stride(from: 0, through: 65535, by: 97) {
            XCTAssertEqual(CapturePipeline.quantise16(Float(Double(v) / 65535)), UInt16(v))
        }
        // The documented floor formula, on a dense sweep that crosses every rounding boundary.
        var mismatches = 0
        for i in -1000...201_000 {
            let y = Float(i) / 200_000
            let c = y > 0 ? min(y, 1) : 0
            if CapturePipeline.quantise8(y) != UInt8((c * 255 + 0.5).rounded(.down)) { mismatches += 1 }
            if CapturePipeline.quantise16(y) != UInt16(min((c * 65535 + 0.5).rounded(.down), 65535)) { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testOrientationMapping() {
        // Source 2 rows x 3 columns:  a b c / d e f
        let source = ["a", "b", "c", "d", "e", "f"]
        func oriented(_ flip: Int) -> [String] {
            let size = CapturePipeline.orientedSize(width: 3, height: 2, flip: flip)
            var out: [String] = []
            for r in 0..<size.height {
                for c in 0..<size.width {
                    let s = CapturePipeline.sourcePixel(row: r, col: c, width: 3, height: 2, flip: flip)
                    out.append(source[s.row * 3 + s.col])
                }
            }
            return out
        }
        XCTAssertEqual(oriented(0), ["a", "b", "c", "d", "e", "f"])
        XCTAssertEqual(oriented(3), ["f", "e", "d", "c", "b", "a"]) // 180°
        XCTAssertEqual(oriented(6), ["d", "a", "e", "b", "f", "c"]) // 90° clockwise: 3 rows x 2
        XCTAssertEqual(oriented(5), ["c", "f", "b", "e", "a", "d"]) // 90° counter-clockwise
        XCTAssertEqual(CapturePipeline.orientedSize(width: 3, height: 2, flip: 6).width, 2)
    }

    func testNetworkInputIsAmplifiedAndReflectPadded() {
        // GBRG 7 wide x 5 high: drop the first row, then width 7 -> 6, height 4.
        let width = 7, height = 5
        let mosaic = (0..<(width * height)).map { UInt16(100 + $0) }
        let frame = BayerFrame(width: width, height: height, mosaic: mosaic, cfa: .gbrg,
                               black: [100, 100, 100, 100], white: 1100)
        let padded = CapturePipeline.networkInput(frame, amplification: 3)
        XCTAssertEqual(padded.width, 32)
        XCTAssertEqual(padded.height, 32)
        for r in 0..<32 {
            for c in 0..<32 {
                let sr = CapturePipeline.reflectIndex(r, count: 4) + 1, sc = CapturePipeline.reflectIndex(c, count: 6)
                let x = Float(Double(mosaic[sr * width + sc]) - 100) / 1000
                XCTAssertEqual(padded.values[r * 32 + c], x * 3, accuracy: 1e-6)
            }
        }
    }

    /// The split inputs the sources write are unshuffle(unshuffle(mosaic, 2), s) of REFERENCE.md
    /// §1, computed here from the definition, for every split and for pairs handed out in
    /// pieces that do not align with rows of the split input (as the engine's threads do); in
    /// binary16 they are those values rounded once by the bulk conversion.
    func testSourcesWriteTheUnshuffledInput() {
        let width = 7, height = 5
        let mosaic = (0..<(width * height)).map { UInt16(100 + ($0 * 37) % 900) }
        let frame = BayerFrame(width: width, height: height, mosaic: mosaic, cfa: .gbrg, black: [90, 100, 110, 120], white: 1100)
        let padded = CapturePipeline.networkInput(frame, amplification: 3)
        let rows = NetworkInputRows(frame: frame, amplification: 3)
        let (w, h) = (padded.width, padded.height)
        for split in [1, 2, 4, 16] {
            let r = 2 * split, pw = w / r, ph = h / r, plane = pw * ph
            // unshuffle by 2: channel 2ci + cj at (Y, X) is mosaic (2Y + ci, 2X + cj); then by
            // split: channel c·s² + i·s + j at (y, x) is channel c at (s·y + i, s·x + j).
            var expected = [Float](repeating: 0, count: 4 * split * split * plane)
            for c in 0..<4 {
                for i in 0..<split {
                    for j in 0..<split {
                        for y in 0..<ph {
                            for x in 0..<pw {
                                let row = 2 * (split * y + i) + c / 2, col = 2 * (split * x + j) + c % 2
                                expected[((c * split + i) * split + j) * plane + y * pw + x] = padded.values[row * w + col]
                            }
                        }
                    }
                }
            }
            var planar = [Float](repeating: .nan, count: expected.count), capture = planar
            let pieces = [0..<3, 3..<5, 5..<(h / 2)].filter { !$0.isEmpty }
            padded.values.withUnsafeBufferPointer { m in
                planar.withUnsafeMutableBufferPointer { out in
                    for pairs in pieces {
                        PlanarInput(base: m.baseAddress!).fill(pairs: pairs, split: split, into: out.baseAddress! + pairs.lowerBound / split * pw,
                                                              channelStride: plane, width: pw)
                    }
                }
            }
            frame.mosaic.withUnsafeBufferPointer { m in
                capture.withUnsafeMutableBufferPointer { out in
                    for pairs in pieces {
                        rows.fill(pairs: pairs, split: split, into: out.baseAddress! + pairs.lowerBound / split * pw, channelStride: plane, mosaic: m)
                    }
                }
            }
            XCTAssertEqual(planar, expected, "split \(split)")
            XCTAssertEqual(capture, expected, "split \(split)")

            var expectedHalf = [UInt16](repeating: 0, count: expected.count)
            nj_f32_to_f16(expected, &expectedHalf, expected.count)
            XCTAssertGreaterThan(zip(expected, expectedHalf).filter { Float(Float16(bitPattern: $1)) != $0 }.count, expected.count / 2,
                                 "most values are rounded (the test would not see a missing rounding otherwise)")
            var planarHalf = [UInt16](repeating: 0xffff, count: expected.count), captureHalf = planarHalf
            func halfPlanes(_ out: UnsafeMutableBufferPointer<UInt16>, _ pairs: Range<Int>) -> NetworkInputPlanes {
                NetworkInputPlanes(base: UnsafeMutableRawPointer(out.baseAddress! + pairs.lowerBound / split * pw), element: .fp16,
                                   channelStride: plane, width: pw)
            }
            padded.values.withUnsafeBufferPointer { m in
                planarHalf.withUnsafeMutableBufferPointer { out in
                    for pairs in pieces { PlanarInput(base: m.baseAddress!).fill(pairs: pairs, split: split, into: halfPlanes(out, pairs)) }
                }
            }
            frame.mosaic.withUnsafeBufferPointer { m in
                captureHalf.withUnsafeMutableBufferPointer { out in
                    for pairs in pieces {
                        MosaicRowSource(input: rows, mosaic: MosaicView(raw: m.baseAddress!)).fill(pairs: pairs, split: split,
                                                                                                into: halfPlanes(out, pairs))
                    }
                }
            }
            XCTAssertEqual(planarHalf, expectedHalf, "split \(split), binary16")
            XCTAssertEqual(captureHalf, expectedHalf, "split \(split), binary16")
        }
    }

    func testPNGTextValuesStayASCII() {
        XCTAssertEqual(PNGRowWriter.textValue("plain {\"a\": 1}"), "plain {\"a\": 1}")
        XCTAssertEqual(PNGRowWriter.textValue("nuit-é.dng"), "nuit-\\u{E9}.dng")
        XCTAssertEqual(PNGRowWriter.textValue("tab\there"), "tab\\u{9}here")
    }

    /// The share of the input above a limit, from the aligned area's histogram, against the
    /// normalised aligned values times the amplification counted one by one: a frame whose
    /// CFA starts off RGGB (the aligned area drops a row or column) with a black level per site,
    /// so each value must be read through its own site's table.
    func testShareAboveALimitCountsTheAlignedInput() {
        let width = 9, height = 7
        let mosaic = (0..<(width * height)).map { UInt16(100 + ($0 * 211) % 1000) }
        for cfa in [CFAPattern.rggb, .gbrg, .grbg, .bggr] {
            let frame = BayerFrame(width: width, height: height, mosaic: mosaic, cfa: cfa, black: [90, 300, 110, 500], white: 1100)
            let values = CapturePipeline.normalisedAligned(frame).values
            let maxRaw = Int(mosaic.max()!)
            let table = CapturePipeline.normalisationTable(black: frame.black, white: frame.white, maxRaw: maxRaw)
            var counts = [UInt32](repeating: 7, count: 4 * (maxRaw + 1))
            mosaic.withUnsafeBufferPointer {
                CapturePipeline.histogram(mosaic: $0, width: width, height: height, cfa: cfa, maxRaw: maxRaw, counts: &counts)
            }
            var shares: Set<Double> = []
            for (limit, amplification) in [(Float(0.5), 1.0), (1, 2.5), (2, 2.5), (0.7, 3), (100, 3), (0, 1)] {
                let expected = Double(values.filter { $0 * Float(amplification) > limit }.count) / Double(values.count)
                let share = CapturePipeline.share(above: limit, counts: counts, countsStride: maxRaw + 1, offset: cfa.rggbOffset,
                                                  maxRaw: maxRaw, table: table, amplification: amplification)
                XCTAssertEqual(share, expected, "\(cfa), limit \(limit), amplification \(amplification)")
                shares.insert(share)
            }
            XCTAssertGreaterThanOrEqual(shares.count, 4, "the cases must give different shares: \(shares.sorted())")
        }
    }
}
