/// A value on the pickle machine's stack or in its memo. Containers live in the machine's heap
/// and are referred to by index (`object`), which gives Python's reference semantics (a memoised
/// dict filled later is the same dict) without recursive values: nothing is ever walked or
/// destroyed recursively, so deeply nested hostile input cannot exhaust the native stack.
enum PickleValue: Hashable, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer that does not fit in Int64: little-endian two's-complement bytes (LONG1).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case object(Int)

    /// Whether the value can be a dict key here (containers cannot: their equality would need
    /// a recursive walk, and torch checkpoints never use them as keys).
    var isScalar: Bool {
        if case .object = self { return false }
        return true
    }
}

/// The only callables a checkpoint may name. Anything else is refused at the GLOBAL opcode.
enum AllowedGlobal: Sendable, Equatable {
    case orderedDict
    case rebuildTensorV2
    case floatStorage

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch", "FloatStorage"): self = .floatStorage
        default: return nil
        }
    }
}

/// A dict that keeps insertion order (Python dicts and OrderedDicts both do).
struct PickleDict: Sendable {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var index: [PickleValue: Int] = [:]

    var count: Int { keys.count }

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        if let position = index[key] {
            values[position] = value  // Python keeps the first insertion position
        } else {
            index[key] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    subscript(key: PickleValue) -> PickleValue? {
        index[key].map { values[$0] }
    }
}

/// A storage named by a persistent id: ('storage', torch.FloatStorage, key, location, numel[, None]).
struct StorageReference: Sendable, Equatable {
    var key: String
    var location: String
    var elementCount: Int
}

/// The arguments of `torch._utils._rebuild_tensor_v2`, not yet checked against the storage.
struct TensorReference: Sendable, Equatable {
    var storage: StorageReference
    var storageOffset: Int64
    var size: [Int64]
    var stride: [Int64]
}

enum PickleObject: Sendable {
    case tuple([PickleValue])
    case list([PickleValue])
    case dict(PickleDict, ordered: Bool)
    case global(AllowedGlobal)
    case storage(StorageReference)
    case tensor(TensorReference)
    /// Stands in while a container is being mutated in place (never observable).
    case placeholder

    var kind: String {
        switch self {
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict(_, let ordered): return ordered ? "OrderedDict" : "dict"
        case .global(let global): return "global \(global)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .placeholder: return "placeholder"
        }
    }
}

/// The outcome of running one pickle: its value, the heap its objects live in, and the byte
/// offset just past its STOP opcode.
struct PickleResult: Sendable {
    var root: PickleValue
    var heap: [PickleObject]
    var end: Int

    func object(_ value: PickleValue) -> PickleObject? {
        guard case .object(let id) = value, heap.indices.contains(id) else { return nil }
        return heap[id]
    }

    func describe(_ value: PickleValue) -> String {
        describePickleValue(value, in: heap)
    }
}

/// The Python type of a value, for error messages.
func describePickleValue(_ value: PickleValue, in heap: [PickleObject]) -> String {
    switch value {
    case .none: return "None"
    case .bool: return "bool"
    case .int, .bigInt: return "int"
    case .float: return "float"
    case .string: return "str"
    case .object(let id): return heap.indices.contains(id) ? heap[id].kind : "object"
    }
}

/// A small, safe pickle virtual machine for the protocol-2 subset torch checkpoints use (plus
/// the trivial protocol-4 framing opcodes). It builds values only: no global outside
/// `AllowedGlobal` can be named, the allowed ones are interpreted as data constructors, and
/// every read, stack, memo and heap size is bounds-checked and capped.
struct PickleMachine {
    struct Limits: Sendable {
        var stack = 1 << 20
        var marks = 1 << 12
        var memo = 1 << 20
        var heap = 1 << 22
        var lineLength = 256
        var dimensions = 32
    }

    let bytes: [UInt8]
    let end: Int
    let path: String
    let stream: String
    /// Subtracted from positions in messages (a zip entry's offsets are relative to the entry).
    let reportBase: Int
    let limits: Limits

