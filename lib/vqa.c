/*
 * vqa.c — from the answer head's logits to answers: the label list, top-k and scores.
 *
 * The head itself (Linear(H, 2H) -> GELU -> LayerNorm -> Linear(2H, n_labels) on
 * pooled_output) is lx_net_qa_head in the network module; this file turns its
 * logits[n_labels] into {"answer", "label", "score", "logit"} picks.
 *
 * Labels come from the model file (lx-convert --labels embeds LXMERT's label2ans list) or
 * from a JSON file: label2ans (an array, index = label), ans2label (an object answer ->
 * label whose values must be exactly 0..n-1, each once), or the pre-training table
 * all_ans.json (an array of {"ans", "dsets"} objects).
 *
 * Scores: VQA heads are trained with binary cross-entropy, so an answer's score is its
 * own sigmoid; GQA-style heads with softmax cross-entropy, so the score is the softmax
 * over all labels (computed in double, max-subtracted).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lx.h"

void lx_vqa_labels_free(lx_vqa_labels *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->ans[i]);
    free(l->ans);
    l->ans = NULL;
    l->n = 0;
}

static int labels_alloc(lx_vqa_labels *l, size_t n, lx_error *err) {
    l->n = 0;
    l->ans = calloc(n ? n : 1, sizeof *l->ans);
    if (!l->ans)
        return lx_error_set(err, "out of memory for %zu labels", n);
    l->n = n;
    return 0;
}

int lx_vqa_labels_from_json(lx_vqa_labels *l, const json_t *v, lx_error *err) {
    l->ans = NULL;
    l->n = 0;
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n == 0)
            return lx_error_set(err, "labels: got an empty list, expected answer strings");
        if (labels_alloc(l, n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            /* a string, or LXMERT's all_ans.json entry {"ans": ..., "dsets": [...]} */
            const json_t *e = json_array_get(v, i);
            const char *s = json_string_value(json_is_object(e) ? json_object_get(e, "ans") : e);
            if (!s) {
                lx_vqa_labels_free(l);
                return lx_error_set(err, "labels[%zu]: got %s, expected an answer string or "
                                         "an object with \"ans\"",
                                    i, json_is_object(e) ? "an object without \"ans\""
                                                         : "a non-string");
            }
            if (!(l->ans[i] = strdup(s))) {
                lx_vqa_labels_free(l);
                return lx_error_set(err, "out of memory");
            }
        }
        return 0;
    }
    if (json_is_object(v)) {
        /* ans2label: the object's size bounds every index, so nothing is sized by a
         * number read from the file */
        size_t n = json_object_size(v);
        if (n == 0)
            return lx_error_set(err, "labels: got an empty object, expected answer -> label");
        if (labels_alloc(l, n, err) < 0)
            return -1;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            json_int_t i = json_is_integer(val) ? json_integer_value(val) : -1;
            if (i < 0 || (size_t)i >= n) {
                lx_vqa_labels_free(l);
                return lx_error_set(err,
                                    "labels[\"%s\"]: got %s, expected a label in [0, %zu)",
                                    key, json_is_integer(val) ? "an out-of-range label"
                                                              : "a non-integer",
                                    n);
            }
            if (l->ans[i]) {
                lx_error_set(err, "labels: label %lld given to both \"%s\" and \"%s\"",
                             (long long)i, l->ans[i], key);
                lx_vqa_labels_free(l);
                return -1;
            }
            if (!(l->ans[i] = strdup(key))) {
                lx_vqa_labels_free(l);
                return lx_error_set(err, "out of memory");
            }
        }
        return 0; /* n distinct indices in [0, n): every label is filled */
    }
    return lx_error_set(err, "labels: got %s, expected a label2ans list or an ans2label object",
                        json_is_string(v) ? "a string" : "a non-container");
}

int lx_vqa_labels_read(lx_vqa_labels *l, const char *path, lx_error *err) {
    json_error_t je;
    l->ans = NULL;
    l->n = 0;
    json_t *v = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!v)
        return lx_error_set(err, "%s: line %d: %s", path, je.line, je.text);
    int rc = lx_vqa_labels_from_json(l, v, err);
    json_decref(v);
    if (rc < 0)
        lx_error_prefix(err, "%s", path);
    return rc;
}

int lx_vqa_labels_from_model(lx_vqa_labels *l, const lx_model *m, lx_error *err) {
    l->ans = NULL;
    l->n = 0;
    size_t n = lx_model_nlabels(m);
    if (n == 0)
        return lx_error_set(err, "the model file carries no answer labels (convert it with "
                                 "lx-convert --labels, or give --labels FILE)");
    if (labels_alloc(l, n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *s = lx_model_label(m, i);
        if (!(l->ans[i] = strdup(s ? s : ""))) {
            lx_vqa_labels_free(l);
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

json_t *lx_vqa_picks_json(const lx_vqa_pick *p, size_t k, const lx_vqa_labels *l) {
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t j = 0; j < k; j++) {
        json_t *o = json_object();
        const char *ans = p[j].label < l->n ? l->ans[p[j].label] : "";
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
