/* Unit tests of the record codecs: JSON lines, binary frames, the reader's detection,
 * and what happens with truncated or hostile input. */
#include <errno.h>
#include "testutil.h"
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

/* Read every record of a file (any encoding) into recs; returns the count. */
static size_t read_all(const char *path, lx_record *recs, size_t max) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    lx_error err = {0};
    lx_reader *rd = lx_reader_open(f, path, &err);
    assert_non_null(rd);
    size_t n = 0;
    for (;;) {
        assert_true(n < max);
        lx_record_init(&recs[n]);
        int rc = lx_reader_next(rd, &recs[n], &err);
        if (rc < 0) fail_msg("%s", err.msg);
        if (rc == 0) break;
        assert_int_equal(lx_record_own(&recs[n], &err), 0);
        n++;
    }
    lx_reader_close(rd);
    fclose(f);
    return n;
}

/* Encode records with fn into one buffer. */
static char *encode_all(lx_record *recs, size_t n, int bin, size_t *len) {
    char *all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char *b;
        size_t l;
        lx_error err;
        int rc = bin ? lx_record_to_frame(&recs[i], &b, &l, &err) : lx_record_to_json(&recs[i], &b, &l, &err);
        if (rc < 0) fail_msg("%s", err.msg);
        all = realloc(all, total + l);
        memcpy(all + total, b, l);
        total += l;
        free(b);
    }
    *len = total;
    return all;
}

static size_t decode_mem(const char *buf, size_t len, lx_record *recs, size_t max, lx_error *err,
                         int *status) {
    FILE *f = fmemopen((void *)buf, len, "rb");
    assert_non_null(f);
    lx_reader *rd = lx_reader_open(f, "mem", err);
    size_t n = 0;
    *status = 0;
    for (;;) {
        assert_true(n < max);
        lx_record_init(&recs[n]);
        int rc = lx_reader_next(rd, &recs[n], err);
        if (rc <= 0) {
            *status = rc;
            lx_record_clear(&recs[n]);
            break;
        }
        lx_record_own(&recs[n], err);
        n++;
    }
    lx_reader_close(rd);
    fclose(f);
    return n;
}

