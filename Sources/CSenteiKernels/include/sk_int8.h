// int8 convolution kernels (u8 activations × s8 weights → s32, fp32 epilogue). Swift cannot emit vpdpbusd or
// vpmaddwd (engine-notes §1), and -march=x86-64-v4 does not include AVX512-VNNI, so these are C functions with
// per-function target attributes, one set per ISA, chosen once by the engine (Quantization/Int8Kernels.swift).
// Exported (never inline) functions: each ISA's code exists exactly once, so no weak symbol can cross ISAs.
#ifndef SK_INT8_H
#define SK_INT8_H
#include <stdint.h>

/// One int8 convolution call. Layout NCHW, batch 1, group 1.
/// out[co][p] = act((acc[co][p] − rowOffset[co]) · scale[co] + bias[co]) (+ residual[co][p]) where
/// acc[co][p] = Σ_k w8[co][k] · q(x[k][p]), q(x) = clamp(roundeven(x·inputInvScale), −zp, 255 − zp) + zp (u8), and
/// rowOffset[co] = zp · Σ_k w8[co][k]. Padding taps read the quantized zero (zp), i.e. the real value 0.
typedef struct sk_i8_conv {
    const float *input;
    long inputChannelStride;
    int cin, h, w;
    /// Packed by this ISA's sk_i8_pack_weights_* (m = cout, k = cin·kh·kw).
    const void *packedWeights;
    int cout, kh, kw;
    int strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH, dilationW;
    float *output;
    long outputChannelStride;
    /// Added after the activation; may be NULL.
    const float *residual;
    long residualChannelStride;
    /// Per output channel: inputScale · weightScale[co].
    const float *scale;
    /// Per output channel (the float bias, bias-corrected); never NULL.
    const float *bias;
    /// Per output channel: zp · Σ_k w8[co][k].
    const int32_t *rowOffset;
    float inputInvScale;
    int inputZeroPoint;
    /// 0 none, 1 relu, 2 sigmoid, 3 silu (as the fp32 kernels).
    int activation;
    /// 8: u8 activations as above. 16: s16 activations (w8a16), q(x) = clamp(roundeven(x·inputInvScale),
    /// −32768 − zp, 32767 − zp) + zp, for layers too sensitive to 8-bit activations; at most 512 k values (so
    /// Σ |w8 · q| < 2^31), no space-to-depth kernel, and only through the kernel sk_i8_kernel(isa, 16) names.
    int inputBits;
    /// Two sibling 1×1 convs of one input run as one call (weights, scale, bias and rowOffset concatenated; input
    /// packed once): output rows from splitRow on go to output2 (row co at output2 + (co − splitRow)·
    /// outputChannelStride) with activation2, and have no residual. 0 when unused (the struct's zero value).
    float *output2;
    int splitRow;
    int activation2;
} sk_i8_conv;

/// Kernel ISA codes: 0 portable C, 1 AVX2 (vpmaddwd on 16-bit pairs), 2 AVX-512 VNNI (vpdpbusd), 3 VNNI with AMX-INT8
/// tiles for GEMMs of k a multiple of 64 and at least 128 (where sk_has_amx(); the rest as 2). For 16-bit activations:
/// 4 AVX-512 VNNI (vpdpwssd on s16 pairs), 5 portable C on s16 pairs; AVX2 (1) runs both widths.
/// The kernel code for an ISA code and an activation width (8 or 16).
int sk_i8_kernel(int isa, int inputBits);
/// The largest k (cin·kh·kw) a 16-bit-activation conv may have.
#define SK_I8_A16_MAX_K 512
/// Bytes needed for packed weights of an m×k matrix.
long sk_i8_packed_weight_bytes(int isa, int m, int k);
/// Packs row-major s8 weights (m×k) into the ISA's panel layout (rows past m and k past K are zero).
void sk_i8_pack_weights(int isa, const int8_t *src, int m, int k, void *dst);
/// Scratch bytes one part of sk_i8_conv2d needs.
long sk_i8_conv2d_scratch_bytes(int isa, int cin, int kh, int kw);
/// Runs part ith of nth of the convolution (disjoint output tiles; any order, any threads). `scratch` is this
/// part's own sk_i8_conv2d_scratch_bytes bytes, 64-byte aligned.
void sk_i8_conv2d(int isa, const sk_i8_conv *p, void *scratch, int ith, int nth);

/// The space-to-depth int8 conv, for dense convs whose cin·strideH·strideW ≤ 16 (image stems: YOLOX's Focus folded
/// into a 6×6/s2 conv, a 3×3/s2 first conv). It computes what sk_i8_conv2d computes, without im2col or a float pass:
/// the input is quantized once into a space-to-depth u8 (AVX2: s16) layout the microkernel reads directly. Its weights
/// are packed by sk_i8_s2d_pack_weights for the same geometry (`p` then needs no packedWeights, input or output).
/// 1 when this kernel handles `p` (dilation 1, strides ≤ 8, cin·sh·sw ≤ 16, at most 64 taps in s2d space).
int sk_i8_s2d_supported(const sk_i8_conv *p);
/// Bytes of packed weights for `p`'s geometry (0 when unsupported).
long sk_i8_s2d_packed_weight_bytes(int isa, const sk_i8_conv *p);
/// Packs row-major [cout][cin][kh][kw] s8 weights for `p`'s geometry; 0 when unsupported or out of memory.
int sk_i8_s2d_pack_weights(int isa, const sk_i8_conv *p, const int8_t *weights, void *dst);
/// Scratch bytes one part needs (depends on the input width and the kernel; 0 when unsupported).
long sk_i8_s2d_scratch_bytes(int isa, const sk_i8_conv *p);
/// Runs part ith of nth (disjoint output rows), as sk_i8_conv2d; 0 (nothing done) when unsupported.
int sk_i8_s2d_conv2d(int isa, const sk_i8_conv *p, void *scratch, int ith, int nth);
/// y[i] = the int8 layers' SiLU of x[i], computed exactly as that ISA's conv epilogue computes it (the QAT forward
/// uses it so that training sees the engine's function). x and y may be the same array.
void sk_i8_silu(int isa, const float *x, float *y, long n);
/// The microkernel tile (rows × columns) and k grouping of an ISA, for tests and reports.
void sk_i8_tile(int isa, int *rows, int *columns, int *kgroup);
/// The int8 layers' SiLU (int8/conv_template.h, silu_generic): its degree-3 2^f coefficients, a minimax fit for
/// relative error on [0, 1) (7.5e-5). Shared with Int8Reference.silu and sk_vecmath.h's AVX-512 form.
static const float sk_silu_c3 = 7.802403e-2f, sk_silu_c2 = 2.2606707e-1f, sk_silu_c1 = 6.958340e-1f,
                   sk_silu_c0 = 9.9992514e-1f;
#endif
