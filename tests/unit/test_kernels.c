/* Unit tests of lib/nn/kernels.c and simd/kernels_*.c (and one head of attention,
 * lx_gemm_attention in lib/nn/gemm.c) that the network tests cannot pin down on their
 * own: one head of attention on odd shapes — head
 * sizes that are not a multiple of 16, more than 64, query counts that are not a multiple
 * of 4, masked keys — against a double-precision reference, on both paths; GELU written
 * in bf16 (lx_k_gelu_bf16) against GELU then rounding; and the elementwise kernels (GELU,
 * softmax, LayerNorm, bf16 rounding, widening) on every level the CPU has, on lengths
 * that end in a partial vector, against references in double or bit for bit (each test
 * says its tolerance and why).
 *
 * Tolerances, per element: probabilities within 2e-6 absolute (exp within 2e-7 relative,
 * a sum of at most 70 terms in f32); ctx within 1e-5 (sum_j p_j |v_j|) (the products are
 * rounded to f32 once each and summed in f32).  A masked key (mask -3.4e38) gets
 * probability exactly 0, as in the reference. */
#include <math.h>
#include "testutil.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "bytes.h"

/* The highest kernel level this CPU runs. */
static lx_isa isa_best(void) {
    lx_cpu cpu;
    lx_cpu_detect(&cpu, LX_ISA_BEST);
    return cpu.isa;
}

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
    lx_gemm_attention(isa, q, k, v, ld, lq, lk, dh, scale, mask, p, ctx, ldc);
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
    if (isa_best() < LX_ISA_AVX2) {
        fprintf(stderr, "(no AVX2 here: only the portable path)\n");
        skip();
    }
    all_shapes(LX_ISA_AVX2);
}

static void test_attention_avx512(void **state) {
    (void)state;
    if (isa_best() < LX_ISA_AVX512) {
        fprintf(stderr, "(no AVX-512 here: only the portable path)\n");
        skip();
    }
    all_shapes(LX_ISA_AVX512);
}

/* GELU into bf16 is GELU then the library's rounding, bit for bit, on each path; and GELU
 * stays within 1e-6 relative of the exact form (the vector ones in both tails). */
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
    for (int isa = LX_ISA_PORTABLE; isa <= (int)isa_best(); isa++)
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
                 * absolute error there up to |v| / 2 times an ulp of 1; the vector form
                 * keeps the tail relative, but exp(-v^2 / 2 + ...) carries the f32
                 * roundings of v / sqrt 2 and of -z^2 + p (up to 1.8e-7 of v^2 / 2) into
                 * the result.  AVX2 runs the same polynomials as AVX-512 with t = 1 / (1 +
                 * z / 2) divided (half an ulp) rather than vrcp14ps and a Newton step (about
                 * an ulp), so the same bound holds for it (measured: a quarter of it). */
                double tol = isa >= LX_ISA_AVX2 ? (1e-6 + 2.4e-7 * v * v / 2) * fabs(ref) + 1e-37
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

/* ---- the elementwise kernels on every level the CPU has ----------------------------- */

/* Row lengths: the tails of 8- and 16-lane vectors (1, 7, 9, 4099), whole vectors only
 * (8, 768, 3072: the model's widths). */
static const size_t lens[] = {1, 7, 8, 9, 768, 3072, 4099};
#define NLENS (sizeof lens / sizeof lens[0])
#define MAXLEN 4099
#define GUARD 16 /* values past n that must stay as they were */

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t rnd_bits(void) {
    rnd();
    return (uint32_t)(rng_state >> 32);
}

/* GELU on every length and every start offset mod 8 gives, value by value, the bits the
 * same value gets inside a long row (so tails are computed as the vector lanes are), in
 * f32 and in bf16, and writes nothing past n. */
