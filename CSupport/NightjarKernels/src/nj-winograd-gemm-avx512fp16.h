// The products of the AVX-512 Winograd templates in binary16 (AVX512-FP16), included by
// nj-winograd-avx512.h where the template defines WG_HALF_PRODUCTS 1: for each ξ,
// M[ξ][oc][·] (+)= U[ξ][·][oc] V[ξ][·][·] in register blocks of 12 output channels x 2 vectors
// of 32 tiles, vfmadd231ph on 32 halves. U is packed as pairs (NJ_DTYPE_F16X2: each binary16
// value twice in 32 bits), so one vpbroadcastd from memory, a load uop only, spreads a weight
// over the 32 lanes. The sums and M are binary16: a chunk of input channels (at most WG_ICB
// products) sums in registers, and later chunks add into M (one rounding each); M is half the
// bytes of f32 and its store needs no conversion. The driver, wg_gemm, is in
// nj-winograd-avx512.h. Internal, no include guard.
#define WG_U_TYPE uint32_t
#define WG_TILES_PER_VECTOR 32

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
