// The int8 convolution for each ISA: one microkernel per ISA below, the rest of the kernel (im2col, quantizing
// pack, fp32 epilogue) from int8/conv_template.h compiled under that ISA's target attribute.
#include "sk_int8.h"
#include "CSenteiKernels.h"
#include "sk_vecmath.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include "int8/conv_plan.h"
#include "int8/s2d_geometry.h"

#include "int8/a16_kernels.h"

// --- AVX-512 VNNI: 8 rows × 48 columns, vpdpbusd on u8 activation quads × broadcast s8 weight quads ---------------
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#define SK_FN(name) sk_i8_##name##_vnni512
#define VW 16
#define MR 8
#define NR 48
#define KG 4
#define BTYPE uint8_t
#define ATYPE int8_t
#include "int8/avx512_epilogue.h"
// Quantizing pack of one group (4 k rows × 48 columns) in 16-column steps: round-half-even(x·inv) by vcvtps2dq (the
// default MXCSR rounding) plus zp in 32 bits, then the saturating packs (32 → 16 → 8 bits, unsigned at the end) clamp
// to [0, 255] on the way down, and one in-lane vpshufb turns each lane's four k rows × four columns into column
// quads. Only the upper bound is clamped in float, before the conversion (+inf or a value past 2^31 would convert to
// the integer indefinite, i.e. 0): min(hi, x) returns x for a NaN, which converts to the indefinite and packs to 0, as
// the generic loop's max-then-min clamp gives −zp + zp. The same bytes as the generic loop for every input; 21
// instructions per 64 values where unpacking vpmovdb bytes took 34.
static inline __m512i sk_i8_quads_vnni512(const float *src, long ld, __m512 inv, __m512 hi, __m512i zp) {
    __m512i q[4];
    for (int t = 0; t < 4; t++)
        q[t] = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_mul_ps(_mm512_loadu_ps(src + t * ld), inv))), zp);
    const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    // Lane bytes are rows 0–3 × columns 0–3 (row-major); column c's quad gathers bytes c, 4 + c, 8 + c, 12 + c.
    const __m512i quads = _mm512_set4_epi32(0x0F0B0703, 0x0E0A0602, 0x0D090501, 0x0C080400);
    return _mm512_shuffle_epi8(bytes, quads);
}
#define SK_PACK_QUADS(src, ld, inv, zp, dst)                                                                        \
    do {                                                                                                           \
        const __m512 inv_ = _mm512_set1_ps(inv), hi_ = _mm512_set1_ps((float)(255 - (zp)));                       \
        const __m512i zp_ = _mm512_set1_epi32(zp);                                                                 \
        for (int j_ = 0; j_ < NR; j_ += 16)                                                                        \
            _mm512_storeu_si512((dst) + j_, sk_i8_quads_vnni512((src) + j_, (ld), inv_, hi_, zp_));               \
    } while (0)
// c[r][v] = Σ over kgs groups of weight quad a[g][r] · activation quads of group g's columns 16v..16v+15.
static inline __attribute__((always_inline)) void sk_i8_accumulate_vnni512(int kgs, const int8_t *a, const uint8_t *b,
                                                                          const int32_t *offsets, __m512i c[MR][3]) {
    for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = c[r][2] = _mm512_setzero_si512();
    for (int g = 0; g < kgs; g++) {
        const uint8_t *bg = SK_GROUP(b, offsets, g);
        __m512i b0 = _mm512_loadu_si512(bg), b1 = _mm512_loadu_si512(bg + 64), b2 = _mm512_loadu_si512(bg + 128);
        for (int r = 0; r < MR; r++) {
            int32_t quad;
            memcpy(&quad, a + 4 * r, 4);
            __m512i ar = _mm512_set1_epi32(quad);
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], b0, ar);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], b1, ar);
            c[r][2] = _mm512_dpbusd_epi32(c[r][2], b2, ar);
        }
        a += 4 * MR;
    }
}
static inline __attribute__((always_inline)) void sk_i8_micro_body_vnni512(int kgs, const int8_t *a, const uint8_t *b,
                                                                           const int32_t *offsets, int32_t *tile) {
    __m512i c[MR][3];
    sk_i8_accumulate_vnni512(kgs, a, b, offsets, c);
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_si512(tile + r * NR, c[r][0]);
        _mm512_storeu_si512(tile + r * NR + 16, c[r][1]);
        _mm512_storeu_si512(tile + r * NR + 32, c[r][2]);
    }
}
#define SK_MICRO_BODY sk_i8_micro_body_vnni512
// Whole tiles skip the int32 tile in memory: the epilogue (the template's, row by row) runs on the accumulators.
static void sk_i8_micro_fused_vnni512(int kgs, const int8_t *a, const uint8_t *b, const sk_i8_conv *p, int row0, long col0);
#define SK_MICRO_FUSED sk_i8_micro_fused_vnni512
#include "int8/conv_template.h"
static void sk_i8_micro_fused_vnni512(int kgs, const int8_t *a, const uint8_t *b, const sk_i8_conv *p, int row0, long col0) {
    __m512i c[MR][3];
    sk_i8_accumulate_vnni512(kgs, a, b, 0, c);
    SK_FN(epilogue_registers)(p, (VI(*)[3])c, row0, col0);
}
#include "int8/s2d_template.h"
#include "int8/template_end.h"
#pragma clang attribute pop

