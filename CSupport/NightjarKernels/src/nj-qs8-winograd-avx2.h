// The parts the AVX2 int8 Winograd kernels share (qs8-conv2d-3x3-winograd{2x2,2x4,4x4}-avx2-6x2.c,
// qs8-conv2d-5x5-winograd1x{2,4}-avx2-6x2.c): a row segment with the zero point written in, the
// columns of tiles 2 or 4 columns wide, the interleaving of two channels' transformed tiles into
// VPMADDWD's pairs, the products' register blocks, a row's finishing stores, the 3x3 kernels'
// loop over tiles of rows and their products per transform point, F(4, 3)'s integer transforms,
// and the recovery of the exact sum from its multiple modulo 2^32, and F(4x4, 3x3)'s input and
// output transforms. Blocks are 16 tiles: one int16 vector per channel, two int32 vectors per
// output channel (one zmm each in the AVX-512 VNNI kernel that reuses these transforms).
// Internal, no include guard: included once by each kernel file, inside #if defined(__x86_64__),
// after nj-qs8-simd-avx2.h.
#define QW_TB 16   // tiles per block
#define QW_ICU 32  // 3x3 kernels: channel pairs per transform chunk
#define QW_OCC 64  // 3x3 kernels: output channels per accumulation chunk
// The 3x3 kernels' elements between transform points ξ in V (int16) and M (int32): the data
// and one cache line. Unpadded the strides were 2 and 4 KiB, so the 16 or 36 points of a tile
// that the input transform stores and the output transform loads fell into one or two sets of
// the 8-way L1 and missed it by conflict (on Zen 3 the F(4x4) kernel's output transform loads
// took an eighth of its time).
#define QW_V_XI (QW_ICU * QW_TB * 2 + 32)
#define QW_M_XI (QW_OCC * QW_TB + 16)
#define QW_ALWAYS_INLINE inline __attribute__((always_inline))

// Columns [c0, c0 + cols) of row y of input channel ic: the row itself when inside, else a copy
// in `seg` with the zero point outside the image (the reference's padding). Every row's first
// and last blocks take the copy, so it is memset and memcpy, not a loop over bytes (which cost
// the 64-column kernel a fifth of its time).
static QW_ALWAYS_INLINE const int8_t *qw_segment(const nj_conv2d_qs8_args *a, int32_t ic, int32_t y, int32_t c0,
                                                 int32_t cols, int8_t *seg) {
    const int8_t *row = y >= 0 && y < a->height
                            ? a->input + (size_t)ic * a->input_channel_stride + (size_t)(y % a->input_rows) * a->width
                            : NULL;
    if (row) {
        // The next block's columns of this row, fetched ahead in software: a block reads one or
        // two new cache lines in each of its (rows x channels) streams, too many streams for
        // the hardware prefetchers (the 5x5 kernel stalled on these loads for a tenth of its
        // time). Integer arithmetic: the address may lie past the row, which a prefetch allows.
        const uintptr_t ahead = (uintptr_t)row + (uintptr_t)(c0 + cols);
        _mm_prefetch((const char *)ahead, _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + 63), _MM_HINT_T0);
    }
    if (row && c0 >= 0 && c0 + cols <= a->width) return row + c0;
    const int8_t fill = (int8_t)a->params->input_zero_point;
    // [lo, hi): the columns inside the image (none without a row).
    int32_t lo = c0 < 0 ? -c0 : 0, hi = a->width - c0;
    if (lo > cols) lo = cols;
    if (hi > cols) hi = cols;
    if (!row || hi < lo) hi = lo;
    memset(seg, fill, (size_t)lo);
    if (hi > lo) memcpy(seg + lo, row + c0 + lo, (size_t)(hi - lo));
    memset(seg + hi, fill, (size_t)(cols - hi));
    return seg;
}

// The even (low bytes) and odd (high bytes) columns of 16 words at p, sign-extended to int16.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_split_columns(const int8_t *p, __m256i *even, __m256i *odd) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)p);
    *even = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
    *odd = _mm256_srai_epi16(w, 8);
}

