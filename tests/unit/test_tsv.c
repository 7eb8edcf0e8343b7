/*
 * Feature TSVs: both layouts against the fixtures (features bit-identical, visual_pos the
 * float32 division of the original loader), the line reader across tiny read buffers,
 * the index (built, loaded, stale, unwritable), the store, every kind of bad line, and
 * the writer (the fixture's lines written back byte for byte).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <math.h>
#include "testutil.h"

/* The fixture's lines, read with a plain stdio loop (independent of lx_tsv). */
typedef struct lines {
    char *buf[16];
    size_t len[16];
    int n;
} lines;

static void read_lines(const char *path, lines *L) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    L->n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t k;
    while ((k = getline(&line, &cap, f)) > 0) {
        if (line[k - 1] == '\n') k--;
        L->buf[L->n] = malloc((size_t)k + 1);
        memcpy(L->buf[L->n], line, (size_t)k);
        L->buf[L->n][k] = 0;
        L->len[L->n++] = (size_t)k;
    }
    free(line);
    fclose(f);
}

static void free_lines(lines *L) {
    for (int i = 0; i < L->n; i++) free(L->buf[i]);
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static const int64_t counts[6] = {36, 10, 1, 36, 20, 5};

/* Both layouts hold the same six images; the 6-field one has width first and ids 0..5. */
static void test_fixture_layouts(void **state) {
    (void)state;
    lines A, B;
    read_lines(fixture("features.tsv"), &A);
    read_lines(fixture("features-butd.tsv"), &B);
    assert_int_equal(A.n, 6);
    assert_int_equal(B.n, 6);
    lx_regions a, b;
    lx_regions_init(&a);
    lx_regions_init(&b);
    lx_error err = {0};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(lx_regions_parse_tsv(&a, A.buf[i], A.len[i], &err), 0);
        assert_int_equal(lx_regions_parse_tsv(&b, B.buf[i], B.len[i], &err), 0);
        char id[64];
        snprintf(id, sizeof id, "COCO_val2014_%012d", i);
        assert_string_equal(a.img_id, id);
        snprintf(id, sizeof id, "%d", i);
        assert_string_equal(b.img_id, id);
        assert_true(b.id_is_int && !a.id_is_int);
        assert_int_equal(a.num_boxes, counts[i]);
        assert_int_equal(b.num_boxes, counts[i]);
        assert_int_equal(a.feat_dim, 2048);
        assert_int_equal(a.img_w, b.img_w);
        assert_int_equal(a.img_h, b.img_h);
        assert_true(a.has_objects && !b.has_objects);
        assert_memory_equal(a.boxes, b.boxes, (size_t)a.num_boxes * 16);
        assert_memory_equal(a.features, b.features, (size_t)(a.num_boxes * 2048) * 4);
    }
    lx_regions_free(&a);
    lx_regions_free(&b);
    free_lines(&A);
    free_lines(&B);
}

/* visual_feats are the TSV's floats bit for bit; visual_pos is x / w in float32, which
 * equals the correctly rounded quotient (computed here in double, then rounded). */
static void test_attach_exact(void **state) {
    (void)state;
    lines A;
    read_lines(fixture("features.tsv"), &A);
    lx_regions g;
    lx_regions_init(&g);
    lx_error err = {0};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(lx_regions_parse_tsv(&g, A.buf[i], A.len[i], &err), 0);
        lx_record r;
        lx_record_init(&r);
        assert_int_equal(lx_regions_attach(&g, &r, 0, 1, &err), 0);
        lx_tensor *vf = lx_record_tensor(&r, "visual_feats");
        lx_tensor *vp = lx_record_tensor(&r, "visual_pos");
        assert_non_null(vf);
        assert_non_null(vp);
        assert_int_equal(vf->dtype, LX_F32);
        assert_int_equal(vf->shape[0], counts[i]);
        assert_int_equal(vf->shape[1], 2048);
        assert_int_equal(vp->shape[0], counts[i]);
        assert_int_equal(vp->shape[1], 4);
        assert_memory_equal(vf->data, g.features, (size_t)(counts[i] * 2048) * 4);
        const float *pos = vp->data;
        for (int64_t j = 0; j < 4 * counts[i]; j++) {
            double den = (double)((j % 2) ? g.img_h : g.img_w);
            float want = (float)((double)g.boxes[j] / den);
            uint32_t x, y;
            memcpy(&x, &pos[j], 4);
            memcpy(&y, &want, 4);
            assert_int_equal(x, y);
            assert_true(pos[j] >= 0.0f && pos[j] <= 1.0f);
        }
        lx_tensor *oid = lx_record_tensor(&r, "objects_id");
        assert_non_null(oid);
        assert_int_equal(oid->dtype, LX_I64);
        assert_int_equal(oid->shape[0], counts[i]);
        assert_non_null(lx_record_tensor(&r, "attrs_conf"));
        /* --max-boxes keeps the first regions. */
        assert_int_equal(lx_regions_attach(&g, &r, 3, 0, &err), 0);
        vf = lx_record_tensor(&r, "visual_feats");
        assert_int_equal(vf->shape[0], counts[i] < 3 ? counts[i] : 3);
        assert_memory_equal(vf->data, g.features, (size_t)(vf->shape[0] * 2048) * 4);
        lx_record_clear(&r);
    }
    lx_regions_free(&g);
    free_lines(&A);
}