    private var position: Int
    private var opcodeStart: Int
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var heap: [PickleObject] = []

    /// Runs the pickle starting at `range.lowerBound` up to its STOP opcode.
    static func run(
        _ bytes: [UInt8], range: Range<Int>, path: String, stream: String, reportBase: Int = 0,
        limits: Limits = Limits()
    ) throws -> PickleResult {
        var machine = PickleMachine(
            bytes: bytes, end: min(range.upperBound, bytes.count), path: path, stream: stream,
            reportBase: reportBase, limits: limits, position: max(0, range.lowerBound),
            opcodeStart: max(0, range.lowerBound))
        return try machine.execute()
    }

    // MARK: Errors

    private func malformed(_ reason: String) -> CheckpointError {
        .malformedPickle(path: path, stream: stream, offset: opcodeStart - reportBase, reason: reason)
    }

    private func limit(_ what: String, _ value: Int) -> CheckpointError {
        .limitExceeded(path: path, stream: stream, offset: opcodeStart - reportBase, what: what, limit: value)
    }

    // MARK: Reading

    private mutating func readBytes(_ count: Int, _ what: String) throws -> Range<Int> {
        guard count >= 0, count <= end - position else {
            throw CheckpointError.truncated(
                path: path,
                what: "the \(what) of the opcode at byte \(opcodeStart - reportBase) of \(stream) runs past "
                    + "the end of the data",
                offset: position)
        }
        defer { position += count }
        return position..<(position + count)
    }

    private mutating func readUInt(_ width: Int, _ what: String) throws -> UInt64 {
        let range = try readBytes(width, what)
        var value: UInt64 = 0
        for (i, byte) in bytes[range].enumerated() { value |= UInt64(byte) << UInt64(8 * i) }
        return value
    }

    private mutating func readLine(_ what: String) throws -> String {
        let start = position
        while position < end, bytes[position] != 0x0A {
            guard position - start < limits.lineLength else {
                throw limit("length of \(what)", limits.lineLength)
            }
            position += 1
        }
        guard position < end else {
            throw CheckpointError.truncated(
                path: path,
                what: "the \(what) at byte \(start - reportBase) of \(stream) has no terminating newline",
                offset: start)
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        position += 1  // the newline
        return text
    }

    private mutating func readString(length: Int) throws -> PickleValue {
        let range = try readBytes(length, "string of \(length) bytes")
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw malformed("string is not valid UTF-8")
        }
        return .string(text)
    }

    // MARK: Stack, memo, heap

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < limits.stack else { throw limit("pickle stack depth", limits.stack) }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        let floor = marks.last ?? 0
        guard stack.count > floor, let value = stack.popLast() else {
            throw malformed("stack underflow")
        }
        return value
    }

    private func top() throws -> PickleValue {
        let floor = marks.last ?? 0
        guard stack.count > floor, let value = stack.last else { throw malformed("stack underflow") }
        return value
    }

    /// Pops everything above the innermost mark, and the mark.
    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw malformed("no MARK on the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func allocate(_ object: PickleObject) throws -> PickleValue {
        guard heap.count < limits.heap else { throw limit("number of pickled objects", limits.heap) }
        heap.append(object)
        return .object(heap.count - 1)
    }

    private mutating func memoise(_ index: Int) throws {
        let value = try top()
        guard memo[index] != nil || memo.count < limits.memo else {
            throw limit("memo size", limits.memo)
        }
        memo[index] = value
    }

    private func object(_ value: PickleValue) -> PickleObject? {
        guard case .object(let id) = value, heap.indices.contains(id) else { return nil }
        return heap[id]
    }

    private func describe(_ value: PickleValue) -> String {
        describePickleValue(value, in: heap)
    }

