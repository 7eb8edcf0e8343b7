/*
 * gemmbench — speed of the 16-bit and int8-weight matrix products (lib/nn/gemm.h)
 * against OpenBLAS.
 *
 *   gemmbench [--threads N] [--portable] [--kind bf16|bf16-exact|f16|int8|f32] [--time S]
 *   gemmbench --sgemm-rate [--size N]
 *   gemmbench --fma-peak [--threads N]
 *
 * --sgemm-rate prints one number: cblas_sgemm GFLOP/s on [N, N] x [N, N] f32 (N = 2048,
 * OpenBLAS's own threads) — "the machine's own large-sgemm rate" other benchmark scripts
 * divide by (OpenBLAS picks its kernel from the CPU unless OPENBLAS_CORETYPE says
 * otherwise: unset it, as make bench does, to measure the machine).  Without it, prints
 * (1) that rate, (2) GFLOP/s of lx_gemm at the LXMERT-base linear-layer shapes for
 * M = 36 (one record) and M = 32 x 36 (a batch), next to cblas_sgemm on the same shapes in
 * f32, and (3) the weight-streaming rate in GB/s at
 * M = 20 through a stack of 12 encoder layers' weights (far larger than the caches), for
 * lx_gemm and for cblas_sgemm on f32 weights, next to the memory's read bandwidth.
 * --kind f32 measures the f32 network's products instead (lx_k_linear_f32: our AVX-512
 * kernels, the few-row AVX2 kernel, or cblas_sgemm, as lx-encode picks them), spread over
 * the threads in 16-column chunks from a shared counter as lib/nn/net_ops.c does.
 * --kind int8: int8 weights with row scales (LX_GEMM_I8; A quantized per row in each
 * call, as the network runs them).
 * --fma-peak prints one number: the GFLOP/s of f32 FMAs on N threads (default 2) in
 * registers alone (12 independent chains, the widest vectors this CPU has: zmm with
 * AVX-512, else ymm), the most any f32 product can reach here; 0 without AVX2.
 * Each figure is from the fastest of repeated calls lasting at least --time seconds,
 * after one warm-up call.  Data are random; nothing is checked here
 * (tests/unit/test_gemm.c does that).
 */
#include <getopt.h>
#include <immintrin.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include "lx.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "bytes.h"

typedef struct opts {
    int threads;                  /* lx_gemm threads; 2 (this project's machine kind) */
    int portable;                 /* 1: force the portable path (as LX_CPU=portable does) */
    lx_gemm_kind kind;            /* weights: bf16 (vdpbf16ps) by default */
    int f32;                      /* 1: f32 weights through lx_gemm_f32_cols instead */
    double time;                  /* seconds per measurement, at least; 0.3 */
    int sgemm_rate;               /* 1: print only the large-sgemm GFLOP/s */
    int fma_peak;                 /* 1: print only the FMA peak */
    int size;                     /* square size for the sgemm rate; 2048 */
} opts;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        fprintf(stderr, "gemmbench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static uint64_t rng = 88172645463325252ull;
static float rndf(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}
static float *rand_f32(size_t n) {
    float *p = xalloc(n * 4);
    for (size_t i = 0; i < n; i++) p[i] = rndf();
    return p;
}
static uint16_t *rand_w16(size_t n, lx_gemm_kind kind) {
    uint16_t *p = xalloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        float v = rndf() * 0.1f;
        p[i] = kind == LX_GEMM_F16 ? lx_f32_to_f16(v) : lx_f32_to_bf16(v);
    }
    return p;
}

/* Random weights [n, k] of op->kind into op (16-bit, or int8 with row scales). */
static void set_weights(lx_gemm_op *op, int n, int k) {
    size_t nk = (size_t)n * k;
    if (op->kind != LX_GEMM_I8) {
        op->w = rand_w16(nk, op->kind);
        return;
    }
    int8_t *w = xalloc(nk);
    float *ws = xalloc((size_t)n * 4);
    for (size_t i = 0; i < nk; i++) w[i] = (int8_t)(rndf() * 254.0f);
    for (int j = 0; j < n; j++) ws[j] = 0.001f;
    int32_t *sums = xalloc((size_t)n * 4);
    lx_i8_row_sums(LX_ISA_PORTABLE, w, n, k, (size_t)k, sums);
    op->w8 = w, op->wscale = ws, op->wsum = sums;
}

static void free_weights(lx_gemm_op *op) {
    free((void *)op->w), free((void *)op->w8), free((void *)op->wscale), free((void *)op->wsum);
}

/* bytes per weight */
static int wbytes(lx_gemm_kind kind) {
    return kind == LX_GEMM_I8 ? 1 : 2;
}

