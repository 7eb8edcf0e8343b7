/*
 * cpu.c — CPU detection and the names of the kernel levels (lib/nn/cpu.h, lx.h).
 *
 * Also what every tool calls to read LX_CPU (lx_isa_parse): nothing here needs the
 * network or OpenBLAS, so the tools that do not run the network link neither (the
 * Makefile links with --as-needed), which saves them OpenBLAS's set-up at every start.
 */
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include "cpu.h"

static const char *const isa_names[] = {"best", "portable", "avx2", "avx512"};

int lx_isa_parse(const char *s, lx_isa *out) {
    if (!s || !*s) {
        *out = LX_ISA_BEST;
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (strcmp(s, isa_names[i]) == 0) {
            *out = (lx_isa)i;
            return 0;
        }
    return -1;
}

const char *lx_isa_name(lx_isa isa) {
    return (unsigned)isa < 4 ? isa_names[isa] : "?";
}

#if defined(__x86_64__) || defined(__i386__)
/* cpuid leaf 1: ECX bits 12 (FMA), 27 (OSXSAVE), 29 (F16C); XCR0 bits 1, 2 (the OS
 * saves xmm and ymm state); leaf 7: EBX bit 5 (AVX2); 16 (F), 17 (DQ), 30 (BW), 31 (VL)
 * with XCR0 bits 5, 6, 7 (opmask and zmm state); ECX bit 11 (AVX512_VNNI); leaf 7.1 EAX
 * bit 5 (BF16). */
static void detect_cpuid(lx_cpu *cpu) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return; /* OSXSAVE */
    unsigned f1 = c, xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0x6u) != 0x6u) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    if (!((b & (1u << 5)) && (f1 & (1u << 12)) && (f1 & (1u << 29)))) return;
    cpu->isa = LX_ISA_AVX2;
    unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    if ((xlo & 0xe6u) != 0xe6u || (b & need) != need) return;
    cpu->isa = LX_ISA_AVX512;
    cpu->vnni = (c >> 11) & 1u;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) cpu->bf16dp = 1;
}
#endif

void lx_cpu_detect(lx_cpu *cpu, lx_isa limit) {
    memset(cpu, 0, sizeof *cpu);
    cpu->isa = LX_ISA_PORTABLE;
    if (limit == LX_ISA_PORTABLE) return;
#if defined(__x86_64__) || defined(__i386__)
    detect_cpuid(cpu);
#endif
    if (limit != LX_ISA_BEST && cpu->isa > limit) cpu->isa = limit;
    if (cpu->isa < LX_ISA_AVX512) cpu->bf16dp = cpu->vnni = 0;
}

const char *lx_cpu_name(const lx_cpu *cpu) {
    if (cpu->isa >= LX_ISA_AVX512) return cpu->bf16dp ? "avx512-bf16" : "avx512";
    return cpu->isa >= LX_ISA_AVX2 ? "avx2" : "portable";
}
