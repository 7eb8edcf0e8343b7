/*
 * gemm.c — the products under the networks (gemm.h): C (+)= A W^T + bias with bf16 / f16
 * weights (argument checks, the portable path, the choice of path and the split of N
 * over a pool), with f32 weights one column range at a time, and one attention head.
 * The vector kernels are in simd/gemm_avx512.c and simd/gemm_avx2.c.
 *
 * The portable path widens a block of W rows (W_TILE_BYTES of f32) into scratch and
 * multiplies by cblas_sgemm.  For
 * LX_GEMM_BF16 it first rounds A to bf16 (and back to f32) into scratch, so that every
 * path computes the same products and differs only in summation order.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#include "gemm.h"
#include "kernels.h"

/* f32 bytes of widened weights per cblas_sgemm call on the portable path.  Large: each
 * call costs OpenBLAS a fixed overhead and a repack of A. */
#define W_TILE_BYTES (4u * 1024u * 1024u)
/* below this many multiply-adds per share lx_gemm stays on one thread (waking a pool
 * thread costs a few microseconds) */
#define MT_MIN_MACS (1u << 18)

/* ---- scratch ----------------------------------------------------------- */

void lx_gemm_scratch_init(lx_gemm_scratch *s) {
    s->buf = s->abuf = NULL;
    s->cap = s->acap = 0;
}

void lx_gemm_scratch_free(lx_gemm_scratch *s) {
    free(s->buf);
    free(s->abuf);
    lx_gemm_scratch_init(s);
}

static void *buf_get(void **buf, size_t *have, size_t bytes, lx_error *err) {
    if (bytes <= *have) return *buf;
    size_t cap = (bytes + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap) != 0) {
        lx_error_set(err, "gemm: out of memory for %zu bytes of scratch", cap);
        return NULL;
    }
    free(*buf);
    *buf = p;
    *have = cap;
    return p;
}

static void *scratch_get(lx_gemm_scratch *s, size_t bytes, lx_error *err) {
    return buf_get(&s->buf, &s->cap, bytes, err);
}

/* ---- checks ------------------------------------------------------------ */

static int check_op(const lx_gemm_op *op, lx_error *err) {
    if ((unsigned)op->kind >= LX_GEMM_KIND_COUNT)
        return lx_error_set(err, "gemm: got weight kind %d, expected bf16, bf16-exact, f16 "
                            "or int8", (int)op->kind);
    if (op->m < 0 || op->n < 0 || op->k < 0)
        return lx_error_set(err, "gemm: got sizes m=%d n=%d k=%d, expected none negative",
                            op->m, op->n, op->k);
    if (op->cb && (op->accumulate || op->ldcb < (size_t)op->n))
        return lx_error_set(err, "gemm: GELU output in bf16 with %s, expected no accumulation "
                            "and a row stride >= %d", op->accumulate ? "accumulation"
                            : "a shorter row stride", op->n);
    if (op->ab && op->kind != LX_GEMM_BF16)
        return lx_error_set(err, "gemm: A given rounded to bf16 for weight kind %d, expected "
                            "bf16 weights", (int)op->kind);
    if (op->ab && op->k > 0 && (op->ldab < (size_t)op->k || op->ldab % 32))
        return lx_error_set(err, "gemm: bf16 A has row stride %zu, expected a multiple of 32 "
                            ">= %d", op->ldab, op->k);
    if (!op->ab && op->m > 0 && op->k > 0 && (!op->a || op->lda < (size_t)op->k))
        return lx_error_set(err, "gemm: A is [%d, %d] with row stride %zu%s, expected a "
                            "stride >= %d", op->m, op->k, op->lda, op->a ? "" : " and NULL",
                            op->k);
    int i8 = op->kind == LX_GEMM_I8;
    const void *w = i8 ? (const void *)op->w8 : (const void *)op->w;
    if (op->n > 0 && op->k > 0 && (!w || op->ldw < (size_t)op->k))
        return lx_error_set(err, "gemm: W is [%d, %d] with row stride %zu%s, expected a "
                            "stride >= %d", op->n, op->k, op->ldw, w ? "" : " and NULL",
                            op->k);
    if (i8 && op->n > 0 && op->k > 0 && (!op->wscale || !op->wsum))
        return lx_error_set(err, "gemm: int8 W without its row %s", op->wscale ? "sums" : "scales");
    if (i8 && op->k > LX_GEMM_I8_MAX_K)
        return lx_error_set(err, "gemm: int8 W with k=%d, expected at most %d (the int32 "
                            "sums)", op->k, LX_GEMM_I8_MAX_K);
    if (op->m > 0 && op->n > 0 && (!op->c || op->ldc < (size_t)op->n))
        return lx_error_set(err, "gemm: C is [%d, %d] with row stride %zu%s, expected a "
                            "stride >= %d", op->m, op->n, op->ldc, op->c ? "" : " and NULL",
                            op->n);
    return 0;
}

