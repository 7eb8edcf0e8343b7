/* Unit tests of lib/nn/gemm.c, simd/gemm_avx512.c and gemm_avx2.c: C (+)= A W^T + bias
 * with bf16 / f16 weights, on odd shapes, against a double-precision reference, on every
 * path this machine can run (AVX512_BF16, AVX-512 without the bf16 dot product, AVX2,
 * portable).
 *
 * Tolerances, per element, with S = sum_k |A[i][k] W[j][k]| + |bias[j]| + |C_old[i][j]|
 * (the size of the terms, so that cancellation in random data cannot make a correct sum
 * look wrong):
 *   LX_GEMM_BF16:   |C - ref| <= (2^-8 + (K + 4) 2^-24) S — rounding A to bf16 (8
 *                   significant bits, nearest even) moves each product by at most 2^-8 of
 *                   itself; the f32 accumulation of K terms adds at most (K + 4) 2^-24 S.
 *   exact and f16:  |C - ref| <= (K + 4) 2^-24 S (the weights widen exactly), and
 *                   |C - sgemm| <= 1e-5 S against cblas_sgemm on the widened weights.
 *   bf16, two paths: both round A the same way, so they differ by at most
 *                   2 (K + 4) 2^-24 S (summation order only).
 *   int8 (LX_GEMM_I8): every path gives the portable path's bits; the portable path is
 *                   the formula of gemm.h (checked with 64-bit sums here), and against the
 *                   double product of the unquantized A and W it is within the two
 *                   roundings' bound, sum_k (sa/2 |W| + |A| ws/2 + sa ws/4) (1 + 1e-5).
 * Also the thread pool of lib/nn/pool.h that lx_gemm runs on. */
#include <math.h>
#include <cblas.h>
#include "testutil.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "bytes.h"
#include "internal.h"

/* The 16-bit kinds (LX_GEMM_I8, after them, has tests of its own below). */
#define NKIND16 LX_GEMM_I8

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

typedef struct prob {
    int m, n, k;
    size_t lda, ldw, ldc;
    float *a, *bias, *c0;         /* c0: C before the call (for accumulate) */
    uint16_t *w;
    lx_gemm_kind kind;
} prob;

static void prob_make(prob *p, lx_gemm_kind kind, int m, int n, int k, int pad) {
    p->kind = kind;
    p->m = m, p->n = n, p->k = k;
    p->lda = (size_t)k + pad, p->ldw = (size_t)k + 2 * pad, p->ldc = (size_t)n + pad;
    p->a = malloc(sizeof(float) * (p->lda * m + 1));
    p->w = malloc(sizeof(uint16_t) * (p->ldw * n + 1));
    p->bias = malloc(sizeof(float) * (n + 1));
    p->c0 = malloc(sizeof(float) * (p->ldc * m + 1));
    for (size_t i = 0; i < p->lda * m; i++) p->a[i] = (float)(rnd() * 2.0);
    lx_dtype wd = kind == LX_GEMM_F16 ? LX_F16 : LX_BF16;
    for (size_t i = 0; i < p->ldw * n; i++) {
        float v = (float)(rnd() * 0.1);
        lx_convert_from_f32(&p->w[i], wd, &v, 1);
    }
    for (int i = 0; i < n; i++) p->bias[i] = (float)rnd();
    for (size_t i = 0; i < p->ldc * m; i++) p->c0[i] = (float)rnd();
}

static void prob_free(prob *p) {
    free(p->a), free(p->w), free(p->bias), free(p->c0);
}

static float wval(const prob *p, int j, int kk) {
    uint16_t h = p->w[(size_t)j * p->ldw + kk];
    return p->kind == LX_GEMM_F16 ? lx_f16_to_f32(h) : lx_bf16_to_f32(h);
}

static lx_pool pool3; /* 3 threads */

/* Run op with caps on a copy of c0 (m rows ldc apart; split into two ranges when split is
 * set, or with lx_gemm on one thread or on pool3), return the freshly allocated C. */
static float *run_op(const lx_cpu *caps, lx_gemm_op op, const float *c0, int split,
                     int nthreads) {
    float *c = malloc(sizeof(float) * (op.ldc * op.m + 1));
    memcpy(c, c0, sizeof(float) * op.ldc * op.m);
    op.c = c;
    lx_error err = {0};
    lx_gemm_scratch s[4];
    for (int t = 0; t < 4; t++) lx_gemm_scratch_init(&s[t]);
    if (split) {
        int h = op.n / 3;
        assert_int_equal(lx_gemm_range(caps, &op, h, op.n, &s[0], &err), 0);
        assert_int_equal(lx_gemm_range(caps, &op, 0, h, &s[1], &err), 0);
    } else {
        int rc = lx_gemm(caps, &op, nthreads > 1 ? &pool3 : NULL, s, &err);
        if (rc != 0) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, 0);
    }
    for (int t = 0; t < 4; t++) lx_gemm_scratch_free(&s[t]);
    return c;
}

/* p's product with caps (see run_op). */
static float *run(const lx_cpu *caps, const prob *p, int bias, int acc, int split,
                  int nthreads) {
    lx_gemm_op op = {.kind = p->kind, .m = p->m, .n = p->n, .k = p->k, .a = p->a,
                     .lda = p->lda, .w = p->w, .ldw = p->ldw, .bias = bias ? p->bias : NULL,
                     .ldc = p->ldc, .accumulate = acc};
    return run_op(caps, op, p->c0, split, nthreads);
}

/* Check c against the double reference; returns the largest error / tolerance seen. */
static double check_ref(const prob *p, const float *c, int bias, int acc) {
    double worst = 0, u = ldexp(1.0, -24);
    double rel = p->kind == LX_GEMM_BF16 ? ldexp(1.0, -8) : 0.0;
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            double ref = 0, s = 0;
            for (int kk = 0; kk < p->k; kk++) {
                double t = (double)p->a[(size_t)i * p->lda + kk] * wval(p, j, kk);
                ref += t, s += fabs(t);
            }
            double old = p->c0[(size_t)i * p->ldc + j];
            if (bias) ref += p->bias[j], s += fabs(p->bias[j]);
            if (acc) ref += old, s += fabs(old);
            double tol = (rel + (p->k + 4) * u) * s + 1e-30;
            double e = fabs(c[(size_t)i * p->ldc + j] - ref) / tol;
            if (!(e <= 1.0))
                fail_msg("kind %d m=%d n=%d k=%d bias=%d acc=%d: C[%d][%d] = %.9g, "
                         "reference %.9g, tolerance %.3g", (int)p->kind, p->m, p->n, p->k,
                         bias, acc, i, j, c[(size_t)i * p->ldc + j], ref, tol);
            if (e > worst) worst = e;
        }
    /* the padding between rows of C is never written */
    for (int i = 0; i < p->m; i++)
        for (size_t j = (size_t)p->n; j < p->ldc; j++)
            assert_true(c[(size_t)i * p->ldc + j] == p->c0[(size_t)i * p->ldc + j]);
    return worst;
}