/* The reference's own model inputs for images 0..4 (expected/inputs.caseN.safetensors,
 * made by LXMERT's loader from features.tsv): visual_feats and visual_pos must match
 * bit for bit, through the store and the index as lx-embed-vis uses them. */
static void test_reference_inputs(void **state) {
    (void)state;
    const char *paths[1] = {fixture("features.tsv")};
    char ipath[4096];
    snprintf(ipath, sizeof ipath, "%s", scratch("ref.lxi"));
    const char *idx[1] = {ipath};
    lx_error err = {0};
    lx_features *fs = lx_features_open(paths, idx, 1, 0, &err);
    assert_non_null(fs);
    lx_regions g;
    lx_regions_init(&g);
    for (int c = 0; c < 5; c++) {
        char name[64], id[64];
        snprintf(name, sizeof name, "expected/inputs.case%d.safetensors", c);
        lx_tensor_dict d;
        lx_tensor_dict_init(&d);
        if (lx_safetensors_read(&d, fixture(name), &err) < 0) fail_msg("%s", err.msg);
        snprintf(id, sizeof id, "COCO_val2014_%012d", c);
        assert_int_equal(lx_features_lookup(fs, id, &g, &err), 1);
        lx_record r;
        lx_record_init(&r);
        assert_int_equal(lx_regions_attach(&g, &r, 0, 0, &err), 0);
        static const char *fields[2] = {"visual_feats", "visual_pos"};
        for (int k = 0; k < 2; k++) {
            lx_tensor *want = lx_tensor_dict_get(&d, fields[k]);
            lx_tensor *got = lx_record_tensor(&r, fields[k]);
            assert_non_null(want);
            assert_non_null(got);
            assert_int_equal(want->dtype, LX_F32);
            assert_int_equal(got->ndim, want->ndim);
            assert_int_equal(got->shape[0], want->shape[0]);
            assert_int_equal(got->shape[1], want->shape[1]);
            assert_memory_equal(got->data, want->data, (size_t)lx_tensor_nbytes(want));
        }
        lx_record_clear(&r);
        lx_tensor_dict_free(&d);
    }
    lx_regions_free(&g);
    lx_features_close(fs);
    unlink(ipath);
}

/* Every line, read through buffers of 1, 7, 4096 bytes and the default, comes out whole
 * and at the right offset. */
static void test_split_lines(void **state) {
    (void)state;
    lines A;
    read_lines(fixture("features.tsv"), &A);
    static const size_t sizes[] = {1, 7, 4096, 0};
    for (int s = 0; s < 4; s++) {
        lx_error err = {0};
        lx_tsv *t = lx_tsv_open(fixture("features.tsv"), sizes[s], &err);
        assert_non_null(t);
        const char *line;
        size_t len;
        uint64_t off, expect_off = 0;
        int i = 0;
        while (lx_tsv_next(t, &line, &len, &off, &err) == 1) {
            assert_true(i < A.n);
            assert_int_equal(len, A.len[i]);
            assert_int_equal(off, expect_off);
            assert_memory_equal(line, A.buf[i], len);
            expect_off += len + 1;
            i++;
        }
        assert_int_equal(i, 6);
        /* Random access returns the same bytes. */
        assert_int_equal(lx_tsv_read_at(t, A.len[0] + 1, A.len[1], &line, &err), 0);
        assert_memory_equal(line, A.buf[1], A.len[1]);
        lx_tsv_close(t);
    }
    free_lines(&A);
}

