/*
 * load.c — an LXMERT checkpoint as lx-convert converts it (lx_checkpoint_load, lx.h):
 * the weights, mapped to HF's names and checked against the config; the config; the
 * vocabulary; the answer labels.
 *
 * Order matters: the config comes first (the names are checked against it); the labels
 * after the weights (whether there is a QA head, and how many rows it has, comes from
 * the weights).  Side files not given in the options are looked for beside the weights:
 * config.json, tokenizer_config.json (its do_lower_case), vocab.txt, label2ans.json.
 * A .lxm source carries its own config, vocabulary and labels; options override them.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../internal.h"
#include "ckpt.h"

/* dir/name when it is a regular file (malloc'd), else NULL. */
static char *side_file(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    struct stat st;
    if (!p) return NULL;
    snprintf(p, n, "%s/%s", dir, name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) return p;
    free(p);
    return NULL;
}

static int copy_strings(lx_strlist *l, size_t n, const char *(*get)(const lx_model *, size_t),
                        const lx_model *m, lx_error *err) {
    for (size_t i = 0; i < n; i++) {
        const char *s = get(m, i);
        if (lx_strlist_push(l, s, strlen(s), err) < 0) return -1;
    }
    return 0;
}

/* A .lxm source: its tensors as views, its config, vocabulary and labels. */
static int read_lxm(lx_checkpoint *ck, const char *src, lx_error *err) {
    lx_model *m = ck->model = lx_model_open(src, err);
    if (!m || !(ck->path = strdup(src))) return m ? lx_error_set(err, "out of memory") : -1;
    ck->config = *lx_model_config(m);
    for (size_t i = 0; i < lx_model_ntensors(m); i++) {
        lx_tensor t = *lx_model_tensor_at(m, i);
        t.owned = 0;
        if (lx_tensor_dict_add(&ck->tensors, lx_model_tensor_name(m, i), &t, err) < 0)
            return -1;
    }
    if (copy_strings(&ck->vocab, lx_model_vocab_size(m), lx_model_vocab_token, m, err) < 0 ||
        copy_strings(&ck->labels, lx_model_nlabels(m), lx_model_label, m, err) < 0)
        return -1;
    return 0;
}

/* The config: opts->config or config.json beside, over LXMERT-base; tokenizer_config.json's
 * do_lower_case. */
static int read_config(lx_checkpoint *ck, const char *dir, const char *path, lx_error *err) {
    char *p = path ? NULL : side_file(dir, "config.json");
    if (!path && !(path = p)) ck->notes |= LX_CHECKPOINT_NO_CONFIG;
    int rc = path ? lx_config_read_file(&ck->config, path, err) : 0;
    free(p);
    if (rc < 0 || !(p = side_file(dir, "tokenizer_config.json"))) return rc;
    json_t *j = json_load_file(p, 0, NULL);
    json_t *lc = json_object_get(j, "do_lower_case");
    if (json_is_boolean(lc)) ck->config.do_lower_case = json_is_true(lc);
    json_decref(j);
    free(p);
    return 0;
}

/* A side list (the vocabulary or the answers): path, else side_name beside (NULL: do not
 * look) into *l, which must then hold want entries ("%s: %zu tokens, but ..."). */
typedef int (*list_reader)(lx_strlist *l, const char *path, lx_error *err);
static int read_list(lx_strlist *l, list_reader read, const char *dir, const char *path,
                     const char *side_name, size_t want, const char *what, lx_error *err,
                     int *found) {
    char *p = path || !side_name ? NULL : side_file(dir, side_name);
    int rc = 0;
    *found = path || p;
    if (path || (path = p)) {
        lx_strlist_free(l);
        rc = read(l, path, err);
        if (rc == 0 && l->n != want)
            rc = lx_error_set(err, "%s: %zu %s", path, l->n, what);
    }
    free(p);
    return rc;
}

/* The vocabulary (opts->vocab or vocab.txt beside: as many tokens as vocab_size) and
 * the answers (opts->labels, or label2ans.json beside when there is a QA head: as many
 * as it has rows). */
static int read_lists(lx_checkpoint *ck, const char *dir, const lx_checkpoint_opts *o,
                      int lxm, lx_error *err) {
    const lx_config *c = &ck->config;
    char what[96];
    int found;
    snprintf(what, sizeof what, "tokens, but the model's vocab_size is %d", c->vocab_size);
    if ((o->vocab || !lxm) &&
        read_list(&ck->vocab, lx_lines_read_file, dir, o->vocab, "vocab.txt",
                  (size_t)c->vocab_size, what, err, &found) < 0)
        return -1;
    if ((o->vocab || !lxm) && !found) ck->notes |= LX_CHECKPOINT_NO_VOCAB;
    snprintf(what, sizeof what, "answers, but the QA head has %d", c->num_qa_labels);
    if ((o->labels || !lxm) &&
        read_list(&ck->labels, lx_labels_read_file, dir, o->labels,
                  c->num_qa_labels ? "label2ans.json" : NULL, (size_t)c->num_qa_labels, what,
                  err, &found) < 0)
        return -1;
    return 0;
}

int lx_checkpoint_load(lx_checkpoint *ck, const char *src, const lx_checkpoint_opts *opts,
                       lx_error *err) {
    static const lx_checkpoint_opts none = {0};
    const lx_checkpoint_opts *o = opts ? opts : &none;
    memset(ck, 0, sizeof *ck);
    lx_tensor_dict_init(&ck->tensors);
    lx_config_default(&ck->config);
    char *dir = lx_checkpoint_dir(src);
    int lxm = lx_model_probe(src), rc;
    if (!dir) return lx_error_set(err, "out of memory");
    if (lxm) /* the file's own config, then --config over it */
        rc = read_lxm(ck, src, err) < 0 || (o->config &&
             lx_config_read_file(&ck->config, o->config, err) < 0) ? -1 : 0;
    else
        rc = read_config(ck, dir, o->config, err) < 0 ||
             lx_checkpoint_read(&ck->tensors, src, &ck->path, err) < 0 ? -1 : 0;
    if (rc == 0 && lx_schema_normalize(&ck->tensors, &ck->config, o->flags, err) < 0)
        rc = lx_error_prefix(err, "%s", ck->path ? ck->path : src);
    if (rc == 0) rc = read_lists(ck, dir, o, lxm, err);
    free(dir);
    return rc;
}

void lx_checkpoint_free(lx_checkpoint *ck) {
    lx_tensor_dict_free(&ck->tensors);
    lx_strlist_free(&ck->vocab);
    lx_strlist_free(&ck->labels);
    free(ck->path);
    lx_model_close(ck->model);
    memset(ck, 0, sizeof *ck);
}
