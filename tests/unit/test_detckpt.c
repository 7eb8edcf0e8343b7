/* Unit tests of reading the detector's checkpoint (lx_checkpoint_load): the fixture from
 * its PyTorch zip and its safetensors (the same tensors), its config.yaml's test-time
 * parameters, the name files, a .lxm written and read back (lx_model_open, then as a
 * source again), and the errors: names of the wrong count, options of the other kind, no
 * config, a bad config. */
#include "testutil.h"
#include <sys/stat.h>

#define TINY "frcnn/models/frcnn-tiny"

/* A scratch file holding text (malloc'd path). */
static char *scratch_file(const char *tag, const char *text) {
    char *p = strdup(scratch(tag));
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* A scratch file of the first n lines of a fixture name list. */
static char *names_file(const char *tag, const char *list, int n) {
    FILE *in = fopen(fixture(list), "r");
    assert_non_null(in);
    char *p = strdup(scratch(tag));
    FILE *out = fopen(p, "w");
    char line[512];
    for (int i = 0; i < n && fgets(line, sizeof line, in); i++) fputs(line, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    return p;
}

static void load_ok(lx_checkpoint *ck, const char *src, const lx_checkpoint_opts *o) {
    lx_error err = {0};
    if (lx_checkpoint_load(ck, src, o, &err) < 0) fail_msg("%s: %s", src, err.msg);
}

static void load_fails(const char *src, const lx_checkpoint_opts *o, const char *want, int code) {
    lx_checkpoint ck;
    lx_error err = {0};
    int rc = lx_checkpoint_load(&ck, src, o, &err);
    lx_checkpoint_free(&ck);
    if (rc == 0) fail_msg("%s loaded (expected: %s)", src, want);
    if (!strstr(err.msg, want)) fail_msg("'%s' lacks '%s'", err.msg, want);
    assert_int_equal(err.code, code);
}

/* Same names, dtypes, shapes and bytes, in the same order. */
static void same_tensors(const lx_tensor_dict *a, const lx_tensor_dict *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const lx_tensor *x = &a->items[i].t, *y = &b->items[i].t;
        assert_string_equal(a->items[i].name, b->items[i].name);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->ndim, y->ndim);
        assert_memory_equal(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim);
        assert_memory_equal(x->data, y->data, (size_t)lx_tensor_nbytes(x));
    }
}

static void same_config(const lx_detector_config *a, const lx_detector_config *b) {
    json_t *x = lx_detector_config_to_json(a), *y = lx_detector_config_to_json(b);
    assert_true(json_equal(x, y));
    json_decref(x);
    json_decref(y);
}

static void same_names(const lx_strlist *l, const char *const *s, size_t n) {
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++) assert_string_equal(l->items[i], s[i]);
}

/* The fixture's test-time parameters (config.yaml) and architecture (the tensors). */
static void is_tiny(const lx_checkpoint *ck) {
    assert_int_equal(ck->kind, LX_MODEL_DETECTOR);
    assert_int_equal(ck->tensors.n, 536);
    const lx_detector_config *c = &ck->detector;
    assert_int_equal(c->num_classes, 30);
    assert_int_equal(c->num_attrs, 12);
    assert_int_equal(c->min_size, 96);
    assert_int_equal(c->max_size, 160);
    assert_int_equal(c->pre_nms_topk, 200);
    assert_int_equal(c->post_nms_topk, 50);
    assert_int_equal(c->min_detections, 20);
    assert_int_equal(c->max_detections, 20);
    assert_int_equal(c->nms_tries, 3);
    assert_true(c->nms_thresh_test[2] == 0.7);
    assert_true(c->pixel_mean[0] == 102.9801);
    assert_true(c->box_bbox_weights[3] == 5.0);
}

static void test_bin_and_safetensors(void **state) {
    (void)state;
    lx_checkpoint a, b, d;
    load_ok(&a, fixture(TINY "/pytorch_model.bin"), NULL);
    load_ok(&b, fixture(TINY "/model.safetensors"), NULL);
    load_ok(&d, fixture(TINY), NULL); /* the folder: safetensors preferred */
    is_tiny(&a);
    is_tiny(&b);
    assert_int_equal(a.notes, 0);
    same_tensors(&a.tensors, &b.tensors);
    same_tensors(&b.tensors, &d.tensors);
    same_config(&a.detector, &b.detector);
    assert_non_null(strstr(d.path, "model.safetensors"));
    assert_int_equal(a.objects.n, 0);
    assert_int_equal(a.vocab.n, 0);
    lx_checkpoint_free(&a);
    lx_checkpoint_free(&b);
    lx_checkpoint_free(&d);
}

