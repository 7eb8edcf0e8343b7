/* Unit tests of lx_reader_skip: skipping k records leaves the reader exactly where
 * reading them would have (the same record numbers, byte offsets and records after),
 * for JSON lines with bad lines of every kind, JSON arrays, --lines text and frames
 * (through memory, and through a regular file where the skip seeks). */
#include "testutil.h"

#define MAXEV 64

/* What one lx_reader_next returned: rc, the record number and bytes consumed after it,
 * the record as JSON (or the message). */
typedef struct event {
    int rc;
    uint64_t recno, bytes;
    char text[256];
} event;

static FILE *open_input(const char *data, size_t len, int on_disk) {
    if (!on_disk) return fmemopen((void *)data, len, "rb");
    const char *path = scratch("skip.in");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    f = fopen(path, "rb");
    unlink(path);
    return f;
}

/* Skip k records (k > 0), then read to the end: ev[0] is the state after the skip (rc =
 * the count skipped, or -1), ev[1..] the reads.  Returns the number of events; *dead
 * is set when the reads ended on an error the reader cannot go past. */
static size_t trace(const char *data, size_t len, const char *lines, uint64_t k, int on_disk,
                    event *ev, int *dead) {
    FILE *f = open_input(data, len, on_disk);
    assert_non_null(f);
    lx_error err = {0};
    lx_reader *rd = lx_reader_open(f, "t", &err);
    assert_non_null(rd);
    if (lines) lx_reader_set_lines(rd, lines);
    lx_record r;
    lx_record_init(&r);
    size_t n = 0;
    uint64_t skipped = 0;
    *dead = 0;
    if (k > 0) {
        int rc = lx_reader_skip(rd, k, &skipped, &err);
        ev[n++] = (event){.rc = rc < 0 ? -1 : (int)skipped, .recno = lx_reader_record_no(rd),
                          .bytes = lx_reader_bytes(rd)};
        if (rc < 0) goto done;
    }
    for (;;) {
        assert_true(n < MAXEV);
        int rc = lx_reader_next(rd, &r, &err);
        if (rc == 0) break;
        event *e = &ev[n++];
        *e = (event){.rc = rc, .recno = lx_reader_record_no(rd), .bytes = lx_reader_bytes(rd)};
        if (rc > 0) {
            char *j;
            size_t jl;
            assert_int_equal(lx_record_to_json(&r, &j, &jl, &err), 0);
            snprintf(e->text, sizeof e->text, "%.200s", j);
            free(j);
        } else {
            snprintf(e->text, sizeof e->text, "%.200s", err.msg);
            if (!lx_reader_can_resume(rd)) {
                *dead = 1;
                break;
            }
        }
    }
done:
    lx_record_clear(&r);
    lx_reader_close(rd);
    fclose(f);
    return n;
}

/* For every k: skipping k records == reading k records and going on. */
static void check_equivalent(const char *data, size_t len, const char *lines) {
    for (int on_disk = 0; on_disk < 2; on_disk++) {
        event full[MAXEV], part[MAXEV];
        int dead, pdead;
        size_t nf = trace(data, len, lines, 0, on_disk, full, &dead);
        for (uint64_t k = 1; k <= nf + 2; k++) {
            size_t np = trace(data, len, lines, k, on_disk, part, &pdead);
            assert_true(np >= 1);
            if (k > nf || (dead && k == nf)) {
                /* past the end: all there is skipped; or into an error the reader
                 * cannot go past: the same error */
                assert_int_equal(part[0].rc, dead ? -1 : (int)nf);
                continue;
            }
            if (part[0].rc != (int)k || part[0].recno != full[k - 1].recno ||
                part[0].bytes != full[k - 1].bytes)
                fail_msg("%s: skip %llu: got %d records to record %llu at byte %llu, read "
                         "gave record %llu at byte %llu", on_disk ? "file" : "memory",
                         (unsigned long long)k, part[0].rc, (unsigned long long)part[0].recno,
                         (unsigned long long)part[0].bytes, (unsigned long long)full[k - 1].recno,
                         (unsigned long long)full[k - 1].bytes);
            assert_int_equal(np - 1, nf - k);
            for (size_t i = 1; i < np; i++) {
                const event *a = &part[i], *b = &full[k - 1 + i];
                if (a->rc != b->rc || a->recno != b->recno || a->bytes != b->bytes ||
                    strcmp(a->text, b->text) != 0)
                    fail_msg("skip %llu, then event %zu: got %d/%llu/%llu '%s', expected "
                             "%d/%llu/%llu '%s'", (unsigned long long)k, i, a->rc,
                             (unsigned long long)a->recno, (unsigned long long)a->bytes,
                             a->text, b->rc, (unsigned long long)b->recno,
                             (unsigned long long)b->bytes, b->text);
            }
        }
    }
}