/* |x - y| <= tol * S per element, S as above. */
static void check_close(const prob *p, const float *x, const float *y, int bias, int acc,
                        double tol, const char *what) {
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            double s = 0;
            for (int kk = 0; kk < p->k; kk++)
                s += fabs((double)p->a[(size_t)i * p->lda + kk] * wval(p, j, kk));
            if (bias) s += fabs(p->bias[j]);
            if (acc) s += fabs(p->c0[(size_t)i * p->ldc + j]);
            double d = fabs((double)x[(size_t)i * p->ldc + j] - y[(size_t)i * p->ldc + j]);
            if (!(d <= tol * s + 1e-30))
                fail_msg("%s: kind %d m=%d n=%d k=%d: C[%d][%d] %.9g vs %.9g (tolerance %.3g)",
                         what, (int)p->kind, p->m, p->n, p->k, i, j,
                         x[(size_t)i * p->ldc + j], y[(size_t)i * p->ldc + j], tol * s);
        }
}

/* cblas_sgemm on the widened weights (the definition of the exact mode) */
static float *sgemm_widened(const prob *p, int bias, int acc) {
    float *wf = malloc(sizeof(float) * ((size_t)p->n * p->k + 1));
    for (int j = 0; j < p->n; j++)
        for (int kk = 0; kk < p->k; kk++) wf[(size_t)j * p->k + kk] = wval(p, j, kk);
    float *c = malloc(sizeof(float) * (p->ldc * p->m + 1));
    memcpy(c, p->c0, sizeof(float) * p->ldc * p->m);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p->m, p->n, p->k, 1.0f, p->a,
                (int)p->lda, wf, p->k, acc ? 1.0f : 0.0f, c, (int)p->ldc);
    if (bias)
        for (int i = 0; i < p->m; i++)
            for (int j = 0; j < p->n; j++) c[(size_t)i * p->ldc + j] += p->bias[j];
    free(wf);
    return c;
}

static const int shapes[][4] = { /* m, n, k, row padding */
    {1, 1, 1, 0},   {1, 7, 33, 1},  {7, 33, 769, 3}, {33, 7, 1, 0},  {20, 769, 33, 0},
    {36, 70, 768, 0}, {5, 3, 31, 2}, {4, 4, 32, 0},  {65, 129, 100, 1}, {3, 9, 3072, 0},
    {700, 9, 769, 1}, /* more rows than one L2 block of A */
    {130, 33, 1, 0},  {129, 70, 64, 2}, /* bf16: the packed kernel, odd K, partial panels */
    {140, 45, 45, 0}, {128, 16, 34, 1}, /* and partial blocks of 16 pairs, half panels */
    {100, 20, 1540, 0}, /* AVX2, 16-bit, few rows: blocks of A rows and three pieces of K */
};

/* The library's own AVX-512 or AVX2 kernels (bit-reproducible across ranges and batches)
 * rather than cblas_sgemm on widened tiles (see path_of in lib/nn/gemm.c). */
static int own_kernels(const lx_cpu *cpu, lx_gemm_kind kind, int m) {
    if (cpu->isa >= LX_ISA_AVX512) return kind == LX_GEMM_BF16 || m < LX_GEMM_PACK_MIN_M;
    return cpu->isa >= LX_ISA_AVX2 && m < LX_GEMM_PACK_MIN_M;
}

/* Every shape x bias x accumulate on one set of caps. */
static void all_shapes(const lx_cpu *caps, lx_gemm_kind kind) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        prob p;
        prob_make(&p, kind, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        for (int bias = 0; bias < 2; bias++)
            for (int acc = 0; acc < 2; acc++) {
                float *c = run(caps, &p, bias, acc, 0, 1);
                check_ref(&p, c, bias, acc);
                if (kind != LX_GEMM_BF16) {
                    float *r = sgemm_widened(&p, bias, acc);
                    check_close(&p, c, r, bias, acc, 1e-5, "vs cblas_sgemm");
                    free(r);
                }
                /* ranges and threads: the same columns, the same sums */
                float *c2 = run(caps, &p, bias, acc, 1, 1);
                float *c3 = run(caps, &p, bias, acc, 0, 3);
                double tol =
                    own_kernels(caps, kind, p.m) ? 0 : 2 * (p.k + 4) * ldexp(1.0, -24);
                check_close(&p, c2, c, bias, acc, tol, "two ranges vs one call");
                check_close(&p, c3, c, bias, acc, tol, "3 threads vs 1");
                free(c), free(c2), free(c3);
            }
        prob_free(&p);
    }
}

static lx_cpu cpu_native, cpu_portable, cpu_nobf16, cpu_avx2;

static int have_avx512(void) {
    if (cpu_native.isa < LX_ISA_AVX512) fprintf(stderr, "(no AVX-512 here: not that path)\n");
    return cpu_native.isa >= LX_ISA_AVX512;
}

static int have_avx2(void) {
    if (cpu_avx2.isa < LX_ISA_AVX2) fprintf(stderr, "(no AVX2 here: not that path)\n");
    return cpu_avx2.isa >= LX_ISA_AVX2;
}

/* Every path, and whether this machine runs it (the native caps only with AVX-512:
 * without it they are the AVX2 or portable ones again). */
static const lx_cpu *const paths_all[] = {&cpu_portable, &cpu_avx2, &cpu_native,
                                                &cpu_nobf16};
#define NPATHS (sizeof paths_all / sizeof paths_all[0])
static int path_runs(size_t q) {
    return q == 0 || (q == 1 ? cpu_avx2.isa >= LX_ISA_AVX2 : cpu_native.isa >= LX_ISA_AVX512);
}

static void test_portable(void **state) {
    (void)state;
    assert_string_equal(lx_cpu_name(&cpu_portable), "portable");
    for (int kind = 0; kind < NKIND16; kind++)
        all_shapes(&cpu_portable, (lx_gemm_kind)kind);
}

static void test_avx512(void **state) {
    (void)state;
    if (!have_avx512()) skip();
    for (int kind = 0; kind < NKIND16; kind++)
        all_shapes(&cpu_native, (lx_gemm_kind)kind);
    all_shapes(&cpu_nobf16, LX_GEMM_BF16); /* AVX-512 without vdpbf16ps */
}

static void test_avx2(void **state) {
    (void)state;
    if (!have_avx2()) skip();
    assert_string_equal(lx_cpu_name(&cpu_avx2), "avx2");
    for (int kind = 0; kind < NKIND16; kind++)
        all_shapes(&cpu_avx2, (lx_gemm_kind)kind);
}

/* bf16 on each native path and on the portable path: A rounded the same way */
static void test_paths_agree(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        prob p;
        prob_make(&p, LX_GEMM_BF16, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        float *y = run(&cpu_portable, &p, 1, 1, 0, 1);
        double tol = 2 * (p.k + 4) * ldexp(1.0, -24);
        for (size_t q = 1; q < NPATHS; q++) {
            if (!path_runs(q)) continue;
            float *x = run(paths_all[q], &p, 1, 1, 0, 1);
            char what[64];
            snprintf(what, sizeof what, "%s%s vs portable", lx_cpu_name(paths_all[q]),
                     q == 3 ? " without vdpbf16ps" : "");
            check_close(&p, x, y, 1, 1, tol, what);
            free(x);
        }
        free(y);
        prob_free(&p);
    }
}