static void test_names(void **state) {
    (void)state;
    char *o = names_file("objects.txt", "labels/vg-objects-1600.txt", 30),
         *a = names_file("attributes.txt", "labels/vg-attributes-400.txt", 12),
         *o20 = names_file("o20.txt", "labels/vg-objects-1600.txt", 20);
    lx_checkpoint ck;
    load_ok(&ck, fixture(TINY), &(lx_checkpoint_opts){.objects = o, .attributes = a});
    assert_int_equal(ck.objects.n, 30);
    assert_int_equal(ck.attributes.n, 12);
    assert_string_equal(ck.objects.items[0], "yolk");
    assert_string_equal(ck.attributes.items[0], "gray,grey"); /* synonyms kept whole */
    lx_checkpoint_free(&ck);
    load_fails(fixture(TINY), &(lx_checkpoint_opts){.objects = o20},
               "o20.txt: 20 object names, but the model has 30 object classes", 0);
    load_fails(fixture(TINY), &(lx_checkpoint_opts){.attributes = o},
               "objects.txt: 30 attribute names, but the model has 12 attributes", 0);
    /* the other kind's options */
    load_fails(fixture(TINY), &(lx_checkpoint_opts){.vocab = o},
               "is a detector (Faster R-CNN): a vocabulary and answer labels are LXMERT's",
               LX_ERR_OTHER_KIND);
    load_fails(fixture(TINY), &(lx_checkpoint_opts){.labels = o}, "is a detector",
               LX_ERR_OTHER_KIND);
    load_fails(fixture("models/tiny-vqa"), &(lx_checkpoint_opts){.objects = o},
               "is an LXMERT model: object and attribute names are the detector's",
               LX_ERR_OTHER_KIND);
    unlink(o);
    unlink(a);
    unlink(o20);
    free(o);
    free(a);
    free(o20);
}

/* Write ck as a .lxm at path, as lx-convert does. */
static void write_lxm(const char *path, const lx_checkpoint *ck, lx_dtype dtype) {
    lx_error err = {0};
    lx_model_spec spec = {.kind = ck->kind, .tensors = &ck->tensors, .dtype = dtype,
                          .detector = &ck->detector, .objects = &ck->objects,
                          .attributes = &ck->attributes};
    if (lx_model_write(path, &spec, &err) < 0) fail_msg("%s", err.msg);
}

static void test_roundtrip(void **state) {
    (void)state;
    char *o = names_file("objects.txt", "labels/vg-objects-1600.txt", 30),
         *a = names_file("attributes.txt", "labels/vg-attributes-400.txt", 12),
         *path = strdup(scratch("det.lxm"));
    lx_checkpoint ck, back;
    lx_error err = {0};
    load_ok(&ck, fixture(TINY "/pytorch_model.bin"),
            &(lx_checkpoint_opts){.objects = o, .attributes = a});
    write_lxm(path, &ck, LX_F32);
    lx_model *m = lx_model_open(path, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(lx_model_kind_of(m), LX_MODEL_DETECTOR);
    assert_int_equal(lx_model_expect(m, LX_MODEL_DETECTOR, &err), 0);
    assert_int_equal(lx_model_expect(m, LX_MODEL_LXMERT, &err), -1);
    assert_non_null(strstr(err.msg, "det.lxm: is a detector (Faster R-CNN), expected an LXMERT model"));
    /* the LXMERT network refuses it with the same words */
    assert_null(lx_net_new(m, NULL, &err));
    assert_non_null(strstr(err.msg, "det.lxm: is a detector (Faster R-CNN), expected an LXMERT model"));
    same_config(lx_model_detector_config(m), &ck.detector);
    size_t n;
    const char *const *s = lx_model_names(m, LX_TABLE_OBJECTS, &n);
    same_names(&ck.objects, s, n);
    s = lx_model_names(m, LX_TABLE_ATTRIBUTES, &n);
    same_names(&ck.attributes, s, n);
    assert_int_equal(lx_model_vocab_size(m), 0);
    assert_int_equal(lx_model_verify(m, &err), 0);
    lx_model_close(m);
    /* the .lxm as a source: its own config, names and tensors */
    load_ok(&back, path, NULL);
    is_tiny(&back);
    same_tensors(&ck.tensors, &back.tensors);
    same_config(&ck.detector, &back.detector);
    same_names(&back.objects, (const char *const *)ck.objects.items, ck.objects.n);
    same_names(&back.attributes, (const char *const *)ck.attributes.items, ck.attributes.n);
    lx_checkpoint_free(&back);
    /* ... with a config (JSON here) and names read over its own */
    char *cj = scratch_file("over.json", "{\"input\": {\"min_size_test\": 600, "
                                         "\"max_size_test\": 1000}}");
    load_ok(&back, path, &(lx_checkpoint_opts){.config = cj, .objects = o});
    assert_int_equal(back.detector.min_size, 600);
    assert_int_equal(back.detector.max_size, 1000);
    assert_int_equal(back.detector.max_detections, 20);
    assert_int_equal(back.notes, 0);
    lx_checkpoint_free(&back);
    load_fails(path, &(lx_checkpoint_opts){.vocab = o}, "det.lxm: is a detector",
               LX_ERR_OTHER_KIND);
    lx_checkpoint_free(&ck);
    unlink(path);
    unlink(cj);
    unlink(o);
    unlink(a);
    free(path);
    free(cj);
    free(o);
    free(a);
}

/* A folder holding the weights and, optionally, a config.yaml of text. */
static char *folder(const char *tag, const char *yaml) {
    char *d = strdup(scratch(tag)), cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && cp '%s' '%s/'", d, d,
             fixture(TINY "/model.safetensors"), d);
    assert_int_equal(system(cmd), 0);
    if (yaml) {
        snprintf(cmd, sizeof cmd, "%s/config.yaml", d);
        FILE *f = fopen(cmd, "w");
        fputs(yaml, f);
        fclose(f);
    }
    return d;
}