// Two channels' values for 16 tiles interleaved into pairs: out[0 .. 15] tiles 0-7,
// out[16 .. 31] tiles 8-15 (unpack works within 128-bit halves: 0-3 | 8-11 and 4-7 | 12-15).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_store_pairs(int16_t *out, __m256i first, __m256i second) {
    const __m256i l = _mm256_unpacklo_epi16(first, second), h = _mm256_unpackhi_epi16(first, second);
    _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(l, h, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 16), _mm256_permute2x128_si256(l, h, 0x31));
}

// Byte m (0-3) of each of 16 dwords (lo: tiles 0-7, hi: tiles 8-15) sign-extended to int16, in
// the pack's order (tiles 0-3, 8-11 | 4-7, 12-15).
static QW_ALWAYS_INLINE NJ_Q_TARGET __m256i qw_phase4(__m256i lo, __m256i hi, const int m) {
    if (m < 3) {
        lo = _mm256_slli_epi32(lo, 24 - 8 * m);
        hi = _mm256_slli_epi32(hi, 24 - 8 * m);
    }
    return _mm256_packs_epi32(_mm256_srai_epi32(lo, 24), _mm256_srai_epi32(hi, 24));
}

// Two channels' values for 16 tiles in the pack's order interleaved into pairs: out[0 .. 15]
// tiles 0-7, out[16 .. 31] tiles 8-15 (the in-lane unpack restores the tile order).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_store_pairs4(int16_t *out, __m256i first, __m256i second) {
    _mm256_storeu_si256((__m256i *)out, _mm256_unpacklo_epi16(first, second));
    _mm256_storeu_si256((__m256i *)(out + 16), _mm256_unpackhi_epi16(first, second));
}

static QW_ALWAYS_INLINE int32_t qw_load32(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

// A block of OCB output channels: M[oc][·] (+)= Σ_r Σ_u U[r][u][oc] · V[r][u][·] over `terms`
// groups r (kernel rows; 1 for a 2-D tile) and `units` channel pairs, for the first NV vectors
// of 8 tiles (NV = 1: a row's last block holds 8 tiles or fewer, and the second half of M is
// neither read nor written); `first`: M starts at zero.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_gemm_block(const int16_t *U, size_t u_term_stride, size_t u_stride,
                                                       const int16_t *V, size_t v_term_stride, int terms,
                                                       int32_t units, int32_t *M, int first, const int OCB,
                                                       const int NV) {
    __m256i acc[6][2];
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) {
            acc[o][h] = first ? _mm256_setzero_si256()
                              : _mm256_loadu_si256((const __m256i *)(M + (size_t)o * QW_TB + 8 * h));
        }
    }
    for (int r = 0; r < terms; r++) {
        const int16_t *Vr = V + (size_t)r * v_term_stride;
        const int16_t *Ur = U + (size_t)r * u_term_stride;
        for (int32_t u = 0; u < units; u++) {
            __m256i v[2];
            for (int h = 0; h < NV; h++) v[h] = _mm256_loadu_si256((const __m256i *)(Vr + (size_t)u * QW_TB * 2 + 16 * h));
            const int16_t *w = Ur + (size_t)u * u_stride;
            for (int o = 0; o < OCB; o++) {
                const __m256i wo = _mm256_set1_epi32(qw_load32(w + 2 * o));
                for (int h = 0; h < NV; h++) acc[o][h] = _mm256_add_epi32(acc[o][h], _mm256_madd_epi16(v[h], wo));
            }
        }
    }
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) _mm256_storeu_si256((__m256i *)(M + (size_t)o * QW_TB + 8 * h), acc[o][h]);
    }
}