/* Seconds of the fastest call of fn(arg): one warm-up, then calls until min_s has passed
 * (at least 3).  The fastest, not the mean, so that other work on a shared machine
 * disturbs the figure less. */
typedef void (*bench_fn)(void *arg);
static double time_calls(bench_fn fn, void *arg, double min_s) {
    fn(arg);
    double t0 = now(), best = 1e30;
    for (int n = 0; n < 3 || now() - t0 < min_s; n++) {
        double t1 = now();
        fn(arg);
        double t = now() - t1;
        if (t < best) best = t;
    }
    return best;
}

typedef struct sg {
    int m, n, k;
    const float *a, *b;
    float *c;
} sg;
/* C[m, n] = A[m, k] B[n, k]^T, the layout of a linear layer */
static void sgemm_call(void *p) {
    sg *s = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, s->a, s->k,
                s->b, s->k, 0.0f, s->c, s->n);
}

typedef struct lg {
    const lx_cpu *caps;
    lx_gemm_op *ops;
    int nops;
    lx_pool *pool;
    lx_gemm_scratch *s;
} lg;
static void lxgemm_call(void *p) {
    lg *g = p;
    lx_error err = {0};
    for (int i = 0; i < g->nops; i++)
        if (lx_gemm(g->caps, &g->ops[i], g->pool, g->s, &err) < 0) {
            fprintf(stderr, "gemmbench: %s\n", err.msg);
            exit(1);
        }
}
/* f32 weights the way the network runs them (lib/nn/net_ops.c, linear_f32): 16-column
 * units in chunks from a shared counter, 4 chunks a thread with few rows and 2 with many
 * (each packs its own columns of W), every thread with its own packing buffer. */
typedef struct fl {
    const float *w;               /* [n, k] */
    int n, k;
    const float *x;
    float *y;
    int m, isa;
    float *pack[LX_POOL_MAX];
    atomic_int next;
} fl;
static void f32_share(void *arg, int t, int nt) {
    fl *f = arg;
    int units = (f->n + 15) / 16, per = f->m <= LX_GEMM_F32_FEW_ROWS ? 4 : 2;
    int chunk = (units + per * nt - 1) / (per * nt); /* net.c's par_for_n */
    for (;;) {
        int u0 = atomic_fetch_add(&f->next, chunk);
        if (u0 >= units) break;
        int n1 = 16 * (u0 + chunk);
        lx_gemm_f32_cols((lx_isa)f->isa, f->m, f->n, f->k, f->x, (size_t)f->k, f->w, NULL, f->y,
                         (size_t)f->n, 16 * u0, n1 < f->n ? n1 : f->n, 0, f->pack[t]);
    }
}
typedef struct flp {
    lx_pool *pool;
    fl *f;                        /* an array ending with m == 0 */
} flp;
static void f32_call(void *arg) {
    flp *x = arg;
    for (fl *f = x->f; f->m > 0; f++) {
        atomic_store(&f->next, 0);
        lx_pool_run(x->pool, f32_share, f);
    }
}
static void f32_op(fl *f, int m, int n, int k, const float *x, const float *w, float *y,
                   int isa, float *const pack[LX_POOL_MAX]) {
    memset(f, 0, sizeof *f);
    f->w = w, f->n = n, f->k = k;
    f->x = x, f->y = y, f->m = m, f->isa = isa;
    memcpy(f->pack, pack, sizeof f->pack);
    atomic_init(&f->next, 0);
}

static void sgemm_many(void *p) {
    sg *s = p;
    for (; s->m > 0; s++) sgemm_call(s);
}

static double sgemm_rate(int size, double min_s) {
    size_t n = (size_t)size * size;
    float *a = rand_f32(n), *b = rand_f32(n), *c = xalloc(n * 4);
    sg s = {size, size, size, a, b, c};
    double t = time_calls(sgemm_call, &s, min_s);
    free(a), free(b), free(c);
    return 2.0 * size * size * (double)size / t * 1e-9;
}

