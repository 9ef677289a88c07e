// The parts the AVX2 int8 Winograd kernels share (qs8-conv2d-3x3-winograd2x{2,4}-avx2-6x2.c,
// qs8-conv2d-5x5-winograd1x{2,4}-avx2-6x2.c): a row segment with the zero point written in, the
// columns of tiles 2 or 4 columns wide, the interleaving of two channels' transformed tiles into
// VPMADDWD's pairs, the products' register blocks, and a row's finishing stores. Blocks are 16
// tiles: one int16 vector per channel, two int32 vectors per output channel. Internal, no
// include guard: included once by each kernel file, inside #if defined(__x86_64__), after
// nj-qs8-simd-avx2.h.
#define QW_TB 16  // tiles per block
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
// saturated.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_finish_runs(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y,
                                                        int32_t x0, int32_t valid, const __m256i *runs,
                                                        const int NR) {
    const nj_conv2d_qs8_params *p = a->params;
    const int32_t m = p->multiplier[oc], mneg = p->negative_multiplier[oc], shift = p->shift[oc];
    const int8_t *res = a->residual ? a->residual + (size_t)oc * a->residual_channel_stride +
                                          (size_t)(y % a->residual_rows) * a->width + x0
                                    : NULL;
    size_t step;
    int8_t *dst = nj_qs8_output_row(a, oc, y, &step) + (size_t)x0 * step;
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
    qw_finish_runs(a, oc, y, x0, valid, runs, 2);
}

// Output row y of channel oc at columns [x0, x0 + valid) (valid <= 32) from the accumulators of
// 8 tiles' four columns each (q[m]: column 4t + m of tile t), transposed into four runs.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_store_row4(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y,
                                                       int32_t x0, int32_t valid, const __m256i q[4]) {
    const __m256i l01 = _mm256_unpacklo_epi32(q[0], q[1]), h01 = _mm256_unpackhi_epi32(q[0], q[1]);
    const __m256i l23 = _mm256_unpacklo_epi32(q[2], q[3]), h23 = _mm256_unpackhi_epi32(q[2], q[3]);
    // t0 | t4, t1 | t5, t2 | t6, t3 | t7 (each tile's four columns in order).
    const __m256i t04 = _mm256_unpacklo_epi64(l01, l23), t15 = _mm256_unpackhi_epi64(l01, l23);
    const __m256i t26 = _mm256_unpacklo_epi64(h01, h23), t37 = _mm256_unpackhi_epi64(h01, h23);
    const __m256i runs[4] = {
        _mm256_permute2x128_si256(t04, t15, 0x20), _mm256_permute2x128_si256(t26, t37, 0x20),
        _mm256_permute2x128_si256(t04, t15, 0x31), _mm256_permute2x128_si256(t26, t37, 0x31)};
    qw_finish_runs(a, oc, y, x0, valid, runs, 4);
}
