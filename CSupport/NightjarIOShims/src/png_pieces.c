/* A PNG's image data in independent pieces, as pigz deflates a stream: each piece of whole
 * scanlines is filtered and deflated on its own (a fresh raw deflate stream that ends in a
 * full flush, the last one in a final block), so pieces can be compressed on several threads
 * and their outputs simply concatenated into one zlib stream; the stream's Adler-32 is
 * combined from the pieces' (zlib's adler32_combine). Swift schedules the pieces and writes
 * the chunks; these functions only filter and deflate one piece in the caller's memory. */
#include "nightjar_io_shims.h"
#include "nightjar_kernels_png.h"

#include <string.h>
#include <zlib.h>

/* ---- Filtering ---------------------------------------------------------------------------- */

static inline uint8_t paeth(int a, int b, int c) {
    int p = a + b - c;
    int pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

enum { PAETH_SEGMENT = 512 };

/* Filters one row in place, right to left, so every predictor still reads unfiltered bytes. */
static void filter_row(uint8_t *row, const uint8_t *up, size_t bytes, size_t bpp, int filter, nj_u8_png_paeth_fn paeth_residuals) {
    switch (filter) {
    case NJ_PNG_FILTER_SUB:
        for (size_t i = bytes; i-- > bpp;) row[i] = (uint8_t)(row[i] - row[i - bpp]);
        break;
    case NJ_PNG_FILTER_UP:
        if (up) for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)(row[i] - up[i]);
        break;
    case NJ_PNG_FILTER_AVERAGE:
        for (size_t i = bytes; i-- > 0;) {
            int left = i >= bpp ? row[i - bpp] : 0, above = up ? up[i] : 0;
            row[i] = (uint8_t)(row[i] - ((left + above) >> 1));
        }
        break;
    case NJ_PNG_FILTER_PAETH:
        if (!up) { /* with no row above Paeth predicts the left byte: Sub */
            filter_row(row, up, bytes, bpp, NJ_PNG_FILTER_SUB, paeth_residuals);
            break;
        }
        /* Segments right to left, each computed into a scratch block and copied back, so the
         * kernel reads only bytes not yet filtered and writes apart from what it reads (the
         * byte-at-a-time loop ran at about 130 MB/s, slower than the deflate). */
        for (size_t end = bytes; end > bpp;) {
            size_t start = end > PAETH_SEGMENT + bpp ? end - PAETH_SEGMENT : bpp;
            uint8_t scratch[PAETH_SEGMENT];
            paeth_residuals(scratch, row + start, up + start, row + start - bpp, up + start - bpp, end - start);
            memcpy(row + start, scratch, end - start);
            end = start;
        }
        for (size_t i = 0; i < bpp && i < bytes; i++) row[i] = (uint8_t)(row[i] - up[i]);
        break;
    default:
        break;
    }
}

/* What filtering `row` with `filter` would leave, scored as libpng's adaptive choice scores it:
 * the sum of the residuals taken as signed bytes (small values either side of 0 code short). */
static size_t filter_cost(const uint8_t *row, const uint8_t *up, size_t bytes, size_t bpp, int filter) {
    size_t sum = 0;
    for (size_t i = 0; i < bytes; i++) {
        int left = i >= bpp ? row[i - bpp] : 0, above = up ? up[i] : 0;
        int corner = (up && i >= bpp) ? up[i - bpp] : 0;
        int predicted = filter == NJ_PNG_FILTER_SUB       ? left
                        : filter == NJ_PNG_FILTER_UP      ? above
                        : filter == NJ_PNG_FILTER_AVERAGE ? (left + above) >> 1
                        : filter == NJ_PNG_FILTER_PAETH   ? paeth(left, above, corner)
                                                          : 0;
        int8_t residual = (int8_t)(uint8_t)(row[i] - predicted);
        sum += (size_t)(residual < 0 ? -residual : residual);
    }
    return sum;
}

