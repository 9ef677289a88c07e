import Glibc

/// printf-style formatting of numbers (vsnprintf; FoundationEssentials has no
/// `String(format:)`). C conversions only: pass Int as `%ld`, Double as `%f`; no `%@`.
package func formatted(_ format: String, _ arguments: CVarArg...) -> String {
    // The first pass measures, the second writes (a va_list cannot be reused).
    let length = withVaList(arguments) { vsnprintf(nil, 0, format, $0) }
    guard length > 0 else { return "" }
    var buffer = [CChar](repeating: 0, count: Int(length) + 1)
    _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// Bytes as mebibytes with one decimal, "96.8 MiB" (reports and log lines).
package func mebibytes(_ bytes: Int) -> String { formatted("%.1f MiB", Double(bytes) / 1_048_576) }

extension String {
    /// The text a C function left in a message buffer: the bytes before the first NUL (all of
    /// them if none), as UTF-8 (invalid bytes replaced).
    package init(cMessage buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Without the leading and trailing Unicode scalars for which `isTrimmed` holds.
    package func trimmingScalars(where isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        guard let first = unicodeScalars.firstIndex(where: { !isTrimmed($0) }),
              let last = unicodeScalars.lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return String(unicodeScalars[first...last])
    }

    /// Without leading and trailing spaces and tabs (tab and the Unicode space separators,
    /// Foundation's `.whitespaces`; line breaks stay).
    package func trimmingSpacesAndTabs() -> String {
        trimmingScalars { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }
    }

    /// Padded with spaces, or cut, to exactly `length` characters (a table column).
    package func padded(toLength length: Int) -> String {
        count >= length ? String(prefix(length)) : self + String(repeating: " ", count: length - count)
    }
}
