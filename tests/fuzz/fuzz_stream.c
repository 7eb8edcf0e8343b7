/*
 * fuzz_stream — a record stream (lib/stream.c, json_codec.c, frame.c): the input is read
 * through lx_reader from a memory FILE, the format told from its first bytes as the
 * tools tell it (JSON lines, a JSON array, binary frames).  Every record read is written
 * back in both encodings, and each encoding is read and written again: the second
 * writing must give the same bytes as the first (what the writer emits, the reader reads
 * back to the same record).  After a bad JSON record the reader goes on, as --skip-bad
 * does.
 */
#include "fuzz.h"
#include "internal.h"

#define MAX_RECORDS 64

static void fail(const char *what, const lx_error *err) {
    fprintf(stderr, "fuzz_stream: %s: %s\n", what, err ? err->msg : "");
    abort();
}

/* encode(r) in fmt; then decode that and encode it again: the same bytes. */
static void round_trip(const lx_record *r, lx_format fmt) {
    lx_error err = {0};
    char *a;
    size_t alen;
    int rc = fmt == LX_FMT_BIN ? lx_record_to_frame(r, &a, &alen, &err)
                               : lx_record_to_json(r, &a, &alen, &err);
    if (rc < 0) return; /* not every record can be written (NaN has no JSON) */
    FILE *f = fmemopen(a, alen, "rb");
    if (!f) abort();
    lx_reader *rd = lx_reader_open(f, "round trip", &err);
    if (!rd) abort();
    lx_record back;
    lx_record_init(&back);
    if (lx_reader_next(rd, &back, &err) != 1) {
        fprintf(stderr, "%.*s\n", (int)(alen < 2000 ? alen : 2000), a);
        fail(fmt == LX_FMT_BIN ? "a written frame does not read back"
                               : "a written JSON line does not read back", &err);
    }
    char *b;
    size_t blen;
    rc = fmt == LX_FMT_BIN ? lx_record_to_frame(&back, &b, &blen, &err)
                           : lx_record_to_json(&back, &b, &blen, &err);
    if (rc < 0) fail("a record read back does not write", &err);
    if (blen != alen || memcmp(a, b, alen) != 0) {
        fprintf(stderr, "first:  %.*s\nsecond: %.*s\n", (int)(alen < 2000 ? alen : 2000), a,
                (int)(blen < 2000 ? blen : 2000), b);
        fail(fmt == LX_FMT_BIN ? "a frame written twice differs"
                               : "a JSON line written twice differs", NULL);
    }
    free(b);
    lx_record_clear(&back);
    lx_reader_close(rd);
    fclose(f);
    free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* fmemopen may refuse an empty buffer */
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    if (!f) abort();
    lx_error err = {0};
    lx_reader *rd = lx_reader_open(f, "fuzz", &err);
    if (!rd) abort();
    lx_record r;
    lx_record_init(&r);
    for (int i = 0; i < MAX_RECORDS; i++) {
        int rc = lx_reader_next(rd, &r, &err);
        if (rc == 0) break;
        if (rc < 0) {
            if (!err.msg[0]) fail("an error without a message", NULL);
            if (!lx_reader_can_resume(rd)) break;
            continue;
        }
        round_trip(&r, LX_FMT_JSON);
        round_trip(&r, LX_FMT_BIN);
    }
    lx_record_clear(&r);
    lx_reader_close(rd);
    fclose(f);
    return 0;
}