static void test_gelu_tails(void **state) {
    (void)state;
    enum { N = MAXLEN + 8 };
    float *x = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    float *full = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * (N + GUARD));
    uint16_t *h = malloc(sizeof(uint16_t) * (N + GUARD));
    for (int i = 0; i < N; i++) {
        x[i] = (float)(rnd() * 10);
        b[i] = (float)(rnd() * 0.5);
    }
    for (int isa = LX_ISA_PORTABLE; isa <= (int)isa_best(); isa++)
        for (int withb = 0; withb < 2; withb++) {
            const float *bb = withb ? b : NULL;
            memcpy(full, x, sizeof(float) * N);
            lx_k_gelu(full, bb, N, isa);
            for (size_t l = 0; l < NLENS; l++)
                for (size_t o = 0; o < 8; o++) {
                    size_t n = lens[l];
                    for (size_t i = 0; i < n + GUARD; i++) y[i] = i < n ? x[o + i] : -7.0f;
                    memset(h, 0xab, sizeof(uint16_t) * (n + GUARD));
                    lx_k_gelu(y, bb ? bb + o : NULL, n, isa);
                    lx_k_gelu_bf16(h, x + o, bb ? bb + o : NULL, n, isa);
                    for (size_t i = 0; i < n; i++) {
                        if (bits_of(y[i]) != bits_of(full[o + i])) {
                            fprintf(stderr, "gelu: n %zu offset %zu [%zu] = %.9g, %.9g in a long row (isa %d)\n",
                                    n, o, i, y[i], full[o + i], isa);
                            fail();
                        }
                        assert_int_equal(h[i], lx_f32_to_bf16(full[o + i]));
                    }
                    for (size_t i = n; i < n + GUARD; i++) {
                        assert_true(y[i] == -7.0f);
                        assert_int_equal(h[i], 0xabab);
                    }
                }
        }
    free(x), free(b), free(full), free(y), free(h);
}

/* softmax(s * scale + mask) against exp in double of the same f32 arguments (the kernel
 * rounds s * scale and then + mask to f32, as PyTorch's f32 does): relative error per
 * probability within
 *   6e-8 |y|  (y = arg - max is rounded to f32, and exp carries that relative error times |y|)
 * + 2e-7      (exp: the polynomial's 2e-7, or expf's ulp)
 * + 1.5e-7    (1 / sum and the product rounded)
 * + 6e-8 * 4 sqrt(n)  (the f32 sum: n positive terms in one or 8 lanes; rounding errors
 *              of the partial sums are independent and unbiased, so their sum grows as
 *              sqrt(n) ulps — 4 standard deviations, ~8x what the seed here measures; the
 *              worst case, n ulps, would hide a lost tail lane at n = 4099),
 * plus 1e-37 absolute for arguments below -87 (exp gives 0 there, the reference at most
 * 1.6e-38).  A masked key (mask -3.4e38) gets probability exactly 0; nothing is written
 * past n. */
static void check_softmax(size_t n, int masked, float spread, float shift, float scale, int isa) {
    float *s = malloc(sizeof(float) * (n + GUARD)), *mask = malloc(sizeof(float) * n);
    float *arg = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (size_t j = 0; j < n + GUARD; j++) s[j] = j < n ? (float)(rnd() * spread + shift) : 99.0f;
    for (size_t j = 0; j < n; j++)
        mask[j] = masked && j % 3 == 1 ? -3.4e38f : masked && j % 5 == 0 ? -2.5f : 0.0f;
    double mx = -INFINITY, sum = 0;
    for (size_t j = 0; j < n; j++) {
        float a = s[j] * scale;
        arg[j] = masked ? a + mask[j] : a;
        mx = arg[j] > mx ? arg[j] : mx;
    }
    for (size_t j = 0; j < n; j++) sum += ref[j] = exp(arg[j] - mx);
    lx_k_softmax_masked(s, masked ? mask : NULL, scale, (int)n, isa);
    double tsum = 6e-8 * 4 * sqrt((double)n);
    for (size_t j = 0; j < n; j++) {
        double p = ref[j] / sum, y = fabs((double)arg[j] - mx);
        double tol = (6e-8 * y + 2e-7 + 1.5e-7 + tsum) * p + 1e-37;
        if (masked && mask[j] < -1e38f) assert_true(s[j] == 0.0f);
        if (fabs(s[j] - p) > tol) {
            fprintf(stderr, "softmax: n %zu [%zu] = %.9g, expected %.9g (masked %d spread %g shift %g isa %d)\n",
                    n, j, s[j], p, masked, spread, shift, isa);
            fail();
        }
    }
    for (size_t j = n; j < n + GUARD; j++) assert_true(s[j] == 99.0f);
    free(s), free(mask), free(arg), free(ref);
}