/* On the AVX-512 and AVX2 paths a row of C does not depend on which other rows are
 * computed with it, nor on the column range: batching a record with others never changes
 * its result (for bf16 on AVX-512, as long as the batches are on the same side of
 * LX_GEMM_PACK_MIN_M rows; from that many rows on, the other kinds, and every kind on
 * AVX2, go through cblas_sgemm). */
static void batch_rows(const lx_cpu *caps, lx_gemm_kind kind, int rows, int sub) {
    prob p;
    prob_make(&p, kind, rows, 50, 769, 0);
    float *all = run(caps, &p, 1, 0, 0, 3);
    for (int i = 0; i + sub <= p.m; i += 9) {
        prob q = p; /* rows i .. i + sub - 1 alone */
        q.m = sub;
        q.a = p.a + (size_t)i * p.lda;
        q.c0 = p.c0 + (size_t)i * p.ldc;
        float *one = run(caps, &q, 1, 0, 0, 1);
        assert_memory_equal(one, all + (size_t)i * p.ldc, sizeof(float) * p.ldc * sub);
        free(one);
    }
    free(all);
    prob_free(&p);
}

static void test_batch_invariant(void **state) {
    (void)state;
    for (size_t q = 1; q < 3; q++) {
        if (!path_runs(q)) continue;
        for (int kind = 0; kind < NKIND16; kind++) {
            batch_rows(paths_all[q], (lx_gemm_kind)kind, 37, 1);
            if (own_kernels(paths_all[q], (lx_gemm_kind)kind, LX_GEMM_PACK_MIN_M))
                batch_rows(paths_all[q], (lx_gemm_kind)kind, LX_GEMM_PACK_MIN_M + 37,
                           LX_GEMM_PACK_MIN_M);
        }
    }
}

/* Every one of the 65536 weight values widens exactly, on every path: 1 x W = W (zeros
 * of either sign, and any NaN for a NaN). */
static void test_widen_all(void **state) {
    (void)state;
    const lx_cpu *cs[3] = {&cpu_portable, &cpu_avx2, &cpu_native};
    uint16_t *w = malloc(65536 * sizeof *w);
    float *c = malloc(65536 * sizeof *c), one = 1.0f;
    for (int i = 0; i < 65536; i++) w[i] = (uint16_t)i;
    lx_gemm_scratch s;
    lx_gemm_scratch_init(&s);
    lx_error err = {0};
    for (int p = 0; p < 3; p++)
        for (int kind = 0; kind < NKIND16 && path_runs((size_t)p); kind++) {
            lx_gemm_op op = {.kind = (lx_gemm_kind)kind, .m = 1, .n = 65536, .k = 1, .a = &one,
                             .lda = 1, .w = w, .ldw = 1, .c = c, .ldc = 65536};
            assert_int_equal(lx_gemm(cs[p], &op, NULL, &s, &err), 0);
            for (int i = 0; i < 65536; i++) {
                float want = kind == LX_GEMM_F16 ? lx_f16_to_f32((uint16_t)i)
                                                 : lx_bf16_to_f32((uint16_t)i);
                if (isnan(want)) {
                    assert_true(isnan(c[i]));
                    continue;
                }
                if (kind == LX_GEMM_BF16 && p == 2 && cpu_native.bf16dp &&
                    fpclassify(want) == FP_SUBNORMAL)
                    continue; /* vdpbf16ps treats subnormal inputs as zero */
                if (want == 0.0f && c[i] == 0.0f) continue; /* a sum may start from +0 */
                if (memcmp(&c[i], &want, 4) != 0)
                    fail_msg("%s path, kind %d: weight 0x%04x gave %a, expected %a",
                             lx_cpu_name(cs[p]), kind, i, c[i], want);
            }
        }
    lx_gemm_scratch_free(&s);
    free(w), free(c);
}

/* The vector roundings of A are bit for bit lx_f32_to_bf16, specials included. */
static void test_round(void **state) {
    (void)state;
    uint32_t bits[] = {0x00000000, 0x80000000, 0x3f808000, 0x3f818000, 0x3f808001,
                       0x3f80ffff, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
                       0x7f800001, 0xff812345, 0x00000001, 0x007fffff, 0x80008000,
                       0x477fefff, 0x33800000};
    int n = (int)(sizeof bits / sizeof bits[0]);
    float src[17];
    uint16_t got[40];
    memcpy(src, bits, sizeof src);
    if (have_avx2()) { /* rounded and widened back, 8 lanes and the tail */
        float r[18];
        r[17] = 1234.5f;
        lx_k_round_f32_avx2(r, src, n);
        for (int i = 0; i < n; i++) {
            float want = lx_bf16_to_f32(lx_f32_to_bf16(src[i])); /* NaNs bit for bit too */
            assert_memory_equal(&r[i], &want, 4);
        }
        assert_true(r[17] == 1234.5f); /* nothing past n */
        for (int t = 0; t < 1000; t++) { /* and random bit patterns */
            uint32_t u[9];
            float x[9], y[9];
            for (int i = 0; i < 9; i++) /* via int32: a negative double cast to an
                                          * unsigned type is undefined */
                u[i] = (uint32_t)(int32_t)(rnd() * 2147483648.0) * 2u + (t & 1);
            memcpy(x, u, sizeof x);
            lx_k_round_f32_avx2(y, x, 9);
            for (int i = 0; i < 9; i++) {
                float want = lx_bf16_to_f32(lx_f32_to_bf16(x[i]));
                assert_memory_equal(&y[i], &want, 4);
            }
        }
    }
    if (have_avx512()) {
        memset(got, 0xff, sizeof got);
        lx_k_round_bf16_avx512(got, src, n, 32);
        for (int i = 0; i < n; i++) assert_int_equal(got[i], lx_f32_to_bf16(src[i]));
        for (int i = n; i < 32; i++) assert_int_equal(got[i], 0);
        assert_int_equal(got[32], 0xffff); /* nothing past the padding */
    }
}

/* A given already rounded (lx_gemm_op.ab, as GELU hands it to the next product) gives the
 * same bits as f32 A rounded by lx_gemm, on every path, threaded or not, over ranges. */
