// How one part of an int8 conv covers the GEMM (int8/conv_template.h and the AMX kernel in int8_conv.c): output
// pixels in strips of nr columns, output channels in panels of mr rows.
#ifndef SK_INT8_CONV_PLAN_H
#define SK_INT8_CONV_PLAN_H
#include "sk_int8.h"

// Group g's activation block in a microkernel: contiguous panels (offsets NULL, a constant after inlining, so the
// generic conv's loop is unchanged) or, for the space-to-depth conv, at b + offsets[g] inside the band buffer.
#define SK_GROUP(b, offsets, g) ((offsets) ? (b) + (offsets)[g] : (b) + (long)(g) * KG * NR)

typedef struct sk_i8_conv_plan {
    int wo, n, k;
    /// A 1×1 stride-1 unpadded conv reads its GEMM rows straight from the input (no im2col).
    int direct;
    /// This part's panels p0 ..< p1 and strips s0 ..< s1.
    int p0, p1, s0, s1;
} sk_i8_conv_plan;

/// Output channel co's row and activation: the second sibling's rows (sk_i8_conv.splitRow) go to output2.
static inline float *sk_i8_output_row(const sk_i8_conv *p, int co) {
    return p->splitRow > 0 && co >= p->splitRow ? p->output2 + (long)(co - p->splitRow) * p->outputChannelStride
                                                : p->output + (long)co * p->outputChannelStride;
}
static inline int sk_i8_row_activation(const sk_i8_conv *p, int co) {
    return p->splitRow > 0 && co >= p->splitRow ? p->activation2 : p->activation;
}

/// Part ith of nth; 0 when it has nothing to do. Strips are split (shared activation packing, and each part stays on
/// the pixels it made in the layer before) unless splitting panels balances clearly better (small n, large m), as
/// splitTiles in the fp32 kernels.
static inline int sk_i8_conv_plan_make(const sk_i8_conv *p, int mr, int nr, int ith, int nth, sk_i8_conv_plan *plan) {
    int ho = (p->h + p->padTop + p->padBottom - p->dilationH * (p->kh - 1) - 1) / p->strideH + 1;
    plan->wo = (p->w + p->padLeft + p->padRight - p->dilationW * (p->kw - 1) - 1) / p->strideW + 1;
    if (ho <= 0 || plan->wo <= 0 || p->cout <= 0) return 0;
    plan->n = ho * plan->wo;
    plan->k = p->cin * p->kh * p->kw;
    plan->direct = p->kh == 1 && p->kw == 1 && p->strideH == 1 && p->strideW == 1 && p->padTop == 0 &&
                   p->padLeft == 0 && p->padBottom == 0 && p->padRight == 0 && plan->n >= nr;
    int panels = (p->cout + mr - 1) / mr, strips = (plan->n + nr - 1) / nr;
    plan->p0 = 0, plan->p1 = panels, plan->s0 = 0, plan->s1 = strips;
    if (nth > 1) {
        long byStrips = (long)((strips + nth - 1) / nth) * panels, byPanels = (long)((panels + nth - 1) / nth) * strips;
        int useStrips = byStrips * 4 <= byPanels * 5;
        int total = useStrips ? strips : panels;
        int base = total / nth, extra = total % nth;
        int lo = ith * base + (ith < extra ? ith : extra), hi = lo + base + (ith < extra ? 1 : 0);
        if (useStrips) { plan->s0 = lo; plan->s1 = hi; } else { plan->p0 = lo; plan->p1 = hi; }
    }
    return plan->p0 < plan->p1 && plan->s0 < plan->s1;
}
#endif
