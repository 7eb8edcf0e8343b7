/*
 * cpu.c — LX_CPU's names as kernel levels (lib/lx.h).  A file of its own, away from
 * net.c: every tool parses LX_CPU through cmd/common/cli.c, and only lx-encode and
 * lx-vqa run the network, so the others link neither the network nor OpenBLAS (with
 * --as-needed), which saves them OpenBLAS's set-up at every start.
 */
#include <string.h>
#include "lx.h"

int lx_cpu_parse(const char *s) {
    static const char *names[] = {"best", "portable", "avx2", "avx512"};
    if (!s || !*s) return LX_CPU_BEST;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}