// Output channels [o, noc) of one ξ in blocks of 6 and a remainder block (qw_gemm_block's
// arguments, U and M at output channel o = 0), for nt tiles of the block.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_gemm_channels(const int16_t *U, size_t u_term_stride, size_t u_stride,
                                                          const int16_t *V, size_t v_term_stride, int terms,
                                                          int32_t units, int32_t *M, int first, int32_t noc,
                                                          int32_t nt) {
    int32_t o = 0;
#define QW_BLOCK(n, nv)                                                                                    \
    qw_gemm_block(U + 2 * o, u_term_stride, u_stride, V, v_term_stride, terms, units, M + (size_t)o * QW_TB, \
                  first, n, nv)
#define QW_BLOCKS(nv)                                         \
    do {                                                      \
        for (; o + 6 <= noc; o += 6) QW_BLOCK(6, nv);         \
        switch (noc - o) {                                    \
        case 5: QW_BLOCK(5, nv); break;                       \
        case 4: QW_BLOCK(4, nv); break;                       \
        case 3: QW_BLOCK(3, nv); break;                       \
        case 2: QW_BLOCK(2, nv); break;                       \
        case 1: QW_BLOCK(1, nv); break;                       \
        default: break;                                       \
        }                                                     \
    } while (0)
    if (nt > 8) {
        QW_BLOCKS(2);
    } else {
        QW_BLOCKS(1);
    }
#undef QW_BLOCKS
#undef QW_BLOCK
}

// Output row y of channel oc at columns [x0, x0 + valid) (valid <= 8 * NR) from NR runs of 8
// consecutive columns' accumulators (the direct kernels' acc: bias included): requantised, the
// residual added (its tail read through a zeroed copy, never past the row), the zero point,
// saturated. Stored, or with `into` written there instead (valid bytes; qw_store_quad_rows).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_finish_runs(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y,
                                                        int32_t x0, int32_t valid, const __m256i *runs,
                                                        const int NR, int8_t *into) {
    const nj_conv2d_qs8_params *p = a->params;
    const int32_t m = p->multiplier[oc], mneg = p->negative_multiplier[oc], shift = p->shift[oc];
    const int8_t *res = a->residual ? a->residual + (size_t)oc * a->residual_channel_stride +
                                          (size_t)(y % a->residual_rows) * a->width + x0
                                    : NULL;
    size_t step = 1;
    int8_t *dst = into ? into : nj_qs8_output_row(a, oc, y, &step) + (size_t)x0 * step;
    if (step == 1 && valid == 8 * NR) {
        for (int r = 0; r < NR; r++) nj_q_finish(runs[r], m, mneg, shift, res ? res + 8 * r : NULL, p, dst + 8 * r);
        return;
    }
    // A row's last columns, or depth-to-space (this channel's pixels r apart).
    int8_t res_tmp[32], values[32];
    if (res) {
        memset(res_tmp, 0, sizeof res_tmp);
        memcpy(res_tmp, res, (size_t)valid);
        res = res_tmp;
    }
    for (int r = 0; r < NR && 8 * r < valid; r++) {
        nj_q_finish(runs[r], m, mneg, shift, res ? res + 8 * r : NULL, p, values + 8 * r);
    }
    for (int32_t x = 0; x < valid; x++) dst[(size_t)x * step] = values[x];
}

// Output row y of channel oc at columns [x0, x0 + valid) (valid <= 16) from the accumulators of
// its 8 even and 8 odd columns, interleaved into two runs.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_store_row(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y,
                                                      int32_t x0, int32_t valid, __m256i even, __m256i odd) {
    const __m256i l = _mm256_unpacklo_epi32(even, odd), h = _mm256_unpackhi_epi32(even, odd);
    const __m256i runs[2] = {_mm256_permute2x128_si256(l, h, 0x20), _mm256_permute2x128_si256(l, h, 0x31)};
    qw_finish_runs(a, oc, y, x0, valid, runs, 2, NULL);
}

