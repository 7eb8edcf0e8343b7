/*
 * i8deq — an int8 model's weights back in f32, for measuring where int8's error comes
 * from (scripts/int8-accuracy):
 *
 *   i8deq INT8.lxm OUT.lxm
 *
 * OUT holds every tensor of INT8.lxm, each int8 matrix replaced by its values q[j][k] s[j]
 * in f32 (its scales dropped), so that the network computes exactly on the quantized
 * weights: OUT against the f32 model is the weights' rounding alone, the int8 model
 * against OUT the activations' rounding alone.  lx-convert refuses to widen an int8
 * model, since the result would pass for the original weights; this tool is for
 * measurements only.
 */
#include <stdio.h>
#include <string.h>
#include "lx.h"

static int die(const char *what, const lx_error *err) {
    fprintf(stderr, "i8deq: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs("Usage: i8deq INT8.lxm OUT.lxm\n", stderr);
        return 2;
    }
    lx_error err = {0};
    lx_model *m = lx_model_open(argv[1], &err);
    if (!m) return die(argv[1], &err);
    lx_tensor_dict d;
    lx_tensor_dict_init(&d);
    size_t widened = 0;
    for (size_t i = 0; i < lx_model_ntensors(m); i++) {
        const char *name = lx_model_tensor_name(m, i);
        const lx_tensor *t = lx_model_tensor_at(m, i);
        lx_tensor v = *t;
        v.owned = 0;
        if (t->dtype == LX_I8) {
            char sn[512];
            snprintf(sn, sizeof sn, "%s_scale", name);
            const lx_tensor *sc = lx_model_tensor(m, sn); /* the loader checked its shape */
            if (!sc) {
                fprintf(stderr, "i8deq: %s: no %s\n", argv[1], sn);
                return 1;
            }
            if (lx_tensor_alloc(&v, LX_F32, t->ndim, t->shape, &err) < 0)
                return die(name, &err);
            int64_t rows = t->shape[0], cols = lx_tensor_nelem(t) / (rows ? rows : 1);
            const int8_t *q = t->data;
            const float *s = sc->data;
            float *f = v.data;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++) f[r * cols + c] = q[r * cols + c] * s[r];
            widened++;
        } else if (strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_scale") == 0) {
            continue; /* an int8 matrix's scales */
        }
        if (lx_tensor_dict_add(&d, name, &v, &err) < 0) return die(name, &err);
    }
    lx_model_spec sp = {.config = lx_model_config(m), .tensors = &d, .dtype = LX_F32};
    if (lx_model_write(argv[2], &sp, &err) < 0) return die(argv[2], &err);
    fprintf(stderr, "i8deq: %zu int8 matrices written in f32 to %s\n", widened, argv[2]);
    lx_tensor_dict_free(&d);
    lx_model_close(m);
    return 0;
}
