/* Unit tests of lib/kernels.c and lib/simd/kernels_avx512.c that the network tests cannot
 * pin down on their own: one head of attention (lx_k_attention) on odd shapes — head
 * sizes that are not a multiple of 16, more than 64, query counts that are not a multiple
 * of 4, masked keys — against a double-precision reference, on both paths; and GELU
 * written in bf16 (lx_k_gelu_bf16) against GELU then rounding.
 *
 * Tolerances, per element: probabilities within 2e-6 absolute (exp within 2e-7 relative,
 * a sum of at most 70 terms in f32); ctx within 1e-5 (sum_j p_j |v_j|) (the products are
 * rounded to f32 once each and summed in f32).  A masked key (mask -3.4e38) gets
 * probability exactly 0, as in the reference. */
#include <math.h>
#include "testutil.h"
#include "kernels.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

/* q, k, v: rows of dh values ld apart (as the fused Q/K/V buffer lays them out) */
static void check_head(int lq, int lk, int dh, int masked, int isa) {
    size_t ld = (size_t)3 * dh + 5, ldc = (size_t)dh + 3;
    int rows = lq > lk ? lq : lk;
    float *qkv = malloc(sizeof(float) * ld * rows), *mask = malloc(sizeof(float) * lk);
    float *p = malloc(sizeof(float) * lq * lk), *ctx = malloc(sizeof(float) * ldc * lq);
    for (size_t i = 0; i < ld * rows; i++) qkv[i] = (float)(rnd() * 3);
    for (int j = 0; j < lk; j++) mask[j] = masked && j % 3 == 1 ? -3.4e38f : 0.0f;
    for (size_t i = 0; i < ldc * lq; i++) ctx[i] = 12345.0f; /* the gaps between rows stay */
    const float *q = qkv, *k = qkv + dh, *v = qkv + 2 * dh;
    float scale = 1.0f / sqrtf((float)dh);
    lx_k_attention(q, k, v, ld, lq, lk, dh, scale, mask, p, ctx, ldc, isa);
    double *ref = malloc(sizeof(double) * lk);
    for (int a = 0; a < lq; a++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < lk; j++) {
            double s = 0;
            for (int d = 0; d < dh; d++) s += (double)q[a * ld + d] * k[j * ld + d];
            ref[j] = s * scale + mask[j];
            if (ref[j] > mx) mx = ref[j];
        }
        for (int j = 0; j < lk; j++) sum += ref[j] = exp(ref[j] - mx);
        for (int j = 0; j < lk; j++) {
            ref[j] /= sum;
            float got = p[(size_t)a * lk + j];
            if (mask[j] < -1e38f) assert_true(got == 0.0f);
            if (fabs(got - ref[j]) > 2e-6) {
                fprintf(stderr, "p[%d][%d] = %.9g, expected %.9g (lq %d lk %d dh %d isa %d)\n",
                        a, j, got, ref[j], lq, lk, dh, isa);
                fail();
            }
        }
        for (int d = 0; d < dh; d++) {
            double c = 0, mag = 0;
            for (int j = 0; j < lk; j++) {
                c += ref[j] * v[j * ld + d];
                mag += ref[j] * fabs(v[j * ld + d]);
            }
            float got = ctx[(size_t)a * ldc + d];
            if (fabs(got - c) > 1e-5 * mag + 1e-30) {
                fprintf(stderr, "ctx[%d][%d] = %.9g, expected %.9g (lq %d lk %d dh %d isa %d)\n",
                        a, d, got, c, lq, lk, dh, isa);
                fail();
            }
        }
        for (size_t d = (size_t)dh; d < ldc; d++) assert_true(ctx[(size_t)a * ldc + d] == 12345.0f);
    }
    free(ref), free(qkv), free(mask), free(p), free(ctx);
}

static const int shapes[][3] = {{1, 1, 12}, {20, 20, 64}, {20, 36, 64}, {36, 20, 64},
                                {3, 17, 12}, {7, 70, 80}, {5, 33, 130}, {4, 16, 16}};

static void all_shapes(int isa) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int masked = 0; masked < 2; masked++)
            if (!masked || shapes[s][1] > 1)
                check_head(shapes[s][0], shapes[s][1], shapes[s][2], masked, isa);
}

static void test_attention_portable(void **state) {
    (void)state;
    all_shapes(LX_ISA_PORTABLE);
}

static void test_attention_avx2(void **state) {
    (void)state;
    if (lx_k_isa_best() < LX_ISA_AVX2) {
        fprintf(stderr, "(no AVX2 here: only the portable path)\n");
        return;
    }
    all_shapes(LX_ISA_AVX2);
}

static void test_attention_avx512(void **state) {
    (void)state;
    if (!lx_k_have_avx512()) {
        fprintf(stderr, "(no AVX-512 here: only the portable path)\n");
        return;
    }
    all_shapes(LX_ISA_AVX512);
}

/* GELU into bf16 is GELU then the library's rounding, bit for bit, on each path; and GELU
 * stays within 1e-6 relative of the exact form (the AVX-512 one in both tails). */
static void test_gelu_bf16(void **state) {
    (void)state;
    enum { N = 4099 };
    float *x = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    float *y = malloc(sizeof(float) * N);
    uint16_t *h = malloc(sizeof(uint16_t) * (N + 8));
    for (int i = 0; i < N; i++) {
        x[i] = (float)(rnd() * 12);
        b[i] = (float)(rnd() * 0.5);
    }
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -40.0f, x[4] = 40.0f;
    for (int isa = LX_ISA_PORTABLE; isa <= lx_k_isa_best(); isa++)
        for (int withb = 0; withb < 2; withb++) {
            memcpy(y, x, sizeof(float) * N);
            memset(h, 0xff, sizeof(uint16_t) * (N + 8));
            lx_k_gelu(y, withb ? b : NULL, N, isa);
            lx_k_gelu_bf16(h, x, withb ? b : NULL, N, isa);
            for (int i = 0; i < N; i++) {
                assert_int_equal(h[i], lx_f32_to_bf16(y[i]));
                double v = (double)x[i] + (withb ? b[i] : 0);
                double ref = 0.5 * v * erfc(-v / sqrt(2.0));
                /* the portable form, 1 + erff, loses the negative tail as PyTorch's does:
                 * absolute error there up to |v| / 2 times an ulp of 1; the AVX-512 form
                 * keeps the tail relative, but exp(-v^2 / 2 + ...) carries the f32
                 * roundings of v / sqrt 2 and of -z^2 + p (up to 1.8e-7 of v^2 / 2) into
                 * the result */
                double tol = isa >= LX_ISA_AVX512 ? (1e-6 + 2.4e-7 * v * v / 2) * fabs(ref) + 1e-37
                                    : 1e-6 * fabs(ref) + 6e-8 * fabs(v);
                if (fabs(y[i] - ref) > tol) {
                    fprintf(stderr, "gelu(%.9g) = %.9g, expected %.9g (isa %d)\n", v, y[i],
                            ref, isa);
                    fail();
                }
            }
            assert_int_equal(h[N], 0xffff); /* nothing written past n */
        }
    free(x), free(b), free(y), free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_portable),
        cmocka_unit_test(test_attention_avx2),
        cmocka_unit_test(test_attention_avx512),
        cmocka_unit_test(test_gelu_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
