/*
 * cpu.h — which vector kernels this CPU runs (lib/nn/cpu.c).  Private to liblx.
 *
 * One vocabulary for the CPU: the levels of lx_isa (lx.h), each including the ones
 * before it.  The network detects the CPU once (lx_cpu_detect), under the limit its
 * options give (the tools take it from LX_CPU), and hands the level to every kernel:
 * a kernel of level L runs only when isa >= L, so nothing runs that the CPU lacks and
 * one machine can test every lower path.
 */
#ifndef LX_NN_CPU_H
#define LX_NN_CPU_H

#include "lx.h"

typedef struct lx_cpu {
    lx_isa isa;                   /* LX_ISA_PORTABLE, LX_ISA_AVX2 or LX_ISA_AVX512 */
    int bf16dp;                   /* with LX_ISA_AVX512: AVX512_BF16's dot product
                                   * (vdpbf16ps) for bf16 weights */
    int vnni;                     /* with LX_ISA_AVX512: AVX512_VNNI's byte dot product
                                   * (vpdpbusd) for int8 weights */
} lx_cpu;

/* Fill cpu from cpuid and the OS's saved register state (XCR0), using no level above
 * limit (LX_ISA_BEST: no limit). */
void lx_cpu_detect(lx_cpu *cpu, lx_isa limit);
/* "avx512-bf16", "avx512", "avx2" or "portable": the path bf16 products take. */
const char *lx_cpu_name(const lx_cpu *cpu);

#endif
