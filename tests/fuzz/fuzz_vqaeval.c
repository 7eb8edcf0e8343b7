/*
 * fuzz_vqaeval — the VQA evaluation's answer normalisation and scoring (lib/vqaeval.c):
 * the input's lines are a predicted answer and then the human answers (at most ten), as
 * lx-vqa --eval reads them from records.  Every normalisation step must give a string,
 * and the accuracy must lie in [0, 1].
 */
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    const char *lines[11];
    size_t n = 0;
    char *p = text;
    /* NUL-terminated lines (a NUL byte ends the text there, as in a C string) */
    while (n < 11) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    for (size_t i = 0; i < n; i++) {
        char *c = lx_vqa_clean(lines[i]), *u = lx_vqa_punct(lines[i]), *w = lx_vqa_words(lines[i]),
             *z = lx_vqa_normalize(lines[i]);
        if (!c || !u || !w || !z) abort();
        free(c), free(u), free(w), free(z);
    }
    double acc = -1;
    lx_error err = {0};
    if (lx_vqa_accuracy(lines + 1, n - 1, lines[0], &acc, &err) == 0) {
        if (!(acc >= 0 && acc <= 1)) fuzz_fail("accuracy %g outside [0, 1]", acc);
    } else if (!err.msg[0]) {
        abort();
    }
    free(text);
    return 0;
}
