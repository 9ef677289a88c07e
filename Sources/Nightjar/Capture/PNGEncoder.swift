import Glibc
import NightjarIOShims
import NightjarKernels

/// Writes one RGB PNG at a time (8 or 16 bits per sample) into an open file descriptor, row by
/// row, with the image data filtered and deflated off the caller's thread, in pieces on several
/// threads at once, as pigz deflates a stream: rows are copied into a piece of about
/// `pieceBytes` bytes of whole scanlines; a full piece is queued and the caller goes on with
/// the next; a compressor thread filters it and deflates it as a raw deflate stream of its own
/// that ends in a full flush (the image's last piece in the final block), so the pieces'
/// outputs join into one zlib stream. Each piece is an IDAT chunk, the zlib header in the first
/// and the Adler-32, combined from the pieces' (zlib's `adler32_combine`), after the last. A
/// piece deflated alone loses only the matches that would have reached into the previous
/// piece, which on restored (noisy) images are few.
///
/// The thread that deflated a piece also writes it (pwrite(2), one call per chunk), at the
/// offset the pieces before it end at, as soon as that is known: writing 5 MB of chunks costs
/// the kernel about 12 ms per 12.1 MP frame (page cache, ext4), which on the caller's thread
/// left the network's other threads idle. The caller writes the header and trailer chunks
/// (write(2), at the descriptor's offset, moved past the pieces at the end).
///
/// Filter and strategy by level and depth, measured on restored frames (`method(level:bits:)`).
///
/// All memory is made in `reserve` and kept from image to image: the pieces' slots (rows in,
/// deflated bytes out), each compressor's deflate state, the chunk buffer; the threads start
/// at the first image and live as long as the encoder. `begin`, `writeRow`, `end` and
/// `abandon` make no heap allocation. Errors name `displayPath`.
final class PNGEncoder: @unchecked Sendable {
    /// Input bytes (filtered scanlines) per piece by default, at least one row.
    static let defaultPieceBytes = 64 << 10
    /// Bytes collected before each write(2) of the header and trailer chunks.
    static let outputBufferBytes = 16 << 10

    /// The row filter and deflate strategy for a compression level, chosen by measurement
    /// (`scripts/bench-png.sh`, README "PNG encoding"): on restored frames (golden captures and
    /// 12.1 MP synthetic ones, camera and network colour, 8 and 16 bit) Paeth with Huffman coding
    /// only gave the smallest level-1 files (string matching finds little in noise; 8-bit: 35 %
    /// of the raw size against 39-43 % for Up or Sub with zlib level 1), and Huffman coding done
    /// by png_pieces.c itself (`NJ_DEFLATE_HUFFMAN_DIRECT`, the same code zlib's Z_HUFFMAN_ONLY
    /// would write) with the vectorized Paeth filter encodes about 5x as many bytes per CPU
    /// second as zlib level 1 (Xeon, loaded: 235 against 44-67 MB/s on an 8-bit golden frame).
    /// Per-row adaptive filtering chose Paeth nearly everywhere for the same size at a quarter of
    /// the speed. At 8 bits level 1 also codes runs of one repeated residual (smooth areas of the
    /// denoised output) as matches at distance 1 (`NJ_DEFLATE_RUNS_DIRECT`): the synthetic frame
    /// `bench` restores went from 15.0 % to 7.7 % of its raw size and filtered and deflated 1.2x
    /// as fast, the golden captures 17.9 to 13.9 % and the same for the noisier two, which take
    /// 8-10 % longer (Zen 5, one thread). 16-bit rows have few runs (their low bytes are noise):
    /// 37.0 against 36.0 % for 12 % more time, so they keep Huffman coding alone.
    /// From level 2 on, Paeth with zlib's string matching at that level, each piece
    /// kept in whichever of that and level 1's coding is smaller, so a higher level is never
    /// larger; level 0 stores, unfiltered.
    static func method(level: Int, bits: Int) -> (filter: Int32, strategy: Int32) {
        switch level {
        case 0: return (Int32(NJ_PNG_FILTER_NONE), Int32(NJ_DEFLATE_DEFAULT))
        case 1: return (Int32(NJ_PNG_FILTER_PAETH), Int32(bits == 8 ? NJ_DEFLATE_RUNS_DIRECT : NJ_DEFLATE_HUFFMAN_DIRECT))
        default: return (Int32(NJ_PNG_FILTER_PAETH), Int32(NJ_DEFLATE_DEFAULT))
        }
    }

