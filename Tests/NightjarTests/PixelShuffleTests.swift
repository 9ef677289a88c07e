import NightjarKernels
import XCTest

final class PixelShuffleTests: XCTestCase {
    /// Unshuffle follows REFERENCE.md §1: channel c*r*r + i*r + j at (y, x) is channel c at
    /// (y*r + i, x*r + j); shuffle is its exact inverse.
    func testUnshuffleChannelOrderAndRoundTrip() {
        // 2 and 4 have their own loops, 3 takes the general one.
        for (c, h, w, r) in [(2, 8, 12, 4), (3, 6, 10, 2), (2, 9, 6, 3), (1, 16, 32, 16)] {
            let input = (0..<(c * h * w)).map { Float($0) }
            var packed = [Float](repeating: -1, count: input.count)
            nj_f32_pixel_unshuffle_scalar(input, h * w, Int32(h), Int32(c), Int32(w), Int32(r), 0, Int32(h / r),
                                          &packed, (h / r) * (w / r), Int32(h / r))
            let (oh, ow) = (h / r, w / r)
            for ch in 0..<c { for i in 0..<r { for j in 0..<r { for y in 0..<oh { for x in 0..<ow {
                let got = packed[((ch * r * r + i * r + j) * oh + y) * ow + x]
                XCTAssertEqual(got, input[(ch * h + y * r + i) * w + x * r + j], "r \(r)")
            } } } } }
            var back = [Float](repeating: -1, count: input.count)
            nj_f32_pixel_shuffle_scalar(packed, oh * ow, Int32(oh), Int32(c * r * r), Int32(ow), Int32(r), 0, Int32(oh),
                                        &back, h * w, Int32(h))
            XCTAssertEqual(back, input, "r \(r)")
        }
    }

    /// The element-size forms (int8, binary16, FP32, 8 bytes) move elements as the index formula
    /// says, including widths that leave a tail after any vector loop (bytes by 4 have a loop of
    /// their own); shuffle takes them back.
    func testEveryElementSizeUnshufflesByTheFormula() {
        for size in [1, 2, 4, 8] {
            for (c, h, w, r) in [(2, 8, 4 * 37, 4), (4, 4, 4 * 67, 4), (3, 6, 10, 2), (2, 9, 6, 3), (1, 16, 32, 16)] {
                let (oh, ow) = (h / r, w / r)
                let input = (0..<(c * h * w * size)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 / 253) }
                var packed = [UInt8](repeating: 0xEE, count: input.count)
                input.withUnsafeBytes { src in
                    packed.withUnsafeMutableBytes { dst in
                        nj_pixel_unshuffle_scalar(size, src.baseAddress, h * w, Int32(h), Int32(c), Int32(w), Int32(r), 0, Int32(oh),
                                                  dst.baseAddress, oh * ow, Int32(oh))
                    }
                }
                var mismatches = 0
                for ch in 0..<c { for i in 0..<r { for j in 0..<r { for y in 0..<oh { for x in 0..<ow {
                    let to = (((ch * r * r + i * r + j) * oh + y) * ow + x) * size
                    let from = ((ch * h + y * r + i) * w + x * r + j) * size
                    if packed[to..<(to + size)] != input[from..<(from + size)] { mismatches += 1 }
                } } } } }
                XCTAssertEqual(mismatches, 0, "\(size)-byte elements, \(c) channels, \(h)x\(w), r \(r)")
                var back = [UInt8](repeating: 0xEE, count: input.count)
                packed.withUnsafeBytes { src in
                    back.withUnsafeMutableBytes { dst in
                        nj_pixel_shuffle_scalar(size, src.baseAddress, oh * ow, Int32(oh), Int32(c * r * r), Int32(ow), Int32(r), 0, Int32(oh),
                                                dst.baseAddress, h * w, Int32(h))
                    }
                }
                XCTAssertTrue(back == input, "\(size)-byte elements, r \(r): shuffle undoes unshuffle")
            }
        }
    }

    /// On rings: rows [3, 5) of the packed side (rows [6, 10) of the plane side with r = 2), in
    /// rings of 3 and 5 rows, land where the whole-plane versions put them, and nothing else is
    /// written.
    func testShufflesOnRingsWrapAround() {
        let (c, h, w, r) = (1, 12, 4, 2)
        let plane = (0..<(c * h * w)).map { Float($0) }
        let (oh, ow) = (h / r, w / r)
        var whole = [Float](repeating: -1, count: plane.count)
        nj_f32_pixel_unshuffle_scalar(plane, h * w, Int32(h), Int32(c), Int32(w), Int32(r), 0, Int32(oh), &whole, oh * ow, Int32(oh))
        // The plane side as a ring of 5 rows holding rows [6, 10).
        var planeRing = [Float](repeating: .nan, count: 5 * w)
        for y in 6..<10 { for x in 0..<w { planeRing[(y % 5) * w + x] = plane[y * w + x] } }
        // Unshuffle rows [3, 5) into a ring of 3 rows per channel.
        var packedRing = [Float](repeating: -1, count: r * r * 3 * ow)
        nj_f32_pixel_unshuffle_scalar(planeRing, 5 * w, 5, Int32(c), Int32(w), Int32(r), 3, 5, &packedRing, 3 * ow, 3)
        for ch in 0..<(r * r) { for y in 0..<3 { for x in 0..<ow {
            let got = packedRing[(ch * 3 + y) * ow + x]
            if y == 3 % 3 || y == 4 % 3 {
                XCTAssertEqual(got, whole[(ch * oh + (y == 0 ? 3 : 4)) * ow + x])
            } else {
                XCTAssertEqual(got, -1, "ring row \(y) holds no row of the range")
            }
        } } }
        // And back, into a fresh plane-side ring of 5 rows.
        var back = [Float](repeating: .nan, count: 5 * w)
        nj_f32_pixel_shuffle_scalar(packedRing, 3 * ow, 3, Int32(r * r), Int32(ow), Int32(r), 3, 5, &back, 5 * w, 5)
        for y in 6..<10 { for x in 0..<w { XCTAssertEqual(back[(y % 5) * w + x], plane[y * w + x]) } }
        XCTAssertTrue(back[(10 % 5) * w].isNaN, "row 10's ring row is not written")
    }
}