static void same_records(const lx_record *a, const lx_record *b) {
    assert_int_equal(a->nfields, b->nfields);
    for (size_t i = 0; i < a->nfields; i++) {
        const lx_field *x = &a->fields[i], *y = &b->fields[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(!x->json, !y->json);
        if (x->json) {
            assert_true(json_equal(x->json, y->json));
            continue;
        }
        assert_int_equal(x->tensor.dtype, y->tensor.dtype);
        assert_int_equal(x->tensor.ndim, y->tensor.ndim);
        for (int d = 0; d < x->tensor.ndim; d++) assert_int_equal(x->tensor.shape[d], y->tensor.shape[d]);
        assert_memory_equal(x->tensor.data, y->tensor.data, (size_t)lx_tensor_nbytes(&x->tensor));
    }
}

static void test_float_format(void **st) {
    char buf[32];
    lx_format_float(buf, 0.0f);
    assert_string_equal(buf, "0.0");
    lx_format_float(buf, 1.0f);
    assert_string_equal(buf, "1.0");
    lx_format_float(buf, 0.1f);
    assert_string_equal(buf, "0.1");
    lx_format_float(buf, -2.5e-8f);
    assert_string_equal(buf, "-2.5e-08");
    /* every float in a spread of bit patterns reads back to the same bits */
    for (uint32_t u = 0; u < 0x7f800000u; u += 0x10001u) {
        float f, g;
        memcpy(&f, &u, 4);
        lx_format_float(buf, f);
        g = strtof(buf, NULL);
        assert_memory_equal(&f, &g, 4);
        assert_true(strpbrk(buf, ".e") != NULL);
    }
}

static void test_f16_bf16(void **st) {
    assert_true(lx_f16_to_f32(lx_f32_to_f16(1.0f)) == 1.0f);
    assert_true(lx_f16_to_f32(lx_f32_to_f16(65504.0f)) == 65504.0f);
    assert_true(isinf(lx_f16_to_f32(lx_f32_to_f16(65520.0f))));
    assert_true(lx_f16_to_f32(lx_f32_to_f16(5.960464477539063e-08f)) == 5.960464477539063e-08f);
    assert_true(lx_bf16_to_f32(lx_f32_to_bf16(1.00390625f)) == 1.0f);   /* tie to even */
    assert_true(lx_bf16_to_f32(lx_f32_to_bf16(1.01171875f)) == 1.015625f); /* tie to even (up) */
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite f16 survives f32 and back */
        assert_int_equal(lx_f32_to_f16(lx_f16_to_f32((uint16_t)h)), h);
}

/* cases.jsonl -> frames -> JSON -> frames: identical bytes, identical values */
static void test_roundtrip_cases(void **st) {
    static lx_record a[16], b[16], c[16];
    size_t n = read_all(fixture("cases.jsonl"), a, 16);
    assert_int_equal(n, 5);
    lx_tensor *vf = lx_record_tensor(&a[0], "visual_feats");
    assert_non_null(vf);
    assert_int_equal(vf->dtype, LX_F32);
    assert_int_equal(vf->ndim, 2);
    assert_int_equal(vf->shape[1], 2048);
    assert_int_equal(lx_record_tensor(&a[0], "input_ids")->dtype, LX_I64);
    size_t l1, l2, l3, l4;
    char *bin1 = encode_all(a, n, 1, &l1);
    lx_error err;
    int status;
    assert_int_equal(decode_mem(bin1, l1, b, 16, &err, &status), n);
    assert_int_equal(status, 0);
    for (size_t i = 0; i < n; i++) same_records(&a[i], &b[i]);
    char *json1 = encode_all(b, n, 0, &l2);
    assert_int_equal(decode_mem(json1, l2, c, 16, &err, &status), n);
    for (size_t i = 0; i < n; i++) same_records(&a[i], &c[i]);
    char *bin2 = encode_all(c, n, 1, &l3);
    assert_int_equal(l1, l3);
    assert_memory_equal(bin1, bin2, l1);
    char *json2 = encode_all(a, n, 0, &l4);
    assert_int_equal(l2, l4);
    assert_memory_equal(json1, json2, l2);
    /* every float of the text reads back to the same float32 bits */
    FILE *f = fopen(fixture("cases.jsonl"), "rb");
    char *line = NULL;
    size_t cap = 0;
    assert_true(getline(&line, &cap, f) > 0);
    json_t *o = json_loads(line, 0, NULL);
    json_t *feats = json_object_get(o, "visual_feats");
    const float *d = a[0].fields ? lx_record_tensor(&a[0], "visual_feats")->data : NULL;
    for (size_t i = 0; i < json_array_size(feats); i++)
        for (size_t j = 0; j < json_array_size(json_array_get(feats, i)); j++) {
            float want = (float)json_number_value(json_array_get(json_array_get(feats, i), j));
            assert_memory_equal(&want, &d[i * 2048 + j], 4);
        }
    json_decref(o);
    free(line);
    fclose(f);
    for (size_t i = 0; i < n; i++) lx_record_clear(&a[i]), lx_record_clear(&b[i]), lx_record_clear(&c[i]);
    free(bin1), free(bin2), free(json1), free(json2);
}

static void test_passthrough(void **st) {
    const char *text = "{\"s\":\"h\\u00e9\\n\\\"x\\\"\",\"o\":{\"b\":[1,{\"c\":null}],\"a\":0.3},"
                       "\"n\":null,\"z\":[0.0,0.0],\"i\":[[1,2],[3,4]],\"e\":[],\"t\":true,"
                       "\"big\":12345678901234,\"r\":[1,2.5]}\n";
    lx_record r;
    lx_error err;
    lx_record_init(&r);
    assert_int_equal(lx_record_from_json(&r, text, strlen(text), &err), 0);
    assert_string_equal(r.fields[0].name, "s");
    assert_string_equal(r.fields[1].name, "o");
    assert_non_null(lx_record_tensor(&r, "z"));
    assert_int_equal(lx_record_tensor(&r, "z")->dtype, LX_F32);
    assert_int_equal(lx_record_tensor(&r, "i")->dtype, LX_I64);
    assert_int_equal(lx_record_tensor(&r, "r")->dtype, LX_F32);
    assert_null(lx_record_tensor(&r, "e"));
    char *out, *fr;
    size_t len, flen;
    assert_int_equal(lx_record_to_json(&r, &out, &len, &err), 0);
    assert_string_equal(out, "{\"s\":\"h\xc3\xa9\\n\\\"x\\\"\",\"o\":{\"b\":[1,{\"c\":null}],\"a\":0.3},"
                             "\"n\":null,\"z\":[0.0,0.0],\"i\":[[1,2],[3,4]],\"e\":[],\"t\":true,"
                             "\"big\":12345678901234,\"r\":[1.0,2.5]}\n");
    assert_int_equal(lx_record_to_frame(&r, &fr, &flen, &err), 0);
    assert_int_equal(flen % 64, 0);
    lx_record back;
    lx_record_init(&back);
    assert_int_equal(lx_record_from_frame(&back, fr, flen, &err), 0);
    same_records(&r, &back);
    lx_record_clear(&back);
    lx_record_clear(&r);
    free(out);
}

/* Cut a two-record stream at every byte of its last frame: the first record always
 * reads, then a clear error (never a crash, hang or a half record). */
static void test_nul_in_strings(void **st) {
    const char *text = "{\"s\":\"a\\u0000b\"}";
    lx_record r;
    lx_error err;
    char *out;
    size_t len;
    lx_record_init(&r);
    assert_int_equal(lx_record_from_json(&r, text, strlen(text), &err), 0);
    assert_int_equal(json_string_length(lx_record_json(&r, "s")), 3);
    assert_int_equal(lx_record_to_json(&r, &out, &len, &err), 0);
    assert_string_equal(out, "{\"s\":\"a\\u0000b\"}\n");
    free(out);
    /* and through a binary frame, which must read back what it wrote */
    assert_int_equal(lx_record_to_frame(&r, &out, &len, &err), 0);
    lx_record back;
    lx_record_init(&back);
    if (lx_record_from_frame(&back, out, len, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(json_string_length(lx_record_json(&back, "s")), 3);
    assert_memory_equal(json_string_value(lx_record_json(&back, "s")), "a\0b", 3);
    lx_record_clear(&back);
    lx_record_clear(&r);
}

static void test_truncated_frames(void **st) {
    static lx_record a[16], b[16];
    size_t n = read_all(fixture("cases.jsonl"), a, 16);
    size_t l0, l1;
    char *first = encode_all(a, 1, 1, &l0);
    char *both = encode_all(a + 3, 1, 1, &l1);
    char *buf = malloc(l0 + l1);
    memcpy(buf, first, l0);
    memcpy(buf + l0, both, l1);
    for (size_t cut = l0 + 1; cut < l0 + l1; cut += (cut < l0 + 4096 ? 1 : 97)) {
        lx_error err = {0};
        int status;
        size_t got = decode_mem(buf, cut, b, 16, &err, &status);
        assert_int_equal(got, 1);
        assert_int_equal(status, -1);
        assert_true(strstr(err.msg, "truncated") || strstr(err.msg, "frame"));
        lx_record_clear(&b[0]);
    }
    /* every byte offset of a small last frame (a tokenized question with a few regions) */
    lx_record q;
    lx_record_init(&q);
    const char *qtext = "{\"question_id\":7,\"sent\":\"what?\",\"input_ids\":[101,2054,102],"
                        "\"visual_pos\":[[0.0,0.1,0.5,0.6],[0.2,0.2,1.0,1.0]]}";
    lx_error qerr;
    assert_int_equal(lx_record_from_json(&q, qtext, strlen(qtext), &qerr), 0);
    size_t lq;
    char *small = encode_all(&q, 1, 1, &lq);
    char *buf2 = malloc(l0 + lq);
    memcpy(buf2, first, l0);
    memcpy(buf2 + l0, small, lq);
    for (size_t cut = l0; cut < l0 + lq; cut++) {
        lx_error err = {0};
        int status;
        size_t got = decode_mem(buf2, cut, b, 16, &err, &status);
        assert_int_equal(got, 1);
        assert_int_equal(status, cut == l0 ? 0 : -1); /* cut exactly between frames: a clean end */
        lx_record_clear(&b[0]);
    }
    lx_record_clear(&q);
    free(small), free(buf2);
    for (size_t i = 0; i < n; i++) lx_record_clear(&a[i]);
    free(first), free(both), free(buf);
}

static void test_hostile_frames(void **st) {
    lx_error err;
    int status;
    lx_record b[4];
    /* a 4 GiB length with only a few bytes behind it must not allocate 4 GiB */
    unsigned char fr[128] = "LXRF\x01\x00\x00\x00";
    uint64_t big = (uint64_t)4 << 30;
    memcpy(fr + 8, &big, 8);
    uint64_t hl = 2;
    memcpy(fr + 16, &hl, 8);
    memcpy(fr + 24, "{}", 2);
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)2 << 30; /* 2 GiB address space: a 4 GiB malloc would fail */
    const char *san = getenv("LX_SANITIZE"); /* ASan reserves terabytes of address space */
    int limit = !(san && *san);
    if (limit) setrlimit(RLIMIT_AS, &lim);
    assert_int_equal(decode_mem((char *)fr, sizeof fr, b, 4, &err, &status), 0);
    assert_int_equal(status, -1);
    assert_non_null(strstr(err.msg, "truncated"));
    if (limit) setrlimit(RLIMIT_AS, &old);
    /* garbage in the prefix */
    assert_int_equal(decode_mem("LXRF\x09\0\0\0garbage garbage garbage", 31, b, 4, &err, &status), 0);
    assert_int_equal(status, -1);
    assert_non_null(strstr(err.msg, "version"));
    /* a header that is not JSON, a tensor outside the frame, overlapping tensors, and
     * numbers that each get their own message with the true values */
#define T1(desc) "{\"record\":{\"x\":null},\"tensors\":{\"x\":" desc "}}"
    static const struct { const char *hdr, *msg; } cases[] = {
        {"{not json", "not valid JSON"},
        {T1("{\"dtype\":\"f32\",\"shape\":[1000],\"offset\":0,\"nbytes\":4000}"),
         "bytes 0..4000 lie outside the frame's 384 bytes of data"},
        {"{\"record\":{\"x\":null,\"y\":null},\"tensors\":{\"x\":{\"dtype\":\"f32\",\"shape\":[4],\"offset\":0,\"nbytes\":16},"
         "\"y\":{\"dtype\":\"f32\",\"shape\":[4],\"offset\":0,\"nbytes\":16}}}", "overlap"},
        {T1("{\"dtype\":\"f32\",\"shape\":[4],\"offset\":0,\"nbytes\":17}"),
         "nbytes 17, but f32 [4] needs 16"},
        {T1("{\"dtype\":\"q7\",\"shape\":[4],\"offset\":0,\"nbytes\":16}"), "bad descriptor"},
        {"{\"record\":{},\"tensors\":{\"x\":{\"dtype\":\"f32\",\"shape\":[4],\"offset\":0,\"nbytes\":16}}}",
         "not fields of its record"},
        {T1("{\"dtype\":\"f32\",\"shape\":[4],\"offset\":32,\"nbytes\":16}"),
         "offset 32 is not a multiple of 64"},
        {T1("{\"dtype\":\"f32\",\"shape\":[4],\"offset\":-64,\"nbytes\":16}"),
         "offset -64 is not a byte offset"},
        {T1("{\"dtype\":\"f32\",\"shape\":[4],\"offset\":9223372036854775744,\"nbytes\":16}"),
         "bytes 9223372036854775744..9223372036854775760 lie outside"},
        {T1("{\"dtype\":\"f32\",\"shape\":[4611686018427387904],\"offset\":0,\"nbytes\":0}"),
         "shape [4611686018427387904] has more bytes than fit in 64 bits"},
    };
#undef T1
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char f2[1024] = "LXRF\x01\0\0\0";
        uint64_t total = 512, h = strlen(cases[i].hdr);
        memcpy(f2 + 8, &total, 8);
        memcpy(f2 + 16, &h, 8);
        memcpy(f2 + 24, cases[i].hdr, h);
        assert_int_equal(decode_mem((char *)f2, 512, b, 4, &err, &status), 0);
        assert_int_equal(status, -1);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
    }
}

/* A stream that gives `len` bytes of `data` (in pieces of at most 7 bytes), then fails
 * with EIO. */
typedef struct failing { const char *data; size_t len, pos; } failing;

static ssize_t failing_read(void *cookie, char *buf, size_t size) {
    failing *f = cookie;
    if (f->pos == f->len) {
        errno = EIO;
        return -1;
    }
    size_t n = f->len - f->pos < size ? f->len - f->pos : size;
    if (n > 7) n = 7;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    return (ssize_t)n;
}

/* A read error is reported once, for the record that could not be read (not the last
 * good one, not record 0), and the reader does not try again: --skip-bad cannot loop
 * on it.  Also when the error cuts a record, and with --lines. */
static void test_read_error(void **st) {
    char *frames;
    size_t flen;
    lx_error err;
    lx_record two[2];
    FILE *src = fopen(fixture("cases.jsonl"), "rb");
    assert_non_null(src);
    size_t jn = 0;
    char *json = NULL;
    assert_true(getdelim(&json, &jn, '\0', src) > 0);   /* the whole file */
    fclose(src);
    const char *nl = strchr(json, '\n');
    nl = strchr(nl + 1, '\n');                          /* two lines */
    size_t jlen = (size_t)(nl + 1 - json);
    {
        FILE *f = fmemopen(json, jlen, "rb");
        lx_reader *rd = lx_reader_open(f, "mem", &err);
        for (int i = 0; i < 2; i++) {
            lx_record_init(&two[i]);
            assert_int_equal(lx_reader_next(rd, &two[i], &err), 1);
            lx_record_own(&two[i], &err);
        }
        lx_reader_close(rd);
        fclose(f);
    }
    frames = encode_all(two, 2, 1, &flen);
    static const struct { int bin, lines; size_t cut; uint64_t recno; } cases[] = {
        {0, 0, 0, 1}, {0, 0, 1, 2}, {0, 0, 2, 3}, {0, 0, 3, 2},
        {1, 0, 0, 1}, {1, 0, 1, 2}, {1, 0, 2, 3}, {1, 0, 3, 2},
        {0, 1, 0, 1}, {0, 1, 2, 3}, {0, 1, 3, 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *data = cases[c].bin ? frames : json;
        size_t total = cases[c].bin ? flen : jlen;
        /* cut: 0 nothing, 1 after the first record, 2 after both, 3 inside the second */
        size_t first = cases[c].bin ? (size_t)lx_rd_u64(frames + 8)   /* its length */
                                    : (size_t)(strchr(json, '\n') + 1 - json);
        size_t len = cases[c].cut == 0 ? 0 : cases[c].cut == 1 ? first
                   : cases[c].cut == 2 ? total : first + 10;
        failing fl = {data, len, 0};
        FILE *f = fopencookie(&fl, "rb", (cookie_io_functions_t){.read = failing_read});
        assert_non_null(f);
        lx_reader *rd = lx_reader_open(f, "mem", &err);
        if (cases[c].lines) lx_reader_set_lines(rd, "text");
        lx_record r;
        lx_record_init(&r);
        int rc, good = 0;
        while ((rc = lx_reader_next(rd, &r, &err)) > 0) good++;
        if (rc != -1) fail_msg("case %zu: read to the end without an error", c);
        if (!strstr(err.msg, "read error: Input/output error"))
            fail_msg("case %zu: '%s'", c, err.msg);
        if (lx_reader_record_no(rd) != cases[c].recno)
            fail_msg("case %zu: record %llu, expected %llu", c,
                     (unsigned long long)lx_reader_record_no(rd),
                     (unsigned long long)cases[c].recno);
        assert_int_equal(good, (int)cases[c].recno - 1);
        assert_false(lx_reader_can_resume(rd));
        assert_int_equal(lx_reader_next(rd, &r, &err), -1);   /* not read again */
        assert_int_equal(fl.pos, len);
        lx_record_clear(&r);
        lx_reader_close(rd);
        fclose(f);
    }
    for (int i = 0; i < 2; i++) lx_record_clear(&two[i]);
    free(frames);
    free(json);
}

static void test_json_array_and_errors(void **st) {
    lx_record b[8];
    lx_error err;
    int status;
    const char *arr = " [ {\"a\": 1}, {\"a\": [1.5]} ,{\"a\":\"]\"} ]\n";
    assert_int_equal(decode_mem(arr, strlen(arr), b, 8, &err, &status), 3);
    assert_int_equal(status, 0);
    for (int i = 0; i < 3; i++) lx_record_clear(&b[i]);
    /* pretty-printed objects (jq without -c) */
    const char *pretty = "{\n  \"a\": 1,\n  \"b\": {\n \"c\": 2\n }\n}\n{\"a\":2}";
    assert_int_equal(decode_mem(pretty, strlen(pretty), b, 8, &err, &status), 2);
    for (int i = 0; i < 2; i++) lx_record_clear(&b[i]);
    /* a bad line between good ones: the reader reports it and can go on */
    const char *bad = "{\"a\":1}\n{\"a\":}\n{\"a\":3}\n";
    FILE *f = fmemopen((void *)bad, strlen(bad), "rb");
    lx_reader *rd = lx_reader_open(f, "mem", &err);
    lx_record r;
    lx_record_init(&r);
    assert_int_equal(lx_reader_next(rd, &r, &err), 1);
    assert_int_equal(lx_reader_next(rd, &r, &err), -1);
    assert_int_equal(lx_reader_record_no(rd), 2);
    assert_true(lx_reader_can_resume(rd));
    assert_int_equal(lx_reader_next(rd, &r, &err), 1);
    assert_int_equal(json_integer_value(lx_record_json(&r, "a")), 3);
    assert_int_equal(lx_reader_next(rd, &r, &err), 0);
    lx_record_clear(&r);
    lx_reader_close(rd);
    fclose(f);
    /* not a stream at all */
    assert_int_equal(decode_mem("hello", 5, b, 8, &err, &status), 0);
    assert_int_equal(status, -1);
    /* an object cut short */
    assert_int_equal(decode_mem("{\"a\":1}{\"b\":[1,2", 16, b, 8, &err, &status), 1);
    assert_int_equal(status, -1);
    lx_record_clear(&b[0]);
}

static void test_lines(void **st) {
    const char *text = "what is it?\r\nsecond line\nlast";
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    lx_error err;
    lx_reader *rd = lx_reader_open(f, "mem", &err);
    lx_reader_set_lines(rd, "text");
    lx_record r;
    lx_record_init(&r);
    const char *want[] = {"what is it?", "second line", "last"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lx_reader_next(rd, &r, &err), 1);
        assert_string_equal(json_string_value(lx_record_json(&r, "text")), want[i]);
    }
    assert_int_equal(lx_reader_next(rd, &r, &err), 0);
    lx_record_clear(&r);
    lx_reader_close(rd);
    fclose(f);
}

/* A number beyond f32's range in a tensor is a bad record naming the field, the element
 * and the value (it would have been infinite), whatever its sign; the largest float and
 * numbers that round to it are kept.  Integers beyond int64 are refused (by jansson), the
 * ends of its range kept.  The reader goes on after such a record (--skip-bad). */
static void test_json_out_of_range(void **st) {
    static const struct { const char *v, *msg; } bad[] = {
        {"1e39", "visual_feats[1][1]: got 1e+39, outside f32's range "
                 "(-3.4028235e+38 to 3.4028235e+38)"},
        {"-1e39", "visual_feats[1][1]: got -1e+39, outside f32's range"},
        {"3.4028236e38", "visual_feats[1][1]: got 3.4028236e+38, outside"},
        {"1e308", "visual_feats[1][1]: got 1e+308, outside"},
        {"1e400", "real number overflow"},
        {"9223372036854775808", "too big integer"},
        {"-9223372036854775809", "too big negative integer"},
    };
    char text[160];
    lx_record r;
    lx_error err;
    lx_record_init(&r);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "{\"id\":1,\"visual_feats\":[[0.5,1],[2,%s]]}", bad[i].v);
        err.msg[0] = '\0';
        if (lx_record_from_json(&r, text, strlen(text), &err) != -1)
            fail_msg("%s was read", bad[i].v);
        if (!strstr(err.msg, bad[i].msg)) fail_msg("%s: '%s'", bad[i].v, err.msg);
        assert_int_equal(r.nfields, 0);
    }
    /* an array of integers only is an i64 tensor: the same limits in 1-D */
    snprintf(text, sizeof text, "{\"x\":[1.5,%s]}", "-2e39");
    assert_int_equal(lx_record_from_json(&r, text, strlen(text), &err), -1);
    assert_string_equal(err.msg, "x[1]: got -2e+39, outside f32's range "
                                 "(-3.4028235e+38 to 3.4028235e+38)");
    /* in range: the largest float, a number rounding to it, one too small (0) */
    const char *ok = "{\"f\":[3.4028235e38,-3.40282356e38,1e-50],"
                     "\"i\":[9223372036854775807,-9223372036854775808]}";
    assert_int_equal(lx_record_from_json(&r, ok, strlen(ok), &err), 0);
    const lx_tensor *f = lx_record_tensor(&r, "f"), *n = lx_record_tensor(&r, "i");
    assert_non_null(f);
    assert_non_null(n);
    assert_true(((const float *)f->data)[0] == FLT_MAX);
    assert_true(((const float *)f->data)[1] == -FLT_MAX);
    assert_true(((const float *)f->data)[2] == 0.0f);
    assert_int_equal(n->dtype, LX_I64);
    assert_true(((const int64_t *)n->data)[0] == INT64_MAX);
    assert_true(((const int64_t *)n->data)[1] == INT64_MIN);
    lx_record_clear(&r);
    /* through the reader: record 2 is bad, record 3 is read after it */
    const char *in = "{\"a\":1}\n{\"visual_feats\":[[1e39]]}\n{\"a\":3}\n";
    FILE *fp = fmemopen((void *)in, strlen(in), "rb");
    lx_reader *rd = lx_reader_open(fp, "mem", &err);
    assert_int_equal(lx_reader_next(rd, &r, &err), 1);
    assert_int_equal(lx_reader_next(rd, &r, &err), -1);
    assert_int_equal(lx_reader_record_no(rd), 2);
    assert_string_equal(err.msg, "visual_feats[0][0]: got 1e+39, outside f32's range "
                                 "(-3.4028235e+38 to 3.4028235e+38)");
    assert_true(lx_reader_can_resume(rd));
    assert_int_equal(lx_reader_next(rd, &r, &err), 1);
    assert_int_equal(json_integer_value(lx_record_json(&r, "a")), 3);
    assert_int_equal(lx_reader_next(rd, &r, &err), 0);
    lx_record_clear(&r);
    lx_reader_close(rd);
    fclose(fp);
}