/* ---- the paths ---------------------------------------------------------- */

/* C[:, j0:j1] (+)= bias only: the k = 0 product. */
static void bias_only(const lx_gemm_op *op, int j0, int j1) {
    for (int i = 0; i < op->m; i++) {
        float *ci = op->c + (size_t)i * op->ldc;
        for (int j = j0; j < j1; j++) {
            float b = op->bias ? op->bias[j] : 0.0f;
            ci[j] = op->accumulate ? ci[j] + b : b;
        }
    }
}

/* n 16-bit values widened (vectorised where the CPU allows: on the sgemm route with many
 * rows, widening is a visible share of the time). */
static void widen(const lx_cpu *cpu, float *dst, const uint16_t *src, int n, int bf16) {
    lx_k_widen(dst, src, (size_t)n, bf16, cpu ? cpu->isa : LX_ISA_PORTABLE);
}

/* Row stride of A rounded and widened back to f32 (af): padded as lx_gemm_pad_ld says. */
static size_t af_ld(int k) {
    return lx_gemm_pad_ld((size_t)k);
}

/* Rows [i0, i1) of A rounded to bf16 and widened back, [m, k] with stride af_ld(k), into
 * af (from op->ab, exactly, when the caller gave A rounded). */
static void round_a_f32_rows(const lx_cpu *cpu, const lx_gemm_op *op, float *af,
                             int i0, int i1) {
    if (op->ab) {
        for (int i = i0; i < i1; i++)
            widen(cpu, af + (size_t)i * af_ld(op->k), op->ab + (size_t)i * op->ldab, op->k, 1);
        return;
    }
    for (int i = i0; i < i1; i++)
        lx_k_round_f32(af + (size_t)i * af_ld(op->k), op->a + (size_t)i * op->lda, op->k,
                       cpu ? cpu->isa : LX_ISA_PORTABLE);
}

static void round_a_f32(const lx_cpu *cpu, const lx_gemm_op *op, float *af) {
    round_a_f32_rows(cpu, op, af, 0, op->m);
}

/* af: for LX_GEMM_BF16, A already rounded and widened (stride af_ld(k)), or NULL to do it
 * here. */
