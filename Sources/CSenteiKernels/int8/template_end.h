// Ends one ISA's stamping of int8/conv_template.h and int8/s2d_template.h: undefines the template parameters so
// int8_conv.c can define them afresh for the next ISA.
#undef VF
#undef VI
#undef VU
#undef SK_FN
#undef VW
#undef MR
#undef NR
#undef KG
#undef BTYPE
#undef ATYPE
#undef SK_RECIP
#undef SK_SIGMOID
#undef SK_SILU
#undef SK_PACK_QUADS
#undef SK_PACK_PAIRS
#undef SK_MICRO_BODY
#undef SK_MICRO_FUSED
#undef SK_LOADI_FIRST
#undef SK_LOADF_FIRST
#undef SK_STOREF_FIRST
