/* Unit tests of lib/vqaeval.c: the official VQA accuracy against the fixture cases and
 * summary, every normalisation rule on its own, the tables against tables.json, and
 * LXMERT's soft score. */
#include <math.h>
#include "testutil.h"

static char *norm_punct(const char *s) { return lx_vqa_punct(s); }

#define EXPECT_STR(fn, in, want)                                                     \
    do {                                                                             \
        char *got_ = fn(in);                                                         \
        assert_non_null(got_);                                                       \
        if (strcmp(got_, want) != 0)                                                 \
            fail_msg("%s(\"%s\"): got \"%s\", expected \"%s\"", #fn, in, got_, want); \
        free(got_);                                                                  \
    } while (0)

static void test_tables(void **state) {
    (void)state;
    json_error_t je;
    json_t *t = json_load_file(fixture("vqa-eval/tables.json"), 0, &je);
    assert_non_null(t);
    /* punctuation, in order */
    json_t *p = json_object_get(t, "punctuation");
    const char *punct = lx_vqa_punctuation();
    assert_int_equal(strlen(punct), json_array_size(p));
    for (size_t i = 0; i < json_array_size(p); i++) {
        const char *c = json_string_value(json_array_get(p, i));
        assert_int_equal(strlen(c), 1);
        assert_int_equal(punct[i], c[0]);
    }
    /* number words and contractions, in order */
    const char *keys[] = {"number_words", "contractions"};
    for (int k = 0; k < 2; k++) {
        size_t n;
        const lx_vqa_map *m = k == 0 ? lx_vqa_number_words(&n) : lx_vqa_contractions(&n);
        json_t *o = json_object_get(t, keys[k]);
        assert_int_equal(n, json_object_size(o));
        size_t i = 0;
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            assert_string_equal(m[i].from, key);
            assert_string_equal(m[i].to, json_string_value(v));
            i++;
        }
    }
    size_t na;
    const char *const *a = lx_vqa_articles(&na);
    json_t *ja = json_object_get(t, "articles");
    assert_int_equal(na, json_array_size(ja));
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], json_string_value(json_array_get(ja, i)));
    json_decref(t);
}

static void test_clean(void **state) {
    (void)state;
    EXPECT_STR(lx_vqa_clean, "frisbee\n", "frisbee");
    EXPECT_STR(lx_vqa_clean, " frisbee\t", "frisbee");
    EXPECT_STR(lx_vqa_clean, "a\tb\nc", "a b c");
    EXPECT_STR(lx_vqa_clean, "  \t\n ", "");
    EXPECT_STR(lx_vqa_clean, "\xc2\xa0yes\xe3\x80\x80", "yes"); /* U+00A0, U+3000 */
    EXPECT_STR(lx_vqa_clean, "Yes", "Yes");                    /* no case change here */
}

static void test_punct(void **state) {
    (void)state;
    /* replaced by a space when not next to a space */
    EXPECT_STR(norm_punct, "t-shirt", "t shirt");
    EXPECT_STR(norm_punct, "(skiing)", " skiing ");
    EXPECT_STR(norm_punct, "left?", "left ");
    /* deleted when next to a space (either side) */
    EXPECT_STR(norm_punct, "red, white", "red white");
    EXPECT_STR(norm_punct, "a -b", "a b");
    /* the test reads the original text: "-" sits next to a space, so both go */
    EXPECT_STR(norm_punct, "x-y -z", "xy z");
    /* a digit,digit anywhere deletes every punctuation character */
    EXPECT_STR(norm_punct, "1,000", "1000");
    EXPECT_STR(norm_punct, "1,000 (approx)", "1000 approx");
    /* characters outside the table are kept: & % : ' */
    EXPECT_STR(norm_punct, "black & white", "black & white");
    EXPECT_STR(norm_punct, "100%", "100%");
    EXPECT_STR(norm_punct, "3:00", "3:00");
    EXPECT_STR(norm_punct, "don't", "don't");
    /* periods: deleted unless followed by a digit */
    EXPECT_STR(norm_punct, "u.s.a.", "usa");
    EXPECT_STR(norm_punct, "3.5", "3.5");
    EXPECT_STR(norm_punct, "mr. smith", "mr smith");
    EXPECT_STR(norm_punct, "..5", ".5");
    /* at most 32 periods go (the re.UNICODE-as-count quirk) */
    char in[64];
    memset(in, '.', 40);
    in[40] = '\0';
    EXPECT_STR(norm_punct, in, "........");
    /* the \\ and @ and backquote entries */
    EXPECT_STR(norm_punct, "@home", " home");
    EXPECT_STR(norm_punct, "a\\b", "a b");
    EXPECT_STR(norm_punct, "`x`", " x ");
}