static int range_portable(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                          const float *af, lx_gemm_scratch *s, lx_error *err) {
    int m = op->m, k = op->k;
    int nb = (int)(W_TILE_BYTES / ((size_t)k * 4));
    if (nb < 16) nb = 16;
    if (nb > n1 - n0) nb = n1 - n0;
    int round = op->kind == LX_GEMM_BF16 && !af;
    size_t abytes = round ? (((size_t)m * af_ld(k) * 4 + 63) & ~(size_t)63) : 0;
    char *buf = scratch_get(s, abytes + (size_t)nb * k * 4, err);
    if (!buf) return -1;
    const float *a = op->a;
    size_t lda = op->lda;
    if (op->kind == LX_GEMM_BF16) {
        if (round) round_a_f32(cpu, op, (float *)buf);
        a = af ? af : (const float *)buf;
        lda = af_ld(k);
    }
    float *wt = (float *)(buf + abytes);
    for (int j0 = n0; j0 < n1; j0 += nb) {
        int jn = n1 - j0 < nb ? n1 - j0 : nb;
        for (int j = 0; j < jn; j++)
            widen(cpu, wt + (size_t)j * k, op->w + (size_t)(j0 + j) * op->ldw, k,
                  op->kind != LX_GEMM_F16);
        /* the bias goes into C first and the product is added onto it (beta = 1), which
         * spares OpenBLAS a pass of its own over C (setting it to zero) and us a second */
        if (op->bias)
            for (int i = 0; i < m; i++) {
                float *ci = op->c + (size_t)i * op->ldc + j0;
                if (op->accumulate)
                    for (int j = 0; j < jn; j++) ci[j] += op->bias[j0 + j];
                else
                    memcpy(ci, op->bias + j0, (size_t)jn * sizeof *ci);
            }
        lx_sgemm(CblasNoTrans, CblasTrans, m, jn, k, 1.0f, a, (int)lda,
                    wt, k, op->accumulate || op->bias ? 1.0f : 0.0f, op->c + j0,
                    (int)op->ldc);
    }
    return 0;
}

/* Rows of A rounded to bf16 for the vdpbf16ps kernels: stride (elements), zero padded. */
static size_t ab_stride(int k) {
    return ((size_t)k + 31) & ~(size_t)31;
}

static void round_a_rows(const lx_gemm_op *op, uint16_t *ab, int i0, int i1) {
    size_t ldab = ab_stride(op->k);
    for (int i = i0; i < i1; i++)
        lx_k_round_bf16_avx512(ab + (size_t)i * ldab, op->a + (size_t)i * op->lda, op->k,
                               (int)ldab);
}

/* ab_shared: A already rounded (rows ldab_shared apart: by the caller, or by lx_gemm for
 * all its threads), or NULL to round it here.  Returns 1 when the kernel wrote op->cb
 * itself (the packed one's GELU epilogue), 0 when C is in op->c, -1 on error. */
static int range_avx512(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                        const uint16_t *ab_shared, size_t ldab_shared, lx_gemm_scratch *s,
                        lx_error *err) {
    int m = op->m, n = n1 - n0, k = op->k;
    const uint16_t *w = op->w + (size_t)n0 * op->ldw;
    const float *bias = op->bias ? op->bias + n0 : NULL;
    float *c = op->c + n0;
    if (op->kind != LX_GEMM_BF16) {
        lx_gemm_w16f32_avx512(m, n, k, op->a, op->lda, w, op->ldw, op->kind == LX_GEMM_F16,
                              bias, c, op->ldc, op->accumulate);
        return 0;
    }
    if (cpu->bf16dp) {
        size_t ldab = ab_shared ? ldab_shared : ab_stride(k);
        size_t abytes = ab_shared ? 0 : (size_t)m * ldab * 2;
        int packed = m >= LX_GEMM_PACK_MIN_M;
        size_t pbytes = packed ? lx_gemm_pack_bytes(n, k) : 0;
        abytes = (abytes + 63) & ~(size_t)63;
        char *buf = NULL;
        if (abytes + pbytes && !(buf = scratch_get(s, abytes + pbytes, err))) return -1;
        const uint16_t *ab = ab_shared;
        if (!ab) {
            round_a_rows(op, (uint16_t *)buf, 0, m);
            ab = (const uint16_t *)buf;
        }
        if (packed && op->cb) {
            lx_gemm_bf16packed_gelu_avx512(m, n, k, ab, ldab, w, op->ldw, bias, op->cb + n0,
                                           op->ldcb, (uint16_t *)(buf + abytes));
            return 1;
        }
        if (packed)
            lx_gemm_bf16packed_avx512(m, n, k, ab, ldab, w, op->ldw, bias, c, op->ldc,
                                      op->accumulate, (uint16_t *)(buf + abytes));
        else
            lx_gemm_bf16dp_avx512(m, n, k, ab, ldab, w, op->ldw, bias, c, op->ldc,
                                  op->accumulate);
        return 0;
    }
    /* AVX-512 without the bf16 dot product: round A, then the exact kernel */
    float *af = scratch_get(s, (size_t)m * af_ld(k) * 4, err);
    if (!af) return -1;
    round_a_f32(cpu, op, af);
    lx_gemm_w16f32_avx512(m, n, k, af, af_ld(k), w, op->ldw, 0, bias, c, op->ldc,
                          op->accumulate);
    return 0;
}

