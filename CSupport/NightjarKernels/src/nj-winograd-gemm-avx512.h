// The products of the AVX-512 Winograd templates in f32 (nj-winograd-avx512.h includes it
// unless the template sums binary16 products): for each ξ, M[ξ][oc][·] (+)= U[ξ][·][oc] V[ξ][·][·]
// in register blocks of 12 output channels x 2 vectors of 16 tiles. Internal, no include guard.
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

#define WG_GEMM_CASE(n)                                                                         \
    case n:                                                                                     \
        if (nv == 2) wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, n, 2);    \
        else wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, n, 1);            \
        break;

// The products for ξ in [xi_begin, xi_end), input channels [ic0, ic0 + nic), output channels
// [oc0, oc0 + noc), tiles [0, nt) of the block; `first`: the first input chunk (M starts from
// zero).
static NJ_TARGET void wg_gemm(const nj_args *a, int32_t ic0, int32_t nic, int32_t oc0, int32_t noc,
                              int32_t nt, const float *V, float *M, int first, int xi_begin, int xi_end) {
    const size_t ws = (size_t)a->weight_stride;
    const int nv = nt > 16 ? 2 : 1;
    for (int xi = xi_begin; xi < xi_end; xi++) {
        const float *U = (const float *)a->weights + ((size_t)xi * a->in_channels + ic0) * ws + oc0;
        const float *Vx = V + (size_t)xi * WG_V_XI;
        float *Mx = M + (size_t)xi * WG_M_XI;
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