/* The filter of the five with the smallest cost for this row. */
static int adaptive_filter(const uint8_t *row, const uint8_t *up, size_t bytes, size_t bpp) {
    int best = NJ_PNG_FILTER_NONE;
    size_t best_cost = filter_cost(row, up, bytes, bpp, NJ_PNG_FILTER_NONE);
    for (int filter = NJ_PNG_FILTER_SUB; filter <= NJ_PNG_FILTER_PAETH; filter++) {
        size_t cost = filter_cost(row, up, bytes, bpp, filter);
        if (cost < best_cost) best = filter, best_cost = cost;
    }
    return best;
}

static void swap_bytes(uint8_t *p, size_t bytes) {
    for (size_t i = 0; i + 1 < bytes; i += 2) {
        uint8_t t = p[i];
        p[i] = p[i + 1];
        p[i + 1] = t;
    }
}

void nj_png_filter_rows(uint8_t *rows, size_t count, size_t row_bytes, uint8_t *previous,
                        int bytes_per_pixel, int swap16, int filter) {
    size_t stride = row_bytes + 1;
    if (swap16) {
        /* Rows arrive in host order; PNG stores 16-bit samples big-endian (and the predictors
         * work on the stored bytes, so the row above is turned too). */
        for (size_t y = 0; y < count; y++) swap_bytes(rows + y * stride + 1, row_bytes);
        if (previous) swap_bytes(previous, row_bytes);
    }
    const nj_u8_png_paeth_fn paeth_residuals = nj_png_kernels_active().paeth;
    /* Bottom to top: row y's predictor reads row y - 1 before that row is filtered. */
    for (size_t y = count; y-- > 0;) {
        uint8_t *row = rows + y * stride;
        const uint8_t *up = y > 0 ? rows + (y - 1) * stride + 1 : previous;
        int chosen = filter == NJ_PNG_FILTER_ADAPTIVE
                         ? adaptive_filter(row + 1, up, row_bytes, (size_t)bytes_per_pixel) : filter;
        row[0] = (uint8_t)chosen;
        filter_row(row + 1, up, row_bytes, (size_t)bytes_per_pixel, chosen, paeth_residuals);
    }
}

/* Runs of one repeated byte (nj_byte_run) are coded as matches at distance 1 by png_pieces.c's
 * own coder. */
static int huffman_piece(const uint8_t *input, size_t input_bytes, int last, uint8_t *output,
                         size_t output_capacity, size_t *output_bytes, nj_u8_find_runs_fn find_runs, nj_byte_run *runs,
                         size_t run_capacity);

/* ---- Deflating ---------------------------------------------------------------------------- */

typedef struct {
    unsigned char *base;
    size_t size;
    size_t used;
} bump_memory;

static voidpf bump_alloc(voidpf opaque, uInt items, uInt size) {
    bump_memory *memory = opaque;
    size_t bytes = ((size_t)items * size + 15) & ~(size_t)15;
    if (bytes > memory->size - memory->used) return Z_NULL;
    void *p = memory->base + memory->used;
    memory->used += bytes;
    return p;
}

static void bump_free(voidpf opaque, voidpf address) {
    (void)opaque;
    (void)address; /* the whole block is reused by the next piece */
}

size_t nj_deflate_memory_bytes(void) {
    /* deflateInit2 with window bits 15, memory level 8: the state, a 64 KiB window, 64 KiB
     * of previous-match links, a 64 KiB hash head and a 64 KiB pending buffer (zlib 1.2.x
     * and 1.3.x); the rest is room to spare, plus the bump allocator's record. */
    return (272u << 10) + 64;
}

size_t nj_deflate_piece_bound(size_t input_bytes) {
    /* Stored blocks in the worst case (5 bytes per 16 KiB block, rounded up generously), the
     * full flush's empty stored block and the zlib header and Adler-32 the caller adds. */
    return input_bytes + (input_bytes >> 10) + 64;
}