// Output row y of channel oc at columns [x0, x0 + valid) (valid <= 32) from the accumulators of
// 8 tiles' four columns each (q[m]: column 4t + m of tile t), transposed into four runs.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_store_row4(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y,
                                                       int32_t x0, int32_t valid, const __m256i q[4], int8_t *into) {
    const __m256i l01 = _mm256_unpacklo_epi32(q[0], q[1]), h01 = _mm256_unpackhi_epi32(q[0], q[1]);
    const __m256i l23 = _mm256_unpacklo_epi32(q[2], q[3]), h23 = _mm256_unpackhi_epi32(q[2], q[3]);
    // t0 | t4, t1 | t5, t2 | t6, t3 | t7 (each tile's four columns in order).
    const __m256i t04 = _mm256_unpacklo_epi64(l01, l23), t15 = _mm256_unpackhi_epi64(l01, l23);
    const __m256i t26 = _mm256_unpacklo_epi64(h01, h23), t37 = _mm256_unpackhi_epi64(h01, h23);
    const __m256i runs[4] = {
        _mm256_permute2x128_si256(t04, t15, 0x20), _mm256_permute2x128_si256(t26, t37, 0x20),
        _mm256_permute2x128_si256(t04, t15, 0x31), _mm256_permute2x128_si256(t26, t37, 0x31)};
    qw_finish_runs(a, oc, y, x0, valid, runs, 4, into);
}

// Depth-to-space by 4 (conv32_8_cat.1): output channels 4k .. 4k + 3 of the shuffle fill one
// output row, a byte each per pixel. Whether channel oc starts such a quad with all four among
// the `left` channels a call still finishes, so that one thread writes the quad's words.
static QW_ALWAYS_INLINE int qw_quad_at(const nj_conv2d_qs8_args *a, int32_t oc, int32_t left) {
    return a->output_depth_to_space == 4 && (a->output_channel_base + oc) % 4 == 0 && left >= 4;
}

// A quad's finished values (values[channel][row][column], rows r of a tile that `rows` has)
// stored at columns [x0, x0 + valid), one 32-bit word per pixel: the bytes the per-value stores
// 4 apart write, in a quarter of the stores or, with 32 columns, four vector stores.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_store_quad_rows(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y0,
                                                            int rows, const int tile_height, int32_t x0,
                                                            int32_t valid, int8_t (*values)[4][32]) {
    for (int r = 0; r < tile_height; r++) {
        if (!(rows >> r & 1)) continue;
        size_t step;
        int8_t *out = nj_qs8_output_row(a, oc, y0 + r, &step) + (size_t)x0 * 4;
        if (valid == 32) {
            __m256i v[4];
            for (int j = 0; j < 4; j++) v[j] = _mm256_loadu_si256((const __m256i *)values[j][r]);
            // Within 128-bit lanes: bytes of channels 0 and 1, 2 and 3, then their 16-bit pairs.
            const __m256i lo01 = _mm256_unpacklo_epi8(v[0], v[1]), hi01 = _mm256_unpackhi_epi8(v[0], v[1]);
            const __m256i lo23 = _mm256_unpacklo_epi8(v[2], v[3]), hi23 = _mm256_unpackhi_epi8(v[2], v[3]);
            const __m256i w0 = _mm256_unpacklo_epi16(lo01, lo23), w1 = _mm256_unpackhi_epi16(lo01, lo23);  // 0-3 | 16-19, 4-7 | 20-23
            const __m256i w2 = _mm256_unpacklo_epi16(hi01, hi23), w3 = _mm256_unpackhi_epi16(hi01, hi23);  // 8-11 | 24-27, 12-15 | 28-31
            _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(w0, w1, 0x20));
            _mm256_storeu_si256((__m256i *)(out + 32), _mm256_permute2x128_si256(w2, w3, 0x20));
            _mm256_storeu_si256((__m256i *)(out + 64), _mm256_permute2x128_si256(w0, w1, 0x31));
            _mm256_storeu_si256((__m256i *)(out + 96), _mm256_permute2x128_si256(w2, w3, 0x31));
            continue;
        }
        nj_qs8_store_quad_words(out, values[0][r], values[1][r], values[2][r], values[3][r], valid);
    }
}

