// One ISA's int8 convolution, stamped out by int8_conv.c once per ISA. The includer defines:
//   SK_FN(name)  the ISA-suffixed function name
//   VW           floats per vector in the epilogue and the quantizing pack (NR % VW == 0)
//   MR, NR, KG   microkernel rows, columns, and k values per 32-bit lane (4: u8 quads, 2: s16 pairs)
//   BTYPE/ATYPE  element type of the packed activation / weight panels (uint8_t/int8_t or int16_t/int16_t)
//   SK_FN(micro)(int kgroups, const ATYPE *a, const BTYPE *b, int32_t *tile)  tile[r·NR + j] = Σ a·b
//   SK_RECIP(x)  1/x for x ≥ 1 (sigmoid's denominator), to float precision
//   SK_SIGMOID(x) (optional) σ(x) in the ISA's fastest form; default 1/(1 + e^−x) from vexp and SK_RECIP
//   SK_SILU(x)   (optional) the int8 SiLU below (silu_generic) in the ISA's cheaper form
//   SK_PACK_QUADS(src, ld, inv, zp, dst) (optional, KG 4) one full group's NR columns: the four k rows at src,
//                src + ld, … quantized into u8 quads at dst, exactly as the generic loop below
//   SK_PACK_PAIRS(src, ld, inv, zp, qmin, qmax, dst) (optional, KG 2) the same for two k rows in 16-bit lanes
//   SK_FN(micro_at)(kgroups, a, b, const int32_t *offsets, tile)  the same with group g's block at b + offsets[g]
//   SK_MICRO_FUSED(kgroups, a, b, p, row0, col0) (optional) a whole MR × NR tile, epilogue included, from registers
//                (SK_FN(epilogue_registers) finishes it)
//   SK_LOADI_FIRST(p, n), SK_LOADF_FIRST(p, n), SK_STOREF_FIRST(p, v, n) (optional) masked moves of a vector's first n lanes
// Everything here is static except conv2d, silu and the two packing entry points. int8/template_end.h undefines the
// parameters, after int8/s2d_template.h has used them too.

typedef float SK_FN(vf) __attribute__((ext_vector_type(VW)));
typedef int32_t SK_FN(vi) __attribute__((ext_vector_type(VW)));
typedef uint32_t SK_FN(vu) __attribute__((ext_vector_type(VW)));
#define VF SK_FN(vf)
#define VI SK_FN(vi)
#define VU SK_FN(vu)

// The microkernel over contiguous panels (the generic conv) and over blocks at given offsets (s2d_template.h).
static void SK_FN(micro)(int kgs, const ATYPE *a, const BTYPE *b, int32_t *tile) { SK_MICRO_BODY(kgs, a, b, 0, tile); }
static void SK_FN(micro_at)(int kgs, const ATYPE *a, const BTYPE *b, const int32_t *offsets, int32_t *tile) {
    SK_MICRO_BODY(kgs, a, b, offsets, tile);
}

