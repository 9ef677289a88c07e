import NightjarKernels
import XCTest

final class PixelShuffleTests: XCTestCase {
    /// Unshuffle follows REFERENCE.md §1: channel c*r*r + i*r + j at (y, x) is channel c at
    /// (y*r + i, x*r + j); shuffle is its exact inverse.
    func testUnshuffleChannelOrderAndRoundTrip() {
        let (c, h, w, r) = (2, 8, 12, 4)
        let input = (0..<(c * h * w)).map { Float($0) }
        var packed = [Float](repeating: -1, count: input.count)
        nj_f32_pixel_unshuffle_scalar(input, h * w, Int32(c), Int32(w), Int32(r), Int32(h / r), &packed, (h / r) * (w / r))
        let (oh, ow) = (h / r, w / r)
        for ch in 0..<c { for i in 0..<r { for j in 0..<r { for y in 0..<oh { for x in 0..<ow {
            let got = packed[((ch * r * r + i * r + j) * oh + y) * ow + x]
            XCTAssertEqual(got, input[(ch * h + y * r + i) * w + x * r + j])
        } } } } }
        var back = [Float](repeating: -1, count: input.count)
        nj_f32_pixel_shuffle_scalar(packed, oh * ow, Int32(c * r * r), Int32(ow), Int32(r), Int32(oh), &back, h * w)
        XCTAssertEqual(back, input)
    }
}