// Step 2 of the 3x3 kernels for ξ in [xi_begin, xi_end), channel pairs [u0, u0 + nu), output
// channels [oc0, oc0 + noc), nt tiles: M[ξ][oc][·] (+)= Σ_u U[ξ][u][oc] · V[ξ][u][·], with V
// holding QW_ICU pairs and M QW_OCC channels per ξ (QW_V_XI and QW_M_XI apart).
static inline NJ_Q_TARGET void qw_gemm_points(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t oc0,
                                              int32_t noc, const int16_t *V, int32_t *M, int first, int xi_begin,
                                              int xi_end, int32_t nt) {
    const size_t units = (size_t)(a->in_channels + 1) / 2;
    const size_t u_stride = (size_t)a->weight_stride * 2;  // int16 between channel pairs
    for (int xi = xi_begin; xi < xi_end; xi++) {
        const int16_t *U = (const int16_t *)a->weights + ((size_t)xi * units + u0) * u_stride + (size_t)oc0 * 2;
        qw_gemm_channels(U, 0, u_stride, V + (size_t)xi * QW_V_XI, 0, 1, nu, M + (size_t)xi * QW_M_XI, first, noc, nt);
    }
}

// Step 1 and step 3 of a 3x3 kernel: transform channel pairs [u0, u0 + nu) of the input rows a
// pair of output rows reads, for tiles [t0, t0 + QW_TB), into V; and finish output channels
// [oc0, oc0 + noc) of nt tiles from M.
typedef void (*qw_input_transform_fn)(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t y0, int rows,
                                      int32_t t0, int16_t *V);
typedef void (*qw_output_transform_fn)(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y0, int rows,
                                       int32_t t0, int32_t nt, const int32_t *M);
// Step 2 (qw_gemm_points' arguments): the AVX2 products, or those of a wider ISA's kernel that
// shares the transforms (qs8-conv2d-3x3-winograd4x4-avx512vnni-16x1.c).
typedef void (*qw_gemm_points_fn)(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t oc0, int32_t noc,
                                  const int16_t *V, int32_t *M, int first, int xi_begin, int xi_end, int32_t nt);

// The 3x3 kernels' loop. Output rows go in tiles of `tile_height` rows (2 or 4) from the range's
// first row (rows: bit i when the tile's row i is in the range; only the last tile can be cut
// short). The schedule starts ranges on even rows and the pool cuts them at multiples of the
// tile (the kernel's row_block and tile_rows); the arithmetic is exact, so every row gets the
// same integers however bands and threads cut the rows. A tile row is cut into blocks of QW_TB
// tiles `tile_width` columns wide, taken QW_OCC output channels and QW_ICU channel pairs at a
// time. The transform's tile_height + 2 rows hold `points_per_row` points each (ξ =
// points_per_row · row + column). In both F(2, 3) and F(4, 3) only the last output row reads the
// transform's last row, so a tile cut short forms the products of the rows before it.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_row_tiles(const nj_conv2d_qs8_args *a, const int tile_height,
                                                      const int tile_width, const int points_per_row, int16_t *V,
                                                      int32_t *M, qw_input_transform_fn input_transform,
                                                      qw_gemm_points_fn gemm_points,
                                                      qw_output_transform_fn output_transform) {
    // The tiles of the columns asked for (column_block: 8 tiles, so the output transforms'
    // groups of 8 tiles are whole or end the row).
    const int32_t column_end = a->column_end > 0 ? a->column_end : a->width;
    const int32_t tile_begin = a->column_begin / tile_width, tiles = (column_end + tile_width - 1) / tile_width;
    const int32_t units = (a->in_channels + 1) / 2;
    for (int32_t y0 = a->row_begin; y0 < a->row_end; y0 += tile_height) {
        const int32_t count = a->row_end - y0 < tile_height ? a->row_end - y0 : tile_height;
        const int rows = (1 << count) - 1;
        const int xi_end = (count == tile_height ? tile_height + 2 : tile_height + 1) * points_per_row;
        for (int32_t t0 = tile_begin; t0 < tiles; t0 += QW_TB) {
            const int32_t nt = tiles - t0 < QW_TB ? tiles - t0 : QW_TB;
            for (int32_t oc0 = 0; oc0 < a->out_channels; oc0 += QW_OCC) {
                const int32_t noc = a->out_channels - oc0 < QW_OCC ? a->out_channels - oc0 : QW_OCC;
                for (int32_t u0 = 0; u0 < units; u0 += QW_ICU) {
                    const int32_t nu = units - u0 < QW_ICU ? units - u0 : QW_ICU;
                    // With every input pair in one chunk, V still holds them for the next
                    // chunk of outputs: transformed once (conv32_8_cat.1: 192 outputs).
                    if (oc0 == 0 || units > QW_ICU) input_transform(a, u0, nu, y0, rows, t0, V);
                    gemm_points(a, u0, nu, oc0, noc, V, M, u0 == 0, 0, xi_end, nt);
                }
                output_transform(a, oc0, noc, y0, rows, t0, nt, M);
            }
        }
    }
}

