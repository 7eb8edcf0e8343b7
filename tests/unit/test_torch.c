/* Tests of lx_torch_read (lib/torch.c): every PyTorch fixture against the expected
 * weights, synthetic checkpoints in both layouts (every dtype, strided, offset, nested,
 * deflated, zip64), and hostile files (forbidden globals, extents past the data, bad
 * central directories, lying counts, truncation at many offsets). */
#include <fcntl.h>
#include <sys/stat.h>
#include "testutil.h"
#include "../tools/ckptgen.h"

static int read_ckpt(lx_tensor_dict *d, const char *path, lx_error *err) {
    lx_tensor_dict_init(d);
    memset(err, 0, sizeof *err);
    return lx_torch_read(d, path, err);
}

static int same_tensor(const lx_tensor *a, const lx_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return memcmp(a->data, b->data, (size_t)lx_tensor_nbytes(a)) == 0;
}

/* Map an original-LXMERT or HF name to the HF LxmertFor... name (enough for the test;
 * the real mapping lives in names.c). */
static void hf_name(const char *in, char *out, size_t cap) {
    static const char *const map[][2] = {
        {"lxrt_encoder.model.bert.", "lxmert."}, {"logit_fc.", "answer_head.logit_fc."},
        {"module.bert.", "lxmert."}, {"module.", ""},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i][0]);
        if (strncmp(in, map[i][0], n) == 0) {
            snprintf(out, cap, "%s%s", map[i][1], in + n);
            return;
        }
    }
    snprintf(out, cap, "%s", in);
}

/* Read ckpt, compare every tensor that maps onto a name of the expected weights;
 * returns how many matched (all must be bit-identical). */
static size_t compare_fixture(const char *ckpt, const char *expected, size_t *n_ckpt,
                              size_t *n_expected, int expect_views) {
    lx_tensor_dict d, e;
    lx_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s", fixture(ckpt));
    if (read_ckpt(&d, path, &err) < 0) fail_msg("%s", err.msg);
    lx_tensor_dict_init(&e);
    if (lx_safetensors_read(&e, fixture(expected), &err) < 0) fail_msg("%s", err.msg);
    size_t matched = 0;
    for (size_t i = 0; i < d.n; i++) {
        char nm[512];
        hf_name(d.items[i].name, nm, sizeof nm);
        const lx_tensor *x = lx_tensor_dict_get(&e, nm);
        if (!x) continue;
        if (!same_tensor(&d.items[i].t, x)) fail_msg("%s: %s differs from %s", ckpt,
                                                      d.items[i].name, nm);
        if (expect_views && d.items[i].t.owned) fail_msg("%s: %s was copied", ckpt, nm);
        matched++;
    }
    *n_ckpt = d.n;
    *n_expected = e.n;
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&e);
    return matched;
}

static void test_fixture_zip(void **state) {
    size_t nc, ne;
    size_t m = compare_fixture("models/tiny-vqa-torchzip/pytorch_model.bin",
                               "expected/weights.tiny-vqa.safetensors", &nc, &ne, 1);
    assert_int_equal(m, ne);
    assert_int_equal(nc, ne);
}

static void test_fixture_legacy(void **state) {
    size_t nc, ne;
    size_t m = compare_fixture("models/tiny-pretrain/pytorch_model.bin",
                               "expected/weights.tiny-pretrain.safetensors", &nc, &ne, 0);
    assert_int_equal(m, ne);
    assert_int_equal(nc, ne + 1);   /* + the tied cls.predictions.decoder.weight */
    lx_tensor_dict d;
    lx_error err;
    assert_int_equal(read_ckpt(&d, fixture("models/tiny-pretrain/pytorch_model.bin"), &err), 0);
    const lx_tensor *dec = lx_tensor_dict_get(&d, "cls.predictions.decoder.weight");
    const lx_tensor *emb = lx_tensor_dict_get(&d, "lxmert.embeddings.word_embeddings.weight");
    assert_non_null(dec);
    assert_non_null(emb);
    assert_true(same_tensor(dec, emb));
    lx_tensor_dict_free(&d);
}

static void test_fixture_original(void **state) {
    size_t nc, ne;
    size_t m = compare_fixture("models/tiny-original/BEST.pth",
                               "expected/weights.tiny-vqa.safetensors", &nc, &ne, 0);
    assert_int_equal(nc, ne);
    assert_int_equal(m, ne);
    m = compare_fixture("models/tiny-original/model_LXRT.pth",
                        "expected/weights.tiny-pretrain.safetensors", &nc, &ne, 0);
    assert_int_equal(nc, ne + 1);   /* + the tied module.cls.predictions.decoder.weight */
    assert_int_equal(m, ne);
}

