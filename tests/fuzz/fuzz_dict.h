/*
 * fuzz_dict.h — the checkpoint targets' one test: read the input as a checkpoint file and
 * touch every byte of every tensor it gives (a view must lie inside what it came from).
 */
#ifndef LX_FUZZ_DICT_H
#define LX_FUZZ_DICT_H

#include "fuzz.h"
#include "ckpt/ckpt.h"

/* read(d, path, err) on the input; unique: every name must find its own tensor (a
 * format whose names cannot repeat).  A failed read must say why. */
static inline void fuzz_read_dict(int (*read)(lx_tensor_dict *, const char *, lx_error *),
                                  const uint8_t *data, size_t size, int unique) {
    const char *path = fuzz_path(data, size);
    lx_tensor_dict d;
    lx_tensor_dict_init(&d);
    lx_error err = {0};
    if (read(&d, path, &err) == 0) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < d.n; i++) {
            const lx_tensor *t = &d.items[i].t;
            int64_t nb = lx_tensor_nbytes(t);
            if (nb < 0 || !d.items[i].name ||
                (unique && lx_tensor_dict_get(&d, d.items[i].name) != t))
                fuzz_fail("tensor %zu: a bad name or size", i);
            for (int64_t k = 0; k < nb; k++) sink ^= ((const uint8_t *)t->data)[k];
        }
        (void)sink;
    } else if (!err.msg[0]) {
        fuzz_fail("a failed read without a message");
    }
    lx_tensor_dict_free(&d);
}

#endif
