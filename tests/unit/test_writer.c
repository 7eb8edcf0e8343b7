/* Unit tests of lx_writer: the file receives whole records only, so that the output of a
 * run killed between two writes ends on a whole record (small JSON lines, frames larger
 * than stdio's buffer, and both mixed, at several buffer sizes). */
#include "testutil.h"
#include <sys/stat.h>

/* A record of one f32 tensor of n values (and an id). */
static void make_record(lx_record *r, int id, int64_t n) {
    lx_error err = {0};
    lx_tensor t;
    int64_t shape[1] = {n};
    lx_record_init(r);
    assert_int_equal(lx_tensor_alloc(&t, LX_F32, 1, shape, &err), 0);
    for (int64_t i = 0; i < n; i++) ((float *)t.data)[i] = (float)(id * 1000 + i) / 7.0f;
    assert_int_equal(lx_record_set_json(r, "id", json_integer(id), &err), 0);
    assert_int_equal(lx_record_set_tensor(r, "x", &t, &err), 0);
}

static off_t file_size(FILE *f) {
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    return st.st_size;
}

/* After every write, the bytes in the file are a whole number of records. */
static void check_whole(lx_format fmt, size_t bufsize) {
    static const int64_t sizes[] = {1, 3, 200, 70000, 2, 5, 120000, 1, 1, 1, 40000, 9, 3000};
    const size_t n = sizeof sizes / sizeof *sizes;
    const char *path = scratch("writer.out");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (bufsize) assert_int_equal(setvbuf(f, NULL, _IOFBF, bufsize), 0);
    lx_error err = {0};
    lx_writer *w = lx_writer_open(f, fmt, &err);
    assert_non_null(w);
    off_t ends[sizeof sizes / sizeof *sizes + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        lx_record r;
        char *buf;
        size_t len;
        make_record(&r, (int)i, sizes[i]);
        assert_int_equal(fmt == LX_FMT_BIN ? lx_record_to_frame(&r, &buf, &len, &err)
                                           : lx_record_to_json(&r, &buf, &len, &err), 0);
        free(buf);
        ends[i + 1] = ends[i] + (off_t)len;
        assert_int_equal(lx_writer_write(w, &r, &err), 0);
        lx_record_clear(&r);
        off_t at = file_size(f);
        size_t k = 0;
        while (k <= i + 1 && ends[k] != at) k++;
        if (k > i + 1)
            fail_msg("%s, buffer %zu: after record %zu the file holds %lld bytes, not a whole "
                     "number of records", fmt == LX_FMT_BIN ? "frames" : "JSON", bufsize, i,
                     (long long)at);
    }
    lx_writer_close(w);
    assert_int_equal(file_size(f), ends[n]);
    fclose(f);
    unlink(path);
}

static void test_whole_records(void **st) {
    (void)st;
    static const size_t bufs[] = {0, 512, 4096, 65536, 1 << 20};
    for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++) {
        check_whole(LX_FMT_JSON, bufs[b]);
        check_whole(LX_FMT_BIN, bufs[b]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
