/*
 * load.c — a checkpoint as lx-convert converts it (lx_checkpoint_load, lx.h): the weights,
 * and what makes them a model of their kind.
 *
 *   LXMERT     the weights mapped to HF's names and checked against the config; the
 *              config; the vocabulary; the answer labels
 *   detector   the weights checked against the architecture their own shapes give; the
 *              test-time parameters of HF's config.yaml; the object and attribute names
 *
 * The weights come first: which kind they are (the detector's backbone.stem.conv1.weight
 * tells) decides what else is read.  LXMERT's config comes before its names are checked
 * (their shapes depend on it); its labels after (whether there is a QA head, and how many
 * rows it has, comes from the weights).  Side files not given in the options are looked
 * for beside the weights: config.json, tokenizer_config.json (its do_lower_case),
 * vocab.txt, label2ans.json for LXMERT; config.yaml for the detector.  A .lxm source
 * carries its own config and name tables; options override them.
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

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Table t of m copied into l. */
static int copy_names(lx_strlist *l, const lx_model *m, lx_table t, lx_error *err) {
    size_t n;
    const char *const *s = lx_model_names(m, t, &n);
    for (size_t i = 0; i < n; i++)
        if (lx_strlist_push(l, s[i], strlen(s[i]), err) < 0) return -1;
    return 0;
}

/* A .lxm source, its CRCs verified: its kind, its tensors as views, its config and name
 * tables. */
static int read_lxm(lx_checkpoint *ck, const char *src, lx_error *err) {
    lx_model *m = ck->model = lx_model_open(src, err);
    if (!m || !(ck->path = strdup(src))) return m ? lx_error_set(err, "out of memory") : -1;
    /* what is converted is checked first: the output's new CRCs must not vouch for data
     * that was already corrupt */
    if (lx_model_verify(m, err) < 0) return lx_error_prefix(err, "%s", src), -1;
    ck->kind = lx_model_kind_of(m);
    ck->config = *lx_model_config(m);
    if (ck->kind == LX_MODEL_DETECTOR) ck->detector = *lx_model_detector_config(m);
    for (size_t i = 0; i < lx_model_ntensors(m); i++) {
        lx_tensor t = *lx_model_tensor_at(m, i);
        t.owned = 0;
        if (lx_tensor_dict_add(&ck->tensors, lx_model_tensor_name(m, i), &t, err) < 0)
            return -1;
    }
    if (copy_names(&ck->vocab, m, LX_TABLE_VOCAB, err) < 0 ||
        copy_names(&ck->labels, m, LX_TABLE_LABELS, err) < 0 ||
        copy_names(&ck->objects, m, LX_TABLE_OBJECTS, err) < 0 ||
        copy_names(&ck->attributes, m, LX_TABLE_ATTRIBUTES, err) < 0)
        return -1;
    return 0;
}

/* A checkpoint file or folder: its tensors under their own names, and its kind. */
static int read_weights(lx_checkpoint *ck, const char *src, lx_error *err) {
    if (lx_checkpoint_read(&ck->tensors, src, &ck->path, err) < 0) return -1;
    ck->kind = lx_tensor_dict_get(&ck->tensors, "backbone.stem.conv1.weight")
                   ? LX_MODEL_DETECTOR : LX_MODEL_LXMERT;
    return 0;
}

/* Options of the other kind are a mistake, not something to ignore. */
static int check_options(const lx_checkpoint *ck, const lx_checkpoint_opts *o, lx_error *err) {
    int rc = 0;
    if (ck->kind == LX_MODEL_DETECTOR && (o->vocab || o->labels))
        rc = lx_error_set(err, "%s: is a detector (Faster R-CNN): a vocabulary and answer "
                               "labels are LXMERT's", ck->path);
    else if (ck->kind == LX_MODEL_LXMERT && (o->objects || o->attributes))
        rc = lx_error_set(err, "%s: is an LXMERT model: object and attribute names are the "
                               "detector's", ck->path);
    if (rc < 0 && err) err->code = LX_ERR_OTHER_KIND;
    return rc;
}

/* A side list: path, else side_name beside (NULL: do not look) into *l, which must then
 * hold want entries ("PATH: N WHAT"); *found says whether there was one. */
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

/* ---- LXMERT ----------------------------------------------------------------------- */

/* The config: opts->config or config.json beside, over LXMERT-base; tokenizer_config.json's
 * do_lower_case.  *used gets the config file read (owned), or NULL. */