int nj_deflate_piece(void *memory, size_t memory_bytes, int level, int strategy,
                     const uint8_t *input, size_t input_bytes, int last, uint8_t *output,
                     size_t output_capacity, size_t *output_bytes, uint32_t *adler) {
    if (strategy == NJ_DEFLATE_HUFFMAN_DIRECT || strategy == NJ_DEFLATE_RUNS_DIRECT) {
        const nj_png_kernels kernels = nj_png_kernels_active();
        *adler = kernels.adler32(1, input, input_bytes);
        /* The runs' list lives in the memory zlib would have used. */
        const size_t run_capacity =
            strategy == NJ_DEFLATE_RUNS_DIRECT && memory ? memory_bytes / sizeof(nj_byte_run) : 0;
        return huffman_piece(input, input_bytes, last, output, output_capacity, output_bytes, kernels.find_runs, memory,
                             run_capacity);
    }
    if (memory_bytes < sizeof(bump_memory) + 16) return -1;
    bump_memory *bump = memory;
    bump->base = (unsigned char *)memory + ((sizeof(bump_memory) + 15) & ~(size_t)15);
    bump->size = memory_bytes - (size_t)(bump->base - (unsigned char *)memory);
    bump->used = 0;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    stream.zalloc = bump_alloc;
    stream.zfree = bump_free;
    stream.opaque = bump;
    int z_strategy = strategy == NJ_DEFLATE_HUFFMAN ? Z_HUFFMAN_ONLY
                     : strategy == NJ_DEFLATE_RLE   ? Z_RLE
                     : strategy == NJ_DEFLATE_FILTERED ? Z_FILTERED
                                                      : Z_DEFAULT_STRATEGY;
    /* Raw deflate (negative window bits): the caller writes one zlib header and trailer. */
    if (deflateInit2(&stream, level, Z_DEFLATED, -15, 8, z_strategy) != Z_OK) return -1;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)input_bytes;
    stream.next_out = output;
    stream.avail_out = (uInt)output_capacity;
    int rc = deflate(&stream, last ? Z_FINISH : Z_FULL_FLUSH);
    int ok = last ? rc == Z_STREAM_END : (rc == Z_OK && stream.avail_in == 0 && stream.avail_out > 0);
    *output_bytes = output_capacity - stream.avail_out;
    deflateEnd(&stream);
    *adler = nj_png_kernels_active().adler32(1, input, input_bytes);
    return ok ? 0 : -1;
}

uint32_t nj_adler32_combine(uint32_t first, uint32_t second, size_t second_bytes) {
    return (uint32_t)adler32_combine(first, second, (z_off_t)second_bytes);
}

uint32_t nj_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    return (uint32_t)crc32(crc, bytes, (uInt)count);
}

/* ---- Huffman coding alone, without zlib ---------------------------------------------------- */
/* zlib's Z_HUFFMAN_ONLY still goes through its general block machinery (a symbol buffer, a
 * tally per byte, a block every 16 Ki symbols) and ran at about 110 MB/s per CPU second on
 * restored rows; the same coding done directly (count the bytes, build one code per piece,
 * write the bits 64 at a time) runs several times faster and gives the same sizes. Output: one
 * dynamic-Huffman block (RFC 1951 3.2.7) per piece, or stored blocks where those are smaller,
 * then a full flush's empty stored block, or the final block's bit for the last piece. */

typedef struct {
    uint64_t bits;
    unsigned count;
    uint8_t *out, *end;
    int overflow;
} bit_writer;

static inline void put_bits(bit_writer *w, uint64_t value, unsigned n) {
    w->bits |= value << w->count;
    w->count += n;
    if (w->count >= 32) {
        if (w->end - w->out < 8) {
            w->overflow = 1;
            w->count -= 32;
            w->bits >>= 32;
            return;
        }
        uint64_t word = w->bits;
        memcpy(w->out, &word, 4); /* little-endian hosts only (x86-64, AArch64) */
        w->out += 4;
        w->bits >>= 32;
        w->count -= 32;
    }
}

/* Writes the bits left and pads to a byte boundary. */
static void align_bits(bit_writer *w) {
    while (w->count > 0) {
        if (w->out == w->end) {
            w->overflow = 1;
            return;
        }
        *w->out++ = (uint8_t)w->bits;
        w->bits >>= 8;
        w->count = w->count > 8 ? w->count - 8 : 0;
    }
    w->bits = 0;
}