/* Which kernels a product takes: our own, or widened tiles and cblas_sgemm?  The f32-FMA
 * kernels (exact bf16, f16; every kind on AVX2) reach about 2/3 of the FMA peak, OpenBLAS
 * about 9/10: with many rows, where widening the weights is cheap next to the products,
 * sgemm wins.  With few, OpenBLAS packs all of W for little arithmetic on it. */
enum { PATH_SGEMM, PATH_AVX2, PATH_AVX512 };
static int path_of(const lx_cpu *cpu, const lx_gemm_op *op) {
    if (!cpu) return PATH_SGEMM;
    if (cpu->isa >= LX_ISA_AVX512)
        return op->kind == LX_GEMM_BF16 || op->m < LX_GEMM_PACK_MIN_M ? PATH_AVX512 : PATH_SGEMM;
    return cpu->isa >= LX_ISA_AVX2 && op->m < LX_GEMM_PACK_MIN_M ? PATH_AVX2 : PATH_SGEMM;
}

/* The AVX2 kernel on columns [n0, n1); af as for range_portable. */
static int range_avx2(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                      const float *af, lx_gemm_scratch *s, lx_error *err) {
    const float *a = op->a;
    size_t lda = op->lda;
    if (op->kind == LX_GEMM_BF16) {
        if (!af) {
            float *t = scratch_get(s, (size_t)op->m * af_ld(op->k) * 4, err);
            if (!t) return -1;
            round_a_f32(cpu, op, t);
            af = t;
        }
        a = af;
        lda = af_ld(op->k);
    }
    lx_gemm_w16f32_avx2(op->m, n1 - n0, op->k, a, lda, op->w + (size_t)n0 * op->ldw, op->ldw,
                        op->kind == LX_GEMM_F16, op->bias ? op->bias + n0 : NULL, op->c + n0,
                        op->ldc, op->accumulate);
    return 0;
}

/* op->cb for the columns [n0, n1) of C already in op->c. */
static void gelu_out(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1) {
    for (int i = 0; i < op->m; i++)
        lx_k_gelu_bf16(op->cb + (size_t)i * op->ldcb + n0, op->c + (size_t)i * op->ldc + n0,
                       NULL, (size_t)(n1 - n0), cpu->isa);
}

/* LX_GEMM_I8 on columns [n0, n1): qa is A quantized (for all threads), or NULL to
 * quantize it here. */
static int range_i8(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                    const lx_qrows *qa, lx_gemm_scratch *s, lx_error *err) {
    lx_qrows own;
    if (!qa) {
        void *buf = scratch_get(s, lx_qrows_bytes(op->m, op->k), err);
        if (!buf) return -1;
        lx_qrows_at(&own, buf, op->m, op->k);
        lx_qrows_fill(cpu ? cpu->isa : LX_ISA_PORTABLE, op->a, op->lda, op->k, &own, 0, op->m);
        qa = &own;
    }
    lx_gemm_i8_range(cpu, op, qa, n0, n1);
    return 0;
}

/* ab: A rounded to bf16 for the vdpbf16ps kernels, or NULL; af: A rounded and widened for
 * the others (LX_GEMM_BF16 only), or NULL: each rounds it itself when not given; qa: A
 * quantized for LX_GEMM_I8, or NULL (the same). */