    /// Compressor threads (at least 1) and the input bytes of a piece.
    let compressors: Int
    let pieceBytes: Int
    /// Slots for pieces in flight: one being filled, one per compressor, one finished waiting
    /// to be written; and as many again for rows reserved ahead (`reserveRows`: the colour
    /// stage's batch of 16 rows spans up to 4 pieces of a 12 MP frame's 8-bit rows), so that
    /// reserving them seldom waits for pieces queued but not yet compressed.
    static func slotCount(compressors: Int) -> Int { 2 * (max(1, compressors) + 2) }
    var slotCount: Int { Self.slotCount(compressors: compressors) }

    /// Memory for images with rows of up to `rowBytes` bytes, with `compressors` threads.
    static func memoryBytes(rowBytes: Int, compressors: Int, pieceBytes: Int = defaultPieceBytes) -> Int {
        let layout = SlotLayout(rowBytes: rowBytes, pieceBytes: pieceBytes)
        return slotCount(compressors: compressors) * layout.slotBytes + compressors * layout.workerBytes + outputBufferBytes
    }

    /// Where things are in one slot: the rows (a filter byte and `rowBytes` samples each), the
    /// unfiltered row above the first, and the piece's IDAT chunk: the deflated output with room
    /// in front for the chunk's length and type and the zlib header, and behind for the Adler-32
    /// and the chunk's CRC, so that the chunk goes out in one write.
    struct SlotLayout {
        let rowBytes: Int
        let rowsPerPiece: Int
        let inputBytes: Int
        let outputOffset: Int
        let outputCapacity: Int
        let previousOffset: Int
        let slotBytes: Int
        /// A compressor's own memory: its deflate state, and room for a second try at a piece.
        var workerBytes: Int { nj_deflate_memory_bytes() + ((outputCapacity + 63) & ~63) }

        /// Where the deflated bytes start in the output room: after the chunk's length and type
        /// (8 bytes) and the zlib header (2).
        static let deflatedOffset = 10

        init(rowBytes: Int, pieceBytes: Int) {
            self.rowBytes = rowBytes
            rowsPerPiece = max(1, pieceBytes / (rowBytes + 1))
            inputBytes = rowsPerPiece * (rowBytes + 1)
            previousOffset = (inputBytes + 63) & ~63
            outputOffset = (previousOffset + rowBytes + 63) & ~63
            outputCapacity = Self.deflatedOffset + nj_deflate_piece_bound(inputBytes) + 4 + 4
            slotBytes = (outputOffset + outputCapacity + 4095) & ~4095
        }
    }

    /// A piece's record, shared with the compressors under `lock`.
    struct Slot {
        /// done: deflated, waiting for the pieces before it to be placed; writing: placed, being
        /// written; free again once written.
        enum State { case free, filling, queued, compressing, done, writing, failed }
        var state = State.free
        var piece = 0
        var rows = 0
        var last = false
        var hasPrevious = false
        var outputBytes = 0
        var adler: UInt32 = 1
        var crc: UInt32 = 0
    }

    // Shared with the compressors (under `lock`).
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let work: UnsafeMutablePointer<pthread_cond_t>
    private let finished: UnsafeMutablePointer<pthread_cond_t>
    private var slots: UnsafeMutablePointer<Slot>
    /// Pieces handed to the compressors and taken by them (piece p lives in slot p % slotCount).
    private var submitted = 0
    private var taken = 0
    private var stopping = false
    private var threads: [pthread_t] = []
    /// Where the pieces go: the descriptor (-1 when no image is open or it was abandoned),
    /// the next piece to be placed, the file offset its chunk starts at, the Adler-32 of the
    /// image data before it, and the first write error.
    private var pieceFD: Int32 = -1
    private var nextPlaced = 0
    private var nextOffset = 0
    private var placedAdler: UInt32 = 1
    private var pieceWriteError: Int32 = 0
    /// The image's settings, read by the compressors.
    private var level: Int32 = 1
    private var filter = Int32(NJ_PNG_FILTER_UP)
    private var strategy = Int32(NJ_DEFLATE_DEFAULT)
    private var bits = 8
    /// The slots as reserved (for the widest image) and as this image uses them.
    private var reserved = SlotLayout(rowBytes: 0, pieceBytes: 0)
    private(set) var layout = SlotLayout(rowBytes: 0, pieceBytes: 0)