// --- AMX-INT8 (ISA code 3): the VNNI kernels, with GEMMs of k a multiple of 64 and at least 128 on tiles --------
// A 16 × 48 tile of outputs is three 16×16 int32 accumulator tiles; each step of 64 k loads one weight tile (16
// output channels × 64 s8, packed by sk_i8_pack_weights_amx) and three activation tiles straight from the VNNI
// quantizing pack's u8 quad panel (16 quad rows × 16 columns, row stride 192 bytes), and issues three tdpbsud. The
// accumulators go to the same int32 tile layout the VNNI epilogue reads, so results are bit-identical to VNNI's.
// Shallower GEMMs stay on VNNI: at k = 64 the tiles gained nothing over VNNI on YOLOX-Nano (its k-64 head convs with
// 4 and 1 output channels, padded to 16-row tiles, lost 0.011–0.014 ms each); from k 128 they win (one thread, per-step
// minima: k 512 Conv_175 0.104 → 0.059 ms, k 256 0.065 → 0.044, k 128 0.068 → 0.053).
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,amx-tile,amx-int8"))), apply_to = function)
#define SK_AMX_MR 16
#define SK_AMX_NR 48

static int sk_i8_amx_applies(int m, int k) { return m > 0 && k >= 128 && k % 64 == 0 && sk_has_amx(); }

long sk_i8_packed_weight_bytes_amx(int m, int k) {
    if (!sk_i8_amx_applies(m, k)) return sk_i8_packed_weight_bytes_vnni512(m, k);
    return (long)((m + SK_AMX_MR - 1) / SK_AMX_MR * SK_AMX_MR) * k;
}

// Panel p (16 rows), k block b: 16 rows × 64 bytes at ((p·KB + b)·16 + r)·64 (rows past m zero).
void sk_i8_pack_weights_amx(const int8_t *src, int m, int k, void *dst) {
    if (!sk_i8_amx_applies(m, k)) { sk_i8_pack_weights_vnni512(src, m, k, dst); return; }
    int8_t *out = (int8_t *)dst;
    int blocks = k / 64;
    for (int p = 0; p < (m + SK_AMX_MR - 1) / SK_AMX_MR; p++)
        for (int b = 0; b < blocks; b++)
            for (int r = 0; r < SK_AMX_MR; r++) {
                int row = p * SK_AMX_MR + r;
                for (int t = 0; t < 64; t++) *out++ = row < m ? src[(long)row * k + b * 64 + t] : 0;
            }
}

long sk_i8_scratch_bytes_amx(int cin, int kh, int kw) {
    // The VNNI layout plus room for a 16-row int32 tile instead of an 8-row one.
    return sk_i8_scratch_bytes_vnni512(cin, kh, kw) + (long)(SK_AMX_MR - 8) * SK_AMX_NR * 4;
}

typedef struct {
    uint8_t palette, startRow, reserved[14];
    uint16_t bytesPerRow[16];
    uint8_t rows[16];
} sk_amx_tile_config;

// Tiles 0–2 accumulate, 3 holds weights, 4–6 activations: seven 16-row × 64-byte tiles (palette 1).
static inline void sk_amx_configure(void) {
    sk_amx_tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 7; t++) { config.rows[t] = 16; config.bytesPerRow[t] = 64; }
    _tile_loadconfig(&config);
}

