/* Unit tests of the detector's config and schema: defaults, the .lxm header's JSON both
 * ways, the test-time parameters of an HF config (the tiny fixture's, as its config.json
 * holds it parsed), the architecture read from the fixture's tensors, and bad values. */
#include "testutil.h"

#define TINY "frcnn/models/frcnn-tiny"

/* The fixture's HF config, parsed: config.json's tiny_fixture.hf_config (owned). */
static json_t *tiny_hf(void) {
    json_t *j = json_load_file(fixture(TINY "/config.json"), 0, NULL);
    assert_non_null(j);
    json_t *hf = json_incref(json_object_get(json_object_get(j, "tiny_fixture"), "hf_config"));
    assert_non_null(hf);
    json_decref(j);
    return hf;
}

/* The config c's JSON equals the other's (the header's form compares every field). */
static void assert_same(const lx_detector_config *a, const lx_detector_config *b) {
    json_t *x = lx_detector_config_to_json(a), *y = lx_detector_config_to_json(b);
    if (!json_equal(x, y)) {
        char *s = json_dumps(x, JSON_SORT_KEYS), *t = json_dumps(y, JSON_SORT_KEYS);
        fail_msg("configs differ:\n%s\n%s", s, t);
    }
    json_decref(x);
    json_decref(y);
}

static void test_default_roundtrip(void **state) {
    (void)state;
    lx_detector_config c, d;
    lx_error err = {0};
    lx_detector_config_default(&c);
    assert_int_equal(lx_detector_config_check(&c, &err), 0);
    assert_int_equal(c.num_classes, 1600);
    assert_int_equal(c.num_attrs, 400);
    assert_int_equal(c.min_detections, 36);
    assert_int_equal(c.max_detections, 36);
    json_t *j = lx_detector_config_to_json(&c);
    memset(&d, 0, sizeof d);
    assert_int_equal(lx_detector_config_from_json(&d, j, &err), 0);
    json_decref(j);
    assert_same(&c, &d);
}

static void test_from_hf_fixture(void **state) {
    (void)state;
    lx_detector_config c;
    lx_error err = {0};
    json_t *hf = tiny_hf();
    lx_detector_config_default(&c);
    assert_int_equal(lx_detector_config_from_hf(&c, hf, &err), 0);
    json_decref(hf);
    assert_int_equal(c.min_size, 96);
    assert_int_equal(c.max_size, 160);
    assert_int_equal(c.pre_nms_topk, 200);
    assert_int_equal(c.post_nms_topk, 50);
    assert_int_equal(c.min_detections, 20);
    assert_int_equal(c.max_detections, 20);
    assert_int_equal(c.pooler_resolution, 14);
    assert_int_equal(c.nms_tries, 3);
    static const double nms[] = {0.5, 0.6, 0.7}, mean[] = {102.9801, 115.9465, 122.7717},
                        box[] = {10, 10, 5, 5};
    for (int i = 0; i < 3; i++) {
        assert_true(c.nms_thresh_test[i] == nms[i]);
        assert_true(c.pixel_mean[i] == mean[i]);
        assert_true(c.pixel_std[i] == 1.0);
    }
    for (int i = 0; i < 4; i++) {
        assert_true(c.box_bbox_weights[i] == box[i]);
        assert_true(c.rpn_bbox_weights[i] == 1.0);
    }
    assert_true(c.rpn_nms_thresh == 0.7);
    /* the architecture is the tensors' business: untouched */
    assert_int_equal(c.num_classes, 1600);
    assert_int_equal(lx_detector_config_check(&c, &err), 0);
}

/* from_hf over the defaults with the JSON text: must fail with want in the message. */
static void hf_fails(const char *text, const char *want) {
    lx_detector_config c;
    lx_error err = {0};
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    lx_detector_config_default(&c);
    int rc = lx_detector_config_from_hf(&c, j, &err);
    json_decref(j);
    if (rc == 0) fail_msg("accepted %s", text);
    if (!strstr(err.msg, want)) fail_msg("%s: '%s' lacks '%s'", text, err.msg, want);
}

