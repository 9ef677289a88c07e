// The entry point and registry entry of a Winograd F(2x2, r) kernel: included at the end of
// each template (f32-conv2d-{3x3,5x5}-winograd2x2-{avx2,avx512}.h),
// after its wg_input_transform, wg_gemm and wg_output_transform, with WG_POINTS (the tile's
// side, r + 1), WG_LAYOUT (its weight layout), WG_OCB (output channels per register block),
// WG_ALIGN (the vector's bytes), NJ_WG_SUPPORTS and the ISA vocabulary's NJ_ISA_ID defined,
// and WG_V_XI, WG_M_XI (elements between ξ in V and M) where they are not the plain products;
// WG_V_TYPE and WG_M_TYPE (V's and M's elements, default float) and, for binary16 products, WG_WEIGHT_DTYPE and
// WG_HALF_SUM_TERMS (the registry entry's weight element and error bound).
// Internal, no include guard.
//
// Pairs of output rows start at even image rows whatever the range, and a row alone is
// computed as its half of that pair from the products Aᵀ's row for it reads (Bᵀ's rows
// 0 .. WG_POINTS - 2 for the first, 1 .. WG_POINTS - 1 for the second): every row gets the same
// bits however bands and threads cut the rows.
#ifndef WG_V_TYPE
#define WG_V_TYPE float
#define WG_M_TYPE float
#endif
#ifndef WG_WEIGHT_DTYPE
#define WG_WEIGHT_DTYPE NJ_DTYPE_F32
#define WG_HALF_SUM_TERMS 0
#endif
#ifndef WG_V_XI
#define WG_V_XI (WG_ICB * WG_TB)
#endif
#ifndef WG_M_XI
#define WG_M_XI (WG_OCC * WG_TB)
#endif

static NJ_TARGET void NJ_WG_FN(const nj_args *a) {
    WG_V_TYPE V[WG_POINTS * WG_POINTS * WG_V_XI] __attribute__((aligned(WG_ALIGN)));
    WG_M_TYPE M[WG_POINTS * WG_POINTS * WG_M_XI] __attribute__((aligned(WG_ALIGN)));
    const int32_t tiles = (a->width + 1) / 2;
    for (int32_t y = a->row_begin; y < a->row_end;) {
        const int32_t y0 = y & ~1;
        const int rows = (y == y0 ? 1 : 0) | (y0 + 1 >= y && y0 + 1 < a->row_end ? 2 : 0);
        const int xi_begin = rows & 1 ? 0 : WG_POINTS;
        const int xi_end = rows & 2 ? WG_POINTS * WG_POINTS : WG_POINTS * (WG_POINTS - 1);
        y = y0 + 2;
        for (int32_t t0 = 0; t0 < tiles; t0 += WG_TB) {
            const int32_t nt = tiles - t0 < WG_TB ? tiles - t0 : WG_TB;
            for (int32_t oc0 = 0; oc0 < a->out_channels; oc0 += WG_OCC) {
                const int32_t noc = a->out_channels - oc0 < WG_OCC ? a->out_channels - oc0 : WG_OCC;
                for (int32_t ic0 = 0; ic0 < a->in_channels; ic0 += WG_ICB) {
                    const int32_t nic = a->in_channels - ic0 < WG_ICB ? a->in_channels - ic0 : WG_ICB;
                    wg_input_transform(a, ic0, nic, y0, rows, t0, nt, V);
                    wg_gemm(a, ic0, nic, oc0, noc, nt, V, M, ic0 == 0, xi_begin, xi_end);
                }
                wg_output_transform(a, oc0, noc, y0, rows, t0, nt, M);
            }
        }
    }
}

const nj_kernel NJ_WG_KERNEL = {
    .run = NJ_WG_FN,
    .name = NJ_WG_NAME,
    .isa = NJ_ISA_ID,
#if NJ_F16_STORAGE
    .required_features = NJ_REQUIRED_FEATURES,
    .weight_dtype = WG_WEIGHT_DTYPE,
    .half_sum_terms = WG_HALF_SUM_TERMS,
#else
    .required_features = 0,
#endif
    .kernel_size = WG_POINTS - 1,
    .weight_layout = WG_LAYOUT,
    .channel_block = WG_OCB,
    .fma_ports = 0,
    .row_block = 2,
    .supports = NJ_WG_SUPPORTS,
};