static int range_unchecked(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                           const uint16_t *ab, size_t ldab, const float *af,
                           const lx_qrows *qa, lx_gemm_scratch *s, lx_error *err) {
    if (op->m == 0 || n1 <= n0) return 0;
    int done = 0, path = path_of(cpu, op); /* done 1: the kernel wrote op->cb itself */
    if (op->k == 0) bias_only(op, n0, n1);
    else if (op->kind == LX_GEMM_I8) done = range_i8(cpu, op, n0, n1, qa, s, err);
    else if (path == PATH_AVX512) done = range_avx512(cpu, op, n0, n1, ab, ldab, s, err);
    else if (path == PATH_AVX2) done = range_avx2(cpu, op, n0, n1, af, s, err);
    else done = range_portable(cpu, op, n0, n1, af, s, err);
    if (done < 0) return -1;
    if (op->cb && !done) gelu_out(cpu, op, n0, n1);
    return 0;
}

int lx_gemm_range(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                  lx_gemm_scratch *s, lx_error *err) {
    if (check_op(op, err) < 0) return -1;
    if (n0 < 0 || n1 < n0 || n1 > op->n)
        return lx_error_set(err, "gemm: got column range [%d, %d), expected within [0, %d]",
                            n0, n1, op->n);
    return range_unchecked(cpu, op, n0, n1, op->ab, op->ldab, NULL, NULL, s, err);
}

/* ---- threads ------------------------------------------------------------ */

typedef struct share_ctx {
    const lx_cpu *cpu;
    const lx_gemm_op *op;
    const uint16_t *ab;           /* A rounded to bf16 for every share, or NULL */
    size_t ldab;
    uint16_t *abw;                /* where round_share writes it (s[0].abuf) */
    float *af;                    /* or A rounded and widened back to f32 (s[0].abuf) */
    const lx_qrows *qa;           /* or A quantized for LX_GEMM_I8 (in s[0].abuf) */
    lx_qrows qrows;
    lx_gemm_scratch *s;
    int nt, chunk;                /* threads used, columns per work item (a multiple of 32) */
    atomic_int next;              /* the next work item */
    atomic_int failed;
    lx_error *err;
} share_ctx;

/* Work items (column ranges) are taken from a shared counter, so a thread that runs late
 * (a busy machine) does fewer of them rather than holding the others at the end. */
static void share_run(void *arg, int t, int n) {
    (void)n; /* x->nt of the pool's n threads do work */
    share_ctx *x = arg;
    if (t >= x->nt) return;
    for (;;) {
        long long j0 = (long long)atomic_fetch_add(&x->next, 1) * x->chunk;
        if (j0 >= x->op->n || atomic_load(&x->failed)) return;
        int n1 = j0 + x->chunk < x->op->n ? (int)j0 + x->chunk : x->op->n;
        lx_error e = {0};
        if (range_unchecked(x->cpu, x->op, (int)j0, n1, x->ab, x->ldab, x->af, x->qa, &x->s[t],
                            &e) < 0) {
            if (atomic_exchange(&x->failed, 1) == 0 && x->err)
                memcpy(x->err->msg, e.msg, sizeof e.msg);
            return;
        }
    }
}

static void round_share(void *arg, int t, int n) {
    share_ctx *x = arg;
    int m = x->op->m, i0 = (int)((long long)m * t / n), i1 = (int)((long long)m * (t + 1) / n);
    if (x->qa)
        lx_qrows_fill(x->cpu ? x->cpu->isa : LX_ISA_PORTABLE, x->op->a, x->op->lda, x->op->k,
                      x->qa, i0, i1);
    else if (x->af) round_a_f32_rows(x->cpu, x->op, x->af, i0, i1);
    else round_a_rows(x->op, x->abw, i0, i1);
}