static void test_softmax(void **state) {
    (void)state;
    for (int isa = LX_ISA_PORTABLE; isa <= (int)isa_best(); isa++)
        for (size_t l = 0; l < NLENS; l++)
            for (int masked = 0; masked < 2; masked++) {
                check_softmax(lens[l], masked, 8.0f, 0.0f, 0.125f, isa);
                /* arguments down to -120: the cut at -87 */
                check_softmax(lens[l], masked, 60.0f, 0.0f, 1.0f, isa);
                /* every score far below 0: only the maximum keeps exp from underflowing */
                check_softmax(lens[l], masked, 4.0f, -200.0f, 1.0f, isa);
            }
}

/* LayerNorm(x + r + rb) over m rows ld apart, against the mean and variance in double of
 * the same f32 sums (x + r, then + rb, as the kernels add them).  Error per value, in
 * units of the row's standard deviation sd, where the result is d g + b with d = (v -
 * mean) / sd:
 *   the mean: rounded to f32 (portable: 6e-8 |mean| / sd) or summed in f32 in 16 partial
 *     sums (vector levels: errors growing as sqrt(n / 16) ulps of the row's values, |v| <=
 *     |mean| + 4 sd here: 4 sqrt(n / 16) ulps of that, ~2.4e-7 (|mean| + 4 sd) / sd at
 *     n = 768, 1e-6 at 4099);
 *   the variance: likewise, one more pass; 1 / sqrt and the products: a few ulps of |d g|;
 *   b added by the last rounding: half an ulp of |d g + b|.
 * So |got - ref| <= (2e-7 + 6e-8 sqrt(n)) (|mean| / sd + 4) |g| + 4e-7 |d g| + 1.2e-7 |b|:
 * the same bound on every level, as the network's 1e-4 against PyTorch needs nothing
 * tighter.  The gaps between rows (ld > n) are never written. */
static void check_layernorm(int n, int m, int withr, int withrb, int isa) {
    int ld = n + 5;
    size_t tot = (size_t)ld * m;
    float *x = malloc(sizeof(float) * tot), *r = malloc(sizeof(float) * tot);
    float *rb = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    float *bt = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < tot; i++) {
        x[i] = (size_t)(i % ld) < (size_t)n ? (float)(rnd() * 2 + 3) : 55.0f;
        r[i] = (float)rnd();
    }
    for (int j = 0; j < n; j++) {
        rb[j] = (float)(rnd() * 0.2);
        g[j] = (float)(1 + rnd() * 0.5);
        bt[j] = (float)(rnd() * 0.2);
    }
    float *x0 = malloc(sizeof(float) * tot);
    memcpy(x0, x, sizeof(float) * tot);
    const float eps = 1e-12f;
    lx_k_add_layernorm(x, withr ? r : NULL, withrb ? rb : NULL, m, n, ld, g, bt, eps, isa);
    for (int i = 0; i < m; i++) {
        double mean = 0, var = 0;
        for (int j = 0; j < n; j++) {
            float a = x0[(size_t)i * ld + j];
            if (withr) a += r[(size_t)i * ld + j];
            if (withrb) a += rb[j];
            v[j] = a;
            mean += a;
        }
        mean /= n;
        for (int j = 0; j < n; j++) var += (v[j] - mean) * (v[j] - mean);
        var /= n;
        double sd = sqrt(var + eps);
        for (int j = 0; j < n; j++) {
            double d = (v[j] - mean) / sd, ref = d * g[j] + bt[j];
            double tol = (2e-7 + 6e-8 * sqrt((double)n)) * (fabs(mean) / sd + 4) * fabs(g[j]) +
                         4e-7 * fabs(d * g[j]) + 1.2e-7 * fabs(bt[j]);
            float got = x[(size_t)i * ld + j];
            if (fabs(got - ref) > tol) {
                fprintf(stderr, "layernorm: n %d row %d [%d] = %.9g, expected %.9g (r %d rb %d isa %d)\n",
                        n, i, j, got, ref, withr, withrb, isa);
                fail();
            }
        }
        for (int j = n; j < ld; j++) assert_true(x[(size_t)i * ld + j] == 55.0f);
    }
    free(x), free(x0), free(r), free(rb), free(g), free(bt), free(v);
}