/* ---- synthetic checkpoints ---------------------------------------------------------- */

static float f32v[64];          /* storage "0": 64 floats */
static uint16_t f16v[8], bf16v[6];
static int64_t i64v[5];
static int32_t i32v[5];
static uint8_t u8v[7];
static double f64v[3];
static float scal[1];

static void fill(void) {
    for (int i = 0; i < 64; i++) f32v[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 8; i++) f16v[i] = lx_f32_to_f16((float)i + 0.25f);
    for (int i = 0; i < 6; i++) bf16v[i] = lx_f32_to_bf16((float)-i * 2.0f);
    for (int i = 0; i < 5; i++) i64v[i] = (int64_t)i * 10000000000LL - 3;
    for (int i = 0; i < 5; i++) i32v[i] = -i * 1000;
    for (int i = 0; i < 7; i++) u8v[i] = (uint8_t)(250 + i);
    for (int i = 0; i < 3; i++) f64v[i] = 0.1 * i;
    scal[0] = 42.0f;
}

/* The state dict pickle: {"model": OrderedDict(...), "epoch": 3, "name": "x"}.
 * storage keys are prefixed with kp (legacy files use addresses, zip files numbers). */
static void state_pickle(gbuf *g, const char *kp, int nested, const char *extra_global) {
    char k[10][32];
    for (int i = 0; i < 10; i++) snprintf(k[i], sizeof k[i], "%s%d", kp, i);
    int64_t s2[2], st[2];
    pk_proto(g);
    if (nested) {
        pk_op(g, '}');
        pk_op(g, '(');
        pk_str(g, "epoch");
        pk_int(g, 3);
        pk_str(g, "model");
    }
    pk_global(g, "collections", "OrderedDict");
    pk_op(g, ')');
    pk_op(g, 'R');
    pk_op(g, '(');
    pk_str(g, "f32.view");
    s2[0] = 4; s2[1] = 16; contig_strides(2, s2, st);
    pk_tensor(g, "FloatStorage", k[0], 64, 0, 2, s2, st);
    pk_str(g, "transposed");
    s2[0] = 16; s2[1] = 4; st[0] = 1; st[1] = 16;
    pk_tensor(g, "FloatStorage", k[0], 64, 0, 2, s2, st);
    pk_str(g, "offset");
    s2[0] = 8; st[0] = 1;
    pk_tensor(g, "FloatStorage", k[0], 64, 8, 1, s2, st);
    pk_str(g, "f16");
    pk_tensor(g, "HalfStorage", k[1], 8, 0, 1, s2, st);
    pk_str(g, "bf16");
    s2[0] = 2; s2[1] = 3; contig_strides(2, s2, st);
    pk_tensor(g, "BFloat16Storage", k[2], 6, 0, 2, s2, st);
    pk_str(g, "i64");
    s2[0] = 5; st[0] = 1;
    pk_tensor(g, "LongStorage", k[3], 5, 0, 1, s2, st);
    pk_str(g, "i32");
    pk_tensor(g, "IntStorage", k[4], 5, 0, 1, s2, st);
    pk_str(g, "u8");
    s2[0] = 7;
    pk_tensor(g, "ByteStorage", k[5], 7, 0, 1, s2, st);
    pk_str(g, "f64");
    s2[0] = 3;
    pk_tensor(g, "DoubleStorage", k[6], 3, 0, 1, s2, st);
    pk_str(g, "scalar");
    pk_tensor(g, "FloatStorage", k[7], 1, 0, 0, s2, st);
    pk_str(g, "empty");
    s2[0] = 0; s2[1] = 4; contig_strides(2, s2, st);
    pk_tensor(g, "FloatStorage", k[8], 0, 0, 2, s2, st);
    pk_str(g, "param");
    pk_global(g, "torch._utils", "_rebuild_parameter");
    pk_op(g, '(');
    s2[0] = 2; st[0] = 1;
    pk_tensor(g, "FloatStorage", k[0], 64, 62, 1, s2, st);
    g_u8(g, 0x88);
    pk_global(g, "collections", "OrderedDict");
    pk_op(g, ')');
    pk_op(g, 'R');
    pk_op(g, 't');
    pk_op(g, 'R');
    pk_str(g, "count");
    pk_int(g, 17);
    if (extra_global) {
        pk_str(g, "evil");
        pk_global(g, "os", extra_global);
        pk_op(g, '(');
        pk_str(g, "true");
        pk_op(g, 't');
        pk_op(g, 'R');
    }
    pk_op(g, 'u');
    if (nested) {
        pk_str(g, "name");
        pk_str(g, "x");
        pk_op(g, 'u');
    }
    pk_op(g, '.');
}

