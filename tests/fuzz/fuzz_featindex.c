/*
 * fuzz_featindex — the feature index file (the .lxi beside a TSV, lib/featindex.c): the
 * input as the index of a fixed small TSV (FUZZ_INDEX_TSV), opened with
 * lx_featindex_open, then every key the input's entries name looked up.  A damaged
 * index is rebuilt from the TSV (and kept in memory: no file can be written beside an
 * in-memory one).
 *
 * Before the input is read, the fields a mutation would nearly always break are set
 * right: the TSV's size and mtime at bytes 16..40 (else the index is stale) and the
 * CRC-32 at the end.  Those checks are tested in tests/unit/test_tsv.c.
 */
#include <sys/stat.h>
#include <zlib.h>
#include "fuzz.h"
#include "bytes.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char tsv[] = FUZZ_INDEX_TSV;
    const char *tsv_path = fuzz_path_at(1, (const uint8_t *)tsv, sizeof tsv - 1);
    struct stat st;
    if (stat(tsv_path, &st) < 0) abort();
    uint8_t *p = malloc(size ? size : 1);
    if (!p) abort();
    if (size) memcpy(p, data, size);
    if (size >= 60) {
        lx_wr_u64(p + 16, (uint64_t)st.st_size);
        lx_wr_u64(p + 24, (uint64_t)st.st_mtim.tv_sec);
        lx_wr_u64(p + 32, (uint64_t)st.st_mtim.tv_nsec);
        lx_wr_u32(p + size - 4, (uint32_t)crc32(crc32(0, NULL, 0), p, (uInt)(size - 4)));
    }
    const char *ix_path = fuzz_path_at(0, p, size);
    lx_error err = {0};
    lx_featindex *ix = lx_featindex_open(tsv_path, ix_path, 64, &err);
    if (!ix) {
        if (!err.msg[0]) abort();
        free(p);
        return 0;
    }
    /* the keys the input's entries point at, found or not */
    if (size >= 56) {
        uint64_t n = lx_rd_u64(p + 40);
        for (uint64_t i = 0; i < n && i < 64 && 56 + 24 * (i + 1) <= size; i++) {
            const uint8_t *e = p + 56 + 24 * i;
            uint64_t ko = lx_rd_u32(e + 16), kl = lx_rd_u32(e + 20), base = 56 + 24 * n;
            if (n > size / 24 || base > size || ko > size - base || kl > size - base - ko)
                continue;
            uint64_t off, len;
            if (lx_featindex_find(ix, (const char *)p + base + ko, kl, &off, &len) == 1 &&
                (off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - off))
                fuzz_fail("a found line lies outside the TSV");
        }
    }
    static const char *const keys[] = {"img1", "42", "COCO_9", "z", "0042", ""};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        uint64_t off, len;
        if (lx_featindex_find(ix, keys[i], strlen(keys[i]), &off, &len) == 1 &&
            (off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - off))
            fuzz_fail("a found line lies outside the TSV");
    }
    lx_featindex_close(ix);
    free(p);
    return 0;
}