/* A last line without a newline, CRLF endings and blank lines. */
static void test_line_ends(void **state) {
    (void)state;
    const char *p = scratch("ends.txt");
    write_file(p, "a\tb\r\n\n\nc\td", 10);
    lx_error err = {0};
    lx_tsv *t = lx_tsv_open(p, 2, &err);
    const char *line;
    size_t len;
    uint64_t off;
    assert_int_equal(lx_tsv_next(t, &line, &len, &off, &err), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(line, "a\tb", 3);
    assert_int_equal(lx_tsv_next(t, &line, &len, &off, &err), 1);
    assert_int_equal(len, 3);
    assert_int_equal(off, 7);
    assert_memory_equal(line, "c\td", 3);
    assert_int_equal(lx_tsv_next(t, &line, &len, &off, &err), 0);
    lx_tsv_close(t);
    unlink(p);
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, k, b), k);
    fclose(a);
    fclose(b);
}

/* A TSV appended to while its index is built: refused with a message that names it and
 * says it changed, never an index that does not describe it (nor "index entry N is out
 * of range").  A child appends short lines (the index reads only their keys), one every
 * 50 us and at most 16 MB of them, while the index is built again and again; a build
 * that happens to see no append succeeds. */
static void test_index_while_appended(void **state) {
    (void)state;
    char tsv[4096], idx[4200];
    snprintf(tsv, sizeof tsv, "%s", scratch("growing.tsv"));
    snprintf(idx, sizeof idx, "%s.lxi", tsv);
    copy_file(fixture("features.tsv"), tsv);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(tsv, O_WRONLY | O_APPEND);
        for (unsigned long i = 0, bytes = 0; fd >= 0 && bytes < (16ul << 20); i++) {
            char line[64];
            int k = snprintf(line, sizeof line, "appended_%lu\tx\n", i);
            if (write(fd, line, (size_t)k) != k) break;
            bytes += (unsigned long)k;
            usleep(50);
        }
        _exit(0);
    }
    int refused = 0, done = 0;
    for (int attempt = 0; !done && refused < 3; attempt++) {
        done = waitpid(pid, NULL, WNOHANG) == pid;   /* then one last try */
        unlink(idx);
        lx_error err = {0};
        lx_featindex *ix = lx_featindex_open(tsv, NULL, 1 << 16, &err);
        if (ix) {
            lx_featindex_close(ix);
            continue;
        }
        if (!strstr(err.msg, tsv) || !strstr(err.msg, "changed while being indexed")) {
            kill(pid, SIGKILL);
            fail_msg("attempt %d: '%s'", attempt, err.msg);
        }
        refused++;
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    unlink(tsv);
    unlink(idx);
    assert_true(refused > 0);
}

/* Built on first use, loaded next time, rebuilt when the TSV changes, kept in memory
 * when it cannot be written; the store finds every image through it. */