static const void *sdata[9];
static size_t slen[9], sesz[9];
/* The pickle of {"w": tensor} over FloatStorage `key` of numel elements, with the given
 * shape and strides: the state dict the extent and budget tests corrupt. */
static void one_tensor(gbuf *pkl, const char *key, int64_t numel, int ndim,
                       const int64_t *shape, const int64_t *stride) {
    pk_proto(pkl);
    pk_op(pkl, '}');
    pk_str(pkl, "w");
    pk_tensor(pkl, "FloatStorage", key, numel, 0, ndim, shape, stride);
    pk_op(pkl, 's');
    pk_op(pkl, '.');
}

static void storages(void) {
    fill();
    const void *d[9] = {f32v, f16v, bf16v, i64v, i32v, u8v, f64v, scal, ""};
    size_t l[9] = {sizeof f32v, sizeof f16v, sizeof bf16v, sizeof i64v, sizeof i32v,
                   sizeof u8v, sizeof f64v, sizeof scal, 0};
    size_t e[9] = {4, 2, 2, 8, 4, 1, 8, 4, 4};
    memcpy(sdata, d, sizeof d);
    memcpy(slen, l, sizeof l);
    memcpy(sesz, e, sizeof e);
}

static void write_zip(const char *path, const gbuf *pkl, int zip64, int deflate_some,
                      int nstorages) {
    char names[10][32];
    gzip_entry e[12];
    int n = 0;
    e[n++] = (gzip_entry){"archive/data.pkl", pkl->b, pkl->n, 0};
    for (int i = 0; i < nstorages; i++) {
        snprintf(names[i], sizeof names[i], "archive/data/%d", i);
        e[n++] = (gzip_entry){names[i], sdata[i], slen[i], deflate_some && (i % 2)};
    }
    e[n++] = (gzip_entry){"archive/version", "3\n", 2, 0};
    e[n++] = (gzip_entry){"archive/byteorder", "little", 6, 0};
    gbuf g = {0};
    gzip_write(&g, e, n, zip64);
    assert_int_equal(g_write_file(path, g.b, g.n), 0);
    g_free(&g);
}

static void write_legacy(const char *path, const gbuf *obj, const char *kp) {
    char k[9][32];
    const char *keys[9];
    int64_t counts[9];
    for (int i = 0; i < 9; i++) {
        snprintf(k[i], sizeof k[i], "%s%d", kp, i);
        keys[i] = k[i];
        counts[i] = (int64_t)(slen[i] / sesz[i]);
    }
    gbuf g = {0};
    legacy_write(&g, obj, 9, keys, counts, sdata, sesz);
    assert_int_equal(g_write_file(path, g.b, g.n), 0);
    g_free(&g);
}

