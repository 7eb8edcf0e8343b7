/*
 * net_ops.c — LXMERT's attention over a packed batch (net.h): every head of every record,
 * each over that record's own rows, spread over the runtime's pool.  (The other
 * operations are the networks' shared ones, ops.h.)
 */
#include <math.h>
#include <string.h>
#include "kernels.h"
#include "net.h"

/* ---- attention ------------------------------------------------------------------- */

typedef struct att_ctx {
    lx_net *net;
    const lx_rows *q, *k;
    float **probs;
} att_ctx;

/* Units [u0, u1) of (record, head) pairs, with thread t's score buffer. */
static void attend_units(lx_rt *rt, void *ctx, size_t u0, size_t u1, int t) {
    const att_ctx *c = ctx;
    const lx_net *net = c->net;
    const lx_state *s = &net->s;
    int H = net->H, dh = net->dh, ld = 3 * H;
    float scale = 1.0f / sqrtf((float)dh), *S = s->scores[t];
    for (size_t u = u0; u < u1; u++) {
        size_t i = u / (size_t)net->heads;
        int h = (int)(u % (size_t)net->heads), Lq = c->q->len[i], Lk = c->k->len[i];
        size_t qr = (size_t)(c->q->base + c->q->off[i]), kr = (size_t)(c->k->base + c->k->off[i]);
        const float *q = s->qkv + qr * ld + h * dh, *k = s->qkv + kr * ld + H + h * dh;
        lx_act ctx_h = lx_act_at(&s->ctx, (int)qr);
        ctx_h.f += h * dh;
        lx_gemm_attention(rt->cpu.isa, q, k, k + H, (size_t)ld, Lq, Lk, dh, scale,
                          s->madd + kr, S, ctx_h.f, ctx_h.ld);
        if (ctx_h.h) /* the output product's input, rounded while in L1 */
            for (int r = 0; r < Lq; r++)
                lx_k_round_bf16(ctx_h.h + (size_t)r * ctx_h.ldh + h * dh,
                                ctx_h.f + (size_t)r * ctx_h.ld, dh, dh, rt->cpu.isa);
        if (c->probs && c->probs[i])
            memcpy(c->probs[i] + (size_t)h * Lq * Lk, S, (size_t)Lq * Lk * sizeof *S);
    }
}

void lx_op_attention(lx_net *net, const lx_rows *q, const lx_rows *k, float **probs) {
    att_ctx c = {net, q, k, probs};
    lx_rt_for(&net->rt, q->n * (size_t)net->heads, 4.0 * 20 * 20 * net->dh, attend_units, &c,
              4);
}
