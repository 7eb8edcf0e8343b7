/* Unit tests of the .lxm writer and loader: a round trip of every fixture network, the
 * tied decoder alias, stored dtypes (int8 included), and a loader that refuses truncated
 * files and every kind of inconsistent header with a message instead of crashing. */
#include <math.h>
#include "testutil.h"
#include "internal.h"
#include "schema.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

/* Read and normalize a fixture checkpoint with its config. */
static void load_src(const char *model_dir, const char *file, lx_tensor_dict *d, lx_config *c) {
    char path[8192];
    lx_error err = {0};
    lx_config_default(c);
    snprintf(path, sizeof path, "%s/config.json", fixture(model_dir));
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    assert_int_equal(lx_config_from_json(c, j, &err), 0);
    json_decref(j);
    lx_tensor_dict_init(d);
    snprintf(path, sizeof path, "%s/%s", fixture(model_dir), file);
    if (lx_checkpoint_read(d, path, NULL, &err) < 0) fail_msg("%s", err.msg);
    if (lx_schema_normalize(d, c, 0, &err) < 0) fail_msg("%s", err.msg);
}

static void write_model(const char *out, const lx_config *c, const lx_tensor_dict *d,
                        lx_strlist *vocab, lx_strlist *labels, lx_dtype dt) {
    lx_error err = {0};
    lx_model_spec spec = {.config = c, .tensors = d, .vocab = vocab, .labels = labels, .dtype = dt};
    if (lx_model_write(out, &spec, &err) < 0) fail_msg("%s", err.msg);
}

static void test_roundtrip_vqa(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    load_src("models/tiny-vqa", "model.safetensors", &d, &c);
    lx_strlist vocab = {0}, labels = {0};
    assert_int_equal(lx_lines_read_file(&vocab, fixture("models/tiny-vqa/vocab.txt"), &err), 0);
    assert_int_equal(lx_labels_read_file(&labels, fixture("labels/vqa-label2ans.json"), &err), 0);
    const char *out = scratch("vqa.lxm");
    write_model(out, &c, &d, &vocab, &labels, LX_F32);

    lx_model *m = lx_model_open(out, &err);
    if (!m) fail_msg("%s", err.msg);
    const lx_config *mc = lx_model_config(m);
    assert_int_equal(mc->hidden_size, 48);
    assert_int_equal(mc->l_layers, 2);
    assert_int_equal(mc->x_layers, 2);
    assert_int_equal(mc->r_layers, 1);
    assert_int_equal(mc->num_qa_labels, 3129);
    assert_int_equal(lx_model_ntensors(m), d.n);
    assert_int_equal(lx_model_vocab_size(m), 30522);
    assert_string_equal(lx_model_vocab_token(m, 0), "[PAD]");
    assert_string_equal(lx_model_vocab_token(m, 101), "[CLS]");
    assert_int_equal(lx_model_nlabels(m), 3129);
    assert_string_equal(lx_model_label(m, 0), labels.items[0]);
    assert_string_equal(lx_model_label(m, 3128), labels.items[3128]);
    assert_int_equal(lx_model_naliases(m), 0);
    assert_null(lx_model_tensor(m, "cls.predictions.decoder.weight"));
    assert_null(lx_model_tensor(m, "no.such.tensor"));
    for (size_t i = 0; i < d.n; i++) {
        const lx_tensor *t = lx_model_tensor(m, d.items[i].name);
        assert_non_null(t);
        assert_ptr_equal(t, lx_model_tensor_at(m, i));
        assert_string_equal(lx_model_tensor_name(m, i), d.items[i].name);
        assert_int_equal(t->dtype, d.items[i].t.dtype);
        assert_int_equal(t->ndim, d.items[i].t.ndim);
        assert_int_equal((uintptr_t)t->data % 64, 0);
        assert_int_equal(t->owned, 0);
        assert_memory_equal(t->data, d.items[i].t.data, (size_t)lx_tensor_nbytes(t));
    }
    assert_int_equal(lx_model_verify(m, &err), 0);
    lx_model_close(m);
    unlink(out);
    lx_strlist_free(&vocab);
    lx_strlist_free(&labels);
    lx_tensor_dict_free(&d);
}