    /// Whether the value is None or refers to a dict (an OrderedDict's state, tensor metadata).
    private func isDictOrNone(_ value: PickleValue) -> Bool {
        if value == .none { return true }
        if case .dict? = object(value) { return true }
        return false
    }

    /// Adds key/value pairs to the dict `target` refers to, mutating it in place.
    private mutating func setItems(_ target: PickleValue, _ items: ArraySlice<PickleValue>) throws {
        guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of items") }
        guard case .object(let id) = target, heap.indices.contains(id),
            case .dict(var dict, let ordered) = heap[id]
        else { throw malformed("SETITEM(S) on a \(describe(target)), not a dict") }
        heap[id] = .placeholder  // drop the heap's reference so `dict` is mutated without a copy
        var i = items.startIndex
        while i < items.endIndex {
            let key = items[i]
            guard key.isScalar else {
                heap[id] = .dict(dict, ordered: ordered)
                throw malformed("dict key is a \(describe(key)); only str/int/float/bool/None keys are supported")
            }
            dict.set(key, items[i + 1])
            i += 2
        }
        heap[id] = .dict(dict, ordered: ordered)
    }

    private mutating func append(_ target: PickleValue, _ items: [PickleValue]) throws {
        guard case .object(let id) = target, heap.indices.contains(id),
            case .list(var list) = heap[id]
        else { throw malformed("APPEND(S) on a \(describe(target)), not a list") }
        heap[id] = .placeholder
        list.append(contentsOf: items)
        heap[id] = .list(list)
    }

    // MARK: Torch semantics of the allowed globals

    private func integers(_ value: PickleValue, _ what: String) throws -> [Int64] {
        guard case .tuple(let items)? = object(value) else {
            throw malformed("_rebuild_tensor_v2: \(what) is a \(describe(value)), expected a tuple of ints")
        }
        guard items.count <= limits.dimensions else { throw limit("number of tensor dimensions", limits.dimensions) }
        return try items.map {
            guard case .int(let n) = $0 else {
                throw malformed("_rebuild_tensor_v2: \(what) holds a \(describe($0)), expected ints")
            }
            return n
        }
    }

