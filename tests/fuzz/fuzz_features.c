/*
 * fuzz_features — a feature TSV file as lx-embed-vis reads it (lib/tsv.c's line reader,
 * featindex.c building the offset index, featstore.c's lookups): the input as the file,
 * indexed with a 64-byte read buffer (so that lines are assembled across reads), then
 * the key of each of its first lines looked up and its regions parsed.  The index is
 * kept in memory (no index file can be written beside an in-memory file).
 */
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path(data, size);
    lx_error err = {0};
    const char *paths[1] = {path};
    lx_features *f = lx_features_open(paths, NULL, 1, 64, &err);
    if (!f) {
        if (!err.msg[0]) abort();
        return 0;
    }
    const lx_featindex *ix = lx_features_index(f, 0);
    if (!ix || lx_featindex_count(ix) > size) abort();
    lx_regions g;
    lx_regions_init(&g);
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 32 && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p), n = len;
        /* the line as lx_tsv_next gives it: without its newline and one '\r' */
        if (n && p[n - 1] == '\r') n--;
        char key[512];
        if (n && lx_tsv_line_key(p, n, key, sizeof key, NULL, &err) >= 0) {
            int rc = lx_features_lookup(f, key, &g, &err);
            if (rc == 0) fuzz_fail("key '%s' of a line of the file is not found", key);
            if (rc < 0 && !err.msg[0]) abort();
        }
        p += len + 1;
    }
    lx_regions_free(&g);
    lx_features_close(f);
    return 0;
}
