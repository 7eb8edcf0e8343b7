/* Unit tests of the YAML reader: the fixture's config.yaml reads as the JSON its
 * config.json holds (what PyYAML gave), scalars typed as PyYAML types them (each case
 * checked against PyYAML 6), structures, and what is refused with the file and line. */
#include "testutil.h"
#include <sys/stat.h>

#define TINY "frcnn/models/frcnn-tiny"

static void test_fixture(void **state) {
    (void)state;
    lx_error err = {0};
    json_t *y = lx_yaml_read_file(fixture(TINY "/config.yaml"), &err);
    if (!y) fail_msg("%s", err.msg);
    json_t *j = json_load_file(fixture(TINY "/config.json"), 0, NULL);
    assert_non_null(j);
    json_t *hf = json_object_get(json_object_get(j, "tiny_fixture"), "hf_config");
    if (!json_equal(y, hf)) {
        char *a = json_dumps(y, JSON_SORT_KEYS), *b = json_dumps(hf, JSON_SORT_KEYS);
        fail_msg("config.yaml reads as\n%s\nexpected\n%s", a, b);
    }
    /* integers stay integers and reals reals, as json.dump wrote them */
    assert_true(json_is_real(json_object_get(json_object_get(y, "solver"), "ims_per_batch")));
    assert_true(json_is_integer(json_object_get(y, "min_detections")));
    json_decref(j);
    json_decref(y);
}

/* text parsed as YAML equals want parsed as JSON. */
static void same(const char *text, const char *want) {
    lx_error err = {0};
    json_t *y = lx_yaml_parse(text, strlen(text), "t.yaml", &err);
    if (!y) fail_msg("%s: %s", text, err.msg);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    if (!json_equal(y, w)) {
        char *s = json_dumps(y, JSON_ENCODE_ANY);
        fail_msg("'%s' reads as %s, expected %s", text, s, want);
    }
    json_decref(y);
    json_decref(w);
}

/* The value of "a: X" as PyYAML's yaml.load gives it. */
static void test_scalars(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"1", "1"}, {"-0", "0"}, {"+12", "12"}, {"1_000", "1000"}, {"0x1f", "31"},
        {"0x_1F", "31"}, {"-0b11", "-3"}, {"017", "15"}, {"0755", "493"}, {"08", "\"08\""},
        {"190:20:30", "685230"}, {"-9223372036854775808", "-9223372036854775808"},
        {"9223372036854775807", "9223372036854775807"},
        {"1.5", "1.5"}, {"1.", "1.0"}, {".5", "0.5"}, {"-.5", "\"-.5\""}, {"+.5", "\"+.5\""},
        {"1.0e-5", "1e-05"}, {"1.0e+5", "100000.0"}, {"1.5E+3", "1500.0"}, {"1_2.5_", "12.5"},
        {"190:20:30.5", "685230.5"}, {"-1:30.5", "-90.5"}, {"102.9801", "102.9801"},
        {"1e-5", "\"1e-5\""}, {"1e5", "\"1e5\""}, {"1.0e5", "\"1.0e5\""}, {"0o17", "\"0o17\""},
        {"1.5:3", "\"1.5:3\""},
        {"true", "true"}, {"False", "false"}, {"YES", "true"}, {"no", "false"}, {"On", "true"},
        {"off", "false"}, {"OFF", "false"}, {"tRUE", "\"tRUE\""}, {"y", "\"y\""},
        {"~", "null"}, {"null", "null"}, {"Null", "null"}, {"nULL", "\"nULL\""}, {"", "null"},
        {"'1'", "\"1\""}, {"\"true\"", "\"true\""}, {"'~'", "\"~\""}, {"''", "\"\""},
        {"res4", "\"res4\""}, {"BGR", "\"BGR\""}, {"a b  c", "\"a b  c\""},
        {"\"tab\\there\"", "\"tab\\there\""}, {"'it''s'", "\"it's\""}, {"\"\\u00e9\"", "\"\\u00e9\""},
        {"|\n  one\n  two\n", "\"one\\ntwo\\n\""}, {">\n  one\n  two\n", "\"one two\\n\""},
        {"caf\xc3\xa9", "\"caf\\u00e9\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[256], want[256];
        snprintf(text, sizeof text, "a: %s", cases[i][0]);
        snprintf(want, sizeof want, "{\"a\": %s}", cases[i][1]);
        same(text, want);
    }
}

static void test_structures(void **state) {
    (void)state;
    same("", "null");
    same("# only a comment\n", "null");
    same("---\n", "null");
    same("- 1\n- [2, 3]\n- {a: b}\n", "[1, [2, 3], {\"a\": \"b\"}]");
    same("a:\n  - 1\n  -\n  - x\n", "{\"a\": [1, null, \"x\"]}");
    same("a: {b: {c: [1, {d: e}]}}\nf: []\ng: {}\n",
         "{\"a\": {\"b\": {\"c\": [1, {\"d\": \"e\"}]}}, \"f\": [], \"g\": {}}");
    same("input: {max_size_train: 1333, min_size_train: 640,\n  format: BGR}\n",
         "{\"input\": {\"max_size_train\": 1333, \"min_size_train\": 640, \"format\": \"BGR\"}}");
    same("sizes:\n- [16, 32]\n- - 64\n  - 128\n", "{\"sizes\": [[16, 32], [64, 128]]}");
    same("? a\n: 1\n'1': x\n\"on\": y\n", "{\"a\": 1, \"1\": \"x\", \"on\": \"y\"}");
    same("%YAML 1.1\n---\na: 1\n...\n", "{\"a\": 1}");
    same("\xef\xbb\xbf" "a: 1\r\nb: 2\r\n", "{\"a\": 1, \"b\": 2}");
    /* keys keep their order */
    lx_error err = {0};
    json_t *y = lx_yaml_parse("z: 1\na: 2\nm: 3\n", 15, "t.yaml", &err);
    assert_non_null(y);
    char *s = json_dumps(y, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"z\":1,\"a\":2,\"m\":3}");
    free(s);
    json_decref(y);
}

