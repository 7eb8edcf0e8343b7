/* Unit tests of lx_record: field order, replace and remove, and the name index of a
 * large record (lookups, building, parsing and writing stay linear in its size). */
#include "testutil.h"

#define BIG 100000

static void name_of(char *buf, size_t n, size_t i) { snprintf(buf, n, "k%zu", i); }

static void set_int(lx_record *r, const char *name, long long v) {
    lx_error err = {0};
    assert_int_equal(lx_record_set_json(r, name, json_integer(v), &err), 0);
}

static long long get_int(const lx_record *r, const char *name) {
    json_t *v = lx_record_json(r, name);
    assert_non_null(v);
    return (long long)json_integer_value(v);
}

/* Every field is where its number says and found by its name. */
static void check_all(const lx_record *r, size_t n, size_t removed_every) {
    char name[32];
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        name_of(name, sizeof name, i);
        if (removed_every && i % removed_every == 0) {
            assert_null(lx_record_find(r, name));
            continue;
        }
        lx_field *f = lx_record_find(r, name);
        assert_non_null(f);
        assert_ptr_equal(f, &r->fields[at]);
        assert_string_equal(f->name, name);
        at++;
    }
    assert_int_equal(r->nfields, at);
}

/* Small and large records alike: order of insertion, replacing in place, removing. */
static void test_order_replace_remove(void **st) {
    (void)st;
    static const size_t sizes[] = {1, 5, 16, 17, 40, 1000};
    char name[32];
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        lx_record r;
        lx_record_init(&r);
        for (size_t i = 0; i < n; i++) {
            name_of(name, sizeof name, i);
            set_int(&r, name, (long long)i);
        }
        check_all(&r, n, 0);
        assert_null(lx_record_find(&r, "absent"));
        /* replacing keeps the place */
        name_of(name, sizeof name, n / 2);
        set_int(&r, name, -1);
        assert_int_equal(r.nfields, n);
        assert_int_equal(get_int(&r, name), -1);
        assert_ptr_equal(lx_record_find(&r, name), &r.fields[n / 2]);
        /* removing every third field keeps the others in order and findable */
        for (size_t i = 0; i < n; i += 3) {
            name_of(name, sizeof name, i);
            assert_int_equal(lx_record_remove(&r, name), 1);
            assert_int_equal(lx_record_remove(&r, name), 0);
        }
        check_all(&r, n, 3);
        /* a new field goes to the end and is found */
        set_int(&r, "new", 7);
        assert_ptr_equal(lx_record_find(&r, "new"), &r.fields[r.nfields - 1]);
        lx_record_clear(&r);
        assert_int_equal(r.nfields, 0);
        assert_null(lx_record_find(&r, "new"));
    }
}

/* 100 000 fields: built, found, replaced, and through JSON and frames and back.  With
 * a linear lookup this took tens of seconds; it must finish at once (the test has no
 * clock: a quadratic path makes it run for minutes, and make check's time shows it). */
static void test_large_record(void **st) {
    (void)st;
    char name[32];
    lx_error err = {0};
    lx_record r, back;
    lx_record_init(&r);
    lx_record_init(&back);
    for (size_t i = 0; i < BIG; i++) {
        name_of(name, sizeof name, i);
        set_int(&r, name, (long long)i);
    }
    for (size_t i = 0; i < BIG; i += 7) {
        name_of(name, sizeof name, i);
        set_int(&r, name, (long long)i * 2);
    }
    check_all(&r, BIG, 0);
    for (int bin = 0; bin < 2; bin++) {
        char *buf;
        size_t len;
        if (bin) {
            assert_int_equal(lx_record_to_frame(&r, &buf, &len, &err), 0);
            assert_int_equal(lx_record_from_frame(&back, buf, len, &err), 0);
        } else {
            assert_int_equal(lx_record_to_json(&r, &buf, &len, &err), 0);
            assert_int_equal(lx_record_from_json(&back, buf, len, &err), 0);
            free(buf);
        }
        check_all(&back, BIG, 0);
        assert_int_equal(get_int(&back, "k700"), 1400);
        assert_int_equal(get_int(&back, "k701"), 701);
        lx_record_clear(&back);
    }
    /* duplicate keys are still refused, in a large object as in a small one */
    const char *dup = "{\"a\":1,\"b\":2,\"a\":3}";
    assert_int_equal(lx_record_from_json(&back, dup, strlen(dup), &err), -1);
    assert_non_null(strstr(err.msg, "duplicate"));
    lx_record_clear(&r);
}

/* Names that differ only late, share prefixes, or are empty are told apart. */
static void test_similar_names(void **st) {
    (void)st;
    lx_record r;
    lx_record_init(&r);
    char name[64];
    set_int(&r, "", -5);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "%0*d", 1 + i % 40, i);
        set_int(&r, name, i);
    }
    assert_int_equal(get_int(&r, ""), -5);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "%0*d", 1 + i % 40, i);
        assert_int_equal(get_int(&r, name), i);
    }
    assert_null(lx_record_find(&r, "0000"));
    lx_record_clear(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_replace_remove),
        cmocka_unit_test(test_large_record),
        cmocka_unit_test(test_similar_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