// tile[r·48 + j] = Σ_k a[r][k] · panel(k, j) for 16 rows and 48 columns over `blocks` blocks of 64 k: `a` one
// weight panel (sk_i8_pack_weights_amx), `panel` u8 quads, group g's 48 columns at g·192 bytes.
static inline void sk_amx_tile(const int8_t *a, const uint8_t *panel, int blocks, int32_t *tile) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    for (int b = 0; b < blocks; b++) {
        const uint8_t *bp = panel + (long)b * 16 * SK_AMX_NR * 4;
        _tile_loadd(3, a + (long)b * SK_AMX_MR * 64, 64);
        _tile_loadd(4, bp, SK_AMX_NR * 4);
        _tile_loadd(5, bp + 64, SK_AMX_NR * 4);
        _tile_loadd(6, bp + 128, SK_AMX_NR * 4);
        _tile_dpbsud(0, 3, 4);
        _tile_dpbsud(1, 3, 5);
        _tile_dpbsud(2, 3, 6);
    }
    _tile_stored(0, tile, SK_AMX_NR * 4);
    _tile_stored(1, tile + 16, SK_AMX_NR * 4);
    _tile_stored(2, tile + 32, SK_AMX_NR * 4);
}

void sk_i8_conv2d_amx(const sk_i8_conv *p, void *scratch, int ith, int nth) {
    int k = p->cin * p->kh * p->kw;
    if (!sk_i8_amx_applies(p->cout, k)) { sk_i8_conv2d_vnni512(p, scratch, ith, nth); return; }
    sk_i8_conv_plan plan;
    if (!sk_i8_conv_plan_make(p, SK_AMX_MR, SK_AMX_NR, ith, nth, &plan)) return;
    // VNNI's scratch layout (im2col columns, quad panel) with a 16-row tile.
    char *bytes = (char *)scratch;
    float *col = (float *)bytes;
    uint8_t *panel = (uint8_t *)(bytes + ((long)k * SK_AMX_NR * 4 + 63) / 64 * 64);
    int32_t *tile = (int32_t *)((char *)panel + ((long)k * SK_AMX_NR + 63) / 64 * 64);
    const int8_t *weights = (const int8_t *)p->packedWeights;
    sk_amx_configure();
    for (int s = plan.s0; s < plan.s1; s++) {
        long start;
        int from, to;
        sk_i8_pack_strip_vnni512(p, &plan, s, col, panel, &start, &from, &to);
        for (int pi = plan.p0; pi < plan.p1; pi++) {
            sk_amx_tile(weights + (long)pi * SK_AMX_MR * k, panel, k / 64, tile);
            int row0 = pi * SK_AMX_MR;
            sk_i8_epilogue_vnni512(p, tile, row0, p->cout - row0 < SK_AMX_MR ? p->cout - row0 : SK_AMX_MR, from, to,
                                   start);
        }
    }
    _tile_release();
}

// The space-to-depth conv (int8/s2d_template.h) on tiles: VNNI's band of quantized s2d rows, and per strip its k
// groups (48 pixels × 4 u8 at each tap's offset in the band) copied into a contiguous panel, padded with zero
// groups to a multiple of 64 k, that the tiles load at a fixed stride. YOLOX's stem (k 108 → 128, 16 channels)
// was bound by VNNI's multiply-adds.
static long sk_i8_s2d_amx_k(const sk_i8_conv *p, sk_i8_s2d_geometry *g) {
    if (!sk_has_amx() || !sk_i8_s2d_geometry_make(p, 4, SK_AMX_NR, 1, g)) return 0;
    long k = ((long)g->kgroups * 4 + 63) / 64 * 64;
    return k >= 128 ? k : 0;
}

long sk_i8_s2d_packed_weight_bytes_amx(const sk_i8_conv *p) {
    sk_i8_s2d_geometry g;
    long k = sk_i8_s2d_amx_k(p, &g);
    return k ? sk_i8_packed_weight_bytes_amx(p->cout, (int)k) : sk_i8_s2d_packed_weight_bytes_vnni512(p);
}

int sk_i8_s2d_pack_weights_amx(const sk_i8_conv *p, const int8_t *w, void *dst) {
    sk_i8_s2d_geometry g;
    long k = sk_i8_s2d_amx_k(p, &g);
    if (!k) return sk_i8_s2d_pack_weights_vnni512(p, w, dst);
    int8_t *reordered = (int8_t *)calloc((size_t)p->cout * (size_t)k, 1);
    if (!reordered) return 0;
    sk_i8_s2d_reorder_weights(p, &g, 4, w, reordered, k);
    sk_i8_pack_weights_amx(reordered, p->cout, (int)k, dst);
    free(reordered);
    return 1;
}

