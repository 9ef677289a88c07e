/// Untrusted text (file names, names read from checkpoints and RAW files, messages quoting
/// them) made safe for a terminal or a log line: every character that could move the cursor,
/// start an escape sequence, end the line or reorder what is shown is written as a visible
/// escape instead. Escaped: C0 controls (`\n`, `\r`, `\t`, others as `\x1B`), DEL and the C1
/// controls (`\x7F`, `\x9B`...), the line and paragraph separators and the bidirectional
/// marks, embeddings, overrides and isolates (`\u{202E}`), and the bytes of file names that
/// are not UTF-8 (`\xFF`, see `PathBytes`). Everything else, non-ASCII letters
/// included, is kept. Every error message goes through this on its way out.
public func displayable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count + 16)
    for scalar in text.unicodeScalars {
        guard needsEscape(scalar) else {
            out.unicodeScalars.append(scalar)
            continue
        }
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where PathBytes.isEscapedByte(scalar):
            // A file name's byte that is not UTF-8 (see PathBytes).
            out += "\\x" + String(scalar.value - PathBytes.first + 0x80, radix: 16, uppercase: true)
        default:
            let hex = String(scalar.value, radix: 16, uppercase: true)
            out += scalar.value <= 0xFF ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{" + hex + "}"
        }
    }
    return out
}

private func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F: return true // C0, DEL, C1 (0x9B is a one-byte CSI)
    case 0x061C, 0x200E, 0x200F: return true // Arabic letter mark, LRM, RLM
    case 0x2028, 0x2029: return true // line and paragraph separators
    case 0x202A...0x202E, 0x2066...0x2069: return true // bidi embeddings, overrides, isolates
    case 0xF780...0xF7FF: return true // bytes of file names that are not UTF-8 (PathBytes)
    default: return false
    }
}