static void test_from_hf_values(void **state) {
    (void)state;
    lx_detector_config c;
    lx_error err = {0};
    /* one threshold, not a list: HF takes it as a list of one */
    json_t *j = json_loads("{\"roi_heads\": {\"nms_thresh_test\": 0.3}}", 0, NULL);
    lx_detector_config_default(&c);
    assert_int_equal(lx_detector_config_from_hf(&c, j, &err), 0);
    json_decref(j);
    assert_int_equal(c.nms_tries, 1);
    assert_true(c.nms_thresh_test[0] == 0.3);
    /* integers where reals go */
    j = json_loads("{\"model\": {\"pixel_mean\": [100, 110, 120]}, \"other\": 1}", 0, NULL);
    assert_int_equal(lx_detector_config_from_hf(&c, j, &err), 0);
    json_decref(j);
    assert_true(c.pixel_mean[2] == 120.0);

    hf_fails("[]", "not a mapping");
    hf_fails("{\"rpn\": 5}", "rpn: expected a mapping");
    hf_fails("{\"input\": [1]}", "input: expected a mapping");
    hf_fails("{\"input\": {\"min_size_test\": 800.0}}", "input.min_size_test: expected a non-negative integer");
    hf_fails("{\"input\": {\"max_size_test\": \"1333\"}}", "input.max_size_test");
    hf_fails("{\"max_detections\": -1}", "max_detections: expected a non-negative integer");
    hf_fails("{\"rpn\": {\"nms_thresh\": \"0.7\"}}", "rpn.nms_thresh: expected a number");
    hf_fails("{\"roi_heads\": {\"nms_thresh_test\": []}}", "at most 8 numbers");
    hf_fails("{\"roi_heads\": {\"nms_thresh_test\": [0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]}}",
             "at most 8 numbers");
    hf_fails("{\"roi_heads\": {\"nms_thresh_test\": [0.5, null]}}", "nms_thresh_test[1]: expected a number");
    hf_fails("{\"model\": {\"pixel_mean\": [1, 2]}}", "model.pixel_mean: expected a list of 3 numbers");
    hf_fails("{\"roi_box_head\": {\"bbox_reg_weights\": [1, 2, 3, 4, 5]}}",
             "roi_box_head.bbox_reg_weights: expected a list of 4");
}