    // The caller's thread only.
    private var memory: PageBuffer?
    private var handle: (fd: Int32, height: Int)?
    private var displayPath = ""
    private var rowsWritten = 0
    private var piecesWritten = 0
    /// The last piece whose slot is being filled (rows may be reserved ahead of those written).
    private var acquiredThrough = -1
    /// The unfiltered last row of the last piece queued, for the next piece's first row.
    private var carry: UnsafeMutablePointer<UInt8> { memory!.base.assumingMemoryBound(to: UInt8.self) + carryOffset }
    private var carryOffset = 0
    private var buffered = 0
    private var writeError: Int32 = 0
    /// This image's pieces go to the engine's worker threads (`compressQueuedOnWorkers`) in
    /// rounds of `inlineRound` pieces instead of to the compressor threads (0: to those).
    private var workers: WorkerPoolOwner?
    private var inlineRound = 0
    /// Threads taking a round's pieces: the lent pool's, at most one per compressor memory.
    private var inlineTakers = 1
    /// Whether the image being written compresses its pieces on the engine's worker threads.
    var piecesOnWorkers: Bool { inlineRound > 0 }
    /// Pieces queued for the next round, and the first of them.
    private var inlineQueued = 0
    private var inlineNext = 0
    /// The round being compressed on the workers: the next piece to take and the end (under `lock`).
    private var roundNext = 0
    private var roundEnd = 0

    init(compressors: Int = 1, pieceBytes: Int = PNGEncoder.defaultPieceBytes) {
        self.compressors = max(1, compressors)
        self.pieceBytes = max(1, pieceBytes)
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        work = .allocate(capacity: 1)
        pthread_cond_init(work, nil)
        finished = .allocate(capacity: 1)
        pthread_cond_init(finished, nil)
        slots = .allocate(capacity: Self.slotCount(compressors: compressors))
        slots.initialize(repeating: Slot(), count: Self.slotCount(compressors: compressors))
    }

    deinit {
        abandon()
        pthread_mutex_lock(lock)
        stopping = true
        pthread_cond_broadcast(work)
        pthread_mutex_unlock(lock)
        for thread in threads { pthread_join(thread, nil) }
        pthread_cond_destroy(work)
        pthread_cond_destroy(finished)
        pthread_mutex_destroy(lock)
        work.deallocate()
        finished.deallocate()
        lock.deallocate()
        slots.deallocate()
    }

    /// Bytes of the encoder's memory now.
    var poolCapacity: Int { memory?.bytes ?? 0 }

    /// Makes sure images with rows of up to `rowBytes` bytes fit; grows the memory (the one
    /// allocation) when they do not. False when the system refuses the memory.
    func reserve(rowBytes: Int) -> Bool {
        if rowBytes <= reserved.rowBytes, memory != nil { return true }
        precondition(handle == nil, "the PNG encoder cannot grow while an image is open")
        memory = nil
        let grown = SlotLayout(rowBytes: rowBytes, pieceBytes: pieceBytes)
        guard let block = PageBuffer(bytes: Self.memoryBytes(rowBytes: rowBytes, compressors: compressors, pieceBytes: pieceBytes)
                                            + rowBytes) else {
            reserved = SlotLayout(rowBytes: 0, pieceBytes: 0)
            layout = reserved
            return false
        }
        memory = block
        reserved = grown
        layout = grown
        carryOffset = slotCount * grown.slotBytes + compressors * grown.workerBytes + Self.outputBufferBytes
        return true
    }

    private func slotBase(_ index: Int) -> UnsafeMutablePointer<UInt8> {
        memory!.base.assumingMemoryBound(to: UInt8.self) + index * layout.slotBytes
    }

    private var outputBuffer: UnsafeMutablePointer<UInt8> {
        memory!.base.assumingMemoryBound(to: UInt8.self) + slotCount * layout.slotBytes + compressors * layout.workerBytes
    }

    // MARK: - Compressors

    /// Starts the compressors not yet running; 0 or pthread_create's error.
    private func startThreads() -> Int32 {
        while threads.count < compressors {
            var thread = pthread_t()
            // The thread's number travels with it: it picks its deflate memory by it.
            let context = UnsafeMutablePointer<(encoder: UnsafeMutableRawPointer, worker: Int)>.allocate(capacity: 1)
            context.initialize(to: (Unmanaged.passUnretained(self).toOpaque(), threads.count))
            let rc = pthread_create(&thread, nil, { raw in
                let context = raw!.assumingMemoryBound(to: (encoder: UnsafeMutableRawPointer, worker: Int).self)
                let (encoder, worker) = context.pointee
                context.deallocate()
                Unmanaged<PNGEncoder>.fromOpaque(encoder).takeUnretainedValue().compress(worker: worker)
                return nil
            }, context)
            guard rc == 0 else {
                context.deallocate()
                return rc
            }
            threads.append(thread)
        }
        return 0
    }

