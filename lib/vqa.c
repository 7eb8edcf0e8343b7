/*
 * vqa.c — from the answer head's logits to answers: the label list, top-k and scores
 * (the one top-k of the library: lx-encode's fill-mask uses it too).
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

#include "internal.h"

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

int lx_scoring_parse(const char *s, lx_scoring *out) {
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

/* exp(x - mx) for a softmax whose largest logit is mx, with the limit where mx is +inf:
 * 1 for the +inf logits, 0 for the others (exp(inf - inf) would be NaN). */
static double softmax_term(double x, double mx) {
    if (isinf(mx) && mx > 0)
        return x == mx ? 1.0 : 0.0;
    return exp(x - mx);
}

size_t lx_topk(const float *logits, size_t n, size_t k, lx_scoring scoring, lx_pick *out) {
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    /* insertion into a sorted list of k: n * k at worst, k is small (top 5).  NaN is never
     * picked (it compares false with everything, so it would otherwise stick wherever it
     * landed, first included). */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float v = logits[i];
        if (isnan(v) || (m == k && !before(v, i, out[k - 1].logit, out[k - 1].index)))
            continue;
        size_t j = m < k ? m++ : k - 1;
        while (j > 0 && before(v, i, out[j - 1].logit, out[j - 1].index)) {
            out[j] = out[j - 1];
            j--;
        }
        out[j].index = i;
        out[j].logit = v;
    }
    if (m == 0)
        return 0;
    if (scoring == LX_SCORE_SOFTMAX) {
        double mx = out[0].logit, sum = 0; /* out[0] holds the largest logit */
        for (size_t i = 0; i < n; i++)
            if (!isnan(logits[i]))
                sum += softmax_term(logits[i], mx);
        for (size_t j = 0; j < m; j++)
            out[j].score = (float)(softmax_term(out[j].logit, mx) / sum);
    } else {
        for (size_t j = 0; j < m; j++)
            out[j].score = (float)(1.0 / (1.0 + exp(-(double)out[j].logit)));
    }
    return m;
}

json_t *lx_vqa_picks_json(const lx_pick *p, size_t k, const lx_strlist *l) {
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t j = 0; j < k; j++) {
        json_t *o = json_object();
        const char *ans = p[j].index < l->n ? l->items[p[j].index] : "";
        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
        /* every member, or none: json_real refuses what is not finite (a logit of +inf),
         * and a pick without its score must not pass for a whole one */
        if (json_object_set_new(o, "answer", json_string(ans)) < 0 ||
            json_object_set_new(o, "label", json_integer((json_int_t)p[j].index)) < 0 ||
            json_object_set_new(o, "score", json_real(p[j].score)) < 0 ||
            json_object_set_new(o, "logit", json_real(p[j].logit)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- answer labels ---------------------------------------------------------------- */

/* What a label value is, for messages. */
static const char *json_kind(const json_t *v) {
    return json_is_object(v) ? "an object" : json_is_string(v) ? "a string" : "a non-string";
}

int lx_labels_from_json(lx_strlist *l, const json_t *v, lx_error *err) {
    memset(l, 0, sizeof *l);
    int rc = 0;
    if (json_is_array(v)) {
        /* label2ans: strings, or LXMERT's all_ans.json entries {"ans": ..., "dsets": [...]} */
        size_t i;
        json_t *e;
        if (json_array_size(v) == 0) return lx_error_set(err, "no answers: got an empty list");
        json_array_foreach(v, i, e) {
            json_t *s = json_is_object(e) ? json_object_get(e, "ans") : e;
            if (!json_is_string(s)) {
                rc = lx_error_set(err, "labels[%zu]: got %s, expected an answer string or an "
                                       "object with \"ans\"", i,
                                  json_is_object(e) ? "an object without \"ans\"" : json_kind(e));
                break;
            }
            if (strlen(json_string_value(s)) != json_string_length(s)) {
                rc = lx_error_set(err, "labels[%zu]: the answer holds a NUL character", i);
                break;
            }
            if ((rc = lx_strlist_push(l, json_string_value(s), json_string_length(s), err)) < 0)
                break;
        }
    } else if (json_is_object(v)) {
        /* ans2label: answer -> label; the labels must be exactly 0..n-1, each once.  The
         * object's size bounds every index, so nothing is sized by a number from the file. */
        size_t n = json_object_size(v);
        if (n == 0) return lx_error_set(err, "no answers: got an empty object");
        const char **byid = calloc(n, sizeof *byid);
        if (!byid) return lx_error_set(err, "out of memory");
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) {
            json_int_t id = json_is_integer(x) ? json_integer_value(x) : -1;
            if (id < 0 || (size_t)id >= n) {
                rc = lx_error_set(err, "labels[\"%s\"]: got %s, expected a label in 0..%zu", key,
                                  json_is_integer(x) ? "an out-of-range label" : "a non-integer",
                                  n - 1);
                break;
            }
            if (byid[id]) {
                rc = lx_error_set(err, "label %lld given to both \"%s\" and \"%s\"",
                                  (long long)id, byid[id], key);
                break;
            }
            byid[id] = key;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) rc = lx_strlist_push(l, byid[i], strlen(byid[i]), err);
        free(byid);
    } else {
        rc = lx_error_set(err, "got %s, expected a JSON array of answers (label2ans) or an "
                               "answer -> label object (ans2label)", json_kind(v));
    }
    if (rc < 0) lx_strlist_free(l);
    return rc;
}

int lx_labels_read_file(lx_strlist *l, const char *path, lx_error *err) {
    memset(l, 0, sizeof *l);
    json_t *j = lx_json_read_file(path, LX_JSON_FILE_MAX, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                                  err);
    if (!j) return -1;
    int rc = lx_labels_from_json(l, j, err);
    json_decref(j);
    if (rc < 0) lx_error_prefix(err, "%s", path);
    return rc;
}