/* Huffman code lengths for `n` symbols (n <= 286) of the given frequencies, none longer than
 * `limit`: the classic two-queue construction on the sorted leaves; when the longest code is too
 * long, the frequencies are halved (kept above 0) and the code built again. At least two
 * symbols get a code (the format's decoders want a complete code). */
static void build_lengths(const uint32_t *frequencies, int n, int limit, uint8_t *lengths) {
    uint32_t weight[2 * 288];
    int parent[2 * 288], order[288];
    uint32_t freq[288];
    int used = 0;
    for (int s = 0; s < n; s++) {
        freq[s] = frequencies[s];
        lengths[s] = 0;
        if (freq[s]) used++;
    }
    for (int s = 0; used < 2 && s < n; s++)
        if (!freq[s]) freq[s] = 1, used++;
    for (;;) {
        int leaves = 0;
        for (int s = 0; s < n; s++)
            if (freq[s]) order[leaves++] = s;
        /* Never fewer than two (above; n is 19 or more): said for the compilers that cannot
         * see it (gcc warned of depth[nodes - 1] below at nodes 0). */
        if (leaves < 2) return;
        /* Insertion sort by frequency (at most 286 leaves; runs once per piece). */
        for (int i = 1; i < leaves; i++) {
            int s = order[i], j = i;
            while (j > 0 && freq[order[j - 1]] > freq[s]) order[j] = order[j - 1], j--;
            order[j] = s;
        }
        for (int i = 0; i < leaves; i++) weight[i] = freq[order[i]];
        /* Nodes 0..leaves-1 are the sorted leaves, leaves.. the internal nodes in the order
         * made (their weights never decrease): merge the two lightest heads of the queues. */
        int next_leaf = 0, next_node = leaves, nodes = leaves;
        while (nodes < 2 * leaves - 1) {
            int pick[2];
            for (int k = 0; k < 2; k++) {
                if (next_leaf < leaves && (next_node >= nodes || weight[next_leaf] <= weight[next_node]))
                    pick[k] = next_leaf++;
                else
                    pick[k] = next_node++;
            }
            weight[nodes] = weight[pick[0]] + weight[pick[1]];
            parent[pick[0]] = parent[pick[1]] = nodes;
            nodes++;
        }
        /* Depths from the root (the last node) down: a parent is always made after its children. */
        uint8_t depth[2 * 288];
        depth[nodes - 1] = 0;
        int longest = 0;
        for (int i = nodes - 2; i >= 0; i--) {
            depth[i] = (uint8_t)(depth[parent[i]] + 1);
            if (i < leaves && depth[i] > longest) longest = depth[i];
        }
        if (longest <= limit) {
            for (int i = 0; i < leaves; i++) lengths[order[i]] = depth[i];
            return;
        }
        for (int s = 0; s < n; s++)
            if (freq[s]) freq[s] = (freq[s] + 1) / 2;
    }
}

/* Canonical codes for the lengths (RFC 1951 3.2.2), bit-reversed as deflate writes them. */
static void canonical_codes(const uint8_t *lengths, int n, uint16_t *codes) {
    uint16_t count[16] = {0}, next[16];
    for (int s = 0; s < n; s++) count[lengths[s]]++;
    count[0] = 0;
    uint16_t code = 0;
    for (int bits = 1; bits < 16; bits++) {
        code = (uint16_t)((code + count[bits - 1]) << 1);
        next[bits] = code;
    }
    for (int s = 0; s < n; s++) {
        int len = lengths[s];
        if (!len) {
            codes[s] = 0;
            continue;
        }
        uint16_t c = next[len]++, reversed = 0;
        for (int b = 0; b < len; b++) reversed = (uint16_t)(reversed << 1 | ((c >> b) & 1));
        codes[s] = reversed;
    }
}

