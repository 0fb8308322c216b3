// One ISA's space-to-depth int8 conv (geometry and layout: int8/s2d_geometry.h), stamped by int8_conv.c after
// int8/conv_template.h, whose microkernel (SK_FN(micro_at)), weight packing and epilogue it reuses. For dense convs
// with few input channels (an image stem: YOLOX's folded 6×6/s2 Focus, a 3×3/s2 first conv): the fp32 input is
// quantized once per band into D, and the microkernel reads its activation blocks straight from D.

static int SK_FN(s2d_geometry)(const sk_i8_conv *p, sk_i8_s2d_geometry *g) {
    return sk_i8_s2d_geometry_make(p, KG, NR, (int)sizeof(BTYPE), g);
}

long SK_FN(s2d_packed_weight_bytes)(const sk_i8_conv *p) {
    sk_i8_s2d_geometry g;
    if (!SK_FN(s2d_geometry)(p, &g)) return 0;
    return SK_FN(packed_weight_bytes)(p->cout, g.kgroups * KG);
}

// Reorders the weights into the GEMM's k order (sk_i8_s2d_reorder_weights) and packs them as the generic conv packs
// its own.
int SK_FN(s2d_pack_weights)(const sk_i8_conv *p, const int8_t *w, void *dst) {
    sk_i8_s2d_geometry g;
    if (!SK_FN(s2d_geometry)(p, &g)) return 0;
    int k = g.kgroups * KG;
    int8_t *reordered = (int8_t *)calloc((size_t)p->cout * (size_t)k, 1);
    if (!reordered) return 0;
    sk_i8_s2d_reorder_weights(p, &g, KG, w, reordered, k);
    SK_FN(pack_weights)(reordered, p->cout, k, dst);
    free(reordered);
    return 1;
}

static inline long SK_FN(align64)(long bytes) { return (bytes + 63) / 64 * 64; }

long SK_FN(s2d_scratch_bytes)(const sk_i8_conv *p) {
    sk_i8_s2d_geometry g;
    if (!SK_FN(s2d_geometry)(p, &g)) return 0;
    long offsets = (long)g.kgroups * 4, line = (2L * p->strideW * g.pitch + VW) * (long)sizeof(BTYPE);
    long band = (long)g.groups * g.planeElements * (long)sizeof(BTYPE), tile = MR * NR * 4;
    return SK_FN(align64)(offsets) + SK_FN(align64)(line) + SK_FN(align64)(band) + tile + 64;
}

// line[j] = q(x[c][iy][sw·qx0 + j]) for j < n, zp outside the image (the quantizer of pack_activations).
static void SK_FN(s2d_quantize_line)(const sk_i8_conv *p, int c, int iy, int ix0, int n, BTYPE *line) {
    const int zp = p->inputZeroPoint;
    int j0 = 0, j1 = 0;
    if (iy >= 0 && iy < p->h) {
        j0 = ix0 >= 0 ? 0 : -ix0;
        j1 = p->w - ix0 < n ? p->w - ix0 : n;
        if (j1 < j0) j1 = j0;
        if (j0 > n) j0 = j1 = n;
    }
    for (int j = 0; j < j0; j++) line[j] = (BTYPE)zp;
    const float *src = p->input + c * p->inputChannelStride + (j1 > j0 ? (long)iy * p->w + ix0 : 0);
    const float inv = p->inputInvScale, lo = (float)-zp, hi = (float)(255 - zp);
    const VF vinv = SK_FN(splat)(inv), vlo = SK_FN(splat)(lo), vhi = SK_FN(splat)(hi);
    typedef BTYPE SK_FN(vb) __attribute__((ext_vector_type(VW)));
    int j = j0;
    for (; j + VW <= j1; j += VW) {
        VF x = SK_FN(loadf)(src + j) * vinv;
        x = __builtin_elementwise_min(__builtin_elementwise_max(x, vlo), vhi);
        VI q = __builtin_convertvector(__builtin_elementwise_roundeven(x), VI) + zp;
        SK_FN(vb) b = __builtin_convertvector(q, SK_FN(vb));
        __builtin_memcpy(line + j, &b, sizeof b);
    }
    for (; j < j1; j++) {
        float x = src[j] * inv;
        x = __builtin_elementwise_min(__builtin_elementwise_max(x, lo), hi);
        line[j] = (BTYPE)((int)__builtin_elementwise_roundeven(x) + zp);
    }
    for (j = j1; j < n; j++) line[j] = (BTYPE)zp;
}

typedef uint16_t SK_FN(u16) __attribute__((may_alias, aligned(1)));
typedef uint32_t SK_FN(u32) __attribute__((may_alias, aligned(1)));

