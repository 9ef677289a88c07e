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
    public static func render16(_ url: URL, maxPixels: Int = 100_000_000,
                                timeoutSeconds: Double = 300) throws -> (width: Int, height: Int, flip: Int, pixels: [UInt16]) {
        var pixels: [UInt16] = []
        let size = try streamRows(url, maxPixels: maxPixels, timeoutSeconds: timeoutSeconds,
                                  prepare: { width, height in
                                      pixels.reserveCapacity(width * height * 3)
                                      return height
                                  }) { _, row in pixels.append(contentsOf: row) }
        return (size.width, size.height, size.flip, pixels)
    }

    /// The 8-bit reference for a restored image covering `area`: cropped, oriented, and each
    /// 16-bit value v rounded to the nearest 8-bit one, floor(v·255/65535 + 0.5) = (v + 128) / 257.
    /// LibRaw renders in a child process (a crash or hang on a damaged file is this file's
    /// error) and its rows are cropped as they arrive, so this process holds only the 8-bit
    /// result.
    public static func render(_ url: URL, area: Area, maxPixels: Int = 100_000_000,
                              timeoutSeconds: Double = 300) throws -> RGBImage8 {
        let size = CapturePipeline.orientedSize(width: area.width, height: area.height, flip: area.flip)
        var pixels: [UInt8] = []
        _ = try streamRows(url, maxPixels: maxPixels, timeoutSeconds: timeoutSeconds, prepare: { width, height in
            guard width == area.visibleWidth, height == area.visibleHeight else {
                throw CaptureError.invalidArgument("\(url.path): the long exposure renders to \(width)x\(height), the short one's visible area is \(area.visibleWidth)x\(area.visibleHeight); a pair must come from the same camera and mode")
            }
            pixels = [UInt8](repeating: 0, count: size.width * size.height * 3)
            return area.dy + area.height
        }) { row, values in
            let r = row - area.dy
            guard r >= 0 else { return }
            pixels.withUnsafeMutableBufferPointer { out in
                for c in 0..<area.width {
                    let at = orientedPosition(row: r, col: c, width: area.width, height: area.height, flip: area.flip)
                    let o = (at.row * size.width + at.col) * 3, i = (c + area.dx) * 3
                    for channel in 0..<3 { out[o + channel] = UInt8((UInt32(values[i + channel]) + 128) / 257) }
                }
            }
        }
        return RGBImage8(width: size.width, height: size.height, pixels: pixels)
    }

    /// Where source pixel (row, col) of a `width`×`height` image lands after LibRaw's `flip`:
    /// the inverse of `CapturePipeline.sourcePixel`.
    static func orientedPosition(row: Int, col: Int, width: Int, height: Int, flip: Int) -> (row: Int, col: Int) {
        let r = flip & 2 != 0 ? height - 1 - row : row
        let c = flip & 1 != 0 ? width - 1 - col : col
        return flip & 4 != 0 ? (c, r) : (r, c)
    }

    /// Renders `url` in a child process and hands its rows (width × 3 values) to `body` in
    /// order. `prepare(width, height)` says how many rows are needed (the child is ended after
    /// them) or throws to stop. Returns the rendering's size and the file's flip code.
    static func streamRows(_ url: URL, maxPixels: Int, timeoutSeconds: Double,
                           prepare: (_ width: Int, _ height: Int) throws -> Int,
                           _ body: (_ row: Int, _ values: UnsafeBufferPointer<UInt16>) throws -> Void) throws -> (width: Int, height: Int, flip: Int) {
        let path = url.path
        try RawDecoder.checkReadable(path)
        var rendering = nj_raw_rendering()
        var child = nj_raw_child()
        var message = [CChar](repeating: 0, count: 512)
        defer { nj_raw_isolated_cancel(&child) }
        func failure(_ code: Int32) -> CaptureError {
            let reason = String(cMessage: message)
            switch Int(code) {
            case Int(NJ_RAW_ERR_OPEN): return .unreadable(path: path, reason: reason)
            case Int(NJ_RAW_ERR_TOO_LARGE):
                return .tooLarge(path: path, pixels: Int(rendering.width) * Int(rendering.height), limit: maxPixels)
            case Int(NJ_RAW_ERR_UNSUPPORTED): return .unsupported(path: path, reason: reason)
            default: return .corrupt(path: path, reason: "LibRaw cannot render it: \(reason)")
            }
        }
        let begun = nj_raw_render_isolated_begin(path, Int64(maxPixels), timeoutSeconds, &rendering, &child, &message, message.count)
        guard begun == NJ_RAW_OK else { throw failure(begun) }
        let width = Int(rendering.width), height = Int(rendering.height)
        let needed = min(try prepare(width, height), height)
        var row = [UInt16](repeating: 0, count: width * 3)
        for y in 0..<needed {
            let read = row.withUnsafeMutableBufferPointer {
                nj_raw_render_isolated_rows(&child, $0.baseAddress, $0.count, &message, message.count)
            }
            guard read == NJ_RAW_OK else { throw failure(read) }
            try row.withUnsafeBufferPointer { try body(y, $0) }
        }
        return (width, height, Int(rendering.flip))
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
            CaptureError.unreadable(path: path, reason: "not a PNG this reader takes: \(String(cMessage: message))")
        }
        guard nj_png_read_size(path, &width, &height, &message, message.count) == 0 else { throw failure() }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = pixels.withUnsafeMutableBufferPointer {
            nj_png_read_rgb8(path, $0.baseAddress, $0.count, &message, message.count)
        }
        guard status == 0 else { throw failure() }
        return RGBImage8(width: Int(width), height: Int(height), pixels: pixels)
    }
}
