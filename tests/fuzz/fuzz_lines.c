/*
 * fuzz_lines — the reader of files of one entry a line (lx_lines_read_file in
 * lib/config.c: vocab.txt, the detector's object and attribute names) and the vocabulary
 * built from such a file (lx_vocab_load in lib/vocab.c): the input as the file.  Every
 * entry read must be found again in the vocabulary, at its own line or a later one (a
 * token given twice is found at its last line, as in HF).
 */
#include "fuzz.h"
#include "lx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path(data, size);
    lx_strlist l;
    lx_error err = {0};
    if (lx_lines_read_file(&l, path, &err) < 0) {
        if (!err.msg[0] || l.n || l.items) abort();
        return 0;
    }
    lx_vocab *v = lx_vocab_load(path, &err);
    if (!v) { /* a vocabulary has limits of its own (the length of a token) */
        if (!err.msg[0]) abort();
        lx_strlist_free(&l);
        return 0;
    }
    if (lx_vocab_size(v) != l.n) abort();
    for (size_t i = 0; i < l.n; i++) {
        size_t len = strlen(l.items[i]);
        int64_t id = lx_vocab_find(v, l.items[i], len);
        if (id < (int64_t)i || (size_t)id >= l.n || strcmp(lx_vocab_token(v, id), l.items[i]))
            abort();
    }
    lx_vocab_free(v);
    lx_strlist_free(&l);
    return 0;
}