static void test_words(void **state) {
    (void)state;
    EXPECT_STR(lx_vqa_words, "Two Dogs", "2 dogs");
    EXPECT_STR(lx_vqa_words, "none", "0");
    EXPECT_STR(lx_vqa_words, "zero", "0");
    EXPECT_STR(lx_vqa_words, "ten", "10");
    EXPECT_STR(lx_vqa_words, "eleven", "eleven");
    EXPECT_STR(lx_vqa_words, "the dog", "dog");
    EXPECT_STR(lx_vqa_words, "A Dog and an apple", "dog and apple");
    EXPECT_STR(lx_vqa_words, "dont know", "don't know");
    EXPECT_STR(lx_vqa_words, "whats up", "what's up");
    EXPECT_STR(lx_vqa_words, "oclock", "o'clock");
    /* keys with capitals never match a lower-cased word */
    EXPECT_STR(lx_vqa_words, "Im fine", "im fine");
    EXPECT_STR(lx_vqa_words, "Ive", "ive");
    /* whitespace runs collapse; leading/trailing go */
    EXPECT_STR(lx_vqa_words, "  on   the\ttable ", "on table");
    EXPECT_STR(lx_vqa_words, "", "");
    /* non-ASCII lower-casing */
    EXPECT_STR(lx_vqa_words, "\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9");
    EXPECT_STR(lx_vqa_normalize, "u.s.a.", "usa");
    EXPECT_STR(lx_vqa_normalize, "The T-Shirt!", "t shirt");
}

static void acc(const char *const *h, const char *pred, double want) {
    double got = -1;
    lx_error err = {0};
    assert_int_equal(lx_vqa_accuracy(h, 10, pred, &got, &err), 0);
    if (fabs(got - want) > 1e-12)
        fail_msg("accuracy of \"%s\": got %.9f, expected %.9f", pred, got, want);
}