static void remove_folder(char *d) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

static void test_configs(void **state) {
    (void)state;
    lx_checkpoint ck;
    lx_detector_config def;
    lx_detector_config_default(&def);
    /* none: the published model's test-time parameters, and a note */
    char *d = folder("noconf", NULL);
    load_ok(&ck, d, NULL);
    assert_int_equal(ck.notes, LX_CHECKPOINT_NO_CONFIG);
    assert_int_equal(ck.detector.min_size, def.min_size);
    assert_int_equal(ck.detector.max_detections, def.max_detections);
    assert_int_equal(ck.detector.num_classes, 30);
    lx_checkpoint_free(&ck);
    remove_folder(d);
    /* a config.json beside is not the detector's (it is LXMERT's name) */
    d = folder("jsonconf", NULL);
    char p[4200];
    snprintf(p, sizeof p, "%s/config.json", d);
    FILE *f = fopen(p, "w");
    fputs("{\"max_detections\": 1}", f);
    fclose(f);
    load_ok(&ck, d, NULL);
    assert_int_equal(ck.notes, LX_CHECKPOINT_NO_CONFIG);
    assert_int_equal(ck.detector.max_detections, def.max_detections);
    lx_checkpoint_free(&ck);
    remove_folder(d);
    /* a partial one: the rest is the published model's */
    d = folder("partial", "rpn:\n  post_nms_topk_test: 100\n");
    load_ok(&ck, d, NULL);
    assert_int_equal(ck.notes, 0);
    assert_int_equal(ck.detector.post_nms_topk, 100);
    assert_int_equal(ck.detector.pre_nms_topk, def.pre_nms_topk);
    lx_checkpoint_free(&ck);
    remove_folder(d);
    /* bad ones: the file and what is wrong */
    static const char *const bad[][2] = {
        {"rpn: {nms_thresh: [1}\n", "config.yaml: line 1, column 21: did not find expected"},
        {"input:\n  min_size_test: 96\n  min_size_test: 97\n",
         "config.yaml: line 3: the key 'min_size_test' is given twice"},
        {"rpn:\n  nms_thresh: 7e-1\n", "config.yaml: rpn.nms_thresh: expected a number"},
        {"roi_heads: {num_classes: 1600}\n",
         "config.yaml: roi_heads.num_classes is 1600, but the weights have 30 object classes"},
        {"roi_box_head: {num_attrs: 400}\n", "roi_box_head.num_attrs is 400, but the weights have 12"},
        {"min_detections: 50\nmax_detections: 40\n",
         "config.yaml: detector config: min_detections is 50, expected 0..40"},
        {"- 1\n", "config.yaml: config is not a mapping"},
        {"", "config.yaml: config is not a mapping"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d = folder("bad", bad[i][0]);
        load_fails(d, NULL, bad[i][1], 0);
        remove_folder(d);
    }
    /* --config names a file: its errors name it */
    char *c = scratch_file("c.yaml", "input: [\n");
    load_fails(fixture(TINY), &(lx_checkpoint_opts){.config = c}, "c.yaml: line 2", 0);
    unlink(c);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bin_and_safetensors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
