// The products of the AVX-512 Winograd templates in binary16 (AVX512-FP16), included by
// nj-winograd-avx512.h where the template defines WG_HALF_PRODUCTS 1: for each ξ,
// M[ξ][oc][·] (+)= U[ξ][·][oc] V[ξ][·][·] in register blocks of 12 output channels x 2 vectors
// of 32 tiles, vfmadd231ph on 32 halves. U is packed as pairs (NJ_DTYPE_F16X2: each binary16
// value twice in 32 bits), so one vpbroadcastd from memory, a load uop only, spreads a weight
// over the 32 lanes. The sums and M are binary16: a chunk of input channels (at most WG_ICB
// products) sums in registers, and later chunks add into M (one rounding each); M is half the
// bytes of f32 and its store needs no conversion. Internal, no include guard.

// One ξ and a block of OCB output channels x NV vectors of 32 tiles.
static WG_ALWAYS_INLINE NJ_TARGET void wg_gemm_block(const uint32_t *U, size_t u_ic_stride, const uint16_t *V,
                                                     uint16_t *M, int32_t nic, int first, const int OCB,
                                                     const int NV) {
    __m512h acc[WG_OCB][2];
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) acc[o][h] = _mm512_setzero_ph();
    }
    for (int32_t i = 0; i < nic; i++) {
        const __m512h v0 = _mm512_load_ph(V + (size_t)i * WG_TB);
        const __m512h v1 = NV > 1 ? _mm512_load_ph(V + (size_t)i * WG_TB + 32) : v0;
        const uint32_t *u = U + (size_t)i * u_ic_stride;
        for (int o = 0; o < OCB; o++) {
            const __m512h w = _mm512_castsi512_ph(_mm512_set1_epi32((int)u[o]));
            acc[o][0] = _mm512_fmadd_ph(w, v0, acc[o][0]);
            if (NV > 1) acc[o][1] = _mm512_fmadd_ph(w, v1, acc[o][1]);
        }
    }
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) {
            uint16_t *m = M + (size_t)o * WG_TB + 32 * h;
            _mm512_store_ph(m, first ? acc[o][h] : _mm512_add_ph(_mm512_load_ph(m), acc[o][h]));
        }
    }
}

#define WG_GEMM_CASE(n)                                                                         \
    case n:                                                                                     \
        if (nv == 2) wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, n, 2);    \
        else wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, n, 1);            \
        break;

// The products for ξ in [xi_begin, xi_end), input channels [ic0, ic0 + nic), output channels
// [oc0, oc0 + noc), tiles [0, nt) of the block; `first`: the first input chunk (M starts from
// zero).
static NJ_TARGET void wg_gemm(const nj_args *a, int32_t ic0, int32_t nic, int32_t oc0, int32_t noc,
                              int32_t nt, const uint16_t *V, uint16_t *M, int first, int xi_begin, int xi_end) {
    const size_t ws = (size_t)a->weight_stride;
    const int nv = nt > 32 ? 2 : 1;
    for (int xi = xi_begin; xi < xi_end; xi++) {
        const uint32_t *U = (const uint32_t *)a->weights + ((size_t)xi * a->in_channels + ic0) * ws + oc0;
        const uint16_t *Vx = V + (size_t)xi * WG_V_XI;
        uint16_t *Mx = M + (size_t)xi * WG_M_XI;
        int32_t o = 0;
        for (; o + WG_OCB <= noc; o += WG_OCB) {
            if (nv == 2) wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, WG_OCB, 2);
            else wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, WG_OCB, 1);
        }
        switch (noc - o) {
            WG_GEMM_CASE(11) WG_GEMM_CASE(10) WG_GEMM_CASE(9) WG_GEMM_CASE(8) WG_GEMM_CASE(7)
            WG_GEMM_CASE(6) WG_GEMM_CASE(5) WG_GEMM_CASE(4) WG_GEMM_CASE(3) WG_GEMM_CASE(2)
            WG_GEMM_CASE(1)
        default: break;
        }
    }
}
#undef WG_GEMM_CASE