    /// A compressor thread: takes the oldest queued piece, filters and deflates it, marks it done.
    private func compress(worker: Int) {
        // Signals are for the main thread (the daemon takes them with sigtimedwait).
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        pthread_mutex_lock(lock)
        while true {
            while !stopping && taken == submitted { pthread_cond_wait(work, lock) }
            if stopping { break }
            let piece = taken
            taken += 1
            let index = piece % slotCount
            slots[index].state = .compressing
            let slot = slots[index]
            pthread_mutex_unlock(lock)
            compressPiece(index: index, slot: slot, worker: worker)
            pthread_mutex_lock(lock)
        }
        pthread_mutex_unlock(lock)
    }

    /// Filters and deflates the piece in slot `index` with compressor memory `worker`, marks it
    /// done (or failed) under the lock, and writes it and whatever it was the last one missing
    /// for (`writePlaced`).
    private func compressPiece(index: Int, slot: Slot, worker: Int) {
        let layout = self.layout, level = self.level, bits = self.bits
        let (filter, strategy) = (self.filter, self.strategy)
        let base = slotBase(index)
        let deflateMemory = memory!.base + slotCount * layout.slotBytes + worker * layout.workerBytes
        let secondTry = (deflateMemory + nj_deflate_memory_bytes()).assumingMemoryBound(to: UInt8.self)

        nj_png_filter_rows(base, slot.rows, layout.rowBytes, slot.hasPrevious ? base + layout.previousOffset : nil,
                           Int32(3 * bits / 8), bits == 16 ? 1 : 0, filter)
        let output = base + layout.outputOffset
        let deflated = output + SlotLayout.deflatedOffset, room = layout.outputCapacity - SlotLayout.deflatedOffset - 8
        var produced = 0
        var pieceAdler: UInt32 = 1
        let inputBytes = slot.rows * (layout.rowBytes + 1)
        var rc = nj_deflate_piece(deflateMemory, nj_deflate_memory_bytes(), level, strategy, base, inputBytes, slot.last ? 1 : 0,
                                  deflated, room, &produced, &pieceAdler)
        if rc == 0, level >= 2 {
            // Levels above `fast` keep whichever is smaller, their own deflate or `fast`'s
            // coding: on noisy rows the string searches can lose to it.
            var fast = 0
            if nj_deflate_piece(deflateMemory, nj_deflate_memory_bytes(), level, Self.method(level: 1, bits: bits).strategy, base,
                                inputBytes, slot.last ? 1 : 0, secondTry, room, &fast, &pieceAdler) == 0,
               fast < produced {
                deflated.update(from: secondTry, count: fast)
                produced = fast
            }
        }
        rc = rc == 0 ? 0 : -1
        var start = deflated
        if slot.piece == 0 {
            // The zlib header: deflate, 32 KiB window; FLEVEL as zlib writes it; FCHECK.
            let flag: UInt8 = level <= 1 ? 0x01 : level < 6 ? 0x5E : level == 6 ? 0x9C : 0xDA
            start -= 2
            start[0] = 0x78
            start[1] = flag
            produced += 2
        }
        var crc = nj_crc32(0, ("IDAT" as StaticString).utf8Start, 4)
        crc = nj_crc32(crc, start, produced)

        pthread_mutex_lock(lock)
        slots[index].state = rc == 0 ? .done : .failed
        slots[index].outputBytes = produced
        slots[index].adler = pieceAdler
        slots[index].crc = crc
        pthread_cond_broadcast(finished)
        writePlaced()
        pthread_mutex_unlock(lock)
    }