int lx_gemm(const lx_cpu *cpu, const lx_gemm_op *op, lx_pool *pool,
            lx_gemm_scratch *s, lx_error *err) {
    if (check_op(op, err) < 0) return -1;
    /* enough work per thread to pay for waking it, and at least 4 columns each */
    double macs = (double)op->m * op->n * op->k;
    int path = path_of(cpu, op);
    /* our own kernels (int8 has no sgemm route), or sgemm: OpenBLAS's threads when it has
     * them */
    int own = op->kind == LX_GEMM_I8 || path != PATH_SGEMM;
    int nt = own || lx_blas_threads() == 1 ? lx_pool_size(pool) : 1;
    while (nt > 1 && (macs / nt < MT_MIN_MACS || op->n / nt < 4)) nt--;
    if (nt == 1)
        return range_unchecked(cpu, op, 0, op->n, op->ab, op->ldab, NULL, NULL, &s[0], err);
    /* two work items per thread with many rows (each packs its own columns of W), four
     * with few; multiples of 32 columns (one packed panel).  One per thread on the sgemm
     * route: each cblas_sgemm call packs all of A again */
    int items = nt * (!own ? 1 : op->m >= LX_GEMM_PACK_MIN_M ? 2 : 4);
    int chunk = (op->n + items - 1) / items;
    chunk = (chunk + 31) & ~31;
    share_ctx x = {.cpu = cpu, .op = op, .ab = op->ab, .ldab = op->ldab, .s = s, .nt = nt,
                   .chunk = chunk, .err = err};
    if (op->kind == LX_GEMM_I8 && op->k > 0) {
        /* every work item needs all of A quantized: once, by all threads when there are
         * many rows, else on this one */
        void *buf = buf_get(&s[0].abuf, &s[0].acap, lx_qrows_bytes(op->m, op->k), err);
        if (!buf) return -1;
        lx_qrows_at(&x.qrows, buf, op->m, op->k);
        x.qa = &x.qrows;
        if (op->m >= LX_GEMM_PACK_MIN_M) lx_pool_run(pool, round_share, &x);
        else lx_qrows_fill(cpu ? cpu->isa : LX_ISA_PORTABLE, op->a, op->lda, op->k, x.qa, 0,
                           op->m);
    } else if (op->kind == LX_GEMM_BF16 && path != PATH_AVX512 && op->k > 0) {
        /* the same for the paths that compute in f32: A rounded (or op->ab widened) */
        x.af = buf_get(&s[0].abuf, &s[0].acap, (size_t)op->m * af_ld(op->k) * 4, err);
        if (!x.af) return -1;
        if (op->m >= LX_GEMM_PACK_MIN_M) lx_pool_run(pool, round_share, &x);
        else round_a_f32(cpu, op, x.af);
    } else if (!op->ab && op->kind == LX_GEMM_BF16 && cpu->bf16dp && op->k > 0) {
        /* every work item needs all of A rounded: round it once, by all threads when
         * there are many rows, else on this one (a second wake-up would cost more) */
        x.abw = buf_get(&s[0].abuf, &s[0].acap, (size_t)op->m * ab_stride(op->k) * 2, err);
        if (!x.abw) return -1;
        if (op->m >= LX_GEMM_PACK_MIN_M) lx_pool_run(pool, round_share, &x);
        else round_a_rows(op, x.abw, 0, op->m);
        x.ab = x.abw;
        x.ldab = ab_stride(op->k);
    }
    lx_pool_run(pool, share_run, &x);
    return atomic_load(&x.failed) ? -1 : 0;
}

/* ---- f32 weights ----------------------------------------------------------- */

