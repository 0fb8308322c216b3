// Geometry of the space-to-depth int8 conv (int8/s2d_template.h), shared by every ISA's stamping.
//
// A conv with stride (sh, sw) reads input row iy = sh·oy − padTop + ky. Writing ky − padTop = sh·q + ry (0 ≤ ry < sh)
// gives iy = sh·(oy + q) + ry: the conv is a stride-1 conv with taps q over the space-to-depth image D whose channel
// (c, ry, rx) at pixel (Y, X) is x[c][sh·(Y + qy0) + ry][sw·(X + qx0) + rx] (zp outside x). Channels are grouped
// kg at a time, and D is laid out [group][row][col][kg], so the activations one tap and group feed NR consecutive
// output pixels are one contiguous block: no im2col, no pack. Rows are `pitch` = wo + tx − 1 pixels wide, and output
// pixels are numbered over that pitch (the tx − 1 extra columns per row are computed and dropped), so a strip of
// NR pixels may cross rows and every tap is one fixed offset from the strip's start.
#ifndef SK_INT8_S2D_GEOMETRY_H
#define SK_INT8_S2D_GEOMETRY_H
#include "sk_int8.h"

typedef struct sk_i8_s2d_geometry {
    int ho, wo;
    /// First tap offset floor(−pad / s) and the taps in D, per axis.
    int qy0, qx0, ty, tx;
    /// cin·sh·sw, and that rounded up to groups of kg.
    int channels, groups;
    /// D pixels per row, output rows per band (D holds band + ty − 1 rows), elements per group plane of the band.
    int pitch, band;
    long planeElements;
    /// GEMM k groups: ty·tx·groups, ordered (tap row, tap column, group).
    int kgroups;
} sk_i8_s2d_geometry;

static inline int sk_i8_floordiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// Fills `g` for a kernel set with `kg` values per lane, `nr` columns and `elementBytes`-byte activations; 0 when the
/// conv is outside what the s2d kernel handles (see sk_i8_s2d_supported).
static inline int sk_i8_s2d_geometry_make(const sk_i8_conv *p, int kg, int nr, int elementBytes, sk_i8_s2d_geometry *g) {
    if (p->inputBits == 16) return 0;  // u8 activations only (its band buffers hold bytes or u8 values in s16)
    if (p->dilationH != 1 || p->dilationW != 1 || p->strideH < 1 || p->strideW < 1 || p->strideH > 8 || p->strideW > 8)
        return 0;
    if (p->cin < 1 || p->cout < 1 || p->kh < 1 || p->kw < 1 || p->h < 1 || p->w < 1) return 0;
    if (p->padTop < 0 || p->padLeft < 0 || p->padBottom < 0 || p->padRight < 0) return 0;
    int sh = p->strideH, sw = p->strideW;
    g->channels = p->cin * sh * sw;
    if (g->channels > 16) return 0;
    g->ho = (p->h + p->padTop + p->padBottom - p->kh) / sh + 1;
    g->wo = (p->w + p->padLeft + p->padRight - p->kw) / sw + 1;
    if (g->ho < 1 || g->wo < 1 || p->h + p->padTop + p->padBottom < p->kh || p->w + p->padLeft + p->padRight < p->kw)
        return 0;
    g->qy0 = sk_i8_floordiv(-p->padTop, sh);
    g->qx0 = sk_i8_floordiv(-p->padLeft, sw);
    g->ty = sk_i8_floordiv(p->kh - 1 - p->padTop, sh) - g->qy0 + 1;
    g->tx = sk_i8_floordiv(p->kw - 1 - p->padLeft, sw) - g->qx0 + 1;
    if (g->ty * g->tx > 64) return 0;
    g->groups = (g->channels + kg - 1) / kg;
    g->kgroups = g->ty * g->tx * g->groups;
    g->pitch = g->wo + g->tx - 1;
    // About 48 KB of band per part (L1/L2-resident while its strips run), at least 4 rows so the ty − 1 halo rows
    // each band rebuilds stay a small share.
    long rowBytes = (long)g->groups * g->pitch * kg * elementBytes;
    long band = 49152 / rowBytes - (g->ty - 1);
    if (band < 4) band = 4;
    if (band > 32) band = 32;
    g->band = band < g->ho ? (int)band : g->ho;
    // Slack after each plane: a strip's last pixel plus the largest tap offset reach nr + tx pixels past the band.
    g->planeElements = ((long)(g->band + g->ty - 1) * g->pitch + nr + g->tx) * kg;
    return 1;
}
/// The [cout][cin][kh][kw] s8 weights in the s2d GEMM's k order: (tap row, tap column, group), then the kg channels
/// of the group, zero for padding channels and for taps outside the kernel. `reordered` holds cout × ldk bytes
/// (ldk ≥ kgroups·kg), zeroed by the caller.
static inline void sk_i8_s2d_reorder_weights(const sk_i8_conv *p, const sk_i8_s2d_geometry *g, int kg, const int8_t *w,
                                             int8_t *reordered, long ldk) {
    int sh = p->strideH, sw = p->strideW;
    for (int co = 0; co < p->cout; co++)
        for (int ty = 0; ty < g->ty; ty++)
            for (int tx = 0; tx < g->tx; tx++)
                for (int ch = 0; ch < g->channels; ch++) {
                    int c = ch / (sh * sw), ry = ch / sw % sh, rx = ch % sw;
                    int ky = sh * (ty + g->qy0) + ry + p->padTop, kx = sw * (tx + g->qx0) + rx + p->padLeft;
                    if (ky < 0 || ky >= p->kh || kx < 0 || kx >= p->kw) continue;
                    int column = ((ty * g->tx + tx) * g->groups + ch / kg) * kg + ch % kg;
                    reordered[(long)co * ldk + column] = w[(((long)co * p->cin + c) * p->kh + ky) * p->kw + kx];
                }
}
#endif
