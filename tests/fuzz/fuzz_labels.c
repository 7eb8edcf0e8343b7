/*
 * fuzz_labels — the answer-label reader (lx_labels_read_file in lib/vqa.c): the input as
 * a label file (label2ans, ans2label or LXMERT's all_ans.json).  What it reads becomes
 * answers the way lx-vqa shows them (lx_vqa_picks_json).
 */
#include "fuzz.h"
#include "lx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path(data, size);
    lx_strlist l;
    lx_error err = {0};
    if (lx_labels_read_file(&l, path, &err) < 0) {
        if (!err.msg[0] || l.n || l.items) abort();
        return 0;
    }
    if (l.n == 0) abort();
    lx_pick p[3];
    float logits[3] = {0.5f, -1.0f, 2.0f};
    size_t n = l.n < 3 ? l.n : 3;
    size_t k = lx_topk(logits, n, 3, LX_SCORE_SIGMOID, p);
    json_t *j = lx_vqa_picks_json(p, k, &l);
    if (!j || json_array_size(j) != k) abort();
    json_decref(j);
    lx_strlist_free(&l);
    return 0;
}
