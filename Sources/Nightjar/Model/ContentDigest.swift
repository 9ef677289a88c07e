/// The content digest of a model file: a 64-bit hash over its `__metadata__` (every entry but
/// the digest itself, by key) and its tensors (by name: name, dtype, shape, data bytes).
/// `SafeTensorsFile.encoded()` writes it into the metadata as `content_digest`, and
/// `NightjarModel` refuses a file whose digest is missing or does not match, so that metadata
/// edited by hand (an `architecture` that contradicts tensors of the same shapes) or damaged
/// weights are never loaded.
///
/// It guards against mistakes and damage, not against a forger (who can recompute it), so it is
/// a cheap word-wise hash rather than SHA-256: loading a 3 MB model must stay fast in a debug
/// build. Every step is a bijection of the state for a fixed input word, so two inputs that
/// differ in one word always give different digests; each field is length-prefixed and padded
/// to whole words, so fields cannot run into each other.
struct ContentDigest {
    private var state: UInt64 = 0x243F_6A88_85A3_08D3
    private var words: UInt64 = 0

    /// Mixes in one 64-bit word.
    @inline(__always)
    mutating func append(word: UInt64) {
        var mixed = word &* 0x9E37_79B9_7F4A_7C15
        mixed = mixed << 29 | mixed >> 35
        state ^= mixed
        state = (state << 31 | state >> 33) &* 0xD6E8_FEB8_6659_FD93 &+ 0x2545_F491_4F6C_DD1D
        words &+= 1
    }

    /// Mixes in a byte count and then the bytes, little-endian words, the last one padded with
    /// zeros.
    mutating func append(bytes: UnsafeRawBufferPointer) {
        append(word: UInt64(bytes.count))
        let whole = bytes.count / 8
        if whole > 0 {
            let base = bytes.baseAddress!
            for index in 0..<whole {
                append(word: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
            }
        }
        let rest = bytes.count - whole * 8
        if rest > 0 {
            var last: UInt64 = 0
            for k in 0..<rest { last |= UInt64(bytes[whole * 8 + k]) << (8 * UInt64(k)) }
            append(word: last)
        }
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// The digest as the file records it: 16 lower-case hexadecimal digits.
    func finished() -> String {
        var x = state ^ words
        x ^= x >> 32
        x = x &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 29
        x = x &* 0x94D0_49BB_1331_11EB
        x ^= x >> 32
        let hex = String(x, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension SafeTensorsFile {
    /// The metadata key of the content digest.
    public static let contentDigestKey = "content_digest"

    /// The digest of this file's content (see `ContentDigest`); the stored digest, if any, is
    /// not part of it.
    public func contentDigest() -> String {
        func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
        var digest = ContentDigest()
        let entries = metadata.filter { $0.key != Self.contentDigestKey }.sorted { precedes($0.key, $1.key) }
        digest.append(word: UInt64(entries.count))
        for (key, value) in entries {
            digest.append(key)
            digest.append(value)
        }
        digest.append(word: UInt64(tensors.count))
        for name in tensors.keys.sorted(by: precedes) {
            let tensor = tensors[name]!
            digest.append(name)
            digest.append(tensor.dtype.rawValue)
            digest.append(word: UInt64(tensor.shape.count))
            for extent in tensor.shape { digest.append(word: UInt64(bitPattern: Int64(extent))) }
            // The bytes the file holds, in their stored type: little-endian, the in-memory
            // layout on every target Nightjar runs on.
            switch tensor.storage {
            case .f32(let v): v.withUnsafeBytes { digest.append(bytes: $0) }
            case .f16(let v): v.withUnsafeBytes { digest.append(bytes: $0) }
            case .i8(let v): v.withUnsafeBytes { digest.append(bytes: $0) }
            case .i32(let v): v.withUnsafeBytes { digest.append(bytes: $0) }
            }
        }
        return digest.finished()
    }

    /// This file with its content digest recorded in the metadata (what `encoded()` writes).
    public func withContentDigest() -> SafeTensorsFile {
        var copy = self
        copy.metadata[Self.contentDigestKey] = contentDigest()
        return copy
    }

    /// Nil when the recorded digest matches the content, else why not (for a person).
    func contentDigestProblem() -> String? {
        guard let recorded = metadata[Self.contentDigestKey] else {
            return "it records no content digest (written by a nightjar older than the digest, or by another tool); re-run `nightjar convert` on its checkpoint"
        }
        guard recorded == contentDigest() else {
            return "its content does not match its content digest (the metadata or the weights were changed after it was written, e.g. `architecture` edited by hand, or the file is damaged); re-run `nightjar convert` on its checkpoint"
        }
        return nil
    }
}
