/*
 * net_state.c — the network's run state (lx_state, net.h): activation buffers sized from
 * the config and the largest batch seen, grown when a batch needs more, reused, so that
 * a steady stream of batches allocates nothing.
 */
#include <stdlib.h>
#include <string.h>
#include "net.h"

/* *p <- n fresh floats (64-byte aligned); the old buffer is freed. */
static int grow(float **p, size_t n) {
    float *q = lx_aligned_alloc((n ? n : 1) * sizeof *q);
    if (!q) return -1;
    free(*p);
    *p = q;
    return 0;
}

/* bf16 rows of n values: lx_gemm wants them a multiple of 32 apart (lx_gemm_op.ab). */
static size_t ld16(size_t n) {
    return (n + 31) & ~(size_t)31;
}

/* rows x act->ld floats, and with bf16 copies rows x act->ldh zeroed 16-bit values (the
 * padding past the row stays zero: no writer touches it). */
static int grow_act(lx_act *a, size_t rows, int bf16) {
    free(a->h);
    a->h = NULL;
    if (grow(&a->f, rows * a->ld) < 0) return -1;
    if (!bf16) return 0;
    if (!(a->h = lx_aligned_alloc(rows * a->ldh * sizeof *a->h))) return -1;
    memset(a->h, 0, rows * a->ldh * sizeof *a->h);
    return 0;
}

/* The row buffers, for rows (language + vision) rows. */
static int reserve_rows(lx_net *net, size_t rows) {
    lx_state *s = &net->s;
    size_t H = (size_t)net->H, r = rows + rows / 4;
    if (rows <= s->rows_cap) return 0;
    s->hs.ld = s->ctx.ld = H;
    s->hs.ldh = s->ctx.ldh = ld16(H);
    /* the intermediate's f32 rows padded off a multiple of 4 KiB (lx_gemm_pad_ld) */
    s->inter.ld = lx_gemm_pad_ld((size_t)net->isz);
    s->inter.ldh = ld16((size_t)net->isz);
    if (grow_act(&s->hs, r, net->bf16_acts) < 0 || grow_act(&s->ctx, r, net->bf16_acts) < 0 ||
        grow_act(&s->inter, r, net->bf16_acts) < 0 || grow(&s->qkv, r * 3 * H) < 0 ||
        grow(&s->tmp, r * H) < 0 || grow(&s->madd, r) < 0)
        return -1;
    s->rows_cap = r;
    return 0;
}

/* The per-record arrays, the pooled rows and the head outputs, for n records. */
static int reserve_records(lx_net *net, size_t n) {
    lx_state *s = &net->s;
    size_t wide = 2 * (size_t)net->H;
    if ((size_t)net->cfg.num_qa_labels > wide) wide = (size_t)net->cfg.num_qa_labels;
    if (n * wide > s->small_cap) {
        if (grow(&s->small, n * wide) < 0 || grow(&s->small2, n * wide) < 0) return -1;
        s->small_cap = n * wide;
    }
    if (n <= s->n_cap) return 0;
    int **arr[4] = {&s->lo, &s->ll, &s->vo, &s->vl};
    for (int k = 0; k < 4; k++) {
        int *a = realloc(*arr[k], n * sizeof *a);
        if (!a) return -1;
        *arr[k] = a;
    }
    s->n_cap = n;
    return 0;
}

int lx_net_state_reserve(lx_net *net, size_t n, size_t rows, size_t TN, size_t maxsc,
                         lx_error *err) {
    lx_state *s = &net->s;
    int oom = reserve_rows(net, rows) < 0 || reserve_records(net, n) < 0;
    if (!oom && TN > s->vis_cap) {
        size_t r = TN + TN / 4;
        oom = grow(&s->feats, r * (size_t)net->cfg.visual_feat_dim) < 0 ||
              grow(&s->pos, r * (size_t)net->cfg.visual_pos_dim) < 0;
        if (!oom) s->vis_cap = r;
    }
    if (!oom && maxsc > s->score_cap) {
        for (int t = 0; !oom && t < net->rt.nthreads; t++) oom = grow(&s->scores[t], maxsc) < 0;
        if (!oom) s->score_cap = maxsc;
    }
    if (oom)
        return lx_error_set(err, "out of memory for a batch of %zu records (%zu rows)", n, rows);
    return 0;
}

void lx_net_state_free(lx_state *s) {
    lx_act *acts[3] = {&s->hs, &s->ctx, &s->inter};
    for (int k = 0; k < 3; k++) {
        free(acts[k]->f);
        free(acts[k]->h);
    }
    free(s->qkv);
    free(s->tmp);
    free(s->madd);
    free(s->feats);
    free(s->pos);
    free(s->small);
    free(s->small2);
    free(s->lo);
    free(s->ll);
    free(s->vo);
    free(s->vl);
    for (int t = 0; t < LX_POOL_MAX; t++) {
        free(s->scores[t]);
    }
    memset(s, 0, sizeof *s);
}