// Scratch: tap offsets, two quantized lines, the band (as VNNI's), a 16-row int32 tile and the strip's k panel.
static long sk_i8_s2d_amx_layout(const sk_i8_conv *p, const sk_i8_s2d_geometry *g, long k, long parts[5]) {
    parts[0] = ((long)g->kgroups * 4 + 63) / 64 * 64;
    parts[1] = ((2L * p->strideW * g->pitch + 16) + 63) / 64 * 64;
    parts[2] = ((long)g->groups * g->planeElements + 63) / 64 * 64;
    parts[3] = (long)SK_AMX_MR * SK_AMX_NR * 4;
    parts[4] = k / 4 * SK_AMX_NR * 4;
    return parts[0] + parts[1] + parts[2] + parts[3] + parts[4] + 64;
}

long sk_i8_s2d_scratch_bytes_amx(const sk_i8_conv *p) {
    sk_i8_s2d_geometry g;
    long k = sk_i8_s2d_amx_k(p, &g), parts[5];
    return k ? sk_i8_s2d_amx_layout(p, &g, k, parts) : sk_i8_s2d_scratch_bytes_vnni512(p);
}

int sk_i8_s2d_conv2d_amx(const sk_i8_conv *p, void *scratch, int ith, int nth) {
    sk_i8_s2d_geometry g;
    long k = sk_i8_s2d_amx_k(p, &g), parts[5];
    if (!k) return sk_i8_s2d_conv2d_vnni512(p, scratch, ith, nth);
    if (nth < 1) nth = 1;
    int y0 = (int)((long)g.ho * ith / nth), y1 = (int)((long)g.ho * (ith + 1) / nth);
    if (y0 >= y1) return 1;
    const int NR = SK_AMX_NR;
    sk_i8_s2d_amx_layout(p, &g, k, parts);
    char *bytes = (char *)scratch;
    int32_t *offsets = (int32_t *)bytes;
    uint8_t *line = (uint8_t *)(bytes += parts[0]);
    uint8_t *band = (uint8_t *)(bytes += parts[1]);
    int32_t *tile = (int32_t *)(bytes += parts[2]);
    uint8_t *panel = (uint8_t *)(bytes += parts[3]);
    sk_i8_s2d_offsets_vnni512(&g, offsets);
    // As VNNI's: padding channels and slack hold zp; the panel's padding groups (zero weights) hold zeros.
    memset(band, p->inputZeroPoint, (size_t)(g.groups * g.planeElements));
    memset(panel + (long)g.kgroups * NR * 4, 0, (size_t)((k / 4 - g.kgroups) * NR * 4));
    const int8_t *weights = (const int8_t *)p->packedWeights;
    int panels = (p->cout + SK_AMX_MR - 1) / SK_AMX_MR, blocks = (int)(k / 64);
    sk_amx_configure();
    for (int oy0 = y0; oy0 < y1; oy0 += g.band) {
        int rows = y1 - oy0 < g.band ? y1 - oy0 : g.band;
        sk_i8_s2d_build_band_vnni512(p, &g, oy0, rows + g.ty - 1, band, line);
        long total = (long)rows * g.pitch;
        for (long m0 = 0; m0 < total; m0 += NR) {
            const uint8_t *b = band + m0 * 4;
            for (int gi = 0; gi < g.kgroups; gi++) memcpy(panel + (long)gi * NR * 4, b + offsets[gi], (size_t)NR * 4);
            long m1 = m0 + NR < total ? m0 + NR : total;
            for (int pi = 0; pi < panels; pi++) {
                sk_amx_tile(weights + (long)pi * SK_AMX_MR * k, panel, blocks, tile);
                int row0 = pi * SK_AMX_MR;
                sk_i8_s2d_strip_epilogue_vnni512(p, &g, tile, row0, p->cout - row0 < SK_AMX_MR ? p->cout - row0 : SK_AMX_MR,
                                                 m0, m1, oy0);
            }
        }
    }
    _tile_release();
    return 1;
}
#undef SK_AMX_MR
#undef SK_AMX_NR
#pragma clang attribute pop

