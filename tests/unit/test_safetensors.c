/* Unit tests of the safetensors reader and writer: the fixtures in three dtypes, a
 * byte-exact write-back, shard indexes, and hostile files (truncations, header lengths
 * beyond the file, overlapping and out-of-range offsets, bad dtypes and shapes). */
#include "testutil.h"
#include <sys/stat.h>

static void write_whole(const char *path, const void *b, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_whole(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(*len ? *len : 1);
    assert_int_equal(fread(b, 1, *len, fp), *len);
    fclose(fp);
    return b;
}

/* A safetensors file from header text and data bytes. */
static void make_st(const char *path, const char *header, const void *data, size_t dlen) {
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + dlen);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    write_whole(path, b, 8 + hl + dlen);
    free(b);
}

static void expect_fail(const char *path, const char *want) {
    lx_tensor_dict d;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    int rc = lx_safetensors_read(&d, path, &err);
    lx_tensor_dict_free(&d);
    if (rc == 0) fail_msg("read a bad file (expected: %s)", want);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
}

/* The three tiny-vqa files: same names and shapes; bf16 widens to the f32 values exactly,
 * f16 to the f32 values rounded to f16. */
static void test_fixture_dtypes(void **state) {
    (void)state;
    lx_tensor_dict f32, f16, bf16;
    lx_error err = {0};
    lx_tensor_dict_init(&f32);
    lx_tensor_dict_init(&f16);
    lx_tensor_dict_init(&bf16);
    assert_int_equal(lx_safetensors_read(&f32, fixture("models/tiny-vqa/model.safetensors"), &err), 0);
    assert_int_equal(lx_safetensors_read(&f16, fixture("models/tiny-vqa/model-f16.safetensors"), &err), 0);
    assert_int_equal(lx_safetensors_read(&bf16, fixture("models/tiny-vqa/model-bf16.safetensors"), &err), 0);
    assert_int_equal(f32.n, 153);
    assert_int_equal(f16.n, f32.n);
    assert_int_equal(bf16.n, f32.n);
    lx_tensor *we = lx_tensor_dict_get(&f32, "lxmert.embeddings.word_embeddings.weight");
    assert_non_null(we);
    assert_int_equal(we->dtype, LX_F32);
    assert_int_equal(we->ndim, 2);
    assert_int_equal(we->shape[0], 30522);
    assert_int_equal(we->shape[1], 48);
    for (size_t i = 0; i < f32.n; i++) {
        const lx_tensor *a = &f32.items[i].t;
        lx_tensor *h = lx_tensor_dict_get(&f16, f32.items[i].name),
                  *b = lx_tensor_dict_get(&bf16, f32.items[i].name);
        assert_non_null(h);
        assert_non_null(b);
        assert_int_equal(h->dtype, LX_F16);
        assert_int_equal(b->dtype, LX_BF16);
        assert_int_equal(h->ndim, a->ndim);
        int64_t n = lx_tensor_nelem(a);
        const float *av = a->data;
        const uint16_t *hv = h->data, *bv = b->data;
        for (int64_t e = 0; e < n; e++) {
            assert_true(lx_bf16_to_f32(bv[e]) == av[e]);
            assert_int_equal(hv[e], lx_f32_to_f16(av[e]));
        }
    }
    lx_tensor_dict_free(&f32);
    lx_tensor_dict_free(&f16);
    lx_tensor_dict_free(&bf16);
}

