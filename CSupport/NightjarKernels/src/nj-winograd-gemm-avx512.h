// The products of the AVX-512 Winograd templates in f32 (nj-winograd-avx512.h includes it
// unless the template sums binary16 products): for each ξ, M[ξ][oc][·] (+)= U[ξ][·][oc] V[ξ][·][·]
// in register blocks of 12 output channels x 2 vectors of 16 tiles (the driver, wg_gemm, is in
// nj-winograd-avx512.h). Internal, no include guard.
#define WG_U_TYPE float
#define WG_TILES_PER_VECTOR 16
// One ξ and a block of OCB output channels x NV vectors of tiles:
// M[ξ][oc][·] (+)= Σ_i U[ξ][ic0+i][oc] V[ξ][i][·].
static WG_ALWAYS_INLINE NJ_TARGET void wg_gemm_block(const float *U, size_t u_ic_stride, const float *V,
                                                     float *M, int32_t nic, int first, const int OCB,
                                                     const int NV) {
    __m512 acc[WG_OCB][2];
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) {
            acc[o][h] = first ? _mm512_setzero_ps() : _mm512_load_ps(M + (size_t)o * WG_TB + 16 * h);
        }
    }
    for (int32_t i = 0; i < nic; i++) {
        const __m512 v0 = _mm512_load_ps(V + (size_t)i * WG_TB);
        const __m512 v1 = NV > 1 ? _mm512_load_ps(V + (size_t)i * WG_TB + 16) : v0;
        const float *u = U + (size_t)i * u_ic_stride;
        for (int o = 0; o < OCB; o++) {
            const __m512 w = _mm512_set1_ps(u[o]);
            acc[o][0] = _mm512_fmadd_ps(w, v0, acc[o][0]);
            if (NV > 1) acc[o][1] = _mm512_fmadd_ps(w, v1, acc[o][1]);
        }
    }
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) _mm512_store_ps(M + (size_t)o * WG_TB + 16 * h, acc[o][h]);
    }
}