/* Stored blocks for `bytes` (the worst case, and empty for a full flush's marker). */
static void put_stored(bit_writer *w, const uint8_t *input, size_t bytes, int last) {
    do {
        size_t n = bytes > 65535 ? 65535 : bytes;
        put_bits(w, (uint64_t)(last && n == bytes), 3); /* BFINAL, BTYPE 00 */
        align_bits(w);
        if ((size_t)(w->end - w->out) < 4 + n) {
            w->overflow = 1;
            return;
        }
        uint8_t header[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n, (uint8_t)(~n >> 8)};
        memcpy(w->out, header, 4);
        if (n) memcpy(w->out + 4, input, n);
        w->out += 4 + n;
        input += n;
        bytes -= n;
    } while (bytes > 0);
}

/* Codes `input`'s bytes as literals while the output has 8 bytes of room (the rest is the
 * caller's, from the count returned): three codes of at most 15 bits, joined, go in above the
 * at most 7 bits pending, then 8 bytes are stored and the pointer moves by the whole bytes
 * among them: no branch per code, and one shift and one addition per three codes wait on the
 * group before. The bits are put_bits's, in the same order. `entry[s]` is s's code | its
 * length << 16 (one load per literal), made once per piece. With the tallies below, deflate
 * of restored frames went from 630 to 910 MB/s (16-bit), 975 to 1165 (8-bit, network colour)
 * and 1075 to 1110 (8-bit, camera colour, 15 % of raw: short codes) per CPU second (Zen 5,
 * scripts/bench-png.c's loop). */
static size_t put_literals(bit_writer *w, const uint8_t *input, size_t count, const uint32_t *entry) {
    uint64_t bits = w->bits;
    unsigned pending = w->count; /* < 32: put_bits keeps it so */
    uint8_t *out = w->out;
    const uint8_t *end = w->end;
    size_t j = 0;
    if (end - out < 8) return 0;
    memcpy(out, &bits, 8); /* little-endian hosts only, as put_bits */
    out += pending >> 3;
    bits >>= pending & 56;
    pending &= 7;
    for (; j + 3 <= count && end - out >= 8; j += 3) {
        uint32_t e0 = entry[input[j]], e1 = entry[input[j + 1]], e2 = entry[input[j + 2]];
        /* The three codes joined first, so that only one shift and one addition wait on
         * `pending` from the group before. */
        unsigned l0 = e0 >> 16, l01 = l0 + (e1 >> 16);
        uint64_t joined = (uint64_t)(e0 & 0xffff) | (uint64_t)(e1 & 0xffff) << l0 | (uint64_t)(e2 & 0xffff) << l01;
        bits |= joined << pending;
        pending += l01 + (e2 >> 16); /* at most 7 + 45 */
        memcpy(out, &bits, 8);
        out += pending >> 3;
        bits >>= pending & 56;
        pending &= 7;
    }
    w->bits = bits;
    w->count = pending;
    w->out = out;
    return j;
}

/* All of `count` literals: put_literals, then the rest (all of it where the output has no room
 * to spare) two literals per call: 30 bits at most, and put_bits empties below 32. */
static void put_all_literals(bit_writer *w, const uint8_t *input, size_t count, const uint32_t *entry) {
    size_t j = put_literals(w, input, count, entry);
    for (; j + 2 <= count; j += 2) {
        uint32_t a = entry[input[j]], b = entry[input[j + 1]];
        put_bits(w, (uint64_t)(a & 0xffff) | (uint64_t)(b & 0xffff) << (a >> 16), (a >> 16) + (b >> 16));
    }
    if (j < count) put_bits(w, entry[input[j]] & 0xffff, entry[input[j]] >> 16);
}

/* ---- Runs of a repeated byte --------------------------------------------------------------- */
/* Filtered rows of smooth image areas (the network's output is denoised: dark skies, walls)
 * are long runs of one residual, mostly 0. A run costs a bit or more per byte as literals, and
 * one symbol per 258 bytes as matches at distance 1 (the byte before), which also skips the
 * per-literal work of the coder: the synthetic 12.1 MP frame `bench` restores has 76 % of its
 * filtered bytes in runs of 8 or more. The kernels' search (nj_u8_find_runs) finds them; runs
 * shorter than NJ_PNG_MIN_RUN stay literals. */
enum { MAX_MATCH = 258 };