/* The header's JSON: wrong types and out-of-range values are errors, never rounded. */
static void test_from_json_bad(void **state) {
    (void)state;
    static const char *const bad[][2] = {
        {"{\"blocks\": [3, 4, 23.5, 3]}", "blocks[2]: expected a non-negative integer"},
        {"{\"blocks\": [3, 4, 23]}", "blocks: expected a list of 4"},
        {"{\"channels\": [256, 512, 1024, -1]}", "channels[3]"},
        {"{\"num_classes\": 1e3}", "num_classes: expected a non-negative integer"},
        {"{\"bn_eps\": \"1e-5\"}", "bn_eps: expected a number"},
        {"{\"pixel_std\": [1, 1]}", "pixel_std: expected a list of 3"},
        {"[]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lx_detector_config c;
        lx_error err = {0};
        json_t *j = json_loads(bad[i][0], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        lx_detector_config_default(&c);
        int rc = lx_detector_config_from_json(&c, j, &err);
        json_decref(j);
        if (rc == 0) fail_msg("accepted %s", bad[i][0]);
        if (!strstr(err.msg, bad[i][1])) fail_msg("'%s' lacks '%s'", err.msg, bad[i][1]);
    }
}

static void test_check_bounds(void **state) {
    (void)state;
    lx_detector_config c;
    lx_error err = {0};
    lx_detector_config_default(&c);
    c.min_detections = 40;
    assert_int_equal(lx_detector_config_check(&c, &err), -1);
    assert_non_null(strstr(err.msg, "min_detections is 40, expected 0..36"));
    lx_detector_config_default(&c);
    c.nms_thresh_test[1] = 1.5;
    assert_int_equal(lx_detector_config_check(&c, &err), -1);
    assert_non_null(strstr(err.msg, "nms_thresh_test is 1.5"));
    lx_detector_config_default(&c);
    c.max_size = 700;
    assert_int_equal(lx_detector_config_check(&c, &err), -1);
    assert_non_null(strstr(err.msg, "max_size is 700, expected 800..16384"));
    lx_detector_config_default(&c);
    c.pixel_std[0] = 0;
    assert_int_equal(lx_detector_config_check(&c, &err), -1);
}

/* The fixture's tensors: the architecture comes from their shapes and names. */
static void read_tiny(lx_tensor_dict *d) {
    lx_error err = {0};
    lx_tensor_dict_init(d);
    if (lx_safetensors_read(d, fixture(TINY "/model.safetensors"), &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(d->n, 640);
}

static void test_arch_from_tensors(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_detector_config c;
    lx_error err = {0};
    read_tiny(&d);
    lx_detector_config_default(&c);
    if (lx_schema_normalize_detector(&d, &c, 0, &err) < 0) fail_msg("%s", err.msg);
    static const int blocks[] = {3, 4, 23, 3}, bottleneck[] = {4, 8, 16, 32},
                     channels[] = {16, 32, 64, 128};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(c.blocks[k], blocks[k]);
        assert_int_equal(c.bottleneck[k], bottleneck[k]);
        assert_int_equal(c.channels[k], channels[k]);
    }
    assert_int_equal(c.stem_channels, 8);
    assert_int_equal(c.rpn_hidden, 32);
    assert_int_equal(c.num_anchors, 12);
    assert_int_equal(c.num_classes, 30);
    assert_int_equal(c.num_attrs, 12);
    assert_int_equal(c.cls_embed_dim, 16);
    assert_int_equal(c.attr_hidden, 32);
    assert_int_equal(c.min_size, 800); /* test-time fields kept */
    /* the 104 BatchNorm counters are dropped; the rest is in the schema's order */
    assert_int_equal(d.n, 536);
    lx_schema s;
    assert_int_equal(lx_schema_build_detector(&s, &c, &err), 0);
    assert_int_equal(s.n, d.n);
    for (size_t i = 0; i < d.n; i++) assert_string_equal(d.items[i].name, s.v[i].name);
    assert_string_equal(d.items[0].name, "backbone.stem.conv1.weight");
    lx_schema_free(&s);
    lx_tensor_dict_free(&d);
}

/* Normalising the fixture after change(d): must fail with want in the message. */
static void normalize_fails(void (*change)(lx_tensor_dict *), unsigned flags, const char *want,
                            int code) {
    lx_tensor_dict d;
    lx_detector_config c;
    lx_error err = {0};
    read_tiny(&d);
    change(&d);
    lx_detector_config_default(&c);
    int rc = lx_schema_normalize_detector(&d, &c, flags, &err);
    lx_tensor_dict_free(&d);
    if (rc == 0) fail_msg("accepted (expected: %s)", want);
    if (!strstr(err.msg, want)) fail_msg("'%s' lacks '%s'", err.msg, want);
    assert_int_equal(err.code, code);
}

static void rename_tensor(lx_tensor_dict *d, const char *from, const char *to) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->items[i].name, from) == 0) {
            free(d->items[i].name);
            d->items[i].name = strdup(to);
            return;
        }
    fail_msg("no tensor %s", from);
}
static void drop_cls_score(lx_tensor_dict *d) {
    rename_tensor(d, "roi_heads.box_predictor.cls_score.weight", "other.weight");
}
static void drop_norm(lx_tensor_dict *d) {
    rename_tensor(d, "backbone.res3.1.conv2.norm.running_var", "backbone.res3.1.conv2.norm.var");
}
static void odd_shape(lx_tensor_dict *d) {
    lx_tensor *t = lx_tensor_dict_get(d, "roi_heads.box_predictor.bbox_pred.weight");
    t->shape[0] = 60; /* a view: only the shape changes */
}
static void extra_block(lx_tensor_dict *d) { /* a fourth res5 block, conv1 only */
    rename_tensor(d, "roi_heads.box_predictor.fc_attr.bias", "roi_heads.res5.3.conv1.weight");
}

static void test_normalize_errors(void **state) {
    (void)state;
    normalize_fails(drop_cls_score, 0, "roi_heads.box_predictor.cls_score.weight is missing", 0);
    normalize_fails(drop_norm, 0, "backbone.res3.1.conv2.norm.var", LX_ERR_UNKNOWN_TENSORS);
    normalize_fails(drop_norm, LX_SCHEMA_IGNORE_UNKNOWN, "backbone.res3.1.conv2.norm.running_var", 0);
    normalize_fails(odd_shape, 0, "bbox_pred.weight", 0);
    normalize_fails(extra_block, 0, "roi_heads.res5.3", 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_roundtrip),
        cmocka_unit_test(test_from_hf_fixture),
        cmocka_unit_test(test_from_hf_values),
        cmocka_unit_test(test_from_json_bad),
        cmocka_unit_test(test_check_bounds),
        cmocka_unit_test(test_arch_from_tensors),
        cmocka_unit_test(test_normalize_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
