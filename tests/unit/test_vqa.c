/* Unit tests of lib/vqa.c: label files (label2ans and ans2label, and their errors),
 * top-k order and ties, sigmoid and softmax scores, the picks as JSON. */
#include <math.h>
#include "testutil.h"

static void test_label_files(void **state) {
    (void)state;
    lx_error err = {0};
    lx_strlist a, b;
    assert_int_equal(lx_labels_read_file(&a, fixture("labels/vqa-label2ans.json"), &err), 0);
    assert_int_equal(lx_labels_read_file(&b, fixture("labels/vqa-ans2label.json"), &err), 0);
    assert_int_equal(a.n, 3129);
    assert_int_equal(b.n, 3129);
    for (size_t i = 0; i < a.n; i++)
        assert_string_equal(a.items[i], b.items[i]);
    assert_string_equal(a.items[2839], "1:25"); /* as expected/answers.jsonl names it */
    lx_strlist_free(&a);
    lx_strlist_free(&b);
    assert_int_equal(lx_labels_read_file(&a, fixture("labels/gqa-label2ans.json"), &err), 0);
    assert_int_equal(a.n, 1842);
    lx_strlist_free(&a);
    assert_int_equal(lx_labels_read_file(&a, fixture("labels/lxmert-all-ans.json"), &err), 0);
    assert_int_equal(a.n, 9500);
    lx_strlist_free(&a);
    assert_int_equal(lx_labels_read_file(&a, "/nonexistent/labels.json", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/labels.json"));
}

static int from_text(lx_strlist *l, const char *text, lx_error *err) {
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    assert_non_null(v);
    int rc = lx_labels_from_json(l, v, err);
    json_decref(v);
    return rc;
}

static void test_label_errors(void **state) {
    (void)state;
    lx_error err = {0};
    lx_strlist l;
    assert_int_equal(from_text(&l, "{\"no\": 1, \"yes\": 0}", &err), 0);
    assert_string_equal(l.items[0], "yes");
    assert_string_equal(l.items[1], "no");
    lx_strlist_free(&l);
    assert_int_equal(from_text(&l, "{\"no\": 1, \"yes\": 1}", &err), -1);
    assert_non_null(strstr(err.msg, "label 1 given to both"));
    assert_int_equal(from_text(&l, "{\"no\": 2, \"yes\": 0}", &err), -1);
    assert_non_null(strstr(err.msg, "expected a label in 0..1"));
    assert_int_equal(from_text(&l, "{\"no\": \"1\"}", &err), -1);
    assert_non_null(strstr(err.msg, "non-integer"));
    assert_int_equal(from_text(&l, "[\"yes\", 3]", &err), -1);
    assert_non_null(strstr(err.msg, "labels[1]"));
    assert_int_equal(from_text(&l, "[{\"ans\": \"yes\"}, {\"a\": 1}]", &err), -1);
    assert_non_null(strstr(err.msg, "labels[1]: got an object without \"ans\""));
    assert_int_equal(from_text(&l, "[]", &err), -1);
    assert_int_equal(from_text(&l, "\"yes\"", &err), -1);
    assert_non_null(strstr(err.msg, "expected a JSON array of answers"));
}

static void test_topk(void **state) {
    (void)state;
    const float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 3.0f, 0.0f};
    lx_pick p[8];
    assert_int_equal(lx_topk(logits, 6, 4, LX_SCORE_SIGMOID, p), 4);
    size_t want[4] = {4, 1, 3, 0}; /* tie 1/3: lower label first */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(p[i].index, want[i]);
        assert_true(p[i].logit == logits[want[i]]);
        assert_true(fabs(p[i].score - 1.0 / (1.0 + exp(-logits[want[i]]))) < 1e-7);
    }
    /* k larger than n: everything, sorted */
    assert_int_equal(lx_topk(logits, 6, 8, LX_SCORE_SOFTMAX, p), 6);
    assert_int_equal(p[5].index, 2);
    double sum = 0, z = 0;
    for (int i = 0; i < 6; i++) {
        sum += p[i].score;
        z += exp(logits[i]);
    }
    assert_true(fabs(sum - 1.0) < 1e-6);
    assert_true(fabs(p[0].score - exp(3.0) / z) < 1e-7);
    /* large logits do not overflow the softmax */
    const float big[3] = {1000.0f, 999.0f, -1000.0f};
    assert_int_equal(lx_topk(big, 3, 1, LX_SCORE_SOFTMAX, p), 1);
    assert_true(fabs(p[0].score - 1.0 / (1.0 + exp(-1.0))) < 1e-6);
    assert_int_equal(lx_topk(big, 3, 0, LX_SCORE_SOFTMAX, p), 0);
}

static void test_picks_json(void **state) {
    (void)state;
    lx_error err = {0};
    lx_strlist l;
    assert_int_equal(from_text(&l, "[\"yes\", \"no\", \"2\"]", &err), 0);
    const float logits[3] = {-1.0f, 1.5f, 0.25f};
    lx_pick p[2];
    size_t k = lx_topk(logits, 3, 2, LX_SCORE_SIGMOID, p);
    json_t *a = lx_vqa_picks_json(p, k, &l);
    char *s = json_dumps(a, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(9));
    assert_string_equal(s, "[{\"answer\":\"no\",\"label\":1,\"score\":0.817574501,\"logit\":1.5},"
                           "{\"answer\":\"2\",\"label\":2,\"score\":0.562176526,\"logit\":0.25}]");
    free(s);
    json_decref(a);
    lx_strlist_free(&l);
    lx_scoring sc;
    assert_int_equal(lx_scoring_parse("softmax", &sc), 0);
    assert_int_equal(sc, LX_SCORE_SOFTMAX);
    assert_int_equal(lx_scoring_parse("sigmoid", &sc), 0);
    assert_int_equal(sc, LX_SCORE_SIGMOID);
    assert_int_equal(lx_scoring_parse("tanh", &sc), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_files),
        cmocka_unit_test(test_label_errors),
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_picks_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