static void test_rounded_a(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        prob p;
        prob_make(&p, LX_GEMM_BF16, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        size_t ldab = ((size_t)p.k + 31) / 32 * 32 + 32 * (size_t)shapes[s][3];
        uint16_t *ab = malloc(sizeof(uint16_t) * ldab * p.m);
        for (int i = 0; i < p.m; i++)
            for (size_t kk = 0; kk < ldab; kk++)
                ab[(size_t)i * ldab + kk] =
                    kk < (size_t)p.k ? lx_f32_to_bf16(p.a[(size_t)i * p.lda + kk]) : 0;
        for (size_t q = 0; q < NPATHS; q++) {
            if (!path_runs(q)) continue;
            const lx_cpu *const *paths = paths_all;
            for (int nt = 1; nt <= 3; nt += 2) {
                float *want = run(paths[q], &p, 1, 1, 0, nt);
                float *got = malloc(sizeof(float) * (p.ldc * p.m + 1));
                memcpy(got, p.c0, sizeof(float) * p.ldc * p.m);
                lx_gemm_op op = {.kind = p.kind, .m = p.m, .n = p.n, .k = p.k, .w = p.w,
                                 .ldw = p.ldw, .bias = p.bias, .c = got, .ldc = p.ldc,
                                 .accumulate = 1, .ab = ab, .ldab = ldab};
                lx_error err = {0};
                lx_gemm_scratch sc[4];
                for (int t = 0; t < 4; t++) lx_gemm_scratch_init(&sc[t]);
                assert_int_equal(lx_gemm(paths[q], &op, nt > 1 ? &pool3 : NULL, sc, &err), 0);
                assert_memory_equal(got, want, sizeof(float) * p.ldc * p.m);
                if (nt == 1) { /* and as the two ranges run() splits into */
                    int h = p.n / 3;
                    memcpy(got, p.c0, sizeof(float) * p.ldc * p.m);
                    assert_int_equal(lx_gemm_range(paths[q], &op, h, p.n, &sc[0], &err), 0);
                    assert_int_equal(lx_gemm_range(paths[q], &op, 0, h, &sc[1], &err), 0);
                    float *split = run(paths[q], &p, 1, 1, 1, 1);
                    assert_memory_equal(got, split, sizeof(float) * p.ldc * p.m);
                    free(split);
                }
                for (int t = 0; t < 4; t++) lx_gemm_scratch_free(&sc[t]);
                free(want), free(got);
            }
        }
        free(ab);
        prob_free(&p);
    }
}

/* The GELU output in bf16 (lx_gemm_op.cb) is, bit for bit, lx_k_gelu_bf16 of the f32
 * product, on every path and kind, threaded or not; nothing is written past column n. */
static void test_gelu_out(void **state) {
    (void)state;
    const lx_cpu *const *paths = paths_all;
    for (int kind = 0; kind < NKIND16; kind++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            prob p;
            prob_make(&p, (lx_gemm_kind)kind, shapes[s][0], shapes[s][1], shapes[s][2],
                      shapes[s][3]);
            size_t ldcb = (size_t)p.n + 5;
            uint16_t *cb = malloc(sizeof(uint16_t) * ldcb * p.m), *want = malloc(sizeof(uint16_t) * p.n);
            float *c = malloc(sizeof(float) * p.ldc * p.m);
            for (size_t q = 0; q < NPATHS; q++) {
                if (!path_runs(q)) continue;
                for (int nt = 1; nt <= 3; nt += 2) {
                    float *ref = run(paths[q], &p, 1, 0, 0, nt);
                    memset(cb, 0xab, sizeof(uint16_t) * ldcb * p.m);
                    lx_gemm_op op = {p.kind, p.m, p.n, p.k, p.a, p.lda, p.w, p.ldw, p.bias, c,
                                     p.ldc, 0, NULL, 0, cb, ldcb, NULL, NULL};
                    lx_error err = {0};
                    lx_gemm_scratch sc[4];
                    for (int t = 0; t < 4; t++) lx_gemm_scratch_init(&sc[t]);
                    assert_int_equal(lx_gemm(paths[q], &op, nt > 1 ? &pool3 : NULL, sc, &err), 0);
                    for (int i = 0; i < p.m; i++) {
                        lx_k_gelu_bf16(want, ref + (size_t)i * p.ldc, NULL, (size_t)p.n,
                                       paths[q]->isa);
                        assert_memory_equal(cb + (size_t)i * ldcb, want, sizeof(uint16_t) * p.n);
                        for (size_t j = (size_t)p.n; j < ldcb; j++)
                            assert_int_equal(cb[(size_t)i * ldcb + j], 0xabab);
                    }
                    for (int t = 0; t < 4; t++) lx_gemm_scratch_free(&sc[t]);
                    free(ref);
                }
            }
            free(cb), free(want), free(c);
            prob_free(&p);
        }
}

/* The bf16 weights of p widened to f32, same layout: f32 weights for which check_ref's
 * exact bound applies. */
static float *widened_w(const prob *p) {
    float *wf = malloc(sizeof(float) * (p->ldw * p->n + 1));
    for (int j = 0; j < p->n; j++)
        for (size_t kk = 0; kk < p->ldw; kk++)
            wf[(size_t)j * p->ldw + kk] = lx_bf16_to_f32(p->w[(size_t)j * p->ldw + kk]);
    return wf;
}

/* The f32 network's kernel for many rows (W packed, A broadcast): f32 weights (the bf16
 * values widened, so that check_ref's exact bound applies), every shape plus ones with
 * several K blocks, column chunks and row blocks; and two column ranges give the same
 * bits as one call. */
static void test_f32_packed(void **state) {
    (void)state;
    if (!have_avx512()) skip();
    static const int more[][4] = {{200, 150, 1600, 1}, {9, 300, 770, 0}, {17, 48, 5, 2}};
    float *pack = lx_aligned_alloc(lx_gemm_f32pack_bytes());
    assert_non_null(pack);
    size_t ns = sizeof shapes / sizeof shapes[0];
    for (size_t s = 0; s < ns + sizeof more / sizeof more[0]; s++) {
        const int *sh = s < ns ? shapes[s] : more[s - ns];
        prob p;
        prob_make(&p, LX_GEMM_BF16_EXACT, sh[0], sh[1], sh[2], sh[3]);
        float *wf = widened_w(&p);
        for (int bias = 0; bias < 2; bias++)
            for (int acc = 0; acc < 2; acc++) {
                float *c = malloc(sizeof(float) * (p.ldc * p.m + 1));
                float *c2 = malloc(sizeof(float) * (p.ldc * p.m + 1));
                memcpy(c, p.c0, sizeof(float) * p.ldc * p.m);
                memcpy(c2, p.c0, sizeof(float) * p.ldc * p.m);
                const float *b = bias ? p.bias : NULL;
                lx_gemm_f32packed_avx512(p.m, p.n, p.k, p.a, p.lda, wf, p.ldw, b, c, p.ldc,
                                         acc, 0, pack);
                check_ref(&p, c, bias, acc);
                int h = p.n / 3;
                lx_gemm_f32packed_avx512(p.m, p.n - h, p.k, p.a, p.lda, wf + (size_t)h * p.ldw,
                                         p.ldw, b ? b + h : NULL, c2 + h, p.ldc, acc, 0, pack);
                lx_gemm_f32packed_avx512(p.m, h, p.k, p.a, p.lda, wf, p.ldw, b, c2, p.ldc, acc,
                                         0, pack);
                assert_memory_equal(c, c2, sizeof(float) * p.ldc * p.m);
                /* the GELU epilogue: lx_k_gelu of the same sums, bit for bit */
                memcpy(c2, p.c0, sizeof(float) * p.ldc * p.m);
                lx_gemm_f32packed_avx512(p.m, p.n, p.k, p.a, p.lda, wf, p.ldw, b, c2, p.ldc,
                                         acc, 1, pack);
                for (int i = 0; i < p.m; i++)
                    lx_k_gelu(c + (size_t)i * p.ldc, NULL, (size_t)p.n, LX_ISA_AVX512);
                assert_memory_equal(c, c2, sizeof(float) * p.ldc * p.m);
                free(c), free(c2);
            }
        free(wf);
        prob_free(&p);
    }
    free(pack);
}

