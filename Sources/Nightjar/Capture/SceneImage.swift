import FoundationEssentials
import NightjarIOShims

/// Photographs to synthesize dark captures from (`synthesize --scene`): PNG (through libpng,
/// any colour type and depth, as 8-bit sRGB) or binary PPM (P6, what `djpeg` writes from a
/// JPEG), decoded to linear sRGB.
public enum SceneImage {
    /// Photographs of more pixels than this are refused.
    public static let maximumPixels = 100_000_000

    /// The largest photograph file read: a 100 MP binary PPM (300 MB) and then some.
    static let maximumFileBytes = 512 << 20

    public static func read(_ url: URL) throws -> LinearImage {
        let path = url.path
        let data: [UInt8]
        // The input layer: a regular file, its size checked before anything is allocated.
        do { data = try FileContents.bytes(atPath: path, maximumBytes: maximumFileBytes) } catch {
            throw CaptureError.invalidArgument("\(path): cannot read the scene: \(error.description)")
        }
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try readPNG(data, path: path) }
        if data.starts(with: Array("P6".utf8)) { return try readPPM(data, path: path) }
        throw CaptureError.invalidArgument("\(path): not a PNG or binary PPM (P6) image; convert a JPEG with `djpeg -pnm`")
    }

    private static func readPNG(_ data: [UInt8], path: String) throws -> LinearImage {
        var message = [CChar](repeating: 0, count: 256)
        var width: UInt32 = 0, height: UInt32 = 0
        guard nj_png_read_size_memory(data, data.count, &width, &height, &message, message.count) == 0 else {
            throw CaptureError.invalidArgument("\(path): \(String(cMessage: message))")
        }
        let (w, h) = (Int(width), Int(height))
        try checkSize(path, w, h)
        var bytes = [UInt8](repeating: 0, count: 3 * w * h)
        guard nj_png_read_rgb8_memory(data, data.count, &bytes, bytes.count, &message, message.count) == 0 else {
            throw CaptureError.invalidArgument("\(path): \(String(cMessage: message))")
        }
        return linear(bytes, width: w, height: h)
    }

    /// P6: "P6", width, height, maxval (≤ 255) as ASCII with whitespace and # comments, one
    /// whitespace byte, then RGB bytes.
    private static func readPPM(_ data: [UInt8], path: String) throws -> LinearImage {
        var i = 2
        func number() throws -> Int {
            while i < data.count {
                if data[i] == UInt8(ascii: "#") {
                    while i < data.count, data[i] != 10 { i += 1 }
                } else if data[i] == 32 || (9...13).contains(data[i]) {
                    i += 1
                } else { break }
            }
            var value = 0, digits = 0
            while i < data.count, (48...57).contains(data[i]), digits < 10 {
                value = value * 10 + Int(data[i] - 48)
                i += 1
                digits += 1
            }
            guard digits > 0 else { throw CaptureError.invalidArgument("\(path): a damaged PPM header") }
            return value
        }
        let (w, h, maxValue) = (try number(), try number(), try number())
        guard maxValue >= 1, maxValue <= 255 else {
            throw CaptureError.invalidArgument("\(path): only 8-bit PPM is read (maxval \(maxValue))")
        }
        try checkSize(path, w, h)
        i += 1
        guard data.count - i >= 3 * w * h else { throw CaptureError.invalidArgument("\(path): the PPM is truncated") }
        var bytes = Array(data[i..<(i + 3 * w * h)])
        if maxValue != 255 { bytes = bytes.map { UInt8(min(255, Int($0) * 255 / maxValue)) } }
        return linear(bytes, width: w, height: h)
    }

    private static func checkSize(_ path: String, _ w: Int, _ h: Int) throws {
        guard w >= 16, h >= 16, w <= 65536, h <= 65536, w * h <= maximumPixels else {
            throw CaptureError.invalidArgument("\(path): the scene must be 16x16 to \(maximumPixels / 1_000_000) MP, not \(w)x\(h)")
        }
    }

    private static func linear(_ bytes: [UInt8], width: Int, height: Int) -> LinearImage {
        let table = (0..<256).map { Float(SyntheticScene.decodeSRGB(Double($0) / 255)) }
        return LinearImage(width: width, height: height, pixels: bytes.map { table[Int($0)] })
    }
}

extension LinearImage {
    /// The centred `width` x `height` part (each side at most the image's).
    public func centreCrop(width w: Int, height h: Int) -> LinearImage {
        let w = min(w, width), h = min(h, height)
        let top = (height - h) / 2, left = (width - w) / 2
        var out = [Float](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let from = ((top + y) * width + left) * 3
            out.replaceSubrange((y * w * 3)..<((y + 1) * w * 3), with: pixels[from..<(from + w * 3)])
        }
        return LinearImage(width: w, height: h, pixels: out)
    }
}