/* text must fail with want in the message. */
static void refused(const char *text, const char *want) {
    lx_error err = {0};
    json_t *y = lx_yaml_parse(text, strlen(text), "c.yaml", &err);
    if (y) fail_msg("accepted '%s'", text);
    if (!strstr(err.msg, want)) fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, want);
}

static void test_refused(void **state) {
    (void)state;
    refused("a: 1\nb: &x 2\n", "c.yaml: line 2: anchors (&x) are not supported");
    refused("a: &x [1]\nb: *x\n", "c.yaml: line 1: anchors");
    refused("a: 1\nb: *x\n", "c.yaml: line 2: aliases (*x) are not supported");
    refused("a: !!str 1\n", "c.yaml: line 1: tags (tag:yaml.org,2002:str) are not supported");
    refused("a: !!python/tuple [1, 2]\n", "tags (tag:yaml.org,2002:python/tuple)");
    refused("a: ! x\n", "tags (!)");
    refused("a:\n  <<: {b: 1}\n", "c.yaml: line 2: merge keys (<<) are not supported");
    refused("a: <<\n", "merge keys");
    refused("a: 2002-12-14\n", "c.yaml: line 1: 2002-12-14: a date");
    refused("a: 2001-12-14t21:59:43.10-05:00\n", "a date");
    refused("a: =\n", "'='");
    refused("a: .inf\n", "c.yaml: line 1: .inf: not a finite number");
    refused("a: -.Inf\n", "not a finite number");
    refused("a: .NaN\n", "not a finite number");
    refused("a: 1.0e+400\n", "not a finite number");
    refused("a: 9223372036854775808\n", "an integer beyond 64 bits");
    refused("a: 0b_\n", "an integer beyond 64 bits");
    refused("a: 1\nb: 2\na: 3\n", "c.yaml: line 3: the key 'a' is given twice");
    refused("x: {a: 1, a: 1}\n", "the key 'a' is given twice");
    refused("on: 1\n", "c.yaml: line 1: the key 'on' is a boolean, not a string (quote it)");
    refused("1: x\n", "the key '1' is a number");
    refused("~: x\n", "the key '~' is null");
    refused("? [a]\n: 1\n", "a mapping key must be a scalar");
    refused("? {a: 1}\n: 1\n", "a mapping key must be a scalar");
    refused("a: 1\n---\nb: 2\n", "c.yaml: line 2: a second document");
    refused("a: [1, 2\n", "c.yaml: line 2, column 1: did not find expected ',' or ']'");
    refused("a: 1\n b: 2\n", "c.yaml: line 2, column 3: mapping values are not allowed");
    refused("a:\n\t- 1\n", "c.yaml: line 2, column 1: found character that cannot start");
    refused("a: \"x\n", "found unexpected end of stream");
    refused("a: \"\\ud800\"\n", "invalid Unicode character escape code");
    refused("a: \xff\n", "c.yaml: byte 3: invalid leading UTF-8 octet");
    refused("\"a\\0b\": 1\n", "a key holds a NUL character");
}

static void test_depth(void **state) {
    (void)state;
    char text[300];
    lx_error err = {0};
    for (int depth = 64; depth <= 65; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        json_t *y = lx_yaml_parse(text, 2 * (size_t)depth, "d.yaml", &err);
        if (depth == 64) {
            if (!y) fail_msg("64 deep: %s", err.msg);
            json_decref(y);
        } else {
            assert_null(y);
            assert_non_null(strstr(err.msg, "d.yaml: line 1: nested more than 64 deep"));
        }
    }
}

static void test_files(void **state) {
    (void)state;
    lx_error err = {0};
    const char *p = scratch("c.yaml");
    assert_null(lx_yaml_read_file(p, &err));
    assert_non_null(strstr(err.msg, "c.yaml: cannot open: No such file or directory"));
    FILE *f = fopen(p, "w");
    fputs("a: [1\n", f);
    fclose(f);
    assert_null(lx_yaml_read_file(p, &err));
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, ": line 2, column 1: "));
    f = fopen(p, "w");
    fclose(f);
    json_t *y = lx_yaml_read_file(p, &err);
    assert_true(json_is_null(y));
    json_decref(y);
    unlink(p);
    /* a FIFO is refused, not waited on */
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_null(lx_yaml_read_file(p, &err));
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(p);
    /* the size bound */
    size_t len;
    char *b = lx_file_read(fixture(TINY "/config.yaml"), 100, "a YAML file", &len, &err);
    assert_null(b);
    assert_non_null(strstr(err.msg, "config.yaml: 1933 bytes, more than a YAML file may have (100)"));
    b = lx_file_read(fixture(TINY "/config.yaml"), 1933, "a YAML file", &len, &err);
    assert_non_null(b);
    assert_int_equal(len, 1933);
    assert_int_equal(b[len], 0);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_structures),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