static void test_index(void **state) {
    (void)state;
    char tsv[4096], idx[4200];
    snprintf(tsv, sizeof tsv, "%s", scratch("index.tsv"));
    snprintf(idx, sizeof idx, "%s.lxi", tsv);
    copy_file(fixture("features.tsv"), tsv);
    unlink(idx);
    lx_error err = {0};
    lx_featindex *ix = lx_featindex_open(tsv, NULL, 1000, &err);
    assert_non_null(ix);
    assert_int_equal(lx_featindex_status(ix), LX_FEATINDEX_BUILT);
    assert_int_equal(lx_featindex_count(ix), 6);
    uint64_t off, len;
    assert_int_equal(lx_featindex_find(ix, "COCO_val2014_000000000002", 25, &off, &len), 1);
    assert_int_equal(lx_featindex_find(ix, "COCO_val2014_000000000009", 25, &off, &len), 0);
    lx_featindex_close(ix);
    struct stat st;
    assert_int_equal(stat(idx, &st), 0);

    ix = lx_featindex_open(tsv, NULL, 0, &err);
    assert_int_equal(lx_featindex_status(ix), LX_FEATINDEX_LOADED);
    lx_featindex_close(ix);

    /* Stale: append a seventh image (a copy of the third under a new id). */
    lines A;
    read_lines(fixture("features.tsv"), &A);
    FILE *f = fopen(tsv, "ab");
    fprintf(f, "extra_image%s\n", strchr(A.buf[2], '\t'));
    fclose(f);
    ix = lx_featindex_open(tsv, NULL, 0, &err);
    assert_int_equal(lx_featindex_status(ix), LX_FEATINDEX_BUILT);
    assert_non_null(strstr(lx_featindex_note(ix), "stale"));
    assert_int_equal(lx_featindex_count(ix), 7);
    lx_featindex_close(ix);

    /* A damaged index is rebuilt, not trusted. */
    f = fopen(idx, "r+b");
    fseek(f, 70, SEEK_SET);
    fputc('X', f);
    fclose(f);
    ix = lx_featindex_open(tsv, NULL, 0, &err);
    assert_int_equal(lx_featindex_status(ix), LX_FEATINDEX_BUILT);
    lx_featindex_close(ix);

    /* The TSV itself as its index path: an error, the TSV untouched (never renamed over). */
    assert_int_equal(stat(tsv, &st), 0);
    off_t tsv_size = st.st_size;
    assert_null(lx_featindex_open(tsv, tsv, 0, &err));
    assert_non_null(strstr(err.msg, "is the TSV itself"));
    assert_int_equal(stat(tsv, &st), 0);
    assert_int_equal(st.st_size, tsv_size);

    /* Nowhere to write: kept in memory, with a note saying so. */
    ix = lx_featindex_open(tsv, "/nonexistent-dir/x.lxi", 0, &err);
    assert_non_null(ix);
    assert_int_equal(lx_featindex_status(ix), LX_FEATINDEX_MEMORY);
    assert_non_null(strstr(lx_featindex_note(ix), "memory"));
    lx_featindex_close(ix);

    /* The store: two files, the first wins; the new image comes from the copy. */
    const char *paths[2] = {fixture("features.tsv"), tsv};
    const char *idxs[2] = {scratch("fixture.lxi"), NULL};
    lx_features *fs = lx_features_open(paths, idxs, 2, 0, &err);
    assert_non_null(fs);
    lx_regions g;
    lx_regions_init(&g);
    assert_int_equal(lx_features_lookup(fs, "extra_image", &g, &err), 1);
    assert_int_equal(g.num_boxes, 1);
    for (int i = 0; i < 6; i++) {
        char id[64];
        snprintf(id, sizeof id, "COCO_val2014_%012d", i);
        assert_int_equal(lx_features_lookup(fs, id, &g, &err), 1);
        assert_int_equal(g.num_boxes, counts[i]);
    }
    assert_int_equal(lx_features_lookup(fs, "nope", &g, &err), 0);
    lx_features_close(fs);
    lx_regions_free(&g);
    free_lines(&A);
    unlink(tsv);
    unlink(idx);
    unlink(idxs[0]);
}

/* Parse a copy of fixture line 0 with one field replaced. */
static int parse_with(const char *base, size_t blen, int field, const char *repl,
                      lx_error *err) {
    const char *s = base, *e = base + blen;
    for (int i = 0; i < field; i++) s = memchr(s, '\t', (size_t)(e - s)) + 1;
    const char *fe = memchr(s, '\t', (size_t)(e - s));
    if (!fe) fe = e;
    size_t n = (size_t)(s - base) + strlen(repl) + (size_t)(e - fe);
    char *line = malloc(n);
    memcpy(line, base, (size_t)(s - base));
    memcpy(line + (s - base), repl, strlen(repl));
    memcpy(line + (s - base) + strlen(repl), fe, (size_t)(e - fe));
    lx_regions g;
    lx_regions_init(&g);
    int rc = lx_regions_parse_tsv(&g, line, n, err);
    lx_regions_free(&g);
    free(line);
    return rc;
}

/* boxes as base64 of one box, for image 2 (one region, 376 x 498 w x h). */
static const char *one_box(float x1, float y1, float x2, float y2) {
    static char out[32];
    float b[4] = {x1, y1, x2, y2};
    out[lx_base64_encode(out, b, 16)] = 0;
    return out;
}