/* Deflate's length symbol (257..285, less 257) of a match of `length` (3..258) bytes, and its
 * extra bits (RFC 1951 3.2.5): lengths 3..10 one symbol each; then groups of four symbols with
 * 1..5 extra bits, covering 2^(e+2) .. 2^(e+3) - 1 above 3 for e extra bits; 258 its own. */
static inline unsigned length_symbol(unsigned length, unsigned *extra_bits, unsigned *extra) {
    const unsigned n = length - 3;
    if (length == MAX_MATCH) {
        *extra_bits = 0, *extra = 0;
        return 28;
    }
    if (n < 8) {
        *extra_bits = 0, *extra = 0;
        return n;
    }
    const unsigned e = (unsigned)(31 - __builtin_clz(n)) - 2;
    *extra_bits = e;
    *extra = n & ((1u << e) - 1);
    return 4 * e + (n >> e);
}

/* The next match of a run with `*left` bytes to go (taken off it): 258 bytes, or the rest in
 * one (at least 3 bytes: a rest of 1 or 2 takes 3 from the full match before it). */
static inline unsigned next_match(unsigned *left) {
    const unsigned length = *left <= MAX_MATCH ? *left : *left - MAX_MATCH < 3 ? *left - 3 : MAX_MATCH;
    *left -= length;
    return length;
}

/* Adds `count` bytes to the tallies of byte values. Eight tallies, a word of input at a time:
 * filtered rows are mostly a few byte values, and a tally's increments of one value wait on
 * each other (4 % faster than four tallies of single bytes on restored 8-bit frames, Zen 5). */
static void tally_bytes(uint32_t tally[8][256], const uint8_t *input, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        uint64_t word;
        memcpy(&word, input + i, 8);
        tally[0][word & 255]++;
        tally[1][(word >> 8) & 255]++;
        tally[2][(word >> 16) & 255]++;
        tally[3][(word >> 24) & 255]++;
        tally[4][(word >> 32) & 255]++;
        tally[5][(word >> 40) & 255]++;
        tally[6][(word >> 48) & 255]++;
        tally[7][word >> 56]++;
    }
    for (; i < count; i++) tally[i & 7][input[i]]++;
}