/* The f32 network's AVX2 kernel for few rows: f32 weights (the bf16 values widened, so
 * that check_ref's exact bound applies) on every shape plus K in several pieces, tails
 * of K under 8 and row blocks; two column ranges give the same bits as one call, and a
 * row's result does not depend on the rows computed with it. */
static void test_f32_avx2(void **state) {
    (void)state;
    if (!have_avx2()) skip();
    static const int more[][4] = {{40, 150, 1600, 1}, {9, 300, 770, 0}, {17, 48, 5, 2},
                                  {64, 10, 3072, 0}, {36, 4, 4, 0}};
    size_t ns = sizeof shapes / sizeof shapes[0];
    for (size_t s = 0; s < ns + sizeof more / sizeof more[0]; s++) {
        const int *sh = s < ns ? shapes[s] : more[s - ns];
        prob p;
        prob_make(&p, LX_GEMM_BF16_EXACT, sh[0], sh[1], sh[2], sh[3]);
        float *wf = widened_w(&p);
        for (int bias = 0; bias < 2; bias++)
            for (int acc = 0; acc < 2; acc++) {
                size_t bytes = sizeof(float) * p.ldc * p.m;
                float *c = malloc(bytes + 4), *c2 = malloc(bytes + 4);
                memcpy(c, p.c0, bytes);
                memcpy(c2, p.c0, bytes);
                const float *b = bias ? p.bias : NULL;
                lx_gemm_f32_avx2(p.m, p.n, p.k, p.a, p.lda, wf, p.ldw, b, c, p.ldc, acc);
                check_ref(&p, c, bias, acc);
                int h = p.n / 3;
                lx_gemm_f32_avx2(p.m, p.n - h, p.k, p.a, p.lda, wf + (size_t)h * p.ldw, p.ldw,
                                 b ? b + h : NULL, c2 + h, p.ldc, acc);
                lx_gemm_f32_avx2(p.m, h, p.k, p.a, p.lda, wf, p.ldw, b, c2, p.ldc, acc);
                assert_memory_equal(c, c2, bytes);
                for (int i = 0; i < p.m; i += 5) { /* row i alone */
                    memcpy(c2, p.c0 + (size_t)i * p.ldc, sizeof(float) * p.ldc);
                    lx_gemm_f32_avx2(1, p.n, p.k, p.a + (size_t)i * p.lda, p.lda, wf, p.ldw, b,
                                     c2, p.ldc, acc);
                    assert_memory_equal(c2, c + (size_t)i * p.ldc, sizeof(float) * p.n);
                }
                free(c), free(c2);
            }
        free(wf);
        prob_free(&p);
    }
}

/* ---- int8 weights ----------------------------------------------------------------- */

/* An int8 product: f32 A, f32 W (wf) and its int8 form (w8, ws: lx_quantize_row_i8;
 * wsum: its row sums, added up here). */
typedef struct qprob {
    int m, n, k;
    size_t lda, ldw, ldc;
    float *a, *wf, *ws, *bias, *c0;
    int8_t *w8;
    int32_t *wsum;
} qprob;

/* Rows of A of different kinds (row i % 9): ordinary values; a zero row; a row whose
 * range is subnormal (quantized as zeros); one outlier over small values; all negative
 * (zero point 255); ties (-128 and 127, so a step of 1 and zero point 128, then values
 * x.5); a NaN; an infinity; large values (1e30). */
static void qprob_make(qprob *p, int m, int n, int k, int pad) {
    p->m = m, p->n = n, p->k = k;
    p->lda = (size_t)k + pad, p->ldw = (size_t)k + 3 * pad, p->ldc = (size_t)n + pad;
    p->a = malloc(sizeof(float) * (p->lda * m + 1));
    p->wf = malloc(sizeof(float) * (p->ldw * n + 1));
    p->w8 = malloc(p->ldw * n + 1);
    p->wsum = malloc(sizeof(int32_t) * (n + 1));
    p->ws = malloc(sizeof(float) * (n + 1));
    p->bias = malloc(sizeof(float) * (n + 1));
    p->c0 = malloc(sizeof(float) * (p->ldc * m + 1));
    for (int i = 0; i < m; i++) {
        float *r = p->a + (size_t)i * p->lda;
        for (size_t kk = 0; kk < p->lda; kk++) {
            double u = rnd();
            switch (i % 9) {
            case 1: r[kk] = 0.0f; break;
            case 2: r[kk] = (float)(u * 1e-39); break;
            case 3: r[kk] = kk == (size_t)k / 2 ? 40.0f : (float)(u * 0.1); break;
            case 4: r[kk] = (float)(-fabs(u) * 3.0); break;
            case 5:
                r[kk] = kk == 0 ? 127.0f : kk == 1 ? -128.0f : (float)((int)(u * 100.0) + 0.5);
                break;
            case 6: r[kk] = kk == (size_t)(k - 1) ? NAN : (float)u; break;
            case 7: r[kk] = kk == 0 ? -INFINITY : (float)u; break;
            case 8: r[kk] = (float)(u * 1e30); break;
            default: r[kk] = (float)(u * 2.0);
            }
        }
    }
    for (int j = 0; j < n; j++) {
        float *r = p->wf + (size_t)j * p->ldw;
        for (size_t kk = 0; kk < p->ldw; kk++) r[kk] = j % 7 == 3 ? 0.0f : (float)(rnd() * 0.1);
        p->ws[j] = lx_quantize_row_i8(r, p->ldw, p->w8 + (size_t)j * p->ldw);
        assert_true(p->ws[j] >= 0.0f);
        p->wsum[j] = 0;
        for (int kk = 0; kk < k; kk++) p->wsum[j] += p->w8[(size_t)j * p->ldw + kk];
    }
    for (int j = 0; j < n; j++) p->bias[j] = (float)rnd();
    for (size_t i = 0; i < p->ldc * m; i++) p->c0[i] = (float)rnd();
}

static void qprob_free(qprob *p) {
    free(p->a), free(p->wf), free(p->w8), free(p->wsum), free(p->ws), free(p->bias), free(p->c0);
}

static int qrow_bad(const qprob *p, int i) { /* a NaN or an infinity */
    for (int kk = 0; kk < p->k; kk++)
        if (!isfinite(p->a[(size_t)i * p->lda + kk])) return 1;
    return 0;
}