/* Read the expected weights and write them back: the same bytes. */
static void test_write_back(void **state) {
    (void)state;
    const char *src = fixture("expected/weights.tiny-pretrain.safetensors");
    char srcp[4096];
    snprintf(srcp, sizeof srcp, "%s", src);
    lx_tensor_dict d;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    assert_int_equal(lx_safetensors_read(&d, srcp, &err), 0);
    const char **names = malloc(d.n * sizeof *names);
    const lx_tensor **ts = malloc(d.n * sizeof *ts);
    for (size_t i = 0; i < d.n; i++) names[i] = d.items[i].name, ts[i] = &d.items[i].t;
    const char *out = scratch("back.safetensors");
    if (lx_safetensors_write(out, names, ts, d.n, NULL, &err) < 0) fail_msg("%s", err.msg);
    size_t la, lb;
    unsigned char *a = read_whole(srcp, &la), *b = read_whole(out, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);

    /* with metadata, all dtypes, and an empty tensor; read back equal */
    lx_tensor t[4];
    int64_t sh[2] = {3, 5}, z[1] = {0};
    assert_int_equal(lx_tensor_alloc(&t[0], LX_F16, 2, sh, &err), 0);
    assert_int_equal(lx_tensor_alloc(&t[1], LX_I64, 1, sh, &err), 0);
    assert_int_equal(lx_tensor_alloc(&t[2], LX_U8, 1, z, &err), 0);
    assert_int_equal(lx_tensor_alloc(&t[3], LX_BF16, 0, sh, &err), 0);
    for (int i = 0; i < 15; i++) ((uint16_t *)t[0].data)[i] = (uint16_t)(i * 977);
    for (int i = 0; i < 3; i++) ((int64_t *)t[1].data)[i] = -i * 1000000000000LL;
    ((uint16_t *)t[3].data)[0] = 0x3f80;
    const char *nm[4] = {"a", "b", "c", "d"};
    const lx_tensor *tp[4] = {&t[0], &t[1], &t[2], &t[3]};
    json_t *meta = json_pack("{s:s}", "format", "pt");
    assert_int_equal(lx_safetensors_write(out, nm, tp, 4, meta, &err), 0);
    json_decref(meta);
    lx_tensor_dict e;
    lx_tensor_dict_init(&e);
    if (lx_safetensors_read(&e, out, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(e.n, 4);
    for (int i = 0; i < 4; i++) {
        lx_tensor *r = lx_tensor_dict_get(&e, nm[i]);
        assert_non_null(r);
        assert_int_equal(r->dtype, t[i].dtype);
        assert_int_equal(r->ndim, t[i].ndim);
        assert_memory_equal(r->data, t[i].data, (size_t)lx_tensor_nbytes(&t[i]));
        lx_tensor_free(&t[i]);
    }
    lx_tensor_dict_free(&e);
    unlink(out);
    free(names);
    free(ts);
    lx_tensor_dict_free(&d);
}

/* Cut a real file at many lengths: each cut is refused, none crashes. */
static void test_truncated(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = read_whole(fixture("models/tiny-vqa/model-bf16.safetensors"), &len);
    const char *bad = scratch("trunc.safetensors");
    size_t hend = 8 + (size_t)(b[0] | b[1] << 8 | b[2] << 16);
    size_t step;
    for (size_t n = 0; n < len; n += step) {
        step = n < 16 ? 1 : n < hend + 16 ? 53 : 40009;
        write_whole(bad, b, n);
        lx_tensor_dict d;
        lx_error err = {0};
        lx_tensor_dict_init(&d);
        if (lx_safetensors_read(&d, bad, &err) == 0) fail_msg("read the file cut at %zu", n);
        assert_true(err.msg[0] != 0);
        lx_tensor_dict_free(&d);
    }
    write_whole(bad, b, len - 1);
    expect_fail(bad, "out of range");
    write_whole(bad, b, 5);
    expect_fail(bad, "too short");
    write_whole(bad, b, hend - 1);
    expect_fail(bad, "runs past the end");
    unlink(bad);
    free(b);
}

/* Random edits of a real header: every result is read or refused, never a crash. */
static void test_fuzz_header(void **state) {
    (void)state;
    size_t len;
    unsigned char *orig = read_whole(fixture("models/tiny-vqa/model-bf16.safetensors"), &len);
    size_t hl = (size_t)(orig[0] | orig[1] << 8 | orig[2] << 16);
    unsigned char *b = malloc(len);
    const char *p = scratch("fuzz.safetensors");
    uint64_t x = 2463534242ull;
    static const char alphabet[] = "0123456789-+.e,:[]{}\"FIU ";
    for (int round = 0; round < 300; round++) {
        memcpy(b, orig, len);
        for (int e = 0; e < 1 + round % 3; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[8 + x % hl] = (unsigned char)alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        write_whole(p, b, len);
        lx_tensor_dict d;
        lx_error err = {0};
        lx_tensor_dict_init(&d);
        if (lx_safetensors_read(&d, p, &err) < 0) assert_true(err.msg[0] != 0);
        lx_tensor_dict_free(&d);
    }
    free(b);
    free(orig);
    unlink(p);
}

static void test_hostile(void **state) {
    (void)state;
    const char *p = scratch("bad.safetensors");
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    /* header length far beyond the file, and near 2^64 */
    unsigned char b[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    write_whole(p, b, 10);
    expect_fail(p, "runs past the end");
    memset(b, 0xff, 8);
    write_whole(p, b, 10);
    expect_fail(p, "runs past the end");

    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 32);
    expect_fail(p, "overlap");
    /* an overlap hidden behind an empty tensor sorted between the two */
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", data, 32);
    expect_fail(p, "overlap");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,40]}}", data, 32);
    expect_fail(p, "out of range");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", data, 32);
    expect_fail(p, "out of range");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,8]}}", data, 32);
    expect_fail(p, "out of range");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 32);
    expect_fail(p, "needs 12");
    make_st(p, "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", data, 32);
    expect_fail(p, "F64 is not supported");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data, 32);
    expect_fail(p, "non-negative");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
               "\"data_offsets\":[0,8]}}", data, 32);
    expect_fail(p, "overflow");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
            data, 32);
    expect_fail(p, "dimensions");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", data, 32);
    expect_fail(p, "data_offsets");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", data, 32);
    expect_fail(p, "expected string dtype");
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", data, 32);
    expect_fail(p, "not valid JSON");
    make_st(p, "[1,2]", data, 32);
    expect_fail(p, "not a JSON object");
    make_st(p, "{\"a\":", data, 32);
    expect_fail(p, "not valid JSON");
    expect_fail(scratch("no-such-file.safetensors"), "No such file");

    /* good: an unaligned tensor gets an aligned copy */
    make_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ", data, 32);
    lx_tensor_dict d;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    assert_int_equal(lx_safetensors_read(&d, p, &err), 0);
    assert_int_equal((uintptr_t)d.items[0].t.data % 4, 0);
    assert_true(((float *)d.items[0].t.data)[1] == 2.0f);
    lx_tensor_dict_free(&d);
    unlink(p);
}