static void check_str(const char *s) { check_equivalent(s, strlen(s), NULL); }

static void test_json_lines(void **st) {
    (void)st;
    check_str("{\"a\":1}\n{\"a\":2}\n  \n{\"a\":3}  \n{\"b\":[1,2]}\n");
    check_str("{\"a\":1}");
    check_str("\n\n  {\"a\":1}\n\n");
    check_str("");
}

/* Every kind of bad line a reader with --skip-bad goes past, and values sharing lines. */
static void test_json_bad_lines(void **st) {
    (void)st;
    check_str("{\"a\":1}\n"
              "xyz\n"                          /* not an object */
              "{\"a\":tru}\n"                  /* bad, alone on its line */
              "{\"a\":2}\n"
              "{\n \"p\": 1\n}\n"              /* good, pretty-printed */
              "{\n \"q\": \n}\n"               /* bad, pretty-printed: read line by line */
              "{\"c\":1} {\"d\":2}\n"          /* two good ones on a line */
              "{\"e\":1,} {\"f\":2}\n"         /* a bad one, then a good one, on a line */
              "{\"a\":1,\"a\":2}   \n"         /* duplicate keys, trailing blanks */
              "{\"g\":3}\n"
              "{\"h\": \"x}\n"                 /* unterminated string: swallows lines */
              "{\"i\":4}\n"
              "{\"j\": [1, 2\n");              /* the input ends inside it */
}

static void test_json_array(void **st) {
    (void)st;
    check_str("[{\"a\":1},\n {\"a\":2}, {\"b\":\n 3}]\n");
    check_str("  [ ]  ");
    check_str("[{\"a\":1}, {\"a\":2}");          /* ends inside the array */
    check_str("[{\"a\":1}, 7, {\"a\":2}]");      /* a bad element stops the reader */
    check_str("[{\"a\":1}] {\"b\":2}");          /* data after the array */
}

static void test_lines(void **st) {
    (void)st;
    const char *s = "what is it?\n\nsecond line\r\nno newline at the end";
    check_equivalent(s, strlen(s), "text");
}

/* Frames of several sizes (the skip seeks in a file and reads from memory), then the
 * same stream cut inside its last frame. */
static void test_frames(void **st) {
    (void)st;
    char *all = NULL;
    size_t total = 0;
    lx_error err = {0};
    for (int i = 0; i < 6; i++) {
        lx_record r;
        lx_record_init(&r);
        int64_t shape[2] = {i * 700 + 1, 3};
        lx_tensor t;
        assert_int_equal(lx_tensor_alloc(&t, LX_F32, 2, shape, &err), 0);
        for (int64_t j = 0; j < shape[0] * 3; j++) ((float *)t.data)[j] = (float)(i + j);
        assert_int_equal(lx_record_set_json(&r, "id", json_integer(i), &err), 0);
        assert_int_equal(lx_record_set_tensor(&r, "x", &t, &err), 0);
        char *b;
        size_t l;
        assert_int_equal(lx_record_to_frame(&r, &b, &l, &err), 0);
        all = realloc(all, total + l);
        memcpy(all + total, b, l);
        total += l;
        free(b);
        lx_record_clear(&r);
    }
    check_equivalent(all, total, NULL);
    check_equivalent(all, total - 100, NULL);  /* the last frame cut short */
    check_equivalent(all, total - 8000, NULL); /* cut inside the last frame's data */
    memcpy(all, "LXRG", 4);                    /* not a stream */
    check_equivalent(all, total, NULL);
    free(all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_json_bad_lines),
        cmocka_unit_test(test_json_array),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