static void check_synthetic(const char *path, int zip) {
    lx_tensor_dict d;
    lx_error err;
    if (read_ckpt(&d, path, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(d.n, 12);
    lx_tensor *t = lx_tensor_dict_get(&d, "f32.view");
    assert_int_equal(t->dtype, LX_F32);
    assert_int_equal(t->shape[1], 16);
    assert_memory_equal(t->data, f32v, sizeof f32v);
    if (zip) assert_int_equal(t->owned, 0);      /* aligned, stored: a view */
    t = lx_tensor_dict_get(&d, "transposed");
    assert_int_equal(t->owned, 1);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 4; j++)
            assert_true(((float *)t->data)[i * 4 + j] == f32v[j * 16 + i]);
    t = lx_tensor_dict_get(&d, "offset");
    assert_memory_equal(t->data, f32v + 8, 8 * sizeof(float));
    t = lx_tensor_dict_get(&d, "f16");
    assert_int_equal(t->dtype, LX_F16);
    assert_memory_equal(t->data, f16v, sizeof f16v);
    t = lx_tensor_dict_get(&d, "bf16");
    assert_int_equal(t->dtype, LX_BF16);
    assert_int_equal(t->ndim, 2);
    assert_memory_equal(t->data, bf16v, sizeof bf16v);
    t = lx_tensor_dict_get(&d, "i64");
    assert_int_equal(t->dtype, LX_I64);
    assert_memory_equal(t->data, i64v, sizeof i64v);
    t = lx_tensor_dict_get(&d, "i32");
    assert_int_equal(t->dtype, LX_I32);
    assert_memory_equal(t->data, i32v, sizeof i32v);
    t = lx_tensor_dict_get(&d, "u8");
    assert_int_equal(t->dtype, LX_U8);
    assert_memory_equal(t->data, u8v, sizeof u8v);
    t = lx_tensor_dict_get(&d, "f64");
    assert_int_equal(t->dtype, LX_F32);
    for (int i = 0; i < 3; i++) assert_true(((float *)t->data)[i] == (float)f64v[i]);
    t = lx_tensor_dict_get(&d, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_true(((float *)t->data)[0] == 42.0f);
    t = lx_tensor_dict_get(&d, "empty");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(lx_tensor_nelem(t), 0);
    t = lx_tensor_dict_get(&d, "param");
    assert_memory_equal(t->data, f32v + 62, 2 * sizeof(float));
    assert_null(lx_tensor_dict_get(&d, "count"));
    lx_tensor_dict_free(&d);
}

static void test_synthetic_zip(void **state) {
    storages();
    const char *path = scratch("synth.pt");
    for (int variant = 0; variant < 4; variant++) {
        gbuf pkl = {0};
        state_pickle(&pkl, "", variant & 1, NULL);
        write_zip(path, &pkl, variant & 2, variant & 1, 9);
        check_synthetic(path, 1);
        g_free(&pkl);
    }
    unlink(path);
}

static void test_synthetic_legacy(void **state) {
    storages();
    const char *path = scratch("synth-legacy.pt");
    for (int nested = 0; nested < 2; nested++) {
        gbuf obj = {0};
        state_pickle(&obj, "9413", nested, NULL);
        write_legacy(path, &obj, "9413");
        check_synthetic(path, 0);
        g_free(&obj);
    }
    unlink(path);
}

/* ---- hostile files ------------------------------------------------------------------- */

static void expect_fail(const char *path, const char *what) {
    lx_tensor_dict d;
    lx_error err;
    int rc = read_ckpt(&d, path, &err);
    lx_tensor_dict_free(&d);
    if (rc != -1) fail_msg("%s was accepted; expected an error with '%s'", path, what);
    if (!strstr(err.msg, what)) fail_msg("message '%s' lacks '%s'", err.msg, what);
}

static void test_forbidden_global(void **state) {
    storages();
    const char *path = scratch("evil.pt");
    static const char *const evil[] = {"system", "popen", "execv"};
    for (int i = 0; i < 3; i++) {
        char full[32];
        snprintf(full, sizeof full, "os.%s", evil[i]);
        gbuf pkl = {0};
        state_pickle(&pkl, "", 1, evil[i]);
        write_zip(path, &pkl, 0, 0, 9);
        expect_fail(path, full);
        expect_fail(path, "not allowed");
        expect_fail(path, "archive/data.pkl: pickle byte");
        write_legacy(path, &pkl, "");
        expect_fail(path, full);
        g_free(&pkl);
    }
    unlink(path);
}

static void test_extents(void **state) {
    storages();
    const char *path = scratch("extent.pt");
    int64_t shape[2] = {65}, stride[2] = {1};
    /* A tensor reaching past its storage. */
    gbuf pkl = {0};
    one_tensor(&pkl, "0", 64, 1, shape, stride);
    write_zip(path, &pkl, 0, 0, 1);
    expect_fail(path, "reaches element 64 of storage 0, which holds 64");
    g_free(&pkl);
    /* A stride reaching past it. */
    shape[0] = 4; shape[1] = 4; stride[0] = 16; stride[1] = 6;
    one_tensor(&pkl, "0", 64, 2, shape, stride);
    write_zip(path, &pkl, 0, 0, 1);
    expect_fail(path, "reaches element 66");   /* 3 * 16 + 3 * 6 */
    g_free(&pkl);
}

/* One element expanded (stride 0) to a vast shape: refused before allocating. */
static void test_copy_budget(void **state) {
    storages();
    const char *path = scratch("expand.pt");
    int64_t shape[2] = {1 << 30, 1 << 10}, stride[2] = {0, 0};
    gbuf pkl = {0};
    one_tensor(&pkl, "0", 64, 2, shape, stride);
    write_zip(path, &pkl, 0, 0, 1);
    expect_fail(path, "would take more memory than twice the file's size");
    g_free(&pkl);
    unlink(path);
}

static void test_extents_more(void **state) {
    storages();
    const char *path = scratch("extent2.pt");
    int64_t shape[1] = {8}, stride[1] = {1};
    gbuf pkl = {0};
    /* A storage that claims more elements than its entry holds. */
    one_tensor(&pkl, "0", 1000, 1, shape, stride);
    write_zip(path, &pkl, 0, 0, 1);
    expect_fail(path, "1000 float32 elements need 4000 bytes");
    /* A malformed version entry and a big-endian byteorder. */
    {
        gzip_entry e[] = {{"archive/data.pkl", pkl.b, pkl.n, 0},
                          {"archive/data/0", f32v, sizeof f32v, 0},
                          {"archive/version", "three", 5, 0}};
        gbuf z = {0};
        gzip_write(&z, e, 3, 0);
        assert_int_equal(g_write_file(path, z.b, z.n), 0);
        expect_fail(path, "archive/version does not hold a version number");
        g_free(&z);
        e[2] = (gzip_entry){"archive/byteorder", "big", 3, 0};
        gzip_write(&z, e, 3, 0);
        assert_int_equal(g_write_file(path, z.b, z.n), 0);
        expect_fail(path, "big-endian");
        g_free(&z);
    }
    /* A storage with no entry. */
    write_zip(path, &pkl, 0, 0, 0);
    expect_fail(path, "no entry archive/data/0");
    g_free(&pkl);
    /* Legacy: a count that disagrees with the pickle, and a huge count. */
    one_tensor(&pkl, "k", 64, 1, shape, stride);
    const char *keys[1] = {"k"};
    const void *data[1] = {f32v};
    size_t es[1] = {4};
    int64_t cnt[1] = {64};
    gbuf g = {0};
    legacy_write(&g, &pkl, 1, keys, cnt, data, es);
    size_t count_at = g.n - sizeof f32v - 8;
    g.b[count_at + 7] = 0x40;                 /* 2^62 + 64 elements */
    assert_int_equal(g_write_file(path, g.b, g.n), 0);
    expect_fail(path, "elements, the pickle says 64");
    g_free(&pkl);
    /* Legacy: the pickle and the count agree on 2^31-1 elements, the file has 64. */
    one_tensor(&pkl, "k", 0x7fffffff, 1, shape, stride);
    g_free(&g);
    legacy_write(&g, &pkl, 1, keys, cnt, data, es);
    count_at = g.n - sizeof f32v - 8;
    g.b[count_at] = 0xff; g.b[count_at + 1] = 0xff; g.b[count_at + 2] = 0xff;
    g.b[count_at + 3] = 0x7f;
    assert_int_equal(g_write_file(path, g.b, g.n), 0);
    expect_fail(path, "run past the end of the file");
    g_free(&g);
    g_free(&pkl);
    unlink(path);
}

/* Read a checkpoint in a child process (peak_rise_kib): 0 if it reads and its tensor
 * "w" is 8 zeros, 1 if it fails with `what` in the message. */
typedef struct child_read { const char *path, *what; } child_read;

static int child_read_ckpt(void *arg) {
    const child_read *c = arg;
    lx_tensor_dict d;
    lx_error err;
    int r = read_ckpt(&d, c->path, &err), status = 2;
    if (r == 0 && !c->what) {
        const lx_tensor *t = lx_tensor_dict_get(&d, "w");
        status = t && t->shape[0] == 8 && ((const float *)t->data)[7] == 0.0f ? 0 : 3;
    } else if (r < 0 && c->what && strstr(err.msg, c->what)) {
        status = 1;
    } else if (r < 0) {
        fprintf(stderr, "unexpected error: %s\n", err.msg);
    }
    lx_tensor_dict_free(&d);
    return status;
}

/* Some 128 KB of zip whose storage deflates to 128 MiB of zeros, read by a tensor of 8
 * elements: inflated only as far as the tensor reads it, the rest of the stream only
 * checked (its CRC and length), so memory stays far below the entry's size.  The same
 * entry under a storage the pickle calls larger than it is refused before inflating. */
static void test_inflate_bomb(void **state) {
    const size_t big = (size_t)128 << 20;
    const char *path = scratch("bomb.pt");
    int64_t shape[1] = {8}, stride[1] = {1};
    for (int variant = 0; variant < 3; variant++) {
        /* 0: storage of 2^26 floats (the whole entry), tensor of 8.  1: storage of 8
         * floats in an entry of 256 MiB.  2: storage of 2^62 floats: refused, naming
         * the true byte count (2^64, which does not fit in 64 bits). */
        int64_t numel = variant == 0 ? (int64_t)(big / 4) : variant == 1 ? 8
                                                                         : (int64_t)1 << 62;
        gbuf pkl = {0};
        one_tensor(&pkl, "0", numel, 1, shape, stride);
        void *zeros = calloc(1, big);   /* untouched: the zero page, no memory */
        assert_non_null(zeros);
        gzip_entry e[] = {{"archive/data.pkl", pkl.b, pkl.n, 0},
                          {"archive/data/0", zeros, big, 1}};
        gbuf z = {0};
        gzip_write(&z, e, 2, 0);
        free(zeros);
        assert_true(z.n < ((size_t)1 << 20));
        assert_int_equal(g_write_file(path, z.b, z.n), 0);
        g_free(&z);
        g_free(&pkl);
        int rc;
        child_read c = {path, variant == 2 ? "4611686018427387904 float32 elements need "
                                             "18446744073709551616 bytes, entry "
                                             "archive/data/0 holds 134217728" : NULL};
        long rise = peak_rise_kib(child_read_ckpt, &c, &rc);
        assert_int_equal(rc, variant == 2 ? 1 : 0);
        if (rise > 32 * 1024) fail_msg("variant %d: memory rose by %ld KiB", variant, rise);
    }
    unlink(path);
}

/* A deflated data.pkl of 65 MiB (zeros, some 65 KB compressed) is refused before it is
 * inflated: a state dict's pickle is far smaller. */
static void test_pickle_bomb(void **state) {
    const size_t big = (size_t)65 << 20;
    const char *path = scratch("pklbomb.pt");
    void *zeros = calloc(1, big);
    assert_non_null(zeros);
    gzip_entry e[] = {{"archive/data.pkl", zeros, big, 1}};
    gbuf z = {0};
    gzip_write(&z, e, 1, 0);
    free(zeros);
    assert_int_equal(g_write_file(path, z.b, z.n), 0);
    g_free(&z);
    int rc;
    child_read c = {path, "zip entry archive/data.pkl: 68157440 bytes, more than the "
                          "67108864 accepted"};
    long rise = peak_rise_kib(child_read_ckpt, &c, &rc);
    assert_int_equal(rc, 1);
    if (rise > 16 * 1024) fail_msg("memory rose by %ld KiB", rise);
    unlink(path);
}

/* The zip fixture with its central directory offset broken, and other garbage. */
static void test_bad_files(void **state) {
    const char *src = fixture("models/tiny-vqa-torchzip/pytorch_model.bin");
    int fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    fstat(fd, &st);
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n);
    assert_int_equal(read(fd, b, n), (ssize_t)n);
    close(fd);
    const char *path = scratch("badcd.pt");
    size_t e = n - 22;
    assert_int_equal(b[e], 0x50);
    uint8_t save = b[e + 19];
    b[e + 19] = 0x7f;   /* central directory offset far past the end */
    assert_int_equal(g_write_file(path, b, n), 0);
    expect_fail(path, "bad zip central directory");
    b[e + 19] = save;
    b[e + 10] = b[e + 11] = 0xfe;   /* entry count beyond what fits */
    assert_int_equal(g_write_file(path, b, n), 0);
    expect_fail(path, "bad zip central directory");
    free(b);
    assert_int_equal(g_write_file(path, "hello, world\n", 13), 0);
    expect_fail(path, "not a PyTorch checkpoint");
    assert_int_equal(g_write_file(path, "", 0), 0);
    expect_fail(path, "too short");
    expect_fail("/nonexistent/x.pt", "cannot open");
    unlink(path);
}

/* Cut a file at many offsets (descending, with ftruncate on one copy): each is an
 * error, never a crash or a hang. */
static void truncate_at_many(const char *src_path, size_t head, size_t head_step, size_t step,
                             size_t tail) {
    int in = open(src_path, O_RDONLY);
    assert_true(in >= 0);
    struct stat st;
    fstat(in, &st);
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n);
    assert_int_equal(read(in, b, n), (ssize_t)n);
    close(in);
    const char *path = scratch("trunc.pt");
    assert_int_equal(g_write_file(path, b, n), 0);
    free(b);
    size_t tried = 0;
    for (size_t cut = n; cut-- > 0;) {
        int pick = (cut < head && cut % head_step == 0) || cut % step == 0 || cut + tail >= n;
        if (!pick) continue;
        assert_int_equal(truncate(path, (off_t)cut), 0);
        lx_tensor_dict d;
        lx_error err;
        int rc = read_ckpt(&d, path, &err);
        lx_tensor_dict_free(&d);
        if (rc != -1) fail_msg("%s cut at %zu bytes was accepted", src_path, cut);
        assert_true(err.msg[0] != 0);
        tried++;
    }
    assert_true(tried > 100);
    unlink(path);
}