/* The product with caps (split: two ranges; else lx_gemm on one thread or on pool3). */
static float *qrun(const lx_cpu *caps, const qprob *p, int bias, int acc, int split, int nt) {
    lx_gemm_op op = {.kind = LX_GEMM_I8, .m = p->m, .n = p->n, .k = p->k, .a = p->a,
                     .lda = p->lda, .w8 = p->w8, .wscale = p->ws, .wsum = p->wsum, .ldw = p->ldw,
                     .bias = bias ? p->bias : NULL, .ldc = p->ldc, .accumulate = acc};
    return run_op(caps, op, p->c0, split, nt);
}

/* Row i of A quantized as gemm.h defines it, computed here from scratch: the step sa,
 * the factor r before rounding (0: zeros), the zero point. */
static void qdef(const qprob *p, int i, float *sa, float *r, int32_t *zero) {
    const float *x = p->a + (size_t)i * p->lda;
    double lo = 0, hi = 0;
    for (int kk = 0; kk < p->k; kk++) lo = x[kk] < lo ? x[kk] : lo, hi = x[kk] > hi ? x[kk] : hi;
    double range = hi - lo, rd = range > 0 ? 255.0 / range : INFINITY;
    *zero = 0, *r = 0.0f, *sa = 0.0f;
    if (qrow_bad(p, i)) {
        *sa = NAN;
    } else if (rd <= 3.4028235e38) { /* else zeros, or 255 / range overflows */
        *r = (float)rd;
        *sa = (float)(range / 255.0);
        *zero = (int32_t)nearbyint(-lo * (double)*r);
        if (*zero > 255) *zero = 255;
    }
}

/* Element (i, j) of C as gemm.h defines it: A's row quantized (qdef), the integer sum in
 * 64 bits, the f32 operations in gemm.h's order. */
static float qref(const qprob *p, int i, int j, int bias, int acc, float *sa_out) {
    const float *x = p->a + (size_t)i * p->lda;
    float sa, r;
    int32_t zero;
    qdef(p, i, &sa, &r, &zero);
    assert_true(zero >= 0 && zero <= 255);
    int64_t sum = 0;
    for (int kk = 0; kk < p->k; kk++) {
        long q = r != 0.0f ? lrintf(x[kk] * r) + zero : 0;
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        sum += (q - zero) * p->w8[(size_t)j * p->ldw + kk];
    }
    assert_true(sum >= INT32_MIN && sum <= INT32_MAX);
    *sa_out = sa;
    float v = (float)(int32_t)sum * (sa * p->ws[j]);
    if (bias) v = v + p->bias[j];
    return acc ? p->c0[(size_t)i * p->ldc + j] + v : v;
}

/* The portable path against the definition (bit for bit) and against the double product
 * of the unquantized A and W (within the rounding bound); rows with a NaN or an infinity
 * give NaN, and the padding of C is never written. */
static void qcheck_portable(const qprob *p, const float *c, int bias, int acc) {
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            float sa, want = qref(p, i, j, bias, acc, &sa);
            float got = c[(size_t)i * p->ldc + j];
            if (memcmp(&got, &want, 4) != 0)
                fail_msg("int8 m=%d n=%d k=%d: C[%d][%d] = %a, the definition gives %a", p->m,
                         p->n, p->k, i, j, got, want);
            if (qrow_bad(p, i)) {
                assert_true(isnan(got));
                continue;
            }
            double ref = 0, tol = 0, size = 0, ws = p->ws[j];
            for (int kk = 0; kk < p->k; kk++) {
                double a = p->a[(size_t)i * p->lda + kk], w = p->wf[(size_t)j * p->ldw + kk];
                ref += a * w;
                size += fabs(a * w);
                tol += sa / 2 * fabs(w) + fabs(a) * ws / 2 + sa * ws / 4;
            }
            if (bias) ref += p->bias[j], size += fabs(p->bias[j]);
            if (acc) ref += p->c0[(size_t)i * p->ldc + j], size += fabs(p->c0[(size_t)i * p->ldc + j]);
            tol = tol * (1 + 1e-5) + 1e-6 * size + 1e-30;
            if (!(fabs(got - ref) <= tol))
                fail_msg("int8 m=%d n=%d k=%d: C[%d][%d] = %.9g, f64 product %.9g, bound %.3g",
                         p->m, p->n, p->k, i, j, got, ref, tol);
        }
    for (int i = 0; i < p->m; i++)
        for (size_t j = (size_t)p->n; j < p->ldc; j++)
            assert_true(c[(size_t)i * p->ldc + j] == p->c0[(size_t)i * p->ldc + j]);
}

static const int qshapes[][4] = { /* m, n, k, row padding */
    {1, 1, 1, 0},    {9, 7, 33, 1},   {7, 33, 769, 3},  {18, 13, 48, 0},  {20, 769, 64, 0},
    {36, 70, 768, 0}, {5, 3, 31, 2},  {4, 4, 128, 0},   {27, 10, 80, 1},  {3, 9, 3072, 0},
    {700, 9, 129, 1}, /* several blocks of A rows */
    {130, 45, 17, 0}, /* A quantized by the pool's threads */
    {40, 1100, 100, 0}, /* several panels of W */
    {300, 40, 3072, 0}, {150, 600, 1000, 1}, /* several blocks of A and panels of W */
};

/* The portable path against the definition and the double product (qcheck_portable);
 * cap (when not NULL) against the portable path bit for bit, in one call, in two ranges
 * and over 3 threads; what names it in messages. */
static void i8_paths(const lx_cpu *cap, const char *what) {
    for (size_t s = 0; s < sizeof qshapes / sizeof qshapes[0]; s++) {
        qprob p;
        qprob_make(&p, qshapes[s][0], qshapes[s][1], qshapes[s][2], qshapes[s][3]);
        for (int bias = 0; bias < 2; bias++)
            for (int acc = 0; acc < 2; acc++) {
                float *want = qrun(&cpu_portable, &p, bias, acc, 0, 1);
                size_t bytes = sizeof(float) * p.ldc * p.m;
                if (!cap) qcheck_portable(&p, want, bias, acc);
                for (int how = 0; how < 3; how++) { /* one call, two ranges, 3 threads */
                    float *got = qrun(cap ? cap : &cpu_portable, &p, bias, acc, how == 1,
                                      how == 2 ? 3 : 1);
                    if (memcmp(got, want, bytes) != 0)
                        for (size_t e = 0; e < p.ldc * p.m; e++)
                            if (memcmp(&got[e], &want[e], 4) != 0)
                                fail_msg("int8 %s (%s) m=%d n=%d k=%d: C[%zu][%zu] %a, "
                                         "portable %a", what,
                                         how == 0 ? "one call" : how == 1 ? "two ranges"
                                                                         : "3 threads",
                                         p.m, p.n, p.k, e / p.ldc, e % p.ldc, got[e], want[e]);
                    free(got);
                }
                free(want);
            }
        qprob_free(&p);
    }
}

/* int8 products, one test per kernel: the portable one against the definition, each
 * vector one against it bit for bit (gemm.h: the sums are exact int32 and the epilogue
 * the same f32 operations, so the three kernels agree to the bit). */
static void test_i8_portable(void **state) {
    (void)state;
    i8_paths(NULL, "portable");
}

static void test_i8_avx2(void **state) {
    (void)state;
    if (!have_avx2()) skip();
    i8_paths(&cpu_avx2, "avx2");
}