static int huffman_piece(const uint8_t *input, size_t input_bytes, int last, uint8_t *output,
                         size_t output_capacity, size_t *output_bytes, nj_u8_find_runs_fn find_runs, nj_byte_run *runs,
                         size_t run_capacity) {
    /* Literal/length symbols 0..285 (256 ends the block, 257.. are match lengths) and two
     * distance codes of one bit each, of which the first (distance 1) is used (a complete
     * code, as zlib writes it for literal-only blocks). */
    enum { SYMBOLS = 286, DISTANCES = 2 };
    uint32_t freq[SYMBOLS] = {0};
    /* The runs first: their bytes are matches, and only the literals between them are counted. */
    const size_t run_count = run_capacity > 0 ? find_runs(input, input_bytes, runs, run_capacity) : 0;
    uint32_t tally[8][256];
    memset(tally, 0, sizeof tally);
    uint64_t match_bits = 0; /* the matches' extra bits and distance codes */
    size_t at = 0;
    for (size_t r = 0; r < run_count; r++) {
        tally_bytes(tally, input + at, runs[r].start - at);
        for (unsigned left = runs[r].length; left > 0;) {
            unsigned extra_bits, extra_value;
            freq[257 + length_symbol(next_match(&left), &extra_bits, &extra_value)]++;
            match_bits += extra_bits + 1;
        }
        at = runs[r].start + runs[r].length;
    }
    tally_bytes(tally, input + at, input_bytes - at);
    for (int s = 0; s < 256; s++) {
        uint32_t sum = 0;
        for (int t = 0; t < 8; t++) sum += tally[t][s];
        freq[s] = sum;
    }
    freq[256] = 1;
    int hlit = SYMBOLS;
    while (hlit > 257 && freq[hlit - 1] == 0) hlit--;
    enum { ALL = SYMBOLS + DISTANCES };
    uint8_t lengths[ALL];
    build_lengths(freq, hlit, 15, lengths);
    lengths[hlit] = lengths[hlit + 1] = 1;
    const int all = hlit + DISTANCES;

    /* The code lengths, run-length coded: 17 and 18 for runs of zeros, 0..15 otherwise. */
    uint8_t symbols[ALL], extra[ALL];
    int symbol_count = 0;
    uint32_t length_freq[19] = {0};
    for (int s = 0; s < all;) {
        int run = 1;
        while (s + run < all && lengths[s + run] == lengths[s]) run++;
        if (lengths[s] == 0 && run >= 3) {
            int n = run > 138 ? 138 : run;
            symbols[symbol_count] = n >= 11 ? 18 : 17;
            extra[symbol_count++] = (uint8_t)(n >= 11 ? n - 11 : n - 3);
            length_freq[n >= 11 ? 18 : 17]++;
            s += n;
        } else {
            symbols[symbol_count] = lengths[s];
            extra[symbol_count++] = 0;
            length_freq[lengths[s]]++;
            s++;
        }
    }
    uint8_t length_lengths[19];
    build_lengths(length_freq, 19, 7, length_lengths);
    static const uint8_t length_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    int hclen = 19;
    while (hclen > 4 && length_lengths[length_order[hclen - 1]] == 0) hclen--;

    /* The block's size in bits, to fall back on stored blocks when coding would not pay. */
    uint64_t coded = 3 + 5 + 5 + 4 + 3 * (uint64_t)hclen + match_bits;
    for (int k = 0; k < symbol_count; k++)
        coded += length_lengths[symbols[k]] + (symbols[k] == 18 ? 7 : symbols[k] == 17 ? 3 : 0);
    for (int s = 0; s < hlit; s++) coded += (uint64_t)freq[s] * lengths[s];

    bit_writer w = {0, 0, output, output + output_capacity, 0};
    if (coded / 8 + 32 >= input_bytes) {
        put_stored(&w, input, input_bytes, last);
    } else {
        uint16_t codes[SYMBOLS], length_codes[19];
        canonical_codes(lengths, hlit, codes);
        canonical_codes(length_lengths, 19, length_codes);
        put_bits(&w, (uint64_t)(last ? 1 : 0) | 2u << 1, 3); /* BFINAL, BTYPE 10 */
        put_bits(&w, (uint64_t)(hlit - 257), 5);
        put_bits(&w, DISTANCES - 1, 5);
        put_bits(&w, (uint64_t)(hclen - 4), 4);
        for (int k = 0; k < hclen; k++) put_bits(&w, length_lengths[length_order[k]], 3);
        for (int k = 0; k < symbol_count; k++) {
            put_bits(&w, length_codes[symbols[k]], length_lengths[symbols[k]]);
            if (symbols[k] == 17) put_bits(&w, extra[k], 3);
            if (symbols[k] == 18) put_bits(&w, extra[k], 7);
        }
        uint32_t entry[256]; /* code | length << 16: one load per literal */
        for (int s = 0; s < 256; s++) entry[s] = codes[s] | (uint32_t)lengths[s] << 16;
        at = 0;
        for (size_t r = 0; r < run_count; r++) {
            put_all_literals(&w, input + at, runs[r].start - at, entry);
            for (unsigned left = runs[r].length; left > 0;) {
                unsigned extra_bits, extra_value;
                const unsigned symbol = 257 + length_symbol(next_match(&left), &extra_bits, &extra_value);
                /* The length's code, its extra bits, then distance code 0 (distance 1): "0". */
                put_bits(&w, (uint64_t)codes[symbol] | (uint64_t)extra_value << lengths[symbol],
                         lengths[symbol] + extra_bits + 1);
            }
            at = runs[r].start + runs[r].length;
        }
        put_all_literals(&w, input + at, input_bytes - at, entry);
        put_bits(&w, codes[256], lengths[256]);
    }
    if (last)
        align_bits(&w);
    else
        put_stored(&w, NULL, 0, 0); /* the full flush: an empty stored block, byte-aligned */
    if (w.overflow) return -1;
    *output_bytes = (size_t)(w.out - output);
    return 0;
}
