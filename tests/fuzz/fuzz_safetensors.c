/*
 * fuzz_safetensors — the safetensors reader (lib/ckpt/safetensors.c): the input as a
 * .safetensors file through lx_safetensors_read, then every tensor it gives read whole
 * (a view must lie inside the mapping it came from).
 */
#include "fuzz.h"
#include "ckpt/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path(data, size);
    lx_tensor_dict d;
    lx_tensor_dict_init(&d);
    lx_error err = {0};
    if (lx_safetensors_read(&d, path, &err) == 0) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < d.n; i++) {
            const lx_tensor *t = &d.items[i].t;
            int64_t nb = lx_tensor_nbytes(t);
            if (nb < 0 || !d.items[i].name || lx_tensor_dict_get(&d, d.items[i].name) != t)
                abort();
            for (int64_t k = 0; k < nb; k++) sink ^= ((const uint8_t *)t->data)[k];
        }
        (void)sink;
    } else if (!err.msg[0]) {
        abort();
    }
    lx_tensor_dict_free(&d);
    return 0;
}