static void test_truncated(void **state) {
    storages();
    const char *path = scratch("small.pt");
    char copy[4096];
    gbuf pkl = {0};
    state_pickle(&pkl, "", 1, NULL);
    write_zip(path, &pkl, 1, 1, 9);
    snprintf(copy, sizeof copy, "%s", path);
    truncate_at_many(copy, 0, 1, 1, 0);            /* every offset */
    write_legacy(path, &pkl, "");
    truncate_at_many(copy, 0, 1, 1, 0);
    g_free(&pkl);
    unlink(path);
    /* The fixtures: densely over the pickles at the start, sparsely over the data,
     * densely again over the zip directory or the last storage at the end. */
    truncate_at_many(fixture("models/tiny-vqa-torchzip/pytorch_model.bin"), 31000, 97, 65537,
                     64);
    truncate_at_many(fixture("models/tiny-pretrain/pytorch_model.bin"), 40000, 97, 100003, 64);
}

static void test_ambiguous(void **state) {
    storages();
    const char *path = scratch("amb.pt");
    int64_t shape[1] = {8}, stride[1] = {1};
    gbuf pkl = {0};
    pk_proto(&pkl);
    pk_op(&pkl, '}');
    pk_op(&pkl, '(');
    pk_str(&pkl, "a");
    pk_op(&pkl, '}');
    g_u8(&pkl, 'q');
    g_u8(&pkl, 1);
    pk_str(&pkl, "w");
    pk_tensor(&pkl, "FloatStorage", "0", 64, 0, 1, shape, stride);
    pk_op(&pkl, 's');
    pk_str(&pkl, "b");
    g_u8(&pkl, 'h');    /* BINGET 1: the same dict again */
    g_u8(&pkl, 1);
    pk_op(&pkl, 'u');
    pk_op(&pkl, '.');
    write_zip(path, &pkl, 0, 0, 1);
    expect_fail(path, "several entries hold tensors ('a', 'b')");
    g_free(&pkl);
    unlink(path);
}