// F(4, 3)'s Bᵀ at the points 0, 1, -1, 2, -2 and infinity, in int16 (across a row, and down for
// F(4x4, 3x3)): rows [4,0,-5,0,1,0], [0,-4,-4,1,1,0], [0,4,-4,-1,1,0], [0,-2,-1,2,1,0],
// [0,2,-1,-2,1,0], [0,4,0,-5,0,1].
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw4_input_points(const __m256i d[6], __m256i x[6]) {
    const __m256i d42 = _mm256_sub_epi16(d[4], d[2]), d31 = _mm256_sub_epi16(d[3], d[1]);
    x[0] = _mm256_add_epi16(_mm256_slli_epi16(_mm256_sub_epi16(d[0], d[2]), 2), d42);
    x[1] = _mm256_sub_epi16(_mm256_add_epi16(d[3], d[4]), _mm256_slli_epi16(_mm256_add_epi16(d[1], d[2]), 2));
    x[2] = _mm256_add_epi16(_mm256_sub_epi16(d[4], d[3]), _mm256_slli_epi16(_mm256_sub_epi16(d[1], d[2]), 2));
    x[3] = _mm256_add_epi16(d42, _mm256_add_epi16(d31, d31));
    x[4] = _mm256_sub_epi16(d42, _mm256_add_epi16(d31, d31));
    x[5] = _mm256_add_epi16(_mm256_sub_epi16(d[5], d[3]), _mm256_slli_epi16(_mm256_sub_epi16(d[1], d[3]), 2));
}

// B across one input row of 16 tiles 4 columns wide: x[j] = (d B)[j] with d[m] = column 4t + m
// of the segment (the pack's tile order, qw_phase4).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw4_across(const int8_t *seg, __m256i x[6]) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)seg), b = _mm256_loadu_si256((const __m256i *)(seg + 32));
    const __m256i a4 = _mm256_loadu_si256((const __m256i *)(seg + 4));
    const __m256i b4 = _mm256_loadu_si256((const __m256i *)(seg + 36));
    const __m256i d[6] = {qw_phase4(a, b, 0), qw_phase4(a, b, 1), qw_phase4(a, b, 2),
                          qw_phase4(a, b, 3), qw_phase4(a4, b4, 0), qw_phase4(a4, b4, 1)};
    qw4_input_points(d, x);
}

// F(4, 3)'s A'ᵀ with its columns scaled by 24 over G''s row scales (4, -6, -6, 24, 24, 1), in
// int32: [[6,-4,-4,1,1,0], [0,-4,4,2,-2,0], [0,-4,-4,4,4,0], [0,-4,4,8,-8,24]]; out[r] for the
// rows r that `wanted` has (bit r), reading v[0] only for row 0 and v[5] only for row 3.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw4_output_points(const __m256i v[6], __m256i out[4], const int wanted) {
    const __m256i s12 = _mm256_add_epi32(v[1], v[2]), d12 = _mm256_sub_epi32(v[1], v[2]);
    const __m256i s34 = _mm256_add_epi32(v[3], v[4]), d34 = _mm256_sub_epi32(v[3], v[4]);
    const __m256i s12x4 = _mm256_slli_epi32(s12, 2), d12x4 = _mm256_slli_epi32(d12, 2);
    if (wanted & 1) {
        const __m256i v0x2 = _mm256_add_epi32(v[0], v[0]);
        out[0] = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(v0x2, _mm256_slli_epi32(v0x2, 1)), s34), s12x4);
    }
    if (wanted & 2) out[1] = _mm256_sub_epi32(_mm256_add_epi32(d34, d34), d12x4);
    if (wanted & 4) out[2] = _mm256_slli_epi32(_mm256_sub_epi32(s34, s12), 2);
    if (wanted & 8) {
        const __m256i v5x8 = _mm256_slli_epi32(v[5], 3);
        out[3] = _mm256_add_epi32(_mm256_sub_epi32(_mm256_slli_epi32(d34, 3), d12x4),
                                  _mm256_add_epi32(v5x8, _mm256_add_epi32(v5x8, v5x8)));
    }
}