static void test_layernorm(void **state) {
    (void)state;
    for (int isa = LX_ISA_PORTABLE; isa <= (int)isa_best(); isa++)
        for (size_t l = 0; l < NLENS; l++)
            for (int withr = 0; withr < 2; withr++)
                for (int withrb = 0; withrb < 2; withrb++)
                    check_layernorm((int)lens[l], 3, withr, withrb, isa);
}

/* f32 bit patterns where rounding to bf16 is easy to get wrong. */
static const uint32_t bf16_cases[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000,
    0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000, /* ties: to even, both ways */
    0x3f807fff, 0x3f808001, 0x3f80ffff, 0x4049ffff, /* just below / above a tie */
    0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x7f7f8000, /* the largest finite: to inf or not */
    0x7f800000, 0xff800000,                         /* inf */
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, /* NaN: quiet, signalling */
    0x7fbfffff, 0x7fffffff, 0xffffffff, 0x7f808000, 0x7fff8000,
    0x00000001, 0x00007fff, 0x00008000, 0x00018000, /* subnormals, ties among them */
    0x00008001, 0x007fffff, 0x807fffff, 0x80008000, 0x80018000,
    0x00800000, 0x80800000, 0x00ff8000, 0x00fe8000, /* the smallest normals */
};
#define NCASES (sizeof bf16_cases / sizeof bf16_cases[0])

/* Rounding to bf16 is lx_f32_to_bf16 bit for bit, on every level, every length and offset
 * (the special cases at every position of short rows, random bit patterns — NaNs
 * included — and random values in long ones); zeros from n to npad, nothing past npad. */
static void test_round_bf16(void **state) {
    (void)state;
    enum { N = MAXLEN + 8 };
    float *src = malloc(sizeof(float) * N), row[9];
    uint16_t *dst = malloc(sizeof(uint16_t) * (N + 8 + GUARD));
    for (int i = 0; i < N; i++)
        src[i] = i < (int)NCASES ? float_of(bf16_cases[i])
                 : i % 2 ? float_of(rnd_bits()) : (float)(rnd() * ldexp(1.0, (int)(rnd() * 40)));
    for (int isa = LX_ISA_PORTABLE; isa <= (int)isa_best(); isa++) {
        for (size_t l = 0; l < NLENS; l++)
            for (int o = 0; o < 8; o++)
                for (int pad = 0; pad < 9; pad += 8) {
                    int n = (int)lens[l], npad = n + pad;
                    memset(dst, 0xab, sizeof(uint16_t) * (npad + GUARD));
                    lx_k_round_bf16(dst, src + o, n, npad, isa);
                    for (int i = 0; i < n; i++) {
                        if (dst[i] != lx_f32_to_bf16(src[o + i])) {
                            fprintf(stderr, "bf16(%08x) = %04x, expected %04x (n %d isa %d)\n",
                                    bits_of(src[o + i]), dst[i], lx_f32_to_bf16(src[o + i]), n, isa);
                            fail();
                        }
                    }
                    for (int i = n; i < npad; i++) assert_int_equal(dst[i], 0);
                    for (int i = npad; i < npad + GUARD; i++) assert_int_equal(dst[i], 0xabab);
                }
        for (size_t c = 0; c < NCASES; c++)
            for (int n = 1; n <= 9; n++)
                for (int at = 0; at < n; at++) {
                    for (int i = 0; i < n; i++) row[i] = i == at ? float_of(bf16_cases[c]) : 1.5f;
                    memset(dst, 0xab, sizeof(uint16_t) * (n + GUARD));
                    lx_k_round_bf16(dst, row, n, n, isa);
                    assert_int_equal(dst[at], lx_f32_to_bf16(row[at]));
                    assert_int_equal(dst[n], 0xabab);
                }
    }
    free(src), free(dst);
}

