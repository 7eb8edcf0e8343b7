/*
 * fuzz_zip — the zip reader (lib/ckpt/zipfile.c) under PyTorch's checkpoints: the
 * central directory of the input parsed, then every entry found by its name and read,
 * stored or deflated, with and without its CRC-32 checked (at most 1 MiB each, as a
 * caller bounds it by the tensor it expects).
 */
#include "fuzz.h"
#include "ckpt/zipfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lx_zip z;
    lx_error err = {0};
    if (lx_zip_open(&z, data, size, &err) < 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    for (size_t i = 0; i < z.n; i++) {
        const lx_zip_entry *e = &z.entries[i];
        if (!e->name || !lx_zip_find(&z, e->name)) abort();
        for (int crc = 0; crc < 2; crc++) {
            const void *b;
            void *own = NULL;
            if (lx_zip_read(&z, e, 1u << 20, crc, &b, &own, &err) == 0) {
                volatile uint8_t sink = 0;
                for (uint64_t k = 0; k < e->usize; k++) sink ^= ((const uint8_t *)b)[k];
                (void)sink;
            }
            free(own);
        }
    }
    lx_zip_close(&z);
    return 0;
}