/* The pre-training network: the MLM decoder is stored once, found through the alias. */
static void test_tied_decoder(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    load_src("models/tiny-pretrain", "pytorch_model.bin", &d, &c);
    assert_null(lx_tensor_dict_get(&d, "cls.predictions.decoder.weight"));
    const char *out = scratch("pre.lxm");
    write_model(out, &c, &d, NULL, NULL, LX_F32);
    lx_model *m = lx_model_open(out, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(lx_model_config(m)->num_qa_labels, 9500);
    assert_int_equal(lx_model_vocab_size(m), 0);
    assert_int_equal(lx_model_nlabels(m), 0);
    const lx_tensor *dec = lx_model_tensor(m, "cls.predictions.decoder.weight");
    const lx_tensor *we = lx_model_tensor(m, "lxmert.embeddings.word_embeddings.weight");
    assert_non_null(dec);
    assert_ptr_equal(dec, we);
    assert_int_equal(lx_model_naliases(m), 1);
    const char *target = NULL;
    assert_string_equal(lx_model_alias(m, 0, &target), "cls.predictions.decoder.weight");
    assert_string_equal(target, "lxmert.embeddings.word_embeddings.weight");
    lx_model_close(m);
    unlink(out);
    lx_tensor_dict_free(&d);
}

/* --dtype: matrices in f16/bf16, vectors in f32; values as lx_f32_to_* gives them. */
static void test_stored_dtypes(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    load_src("models/tiny-vqa", "model.safetensors", &d, &c);
    lx_dtype dts[2] = {LX_F16, LX_BF16};
    for (int k = 0; k < 2; k++) {
        const char *out = scratch("half.lxm");
        write_model(out, &c, &d, NULL, NULL, dts[k]);
        lx_model *m = lx_model_open(out, &err);
        if (!m) fail_msg("%s", err.msg);
        assert_int_equal(lx_model_verify(m, &err), 0);
        for (size_t i = 0; i < d.n; i++) {
            const lx_tensor *src = &d.items[i].t, *t = lx_model_tensor_at(m, i);
            int64_t n = lx_tensor_nelem(src);
            const float *sv = src->data;
            if (src->ndim == 1) {
                assert_int_equal(t->dtype, LX_F32);
                assert_memory_equal(t->data, src->data, (size_t)n * 4);
                continue;
            }
            assert_int_equal(t->dtype, dts[k]);
            const uint16_t *h = t->data;
            for (int64_t e = 0; e < n; e++) {
                uint16_t want = dts[k] == LX_F16 ? lx_f32_to_f16(sv[e]) : lx_f32_to_bf16(sv[e]);
                if (h[e] != want) fail_msg("%s[%lld]", d.items[i].name, (long long)e);
            }
            /* The fixture's weights are exactly representable in bf16. */
            if (dts[k] == LX_BF16)
                for (int64_t e = 0; e < n; e++) assert_true(lx_bf16_to_f32(h[e]) == sv[e]);
        }
        lx_model_close(m);
        unlink(out);
    }
    lx_tensor_dict_free(&d);
}

static void expect_refused(const char *path, const char *want);

/* Is name one of the Linear weights int8 storage quantizes (the encoder layers')? */
static int int8_matrix(const char *name) {
    size_t n = strlen(name);
    return strncmp(name, "lxmert.encoder.", 15) == 0 && !strstr(name, "visn_fc.") && n > 7 &&
           strcmp(name + n - 7, ".weight") == 0 && !strstr(name, "LayerNorm");
}

/* --dtype int8: the encoder layers' Linear weights as i8 rows with their f32 scales
 * (NAME_scale right after NAME), each row as lx_quantize_row_i8 makes it and within half
 * a step of the f32 weights; every other tensor f32, bit for bit.  An int8 file written
 * again as int8 is the same; as f32 it is refused, and so is a detector in int8. */
static void test_int8(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    load_src("models/tiny-vqa", "model.safetensors", &d, &c);
    const char *out = scratch("int8.lxm");
    write_model(out, &c, &d, NULL, NULL, LX_I8);
    lx_model *m = lx_model_open(out, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(lx_model_verify(m, &err), 0);
    size_t nq = 0;
    for (size_t i = 0; i < d.n; i++) {
        const char *name = d.items[i].name;
        const lx_tensor *src = &d.items[i].t, *t = lx_model_tensor(m, name);
        assert_non_null(t);
        char sn[256];
        snprintf(sn, sizeof sn, "%s_scale", name);
        const lx_tensor *sc = lx_model_tensor(m, sn);
        if (!int8_matrix(name)) {
            assert_null(sc);
            assert_int_equal(t->dtype, LX_F32);
            assert_memory_equal(t->data, src->data, (size_t)lx_tensor_nbytes(src));
            continue;
        }
        nq++;
        assert_int_equal(t->dtype, LX_I8);
        assert_int_equal(t->ndim, 2);
        assert_true(t->shape[0] == src->shape[0] && t->shape[1] == src->shape[1]);
        assert_non_null(sc);
        assert_int_equal(sc->dtype, LX_F32);
        assert_true(sc->ndim == 1 && sc->shape[0] == t->shape[0]);
        assert_ptr_equal(sc, lx_model_tensor_at(m, i + nq)); /* right after its matrix */
        int64_t rows = t->shape[0], cols = t->shape[1];
        int8_t *q = malloc((size_t)cols);
        for (int64_t r = 0; r < rows; r++) {
            const float *w = (const float *)src->data + r * cols;
            const int8_t *got = (const int8_t *)t->data + r * cols;
            float s = lx_quantize_row_i8(w, (size_t)cols, q), gs = ((const float *)sc->data)[r];
            assert_memory_equal(&gs, &s, 4);
            assert_memory_equal(got, q, (size_t)cols);
            for (int64_t e = 0; e < cols; e++) {
                assert_true(got[e] >= -127);
                assert_true(fabs(w[e] - (double)got[e] * s) <= s / 2 * (1 + 1e-9));
            }
        }
        free(q);
    }
    /* l, x, r = 2, 2, 1: 6 per BERT layer, 3 attentions x 4 + 2 x 2 per cross layer */
    assert_int_equal(nq, 2 * 6 + 2 * 16 + 1 * 6);
    assert_int_equal(lx_model_ntensors(m), d.n + nq);

    /* the int8 file's own tensors, stored again */
    lx_tensor_dict q;
    lx_tensor_dict_init(&q);
    for (size_t i = 0; i < lx_model_ntensors(m); i++) {
        lx_tensor v = *lx_model_tensor_at(m, i);
        assert_int_equal(lx_tensor_dict_add(&q, lx_model_tensor_name(m, i), &v, &err), 0);
    }
    const char *again = scratch("int8-again.lxm");
    write_model(again, &c, &q, NULL, NULL, LX_I8);
    lx_model *m2 = lx_model_open(again, &err);
    if (!m2) fail_msg("%s", err.msg);
    assert_int_equal(lx_model_ntensors(m2), lx_model_ntensors(m));
    for (size_t i = 0; i < lx_model_ntensors(m); i++) {
        const lx_tensor *a = lx_model_tensor_at(m, i), *b = lx_model_tensor_at(m2, i);
        assert_string_equal(lx_model_tensor_name(m2, i), lx_model_tensor_name(m, i));
        assert_int_equal(a->dtype, b->dtype);
        assert_memory_equal(a->data, b->data, (size_t)lx_tensor_nbytes(a));
    }
    lx_model_close(m2);
    unlink(again);
    lx_model_spec spec = {.config = &c, .tensors = &q, .dtype = LX_BF16};
    assert_int_equal(lx_model_write(again, &spec, &err), -1);
    assert_non_null(strstr(err.msg, "is stored in int8, which cannot be stored as bf16"));
    struct stat st;
    assert_int_equal(stat(again, &st), -1);

    /* a matrix without its scales: written (the writer keeps int8 as it is), refused on
     * opening */
    lx_tensor_dict bad;
    lx_tensor_dict_init(&bad);
    for (size_t i = 0; i < q.n; i++) {
        if (strcmp(q.items[i].name, "lxmert.encoder.layer.1.output.dense.weight_scale") == 0)
            continue;
        lx_tensor v = q.items[i].t;
        assert_int_equal(lx_tensor_dict_add(&bad, q.items[i].name, &v, &err), 0);
    }
    write_model(again, &c, &bad, NULL, NULL, LX_I8);
    expect_refused(again, "lxmert.encoder.layer.1.output.dense.weight: int8 without its row "
                          "scales lxmert.encoder.layer.1.output.dense.weight_scale");
    unlink(again);
    lx_tensor_dict_free(&bad);
    lx_tensor_dict_free(&q);
    lx_model_close(m);
    unlink(out);

    /* any finite weight fits: 1e30 becomes its row's 127 and the rest of the row rounds
     * to 0; nothing is clamped (and nothing counted as clamped, clamp or not) */
    lx_tensor *w = lx_tensor_dict_get(&d, "lxmert.encoder.x_layers.0.visn_inter.dense.weight");
    lx_tensor copy; /* the dict's tensor is a view of the mapped (read-only) file */
    assert_int_equal(lx_tensor_copy(&copy, w, &err), 0);
    *w = copy;
    int64_t in = w->shape[1];
    ((float *)w->data)[3 * in + 5] = -1e30f;
    uint64_t clamped[512];
    assert_true(d.n <= 512);
    for (int cl = 0; cl < 2; cl++) {
        memset(clamped, 0xff, sizeof clamped);
        spec = (lx_model_spec){.config = &c, .tensors = &d, .dtype = LX_I8, .clamp = cl,
                               .clamped = clamped};
        assert_int_equal(lx_model_write(out, &spec, &err), 0);
        for (size_t i = 0; i < d.n; i++) assert_int_equal(clamped[i], 0);
        m = lx_model_open(out, &err);
        if (!m) fail_msg("%s", err.msg);
        const lx_tensor *t = lx_model_tensor(m, "lxmert.encoder.x_layers.0.visn_inter.dense.weight");
        const lx_tensor *sc = lx_model_tensor(m, "lxmert.encoder.x_layers.0.visn_inter.dense."
                                                 "weight_scale");
        assert_non_null(t);
        assert_non_null(sc);
        assert_true(((const float *)sc->data)[3] == 1e30f / 127.0f);
        for (int64_t e = 0; e < in; e++)
            assert_int_equal(((const int8_t *)t->data)[3 * in + e], e == 5 ? -127 : 0);
        lx_model_close(m);
        unlink(out);
    }
    /* a weight that is not finite cannot be quantized: refused as for every dtype, the
     * element named, before anything is written */
    ((float *)w->data)[3 * in + 5] = INFINITY;
    for (int cl = 0; cl < 2; cl++) {
        spec = (lx_model_spec){.config = &c, .tensors = &d, .dtype = LX_I8, .clamp = cl,
                               .clamped = clamped};
        assert_int_equal(lx_model_write(out, &spec, &err), -1);
        assert_int_equal(err.code, LX_ERR_NONFINITE_WEIGHT);
        if (!strstr(err.msg, "visn_inter.dense.weight[3][5]: got inf, expected a finite weight"))
            fail_msg("%s", err.msg);
        assert_int_equal(stat(out, &st), -1);
    }
    lx_tensor_dict_free(&d);
}

/* rc and err of a check: success when want is NULL, else failure with want in the message. */
static void check_result(int rc, const lx_error *err, const char *want) {
    if (!want) {
        if (rc != 0) fail_msg("%s", err->msg);
        return;
    }
    assert_int_equal(rc, -1);
    if (!strstr(err->msg, want)) fail_msg("'%s' lacks '%s'", err->msg, want);
}

/* The loader's checks of int8 tensors (lx_schema_check, which every open runs): int8 only
 * for the encoder layers' Linear weights, each with its f32 scales, and scales only for int8. */
static void test_int8_schema(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    load_src("models/tiny-vqa", "model.safetensors", &d, &c);
    lx_schema s;
    assert_int_equal(lx_schema_build(&s, &c, &err), 0);
    enum { MAXN = 512 };
    const char *names[MAXN];
    const lx_tensor *ts[MAXN];
    lx_tensor tt[MAXN];
    assert_true(d.n + 1 < MAXN);
    const char *qw = "lxmert.encoder.r_layers.0.attention.self.key.weight";
    int64_t rows = lx_tensor_dict_get(&d, qw)->shape[0];
    lx_tensor scale = {.dtype = LX_F32, .ndim = 1, .shape = {rows}};
    /* set up: d's tensors, qw made i8 (the checks read dtypes and shapes, not data), and
     * an extra entry the case fills */
#define CASE(extra_name, extra, edit, want)                                               \
    do {                                                                                  \
        size_t n = 0;                                                                     \
        for (size_t i = 0; i < d.n; i++) {                                                \
            tt[n] = d.items[i].t;                                                         \
            names[n] = d.items[i].name;                                                   \
            if (strcmp(names[n], qw) == 0) tt[n].dtype = LX_I8;                           \
            ts[n] = &tt[n];                                                               \
            n++;                                                                          \
        }                                                                                 \
        if (extra_name) names[n] = extra_name, tt[n] = extra, ts[n] = &tt[n], n++;        \
        edit;                                                                             \
        check_result(lx_schema_check(&s, names, ts, n, &err), &err, want);                \
    } while (0)
    const char *qs = "lxmert.encoder.r_layers.0.attention.self.key.weight_scale";
    CASE(qs, scale, (void)0, (const char *)NULL);
    CASE((const char *)NULL, scale, (void)0, "key.weight: int8 without its row scales");
    lx_tensor half = scale;
    half.dtype = LX_F16;
    CASE(qs, half, (void)0, "key.weight_scale: got dtype f16, expected f32");
    lx_tensor wrong = scale;
    wrong.shape[0] = rows + 1;
    CASE(qs, wrong, (void)0, "key.weight_scale: got shape");
    CASE("lxmert.encoder.r_layers.0.attention.self.query.weight_scale", scale, (void)0,
         "query.weight_scale: row scales for lxmert.encoder.r_layers.0.attention.self.query."
         "weight, which is f32, expected int8");
    CASE(qs, scale, tt[0].dtype = LX_I8,
         "lxmert.embeddings.word_embeddings.weight: got dtype i8, expected f32, f16 or bf16");
    CASE("lxmert.pooler.dense.weight_scale", scale, (void)0, "unknown tensor");
#undef CASE
    lx_schema_free(&s);
    lx_tensor_dict_free(&d);
}

/* The detector in bf16: convolutions, matrices and the class embedding narrowed; the
 * anchor boxes and every vector (BatchNorm included) kept in f32, bit for bit. */
static void test_detector_dtypes(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_detector_config c;
    lx_error err = {0};
    lx_tensor_dict_init(&d);
    lx_detector_config_default(&c);
    if (lx_safetensors_read(&d, fixture("frcnn/models/frcnn-tiny/model.safetensors"), &err) < 0 ||
        lx_schema_normalize_detector(&d, &c, 0, &err) < 0)
        fail_msg("%s", err.msg);
    const char *out = scratch("det.lxm");
    lx_model_spec spec = {.tensors = &d, .dtype = LX_BF16, .kind = LX_MODEL_DETECTOR,
                          .detector = &c};
    if (lx_model_write(out, &spec, &err) < 0) fail_msg("%s", err.msg);
    lx_model *m = lx_model_open(out, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(lx_model_verify(m, &err), 0);
    assert_int_equal(lx_model_ntensors(m), d.n);
    static const struct {
        const char *name;
        lx_dtype dtype;
    } want[] = {
        {"backbone.stem.conv1.weight", LX_BF16},
        {"backbone.stem.conv1.norm.running_var", LX_F32},
        {"backbone.res4.22.conv2.weight", LX_BF16},
        {"proposal_generator.anchor_generator.cell_anchors.0", LX_F32},
        {"proposal_generator.rpn_head.conv.bias", LX_F32},
        {"roi_heads.box_predictor.cls_score.weight", LX_BF16},
        {"roi_heads.box_predictor.cls_embedding.weight", LX_BF16},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const lx_tensor *t = lx_model_tensor(m, want[i].name), *src = lx_tensor_dict_get(&d, want[i].name);
        assert_non_null(t);
        if (t->dtype != want[i].dtype)
            fail_msg("%s: %s, expected %s", want[i].name, lx_dtype_name(t->dtype),
                     lx_dtype_name(want[i].dtype));
        if (t->dtype == LX_F32)
            assert_memory_equal(t->data, src->data, (size_t)lx_tensor_nbytes(src));
    }
    lx_model_close(m);
    unlink(out);
    /* int8 storage is LXMERT's */
    spec.dtype = LX_I8;
    assert_int_equal(lx_model_write(out, &spec, &err), -1);
    assert_non_null(strstr(err.msg, "int8 storage is for LXMERT's encoders"));
    lx_tensor_dict_free(&d);
}

/* ---- a hostile-file workbench ------------------------------------------------------ */

typedef struct lxfile {
    unsigned char *b;
    size_t len;
} lxfile;

static lxfile read_whole(const char *path) {
    lxfile f = {0};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    f.len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f.b = malloc(f.len);
    assert_int_equal(fread(f.b, 1, f.len, fp), f.len);
    fclose(fp);
    return f;
}

static void write_whole(const char *path, const void *b, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The header of a file, parsed. */
static json_t *header_of(const lxfile *f) {
    json_t *h = json_loadb((const char *)f->b + 40, (size_t)get64(f->b + 16), 0, NULL);
    assert_non_null(h);
    return h;
}

/* A copy of f with header h (correct CRC and layout), data unchanged. */
static void write_with_header(const char *path, const lxfile *f, json_t *h) {
    char *text = json_dumps(h, JSON_COMPACT);
    size_t hl = strlen(text), doff = (40 + hl + 63) / 64 * 64, hlen = doff - 40;
    uint64_t old = get64(f->b + 24), dsize = f->len - old;
    unsigned char *b = calloc(1, doff + dsize);
    memcpy(b, f->b, 40);
    memset(b + 40, ' ', hlen);
    memcpy(b + 40, text, hl);
    put32(b + 12, (uint32_t)crc32(0, b + 40, (uInt)hlen));
    put64(b + 16, hlen);
    put64(b + 24, doff);
    memcpy(b + doff, f->b + old, dsize);
    write_whole(path, b, doff + dsize);
    free(b);
    free(text);
}

/* Expect lx_model_open(path) to fail with a message containing want. */
static void expect_refused(const char *path, const char *want) {
    lx_error err = {0};
    lx_model *m = lx_model_open(path, &err);
    if (m) {
        lx_model_close(m);
        fail_msg("opened a bad file (expected: %s)", want);
    }
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static const char *good_model(void) {
    static char path[4096];
    if (!path[0]) {
        lx_tensor_dict d;
        lx_config c;
        lx_error err = {0};
        lx_strlist labels = {0};
        load_src("models/tiny-vqa", "model.safetensors", &d, &c);
        assert_int_equal(lx_labels_read_file(&labels, fixture("labels/vqa-label2ans.json"), &err), 0);
        snprintf(path, sizeof path, "%s", scratch("good.lxm"));
        write_model(path, &c, &d, NULL, &labels, LX_F32);
        lx_strlist_free(&labels);
        lx_tensor_dict_free(&d);
    }
    return path;
}

/* Cut the file at many lengths: every one must be refused. */
static void test_truncated(void **state) {
    (void)state;
    lxfile f = read_whole(good_model());
    const char *bad = scratch("trunc.lxm");
    size_t doff = (size_t)get64(f.b + 24);
    size_t step;
    for (size_t n = 0; n < f.len; n += step) {
        /* every byte of the prefix, every 97th of the header, coarse through the data */
        step = n < 48 ? 1 : n < doff + 64 ? 97 : 65521;
        write_whole(bad, f.b, n);
        lx_error err = {0};
        lx_model *m = lx_model_open(bad, &err);
        if (m) fail_msg("opened the file cut at %zu of %zu bytes", n, f.len);
        assert_true(err.msg[0] != 0);
    }
    write_whole(bad, f.b, f.len - 1);
    expect_refused(bad, "truncated");
    /* one byte too many is refused too */
    unsigned char *g = malloc(f.len + 1);
    memcpy(g, f.b, f.len);
    g[f.len] = 0;
    write_whole(bad, g, f.len + 1);
    expect_refused(bad, "padded");
    free(g);
    unlink(bad);
    free(f.b);
}

static void test_bad_prefix(void **state) {
    (void)state;
    lxfile f = read_whole(good_model());
    const char *bad = scratch("prefix.lxm");
    unsigned char *b = malloc(f.len);

    memcpy(b, f.b, f.len);
    b[1] = 'Q';
    write_whole(bad, b, f.len);
    expect_refused(bad, "bad magic");

    memcpy(b, f.b, f.len);
    put32(b + 8, 2);
    write_whole(bad, b, f.len);
    expect_refused(bad, "version 2");

    memcpy(b, f.b, f.len);
    put64(b + 16, f.len);                    /* header longer than the file */
    write_whole(bad, b, f.len);
    expect_refused(bad, "runs past the end");

    memcpy(b, f.b, f.len);
    put64(b + 16, UINT64_MAX - 8);           /* would overflow 40 + H */
    write_whole(bad, b, f.len);
    expect_refused(bad, "runs past the end");

    memcpy(b, f.b, f.len);
    put64(b + 24, get64(f.b + 24) + 8);      /* data offset not aligned */
    write_whole(bad, b, f.len);
    expect_refused(bad, "data offset");

    memcpy(b, f.b, f.len);
    put64(b + 24, 0);                        /* data offset inside the header */
    write_whole(bad, b, f.len);
    expect_refused(bad, "data offset");

    memcpy(b, f.b, f.len);
    put64(b + 32, get64(f.b + 32) + 64);     /* data size beyond the file */
    write_whole(bad, b, f.len);
    expect_refused(bad, "truncated");

    memcpy(b, f.b, f.len);
    put64(b + 32, UINT64_MAX);               /* offset + size overflows: the true sum */
    write_whole(bad, b, f.len);
    {
        char want[160];
        unsigned __int128 sum = (unsigned __int128)get64(f.b + 24) + UINT64_MAX;
        char num[LX_U128_STR];
        snprintf(want, sizeof want, "expected %s (data offset %llu + data size "
                 "18446744073709551615)", lx_u128_str(num, sum),
                 (unsigned long long)get64(f.b + 24));
        expect_refused(bad, want);
        assert_true(strlen(num) == 20 && num[0] == '1');   /* above 2^64 */
    }

    memcpy(b, f.b, f.len);
    b[60] ^= 0x20;                           /* a header byte, CRC not updated */
    write_whole(bad, b, f.len);
    expect_refused(bad, "CRC");

    write_whole(bad, "", 0);
    expect_refused(bad, "not an lx model file");
    expect_refused(fixture("models/tiny-vqa/model.safetensors"), "bad magic");
    expect_refused(scratch("does-not-exist.lxm"), "No such file");
    free(b);
    unlink(bad);
    free(f.b);
}

/* Header edits, each with a correct CRC: the loader must check the content itself. */
static void test_bad_header(void **state) {
    (void)state;
    lxfile f = read_whole(good_model());
    const char *bad = scratch("hdr.lxm");
    uint64_t dsize = get64(f.b + 32);
    json_t *h;
    json_t *t0, *t1;
#define EDIT(code, want)                                                    \
    do {                                                                    \
        h = header_of(&f);                                                  \
        t0 = json_array_get(json_object_get(h, "tensors"), 0);             \
        t1 = json_array_get(json_object_get(h, "tensors"), 1);             \
        (void)t0, (void)t1;                                                 \
        code;                                                               \
        write_with_header(bad, &f, h);                                      \
        json_decref(h);                                                     \
        expect_refused(bad, want);                                          \
    } while (0)

    /* the unchanged header re-laid-out is fine */
    h = header_of(&f);
    write_with_header(bad, &f, h);
    json_decref(h);
    lx_error err = {0};
    lx_model *m = lx_model_open(bad, &err);
    if (!m) fail_msg("%s", err.msg);
    lx_model_close(m);

    EDIT(json_object_set_new(t1, "offset", json_integer(json_integer_value(json_object_get(t0, "offset")))),
         "overlap");
    EDIT(json_object_set_new(t1, "offset", json_integer(64)), "overlap");
    EDIT(json_object_set_new(t1, "offset", json_integer((json_int_t)dsize)), "inside the");
    EDIT(json_object_set_new(t1, "offset", json_integer((json_int_t)(dsize + 6400))), "inside the");
    EDIT(json_object_set_new(t1, "offset", json_integer(INT64_MAX - 63)), "inside the");
    {
        /* offset + nbytes past 2^64: printed as the true sum */
        char want[96];
        snprintf(want, sizeof want, "bytes 9223372036854775744..18446744073709551488 are not");
        EDIT((json_object_set_new(t0, "offset", json_integer(INT64_MAX - 63)),
              json_object_set_new(t0, "dtype", json_string("u8")),
              json_object_set_new(t0, "shape", json_pack("[I]", (json_int_t)INT64_MAX - 63)),
              json_object_set_new(t0, "nbytes", json_integer(INT64_MAX - 63))),
             want);
    }
    EDIT(json_object_set_new(t1, "offset", json_integer(json_integer_value(json_object_get(t1, "offset")) + 4)),
         "aligned");
    EDIT(json_object_set_new(t1, "offset", json_integer(-64)), "expected name");
    EDIT(json_object_set_new(t0, "nbytes", json_integer(64)), "needs");
    EDIT(json_object_set_new(t0, "dtype", json_string("f64")), "unknown dtype");
    EDIT(json_object_set_new(t0, "dtype", json_string("f16")), "needs");
    EDIT(json_object_set_new(t0, "shape", json_pack("[i, i]", 30522, 49)), "needs");
    EDIT(json_object_set_new(t0, "shape", json_pack("[i, i]", -1, 48)), "non-negative");
    EDIT(json_object_set_new(t0, "shape", json_pack("[I, I, I]", (json_int_t)1 << 40,
                                                    (json_int_t)1 << 40, (json_int_t)1 << 40)),
         "f32 [1099511627776, 1099511627776, 1099511627776] has more bytes than fit in 64 bits");
    EDIT(json_object_set_new(t0, "shape", json_pack("[i,i,i,i,i,i,i,i,i]", 1, 1, 1, 1, 1, 1, 1, 1, 1)),
         "dimensions");
    EDIT(json_object_set_new(t1, "name", json_string("lxmert.embeddings.word_embeddings.weight")),
         "appears twice");
    EDIT(json_object_set_new(t1, "name", json_string("lxmert.embeddings.extra.weight")),
         "unknown tensor");
    EDIT(json_object_del(t0, "crc32"), "expected name");
    EDIT(json_object_set_new(h, "tensors", json_object()), "tensors");
    EDIT(json_array_remove(json_object_get(h, "tensors"), 1), "missing");
    EDIT(json_object_set_new(json_object_get(h, "config"), "hidden_size", json_integer(64)),
         "expected");
    EDIT(json_object_set_new(json_object_get(h, "config"), "hidden_size", json_integer(-48)),
         "non-negative");
    EDIT(json_object_set_new(json_object_get(h, "config"), "num_attention_heads", json_integer(5)),
         "multiple");
    EDIT(json_object_set_new(json_object_get(h, "config"), "num_qa_labels", json_integer(10)),
         "labels");
    /* the string tables: counts, ranges, terminators, overlaps */
    json_t *lab;
#define LAB(key, delta, want)                                                          \
    EDIT((lab = json_object_get(h, "labels"),                                          \
          json_object_set_new(lab, key, json_integer(json_integer_value(               \
                                            json_object_get(lab, key)) + (delta)))), want)
    LAB("count", -1, "more than the 3128");
    LAB("count", 1, "holds 3129 strings, the header says 3130");
    LAB("count", 100000, "cannot hold");
    LAB("offset", 1, "64-aligned");
    LAB("offset", 64000000, "64-aligned range inside");
    LAB("nbytes", -1, "cannot hold");
    LAB("nbytes", 1000000, "64-aligned range inside");
#undef LAB
    EDIT((lab = json_object_get(h, "labels"),
          json_object_set(t1, "offset", json_object_get(lab, "offset"))),
         "labels overlaps tensor 'lxmert.embeddings.position_embeddings.weight'");
    EDIT(json_object_set_new(h, "labels", json_pack("[s]", "yes")), "expected count");
    EDIT(json_object_set(h, "vocab", json_object_get(h, "labels")), "vocabulary entries");
    EDIT(json_object_set_new(h, "aliases", json_pack("{s:s}", "x", "nope")), "does not hold");
    EDIT(json_object_set_new(h, "aliases", json_pack("{s:s}", "lxmert.pooler.dense.bias",
                                                    "lxmert.pooler.dense.bias")),
         "also a stored tensor");
#undef EDIT
    /* a header that is not JSON, with a correct CRC */
    {
        unsigned char *b = malloc(f.len);
        memcpy(b, f.b, f.len);
        uint64_t hl = get64(b + 16);
        b[40] = '[';
        put32(b + 12, (uint32_t)crc32(0, b + 40, (uInt)hl));
        write_whole(bad, b, f.len);
        expect_refused(bad, "not valid JSON");
        free(b);
    }
    unlink(bad);
    free(f.b);
}

/* Random edits of the header text (with its CRC recomputed, so that the content checks
 * are what is tested): every file either opens and verifies, or is refused with a
 * message.  Run under `make sanitize` this is the loader's crash test. */
static void test_fuzz_header(void **state) {
    (void)state;
    lxfile f = read_whole(good_model());
    const char *bad = scratch("fuzz.lxm");
    uint64_t hl = get64(f.b + 16);
    unsigned char *b = malloc(f.len);
    uint64_t x = 88172645463325252ull;
    static const char alphabet[] = "0123456789-+.e,:[]{}\"fn ";
    int opened = 0, refused = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(b, f.b, f.len);
        int edits = 1 + round % 3;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = 40 + (size_t)(x % hl);
            /* mostly digits and JSON punctuation, so that the JSON often stays valid */
            b[at] = (unsigned char)alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        put32(b + 12, (uint32_t)crc32(0, b + 40, (uInt)hl));
        write_whole(bad, b, f.len);
        lx_error err = {0};
        lx_model *m = lx_model_open(bad, &err);
        if (m) {
            opened++;
            (void)lx_model_verify(m, &err);
            for (size_t i = 0; i < lx_model_ntensors(m); i++)
                assert_non_null(lx_model_tensor(m, lx_model_tensor_name(m, i)));
            lx_model_close(m);
        } else {
            refused++;
            assert_true(err.msg[0] != 0);
        }
    }
    assert_true(refused > 0);
    (void)opened;
    free(b);
    unlink(bad);
    free(f.b);
}

/* A flipped data byte passes the (header-only) open and fails verify, naming the tensor. */
static void test_verify(void **state) {
    (void)state;
    lxfile f = read_whole(good_model());
    const char *bad = scratch("flip.lxm");
    json_t *h = header_of(&f);
    json_t *t = json_array_get(json_object_get(h, "tensors"), 3);
    uint64_t off = get64(f.b + 24) + (uint64_t)json_integer_value(json_object_get(t, "offset"));
    f.b[off + 5] ^= 1;
    write_whole(bad, f.b, f.len);
    lx_error err = {0};
    lx_model *m = lx_model_open(bad, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_int_equal(lx_model_verify(m, &err), -1);
    assert_non_null(strstr(err.msg, json_string_value(json_object_get(t, "name"))));
    assert_non_null(strstr(err.msg, "CRC"));
    lx_model_close(m);
    json_decref(h);
    unlink(bad);
    free(f.b);
}

/* The writer refuses what would make a bad file, and leaves nothing behind. */
static void test_writer_refuses(void **state) {
    (void)state;
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    load_src("models/tiny-vqa", "model.safetensors", &d, &c);
    lx_strlist labels = {0};
    assert_int_equal(lx_labels_read_file(&labels, fixture("labels/gqa-label2ans.json"), &err), 0);
    const char *out = scratch("refused.lxm");
    lx_model_spec spec = {.config = &c, .tensors = &d, .labels = &labels, .dtype = LX_F32};
    assert_int_equal(lx_model_write(out, &spec, &err), -1);
    assert_non_null(strstr(err.msg, "1842"));
    spec.labels = NULL;
    spec.dtype = LX_I64;
    assert_int_equal(lx_model_write(out, &spec, &err), -1);
    spec.dtype = LX_F32;
    assert_int_equal(lx_model_write("/nonexistent-dir/x.lxm", &spec, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.lxm"));
    struct stat st;
    assert_int_equal(stat(out, &st), -1);
    lx_strlist_free(&labels);
    lx_tensor_dict_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_vqa),
        cmocka_unit_test(test_tied_decoder),
        cmocka_unit_test(test_stored_dtypes),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_int8_schema),
        cmocka_unit_test(test_detector_dtypes),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_prefix),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_fuzz_header),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_writer_refuses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(good_model());
    return rc;
}
