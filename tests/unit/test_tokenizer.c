/* Unit tests of lib/tokenizer.c: every reference case of tokenizer-cases.jsonl, the
 * ASCII fast path against the Unicode path, truncation, UTF-8 errors, decode, vocab. */
#include "testutil.h"

static lx_vocab *bert_vocab(void) {
    lx_error err = {0};
    lx_vocab *v = lx_vocab_load(fixture("vocab/bert-base-uncased-vocab.txt"), &err);
    if (!v)
        fail_msg("%s", err.msg);
    assert_int_equal(lx_vocab_size(v), 30522);
    return v;
}

/* Every line: tokens, input_ids and token_type_ids exactly (max_length where given). */
static void test_reference_cases(void **state) {
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
    assert_non_null(t);
    FILE *f = fopen(fixture("tokenizer-cases.jsonl"), "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, bad = 0;
    lx_encoding e;
    lx_encoding_init(&e);
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *c = json_loads(line, JSON_ALLOW_NUL, &jerr);
        if (!c)
            fail_msg("tokenizer-cases.jsonl:%d: %s", lineno, jerr.text);
        json_t *text = json_object_get(c, "text"), *pair = json_object_get(c, "text_pair");
        json_t *ml = json_object_get(c, "max_length");
        json_t *toks = json_object_get(c, "tokens"), *ids = json_object_get(c, "input_ids");
        json_t *types = json_object_get(c, "token_type_ids");
        assert_true(json_is_string(text) && json_is_array(ids) && json_is_array(types) &&
                    json_is_array(toks));
        int rc = lx_tokenizer_encode(t, json_string_value(text), json_string_length(text),
                                     pair ? json_string_value(pair) : NULL,
                                     pair ? json_string_length(pair) : 0,
                                     ml ? (size_t)json_integer_value(ml) : 0, &e, &err);
        if (rc < 0)
            fail_msg("tokenizer-cases.jsonl:%d: %s", lineno, err.msg);
        int ok = e.n == json_array_size(ids) && e.n == json_array_size(types) &&
                 e.n == json_array_size(toks);
        for (size_t i = 0; ok && i < e.n; i++) {
            const char *tok = lx_vocab_token(v, e.input_ids[i]);
            ok = e.input_ids[i] == json_integer_value(json_array_get(ids, i)) &&
                 e.token_type_ids[i] == json_integer_value(json_array_get(types, i)) &&
                 strcmp(tok, json_string_value(json_array_get(toks, i))) == 0;
        }
        if (!ok) {
            bad++;
            char *want = json_dumps(toks, JSON_COMPACT);
            fprintf(stderr, "tokenizer-cases.jsonl:%d: %s\n  expected %s\n  got     ", lineno,
                    json_string_value(text), want);
            for (size_t i = 0; i < e.n; i++)
                fprintf(stderr, " %s/%lld/%lld", lx_vocab_token(v, e.input_ids[i]),
                        (long long)e.input_ids[i], (long long)e.token_type_ids[i]);
            fprintf(stderr, "\n");
            free(want);
        }
        json_decref(c);
    }
    free(line);
    fclose(f);
    assert_true(lineno >= 100);
    assert_int_equal(bad, 0);
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    lx_vocab_free(v);
}

/* An ASCII word takes the fast path; the same word followed by U+0301 (a combining
 * mark, removed by accent stripping) takes the Unicode path.  Both must agree. */
static void test_fast_path_matches_unicode_path(void **state) {
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        "!\"#$%&'()*+,-./:;<=>?@\\]^_`{|}~ \t\n\r\x01\x7f";
    lx_encoding a, b;
    lx_encoding_init(&a);
    lx_encoding_init(&b);
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char s[64], u[256];
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 40, k = 0;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
            u[k++] = s[i];
            if ((seed >> 20) % 3 == 0) {
                u[k++] = (char)0xCC;      /* U+0301 */
                u[k++] = (char)0x81;
            }
        }
        a.n = b.n = 0;
        assert_int_equal(lx_tokenizer_tokenize(t, s, n, 0, &a, &err), 0);
        assert_int_equal(lx_tokenizer_tokenize(t, u, k, 0, &b, &err), 0);
        assert_int_equal(a.n, b.n);
        for (size_t i = 0; i < a.n; i++)
            assert_int_equal(a.input_ids[i], b.input_ids[i]);
    }
    lx_encoding_free(&a);
    lx_encoding_free(&b);
    lx_tokenizer_free(t);
    lx_vocab_free(v);
}

static void encode_str(lx_tokenizer *t, const char *a, const char *b, size_t max,
                       lx_encoding *e) {
    lx_error err = {0};
    if (lx_tokenizer_encode(t, a, strlen(a), b, b ? strlen(b) : 0, max, e, &err) < 0)
        fail_msg("%s", err.msg);
}

static void test_truncation(void **state) {
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
    lx_encoding e;
    lx_encoding_init(&e);
    /* single: cut from the end */
    encode_str(t, "a b c d e", NULL, 4, &e);
    assert_int_equal(e.n, 4);
    assert_string_equal(lx_vocab_token(v, e.input_ids[1]), "a");
    assert_string_equal(lx_vocab_token(v, e.input_ids[2]), "b");
    assert_string_equal(lx_vocab_token(v, e.input_ids[3]), "[SEP]");
    /* pair, tie: the second loses first; then the longer */
    encode_str(t, "a b", "c d", 6, &e);
    assert_int_equal(e.n, 6);
    assert_string_equal(lx_vocab_token(v, e.input_ids[3]), "[SEP]");
    assert_string_equal(lx_vocab_token(v, e.input_ids[4]), "c");
    assert_int_equal(e.token_type_ids[4], 1);
    encode_str(t, "a b c d", "e", 5, &e);   /* room 2: a b c d / e -> a / e */
    assert_int_equal(e.n, 5);
    assert_string_equal(lx_vocab_token(v, e.input_ids[1]), "a");
    assert_string_equal(lx_vocab_token(v, e.input_ids[3]), "e");
    /* everything cut away still leaves the special tokens */
    encode_str(t, "a b", "c", 3, &e);
    assert_int_equal(e.n, 3);
    /* no room for the special tokens */
    assert_int_equal(lx_tokenizer_encode(t, "a", 1, "b", 1, 2, &e, &err), -1);
    assert_non_null(strstr(err.msg, "special tokens"));
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    lx_vocab_free(v);
}

