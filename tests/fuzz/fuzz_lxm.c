/*
 * fuzz_lxm — the .lxm loader (lib/lxm.c): lx_model_open on the input as a file, then
 * what the tools read of an open model (every tensor and alias by index and by name,
 * the name tables, the vocabulary, lx_model_verify's CRCs).
 *
 * Nearly every mutation breaks the header's CRC-32 or the data size the prefix gives
 * (the file is exactly data offset + data size bytes), and the loader rightly stops
 * there.  So that the fuzzer gets to the header itself, both are set right before the
 * input is opened: the CRC over the header length the input gives (when it fits), the
 * data size to what follows the data offset (when that is inside the input).  The two
 * checks are tested on their own in tests/unit/test_lxm.c.
 */
#include <zlib.h>
#include "fuzz.h"
#include "bytes.h"
#include "lx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) abort();
    if (size) memcpy(p, data, size);
    if (size >= 40) {
        uint64_t hlen = lx_rd_u64(p + 16), doff = lx_rd_u64(p + 24);
        if (hlen <= size - 40)
            lx_wr_u32(p + 12, (uint32_t)crc32(crc32(0, NULL, 0), p + 40, (uInt)hlen));
        if (doff <= size) lx_wr_u64(p + 32, size - doff);
    }
    const char *path = fuzz_path(p, size);
    free(p);
    lx_error err = {0};
    lx_model *m = lx_model_open(path, &err);
    if (!m) {
        if (!err.msg[0]) abort();
        return 0;
    }
    size_t n = lx_model_ntensors(m);
    for (size_t i = 0; i < n; i++) {
        const char *name = lx_model_tensor_name(m, i);
        const lx_tensor *t = lx_model_tensor_at(m, i);
        if (!name || !t || lx_model_tensor(m, name) != t) abort();
        if (lx_tensor_nbytes(t) < 0) abort();
    }
    for (size_t i = 0; i < lx_model_naliases(m); i++) {
        const char *target;
        const char *name = lx_model_alias(m, i, &target);
        if (!name || lx_model_tensor(m, name) != lx_model_tensor(m, target)) abort();
    }
    for (int t = 0; t < LX_TABLE_COUNT; t++) {
        size_t k;
        const char *const *s = lx_model_names(m, (lx_table)t, &k);
        for (size_t i = 0; s && i < k; i++)
            if (!s[i]) abort();
    }
    for (size_t i = 0; i < lx_model_vocab_size(m); i++)
        if (!lx_model_vocab_token(m, i)) abort();
    for (size_t i = 0; i < lx_model_nlabels(m); i++)
        if (!lx_model_label(m, i)) abort();
    lx_vocab *v = lx_model_vocab(m, &err);
    lx_vocab_free(v);
    (void)lx_model_verify(m, &err);
    (void)lx_model_config(m);
    (void)lx_model_detector_config(m);
    lx_model_close(m);
    return 0;
}