static inline VF SK_FN(splat)(float v) { VF r = v; return r; }
static inline VF SK_FN(loadf)(const float *p) { VF v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void SK_FN(storef)(float *p, VF v) { __builtin_memcpy(p, &v, sizeof v); }
static inline VI SK_FN(loadi)(const int32_t *p) { VI v; __builtin_memcpy(&v, p, sizeof v); return v; }
// The first n (1 … VW − 1) lanes of a vector, the rest zero, and storing only them: element by element unless the
// ISA has masked moves (SK_LOADI_FIRST, SK_LOADF_FIRST, SK_STOREF_FIRST). The image stem's strips end mid-vector at
// every row end, so its epilogue takes this path on about one tile row in four.
#ifndef SK_LOADI_FIRST
static inline VI SK_FN(loadi_first)(const int32_t *p, int n) {
    int32_t a[VW] = {0};
    for (int t = 0; t < n; t++) a[t] = p[t];
    return SK_FN(loadi)(a);
}
static inline VF SK_FN(loadf_first)(const float *p, int n) {
    float a[VW] = {0};
    for (int t = 0; t < n; t++) a[t] = p[t];
    return SK_FN(loadf)(a);
}
static inline void SK_FN(storef_first)(float *p, VF v, int n) {
    for (int t = 0; t < n; t++) p[t] = v[t];
}
#define SK_LOADI_FIRST(p, n) SK_FN(loadi_first)(p, n)
#define SK_LOADF_FIRST(p, n) SK_FN(loadf_first)(p, n)
#define SK_STOREF_FIRST(p, v, n) SK_FN(storef_first)(p, v, n)
#endif

// e^x as the fp32 kernels compute it (Cephes degree-5, inputs clamped so 2^n stays normal).
static inline VF SK_FN(vexp)(VF x) {
    x = __builtin_elementwise_min(x, SK_FN(splat)(88.37f));
    x = __builtin_elementwise_max(x, SK_FN(splat)(-87.33f));
    VF n = __builtin_elementwise_roundeven(x * 1.44269504f);
    VF r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    VF p = SK_FN(splat)(1.98756915e-4f);
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.00000012e-1f;
    VF e = p * (r * r) + r + 1.0f;
    VI bits = (__builtin_convertvector(n, VI) + 127) << 23;
    return e * (VF)bits;
}

#ifndef SK_SIGMOID
#define SK_SIGMOID(x) SK_RECIP(1.0f + SK_FN(vexp)(-(x)))
#endif
// The int8 layers' SiLU, x·σ(x) to 8e-5 relative, as Int8Reference.silu defines it (the same steps, each one IEEE
// rounding): σ's input clamped to ±80, t = −x·log2 e, f = t − ⌊t⌋ (exact), a degree-3 2^f (constants in sk_int8.h),
// d = p·2^⌊t⌋ + 1, x/d. Cheaper than the fp32 sigmoid's degree-5 polynomial, for an output the next int8 layer
// rounds to 1/255 of its range anyway. An ISA may replace the divide (SK_SILU); the QAT forward runs the kernels'
// own form through sk_i8_silu, so training sees what inference computes on this machine.
static inline VF SK_FN(silu_generic)(VF x) {
    const VF xc = __builtin_elementwise_min(__builtin_elementwise_max(x, SK_FN(splat)(-80.0f)), SK_FN(splat)(80.0f));
    const VF t = xc * -1.44269504088896341f;
    const VF n = __builtin_elementwise_floor(t);
    const VF f = t - n;
    VF p = __builtin_elementwise_fma(SK_FN(splat)(sk_silu_c3), f, SK_FN(splat)(sk_silu_c2));
    p = __builtin_elementwise_fma(p, f, SK_FN(splat)(sk_silu_c1));
    p = __builtin_elementwise_fma(p, f, SK_FN(splat)(sk_silu_c0));
    const VI scale = (__builtin_convertvector(n, VI) + 127) << 23;
    const VF d = p * (VF)scale + 1.0f;  // p·2^⌊t⌋ is exact, so fused or not this rounds once
    return x / d;
}
#ifndef SK_SILU
#define SK_SILU(x) SK_FN(silu_generic)(x)
#endif

// y[i] = the int8 SiLU of x[i] exactly as this ISA's epilogue computes it (the tail through one padded vector).
void SK_FN(silu)(const float *x, float *y, long n) {
    long i = 0;
    for (; i + VW <= n; i += VW) SK_FN(storef)(y + i, SK_SILU(SK_FN(loadf)(x + i)));
    if (i < n) {
        float pad[VW] = {0};
        for (long t = 0; t < n - i; t++) pad[t] = x[i + t];
        VF v = SK_SILU(SK_FN(loadf)(pad));
        for (long t = 0; t < n - i; t++) y[i + t] = v[t];
    }
}

static inline VF SK_FN(activate)(VF v, int activation) {
    switch (activation) {
    case 1: return __builtin_elementwise_max(v, SK_FN(splat)(0.0f));
    case 2: return SK_SIGMOID(v);
    case 3: return SK_SILU(v);
    default: return v;
    }
}

long SK_FN(packed_weight_bytes)(int m, int k) {
    long kp = (k + KG - 1) / KG * KG;
    return (long)((m + MR - 1) / MR * MR) * kp * (long)sizeof(ATYPE);
}

// Panel p holds, for each group g of KG k values, MR rows × KG values: dst[((p·KGS + g)·MR + r)·KG + t] =
// src[p·MR + r][g·KG + t] (zero outside m×k).
void SK_FN(pack_weights)(const int8_t *src, int m, int k, void *dst) {
    int kgs = (k + KG - 1) / KG;
    ATYPE *out = (ATYPE *)dst;
    for (int p = 0; p < (m + MR - 1) / MR; p++)
        for (int g = 0; g < kgs; g++)
            for (int r = 0; r < MR; r++)
                for (int t = 0; t < KG; t++) {
                    int row = p * MR + r, col = g * KG + t;
                    *out++ = (ATYPE)(row < m && col < k ? src[(long)row * k + col] : 0);
                }
}

long SK_FN(scratch_bytes)(int cin, int kh, int kw) {
    long k = (long)cin * kh * kw, kp = (k + KG - 1) / KG * KG;
    long col = k * NR * 4, panel = kp * NR * (long)sizeof(BTYPE), tile = MR * NR * 4;
    return (col + 63) / 64 * 64 + (panel + 63) / 64 * 64 + tile + 64;
}

// Quantizes K rows of NR floats (row kk at base + kk·ld) into the k-grouped activation panel: for group g and column
// j, the KG values of rows g·KG..g·KG+KG−1 share one 32-bit lane, lowest k in the lowest bits. Values land in
// [qmin, qmax]: [0, 255] for u8 activations, [−32768, 32767] for 16-bit ones (only in 16-bit lanes, KG 2).
static void SK_FN(pack_activations)(const float *base, long ld, int k, float inv, int zp, int qmin, int qmax,
                                    BTYPE *panel) {
    int kgs = (k + KG - 1) / KG;
    const VF lo = SK_FN(splat)((float)(qmin - zp)), hi = SK_FN(splat)((float)(qmax - zp));
    const VI z = zp;
    const VU laneMask = (VU)(uint32_t)((1ull << (32 / KG)) - 1);
    uint32_t *lanes = (uint32_t *)panel;
    for (int g = 0; g < kgs; g++) {
#ifdef SK_PACK_PAIRS
        if (g * KG + KG <= k) {
            SK_PACK_PAIRS(base + (long)g * KG * ld, ld, inv, zp, qmin, qmax, lanes + (long)g * NR);
            continue;
        }
#endif
#ifdef SK_PACK_QUADS
        if (g * KG + KG <= k) {
            SK_PACK_QUADS(base + (long)g * KG * ld, ld, inv, zp, lanes + (long)g * NR);
            continue;
        }
#endif
        for (int j = 0; j < NR; j += VW) {
            VU word = 0;
            for (int t = 0; t < KG; t++) {
                int kk = g * KG + t;
                if (kk >= k) continue;
                VF x = SK_FN(loadf)(base + kk * ld + j) * inv;
                x = __builtin_elementwise_min(__builtin_elementwise_max(x, lo), hi);
                VI q = __builtin_convertvector(__builtin_elementwise_roundeven(x), VI) + z;
                word |= ((VU)q & laneMask) << (uint32_t)(t * (32 / KG));
            }
            __builtin_memcpy(lanes + (long)g * NR + j, &word, sizeof word);
        }
    }
}

// panel[r·NR + j] = the input value feeding output pixel n0 + j for GEMM row r = (ci·kh + ky)·kw + kx; zero for
// padding and for columns j ≥ cols (as im2colStrip in the fp32 kernels).
static void SK_FN(im2col)(const sk_i8_conv *p, int wo, int n0, int cols, float *panel) {
    int oy0 = n0 / wo, ox0 = n0 % wo;
    float *row = panel;
    for (int ci = 0; ci < p->cin; ci++) {
        const float *plane = p->input + ci * p->inputChannelStride;
        for (int ky = 0; ky < p->kh; ky++) {
            for (int kx = 0; kx < p->kw; kx++) {
                int j = 0, oy = oy0, ox = ox0;
                while (j < cols) {
                    int run = wo - ox < cols - j ? wo - ox : cols - j;
                    int iy = oy * p->strideH - p->padTop + ky * p->dilationH;
                    float *dst = row + j;
                    if (iy < 0 || iy >= p->h) {
                        for (int t = 0; t < run; t++) dst[t] = 0;
                    } else {
                        // Only t in t0..<t1 lands inside the row: zero, copy (memcpy at stride 1), zero.
                        int ixBase = ox * p->strideW - p->padLeft + kx * p->dilationW, sw = p->strideW;
                        int t0 = ixBase >= 0 ? 0 : (sw - 1 - ixBase) / sw;
                        if (t0 > run) t0 = run;
                        int last = p->w - 1 - ixBase;
                        int t1 = last < 0 ? 0 : last / sw + 1;
                        if (t1 > run) t1 = run;
                        if (t1 < t0) t1 = t0;
                        const float *src = plane + (long)iy * p->w + ixBase;
                        for (int t = 0; t < t0; t++) dst[t] = 0;
                        if (sw == 1) {
                            __builtin_memcpy(dst + t0, src + t0, (size_t)(t1 - t0) * sizeof(float));
                        } else {
                            for (int t = t0; t < t1; t++) dst[t] = src[t * sw];
                        }
                        for (int t = t1; t < run; t++) dst[t] = 0;
                    }
                    j += run;
                    ox = 0;
                    oy++;
                }
                for (int t = cols; t < NR; t++) row[t] = 0;
                row += NR;
            }
        }
    }
}

static void SK_FN(epilogue)(const sk_i8_conv *p, const int32_t *tile, int row0, int rows, int from, int to,
                            long col0) {
    for (int r = 0; r < rows; r++) {
        int co = row0 + r;
        const VF sc = SK_FN(splat)(p->scale[co]), b = SK_FN(splat)(p->bias[co]);
        const VI off = p->rowOffset[co];
        float *out = sk_i8_output_row(p, co) + col0;
        const int act = sk_i8_row_activation(p, co);
        const float *res = p->residual ? p->residual + co * p->residualChannelStride + col0 : 0;
        const int32_t *acc = tile + r * NR;
        int j = from;
        for (; j + VW <= to; j += VW) {
            VF y = __builtin_convertvector(SK_FN(loadi)(acc + j) - off, VF) * sc + b;
            y = SK_FN(activate)(y, act);
            if (res) y += SK_FN(loadf)(res + j);
            SK_FN(storef)(out + j, y);
        }
        if (j < to) {
            // The tail through one vector (lanes past `to` read as 0 and not stored), so it gets exactly the vector
            // arithmetic.
            int n = to - j;
            VF y = __builtin_convertvector(SK_LOADI_FIRST(acc + j, n) - off, VF) * sc + b;
            y = SK_FN(activate)(y, act);
            if (res) y += SK_LOADF_FIRST(res + j, n);
            SK_STOREF_FIRST(out + j, y, n);
        }
    }
}

// The quantized activation range of `p`: 16-bit activations only in a stamp with 16-bit lanes (the dispatch in
// int8_conv.c routes them there).
static inline int SK_FN(qmin)(const sk_i8_conv *p) { return KG == 2 && p->inputBits == 16 ? -32768 : 0; }
static inline int SK_FN(qmax)(const sk_i8_conv *p) { return KG == 2 && p->inputBits == 16 ? 32767 : 255; }

#ifdef SK_MICRO_FUSED
// The epilogue of one whole MR × NR tile straight from the accumulator registers (c[r][v]: row r, columns
// v·VW ..< v·VW + VW), for the ISAs' fused microkernels: the same arithmetic as SK_FN(epilogue).
static inline __attribute__((always_inline)) void SK_FN(epilogue_registers)(const sk_i8_conv *p, VI c[MR][NR / VW],
                                                                          int row0, long col0) {
    for (int r = 0; r < MR; r++) {
        int co = row0 + r;
        const VF sc = SK_FN(splat)(p->scale[co]), b = SK_FN(splat)(p->bias[co]);
        const VI off = p->rowOffset[co];
        float *out = sk_i8_output_row(p, co) + col0;
        const int act = sk_i8_row_activation(p, co);
        const float *res = p->residual ? p->residual + co * p->residualChannelStride + col0 : 0;
        for (int v = 0; v < NR / VW; v++) {
            VF y = __builtin_convertvector(c[r][v] - off, VF) * sc + b;
            y = SK_FN(activate)(y, act);
            if (res) y += SK_FN(loadf)(res + VW * v);
            SK_FN(storef)(out + VW * v, y);
        }
    }
}
#endif

// Quantizes strip s of the plan into `panel` (through `col`, im2col, unless the conv is direct): the strip's first
// output pixel `start` and the columns from ..< to of it that this strip stores. A direct conv's last strip is
// shifted left to end at n so every strip is full (its overlap with the previous one is recomputed, not stored twice).
static void SK_FN(pack_strip)(const sk_i8_conv *p, const sk_i8_conv_plan *plan, int s, float *col, BTYPE *panel,
                              long *start, int *from, int *to) {
    if (plan->direct) {
        *start = s * NR < plan->n - NR ? s * NR : plan->n - NR;
        *from = (int)(s * NR - *start);
        *to = NR;
        SK_FN(pack_activations)(p->input + *start, p->inputChannelStride, plan->k, p->inputInvScale,
                                p->inputZeroPoint, SK_FN(qmin)(p), SK_FN(qmax)(p), panel);
    } else {
        *start = (long)s * NR;
        *from = 0;
        *to = plan->n - s * NR < NR ? plan->n - s * NR : NR;
        SK_FN(im2col)(p, plan->wo, s * NR, *to, col);
        SK_FN(pack_activations)(col, NR, plan->k, p->inputInvScale, p->inputZeroPoint, SK_FN(qmin)(p), SK_FN(qmax)(p),
                                panel);
    }
}

void SK_FN(conv2d)(const sk_i8_conv *p, void *scratch, int ith, int nth) {
    sk_i8_conv_plan plan;
    if (!sk_i8_conv_plan_make(p, MR, NR, ith, nth, &plan)) return;
    int k = plan.k, kgs = (k + KG - 1) / KG;
    char *bytes = (char *)scratch;
    float *col = (float *)bytes;
    BTYPE *panel = (BTYPE *)(bytes + ((long)k * NR * 4 + 63) / 64 * 64);
    int32_t *tile = (int32_t *)((char *)panel + ((long)kgs * KG * NR * (long)sizeof(BTYPE) + 63) / 64 * 64);
    const ATYPE *weights = (const ATYPE *)p->packedWeights;
    for (int s = plan.s0; s < plan.s1; s++) {
        long start;
        int from, to;
        SK_FN(pack_strip)(p, &plan, s, col, panel, &start, &from, &to);
        for (int pi = plan.p0; pi < plan.p1; pi++) {
            int row0 = pi * MR;
#ifdef SK_MICRO_FUSED
            // A whole tile: the ISA's microkernel finishes it from its accumulator registers.
            if (from == 0 && to == NR && p->cout - row0 >= MR) {
                SK_MICRO_FUSED(kgs, weights + (long)pi * MR * kgs * KG, panel, p, row0, start);
                continue;
            }
#endif
            SK_FN(micro)(kgs, weights + (long)pi * MR * kgs * KG, panel, tile);
            SK_FN(epilogue)(p, tile, row0, p->cout - row0 < MR ? p->cout - row0 : MR, from, to, start);
        }
    }
}