// --- AVX2: 4 rows × 24 columns, vpmaddwd on s16 activation pairs × broadcast s16 weight pairs (exact: no
// vpmaddubsw saturation) ----------------------------------------------------------------------------------------
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2"))), apply_to = function)
#define SK_FN(name) sk_i8_##name##_avx2
#define VW 8
#define MR 4
#define NR 24
#define KG 2
#define BTYPE int16_t
#define ATYPE int16_t
#define SK_RECIP(x) (1.0f / (x))
static inline __attribute__((always_inline)) void sk_i8_micro_body_avx2(int kgs, const int16_t *a, const int16_t *b,
                                                                        const int32_t *offsets, int32_t *tile) {
    __m256i c[MR][3];
    for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = c[r][2] = _mm256_setzero_si256();
    for (int g = 0; g < kgs; g++) {
        const int16_t *bg = SK_GROUP(b, offsets, g);
        __m256i b0 = _mm256_loadu_si256((const __m256i *)bg), b1 = _mm256_loadu_si256((const __m256i *)(bg + 16)),
                b2 = _mm256_loadu_si256((const __m256i *)(bg + 32));
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + 2 * r, 4);
            __m256i ar = _mm256_set1_epi32(pair);
            c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(b0, ar));
            c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(b1, ar));
            c[r][2] = _mm256_add_epi32(c[r][2], _mm256_madd_epi16(b2, ar));
        }
        a += 2 * MR;
    }
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_si256((__m256i *)(tile + r * NR), c[r][0]);
        _mm256_storeu_si256((__m256i *)(tile + r * NR + 8), c[r][1]);
        _mm256_storeu_si256((__m256i *)(tile + r * NR + 16), c[r][2]);
    }
}
#define SK_MICRO_BODY sk_i8_micro_body_avx2
#include "int8/conv_template.h"
#include "int8/s2d_template.h"
#include "int8/template_end.h"
#pragma clang attribute pop

// --- Portable C: 4 rows × 16 columns over u8 quads, plain integer loops ----------------------------------------
#define SK_FN(name) sk_i8_##name##_generic
#define VW 4
#define MR 4
#define NR 16
#define KG 4
#define BTYPE uint8_t
#define ATYPE int8_t
#define SK_RECIP(x) (1.0f / (x))
static inline __attribute__((always_inline)) void sk_i8_micro_body_generic(int kgs, const int8_t *a, const uint8_t *b,
                                                                           const int32_t *offsets, int32_t *tile) {
    int32_t c[MR * NR] = {0};
    for (int g = 0; g < kgs; g++) {
        const uint8_t *bg = SK_GROUP(b, offsets, g);
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) {
                int32_t s = 0;
                for (int t = 0; t < 4; t++) s += (int32_t)a[4 * r + t] * (int32_t)bg[4 * j + t];
                c[r * NR + j] += s;
            }
        a += 4 * MR;
    }
    memcpy(tile, c, sizeof c);
}
#define SK_MICRO_BODY sk_i8_micro_body_generic
#include "int8/conv_template.h"
#include "int8/s2d_template.h"
#include "int8/template_end.h"

// --- Dispatch by ISA code (chosen once by the engine; a switch per call, not per tile) -------------------------
int sk_i8_kernel(int isa, int inputBits) {
    if (inputBits != 16) return isa;
    switch (isa) {
    case 3: case 2: return 4;
    case 1: return 1;
    default: return 5;
    }
}

long sk_i8_packed_weight_bytes(int isa, int m, int k) {
    switch (isa) {
    case 5: return sk_i8_packed_weight_bytes_a16generic(m, k);
    case 4: return sk_i8_packed_weight_bytes_a16vnni512(m, k);
    case 3: return sk_i8_packed_weight_bytes_amx(m, k);
    case 2: return sk_i8_packed_weight_bytes_vnni512(m, k);
    case 1: return sk_i8_packed_weight_bytes_avx2(m, k);
    default: return sk_i8_packed_weight_bytes_generic(m, k);
    }
}

void sk_i8_pack_weights(int isa, const int8_t *src, int m, int k, void *dst) {
    switch (isa) {
    case 5: sk_i8_pack_weights_a16generic(src, m, k, dst); break;
    case 4: sk_i8_pack_weights_a16vnni512(src, m, k, dst); break;
    case 3: sk_i8_pack_weights_amx(src, m, k, dst); break;
    case 2: sk_i8_pack_weights_vnni512(src, m, k, dst); break;
    case 1: sk_i8_pack_weights_avx2(src, m, k, dst); break;
    default: sk_i8_pack_weights_generic(src, m, k, dst); break;
    }
}