// Fills D rows 0 ..< rows of the band whose first output row is oy0 (D row Yb holds s2d row oy0 + Yb). `line` holds
// 2·sw·pitch elements.
static void SK_FN(s2d_build_band)(const sk_i8_conv *p, const sk_i8_s2d_geometry *g, int oy0, int rows, BTYPE *band,
                                  BTYPE *line) {
    int sh = p->strideH, sw = p->strideW, n = sw * g->pitch, ix0 = sw * g->qx0;
    long rowElements = (long)g->pitch * KG;
    for (int yb = 0; yb < rows; yb++) {
        int iy = sh * (oy0 + yb + g->qy0);
        for (int c = 0; c < p->cin; c++) {
            if (KG == sw && sizeof(BTYPE) * KG == 4) {
                // A lane is sw neighbours of one input row (AVX2 pairs at stride 2): each D row is a quantized line.
                for (int ry = 0; ry < sh; ry++)
                    SK_FN(s2d_quantize_line)(p, c, iy + ry, ix0, n, band + (c * sh + ry) * g->planeElements + yb * rowElements);
            } else if (KG == 4 && sizeof(BTYPE) == 1 && sh == 2 && sw == 2) {
                // 2×2 (YOLOX's Focus, a 3×3/s2 stem): group c's lane is two u8 pairs, one from each input row.
                SK_FN(s2d_quantize_line)(p, c, iy, ix0, n, line);
                SK_FN(s2d_quantize_line)(p, c, iy + 1, ix0, n, line + n);
                const SK_FN(u16) *top = (const SK_FN(u16) *)line, *bottom = (const SK_FN(u16) *)(line + n);
                SK_FN(u32) *dst = (SK_FN(u32) *)(band + c * g->planeElements + yb * rowElements);
                for (int x = 0; x < g->pitch; x++) dst[x] = (uint32_t)top[x] | (uint32_t)bottom[x] << 16;
            } else {
                for (int ry = 0; ry < sh; ry++) {
                    SK_FN(s2d_quantize_line)(p, c, iy + ry, ix0, n, line);
                    for (int rx = 0; rx < sw; rx++) {
                        int ch = (c * sh + ry) * sw + rx;
                        BTYPE *dst = band + (ch / KG) * g->planeElements + yb * rowElements + ch % KG;
                        const BTYPE *src = line + rx;
                        for (int x = 0; x < g->pitch; x++) dst[x * KG] = src[x * sw];
                    }
                }
            }
        }
    }
}

// offsets[(tap row, tap column, group)] = where that group's block for a strip's first pixel starts in the band.
static void SK_FN(s2d_offsets)(const sk_i8_s2d_geometry *g, int32_t *offsets) {
    for (int ty = 0; ty < g->ty; ty++)
        for (int tx = 0; tx < g->tx; tx++)
            for (int gr = 0; gr < g->groups; gr++)
                offsets[(ty * g->tx + tx) * g->groups + gr] =
                    (int32_t)(gr * g->planeElements + ((long)ty * g->pitch + tx) * KG);
}

// The epilogue of band pixels m0 ..< m1 (pitch numbering, band starting at output row oy0) from `tile`: one call per
// output row the strip touches, skipping the pitch's extra columns.
static void SK_FN(s2d_strip_epilogue)(const sk_i8_conv *p, const sk_i8_s2d_geometry *g, const int32_t *tile, int row0,
                                      int rows, long m0, long m1, int oy0) {
    for (long r = m0 / g->pitch; r * g->pitch < m1; r++) {
        long a = r * g->pitch > m0 ? r * g->pitch : m0, e = r * g->pitch + g->wo < m1 ? r * g->pitch + g->wo : m1;
        if (a >= e) continue;
        SK_FN(epilogue)(p, tile + (a - m0), row0, rows, 0, (int)(e - a), (long)(oy0 + r) * g->wo + (a - r * g->pitch));
    }
}

// Runs part ith of nth: output rows ho·ith/nth ..< ho·(ith+1)/nth, in bands. Returns 0 (doing nothing) when the conv
// is outside the kernel's scope (the caller checks sk_i8_s2d_supported first).
int SK_FN(s2d_conv2d)(const sk_i8_conv *p, void *scratch, int ith, int nth) {
    sk_i8_s2d_geometry g;
    if (!SK_FN(s2d_geometry)(p, &g)) return 0;
    if (nth < 1) nth = 1;
    int y0 = (int)((long)g.ho * ith / nth), y1 = (int)((long)g.ho * (ith + 1) / nth);
    if (y0 >= y1) return 1;
    char *bytes = (char *)scratch;
    int32_t *offsets = (int32_t *)bytes;
    bytes += SK_FN(align64)((long)g.kgroups * 4);
    BTYPE *line = (BTYPE *)bytes;
    bytes += SK_FN(align64)((2L * p->strideW * g.pitch + VW) * (long)sizeof(BTYPE));
    BTYPE *band = (BTYPE *)bytes;
    long bandElements = (long)g.groups * g.planeElements;
    int32_t *tile = (int32_t *)(bytes + SK_FN(align64)(bandElements * (long)sizeof(BTYPE)));
    SK_FN(s2d_offsets)(&g, offsets);
    // Padding channels (past cin·sh·sw in the last group) and the slack keep zp: their weights are zero, and the
    // slack only feeds dropped columns, but every byte the microkernel reads is then defined.
    for (long i = 0; i < bandElements; i++) band[i] = (BTYPE)p->inputZeroPoint;
    const ATYPE *weights = (const ATYPE *)p->packedWeights;
    int panels = (p->cout + MR - 1) / MR;
    for (int oy0 = y0; oy0 < y1; oy0 += g.band) {
        int rows = y1 - oy0 < g.band ? y1 - oy0 : g.band;
        SK_FN(s2d_build_band)(p, &g, oy0, rows + g.ty - 1, band, line);
        long total = (long)rows * g.pitch;
        for (long m0 = 0; m0 < total; m0 += NR) {
            const BTYPE *b = band + m0 * KG;
            long m1 = m0 + NR < total ? m0 + NR : total;
            for (int pi = 0; pi < panels; pi++) {
                int row0 = pi * MR;
                SK_FN(micro_at)(g.kgroups, weights + (long)pi * MR * g.kgroups * KG, b, offsets, tile);
                SK_FN(s2d_strip_epilogue)(p, &g, tile, row0, p->cout - row0 < MR ? p->cout - row0 : MR, m0, m1, oy0);
            }
        }
    }
    return 1;
}
