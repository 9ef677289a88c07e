import FoundationEssentials

/// Any JSON value, for documents read without a fixed schema (a safetensors header maps
/// tensor names to entries, whose fields are checked one by one) and written with a chosen
/// key order (JSONEncoder's `.sortedKeys` sorts by bytes).
package indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A whole number, also when written with a zero fraction (`3.0`).
    package var integerValue: Int? {
        switch self {
        case .integer(let value): return value
        case .number(let value): return Int(exactly: value)
        default: return nil
        }
    }

    package var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    package var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Parses a JSON document (any value at the top, whitespace around it allowed).
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// Compact JSON (no spaces), object keys in the order of `keyPrecedes`. Strings and
    /// numbers are written by JSONEncoder, so they are escaped as everywhere else.
    package func compactJSON(keyPrecedes: (String, String) -> Bool) throws -> [UInt8] {
        var out: [UInt8] = []
        try write(into: &out, keyPrecedes: keyPrecedes, encoder: JSONEncoder())
        return out
    }

    private func write(into out: inout [UInt8], keyPrecedes: (String, String) -> Bool, encoder: JSONEncoder) throws {
        switch self {
        case .null: out += "null".utf8
        case .bool(let value): out += (value ? "true" : "false").utf8
        case .integer(let value): out += String(value).utf8
        case .number(let value): out += try encoder.encode(value)
        case .string(let value): out += try encoder.encode(value)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try element.write(into: &out, keyPrecedes: keyPrecedes, encoder: encoder)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted(by: keyPrecedes).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out += try encoder.encode(key)
                out.append(UInt8(ascii: ":"))
                try members[key]!.write(into: &out, keyPrecedes: keyPrecedes, encoder: encoder)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

extension JSONValue: Decodable {
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