// S from c·S modulo 2^32, where c = 2^shift · odd and odd_inverse is odd's inverse modulo 2^32
// (1 when c is a power of two): the arithmetic shift leaves odd·S modulo 2^(32 - shift), the
// inverse turns that into S modulo 2^(32 - shift), and a shift up and back down sign-extends it,
// which is S itself while |S| < 2^(31 - shift) (each kernel's bound on its inputs sees to that).
static QW_ALWAYS_INLINE NJ_Q_TARGET __m256i qw_exact_sum(__m256i cs, const int shift, const uint32_t odd_inverse) {
    const __m256i s = _mm256_srai_epi32(cs, shift);
    if (odd_inverse == 1) return s;
    const __m256i t = _mm256_mullo_epi32(s, _mm256_set1_epi32((int32_t)odd_inverse));
    return _mm256_srai_epi32(_mm256_slli_epi32(t, shift), shift);
}

// Output rows y0 + r of channel oc for the rows r of a tile that `rows` has (bit r), from the
// points down's results n[r][0 .. 5] (c·S modulo 2^32 once across, c = 2^shift · odd): A'ᵀ
// across, S recovered (qw_exact_sum), the bias b added, requantised and stored at columns
// [x0, x0 + valid), or with `into` written to into[r] (a quad's, qw_store_quad_rows).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw4_finish_rows(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y0,
                                                         int rows, const int tile_height, int32_t x0,
                                                         int32_t valid, __m256i (*n)[6], __m256i b,
                                                         const int shift, const uint32_t odd_inverse,
                                                         int8_t (*into)[32]) {
    for (int r = 0; r < tile_height; r++) {
        if (!(rows >> r & 1)) continue;
        __m256i q[4];
        qw4_output_points(n[r], q, 15);
        for (int c = 0; c < 4; c++) q[c] = _mm256_add_epi32(qw_exact_sum(q[c], shift, odd_inverse), b);
        qw_store_row4(a, oc, y0 + r, x0, valid, q, into ? into[r] : NULL);
    }
}

// A'ᵀ down for one output channel and 8 tiles: n[r][0 .. 5] for the output rows r of a tile that
// `rows` has, from the channel's transform points at mp (QW_M_XI apart).
typedef void (*qw4_down_fn)(const int32_t *mp, int rows, __m256i (*n)[6]);

// Step 3 of the kernels with F(4, 3) across (F(2, 3) x F(4, 3) and F(4x4), tiles `tile_height`
// rows tall), for output channels [oc0, oc0 + noc) and tiles [t0, t0 + nt), 8 tiles at a time:
// `down`, then qw4_finish_rows (c·S, c = 2^shift · odd); the channels of a depth-to-space quad
// are finished into a buffer and stored a word per pixel (qw_store_quad_rows).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw4_output_blocks(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc,
                                                           int32_t y0, int rows, int32_t t0, int32_t nt,
                                                           const int32_t *M, const int tile_height, qw4_down_fn down,
                                                           const int shift, const uint32_t odd_inverse) {
    for (int32_t i = 0; i < noc;) {
        const int32_t oc = oc0 + i;
        const int quad = qw_quad_at(a, oc, noc - i);
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const int32_t x0 = 4 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
            int8_t values[4][4][32];
            for (int j = 0; j < (quad ? 4 : 1); j++) {
                __m256i n[4][6];
                down(M + (size_t)(i + j) * QW_TB + 8 * h, rows, n);
                const __m256i b = _mm256_set1_epi32(a->params->bias[oc + j]);
                qw4_finish_rows(a, oc + j, y0, rows, tile_height, x0, valid, n, b, shift, odd_inverse,
                                quad ? values[j] : NULL);
            }
            if (quad) qw_store_quad_rows(a, oc, y0, rows, tile_height, x0, valid, values);
        }
        i += quad ? 4 : 1;
    }
}

