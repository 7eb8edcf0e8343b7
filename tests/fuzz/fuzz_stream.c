/*
 * fuzz_stream — a record stream (lib/stream.c, json_codec.c, frame.c): the input is read
 * through lx_reader from a memory FILE, the format told from its first bytes as the
 * tools tell it (JSON lines, a JSON array, binary frames).  Every record read is written
 * back in both encodings, and each encoding is read and written again, twice: every
 * writing must read back, and the last two must be the same bytes.  After a bad JSON record the reader goes on, as --skip-bad
 * does.
 */
#include "fuzz.h"
#include "internal.h"

#define MAX_RECORDS 64

static void fail(const char *what, const lx_error *err) {
    fprintf(stderr, "fuzz_stream: %s: %s\n", what, err ? err->msg : "");
    abort();
}

/* Encode r in fmt; decode and encode what was written, twice.  Every encoding must read
 * back, and the last two must be the same bytes.  (Not the first two: a 0-d f32 tensor
 * written as JSON reads back as a JSON number, which is written in double precision.) */
static void encode(const lx_record *r, lx_format fmt, char **out, size_t *len) {
    lx_error err = {0};
    int rc = fmt == LX_FMT_BIN ? lx_record_to_frame(r, out, len, &err)
                               : lx_record_to_json(r, out, len, &err);
    if (rc < 0) fail("a record read back does not write", &err);
}

static void decode(const char *text, size_t len, lx_format fmt, lx_record *back) {
    lx_error err = {0};
    FILE *f = fmemopen((void *)text, len, "rb");
    if (!f) abort();
    lx_reader *rd = lx_reader_open(f, "round trip", &err);
    if (!rd) abort();
    if (lx_reader_next(rd, back, &err) != 1) {
        fprintf(stderr, "%.*s\n", (int)(len < 2000 ? len : 2000), text);
        fail(fmt == LX_FMT_BIN ? "a written frame does not read back"
                               : "a written JSON line does not read back", &err);
    }
    if (lx_record_own(back, &err) < 0) abort();
    lx_reader_close(rd);
    fclose(f);
}

static void round_trip(const lx_record *r, lx_format fmt) {
    lx_error err = {0};
    char *a;
    size_t alen;
    int rc = fmt == LX_FMT_BIN ? lx_record_to_frame(r, &a, &alen, &err)
                               : lx_record_to_json(r, &a, &alen, &err);
    if (rc < 0) return; /* not every record can be written (NaN has no JSON) */
    char *b, *c;
    size_t blen, clen;
    lx_record back;
    lx_record_init(&back);
    decode(a, alen, fmt, &back);
    encode(&back, fmt, &b, &blen);
    lx_record_clear(&back);
    decode(b, blen, fmt, &back);
    encode(&back, fmt, &c, &clen);
    lx_record_clear(&back);
    if (blen != clen || memcmp(b, c, blen) != 0) {
        fprintf(stderr, "second: %.*s\nthird:  %.*s\n", (int)(blen < 2000 ? blen : 2000), b,
                (int)(clen < 2000 ? clen : 2000), c);
        fail(fmt == LX_FMT_BIN ? "a frame written again differs"
                               : "a JSON line written again differs", NULL);
    }
    free(a);
    free(b);
    free(c);
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