/* LXMERT-base linear layers as [N (out), K (in)] */
static const struct { int n, k; const char *what; } shapes[] = {
    {768, 768, "attention output, cross-attention Q/K/V"},
    {2304, 768, "fused self-attention Q,K,V"},
    {3072, 768, "feed-forward in"},
    {768, 3072, "feed-forward out"},
    {768, 2048, "visual feature projection"},
    {1536, 768, "answer head, first layer"},
    {3129, 1536, "answer head, logits"},
    {30522, 768, "pre-training word decoder"},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

static void shape_table(const opts *o, const lx_cpu *caps, lx_pool *pool,
                        lx_gemm_scratch *s, float *const pack[LX_POOL_MAX], int m) {
    printf("M = %d:\n%7s %6s  %10s %10s %7s  %s\n", m, "N", "K", "lx GFLOP/s",
           "sgemm f32", "ratio", "layer");
    for (int i = 0; i < NSHAPES; i++) {
        int n = shapes[i].n, k = shapes[i].k;
        float *a = rand_f32((size_t)m * k), *c = xalloc((size_t)m * n * 4);
        float *wf = rand_f32((size_t)n * k);
        lx_gemm_op op = {.kind = o->kind, .m = m, .n = n, .k = k, .a = a, .lda = (size_t)k,
                         .ldw = (size_t)k, .c = c, .ldc = (size_t)n};
        if (!o->f32) set_weights(&op, n, k);
        lg g = {caps, &op, 1, pool, s};
        fl f[2];
        f32_op(&f[0], m, n, k, a, wf, c, caps->isa, pack);
        f[1].m = 0;
        flp fp = {pool, f};
        sg q = {m, n, k, a, wf, c};
        double flop = 2.0 * m * n * (double)k;
        double tl = o->f32 ? time_calls(f32_call, &fp, o->time)
                           : time_calls(lxgemm_call, &g, o->time);
        double ts = time_calls(sgemm_call, &q, o->time);
        printf("%7d %6d  %10.1f %10.1f %6.2fx  %s\n", n, k, flop / tl * 1e-9,
               flop / ts * 1e-9, ts / tl, shapes[i].what);
        fflush(stdout);
        free(a), free(c), free(wf);
        free_weights(&op);
    }
}

/* Read bandwidth of memory: the pool's threads sum disjoint halves of a 512 MB buffer. */
typedef struct rd {
    const uint64_t *p;
    size_t n;
    uint64_t sum[LX_POOL_MAX];
} rd;
static void read_share(void *arg, int t, int n) {
    rd *r = arg;
    size_t per = r->n / n / 8 * 8, i0 = per * t, i1 = t == n - 1 ? r->n : i0 + per;
    uint64_t s[8] = {0};
    for (size_t i = i0; i < i1; i += 8)
        for (int j = 0; j < 8; j++) s[j] += r->p[i + j];
    r->sum[t] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}
typedef struct rdp {
    lx_pool *pool;
    rd *r;
} rdp;
static void read_call(void *arg) {
    rdp *x = arg;
    lx_pool_run(x->pool, read_share, x->r);
}
static double read_bandwidth(lx_pool *pool, double min_s) {
    static rd r;
    r.n = (512u << 20) / 8;
    uint64_t *p = xalloc(r.n * 8);
    for (size_t i = 0; i < r.n; i++) p[i] = i;
    r.p = p;
    rdp x = {pool, &r};
    double t = time_calls(read_call, &x, min_s);
    free(p);
    return r.n * 8 / t * 1e-9;
}

/* 12 layers x (QKV, attention output, FFN in, FFN out): 85M weights, 170 MB in 16 bits,
 * 85 MB in int8 */
static void streaming(const opts *o, const lx_cpu *caps, lx_pool *pool,
                      lx_gemm_scratch *s, float *const pack[LX_POOL_MAX]) {
    enum { LAYERS = 12, PER = 4, M = 20 };
    static const int nk[PER][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
    lx_gemm_op ops[LAYERS * PER];
    sg sgs[LAYERS * PER + 1];
    float *a = rand_f32((size_t)M * 3072), *c = xalloc((size_t)M * 3072 * 4);
    double wcount = 0, t;
    if (o->f32) { /* the f32 kernels on f32 weights, in place of lx_gemm */
        static fl f[LAYERS * PER + 1];
        for (int l = 0; l < LAYERS; l++)
            for (int p = 0; p < PER; p++) {
                int n = nk[p][0], k = nk[p][1];
                f32_op(&f[l * PER + p], M, n, k, a, rand_f32((size_t)n * k), c,
                       caps->isa, pack);
                wcount += (double)n * k;
            }
        f[LAYERS * PER].m = 0;
        flp fp = {pool, f};
        t = time_calls(f32_call, &fp, o->time);
        printf("M = %d through 12 layers, lx f32 kernels (%.0f MB): %.2f ms, %.1f GB/s of "
               "weights, %.1f GFLOP/s\n", M, wcount * 4e-6, t * 1e3, wcount * 4 / t * 1e-9,
               2.0 * M * wcount / t * 1e-9);
        for (int i = 0; i < LAYERS * PER; i++) free((void *)f[i].w);
    } else {
        for (int l = 0; l < LAYERS; l++)
            for (int p = 0; p < PER; p++) {
                int n = nk[p][0], k = nk[p][1];
                ops[l * PER + p] = (lx_gemm_op){.kind = o->kind, .m = M, .n = n, .k = k,
                                                .a = a, .lda = (size_t)k, .ldw = (size_t)k,
                                                .c = c, .ldc = (size_t)n};
                set_weights(&ops[l * PER + p], n, k);
                wcount += (double)n * k;
            }
        lg g = {caps, ops, LAYERS * PER, pool, s};
        t = time_calls(lxgemm_call, &g, o->time);
        int wb = wbytes(o->kind);
        printf("M = %d through 12 layers (%.0f MB of %s weights): %.2f ms, %.1f GB/s of "
               "weights, %.1f GFLOP/s\n", M, wcount * wb * 1e-6, wb == 1 ? "int8" : "16-bit",
               t * 1e3, wcount * wb / t * 1e-9, 2.0 * M * wcount / t * 1e-9);
        for (int i = 0; i < LAYERS * PER; i++) free_weights(&ops[i]);
    }
    /* the same in f32 with OpenBLAS */
    for (int l = 0; l < LAYERS; l++)
        for (int p = 0; p < PER; p++)
            sgs[l * PER + p] = (sg){M, nk[p][0], nk[p][1], a,
                                    rand_f32((size_t)nk[p][0] * nk[p][1]), c};
    sgs[LAYERS * PER].m = 0;
    t = time_calls(sgemm_many, sgs, o->time);
    printf("M = %d, cblas_sgemm on the f32 weights (%.0f MB):      %.2f ms, %.1f GB/s of "
           "weights, %.1f GFLOP/s\n", M, wcount * 4e-6, t * 1e3, wcount * 4 / t * 1e-9,
           2.0 * M * wcount / t * 1e-9);
    for (int i = 0; i < LAYERS * PER; i++) free((void *)sgs[i].b);
    free(a), free(c);
    printf("memory read bandwidth, %d threads summing 512 MB:      %.1f GB/s\n",
           lx_pool_size(pool), read_bandwidth(pool, o->time));
}

/* ---- the FMA peak ---- */

#define PEAK_ITERS 20000000L
#define CHAINS(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11)

/* iters steps of 12 independent FMA chains (latency 4-5 cycles, two FMA units: 12 keep
 * both busy); the result only keeps the compiler from dropping them */
__attribute__((target("avx512f"))) static float fma_chains_avx512(long iters) {
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)(i));
    CHAINS(DECL)
#undef DECL
    for (long it = 0; it < iters; it++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
        CHAINS(STEP)
#undef STEP
    }
    __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(SUM)
#undef SUM
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_chains_avx2(long iters) {
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)(i));
    CHAINS(DECL)