/* The far end of a pipe: writes the first record in two pieces, waits until the reader
 * says it has it (a byte on ack), then writes the second and closes. */
typedef struct pipe_writer {
    int fd, ack;
} pipe_writer;

static void *write_late(void *arg) {
    const pipe_writer *w = arg;
    static const char a[] = "{\"a\":", b[] = "1}\n", c[] = "{\"a\":2}\n";
    char x;
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL); /* the reader finds nothing at first */
    if (write(w->fd, a, strlen(a)) < 0) return NULL;
    nanosleep(&pause, NULL);
    if (write(w->fd, b, strlen(b)) < 0) return NULL;
    if (read(w->ack, &x, 1) == 1 && write(w->fd, c, strlen(c)) < 0) return NULL;
    close(w->fd);
    return NULL;
}

static void count_wait(void *ctx) { (*(int *)ctx)++; }

/* A record is returned as soon as its bytes are in the pipe, with the writer still
 * holding it open, also from a descriptor left non-blocking (reads that find nothing
 * fail with EAGAIN: the reader waits in poll, never gives up or spins); the wait hook is
 * called before each wait, or never without one.  (A reader that filled a whole window
 * first would never return the first record: alarm ends the test then.) */
static void test_pipe_as_it_comes(void **st) {
    for (int nonblock = 0; nonblock < 2; nonblock++) {
        for (int hook = 0; hook < 2; hook++) {
            int p[2], q[2];
            assert_int_equal(pipe(p), 0);
            assert_int_equal(pipe(q), 0);
            if (nonblock) assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
            FILE *f = fdopen(p[0], "rb");
            assert_non_null(f);
            lx_error err;
            lx_reader *rd = lx_reader_open(f, "pipe", &err);
            assert_non_null(rd);
            int waits = 0;
            if (hook) lx_reader_set_wait(rd, count_wait, &waits);
            pipe_writer w = {p[1], q[0]};
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, write_late, &w), 0);
            alarm(20);
            lx_record r;
            lx_record_init(&r);
            if (lx_reader_next(rd, &r, &err) != 1) fail_msg("%d %d: %s", nonblock, hook, err.msg);
            assert_int_equal(json_integer_value(lx_record_json(&r, "a")), 1);
            assert_int_equal(lx_reader_bytes(rd), 7);
            /* waited before the first piece and between the two */
            if (hook) assert_true(waits >= 2);
            assert_int_equal(write(q[1], "x", 1), 1);
            if (lx_reader_next(rd, &r, &err) != 1) fail_msg("%d %d: %s", nonblock, hook, err.msg);
            assert_int_equal(json_integer_value(lx_record_json(&r, "a")), 2);
            assert_int_equal(lx_reader_next(rd, &r, &err), 0);
            assert_int_equal(lx_reader_record_no(rd), 2);
            assert_int_equal(lx_reader_bytes(rd), 16);
            if (!hook) assert_int_equal(waits, 0);
            alarm(0);
            assert_int_equal(pthread_join(th, NULL), 0);
            lx_record_clear(&r);
            lx_reader_close(rd);
            fclose(f);
            close(q[0]);
            close(q[1]);
        }
    }
}