/* the AVX2 kernel from the AVX-512 level, as on a CPU without AVX512_VNNI */
static void test_i8_avx512_novnni(void **state) {
    (void)state;
    if (cpu_native.isa < LX_ISA_AVX512) skip();
    lx_cpu novnni = cpu_native;
    novnni.vnni = 0;
    i8_paths(&novnni, "avx512 without VNNI");
}

static void test_i8_vnni(void **state) {
    (void)state;
    if (cpu_native.isa < LX_ISA_AVX512 || !cpu_native.vnni) skip();
    i8_paths(&cpu_native, "avx512 VNNI");
}

/* The quantization of A alone: every level gives the portable bits (values, scales, zero
 * points, the zero padding to the row stride), including the special rows of qprob_make,
 * and the portable ones are the definition's (qdef). */
static void test_i8_rows(void **state) {
    (void)state;
    static const int ks[] = {1, 7, 8, 15, 16, 31, 33, 64, 100, 768, 3073};
    const lx_isa isas[] = {LX_ISA_AVX2, LX_ISA_AVX512};
    const int have[] = {cpu_avx2.isa >= LX_ISA_AVX2, cpu_native.isa >= LX_ISA_AVX512};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        qprob p;
        qprob_make(&p, 18, 1, ks[t], 2);
        size_t bytes = lx_qrows_bytes(p.m, p.k);
        void *b0 = lx_aligned_alloc(bytes), *b1 = lx_aligned_alloc(bytes);
        lx_qrows q0, q1;
        lx_qrows_at(&q0, b0, p.m, p.k);
        lx_qrows_at(&q1, b1, p.m, p.k);
        assert_int_equal(q0.ld % 64, 0);
        assert_true(q0.ld >= (size_t)p.k);
        memset(b0, 0x5a, bytes);
        lx_qrows_fill(LX_ISA_PORTABLE, p.a, p.lda, p.k, &q0, 0, p.m);
        for (int i = 0; i < p.m; i++) {
            float sa, r;
            int32_t zero;
            qdef(&p, i, &sa, &r, &zero);
            assert_true(memcmp(&q0.scale[i], &sa, 4) == 0 && q0.zero[i] == zero);
            for (size_t kk = 0; kk < q0.ld; kk++) {
                int v = q0.q[(size_t)i * q0.ld + kk];
                long want = 0;
                if (kk < (size_t)p.k && r != 0.0f) {
                    want = lrintf(p.a[(size_t)i * p.lda + kk] * r) + zero;
                    want = want < 0 ? 0 : want > 255 ? 255 : want;
                }
                assert_int_equal(v, want); /* the padding and rows of zeros: 0 */
            }
            if (i % 9 == 1 || i % 9 == 2) assert_true(q0.scale[i] == 0.0f); /* zeros */
            if (i % 9 == 4 && p.k > 1) assert_int_equal(q0.zero[i], 255);   /* all negative */
            if (i % 9 == 5 && p.k > 2) { /* ties to even: 2.5 -> 2, 3.5 -> 4, -0.5 -> 0 */
                assert_true(q0.scale[i] == 1.0f);
                assert_int_equal(q0.zero[i], 128);
                for (int kk = 2; kk < p.k; kk++) {
                    float x = p.a[(size_t)i * p.lda + kk];
                    assert_true(q0.q[(size_t)i * q0.ld + kk] == (int)rintf(x) + 128);
                }
            }
            if (qrow_bad(&p, i)) assert_true(isnan(q0.scale[i]));
        }
        for (size_t l = 0; l < 2; l++) {
            if (!have[l]) continue;
            memset(b1, 0xa5, bytes);
            lx_qrows_fill(isas[l], p.a, p.lda, p.k, &q1, 0, 7); /* two calls: any split */
            lx_qrows_fill(isas[l], p.a, p.lda, p.k, &q1, 7, p.m);
            assert_memory_equal(q1.q, q0.q, (size_t)p.m * q0.ld);
            assert_memory_equal(q1.scale, q0.scale, sizeof(float) * p.m);
            assert_memory_equal(q1.zero, q0.zero, sizeof(int32_t) * p.m);
        }
        free(b0), free(b1);
        qprob_free(&p);
    }
}

/* W's row sums (lx_i8_row_sums): every level the plain sum, for row lengths around the
 * vector widths, rows strided, values to both ends of the int8 range. */
static void test_i8_row_sums(void **state) {
    (void)state;
    static const int ks[] = {1, 31, 32, 33, 63, 64, 65, 768, 3073};
    const lx_isa isas[] = {LX_ISA_PORTABLE, LX_ISA_AVX2, LX_ISA_AVX512};
    const int have[] = {1, cpu_avx2.isa >= LX_ISA_AVX2, cpu_native.isa >= LX_ISA_AVX512};
    enum { N = 5 };
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t];
        size_t ldw = (size_t)k + 7;
        int8_t *w = malloc(ldw * N);
        for (size_t e = 0; e < ldw * N; e++)
            w[e] = (int8_t)(e % 3 == 0 ? 127 : e % 5 == 0 ? -128 : (int)(rnd() * 127));
        int32_t want[N], got[N];
        for (int j = 0; j < N; j++) {
            want[j] = 0;
            for (int kk = 0; kk < k; kk++) want[j] += w[(size_t)j * ldw + kk];
        }
        for (size_t l = 0; l < 3; l++) {
            if (!have[l]) continue;
            memset(got, 0x5a, sizeof got);
            lx_i8_row_sums(isas[l], w, N, k, ldw, got);
            assert_memory_equal(got, want, sizeof want);
        }
        free(w);
    }
}

/* The weights' quantization (the file's): scale max|x| / 127, |q| <= 127, within half a
 * step, ties to even, zeros, and a refusal for values that are not finite. */
static void test_i8_weights(void **state) {
    (void)state;
    float x[5] = {0.5f, -1.27f, 0.0f, 0.005f, 1.0f};
    int8_t q[5];
    float s = lx_quantize_row_i8(x, 5, q);
    assert_true(s == 1.27f / 127.0f);
    assert_int_equal(q[1], -127);
    assert_int_equal(q[2], 0);
    for (int i = 0; i < 5; i++) assert_true(fabs(x[i] - (double)q[i] * s) <= s / 2 * (1 + 1e-9));
    float t[3] = {127.0f, 2.5f, -3.5f}; /* s = 1: ties to even */
    assert_true(lx_quantize_row_i8(t, 3, q) == 1.0f);
    assert_int_equal(q[1], 2);
    assert_int_equal(q[2], -4);
    float z[2] = {0.0f, -0.0f};
    assert_true(lx_quantize_row_i8(z, 2, q) == 0.0f);
    assert_int_equal(q[0], 0);
    assert_int_equal(q[1], 0);
    /* rows so small that their scale is subnormal (imprecise) or 0: still |q| <= 127, the
     * largest magnitude at 127 and every value within half a step of the exact scale */
    const float tiny[] = {1.4e-45f, 3e-45f, 2.5e-43f, 1e-40f, 1e-38f, 1.4e-36f};
    for (size_t r = 0; r < sizeof tiny / sizeof *tiny; r++) {
        float y[4] = {tiny[r], -tiny[r] * 0.5f, tiny[r] * 0.3f, 0.0f};
        s = lx_quantize_row_i8(y, 4, q);
        assert_true(s == tiny[r] / 127.0f);
        assert_int_equal(q[0], 127);
        double step = (double)tiny[r] / 127.0;
        for (int i = 0; i < 4; i++) {
            assert_true(q[i] >= -127 && q[i] <= 127);
            assert_true(fabs(y[i] - q[i] * step) <= step / 2 * (1 + 1e-9));
        }
    }
    float bad[2] = {1.0f, INFINITY};
    assert_true(lx_quantize_row_i8(bad, 2, q) < 0);
    bad[1] = NAN;
    assert_true(lx_quantize_row_i8(bad, 2, q) < 0);
}