/* A dict holding itself 3000 times (a few KB of pickle): the search for the state
 * dict must not cost 3000^3. */
static void test_self_nested(void **state) {
    storages();
    const char *path = scratch("selfnest.pt");
    gbuf pkl = {0};
    pk_proto(&pkl);
    pk_op(&pkl, '}');
    g_u8(&pkl, 'q');
    g_u8(&pkl, 0);
    pk_op(&pkl, '(');
    for (int i = 0; i < 3000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        pk_str(&pkl, k);
        g_u8(&pkl, 'h');
        g_u8(&pkl, 0);
    }
    pk_op(&pkl, 'u');
    pk_op(&pkl, '.');
    write_zip(path, &pkl, 0, 0, 0);
    expect_fail(path, "too large or too shared");
    g_free(&pkl);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_zip),
        cmocka_unit_test(test_fixture_legacy),
        cmocka_unit_test(test_fixture_original),
        cmocka_unit_test(test_synthetic_zip),
        cmocka_unit_test(test_synthetic_legacy),
        cmocka_unit_test(test_forbidden_global),
        cmocka_unit_test(test_extents),
        cmocka_unit_test(test_extents_more),
        cmocka_unit_test(test_copy_budget),
        cmocka_unit_test(test_inflate_bomb),
        cmocka_unit_test(test_pickle_bomb),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_ambiguous),
        cmocka_unit_test(test_self_nested),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