#define QW44_COLS 68  // input columns a block's loads reach (66 used)
#define QW44_XI 36    // transform points: 6 down x 6 across

// The F(4x4, 3x3) kernels' geometry: ungrouped, few enough inputs that S is recovered (|S| <
// 2^25 while in <= 227: the AVX2 kernel's header comment), 16 or more of them, and 64 or more
// outputs, as the F(2, 3) x F(4, 3) kernel (its reasons); those with more inputs stay there.
static inline int qw44_supports(const nj_conv2d_qs8_args *g) {
    return g->kernel_size == 3 && g->groups == 1 && g->in_channels >= 16 && g->in_channels <= 227 &&
           g->out_channels >= 64;
}

// F(4x4, 3x3) (the kernels qs8-conv2d-3x3-winograd4x4-*: their header comment has the
// arithmetic). Step 1 for channel pairs [u0, u0 + nu), the output rows y0 .. y0 + 3 (`rows`: bit r when row
// y0 + r is wanted, the first always is; Bᵀ's last row down is formed only for the last), tiles
// [t0, t0 + 16): V[ξ·QW_V_XI + (u·QW_TB + t)·2 + channel of the pair].
static inline NJ_Q_TARGET void qw44_input_transform(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t y0,
                                                    int rows, int32_t t0, int16_t *V) {
    const int hi = rows & 8 ? 6 : 5;
    const int32_t c0 = 4 * t0 - 1;
    int8_t seg[QW44_COLS];
    __m256i pair[2][QW44_XI];
    for (int32_t u = 0; u < nu; u++) {
        for (int j = 0; j < 2; j++) {
            const int32_t ic = 2 * (u0 + u) + j;
            if (ic >= a->in_channels) {  // its weights are zero: any value does
                for (int xi = 0; xi < QW44_XI; xi++) pair[j][xi] = _mm256_setzero_si256();
                continue;
            }
            __m256i h[6][6];
            for (int k = 0; k < 6; k++) {
                // Input row 5 feeds only Bᵀ's last row.
                if (k < hi) {
                    qw4_across(qw_segment(a, ic, y0 - 1 + k, c0, QW44_COLS, seg), h[k]);
                } else {
                    for (int c = 0; c < 6; c++) h[k][c] = _mm256_setzero_si256();
                }
            }
            for (int c = 0; c < 6; c++) {  // Bᵀ down
                const __m256i d[6] = {h[0][c], h[1][c], h[2][c], h[3][c], h[4][c], h[5][c]};
                __m256i x[6];
                qw4_input_points(d, x);
                for (int r = 0; r < hi; r++) pair[j][6 * r + c] = x[r];
            }
        }
        for (int xi = 0; xi < 6 * hi; xi++) {
            qw_store_pairs4(V + (size_t)xi * QW_V_XI + (size_t)u * QW_TB * 2, pair[0][xi], pair[1][xi]);
        }
    }
}

// F(4x4)'s A'ᵀ down (transform rows a cut tile did not form stay unread).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw44_down(const int32_t *mp, int rows, __m256i (*n)[6]) {
    for (int c = 0; c < 6; c++) {
        __m256i m[6], col[4];
        for (int r = 0; r < 6; r++) {
            const int formed = r < 5 || (rows & 8);
            m[r] = formed ? _mm256_loadu_si256((const __m256i *)(mp + (size_t)(6 * r + c) * QW_M_XI))
                          : _mm256_setzero_si256();
        }
        qw4_output_points(m, col, rows);
        for (int r = 0; r < 4; r++) {
            if (rows >> r & 1) n[r][c] = col[r];
        }
    }
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static inline NJ_Q_TARGET void qw44_output_transform(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                                     int rows, int32_t t0, int32_t nt, const int32_t *M) {
    qw4_output_blocks(a, oc0, noc, y0, rows, t0, nt, M, 4, qw44_down, 6, 0x38E38E39u);  // 576 S to S
}