static void test_errors(void **state) {
    (void)state;
    lx_error err = {0};
    lx_gemm_scratch s;
    lx_gemm_scratch_init(&s);
    float a[12] = {0}, c[12] = {0};
    uint16_t w[12] = {0};
    lx_gemm_op ok = {.kind = LX_GEMM_BF16, .m = 2, .n = 3, .k = 4, .a = a, .lda = 4, .w = w,
                     .ldw = 4, .c = c, .ldc = 3};
    assert_int_equal(lx_gemm_range(&cpu_portable, &ok, 0, 3, &s, &err), 0);
    lx_gemm_op op = ok;
    op.kind = (lx_gemm_kind)7;
    assert_int_equal(lx_gemm_range(&cpu_native, &op, 0, 3, &s, &err), -1);
    assert_non_null(strstr(err.msg, "got weight kind 7"));
    op = ok, op.k = -1;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "k=-1"));
    op = ok, op.lda = 3;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "A is [2, 4] with row stride 3"));
    op = ok, op.w = NULL;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "W is [3, 4]"));
    op = ok, op.ldc = 2;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "C is [2, 3] with row stride 2"));
    uint16_t ab[64] = {0};
    op = ok, op.ab = ab, op.ldab = 32, op.kind = LX_GEMM_F16;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "A given rounded to bf16 for weight kind 2"));
    op = ok, op.a = NULL, op.ab = ab, op.ldab = 4;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "bf16 A has row stride 4, expected a multiple of 32"));
    op.ldab = 32;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), 0);
    op = ok, op.cb = ab, op.ldcb = 3, op.accumulate = 1;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "GELU output in bf16 with accumulation"));
    op.accumulate = 0, op.ldcb = 2;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "a shorter row stride, expected no accumulation"));
    assert_int_equal(lx_gemm_range(&cpu_native, &ok, 2, 4, &s, &err), -1);
    assert_non_null(strstr(err.msg, "got column range [2, 4), expected within [0, 3]"));
    lx_pool bad;
    assert_int_equal(lx_pool_init(&bad, 0, &err), -1);
    assert_non_null(strstr(err.msg, "got 0 threads"));
    /* k = 0: C = bias (or C += bias); m = 0 or n = 0: nothing, even with NULL matrices */
    float bias[3] = {1, 2, 3};
    op = ok, op.k = 0, op.bias = bias;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), 0);
    assert_true(c[0] == 1 && c[4] == 2 && c[5] == 3);
    lx_gemm_op empty = {.kind = LX_GEMM_F16, .k = 5, .accumulate = 1};
    assert_int_equal(lx_gemm(&cpu_native, &empty, &pool3, &s, &err), 0);
    /* int8: its weights, their scales and sums, and K within the int32 sums' bound */
    int8_t w8[12] = {0};
    float ws[3] = {1, 1, 1};
    op = ok, op.kind = LX_GEMM_I8;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "W is [3, 4] with row stride 4 and NULL"));
    op.w8 = w8;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "int8 W without its row scales"));
    op.wscale = ws;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "int8 W without its row sums"));
    int32_t wsum[3] = {0};
    op.wsum = wsum;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), 0);
    assert_true(c[0] == 0.0f && c[5] == 0.0f); /* A is zeros */
    op.k = LX_GEMM_I8_MAX_K + 1, op.lda = op.ldw = (size_t)op.k;
    assert_int_equal(lx_gemm(&cpu_native, &op, NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "int8 W with k=65537, expected at most 65536"));
    lx_gemm_scratch_free(&s);
}

/* The pool: every share runs once per run, runs back to back (workers spinning) and
 * after the workers have gone to sleep. */
typedef struct counts {
    atomic_int hits[LX_POOL_MAX];
    atomic_int bad;
} counts;

static void count_share(void *arg, int t, int n) {
    counts *c = arg;
    if (n != 3 || t < 0 || t >= n) atomic_fetch_add(&c->bad, 1);
    else atomic_fetch_add(&c->hits[t], 1);
}

static void test_pool(void **state) {
    (void)state;
    counts c;
    memset(&c, 0, sizeof c);
    assert_int_equal(lx_pool_size(&pool3), 3);
    assert_int_equal(lx_pool_size(NULL), 1);
    for (int r = 0; r < 20000; r++) lx_pool_run(&pool3, count_share, &c);
    for (int r = 0; r < 5; r++) {
        usleep(2000); /* longer than the spin: the workers sleep on the condition */
        lx_pool_run(&pool3, count_share, &c);
    }
    assert_int_equal(atomic_load(&c.bad), 0);
    for (int t = 0; t < 3; t++) assert_int_equal(atomic_load(&c.hits[t]), 20005);
    lx_pool one;
    lx_error err = {0};
    assert_int_equal(lx_pool_init(&one, 1, &err), 0);
    assert_int_equal(lx_pool_size(&one), 1);
    lx_pool_free(&one);
}

int main(void) {
    lx_error err = {0};
    if (lx_pool_init(&pool3, 3, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    lx_cpu_detect(&cpu_native, LX_ISA_BEST);
    lx_cpu_detect(&cpu_portable, LX_ISA_PORTABLE);
    cpu_nobf16 = cpu_native;
    cpu_nobf16.bf16dp = 0;
    lx_cpu_detect(&cpu_avx2, LX_ISA_AVX2);
    fprintf(stderr, "native path: %s%s\n", lx_cpu_name(&cpu_native),
            cpu_native.vnni ? ", AVX512_VNNI" : "");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_batch_invariant),
        cmocka_unit_test(test_widen_all),
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_rounded_a),
        cmocka_unit_test(test_gelu_out),
        cmocka_unit_test(test_f32_packed),
        cmocka_unit_test(test_f32_avx2),
        cmocka_unit_test(test_i8_portable),
        cmocka_unit_test(test_i8_avx2),
        cmocka_unit_test(test_i8_avx512_novnni),
        cmocka_unit_test(test_i8_vnni),
        cmocka_unit_test(test_i8_rows),
        cmocka_unit_test(test_i8_row_sums),
        cmocka_unit_test(test_i8_weights),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pool),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    lx_pool_free(&pool3);
    return rc;
}