/* Empty texts on a fresh tokenizer (no pieces buffer yet): only the special tokens, and
 * no copy from a NULL buffer (UBSan's nonnull check caught it). */
static void test_empty_texts(void **state) {
    (void)state;
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    for (int pair = 0; pair < 2; pair++) {
        lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
        lx_encoding e;
        lx_encoding_init(&e);
        encode_str(t, "", pair ? "" : NULL, 0, &e);
        assert_int_equal(e.n, pair ? 3 : 2);
        assert_string_equal(lx_vocab_token(v, e.input_ids[0]), "[CLS]");
        assert_string_equal(lx_vocab_token(v, e.input_ids[e.n - 1]), "[SEP]");
        lx_encoding_free(&e);
        lx_tokenizer_free(t);
    }
    lx_vocab_free(v);
}

static void test_invalid_utf8(void **state) {
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
    lx_encoding e;
    lx_encoding_init(&e);
    static const char *bad[] = {"ab\xff", "ab\xc0\x80", "ab\xed\xa0\x80", "ab\xf4\x90\x80\x80",
                                "ab\xe2\x82", "ab\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(lx_tokenizer_encode(t, bad[i], strlen(bad[i]), NULL, 0, 0, &e, &err),
                         -1);
        assert_non_null(strstr(err.msg, "invalid UTF-8 at byte 2"));
    }
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    lx_vocab_free(v);
}

static void test_long_words_and_specials(void **state) {
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
    lx_encoding e;
    lx_encoding_init(&e);
    char w[128];
    memset(w, 'a', 100);
    w[100] = '\0';
    encode_str(t, w, NULL, 0, &e);          /* 100 characters: still word pieces */
    assert_true(e.n > 3);
    w[100] = 'a';
    w[101] = '\0';
    encode_str(t, w, NULL, 0, &e);          /* 101: [UNK] */
    assert_int_equal(e.n, 3);
    assert_string_equal(lx_vocab_token(v, e.input_ids[1]), "[UNK]");
    /* special tokens inside words; a special token rebuilt by removing a control char */
    encode_str(t, "x[MASK]y [MA\x01SK]", NULL, 0, &e);
    assert_int_equal(e.n, 6);
    assert_string_equal(lx_vocab_token(v, e.input_ids[2]), "[MASK]");
    assert_string_equal(lx_vocab_token(v, e.input_ids[4]), "[MASK]");
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    lx_vocab_free(v);
}

static void test_decode(void **state) {
    lx_vocab *v = bert_vocab();
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(v, 1, &err);
    lx_encoding e;
    lx_encoding_init(&e);
    encode_str(t, "Unaffable [MASK]!", NULL, 0, &e);
    size_t len;
    char *s = lx_tokenizer_decode(t, e.input_ids, e.n, 0, &len, &err);
    assert_string_equal(s, "[CLS] unaffable [MASK] ! [SEP]");
    assert_int_equal(len, strlen(s));
    free(s);
    s = lx_tokenizer_decode(t, e.input_ids, e.n, 1, NULL, &err);
    assert_string_equal(s, "unaffable !");
    free(s);
    int64_t badid = 30522;
    assert_null(lx_tokenizer_decode(t, &badid, 1, 0, NULL, &err));
    assert_non_null(strstr(err.msg, "got 30522"));
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    lx_vocab_free(v);
}

static void test_vocab(void **state) {
    lx_error err = {0};
    lx_vocab *v = lx_vocab_new(&err);
    const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "un"};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(lx_vocab_add(v, toks[i], strlen(toks[i]), &err), (int64_t)i);
    assert_int_equal(lx_vocab_find(v, "un", 2), 7);          /* the last one wins */
    assert_int_equal(lx_vocab_find(v, "##aff", 5), 5);
    assert_int_equal(lx_vocab_find(v, "aff", 3), -1);
    assert_string_equal(lx_vocab_token(v, 4), "un");
    assert_null(lx_vocab_token(v, 8));
    assert_int_equal(lx_vocab_add(v, "a\0b", 3, &err), -1);
    lx_tokenizer *t = lx_tokenizer_new(v, 0, &err);
    assert_non_null(t);
    lx_encoding e;
    lx_encoding_init(&e);
    encode_str(t, "unaffable UNaffable", NULL, 0, &e);   /* cased: UN... is unknown */
    assert_int_equal(e.n, 6);
    assert_int_equal(e.input_ids[1], 7);
    assert_int_equal(e.input_ids[2], 5);
    assert_int_equal(e.input_ids[3], 6);
    assert_int_equal(e.input_ids[4], 1);
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    lx_vocab_free(v);

    v = lx_vocab_new(&err);
    lx_vocab_add(v, "[UNK]", 5, &err);
    assert_null(lx_tokenizer_new(v, 1, &err));
    assert_non_null(strstr(err.msg, "no [SEP]"));
    lx_vocab_free(v);
    assert_null(lx_vocab_load("/nonexistent/vocab.txt", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/vocab.txt"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_cases),
        cmocka_unit_test(test_fast_path_matches_unicode_path),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_empty_texts),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_long_words_and_specials),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
