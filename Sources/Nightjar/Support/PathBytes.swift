/// File names on Linux are bytes, not text: a name need not be valid UTF-8. Nightjar keeps
/// paths as `String` (and `URL`) everywhere, and makes that lossless the way "UTF-8b" does:
/// a byte that is not part of valid UTF-8 stands in the string as the private-use scalar
/// U+F780 + (byte − 0x80), from U+F780 to U+F7FF, and is turned back into that byte at every
/// system call (`withPathBytes`). A valid name that itself contains one of those 128 scalars
/// is escaped byte by byte as well, so every byte string maps to one string and back.
/// Paths enter through `pathString(bytes:)` (the command line's argv, readdir's names) and
/// leave through `withPathBytes`; `displayable` shows the escaped bytes as `\xNN`.
package enum PathBytes {
    static let first: UInt32 = 0xF780
    static let last: UInt32 = 0xF7FF

    static func isEscapedByte(_ scalar: Unicode.Scalar) -> Bool { (first...last).contains(scalar.value) }

    /// The string for a file name's (or path's) bytes.
    package static func string<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String where Bytes.Index == Int {
        var out = String.UnicodeScalarView()
        var i = bytes.startIndex
        func escape(_ byte: UInt8) { out.append(Unicode.Scalar(first + UInt32(byte) - 0x80)!) }
        while i < bytes.endIndex {
            let lead = bytes[i]
            if lead < 0x80 {
                out.append(Unicode.Scalar(lead))
                i += 1
                continue
            }
            let length = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xC2 && lead <= 0xDF ? 2 : 0
            var value: UInt32 = 0
            var valid = length > 0 && i + length <= bytes.endIndex
            if valid {
                value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                for k in 1..<length {
                    let byte = bytes[i + k]
                    guard byte & 0xC0 == 0x80 else { valid = false; break }
                    value = value << 6 | UInt32(byte & 0x3F)
                }
            }
            // Overlong forms, surrogates, beyond U+10FFFF and our own escapes are not taken as text.
            let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
            if valid, value >= minimum, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value),
               let scalar = Unicode.Scalar(value), !isEscapedByte(scalar) {
                out.append(scalar)
                i += length
            } else {
                escape(lead)
                i += 1
            }
        }
        return String(out)
    }

    /// The bytes a path string stands for.
    package static func bytes(_ path: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for scalar in path.unicodeScalars {
            if isEscapedByte(scalar) {
                out.append(UInt8(scalar.value - first + 0x80))
            } else {
                out += String(scalar).utf8
            }
        }
        return out
    }
}

/// Runs `body` with `path` as the NUL-terminated bytes the file system knows it by. Paths
/// without escaped bytes (nearly all) are passed as they are, without a copy (no heap
/// allocation: the frame step calls this).
package func withPathBytes<R>(_ path: String, _ body: (UnsafePointer<CChar>) -> R) -> R {
    if !path.unicodeScalars.contains(where: PathBytes.isEscapedByte) {
        return path.withCString(body)
    }
    var bytes = PathBytes.bytes(path).map { CChar(bitPattern: $0) }
    bytes.append(0)
    return bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
}
