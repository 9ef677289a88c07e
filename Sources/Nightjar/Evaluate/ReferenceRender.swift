import FoundationEssentials
import NightjarIOShims

/// The reference a restored short exposure is measured against: the long exposure rendered by
/// LibRaw itself the way SID's training targets were (`libraw_dcraw_process` with the camera's
/// white balance, full size, LibRaw's default demosaic, sRGB with LibRaw's default gamma, no
/// auto-brightening, 16 bits), cropped to the area `restore` kept of the short exposure (the
/// RGGB alignment offset and the even size), turned by the same orientation, and rounded to 8
/// bits as the restored image is.
public enum ReferenceRender {
    /// Where the restored image lies in the visible frame, in the sensor's orientation, and how
    /// it was turned: what `RestoreReport` records.
    public struct Area: Sendable, Equatable {
        public var visibleWidth: Int
        public var visibleHeight: Int
        public var dy: Int
        public var dx: Int
        public var width: Int
        public var height: Int
        /// LibRaw's flip code applied to the restored image (0 if none).
        public var flip: Int

        public init(visibleWidth: Int, visibleHeight: Int, dy: Int, dx: Int, width: Int, height: Int, flip: Int) {
            self.visibleWidth = visibleWidth
            self.visibleHeight = visibleHeight
            self.dy = dy
            self.dx = dx
            self.width = width
            self.height = height
            self.flip = flip
        }

        /// The area of a restore's output.
        public init(_ report: RestoreReport) {
            self.init(visibleWidth: report.visibleWidth, visibleHeight: report.visibleHeight,
                      dy: report.offset[0], dx: report.offset[1], width: report.width, height: report.height,
                      flip: report.rotated ? report.flip : 0)
        }
    }

    /// LibRaw's whole 16-bit rendering of `url` in the sensor's orientation (interleaved RGB),
    /// with the file's flip code (not applied).
    public static func render16(_ url: URL, maxPixels: Int = 100_000_000) throws -> (width: Int, height: Int, flip: Int, pixels: [UInt16]) {
        try withRendering(url, maxPixels: maxPixels) { width, height, flip, pixels in
            (width, height, flip, Array(pixels))
        }
    }

    /// The 8-bit reference for a restored image covering `area`: cropped, oriented, and each
    /// 16-bit value v rounded to the nearest 8-bit one, floor(v·255/65535 + 0.5) = (v + 128) / 257.
    public static func render(_ url: URL, area: Area, maxPixels: Int = 100_000_000) throws -> RGBImage8 {
        try withRendering(url, maxPixels: maxPixels) { width, height, _, source in
            guard width == area.visibleWidth, height == area.visibleHeight else {
                throw CaptureError.invalidArgument("\(url.path): the long exposure renders to \(width)x\(height), the short one's visible area is \(area.visibleWidth)x\(area.visibleHeight); a pair must come from the same camera and mode")
            }
            let size = CapturePipeline.orientedSize(width: area.width, height: area.height, flip: area.flip)
            var pixels = [UInt8](repeating: 0, count: size.width * size.height * 3)
            for row in 0..<size.height {
                for col in 0..<size.width {
                    let s = CapturePipeline.sourcePixel(row: row, col: col, width: area.width, height: area.height, flip: area.flip)
                    let i = ((s.row + area.dy) * width + s.col + area.dx) * 3, o = (row * size.width + col) * 3
                    for channel in 0..<3 { pixels[o + channel] = UInt8((UInt32(source[i + channel]) + 128) / 257) }
                }
            }
            return RGBImage8(width: size.width, height: size.height, pixels: pixels)
        }
    }

    static func withRendering<T>(_ url: URL, maxPixels: Int,
                                 _ body: (Int, Int, Int, UnsafeBufferPointer<UInt16>) throws -> T) throws -> T {
        let path = url.path
        try RawDecoder.checkReadable(path)
        var render: OpaquePointer?
        var rendering = nj_raw_rendering()
        var message = [CChar](repeating: 0, count: 256)
        let code = nj_raw_render_open(path, Int64(maxPixels), &render, &rendering, &message, message.count)
        defer { nj_raw_render_close(render) }
        guard code == NJ_RAW_OK, let render, let pixels = rendering.pixels else {
            message[message.count - 1] = 0
            let reason = String(cString: message)
            switch Int(code) {
            case Int(NJ_RAW_ERR_OPEN): throw CaptureError.unreadable(path: path, reason: reason)
            case Int(NJ_RAW_ERR_TOO_LARGE):
                throw CaptureError.tooLarge(path: path, pixels: Int(rendering.width) * Int(rendering.height), limit: maxPixels)
            case Int(NJ_RAW_ERR_CORRUPT), Int(NJ_RAW_ERR_NO_MEMORY):
                throw CaptureError.corrupt(path: path, reason: "LibRaw cannot render it: \(reason)")
            default: throw CaptureError.unsupported(path: path, reason: reason)
            }
        }
        _ = render
        let width = Int(rendering.width), height = Int(rendering.height)
        return try body(width, height, Int(rendering.flip), UnsafeBufferPointer(start: pixels, count: width * height * 3))
    }
}

/// Reads PNGs back (`nightjar evaluate` measures the files `restore` wrote).
public enum PNGReader {
    /// An 8-bit PNG as interleaved RGB.
    public static func readRGB8(_ url: URL) throws -> RGBImage8 {
        let path = url.path
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        func failure() -> CaptureError {
            message[message.count - 1] = 0
            return CaptureError.unreadable(path: path, reason: "not a PNG this reader takes: \(String(cString: message))")
        }
        guard nj_png_read_rgb8(path, nil, 0, &width, &height, &message, message.count) == 0 else { throw failure() }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = pixels.withUnsafeMutableBufferPointer {
            nj_png_read_rgb8(path, $0.baseAddress, $0.count, &width, &height, &message, message.count)
        }
        guard status == 0 else { throw failure() }
        return RGBImage8(width: Int(width), height: Int(height), pixels: pixels)
    }
}