/* The value of a bf16 (bf16 != 0) or f16 bit pattern, in double, from its fields. */
static double half_value(uint16_t h, int bf16) {
    int mb = bf16 ? 7 : 10, eb = bf16 ? 8 : 5, bias = bf16 ? 127 : 15;
    int e = (h >> mb) & ((1 << eb) - 1), m = h & ((1 << mb) - 1);
    double mag = e == 0 ? ldexp(m, 1 - bias - mb)
                 : e == (1 << eb) - 1 ? (m ? NAN : INFINITY) : ldexp((1 << mb) + m, e - bias - mb);
    return h >> 15 ? -mag : mag;
}

/* Widening is exact on every level: every one of the 65536 bf16 and f16 values against
 * its value in double (bf16: the very bits shifted, NaN payloads too; f16 NaNs keep sign
 * and payload — the vector levels' vcvtph2ps also sets the quiet bit, which
 * lx_f16_to_f32 leaves alone); every length and offset gives the bits of the long row,
 * and nothing is written past n. */
static void test_widen(void **state) {
    (void)state;
    enum { N = 65536 };
    uint16_t *src = malloc(sizeof(uint16_t) * N);
    float *full = malloc(sizeof(float) * N), *dst = malloc(sizeof(float) * (MAXLEN + GUARD));
    for (int i = 0; i < N; i++) src[i] = (uint16_t)i;
    for (int isa = LX_ISA_PORTABLE; isa <= (int)isa_best(); isa++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            lx_k_widen(full, src, N, bf16, isa);
            for (int i = 0; i < N; i++) {
                double want = half_value(src[i], bf16);
                uint32_t got = bits_of(full[i]);
                if (bf16) assert_true(got == (uint32_t)src[i] << 16);
                else if (isnan(want))
                    assert_true((got | 0x400000u) == (bits_of(lx_f16_to_f32(src[i])) | 0x400000u) &&
                                isnan(full[i]));
                else assert_true(got == bits_of((float)want)); /* -0 too */
                if (!isnan(want) && (double)full[i] != want) {
                    fprintf(stderr, "widen(%04x) = %.9g, expected %.9g (bf16 %d isa %d)\n",
                            src[i], full[i], want, bf16, isa);
                    fail();
                }
            }
            for (size_t l = 0; l < NLENS; l++)
                for (size_t o = 0; o < 8; o++) {
                    /* rows that end (in their tail) among the f16 signalling NaNs or
                     * the negative subnormals */
                    size_t n = lens[l], at = (o % 2 ? 0x8200 : 0x7d00) + o - n;
                    for (size_t i = 0; i < n + GUARD; i++) dst[i] = -3.0f;
                    lx_k_widen(dst, src + at, n, bf16, isa);
                    assert_memory_equal(dst, full + at, sizeof(float) * n);
                    for (size_t i = n; i < n + GUARD; i++) assert_true(dst[i] == -3.0f);
                }
        }
    free(src), free(full), free(dst);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_portable),
        cmocka_unit_test(test_attention_avx2),
        cmocka_unit_test(test_attention_avx512),
        cmocka_unit_test(test_gelu_bf16),
        cmocka_unit_test(test_gelu_tails),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_round_bf16),
        cmocka_unit_test(test_widen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
