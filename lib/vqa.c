/*
 * vqa.c — from the answer head's logits to answers: the label list, top-k and scores.
 *
 * The head itself (Linear(H, 2H) -> GELU -> LayerNorm -> Linear(2H, n_labels) on
 * pooled_output) is lx_net_qa_head in the network module; this file turns its
 * logits[n_labels] into {"answer", "label", "score", "logit"} picks.
 *
 * Labels (an lx_strlist) come from the model file (lx-convert --labels embeds LXMERT's
 * label2ans list) or from a JSON file read by lx_labels_read_file (config.c): label2ans,
 * ans2label or the pre-training table all_ans.json.
 *
 * Scores: VQA heads are trained with binary cross-entropy, so an answer's score is its
 * own sigmoid; GQA-style heads with softmax cross-entropy, so the score is the softmax
 * over all labels (computed in double, max-subtracted).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lx.h"

int lx_vqa_labels_from_model(lx_strlist *l, const lx_model *m, lx_error *err) {
    memset(l, 0, sizeof *l);
    size_t n = lx_model_nlabels(m);
    if (n == 0)
        return lx_error_set(err, "the model file carries no answer labels (convert it with "
                                 "lx-convert --labels, or give --labels FILE)");
    l->items = calloc(n, sizeof *l->items);
    if (!l->items)
        return lx_error_set(err, "out of memory for %zu labels", n);
    l->cap = n;
    for (; l->n < n; l->n++) {
        const char *s = lx_model_label(m, l->n);
        if (!(l->items[l->n] = strdup(s ? s : ""))) {
            lx_strlist_free(l);
            return lx_error_set(err, "out of memory");
        }
    }
    return 0;
}

int lx_vqa_scoring_parse(const char *s, lx_vqa_scoring *out) {
    if (strcmp(s, "sigmoid") == 0)
        *out = LX_SCORE_SIGMOID;
    else if (strcmp(s, "softmax") == 0)
        *out = LX_SCORE_SOFTMAX;
    else
        return -1;
    return 0;
}

/* 1 if (la, a) ranks before (lb, b): higher logit first, lower label on ties. */
static int before(float la, size_t a, float lb, size_t b) {
    return la > lb || (la == lb && a < b);
}

size_t lx_vqa_topk(const float *logits, size_t n, size_t k, lx_vqa_scoring scoring,
                   lx_vqa_pick *out) {
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    /* insertion into a sorted list of k: n * k at worst, k is small (top 5) */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float v = logits[i];
        if (m == k && !before(v, i, out[k - 1].logit, out[k - 1].label))
            continue;
        size_t j = m < k ? m++ : k - 1;
        while (j > 0 && before(v, i, out[j - 1].logit, out[j - 1].label)) {
            out[j] = out[j - 1];
            j--;
        }
        out[j].label = i;
        out[j].logit = v;
    }
    if (scoring == LX_SCORE_SOFTMAX) {
        double mx = out[0].logit, sum = 0; /* out[0] holds the largest logit */
        for (size_t i = 0; i < n; i++)
            sum += exp((double)logits[i] - mx);
        for (size_t j = 0; j < k; j++)
            out[j].score = (float)(exp((double)out[j].logit - mx) / sum);
    } else {
        for (size_t j = 0; j < k; j++)
            out[j].score = (float)(1.0 / (1.0 + exp(-(double)out[j].logit)));
    }
    return k;
}

json_t *lx_vqa_picks_json(const lx_vqa_pick *p, size_t k, const lx_strlist *l) {
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t j = 0; j < k; j++) {
        json_t *o = json_object();
        const char *ans = p[j].label < l->n ? l->items[p[j].label] : "";
        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
        json_object_set_new(o, "answer", json_string(ans));
        json_object_set_new(o, "label", json_integer((json_int_t)p[j].label));
        json_object_set_new(o, "score", json_real(p[j].score));
        json_object_set_new(o, "logit", json_real(p[j].logit));
    }
    return a;
}