#undef DECL
    for (long it = 0; it < iters; it++) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
        CHAINS(STEP)
#undef STEP
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, a##i);
    CHAINS(SUM)
#undef SUM
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

typedef struct peak_ctx {
    int wide;                     /* zmm, else ymm */
    float sink[64];
} peak_ctx;

static void peak_share(void *arg, int t, int nt) {
    peak_ctx *p = arg;
    (void)nt;
    p->sink[t] = p->wide ? fma_chains_avx512(PEAK_ITERS) : fma_chains_avx2(PEAK_ITERS);
}

/* GFLOP/s of the FMA loops on every thread of pool at once, the best of three runs. */
static double fma_peak(const lx_cpu *caps, lx_pool *pool) {
    if (caps->isa < LX_ISA_AVX2) return 0;
    peak_ctx p = {.wide = caps->isa >= LX_ISA_AVX512};
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        lx_pool_run(pool, peak_share, &p);
        double g = lx_pool_size(pool) * (double)PEAK_ITERS * 12 * (p.wide ? 16 : 8) * 2 /
                   (now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

static void usage(FILE *f) {
    fprintf(f, "usage: gemmbench [--threads N] [--portable] "
               "[--kind bf16|bf16-exact|f16|int8|f32] [--time S]\n       gemmbench --sgemm-rate [--size N] [--time S]\n"
               "       gemmbench --fma-peak [--threads N]\n"
               "       gemmbench --path   (the kernels lx-encode takes here, after LX_CPU)\n");
}

int main(int argc, char **argv) {
    opts o = {.threads = 2, .portable = 0, .kind = LX_GEMM_BF16, .time = 0.3,
              .sgemm_rate = 0, .size = 2048};
    int path = 0;
    static const struct option lo[] = {
        {"threads", required_argument, 0, 't'}, {"portable", no_argument, 0, 'p'},
        {"kind", required_argument, 0, 'k'},    {"time", required_argument, 0, 'T'},
        {"sgemm-rate", no_argument, 0, 'r'},    {"size", required_argument, 0, 's'},
        {"path", no_argument, 0, 'P'},          {"help", no_argument, 0, 'h'},
        {"fma-peak", no_argument, 0, 'F'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "t:pk:T:rs:PhF", lo, NULL)) != -1) {
        switch (c) {
        case 't': o.threads = atoi(optarg); break;
        case 'p': o.portable = 1; break;
        case 'k':
            if (!strcmp(optarg, "bf16")) o.kind = LX_GEMM_BF16;
            else if (!strcmp(optarg, "bf16-exact")) o.kind = LX_GEMM_BF16_EXACT;
            else if (!strcmp(optarg, "f16")) o.kind = LX_GEMM_F16;
            else if (!strcmp(optarg, "int8")) o.kind = LX_GEMM_I8;
            else if (!strcmp(optarg, "f32")) o.f32 = 1;
            else { usage(stderr); return 2; }
            break;
        case 'T': o.time = atof(optarg); break;
        case 'r': o.sgemm_rate = 1; break;
        case 'P': path = 1; break;
        case 'F': o.fma_peak = 1; break;
        case 's': o.size = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || o.threads < 1 || o.threads > 64 || o.size < 1 || o.size > 16384 ||
        !(o.time >= 0)) {
        usage(stderr);
        return 2;
    }
    if (o.sgemm_rate) {
        printf("%.1f\n", sgemm_rate(o.size, o.time));
        return 0;
    }
    lx_cpu caps;
    lx_isa limit;
    if (lx_isa_parse(getenv("LX_CPU"), &limit) < 0) {
        fprintf(stderr, "gemmbench: LX_CPU: got '%s', expected portable, avx2, avx512 or best\n",
                getenv("LX_CPU"));
        return 2;
    }
    lx_cpu_detect(&caps, o.portable ? LX_ISA_PORTABLE : limit);
    if (path) {
        printf("%s\n", lx_cpu_name(&caps));
        return 0;
    }
    if (o.fma_peak) {
        lx_pool peak;
        lx_error perr = {0};
        if (lx_pool_init(&peak, o.threads, &perr) < 0) {
            fprintf(stderr, "gemmbench: %s\n", perr.msg);
            return 1;
        }
        printf("%.1f\n", fma_peak(&caps, &peak));
        lx_pool_free(&peak);
        return 0;
    }
    static const char *kinds[] = {"bf16", "bf16-exact", "f16", "int8"};
    printf("cblas_sgemm %dx%dx%d f32 (OpenBLAS, %d threads): %.1f GFLOP/s\n", o.size, o.size,
           o.size, openblas_get_num_threads(), sgemm_rate(o.size, o.time));
    const char *isa = lx_isa_name(caps.isa);
    if (o.f32)
        printf("lx_gemm_f32_cols: f32 weights, %s, %d threads\n\n",
               caps.isa >= LX_ISA_AVX512 ? "avx512 kernels (W packed with many rows)"
               : caps.isa >= LX_ISA_AVX2 ? "avx2 kernel with few rows, cblas_sgemm with many"
                                         : "cblas_sgemm", o.threads);
    else
        printf("lx_gemm: %s weights, path %s, %d threads\n\n", kinds[o.kind],
               o.kind == LX_GEMM_BF16 ? lx_cpu_name(&caps)
               : o.kind != LX_GEMM_I8 ? isa
               : caps.vnni            ? "avx512-vnni"
               : caps.isa >= LX_ISA_AVX2 ? "avx2" : "portable", o.threads);
    lx_pool pool;
    lx_error err = {0};
    if (lx_pool_init(&pool, o.threads, &err) < 0) {
        fprintf(stderr, "gemmbench: %s\n", err.msg);
        return 1;
    }
    lx_gemm_scratch s[LX_POOL_MAX];
    float *pack[LX_POOL_MAX] = {0};
    for (int t = 0; t < o.threads; t++) {
        lx_gemm_scratch_init(&s[t]);
        pack[t] = xalloc(lx_gemm_f32pack_bytes());
    }
    shape_table(&o, &caps, &pool, s, pack, 36);
    printf("\n");
    shape_table(&o, &caps, &pool, s, pack, 32 * 36);
    printf("\n");
    streaming(&o, &caps, &pool, s, pack);
    for (int t = 0; t < o.threads; t++) lx_gemm_scratch_free(&s[t]), free(pack[t]);
    lx_pool_free(&pool);
    return 0;
}