    /// Under the lock: places the deflated pieces that follow the last placed one, each at the
    /// offset the one before ends at, and writes them as IDAT chunks (the lock let go while
    /// writing), marking each free. A write error is kept for the caller; once there is one, or
    /// once the image is abandoned, pieces are freed unwritten.
    private func writePlaced() {
        while true {
            let index = nextPlaced % slotCount
            guard slots[index].state == .done, slots[index].piece == nextPlaced else { return }
            let slot = slots[index]
            let fd = pieceFD, failed = pieceWriteError != 0
            var bytes = slot.outputBytes
            let dataBytes = slot.rows * (layout.rowBytes + 1)
            placedAdler = slot.piece == 0 ? slot.adler : nj_adler32_combine(placedAdler, slot.adler, dataBytes)
            let adler = placedAdler
            let offset = nextOffset
            nextOffset += 8 + bytes + (slot.last ? 4 : 0) + 4
            nextPlaced += 1
            guard fd >= 0, !failed else {
                slots[index].state = .free
                pthread_cond_broadcast(finished)
                continue
            }
            slots[index].state = .writing
            pthread_mutex_unlock(lock)

            // The chunk in one run of the slot: length and type, data (the Adler-32 after the
            // last piece's), CRC.
            let data = slotBase(index) + layout.outputOffset + SlotLayout.deflatedOffset - (slot.piece == 0 ? 2 : 0)
            var crc = slot.crc
            if slot.last {
                withUnsafeBytes(of: adler.bigEndian) { (data + bytes).update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 4) }
                crc = nj_crc32(crc, data + bytes, 4)
                bytes += 4
            }
            withUnsafeBytes(of: (UInt32(bytes).bigEndian, UInt8(ascii: "I"), UInt8(ascii: "D"), UInt8(ascii: "A"), UInt8(ascii: "T"))) {
                (data - 8).update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 8)
            }
            withUnsafeBytes(of: crc.bigEndian) { (data + bytes).update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 4) }
            let error = Self.writeAll(fd, data - 8, 8 + bytes + 4, at: offset)

            pthread_mutex_lock(lock)
            if error != 0, pieceWriteError == 0 { pieceWriteError = error }
            slots[index].state = .free
            pthread_cond_broadcast(finished)
        }
    }

    /// pwrite(2) until all `count` bytes are written at `offset`; 0 or errno.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, at offset: Int) -> Int32 {
        var done = 0
        while done < count {
            let n = pwrite(fd, bytes + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            done += n
        }
        return 0
    }

    /// Pieces compressed on the engine's worker threads: the queued ones, in one round of the
    /// pool, from the caller's thread between the network's bands, when the pool is idle. Each
    /// taking thread works in compressor memory of its own (`worker`) and takes the round's
    /// pieces one at a time as it gets to them, so a thread whose piece was quick (runs) takes
    /// the next instead of waiting at the round's end for the other's.
    private func compressQueuedOnWorkers() {
        let count = inlineQueued
        guard count > 0 else { return }
        let first = inlineNext
        inlineQueued = 0
        inlineNext += count
        pthread_mutex_lock(lock)
        for piece in first..<(first + count) { slots[piece % slotCount].state = .compressing }
        roundNext = first
        roundEnd = first + count
        pthread_mutex_unlock(lock)
        let takers = min(count, inlineTakers)
        let task = { (encoder: PNGEncoder, takerMemories: Range<Int>) in
            for worker in takerMemories {
                while let piece = encoder.takeRoundPiece() {
                    let index = piece % encoder.slotCount
                    encoder.compressPiece(index: index, slot: encoder.slots[index], worker: worker)
                }
            }
        }
        if let pool = workers?.workerPool, takers > 1 {
            // One taker per thread, each with its memory: element w of the fixed split.
            parallelFor(pool, takers, self, fixedSplit: true, task)
        } else {
            task(self, 0..<1)
        }
    }

    /// The round's next piece not yet taken, or nil.
    private func takeRoundPiece() -> Int? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard roundNext < roundEnd else { return nil }
        roundNext += 1
        return roundNext - 1
    }

    // MARK: - Writing an image

    /// Starts an image on `fd` (a file, not opened with O_APPEND: the pieces are written at
    /// their offsets) and writes its signature, header and `text`.
    /// `method` replaces the level's filter and strategy (tests try every combination).
    ///
    /// With `workers` whose pool has as many threads as the machine has cores, the pieces are
    /// compressed in rounds on that pool, two pieces per thread taken as each gets to them,
    /// between the caller's rows:
    /// compressor threads of their own would have no core to themselves, and each time one
    /// took a core from a worker of the network's, the pool's other threads waited at the end
    /// of the round for it. With fewer threads than cores, the compressor threads use the rest.
    func begin(fd: Int32, width: Int, height: Int, bits: Int, compressionLevel: Int, text: PNGText, displayPath: String,
               method: (filter: Int32, strategy: Int32)? = nil, workers: WorkerPoolOwner? = nil) throws {
        abandon()
        self.displayPath = displayPath
        guard bits == 8 || bits == 16 else {
            throw CaptureError.invalidArgument("PNG bit depth must be 8 or 16, not \(bits)")
        }
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw CaptureError.unwritable(path: displayPath, reason: "image size \(width)x\(height) out of range")
        }
        guard (0...9).contains(compressionLevel) else {
            throw CaptureError.invalidArgument("the PNG compression level must be 0...9")
        }
        // The pieces are written at their own offsets, which appending would ignore.
        guard fcntl(fd, F_GETFL) & O_APPEND == 0 else {
            throw CaptureError.invalidArgument("the PNG encoder needs a file not opened for appending")
        }
        let rowBytes = width * 3 * bits / 8
        guard reserve(rowBytes: rowBytes) else {
            throw CaptureError.noRoom(path: displayPath, reason: "not enough memory for the PNG writer" + addressSpaceLimitHint())
        }
        let poolThreads = workers?.workerPool.map { Int(nj_threadpool_size($0)) } ?? 0
        // Two pieces a taker per round (as many as the slots hold): half the rounds, each
        // balanced piece by piece.
        inlineRound = poolThreads >= Engine.availableCores ? min(2 * min(poolThreads, compressors), slotCount) : 0
        inlineTakers = max(1, min(poolThreads, compressors))
        self.workers = inlineRound > 0 ? workers : nil
        inlineQueued = 0
        inlineNext = 0
        let started = inlineRound > 0 ? 0 : startThreads()
        guard started == 0 else {
            // A thread's stack is address space: under `ulimit -v` this is where a low limit shows.
            throw CaptureError.noRoom(path: displayPath, reason: "cannot start the PNG compressor threads: \(String(cString: strerror(started)))"
                                                                 + addressSpaceLimitHint())
        }
        pthread_mutex_lock(lock)
        level = Int32(compressionLevel)
        (filter, strategy) = method ?? Self.method(level: compressionLevel, bits: bits)
        self.bits = bits
        submitted = 0
        taken = 0
        for i in 0..<slotCount { slots[i] = Slot() }
        // The slots are laid out for the widest image reserved; this image's rows may be shorter.
        layout = SlotLayout(rowBytes: rowBytes, keeping: reserved)
        pthread_mutex_unlock(lock)
        handle = (fd, height)
        rowsWritten = 0
        piecesWritten = 0
        acquiredThrough = -1
        buffered = 0
        writeError = 0

        var signature = UInt64(0x8950_4E47_0D0A_1A0A).bigEndian
        withUnsafeBytes(of: &signature) { appendRaw($0) }
        var header = (UInt32(width).bigEndian, UInt32(height).bigEndian, UInt8(bits), UInt8(2), UInt8(0), UInt8(0), UInt8(0))
        withUnsafeBytes(of: &header) { raw in
            // The tuple is 13 bytes of fields (plus padding at the end).
            chunk("IHDR", UnsafeRawBufferPointer(rebasing: raw[0..<13]))
        }
        try writeText(text)
        try flush()
        // The pieces follow what the caller wrote.
        let start = lseek(fd, 0, SEEK_CUR)
        guard start >= 0 else {
            let code = errno
            abandon()
            throw CaptureError.unwritable(path: displayPath, reason: "cannot write: \(String(cString: strerror(code)))")
        }
        pthread_mutex_lock(lock)
        pieceFD = fd
        nextPlaced = 0
        nextOffset = Int(start)
        placedAdler = 1
        pieceWriteError = 0
        pthread_mutex_unlock(lock)
    }

    /// One row of `width * 3` samples (UInt8, or UInt16 in host byte order). On failure the
    /// image is abandoned.
    func writeRow(_ row: UnsafeRawPointer) throws {
        var slotRow: UnsafeMutableRawPointer?
        guard try reserveRows(rowsWritten..<(rowsWritten + 1), into: &slotRow) else {
            preconditionFailure("a row always fits in its piece's slot")
        }
        slotRow!.copyMemory(from: row, byteCount: layout.rowBytes)
        try commitRows(rowsWritten..<(rowsWritten + 1))
    }

    /// Where rows `rows`, the next to be written, go in their pieces' slots: `pointers[i]` gets
    /// row `rows.lowerBound + i`'s place (`width * 3` samples), for the caller to fill and then
    /// hand over with `commitRows`. False, with nothing changed, when the rows span more pieces
    /// than there are slots (rows wider than a piece); then `writeRow` takes them one by one.
    func reserveRows(_ rows: Range<Int>, into pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws -> Bool {
        guard let handle, rows.lowerBound == rowsWritten, rows.upperBound <= handle.height, !rows.isEmpty else {
            throw CaptureError.unwritable(path: displayPath, reason: handle == nil
                ? "the PNG was already finished or abandoned" : "rows out of order or beyond the image height")
        }
        let rowsPerPiece = layout.rowsPerPiece
        let first = rows.lowerBound / rowsPerPiece, last = (rows.upperBound - 1) / rowsPerPiece
        // Acquiring piece `last` waits for piece `last - slotCount` to be written: one before
        // `first`, whose rows are all in.
        guard last - first < slotCount else { return false }
        for piece in first...last where piece > acquiredThrough { try acquire(piece: piece) }
        for (i, row) in rows.enumerated() {
            pointers[i] = UnsafeMutableRawPointer(slotBase((row / rowsPerPiece) % slotCount) + (row % rowsPerPiece) * (layout.rowBytes + 1) + 1)
        }
        return true
    }

    /// Takes rows `rows` (the next to be written), filled where `reserveRows` said: each piece
    /// they complete goes to the compressors.
    func commitRows(_ rows: Range<Int>) throws {
        guard let handle, rows.lowerBound == rowsWritten, rows.upperBound <= handle.height,
              rows.isEmpty || (rows.upperBound - 1) / layout.rowsPerPiece <= acquiredThrough else {
            throw CaptureError.unwritable(path: displayPath, reason: handle == nil
                ? "the PNG was already finished or abandoned" : "rows committed without their place reserved")
        }
        for _ in rows {
            let piece = rowsWritten / layout.rowsPerPiece
            let index = piece % slotCount
            let inPiece = rowsWritten % layout.rowsPerPiece
            let base = slotBase(index)
            // The piece's first row is filtered against the one above, unfiltered: the last row
            // of the piece before, kept when that piece was complete (its slot may be reused).
            if inPiece == 0, piece > 0 { (base + layout.previousOffset).update(from: carry, count: layout.rowBytes) }
            rowsWritten += 1
            guard inPiece + 1 == layout.rowsPerPiece || rowsWritten == handle.height else { continue }
            carry.update(from: base + inPiece * (layout.rowBytes + 1) + 1, count: layout.rowBytes)
            pthread_mutex_lock(lock)
            slots[index].rows = inPiece + 1
            slots[index].last = rowsWritten == handle.height
            slots[index].state = .queued
            if inlineRound == 0 {
                submitted += 1
                pthread_cond_signal(work)
            }
            pthread_mutex_unlock(lock)
            if inlineRound > 0 {
                inlineQueued += 1
                if inlineQueued == inlineRound { compressQueuedOnWorkers() }
            }
        }
    }

    /// Makes `piece`'s slot ready to fill: waits for the piece that used it before, and the
    /// ones before that, to be written.
    private func acquire(piece: Int) throws {
        let index = piece % slotCount
        try writeFinished(through: piece - slotCount)
        pthread_mutex_lock(lock)
        slots[index] = Slot(state: .filling, piece: piece, hasPrevious: piece > 0)
        pthread_mutex_unlock(lock)
        acquiredThrough = piece
    }

    /// Waits for the pieces up to and including `last` to be written (compressing them first on
    /// the engine's workers if they are still queued for that).
    private func writeFinished(through last: Int) throws {
        while piecesWritten <= last {
            let index = piecesWritten % slotCount
            if inlineRound > 0, piecesWritten >= inlineNext { compressQueuedOnWorkers() }
            pthread_mutex_lock(lock)
            while slots[index].piece == piecesWritten, [.queued, .compressing, .done, .writing].contains(slots[index].state) {
                pthread_cond_wait(finished, lock)
            }
            let state = slots[index].state, error = pieceWriteError
            pthread_mutex_unlock(lock)
            guard state != .failed else {
                abandon()
                throw CaptureError.unwritable(path: displayPath, reason: "zlib could not compress the image data")
            }
            guard error == 0 else {
                abandon()
                throw CaptureError.unwritable(path: displayPath, reason: "cannot write: \(String(cString: strerror(error)))")
            }
            piecesWritten += 1
        }
    }

    /// Writes `text` as trailing tEXt chunks, the image data still in flight, and the end of
    /// the image. The file descriptor stays open.
    func end(text: PNGText) throws {
        guard let handle else {
            throw CaptureError.unwritable(path: displayPath, reason: "the PNG was already finished or abandoned")
        }
        guard rowsWritten == handle.height else {
            abandon()
            throw CaptureError.unwritable(path: displayPath, reason: "only \(rowsWritten) of \(handle.height) rows written")
        }
        let pieces = (handle.height + layout.rowsPerPiece - 1) / layout.rowsPerPiece
        try writeFinished(through: pieces - 1)
        pthread_mutex_lock(lock)
        let end = nextOffset
        pthread_mutex_unlock(lock)
        guard lseek(handle.fd, off_t(end), SEEK_SET) == off_t(end) else {
            let code = errno
            abandon()
            throw CaptureError.unwritable(path: displayPath, reason: "cannot write: \(String(cString: strerror(code)))")
        }
        try writeText(text)
        chunk("IEND", UnsafeRawBufferPointer(start: nil, count: 0))
        try flush()
        self.handle = nil
        workers = nil
    }

    /// Gives the pages of the slots, the deflate states and the output buffer back between
    /// images (each piece starts its deflate state afresh), as the colour stage's: so they are
    /// resident only while the network's second pass runs, not beside its first-pass windows.
    func releasePages() {
        guard handle == nil, let memory else { return }
        memory.release(firstBytes: memory.bytes)
    }

    /// Drops the image being written, if any, without writing more (pieces being compressed
    /// are waited for, so their slots are free for the next image).
    func abandon() {
        guard handle != nil else { return }
        handle = nil
        workers = nil
        inlineQueued = 0
        pthread_mutex_lock(lock)
        // Nothing queued is taken any more, and nothing more is written; what is being
        // compressed or written finishes.
        submitted = taken
        pieceFD = -1
        for i in 0..<slotCount where slots[i].state == .queued { slots[i].state = .free }
        while (0..<slotCount).contains(where: { slots[$0].state == .compressing || slots[$0].state == .writing }) {
            pthread_cond_wait(finished, lock)
        }
        pthread_mutex_unlock(lock)
    }

    // MARK: - Bytes out

    private func writeText(_ text: PNGText) throws {
        guard text.count > 0 else { return }
        try text.bytes.withUnsafeBufferPointer { packed in
            var start = 0
            for _ in 0..<text.count {
                // "key\0value\0": the chunk is key, NUL, value (no trailing NUL).
                let keyEnd = packed[start...].firstIndex(of: 0)!
                let valueEnd = packed[(keyEnd + 1)...].firstIndex(of: 0)!
                let key = keyEnd - start
                guard (1...79).contains(key) else {
                    throw CaptureError.unwritable(path: displayPath, reason: "a PNG text key must have 1 to 79 characters")
                }
                chunk("tEXt", UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(packed)[start..<valueEnd]))
                try flush()
                start = valueEnd + 1
            }
        }
    }

    /// One chunk through the output buffer (length, type, data, CRC).
    private func chunk(_ type: StaticString, _ data: UnsafeRawBufferPointer) {
        var length = UInt32(data.count).bigEndian
        withUnsafeBytes(of: &length) { appendRaw($0) }
        let typeBytes = UnsafeRawBufferPointer(start: type.utf8Start, count: 4)
        appendRaw(typeBytes)
        appendRaw(data)
        var crc = nj_crc32(0, type.utf8Start, 4)
        if data.count > 0 { crc = nj_crc32(crc, data.baseAddress!.assumingMemoryBound(to: UInt8.self), data.count) }
        var crcBytes = crc.bigEndian
        withUnsafeBytes(of: &crcBytes) { appendRaw($0) }
    }

    /// Bytes into the output buffer, written out whenever it fills (a write error is kept for
    /// the next `flush`).
    private func appendRaw(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            if buffered == Self.outputBufferBytes { try? flush() }
            let n = min(Self.outputBufferBytes - buffered, bytes.count - offset)
            (outputBuffer + buffered).update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, count: n)
            buffered += n
            offset += n
        }
    }

    private func flush() throws {
        if buffered > 0, writeError == 0 {
            do { try writeAll(UnsafeRawPointer(outputBuffer), buffered) } catch { buffered = 0; throw error }
        }
        buffered = 0
        if writeError != 0 {
            let code = writeError
            abandon()
            throw CaptureError.unwritable(path: displayPath, reason: "cannot write: \(String(cString: strerror(code)))")
        }
    }

    private func writeAll(_ bytes: UnsafeRawPointer, _ count: Int) throws {
        guard let handle else { return }
        var done = 0
        while done < count, writeError == 0 {
            let n = write(handle.fd, bytes + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                writeError = errno
            } else {
                done += n
            }
        }
        if writeError != 0 {
            let code = writeError
            abandon()
            throw CaptureError.unwritable(path: displayPath, reason: "cannot write: \(String(cString: strerror(code)))")
        }
    }
}

extension PNGEncoder.SlotLayout {
    /// The layout of `reserved` (the widest image's slots) for an image of `rowBytes`:
    /// as many of its rows per piece as fit the reserved input room.
    init(rowBytes: Int, keeping reserved: PNGEncoder.SlotLayout) {
        self.rowBytes = rowBytes
        rowsPerPiece = max(1, reserved.inputBytes / (rowBytes + 1))
        inputBytes = rowsPerPiece * (rowBytes + 1)
        previousOffset = reserved.previousOffset
        outputOffset = reserved.outputOffset
        outputCapacity = reserved.outputCapacity
        slotBytes = reserved.slotBytes
    }
}
