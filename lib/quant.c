/*
 * quant.c — int8 storage of a model's matrices (lx-convert --dtype int8; lxm(5)).
 *
 * Which matrices: those the schema marks int8 (lib/schema.c): the Linear weights of the
 * encoder layers, where almost all of the arithmetic and 85% of the base model's
 * parameters are.  The embeddings, LayerNorm, the pooler, the heads (whose logits the
 * answers are read from) and the visual projections visn_fc and box_fc stay f32: the
 * region features' rows are non-negative and heavy-tailed, and a row's largest value sets
 * its quantization step; in int8 the two projections moved the fixtures' vision_output
 * 20 times further from the reference (3.3e-2 against 1.6e-3).  (The network then runs
 * the projections with kernels that do not depend on the batch's size, lx_lin.rowwise:
 * a quantized layer after them would turn last-bit differences into whole steps.)
 *
 * How: symmetric and per output row.  Row j of W [out, in] becomes
 *
 *     s[j] = max_k |W[j][k]| / 127          (f32; 0 for a row of zeros)
 *     q[j][k] = round(W[j][k] / s[j])       (the quotient in double, to the nearest
 *                                            integer, ties to even)
 *
 * so that |q| <= 127 (never -128: the products' kernels rely on it) and W[j][k] is
 * q[j][k] s[j] within s[j] / 2.  The file stores q as an i8 tensor under the weight's
 * name and s as the f32 tensor NAME_scale [out] right after it.  The activations are
 * quantized at run time, row by row (lib/nn/gemm_i8.c).
 *
 * Writing goes through lx_model_write like the other dtypes: lx_quantize_spec builds the
 * quantized set of tensors, and the writer stores int8 tensors as they are and every
 * other float tensor in f32.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "schema.h"

float lx_quantize_row_i8(const float *x, size_t n, int8_t *q) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a <= 3.4028235e38f)) return -1.0f; /* inf or NaN */
        if (a > m) m = a;
    }
    float s = m / 127.0f;
    /* the quotient in double: rounding it to f32 first could move a value just under a
     * half step onto the half and round it the wrong way.  A scale below FLT_MIN is
     * subnormal, rounded by up to half of 2^-149, far more than its relative precision:
     * x / s could then pass 127.5; such rows (largest magnitude under 1.5e-36) are divided
     * by the scale in double instead, so |q| <= 127 always */
    double d = s >= FLT_MIN ? (double)s : (double)m / 127.0;
    for (size_t i = 0; i < n; i++) q[i] = m > 0.0f ? (int8_t)lrint((double)x[i] / d) : 0;
    return s;
}

/* t (a float [out, in] tensor) as int8 into *q and its row scales into *sc (owned). */
static int quantize_matrix(const char *name, const lx_tensor *t, lx_tensor *q, lx_tensor *sc,
                           lx_error *err) {
    int64_t out = t->shape[0], in = lx_tensor_nelem(t) / (out ? out : 1);
    if (lx_tensor_alloc(q, LX_I8, t->ndim, t->shape, err) < 0 ||
        lx_tensor_alloc(sc, LX_F32, 1, &out, err) < 0)
        return -1;
    float *row = malloc(((size_t)in + 1) * sizeof *row);
    if (!row) return lx_error_set(err, "out of memory");
    size_t es = lx_dtype_size(t->dtype);
    for (int64_t j = 0; j < out; j++) {
        lx_convert_to_f32(row, (const char *)t->data + (size_t)j * (size_t)in * es, t->dtype,
                          (size_t)in);
        float s = lx_quantize_row_i8(row, (size_t)in, (int8_t *)q->data + (size_t)j * (size_t)in);
        if (s < 0) {
            free(row);
            return lx_error_set(err, "%s: row %lld holds a value that is not finite: it cannot "
                                     "be stored in int8", name, (long long)j);
        }
        ((float *)sc->data)[j] = s;
    }
    free(row);
    return 0;
}

/* A view of t (the dict's tensor keeps its data). */
static int add_view(lx_tensor_dict *d, const char *name, const lx_tensor *t, lx_error *err) {
    lx_tensor v = *t;
    v.owned = 0;
    return lx_tensor_dict_add(d, name, &v, err);
}

int lx_quantize_spec(lx_tensor_dict *out, const lx_model_spec *sp, lx_error *err) {
    lx_tensor_dict_init(out);
    if (sp->kind != LX_MODEL_LXMERT || !sp->config)
        return lx_error_set(err, "int8 storage is for LXMERT's encoders; store the detector "
                                 "as f32, f16 or bf16");
    lx_schema s;
    if (lx_schema_build(&s, sp->config, err) < 0) return -1;
    const lx_tensor_dict *d = sp->tensors;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->n; i++) {
        const char *name = d->items[i].name;
        const lx_tensor *t = &d->items[i].t;
        const lx_schema_entry *e = lx_schema_find(&s, name);
        int fl = t->dtype == LX_F32 || t->dtype == LX_F16 || t->dtype == LX_BF16;
        if (!e || !e->int8 || !fl || t->ndim != 2) {
            rc = add_view(out, name, t, err);
            continue;
        }
        lx_tensor q = {0}, sc = {0};
        char sn[sizeof e->name + 8];
        snprintf(sn, sizeof sn, "%s_scale", name);
        if (quantize_matrix(name, t, &q, &sc, err) < 0 || lx_tensor_dict_add(out, name, &q, err) < 0 ||
            lx_tensor_dict_add(out, sn, &sc, err) < 0) {
            lx_tensor_free(&q);
            lx_tensor_free(&sc);
            rc = -1;
        }
    }
    lx_schema_free(&s);
    if (rc < 0) lx_tensor_dict_free(out);
    return rc;
}