/* few: the few-row kernels (AVX-512, AVX2) whatever m is */
static void f32_cols(lx_isa isa, int few, int m, int k, const float *a, size_t lda,
                     const float *w, const float *bias, float *c, size_t ldc, int n0, int n1,
                     int gelu, float *pack) {
    if (m <= 0 || n1 <= n0) return;
    w += (size_t)n0 * (size_t)k;
    if (bias) bias += n0;
    c += n0;
    if (isa >= LX_ISA_AVX512 && few) {
        /* Few rows: OpenBLAS would copy (pack) all of W for little arithmetic on it. */
        lx_gemm_f32_avx512(m, n1 - n0, k, a, lda, w, (size_t)k, bias, c, ldc, 0);
    } else if (isa == LX_ISA_AVX2 && few) {
        /* the same on AVX2 (OpenBLAS's copy of W was a third of a batch-1 run) */
        lx_gemm_f32_avx2(m, n1 - n0, k, a, lda, w, (size_t)k, bias, c, ldc, 0);
    } else if (isa >= LX_ISA_AVX512 && pack) {
        /* Many rows: OpenBLAS would pack A again in every thread, and set C in a pass of
         * its own (zeros, or the bias copied in first). */
        lx_gemm_f32packed_avx512(m, n1 - n0, k, a, lda, w, (size_t)k, bias, c, ldc, 0, gelu,
                                 pack);
        return;
    } else {
        /* the bias goes into c first and the product is accumulated onto it (beta = 1) */
        if (bias)
            for (int i = 0; i < m; i++)
                memcpy(c + (size_t)i * ldc, bias, (size_t)(n1 - n0) * sizeof *c);
        lx_sgemm(CblasNoTrans, CblasTrans, m, n1 - n0, k, 1.0f, a, (int)lda,
                    w, k, bias ? 1.0f : 0.0f, c, (int)ldc);
    }
    if (gelu)
        for (int i = 0; i < m; i++) lx_k_gelu(c + (size_t)i * ldc, NULL, (size_t)(n1 - n0), isa);
}

void lx_gemm_f32_cols(lx_isa isa, int m, int n, int k, const float *a, size_t lda,
                      const float *w, const float *bias, float *c, size_t ldc, int n0, int n1,
                      int gelu, float *pack) {
    (void)n;
    f32_cols(isa, m <= LX_GEMM_F32_FEW_ROWS, m, k, a, lda, w, bias, c, ldc, n0, n1, gelu, pack);
}

void lx_gemm_f32_cols_rowwise(lx_isa isa, int m, int n, int k, const float *a, size_t lda,
                              const float *w, const float *bias, float *c, size_t ldc, int n0,
                              int n1, int gelu) {
    (void)n;
    f32_cols(isa, 1, m, k, a, lda, w, bias, c, ldc, n0, n1, gelu, NULL);
}

/* ---- attention -------------------------------------------------------------- */

void lx_gemm_attention(lx_isa isa, const float *q, const float *k, const float *v, size_t ld,
                       int lq, int lk, int dh, float scale, const float *mask, float *p,
                       float *ctx, size_t ldc) {
    if (lq <= 0) return;
    if (isa >= LX_ISA_AVX512)
        lx_gemm_f32_avx512(lq, lk, dh, q, ld, k, ld, NULL, p, (size_t)lk, 0);
    else if (isa >= LX_ISA_AVX2)
        lx_gemm_f32_avx2(lq, lk, dh, q, ld, k, ld, NULL, p, (size_t)lk, 0);
    else
        lx_sgemm(CblasNoTrans, CblasTrans, lq, lk, dh, 1.0f, q, (int)ld, k,
                    (int)ld, 0.0f, p, lk);
    for (int a = 0; a < lq; a++) lx_k_softmax_masked(p + (size_t)a * lk, mask, scale, lk, isa);
    if (isa >= LX_ISA_AVX512)
        lx_gemm_pv_avx512(lq, lk, dh, p, (size_t)lk, v, ld, ctx, ldc);
    else if (isa >= LX_ISA_AVX2)
        lx_gemm_pv_avx2(lq, lk, dh, p, (size_t)lk, v, ld, ctx, ldc);
    else
        lx_sgemm(CblasNoTrans, CblasNoTrans, lq, dh, lk, 1.0f, p, lk, v,
                    (int)ld, 0.0f, ctx, (int)ldc);
}