long sk_i8_conv2d_scratch_bytes(int isa, int cin, int kh, int kw) {
    switch (isa) {
    case 5: return sk_i8_scratch_bytes_a16generic(cin, kh, kw);
    case 4: return sk_i8_scratch_bytes_a16vnni512(cin, kh, kw);
    case 3: return sk_i8_scratch_bytes_amx(cin, kh, kw);
    case 2: return sk_i8_scratch_bytes_vnni512(cin, kh, kw);
    case 1: return sk_i8_scratch_bytes_avx2(cin, kh, kw);
    default: return sk_i8_scratch_bytes_generic(cin, kh, kw);
    }
}

void sk_i8_conv2d(int isa, const sk_i8_conv *p, void *scratch, int ith, int nth) {
    switch (isa) {
    case 5: sk_i8_conv2d_a16generic(p, scratch, ith, nth); break;
    case 4: sk_i8_conv2d_a16vnni512(p, scratch, ith, nth); break;
    case 3: sk_i8_conv2d_amx(p, scratch, ith, nth); break;
    case 2: sk_i8_conv2d_vnni512(p, scratch, ith, nth); break;
    case 1: sk_i8_conv2d_avx2(p, scratch, ith, nth); break;
    default: sk_i8_conv2d_generic(p, scratch, ith, nth); break;
    }
}

int sk_i8_s2d_supported(const sk_i8_conv *p) {
    sk_i8_s2d_geometry g;
    return sk_i8_s2d_geometry_make(p, 4, 48, 1, &g);
}

long sk_i8_s2d_packed_weight_bytes(int isa, const sk_i8_conv *p) {
    switch (isa) {
    case 3: return sk_i8_s2d_packed_weight_bytes_amx(p);
    case 2: return sk_i8_s2d_packed_weight_bytes_vnni512(p);
    case 1: return sk_i8_s2d_packed_weight_bytes_avx2(p);
    default: return sk_i8_s2d_packed_weight_bytes_generic(p);
    }
}

int sk_i8_s2d_pack_weights(int isa, const sk_i8_conv *p, const int8_t *weights, void *dst) {
    switch (isa) {
    case 3: return sk_i8_s2d_pack_weights_amx(p, weights, dst);
    case 2: return sk_i8_s2d_pack_weights_vnni512(p, weights, dst);
    case 1: return sk_i8_s2d_pack_weights_avx2(p, weights, dst);
    default: return sk_i8_s2d_pack_weights_generic(p, weights, dst);
    }
}

long sk_i8_s2d_scratch_bytes(int isa, const sk_i8_conv *p) {
    switch (isa) {
    case 3: return sk_i8_s2d_scratch_bytes_amx(p);
    case 2: return sk_i8_s2d_scratch_bytes_vnni512(p);
    case 1: return sk_i8_s2d_scratch_bytes_avx2(p);
    default: return sk_i8_s2d_scratch_bytes_generic(p);
    }
}

int sk_i8_s2d_conv2d(int isa, const sk_i8_conv *p, void *scratch, int ith, int nth) {
    switch (isa) {
    case 3: return sk_i8_s2d_conv2d_amx(p, scratch, ith, nth);
    case 2: return sk_i8_s2d_conv2d_vnni512(p, scratch, ith, nth);
    case 1: return sk_i8_s2d_conv2d_avx2(p, scratch, ith, nth);
    default: return sk_i8_s2d_conv2d_generic(p, scratch, ith, nth);
    }
}

void sk_i8_silu(int isa, const float *x, float *y, long n) {
    switch (isa) {
    case 5: sk_i8_silu_a16generic(x, y, n); break;
    case 4: sk_i8_silu_a16vnni512(x, y, n); break;
    case 3: case 2: sk_i8_silu_vnni512(x, y, n); break;
    case 1: sk_i8_silu_avx2(x, y, n); break;
    default: sk_i8_silu_generic(x, y, n); break;
    }
}

void sk_i8_tile(int isa, int *rows, int *columns, int *kgroup) {
    switch (isa) {
    case 5: *rows = 4; *columns = 16; *kgroup = 2; break;
    case 4: *rows = 8; *columns = 48; *kgroup = 2; break;
    case 3: case 2: *rows = 8; *columns = 48; *kgroup = 4; break;
    case 1: *rows = 4; *columns = 24; *kgroup = 2; break;
    default: *rows = 4; *columns = 16; *kgroup = 4; break;
    }
}