/* Pieces written to a pipe one by one, a few milliseconds apart, then closed. */
typedef struct pieces {
    int fd;
    const char *const *text;
} pieces;

static void *write_pieces(void *arg) {
    const pieces *w = arg;
    struct timespec pause = {0, 5 * 1000 * 1000};
    for (const char *const *t = w->text; *t; t++) {
        nanosleep(&pause, NULL);
        if (write(w->fd, *t, strlen(*t)) < 0) break;
    }
    close(w->fd);
    return NULL;
}

/* --lines from a pipe whose lines arrive in pieces: each line whole, once. */
static void test_lines_in_pieces(void **st) {
    static const char *const text[] = {"what ", "is", " it?\r", "\nsecond", " line", "\n",
                                       "\nlast", NULL};
    static const char *const want[] = {"what is it?", "second line", "", "last"};
    int p[2];
    assert_int_equal(pipe(p), 0);
    FILE *f = fdopen(p[0], "rb");
    lx_error err;
    lx_reader *rd = lx_reader_open(f, "pipe", &err);
    lx_reader_set_lines(rd, "text");
    pieces w = {p[1], text};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_pieces, &w), 0);
    lx_record r;
    lx_record_init(&r);
    for (int i = 0; i < 4; i++) {
        if (lx_reader_next(rd, &r, &err) != 1) fail_msg("line %d: %s", i + 1, err.msg);
        assert_string_equal(json_string_value(lx_record_json(&r, "text")), want[i]);
    }
    assert_int_equal(lx_reader_next(rd, &r, &err), 0);
    assert_int_equal(lx_reader_bytes(rd), 30);
    assert_int_equal(pthread_join(th, NULL), 0);
    lx_record_clear(&r);
    lx_reader_close(rd);
    fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_format),
        cmocka_unit_test(test_f16_bf16),
        cmocka_unit_test(test_roundtrip_cases),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_truncated_frames),
        cmocka_unit_test(test_hostile_frames),
        cmocka_unit_test(test_read_error),
        cmocka_unit_test(test_json_array_and_errors),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_json_out_of_range),
        cmocka_unit_test(test_pipe_as_it_comes),
        cmocka_unit_test(test_lines_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
