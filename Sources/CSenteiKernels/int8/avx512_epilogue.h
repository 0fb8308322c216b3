// The AVX-512 epilogue hooks of int8/conv_template.h, shared by the u8 VNNI stamp (int8_conv.c) and the 16-bit one
// (int8_a16_conv.c) so both finish their accumulators with the same instructions. Include inside the stamp's
// `#pragma clang attribute push` region, after VW/VF/VI are defined; int8/template_end.h undefines the hooks.
#ifndef SK_INT8_AVX512_EPILOGUE_H
#define SK_INT8_AVX512_EPILOGUE_H
#include <immintrin.h>
#include "sk_vecmath.h"
// σ in 13 instructions (sk_vecmath.h, SK_SIGMOID_AVX512). Against the generic Cephes form: int8 YOLOX-Nano, one
// thread, p50 11.5 → 10.1 ms.
static inline __m512 sk_i8_sigmoid_avx512(__m512 x) { return SK_SIGMOID_AVX512(x); }
// The int8 SiLU of conv_template.h's silu_generic in its AVX-512 form (sk_vecmath.h, SK_SILU_INT8_AVX512).
// Each instruction of this epilogue costs ~0.1 ms a frame on int8 YOLOX-Nano: a bit-pattern reciprocal guess with two
// Newton steps instead of vrcp14ps (exactly reproducible in Swift) measured 0.5 ms slower (README, session 9).
static inline __m512 sk_i8_silu_avx512(__m512 x) { return SK_SILU_INT8_AVX512(x); }
#define SK_FIRST_MASK(n) ((__mmask16)((1u << (n)) - 1))
#endif
// rcp14 plus one Newton step (relative error ~1e-8): a fraction of vdivps's cost in the sigmoid/SiLU epilogue.
#define SK_RECIP(x) ({ __typeof__(x) x_ = (x), r_ = (__typeof__(x))_mm512_rcp14_ps((__m512)x_); r_ * (2.0f - x_ * r_); })
#define SK_SIGMOID(x) ((VF)sk_i8_sigmoid_avx512((__m512)(x)))
#define SK_SILU(x) ((VF)sk_i8_silu_avx512((__m512)(x)))
#define SK_LOADI_FIRST(p, n) ((VI)_mm512_maskz_loadu_epi32(SK_FIRST_MASK(n), (p)))
#define SK_LOADF_FIRST(p, n) ((VF)_mm512_maskz_loadu_ps(SK_FIRST_MASK(n), (p)))
#define SK_STOREF_FIRST(p, v, n) _mm512_mask_storeu_ps((p), SK_FIRST_MASK(n), (__m512)(v))
