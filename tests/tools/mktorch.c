/*
 * mktorch — write the tensors of a safetensors file as a PyTorch checkpoint, the way
 * torch.save(state_dict) lays it out, for tests and benchmarks (no Python needed).
 *
 *   mktorch [--legacy] [--deflate] IN.safetensors OUT.bin
 *
 * Default: the zip format (PyTorch >= 1.6): archive/data.pkl, archive/data/N (stored,
 * 64-byte aligned), archive/version, archive/byteorder, zip64 end records.  --legacy: the
 * pre-1.6 pickle sequence followed by the raw storages.  --deflate compresses the
 * storages of the zip (PyTorch itself never does; other zip tools may).  The pickle is
 * an OrderedDict of name -> _rebuild_tensor_v2(...), one storage per tensor.
 */
#include <stdio.h>
#include <string.h>
#include "lx.h"
#include "ckptgen.h"
#include "ckpt/ckpt.h"

static const char *storage_type(lx_dtype t) {
    switch (t) {
    case LX_F32: return "FloatStorage";
    case LX_F16: return "HalfStorage";
    case LX_BF16: return "BFloat16Storage";
    case LX_I64: return "LongStorage";
    case LX_I32: return "IntStorage";
    default: return "ByteStorage";
    }
}

int main(int argc, char **argv) {
    int legacy = 0, deflate = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--legacy")) legacy = 1;
        else if (!strcmp(argv[a], "--deflate")) deflate = 1;
        else break;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: mktorch [--legacy] [--deflate] IN.safetensors OUT.bin\n");
        return 2;
    }
    lx_tensor_dict d;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    if (lx_safetensors_read(&d, argv[a], &err) < 0) {
        fprintf(stderr, "mktorch: %s\n", err.msg);
        return 1;
    }
    size_t n = d.n;
    char (*keys)[32] = calloc(n ? n : 1, sizeof *keys);
    gbuf pkl = {0};
    pk_proto(&pkl);
    pk_global(&pkl, "collections", "OrderedDict");
    pk_op(&pkl, ')');
    pk_op(&pkl, 'R');
    pk_op(&pkl, '(');
    for (size_t i = 0; i < n; i++) {
        const lx_tensor *t = &d.items[i].t;
        int64_t stride[LX_MAX_DIMS];
        contig_strides(t->ndim, t->shape, stride);
        snprintf(keys[i], sizeof keys[i], "%s%zu", legacy ? "94" : "", i);
        pk_str(&pkl, d.items[i].name);
        pk_tensor(&pkl, storage_type(t->dtype), keys[i], lx_tensor_nelem(t), 0, t->ndim,
                  t->shape, stride);
    }
    pk_op(&pkl, 'u');
    pk_op(&pkl, '.');
    gbuf out = {0};
    if (legacy) {
        const char **kp = calloc(n ? n : 1, sizeof *kp);
        int64_t *cnt = calloc(n ? n : 1, sizeof *cnt);
        const void **data = calloc(n ? n : 1, sizeof *data);
        size_t *es = calloc(n ? n : 1, sizeof *es);
        for (size_t i = 0; i < n; i++) {
            kp[i] = keys[i];
            cnt[i] = lx_tensor_nelem(&d.items[i].t);
            data[i] = d.items[i].t.data;
            es[i] = lx_dtype_size(d.items[i].t.dtype);
        }
        legacy_write(&out, &pkl, (int)n, kp, cnt, data, es);
        free(kp), free(cnt), free(data), free(es);
    } else {
        gzip_entry *e = calloc(n + 3, sizeof *e);
        char (*names)[48] = calloc(n ? n : 1, sizeof *names);
        e[0] = (gzip_entry){"archive/data.pkl", pkl.b, pkl.n, 0};
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "archive/data/%s", keys[i]);
            e[i + 1] = (gzip_entry){names[i], d.items[i].t.data,
                                    (size_t)lx_tensor_nbytes(&d.items[i].t), deflate};
        }
        e[n + 1] = (gzip_entry){"archive/version", "3\n", 2, 0};
        e[n + 2] = (gzip_entry){"archive/byteorder", "little", 6, 0};
        gzip_write(&out, e, (int)n + 3, 1);
        free(e);
        free(names);
    }
    int rc = g_write_file(argv[a + 1], out.b, out.n);
    if (rc < 0) fprintf(stderr, "mktorch: cannot write %s\n", argv[a + 1]);
    g_free(&out);
    g_free(&pkl);
    free(keys);
    lx_tensor_dict_free(&d);
    return rc < 0 ? 1 : 0;
}