static void test_accuracy_rules(void **state) {
    (void)state;
    const char *yes10[10] = {"yes", "yes", "yes", "yes", "yes",
                             "yes", "yes", "yes", "yes", "yes"};
    acc(yes10, "yes", 1.0);
    acc(yes10, "Yes", 0.0); /* all agree: no normalisation of the prediction either */
    acc(yes10, " yes\n", 1.0);
    const char *mix[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    acc(mix, "e", 0.3);
    acc(mix, "z", 0.0);
    /* 1, 2, 3, 4 matching humans give 0.3, 0.6, 0.9, 1 */
    const char *m2[10] = {"x", "x", "y", "y", "y", "y", "y", "y", "y", "y"};
    acc(m2, "x", 0.6);
    const char *m3[10] = {"x", "x", "x", "y", "y", "y", "y", "y", "y", "y"};
    acc(m3, "x", 0.9);
    const char *m4[10] = {"x", "x", "x", "x", "y", "y", "y", "y", "y", "y"};
    acc(m4, "x", 1.0);
    lx_error err = {0};
    double a;
    assert_int_equal(lx_vqa_accuracy(mix, 0, "x", &a, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
}

static void test_cases(void **state) {
    (void)state;
    FILE *f = fopen(fixture("vqa-eval/cases.jsonl"), "r");
    assert_non_null(f);
    char line[1 << 16];
    int n = 0;
    lx_error err = {0};
    lx_vqa_eval *ev = lx_vqa_eval_new(&err);
    assert_non_null(ev);
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        assert_non_null(c);
        const char *pred = json_string_value(json_object_get(c, "prediction"));
        double want = json_number_value(json_object_get(c, "accuracy")), got = -1, soft = 0;
        int rc = lx_vqa_eval_add(ev, pred, NULL, json_object_get(c, "answers"),
                                 json_string_value(json_object_get(c, "question_type")),
                                 json_string_value(json_object_get(c, "answer_type")), &soft,
                                 &got, &err);
        if (rc != 0)
            fail_msg("case %d: %s", n, err.msg);
        if (fabs(got - want) > 1e-6)
            fail_msg("question %lld (prediction \"%s\"): got %.9f, expected %.9f",
                     (long long)json_integer_value(json_object_get(c, "question_id")), pred,
                     got, want);
        assert_true(soft == -1);
        json_decref(c);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 43);

    json_error_t je;
    json_t *want = json_load_file(fixture("vqa-eval/summary.json"), 0, &je);
    assert_non_null(want);
    json_t *s = lx_vqa_eval_summary(ev);
    assert_int_equal(json_integer_value(json_object_get(s, "count")), 43);
    assert_null(json_object_get(s, "lxmert"));
    json_t *o = json_object_get(s, "official");
    assert_non_null(o);
    assert_true(fabs(json_number_value(json_object_get(o, "overall")) -
                     json_number_value(json_object_get(want, "overall"))) <= 1e-6);
    const char *groups[] = {"perQuestionType", "perAnswerType"};
    for (int g = 0; g < 2; g++) {
        json_t *wg = json_object_get(want, groups[g]), *gg = json_object_get(o, groups[g]);
        assert_int_equal(json_object_size(wg), json_object_size(gg));
        const char *k;
        json_t *v;
        json_object_foreach(wg, k, v) {
            json_t *x = json_object_get(gg, k);
            if (!x)
                fail_msg("%s: missing \"%s\"", groups[g], k);
            if (fabs(json_number_value(x) - json_number_value(v)) > 1e-6)
                fail_msg("%s[%s]: got %.6f, expected %.6f", groups[g], k,
                         json_number_value(x), json_number_value(v));
        }
    }
    json_decref(s);
    json_decref(want);
    lx_vqa_eval_free(ev);
}

static void test_soft(void **state) {
    (void)state;
    lx_error err = {0};
    json_error_t je;
    json_t *label = json_loads("{\"court\": 1.0, \"baseball\": 0.3}", 0, &je);
    double s;
    assert_int_equal(lx_vqa_soft_score(label, "baseball", &s, &err), 0);
    assert_true(fabs(s - 0.3) < 1e-12);
    assert_int_equal(lx_vqa_soft_score(label, "Baseball", &s, &err), 0);
    assert_true(s == 0); /* exact key match, as LXMERT's evaluator */
    lx_vqa_eval *ev = lx_vqa_eval_new(&err);
    double soft, off;
    assert_int_equal(lx_vqa_eval_add(ev, "court", label, NULL, "what", "other", &soft, &off,
                                     &err), 0);
    assert_true(soft == 1.0 && off == -1);
    assert_int_equal(lx_vqa_eval_add(ev, "net", label, NULL, "what", "other", &soft, &off,
                                     &err), 0);
    assert_true(soft == 0);
    json_t *sum = lx_vqa_eval_summary(ev);
    json_t *l = json_object_get(sum, "lxmert");
    assert_true(fabs(json_number_value(json_object_get(l, "overall")) - 50.0) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(l, "count")), 2);
    json_decref(sum);
    /* malformed truth */
    json_t *bad = json_loads("[1, 2]", 0, &je);
    assert_int_equal(lx_vqa_eval_add(ev, "x", bad, NULL, NULL, NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "label"));
    assert_int_equal(lx_vqa_eval_add(ev, "x", NULL, bad, NULL, NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "answers[0]"));
    json_decref(bad);
    json_decref(label);
    lx_vqa_eval_free(ev);
}

static void test_add_scores(void **state) {
    (void)state;
    lx_error err = {0};
    lx_vqa_eval *ev = lx_vqa_eval_new(&err);
    assert_int_equal(lx_vqa_eval_add_scores(ev, 1.0, 0.3, "what", "other", &err), 0);
    assert_int_equal(lx_vqa_eval_add_scores(ev, -1, 0.9, "how many", "number", &err), 0);
    assert_int_equal(lx_vqa_eval_add_scores(ev, -1, -1, "what", NULL, &err), 0); /* no truth */
    assert_int_equal(lx_vqa_eval_add_scores(ev, 2.0, -1, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "expected one in [0, 1]"));
    json_t *s = lx_vqa_eval_summary(ev);
    assert_int_equal(json_integer_value(json_object_get(s, "count")), 2);
    json_t *o = json_object_get(s, "official"), *l = json_object_get(s, "lxmert");
    assert_true(fabs(json_number_value(json_object_get(o, "overall")) - 60.0) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(l, "overall")) - 100.0) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(l, "count")), 1);
    json_t *pq = json_object_get(o, "perQuestionType");
    assert_true(fabs(json_number_value(json_object_get(pq, "how many")) - 90.0) < 1e-9);
    json_decref(s);
    lx_vqa_eval_free(ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),   cmocka_unit_test(test_clean),
        cmocka_unit_test(test_punct),    cmocka_unit_test(test_words),
        cmocka_unit_test(test_accuracy_rules), cmocka_unit_test(test_cases),
        cmocka_unit_test(test_soft),     cmocka_unit_test(test_add_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