static void test_bad_lines(void **state) {
    (void)state;
    lines A;
    read_lines(fixture("features.tsv"), &A);
    const char *l = A.buf[2];             /* one region; img_h 498? read it */
    size_t n = A.len[2];
    lx_regions g;
    lx_regions_init(&g);
    lx_error err = {0};
    assert_int_equal(lx_regions_parse_tsv(&g, l, n, &err), 0);
    float W = (float)g.img_w, H = (float)g.img_h;

    assert_int_equal(parse_with(l, n, 8, one_box(0, 0, W, H), &err), 0);   /* border: fine */
    assert_int_equal(parse_with(l, n, 8, one_box(0, 0, W + 0.5f, H), &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(parse_with(l, n, 8, one_box(-1, 0, 5, 5), &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(parse_with(l, n, 8, one_box(0, 0, W, H + 1), &err), -1);
    assert_int_equal(parse_with(l, n, 8, one_box(5, 0, 4, 5), &err), -1);
    assert_non_null(strstr(err.msg, "x1 <= x2"));
    assert_int_equal(parse_with(l, n, 8, one_box(0, NAN, 5, 5), &err), -1);
    assert_non_null(strstr(err.msg, "not a finite"));
    assert_int_equal(parse_with(l, n, 8, one_box(0, 0, INFINITY, 5), &err), -1);
    assert_non_null(strstr(err.msg, "not a finite"));
    assert_int_equal(parse_with(l, n, 7, "2", &err), -1);                 /* num_boxes */
    assert_non_null(strstr(err.msg, "num_boxes 2"));
    assert_int_equal(parse_with(l, n, 7, "0", &err), -1);
    assert_int_equal(parse_with(l, n, 7, "x", &err), -1);
    assert_non_null(strstr(err.msg, "expected an integer"));
    assert_int_equal(parse_with(l, n, 8, "Zm9v!mFy", &err), -1);          /* base64 */
    assert_non_null(strstr(err.msg, "boxes: bad base64"));
    assert_int_equal(parse_with(l, n, 9, "AAAA", &err), -1);              /* 3 bytes */
    assert_non_null(strstr(err.msg, "features"));
    assert_int_equal(parse_with(l, n, 3, "AAAAAAAAAAAAAAAAAAAAAA==", &err), -1); /* 2 ids */
    assert_non_null(strstr(err.msg, "objects_id"));
    assert_int_equal(parse_with(l, n, 1, "0", &err), -1);                 /* img_h 0 */
    assert_int_equal(lx_regions_parse_tsv(&g, "a\tb\tc", 5, &err), -1);
    assert_non_null(strstr(err.msg, "3 tab-separated fields"));

    /* A NaN feature, in place in the decoded array. */
    assert_int_equal(lx_regions_parse_tsv(&g, l, n, &err), 0);
    g.features[5] = NAN;
    assert_int_equal(lx_regions_check(&g, &err), -1);
    assert_non_null(strstr(err.msg, "features: region 0, value 5"));
    lx_regions_free(&g);
    free_lines(&A);
}

static void test_keys(void **state) {
    (void)state;
    char buf[64];
    lx_error err = {0};
    json_t *i = json_integer(42), *s = json_string("42"), *r = json_real(42.0);
    assert_int_equal(lx_regions_key(i, buf, sizeof buf, &err), 2);
    assert_string_equal(buf, "42");
    assert_int_equal(lx_regions_key(s, buf, sizeof buf, &err), 2);
    assert_string_equal(buf, "42");
    assert_int_equal(lx_regions_key(r, buf, sizeof buf, &err), -1);
    assert_non_null(strstr(err.msg, "a real number"));
    json_decref(i), json_decref(s), json_decref(r);
    /* 6-field ids are canonical decimal. */
    assert_int_equal(lx_tsv_line_key("007\t1\t1\t1\tx\ty", 14, buf, sizeof buf, NULL, &err), 1);
    assert_string_equal(buf, "7");
}

/* A regions record read back gives the same regions. */
static void test_records(void **state) {
    (void)state;
    lines A;
    read_lines(fixture("features.tsv"), &A);
    lx_regions a, b;
    lx_regions_init(&a);
    lx_regions_init(&b);
    lx_error err = {0};
    assert_int_equal(lx_regions_parse_tsv(&a, A.buf[1], A.len[1], &err), 0);
    lx_record r;
    lx_record_init(&r);
    assert_int_equal(lx_regions_to_record(&a, &r, 0, &err), 0);
    assert_int_equal(lx_regions_from_record(&b, &r, &err), 0);
    assert_string_equal(a.img_id, b.img_id);
    assert_int_equal(b.num_boxes, 10);
    assert_int_equal(b.img_h, a.img_h);
    assert_true(b.has_objects);
    assert_memory_equal(a.features, b.features, 10 * 2048 * 4);
    assert_memory_equal(a.attrs_id, b.attrs_id, 10 * 8);
    /* A box outside the image in a record is refused too. */
    ((float *)lx_record_tensor(&r, "boxes")->data)[2] = (float)a.img_w + 1;
    assert_int_equal(lx_regions_from_record(&b, &r, &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    lx_record_remove(&r, "features");
    assert_int_equal(lx_regions_from_record(&b, &r, &err), -1);
    assert_non_null(strstr(err.msg, "features"));
    lx_record_clear(&r);
    lx_regions_free(&a);
    lx_regions_free(&b);
    free_lines(&A);
}

/* Writing: each fixture line parsed and written back is the same bytes (LXMERT's own
 * encoding), and reads back to the same values; what a line cannot hold is refused. */
static void test_write(void **state) {
    (void)state;
    lines A;
    read_lines(fixture("features.tsv"), &A);
    lx_regions a, b;
    lx_regions_init(&a);
    lx_regions_init(&b);
    lx_error err = {0};
    for (int i = 0; i < A.n; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(lx_regions_parse_tsv(&a, A.buf[i], A.len[i], &err), 0);
        assert_int_equal(lx_regions_write_tsv(&a, f, &err), 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(len, A.len[i] + 1);
        assert_memory_equal(buf, A.buf[i], A.len[i]);
        assert_int_equal(buf[len - 1], '\n');
        assert_int_equal(lx_regions_parse_tsv(&b, buf, len - 1, &err), 0);
        assert_string_equal(a.img_id, b.img_id);
        assert_int_equal(a.num_boxes, b.num_boxes);
        assert_int_equal(a.feat_dim, b.feat_dim);
        assert_memory_equal(a.boxes, b.boxes, (size_t)a.num_boxes * 16);
        assert_memory_equal(a.features, b.features, (size_t)(a.num_boxes * a.feat_dim) * 4);
        assert_memory_equal(a.objects_id, b.objects_id, (size_t)a.num_boxes * 8);
        assert_memory_equal(a.attrs_conf, b.attrs_conf, (size_t)a.num_boxes * 4);
        free(buf);
    }
    /* refused, and nothing written: an id with a tab, no object arrays (the 6-field
     * layout), a box outside the image, a write error */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(lx_regions_parse_tsv(&a, A.buf[2], A.len[2], &err), 0);
    a.img_id[3] = '\t';
    assert_int_equal(lx_regions_write_tsv(&a, f, &err), -1);
    assert_non_null(strstr(err.msg, "a tab or a line break"));
    a.img_id[3] = 'O';
    a.has_objects = 0;
    assert_int_equal(lx_regions_write_tsv(&a, f, &err), -1);
    assert_non_null(strstr(err.msg, "no objects_id"));
    a.has_objects = 1;
    a.boxes[2] = (float)a.img_w + 0.5f;
    assert_int_equal(lx_regions_write_tsv(&a, f, &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    fclose(f);
    assert_int_equal(len, 0);
    free(buf);
    assert_int_equal(lx_regions_parse_tsv(&a, A.buf[2], A.len[2], &err), 0);
    /* another id, longer than the buffer it had: the line carries it */
    assert_int_equal(lx_regions_set_id(&a, "a picture named by a much longer id", 0, &err), 0);
    f = open_memstream(&buf, &len);
    assert_int_equal(lx_regions_write_tsv(&a, f, &err), 0);
    fclose(f);
    assert_int_equal(lx_regions_parse_tsv(&b, buf, len - 1, &err), 0);
    assert_string_equal(b.img_id, "a picture named by a much longer id");
    free(buf);
    f = fopen("/dev/full", "w");
    if (f) {
        setvbuf(f, NULL, _IONBF, 0);
        assert_int_equal(lx_regions_write_tsv(&a, f, &err), -1);
        assert_non_null(strstr(err.msg, "write error"));
        fclose(f);
    }
    lx_regions_free(&a);
    lx_regions_free(&b);
    free_lines(&A);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_layouts),
        cmocka_unit_test(test_attach_exact),
        cmocka_unit_test(test_reference_inputs),
        cmocka_unit_test(test_split_lines),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_index_while_appended),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