    private mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case .global(let global)? = object(callable) else {
            throw malformed("REDUCE calls a \(describe(callable)), not an allowed global")
        }
        guard case .tuple(let args)? = object(arguments) else {
            throw malformed("REDUCE arguments are a \(describe(arguments)), not a tuple")
        }
        switch global {
        case .orderedDict:
            guard args.isEmpty else {
                throw malformed("collections.OrderedDict called with \(args.count) arguments; expected none")
            }
            return try allocate(.dict(PickleDict(), ordered: true))
        case .floatStorage:
            throw malformed("torch.FloatStorage may only appear in a persistent id, not be called")
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard args.count == 6 || args.count == 7 else {
                throw malformed("_rebuild_tensor_v2 called with \(args.count) arguments; expected 6 or 7")
            }
            guard case .storage(let storage)? = object(args[0]) else {
                throw malformed("_rebuild_tensor_v2: first argument is a \(describe(args[0])), not a storage")
            }
            guard case .int(let offset) = args[1] else {
                throw malformed("_rebuild_tensor_v2: storage offset is a \(describe(args[1])), not an int")
            }
            let size = try integers(args[2], "size")
            let stride = try integers(args[3], "stride")
            guard case .bool = args[4] else {
                throw malformed("_rebuild_tensor_v2: requires_grad is a \(describe(args[4])), not a bool")
            }
            guard case .dict? = object(args[5]) else {
                throw malformed("_rebuild_tensor_v2: backward_hooks is a \(describe(args[5])), not an OrderedDict")
            }
            if args.count == 7, !isDictOrNone(args[6]) {
                throw malformed("_rebuild_tensor_v2: metadata is a \(describe(args[6])), not a dict or None")
            }
            return try allocate(.tensor(TensorReference(
                storage: storage, storageOffset: offset, size: size, stride: stride)))
        }
    }

    private mutating func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let items)? = object(pid), items.count == 5 || items.count == 6,
            items[0] == .string("storage")
        else {
            throw malformed("persistent id is not ('storage', type, key, location, size[, view])")
        }
        guard case .global(.floatStorage)? = object(items[1]) else {
            throw malformed("persistent id storage type is a \(describe(items[1])), expected torch.FloatStorage")
        }
        guard case .string(let key) = items[2], case .string(let location) = items[3] else {
            throw malformed("persistent id key and location must be strings")
        }
        guard case .int(let count) = items[4], count >= 0, let elementCount = Int(exactly: count) else {
            throw malformed("persistent id for storage '\(key)' has an invalid element count")
        }
        if items.count == 6, items[5] != .none {
            throw CheckpointError.unsupportedFormat(
                path: path,
                reason: "storage '\(key)' is a view of another storage (pre-0.4 torch); re-save the "
                    + "checkpoint with a recent torch")
        }
        return try allocate(.storage(StorageReference(key: key, location: location, elementCount: elementCount)))
    }

    // MARK: The interpreter loop

    private mutating func execute() throws -> PickleResult {
        while true {
            opcodeStart = position
            guard position < end else {
                throw CheckpointError.truncated(
                    path: path, what: "\(stream) ends without a STOP opcode", offset: position)
            }
            let opcode = bytes[position]
            position += 1
            switch opcode {
            case 0x80:  // PROTO
                let version = try readUInt(1, "PROTO argument")
                guard (2...5).contains(version) else { throw malformed("pickle protocol \(version) is not supported") }
            case 0x95:  // FRAME (protocol 4): an 8-byte length, framing only
                _ = try readUInt(8, "FRAME length")
            case UInt8(ascii: "."):  // STOP
                let value = try pop()
                guard stack.isEmpty, marks.isEmpty else {
                    throw malformed("STOP with \(stack.count) values and \(marks.count) marks left over")
                }
                return PickleResult(root: value, heap: heap, end: position)

            case UInt8(ascii: "c"):  // GLOBAL module\nname\n
                let module = try readLine("GLOBAL module name")
                let name = try readLine("GLOBAL attribute name")
                try pushGlobal(module: module, name: name)
            case 0x93:  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw malformed("STACK_GLOBAL needs two strings")
                }
                try pushGlobal(module: m, name: n)

            case UInt8(ascii: "q"):  // BINPUT
                try memoise(Int(try readUInt(1, "BINPUT index")))
            case UInt8(ascii: "r"):  // LONG_BINPUT
                try memoise(Int(try readUInt(4, "LONG_BINPUT index")))
            case 0x94:  // MEMOIZE
                try memoise(memo.count)
            case UInt8(ascii: "h"), UInt8(ascii: "j"):  // BINGET, LONG_BINGET
                let index = Int(try readUInt(opcode == UInt8(ascii: "h") ? 1 : 4, "BINGET index"))
                guard let value = memo[index] else { throw malformed("memo entry \(index) was never stored") }
                try push(value)

            case UInt8(ascii: "("):  // MARK
                guard marks.count < limits.marks else { throw limit("MARK nesting", limits.marks) }
                marks.append(stack.count)
            case UInt8(ascii: "0"):  // POP
                _ = try pop()
            case UInt8(ascii: "1"):  // POP_MARK
                _ = try popToMark()

            case UInt8(ascii: "N"): try push(.none)
            case 0x88: try push(.bool(true))  // NEWTRUE
            case 0x89: try push(.bool(false))  // NEWFALSE
            case UInt8(ascii: "K"):  // BININT1
                try push(.int(Int64(try readUInt(1, "BININT1 argument"))))
            case UInt8(ascii: "M"):  // BININT2
                try push(.int(Int64(try readUInt(2, "BININT2 argument"))))
            case UInt8(ascii: "J"):  // BININT (signed)
                try push(.int(Int64(Int32(truncatingIfNeeded: try readUInt(4, "BININT argument")))))
            case 0x8a:  // LONG1: n, then n bytes of little-endian two's complement
                let count = Int(try readUInt(1, "LONG1 length"))
                let range = try readBytes(count, "LONG1 digits")
                try push(Self.integer(Array(bytes[range])))
            case UInt8(ascii: "G"):  // BINFLOAT: big-endian IEEE double
                let range = try readBytes(8, "BINFLOAT argument")
                var bits: UInt64 = 0
                for byte in bytes[range] { bits = bits << 8 | UInt64(byte) }
                try push(.float(Double(bitPattern: bits)))
            case UInt8(ascii: "X"):  // BINUNICODE
                let length = try readUInt(4, "BINUNICODE length")
                try push(try readString(length: Int(length)))
            case 0x8c:  // SHORT_BINUNICODE
                let length = try readUInt(1, "SHORT_BINUNICODE length")
                try push(try readString(length: Int(length)))

            case UInt8(ascii: ")"):  // EMPTY_TUPLE
                try push(try allocate(.tuple([])))
            case UInt8(ascii: "t"):  // TUPLE
                let items = try popToMark()
                try push(try allocate(.tuple(items)))
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                var items: [PickleValue] = []
                for _ in 0..<Int(opcode - 0x84) { items.append(try pop()) }
                try push(try allocate(.tuple(items.reversed())))
            case UInt8(ascii: "}"):  // EMPTY_DICT
                try push(try allocate(.dict(PickleDict(), ordered: false)))
            case UInt8(ascii: "]"):  // EMPTY_LIST
                try push(try allocate(.list([])))
            case UInt8(ascii: "s"):  // SETITEM
                let value = try pop(), key = try pop()
                try setItems(try top(), [key, value])
            case UInt8(ascii: "u"):  // SETITEMS
                let items = try popToMark()
                try setItems(try top(), items[...])
            case UInt8(ascii: "a"):  // APPEND
                let value = try pop()
                try append(try top(), [value])
            case UInt8(ascii: "e"):  // APPENDS
                let items = try popToMark()
                try append(try top(), items)

            case UInt8(ascii: "R"):  // REDUCE
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments))
            case UInt8(ascii: "b"):  // BUILD
                let state = try pop()
                let target = try top()
                // Only OrderedDict's instance state (the state_dict's `_metadata`) is accepted,
                // and ignored: it holds module versions, not weights.
                guard case .dict(_, ordered: true)? = object(target) else {
                    throw malformed("BUILD on a \(describe(target)); only an OrderedDict's state is accepted")
                }
                guard isDictOrNone(state) else {
                    throw malformed("BUILD state is a \(describe(state)), expected a dict")
                }
            case UInt8(ascii: "Q"):  // BINPERSID
                let pid = try pop()
                try push(try persistentLoad(pid))

            default:
                throw CheckpointError.unsupportedOpcode(
                    path: path, stream: stream, offset: opcodeStart - reportBase, opcode: opcode)
            }
        }
    }

    private mutating func pushGlobal(module: String, name: String) throws {
        guard let global = AllowedGlobal(module: module, name: name) else {
            throw CheckpointError.forbiddenGlobal(
                path: path, stream: stream, offset: opcodeStart - reportBase, module: module, name: name)
        }
        try push(try allocate(.global(global)))
    }

    /// A LONG1 payload as an Int64 when it fits, else as its bytes.
    static func integer(_ digits: [UInt8]) -> PickleValue {
        guard !digits.isEmpty else { return .int(0) }
        guard digits.count <= 8 else { return .bigInt(digits) }
        let negative = digits[digits.count - 1] & 0x80 != 0
        var bits: UInt64 = negative ? ~0 : 0
        for (i, byte) in digits.enumerated() {
            bits &= ~(UInt64(0xff) << UInt64(8 * i))
            bits |= UInt64(byte) << UInt64(8 * i)
        }
        return .int(Int64(bitPattern: bits))
    }
}