/* A shard index over two files; and indexes that lie. */
static void test_sharded(void **state) {
    (void)state;
    char dir[4096], p1[4200], p2[4200], ix[4200];
    snprintf(dir, sizeof dir, "%s", scratch("shards"));
    mkdir(dir, 0755);
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(ix, sizeof ix, "%s/model.safetensors.index.json", dir);
    float data[4] = {1, 2, 3, 4};
    make_st(p1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8);
    make_st(p2, "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data + 2, 8);
    const char *good = "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
                       "\"a\":\"model-00001-of-00002.safetensors\","
                       "\"b\":\"model-00002-of-00002.safetensors\"}}";
    write_whole(ix, good, strlen(good));
    lx_tensor_dict d;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    if (lx_safetensors_read(&d, ix, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(d.n, 2);
    assert_true(((float *)lx_tensor_dict_get(&d, "b")->data)[1] == 4.0f);
    lx_tensor_dict_free(&d);
    /* the folder reader picks the index */
    lx_tensor_dict_init(&d);
    char *used = NULL;
    if (lx_checkpoint_read(&d, dir, &used, &err) < 0) fail_msg("%s", err.msg);
    assert_non_null(strstr(used, "model.safetensors.index.json"));
    assert_int_equal(d.n, 2);
    free(used);
    lx_tensor_dict_free(&d);

    const char *missing = "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                          "\"c\":\"model-00002-of-00002.safetensors\"}}";
    write_whole(ix, missing, strlen(missing));
    expect_fail(ix, "does not hold");
    const char *escape = "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}";
    write_whole(ix, escape, strlen(escape));
    expect_fail(ix, "not a file name");
    const char *extra = "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\"}}";
    make_st(p1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data, 8);
    write_whole(ix, extra, strlen(extra));
    expect_fail(ix, "the index lists 1");
    write_whole(ix, "{}", 2);
    expect_fail(ix, "weight_map");
    unlink(p1);
    unlink(p2);
    unlink(ix);
    rmdir(dir);
}

/* The tiny-vqa weights split over three shards, through an index, as HF writes large
 * models: model.safetensors.index.json, and pytorch_model.bin.index.json (shards read by
 * content, so safetensors shards named .bin exercise the index reader). */
static void test_sharded_fixture(void **state) {
    (void)state;
    lx_tensor_dict src;
    lx_error err = {0};
    lx_tensor_dict_init(&src);
    assert_int_equal(lx_safetensors_read(&src, fixture("models/tiny-vqa/model.safetensors"), &err), 0);
    static const char *const kinds[2][2] = {
        {"model.safetensors.index.json", "model-%05d-of-00003.safetensors"},
        {"pytorch_model.bin.index.json", "pytorch_model-%05d-of-00003.bin"},
    };
    for (int k = 0; k < 2; k++) {
        char dir[4096], p[4400], shard[64];
        snprintf(dir, sizeof dir, "%s", scratch(k ? "bin-shards" : "st-shards"));
        mkdir(dir, 0755);
        json_t *wm = json_object();
        for (int sh = 0; sh < 3; sh++) {
            const char *names[200];
            const lx_tensor *ts[200];
            size_t n = 0;
            snprintf(shard, sizeof shard, kinds[k][1], sh + 1);
            for (size_t i = (size_t)sh; i < src.n; i += 3) {
                names[n] = src.items[i].name;
                ts[n++] = &src.items[i].t;
                json_object_set_new(wm, src.items[i].name, json_string(shard));
            }
            snprintf(p, sizeof p, "%s/%s", dir, shard);
            assert_int_equal(lx_safetensors_write(p, names, ts, n, NULL, &err), 0);
        }
        json_t *ix = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", 8074916, "weight_map", wm);
        snprintf(p, sizeof p, "%s/%s", dir, kinds[k][0]);
        assert_int_equal(json_dump_file(ix, p, 0), 0);
        json_decref(ix);
        lx_tensor_dict d;
        lx_tensor_dict_init(&d);
        char *used = NULL;
        if (lx_checkpoint_read(&d, dir, &used, &err) < 0) fail_msg("%s", err.msg);
        assert_non_null(strstr(used, kinds[k][0]));
        free(used);
        assert_int_equal(d.n, src.n);
        for (size_t i = 0; i < src.n; i++) {
            lx_tensor *t = lx_tensor_dict_get(&d, src.items[i].name);
            assert_non_null(t);
            assert_memory_equal(t->data, src.items[i].t.data, (size_t)lx_tensor_nbytes(t));
        }
        lx_tensor_dict_free(&d);
        for (int sh = 0; sh < 3; sh++) {
            snprintf(shard, sizeof shard, kinds[k][1], sh + 1);
            snprintf(p, sizeof p, "%s/%s", dir, shard);
            unlink(p);
        }
        snprintf(p, sizeof p, "%s/%s", dir, kinds[k][0]);
        unlink(p);
        rmdir(dir);
    }
    lx_tensor_dict_free(&src);
}

/* The folder rules: safetensors before .bin, tf_model.h5 refused. */
static void test_folder_choice(void **state) {
    (void)state;
    char dir[4096], p[4200];
    snprintf(dir, sizeof dir, "%s", scratch("folder"));
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/tf_model.h5", dir);
    write_whole(p, "HDF", 3);
    lx_tensor_dict d;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    assert_int_equal(lx_checkpoint_read(&d, dir, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "tf_model.h5"));
    unlink(p);
    assert_int_equal(lx_checkpoint_read(&d, dir, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no checkpoint"));
    /* a .bin that is garbage next to a good safetensors: the safetensors is read */
    snprintf(p, sizeof p, "%s/pytorch_model.bin", dir);
    write_whole(p, "garbage", 7);
    char st[4200];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    float v = 1;
    make_st(st, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &v, 4);
    char *used = NULL;
    if (lx_checkpoint_read(&d, dir, &used, &err) < 0) fail_msg("%s", err.msg);
    assert_non_null(strstr(used, "model.safetensors"));
    free(used);
    lx_tensor_dict_free(&d);
    unlink(p);
    unlink(st);
    rmdir(dir);
    char *cd = lx_checkpoint_dir("a/b/c.pth");
    assert_string_equal(cd, "a/b");
    free(cd);
    cd = lx_checkpoint_dir("c.pth");
    assert_string_equal(cd, ".");
    free(cd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_dtypes),
        cmocka_unit_test(test_write_back),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_fuzz_header),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_sharded_fixture),
        cmocka_unit_test(test_folder_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
