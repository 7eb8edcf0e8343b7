/*
 * sgemm — the machine's own large-matrix cblas_sgemm rate, for bench/encode.sh to say
 * what fraction of it lx-encode reaches.  Built by the benchmark script, not by make.
 *
 *   sgemm [N] [REPS]     prints "sgemm N=2048: G GFLOP/s" (best of REPS)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048, reps = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 16 || n > 16384 || reps < 1) return 2;
    size_t sz = (size_t)n * n;
    float *a = malloc(sz * 4), *b = malloc(sz * 4), *c = malloc(sz * 4);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < sz; i++) {
        a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    }
    double best = 1e30;
    for (int r = 0; r <= reps; r++) { /* the first run warms up */
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = now() - t;
        if (r && t < best) best = t;
    }
    printf("sgemm N=%d: %.1f GFLOP/s\n", n, 2.0 * n * n * (double)n / best / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