static int read_config(lx_checkpoint *ck, const char *dir, const char *path, char **used,
                       lx_error *err) {
    char *p = path ? strdup(path) : side_file(dir, "config.json");
    if (path && !p) return lx_error_set(err, "out of memory");
    if (!p) ck->notes |= LX_CHECKPOINT_NO_CONFIG;
    *used = p;
    int rc = p ? lx_config_read_file(&ck->config, p, err) : 0;
    if (rc < 0 || !(p = side_file(dir, "tokenizer_config.json"))) return rc;
    json_t *j = lx_json_read_file(p, LX_JSON_FILE_MAX, 0, NULL);
    json_t *lc = json_object_get(j, "do_lower_case");
    if (json_is_boolean(lc)) ck->config.do_lower_case = json_is_true(lc);
    json_decref(j);
    free(p);
    return 0;
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

/* A config file's values are checked on their own first, so that a bad value is blamed
 * on the config, not the weights; when the weights then disagree with the config, the
 * message names both. */
static int load_lxmert(lx_checkpoint *ck, const char *dir, const lx_checkpoint_opts *o,
                       int lxm, lx_error *err) {
    char *cfg = NULL;
    int rc = 0;
    if (lxm) {
        if (o->config && !(cfg = strdup(o->config))) return lx_error_set(err, "out of memory");
        if (cfg) rc = lx_config_read_file(&ck->config, cfg, err);
    } else {
        rc = read_config(ck, dir, o->config, &cfg, err);
    }
    if (rc == 0 && cfg && lx_config_check(&ck->config, err) < 0)
        rc = lx_error_prefix(err, "%s", cfg);
    if (rc == 0 && lx_schema_normalize(&ck->tensors, &ck->config, o->flags, err) < 0)
        rc = cfg ? lx_error_prefix(err, "%s with the config %s", ck->path, cfg)
                 : lx_error_prefix(err, "%s", ck->path);
    free(cfg);
    return rc < 0 ? -1 : read_lists(ck, dir, o, lxm, err);
}

/* ---- the detector ----------------------------------------------------------------- */

/* An HF config: JSON when its name ends in .json, else YAML.  NULL with err set. */
static json_t *read_hf(const char *path, lx_error *err) {
    if (!ends_with(path, ".json")) return lx_yaml_read_file(path, err);
    return lx_json_read_file(path, LX_JSON_FILE_MAX, JSON_REJECT_DUPLICATES, err);
}

/* The config's class and attribute counts, where it gives them, are the weights'. */
static int check_counts(const json_t *hf, const lx_detector_config *c, lx_error *err) {
    const struct {
        const char *section, *key, *what;
        int have;
    } k[] = {
        {"roi_heads", "num_classes", "object classes", c->num_classes},
        {"roi_box_head", "num_attrs", "attributes", c->num_attrs},
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        const json_t *v = json_object_get(json_object_get(hf, k[i].section), k[i].key);
        if (v && !json_is_integer(v))
            return lx_error_set(err, "%s.%s: expected an integer", k[i].section, k[i].key);
        if (v && json_integer_value(v) != k[i].have)
            return lx_error_set(err, "%s.%s is %lld, but the weights have %d %s", k[i].section,
                                k[i].key, (long long)json_integer_value(v), k[i].have,
                                k[i].what);
    }
    return 0;
}

/* The test-time parameters: opts->config, else config.yaml beside a checkpoint (not a
 * .lxm, which has its own), over what ck->detector holds; then the whole config checked. */
static int detector_config(lx_checkpoint *ck, const char *dir, const char *path, int lxm,
                           lx_error *err) {
    char *p = path || lxm ? NULL : side_file(dir, "config.yaml");
    if (!path && !(path = p)) {
        if (!lxm) ck->notes |= LX_CHECKPOINT_NO_CONFIG;
        return 0;
    }
    json_t *hf = read_hf(path, err);
    int rc = hf ? 0 : -1;
    if (rc == 0 && (lx_detector_config_from_hf(&ck->detector, hf, err) < 0 ||
                    check_counts(hf, &ck->detector, err) < 0 ||
                    lx_detector_config_check(&ck->detector, err) < 0))
        rc = lx_error_prefix(err, "%s", path);
    json_decref(hf);
    free(p);
    return rc;
}

/* The object and attribute names: from the options, as many as the model has. */
static int read_names(lx_checkpoint *ck, const lx_checkpoint_opts *o, lx_error *err) {
    char what[2][96];
    int found;
    snprintf(what[0], sizeof what[0], "object names, but the model has %d object classes",
             ck->detector.num_classes);
    snprintf(what[1], sizeof what[1], "attribute names, but the model has %d attributes",
             ck->detector.num_attrs);
    if (read_list(&ck->objects, lx_lines_read_file, NULL, o->objects, NULL,
                  (size_t)ck->detector.num_classes, what[0], err, &found) < 0 ||
        read_list(&ck->attributes, lx_lines_read_file, NULL, o->attributes, NULL,
                  (size_t)ck->detector.num_attrs, what[1], err, &found) < 0)
        return -1;
    return 0;
}

static int load_detector(lx_checkpoint *ck, const char *dir, const lx_checkpoint_opts *o,
                         int lxm, lx_error *err) {
    if (lx_schema_normalize_detector(&ck->tensors, &ck->detector, o->flags, err) < 0)
        return lx_error_prefix(err, "%s", ck->path);
    if (detector_config(ck, dir, o->config, lxm, err) < 0) return -1;
    return read_names(ck, o, err);
}

/* ---- both ------------------------------------------------------------------------- */

int lx_checkpoint_load(lx_checkpoint *ck, const char *src, const lx_checkpoint_opts *opts,
                       lx_error *err) {
    static const lx_checkpoint_opts none = {0};
    const lx_checkpoint_opts *o = opts ? opts : &none;
    memset(ck, 0, sizeof *ck);
    lx_tensor_dict_init(&ck->tensors);
    lx_config_default(&ck->config);
    lx_detector_config_default(&ck->detector);
    char *dir = lx_checkpoint_dir(src);
    int lxm = lx_model_probe(src), rc;
    if (!dir) return lx_error_set(err, "out of memory");
    rc = lxm ? read_lxm(ck, src, err) : read_weights(ck, src, err);
    if (rc == 0) rc = check_options(ck, o, err);
    if (rc == 0)
        rc = ck->kind == LX_MODEL_DETECTOR ? load_detector(ck, dir, o, lxm, err)
                                           : load_lxmert(ck, dir, o, lxm, err);
    free(dir);
    return rc;
}

void lx_checkpoint_free(lx_checkpoint *ck) {
    lx_tensor_dict_free(&ck->tensors);
    lx_strlist_free(&ck->vocab);
    lx_strlist_free(&ck->labels);
    lx_strlist_free(&ck->objects);
    lx_strlist_free(&ck->attributes);
    free(ck->path);
    lx_model_close(ck->model);
    memset(ck, 0, sizeof *ck);
}
