/*
 * test_values.c — values that are not finite never become answers: the network's input
 * checks (masks of 0s and 1s, bounded features and boxes), the check of its outputs
 * (a record whose outputs overflow is told apart from the others of its batch), top-k
 * with NaN, the JSON encoder given NaN or huge floats, the model writer refusing (or
 * clamping) weights its dtype cannot hold, and the helpers they share.
 *
 * Models are written from the tiny-vqa fixture with lx_model_write; a weight too large
 * for the network is set in a copy of its tensor first (lx_model_write refuses only
 * weights that are not finite, and those f16 or bf16 cannot hold).
 */
#include <float.h>
#include <math.h>
#include <sys/stat.h>
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------ */

static void test_first_nonfinite(void **st) {
    (void)st;
    float v[300];
    for (size_t i = 0; i < 300; i++) v[i] = (float)i - 150.0f;
    assert_int_equal(lx_f32_first_nonfinite(v, 300), 300);
    assert_int_equal(lx_f32_first_nonfinite(v, 0), 0);
    /* at every place a block of 64 or the tail can hold it */
    const size_t at[] = {0, 1, 63, 64, 127, 128, 255, 256, 299};
    const float bad[] = {INFINITY, -INFINITY, NAN, -NAN};
    for (size_t a = 0; a < sizeof at / sizeof *at; a++)
        for (size_t b = 0; b < 4; b++) {
            float keep = v[at[a]];
            v[at[a]] = bad[b];
            assert_int_equal(lx_f32_first_nonfinite(v, 300), at[a]);
            if (at[a] > 0) assert_int_equal(lx_f32_first_nonfinite(v, at[a]), at[a]);
            v[at[a]] = keep;
        }
    v[10] = v[200] = NAN;
    assert_int_equal(lx_f32_first_nonfinite(v, 300), 10);
    v[10] = FLT_MAX; /* the largest finite value is finite */
    v[200] = -FLT_MAX;
    assert_int_equal(lx_f32_first_nonfinite(v, 300), 300);
}

static void test_index_str(void **st) {
    (void)st;
    char b[64];
    lx_tensor t = {.dtype = LX_F32, .ndim = 3, .shape = {2, 3, 4}};
    assert_string_equal(lx_tensor_index_str(&t, 0, b, sizeof b), "[0][0][0]");
    assert_string_equal(lx_tensor_index_str(&t, 23, b, sizeof b), "[1][2][3]");
    assert_string_equal(lx_tensor_index_str(&t, 17, b, sizeof b), "[1][1][1]");
    t.ndim = 0;
    assert_string_equal(lx_tensor_index_str(&t, 0, b, sizeof b), "[0]");
}

/* Float to i64: truncation, and INT64_MIN (never a valid id) for NaN and values outside
 * the range, whose cast C leaves undefined. */
static void test_convert_to_i64(void **st) {
    (void)st;
    const float f[] = {5.9f, -5.9f, 1e30f, -1e30f, NAN, INFINITY, 0x1p63f, -0x1p63f};
    int64_t out[8];
    lx_convert_to_i64(out, f, LX_F32, 8);
    assert_true(out[0] == 5 && out[1] == -5);
    for (int i = 2; i < 6; i++) assert_true(out[i] == INT64_MIN);
    assert_true(out[6] == INT64_MIN); /* 2^63: just out of range */
    assert_true(out[7] == INT64_MIN); /* -2^63 itself, in range */
    uint16_t h[2] = {lx_f32_to_bf16(1e30f), lx_f32_to_bf16(7.0f)};
    lx_convert_to_i64(out, h, LX_BF16, 2);
    assert_true(out[0] == INT64_MIN && out[1] == 7);
}

static void test_dtype_max(void **st) {
    (void)st;
    assert_true(lx_dtype_max(LX_F32) == FLT_MAX);
    assert_true(lx_dtype_max(LX_F16) == 65504.0f);
    assert_true(lx_f16_to_f32(lx_f32_to_f16(lx_dtype_max(LX_F16))) == 65504.0f);
    float b = lx_dtype_max(LX_BF16);
    assert_true(lx_bf16_to_f32(lx_f32_to_bf16(b)) == b);
    assert_false(isinf(lx_bf16_to_f32(lx_f32_to_bf16(b))));
    assert_true(lx_dtype_max(LX_I64) == 0);
}

/* lx_tensor_unfit against each dtype: what is not finite, and what would round to
 * infinity there (exactly where lx_f32_to_f16 / lx_f32_to_bf16 would). */
static void test_unfit(void **st) {
    (void)st;
    float v[200];
    for (int i = 0; i < 200; i++) v[i] = 0.01f * (float)i;
    lx_tensor t = {.dtype = LX_F32, .ndim = 2, .shape = {20, 10}, .data = v};
    lx_unfit u;
    assert_int_equal(lx_tensor_unfit(&t, LX_F16, &u), 0);
    assert_true(u.first_nonfinite == -1 && u.first_overflow == -1);
    v[130] = 65519.0f;  /* rounds to 65504 */
    v[131] = 65520.0f;  /* rounds to infinity */
    v[150] = -70000.0f;
    v[170] = INFINITY;
    v[190] = NAN;
    assert_true(isinf(lx_f16_to_f32(lx_f32_to_f16(65520.0f))));
    assert_false(isinf(lx_f16_to_f32(lx_f32_to_f16(65519.0f))));
    assert_int_equal(lx_tensor_unfit(&t, LX_F16, &u), 4);
    assert_int_equal(u.overflow, 2);
    assert_int_equal(u.first_overflow, 131);
    assert_true(u.overflow_value == 65520.0f);
    assert_int_equal(u.nonfinite, 2);
    assert_int_equal(u.first_nonfinite, 170);
    assert_true(isinf(u.nonfinite_value));
    assert_int_equal(lx_tensor_unfit(&t, LX_BF16, &u), 2);
    assert_int_equal(u.overflow, 0);
    assert_int_equal(lx_tensor_unfit(&t, LX_F32, &u), 2);
    assert_int_equal(u.overflow, 0);
    /* bf16: from 0x7f7f8000 on (ties to even round up to infinity), not below */
    v[170] = v[190] = 0;
    v[131] = v[130] = v[150] = 0;
    v[5] = lx_bits_f32(0x7f7f7fffu);
    assert_int_equal(lx_tensor_unfit(&t, LX_BF16, &u), 0);
    assert_false(isinf(lx_bf16_to_f32(lx_f32_to_bf16(v[5]))));
    v[6] = -lx_bits_f32(0x7f7f8000u);
    assert_true(isinf(lx_bf16_to_f32(lx_f32_to_bf16(v[6]))));
    assert_int_equal(lx_tensor_unfit(&t, LX_BF16, &u), 1);
    assert_int_equal(u.first_overflow, 6);
    /* 16-bit sources: an f16 infinity; bf16 values beyond f16 */
    uint16_t h[100] = {0};
    h[77] = 0x7c00; /* f16 +inf */
    lx_tensor t16 = {.dtype = LX_F16, .ndim = 1, .shape = {100}, .data = h};
    assert_int_equal(lx_tensor_unfit(&t16, LX_BF16, &u), 1);
    assert_int_equal(u.first_nonfinite, 77);
    h[77] = lx_f32_to_bf16(1e6f);
    t16.dtype = LX_BF16;
    assert_int_equal(lx_tensor_unfit(&t16, LX_F16, &u), 1);
    assert_int_equal(u.first_overflow, 77);
    assert_int_equal(lx_tensor_unfit(&t16, LX_BF16, &u), 0);
    /* integers have none */
    int64_t iv[3] = {1, 2, 3};
    lx_tensor ti = {.dtype = LX_I64, .ndim = 1, .shape = {3}, .data = iv};
    assert_int_equal(lx_tensor_unfit(&ti, LX_F16, &u), 0);
}

/* ---- top-k ------------------------------------------------------------------------ */

/* NaN never ranks first, wherever it sits; it is never picked at all. */
static void test_topk_nan(void **st) {
    (void)st;
    lx_pick p[6];
    const float a[5] = {NAN, 0.5f, 2.0f, NAN, -1.0f};
    for (int sc = 0; sc < 2; sc++) {
        assert_int_equal(lx_topk(a, 5, 5, (lx_scoring)sc, p), 3);
        assert_int_equal(p[0].index, 2);
        assert_int_equal(p[1].index, 1);
        assert_int_equal(p[2].index, 4);
        for (int j = 0; j < 3; j++) assert_true(isfinite(p[j].score));
    }
    /* the softmax is over the numbers */
    double z = exp(2.0) + exp(0.5) + exp(-1.0);
    assert_true(fabs(p[0].score - exp(2.0) / z) < 1e-6);
    assert_int_equal(lx_topk(a, 5, 1, LX_SCORE_SIGMOID, p), 1);
    assert_int_equal(p[0].index, 2);
    const float none[3] = {NAN, NAN, NAN};
    assert_int_equal(lx_topk(none, 3, 2, LX_SCORE_SOFTMAX, p), 0);
    /* +inf: the limit of the softmax, not NaN */
    const float inf[3] = {1.0f, INFINITY, INFINITY};
    assert_int_equal(lx_topk(inf, 3, 3, LX_SCORE_SOFTMAX, p), 3);
    assert_true(p[0].score == 0.5f && p[1].score == 0.5f && p[2].score == 0.0f);
    /* picks that JSON cannot hold are refused whole, not written without their score */
    lx_strlist l = {0};
    lx_error err = {0};
    assert_int_equal(lx_strlist_push(&l, "a", 1, &err), 0);
    assert_int_equal(lx_strlist_push(&l, "b", 1, &err), 0);
    assert_int_equal(lx_strlist_push(&l, "c", 1, &err), 0);
    assert_null(lx_vqa_picks_json(p, 3, &l));
    json_t *j = lx_vqa_picks_json(p + 2, 1, &l);
    assert_non_null(j);
    json_decref(j);
    lx_strlist_free(&l);
}

/* ---- JSON ------------------------------------------------------------------------- */

/* Shortest round-trip text of floats far outside int32's range (the whole-number fast
 * path cast them to int32 first: undefined behaviour, found by clang's UBSan). */
static void test_format_float_large(void **st) {
    (void)st;
    const float f[] = {7.1e22f, -7.1e22f, 1e30f, FLT_MAX, -FLT_MAX, 2147483648.0f,
                       -2147483904.0f, 16777216.0f, 16777215.0f, -16777215.0f, 4294967296.0f};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        char b[32];
        int n = lx_format_float(b, f[i]);
        assert_int_equal(n, (int)strlen(b));
        assert_true(strtof(b, NULL) == f[i]);
        assert_true(strpbrk(b, ".e") != NULL);
    }
    char b[32];
    lx_format_float(b, 16777215.0f);
    assert_string_equal(b, "16777215.0");
    lx_format_float(b, 7.1e22f);
    assert_string_equal(b, "7.1e+22");
}

/* A tensor holding NaN or inf: an error naming the field and the element. */
static void test_json_nonfinite(void **st) {
    (void)st;
    lx_record r;
    lx_record_init(&r);
    lx_error err = {0};
    lx_tensor t;
    int64_t shape[2] = {2, 3};
    assert_int_equal(lx_tensor_alloc(&t, LX_F32, 2, shape, &err), 0);
    ((float *)t.data)[4] = NAN;
    assert_int_equal(lx_record_set_json(&r, "id", json_integer(7), &err), 0);
    assert_int_equal(lx_record_set_tensor(&r, "pooled_output", &t, &err), 0);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(lx_record_to_json(&r, &out, &len, &err), -1);
    assert_null(out);
    assert_non_null(strstr(err.msg, "pooled_output"));
    assert_non_null(strstr(err.msg, "[1][1] is nan"));
    assert_non_null(strstr(err.msg, "-f bin"));
    /* a frame holds it */
    assert_int_equal(lx_record_to_frame(&r, &out, &len, &err), 0);
    free(out);
    lx_record_clear(&r);
}

/* ---- the network ------------------------------------------------------------------ */

/* tiny-vqa written with lx_model_write to path; with a name, element at of that tensor
 * set to value first (on a copy: the source is mapped read-only). */
static void write_vqa(const char *path, const char *name, size_t at, float value) {
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    char src[8192];
    lx_config_default(&c);
    snprintf(src, sizeof src, "%s/config.json", fixture("models/tiny-vqa"));
    json_t *j = json_load_file(src, 0, NULL);
    assert_non_null(j);
    assert_int_equal(lx_config_from_json(&c, j, &err), 0);
    json_decref(j);
    lx_tensor_dict_init(&d);
    snprintf(src, sizeof src, "%s/model.safetensors", fixture("models/tiny-vqa"));
    if (lx_checkpoint_read(&d, src, NULL, &err) < 0 || lx_schema_normalize(&d, &c, 0, &err) < 0)
        fail_msg("%s", err.msg);
    if (name) {
        lx_tensor *w = lx_tensor_dict_get(&d, name);
        lx_tensor copy;
        assert_non_null(w);
        assert_int_equal(lx_tensor_copy(&copy, w, &err), 0);
        ((float *)copy.data)[at] = value;
        *w = copy; /* the view it replaces owned nothing */
    }
    lx_model_spec spec = {.config = &c, .tensors = &d, .dtype = LX_F32};
    if (lx_model_write(path, &spec, &err) < 0) fail_msg("%s", err.msg);
    lx_tensor_dict_free(&d);
}

/* A record of L tokens and N regions: ids, features of 0.25 with column 5 at col5,
 * boxes in 0..1. */
static void make_record(lx_record *r, int L, int N, float col5) {
    lx_error err = {0};
    lx_tensor ids, vf, vp;
    int64_t s1[1] = {L}, s2[2] = {N, 2048}, s3[2] = {N, 4};
    lx_record_init(r);
    assert_int_equal(lx_tensor_alloc(&ids, LX_I64, 1, s1, &err), 0);
    for (int i = 0; i < L; i++)
        ((int64_t *)ids.data)[i] = i == 0 ? 101 : i == L - 1 ? 102 : 2000 + i;
    assert_int_equal(lx_tensor_alloc(&vf, LX_F32, 2, s2, &err), 0);
    for (int i = 0; i < N * 2048; i++) ((float *)vf.data)[i] = i % 2048 == 5 ? col5 : 0.25f;
    assert_int_equal(lx_tensor_alloc(&vp, LX_F32, 2, s3, &err), 0);
    for (int i = 0; i < N * 4; i++) ((float *)vp.data)[i] = i % 4 < 2 ? 0.1f : 0.9f;
    assert_int_equal(lx_record_set_tensor(r, "input_ids", &ids, &err), 0);
    assert_int_equal(lx_record_set_tensor(r, "visual_feats", &vf, &err), 0);
    assert_int_equal(lx_record_set_tensor(r, "visual_pos", &vp, &err), 0);
}

/* Set field name to a 1-d tensor of dtype dt holding n values v (a mask). */
static void set_mask(lx_record *r, const char *name, lx_dtype dt, int n, double v, int at) {
    lx_error err = {0};
    lx_tensor t;
    int64_t s[1] = {n};
    assert_int_equal(lx_tensor_alloc(&t, dt, 1, s, &err), 0);
    for (int i = 0; i < n; i++) {
        double x = i == at ? v : 1.0;
        switch (dt) {
        case LX_U8: ((uint8_t *)t.data)[i] = (uint8_t)x; break;
        case LX_I8: ((int8_t *)t.data)[i] = (int8_t)x; break;
        case LX_I64: ((int64_t *)t.data)[i] = (int64_t)x; break;
        case LX_F16: ((uint16_t *)t.data)[i] = lx_f32_to_f16((float)x); break;
        default: ((float *)t.data)[i] = (float)x; break;
        }
    }
    assert_int_equal(lx_record_set_tensor(r, name, &t, &err), 0);
}

static void expect_input(const lx_net *net, const lx_record *r, const char *needle) {
    lx_error err = {0};
    int rc = lx_net_check(net, r, &err);
    if (!needle) {
        if (rc != 0) fail_msg("unexpected: %s", err.msg);
        return;
    }
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static lx_net_opts opts; /* max_isa from LX_CPU: main */

/* Masks are 0 or 1; features and boxes at most 1e6 in magnitude. */
static void test_input_checks(void **st) {
    (void)st;
    const char *path = scratch("values-vqa.lxm");
    write_vqa(path, NULL, 0, 0);
    lx_error err = {0};
    lx_model *m = lx_model_open(path, &err);
    assert_non_null(m);
    lx_net *net = lx_net_new(m, &opts, &err);
    assert_non_null(net);
    lx_record r;
    make_record(&r, 5, 3, 0.25f);
    expect_input(net, &r, NULL);
    /* the reports' cases: 1e30 in an f32 mask, 255 in a u8 mask */
    set_mask(&r, "attention_mask", LX_F32, 5, 1e30, 2);
    expect_input(net, &r, "attention_mask[2]: got 1e+30, expected 0 or 1");
    set_mask(&r, "attention_mask", LX_U8, 5, 255, 0);
    expect_input(net, &r, "attention_mask[0]: got 255, expected 0 or 1");
    set_mask(&r, "attention_mask", LX_F32, 5, 0.5, 4);
    expect_input(net, &r, "attention_mask[4]: got 0.5");
    set_mask(&r, "attention_mask", LX_F32, 5, -1, 1);
    expect_input(net, &r, "attention_mask[1]: got -1");
    set_mask(&r, "attention_mask", LX_F32, 5, NAN, 1);
    expect_input(net, &r, "attention_mask[1]: got nan");
    /* 0s and 1s in every dtype */
    set_mask(&r, "attention_mask", LX_U8, 5, 0, 3);
    expect_input(net, &r, NULL);
    set_mask(&r, "attention_mask", LX_F16, 5, 0, 3);
    expect_input(net, &r, NULL);
    set_mask(&r, "attention_mask", LX_I64, 5, 0, 4);
    expect_input(net, &r, NULL);
    set_mask(&r, "attention_mask", LX_I8, 5, 0, 4);
    expect_input(net, &r, NULL);
    set_mask(&r, "attention_mask", LX_I8, 5, -1, 2);
    expect_input(net, &r, "attention_mask[2]: got -1, expected 0 or 1");
    set_mask(&r, "attention_mask", LX_I8, 5, 0, 4);
    set_mask(&r, "visual_attention_mask", LX_U8, 3, 255, 1);
    expect_input(net, &r, "visual_attention_mask[1]: got 255, expected 0 or 1");
    set_mask(&r, "visual_attention_mask", LX_F32, 3, 2, 2);
    expect_input(net, &r, "visual_attention_mask[2]: got 2");
    set_mask(&r, "visual_attention_mask", LX_F32, 3, 0, 2);
    expect_input(net, &r, NULL);
    lx_record_clear(&r);
    /* features: 3e38 refused, 1e6 accepted (and its outputs are finite) */
    make_record(&r, 5, 3, 3e38f);
    expect_input(net, &r, "visual_feats[0][5]: got 3e+38, expected a value from -1e+06 to 1e+06");
    lx_record_clear(&r);
    make_record(&r, 5, 3, -2e6f);
    expect_input(net, &r, "visual_feats[0][5]: got -2e+06");
    lx_record_clear(&r);
    make_record(&r, 5, 3, 1e6f);
    expect_input(net, &r, NULL);
    assert_int_equal(lx_net_forward(net, &r, 1, LX_OUT_POOLED | LX_OUT_QA, NULL, &err), 0);
    lx_record_clear(&r);
    /* boxes, with the box check off: bounded all the same */
    lx_net_opts nobox = opts;
    nobox.no_box_check = 1;
    lx_net *nb = lx_net_new(m, &nobox, &err);
    assert_non_null(nb);
    make_record(&r, 5, 3, 0.25f);
    float *vp = lx_record_tensor(&r, "visual_pos")->data;
    vp[6] = 640.0f;
    expect_input(nb, &r, NULL);
    vp[6] = 3e38f;
    expect_input(nb, &r, "visual_pos[1][2]: got 3e+38, expected a value from -1e+06 to 1e+06");
    lx_record_clear(&r);
    lx_net_free(nb);
    lx_net_free(net);
    lx_model_close(m);
    unlink(path);
}

/* A record whose outputs overflow is told apart from the others of its batch: with a
 * weight of 3e38 on feature 5 (the first unit's), a record whose feature 5 is 2
 * overflows, one whose feature 5 is 0 does not (on every kernel path: 6e38 is beyond
 * the float range whatever the order of summation).  The same for the answer head with
 * that weight on pooled_output[0]. */
static void test_output_check(void **st) {
    (void)st;
    const char *path = scratch("values-big.lxm");
    write_vqa(path, "lxmert.encoder.visn_fc.visn_fc.weight", 5, 3e38f);
    lx_error err = {0};
    lx_model *m = lx_model_open(path, &err);
    assert_non_null(m);
    lx_net *net = lx_net_new(m, &opts, &err);
    assert_non_null(net);
    unsigned want = LX_OUT_LANGUAGE | LX_OUT_VISION | LX_OUT_POOLED | LX_OUT_QA;
    lx_record r[3];
    lx_error bad[3];
    float col5[3] = {0.0f, 2.0f, 0.0f};
    for (int i = 0; i < 3; i++) {
        make_record(&r[i], 4 + i, 2 + i, col5[i]);
        expect_input(net, &r[i], NULL); /* the inputs are fine */
    }
    memset(bad, 'x', sizeof bad);
    assert_int_equal(lx_net_forward(net, r, 3, want, bad, &err), 0);
    assert_string_equal(bad[0].msg, "");
    assert_string_equal(bad[2].msg, "");
    if (!strstr(bad[1].msg, "language_output[0][0]: got nan, expected a finite number"))
        fail_msg("bad[1]: %s", bad[1].msg);
    assert_non_null(strstr(bad[1].msg, "a weight of the model that is not finite or too large"));
    /* the bad record got no outputs; the others got all they asked for, finite */
    assert_null(lx_record_find(&r[1], "language_output"));
    assert_null(lx_record_find(&r[1], "question_answering_score"));
    for (int i = 0; i < 3; i += 2) {
        const lx_tensor *q = lx_record_tensor(&r[i], "question_answering_score");
        assert_non_null(q);
        assert_int_equal(lx_f32_first_nonfinite(q->data, (size_t)lx_tensor_nelem(q)),
                         lx_tensor_nelem(q));
        assert_non_null(lx_record_tensor(&r[i], "vision_output"));
    }
    for (int i = 0; i < 3; i++) {
        lx_record_clear(&r[i]);
        make_record(&r[i], 4 + i, 2 + i, col5[i]);
    }
    /* without the array the batch fails, naming the record */
    assert_int_equal(lx_net_forward(net, r, 3, want, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "record 1 of the batch: language_output[0][0]: got nan"));
    for (int i = 0; i < 3; i++) assert_null(lx_record_find(&r[i], "language_output"));
    /* alone, the message is the output's */
    assert_int_equal(lx_net_forward(net, &r[1], 1, LX_OUT_QA, NULL, &err), -1);
    assert_true(strncmp(err.msg, "question_answering_score[0]: got nan", 36) == 0);
    assert_int_equal(lx_net_forward(net, &r[0], 1, LX_OUT_QA, NULL, &err), 0);
    for (int i = 0; i < 3; i++) lx_record_clear(&r[i]);
    lx_net_free(net);
    lx_model_close(m);

    write_vqa(path, "answer_head.logit_fc.0.weight", 0, 3e38f);
    assert_non_null(m = lx_model_open(path, &err));
    assert_non_null(net = lx_net_new(m, &opts, &err));

    /* the head alone: the row whose pooled_output[0] is 2 overflows, those where it is 0
     * do not */
    size_t H = 48, labels = (size_t)lx_model_config(m)->num_qa_labels;
    float *pooled = calloc(3 * H, sizeof *pooled), *logits = calloc(3 * labels, sizeof *logits);
    assert_true(pooled && logits);
    for (size_t i = 0; i < 3 * H; i++) pooled[i] = 0.01f * (float)(i % H);
    pooled[H] = 2.0f;
    memset(bad, 'x', sizeof bad);
    assert_int_equal(lx_net_qa_head(net, pooled, 3, logits, bad, &err), 0);
    assert_string_equal(bad[0].msg, "");
    assert_string_equal(bad[2].msg, "");
    assert_non_null(strstr(bad[1].msg, "question_answering_score["));
    assert_int_equal(lx_net_qa_head(net, pooled, 3, logits, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "row 1: question_answering_score["));
    assert_int_equal(lx_net_qa_head(net, pooled, 1, logits, NULL, &err), 0);
    free(pooled);
    free(logits);
    lx_net_free(net);
    lx_model_close(m);
    unlink(path);
}

/* ---- the model writer ------------------------------------------------------------- */

/* tiny-vqa's tensors, the query weight of layer 0 replaced by an owned copy (whose
 * data is returned) so that a test can set its values. */
static float *load_vqa(lx_tensor_dict *d, lx_config *c, const char *name) {
    lx_error err = {0};
    char src[8192];
    lx_config_default(c);
    snprintf(src, sizeof src, "%s/config.json", fixture("models/tiny-vqa"));
    json_t *j = json_load_file(src, 0, NULL);
    assert_non_null(j);
    assert_int_equal(lx_config_from_json(c, j, &err), 0);
    json_decref(j);
    lx_tensor_dict_init(d);
    snprintf(src, sizeof src, "%s/model.safetensors", fixture("models/tiny-vqa"));
    if (lx_checkpoint_read(d, src, NULL, &err) < 0 || lx_schema_normalize(d, c, 0, &err) < 0)
        fail_msg("%s", err.msg);
    lx_tensor *w = lx_tensor_dict_get(d, name), copy;
    assert_non_null(w);
    assert_int_equal(lx_tensor_copy(&copy, w, &err), 0);
    *w = copy;
    return copy.data;
}

static size_t index_of(const lx_tensor_dict *d, const char *name) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->items[i].name, name)) return i;
    fail_msg("no %s", name);
    return 0;
}

static void test_write_refuses_values(void **st) {
    (void)st;
    const char *q = "lxmert.encoder.layer.0.attention.self.query.weight";
    const char *qb = "lxmert.encoder.layer.0.attention.self.query.bias";
    lx_tensor_dict d;
    lx_config c;
    lx_error err = {0};
    float *w = load_vqa(&d, &c, q);
    const char *out = scratch("values-w.lxm");
    struct stat sb;
    uint64_t clamped[512];
    assert_true(d.n <= 512);
    lx_model_spec spec = {.config = &c, .tensors = &d, .dtype = LX_F16, .clamped = clamped};
    /* a weight of 1e6: f32 and bf16 hold it, f16 does not */
    w[2 * 48 + 3] = 1e6f;
    w[40] = -70000.0f;
    assert_int_equal(lx_model_write(out, &spec, &err), -1);
    assert_int_equal(err.code, LX_ERR_DTYPE_RANGE);
    if (!strstr(err.msg, "query.weight[0][40]: got -70000, beyond f16's largest value 65504 "
                         "(2 of the tensor's values are)"))
        fail_msg("%s", err.msg);
    assert_int_equal(stat(out, &sb), -1); /* nothing written */
    spec.dtype = LX_BF16;
    assert_int_equal(lx_model_write(out, &spec, &err), 0);
    spec.dtype = LX_F32;
    assert_int_equal(lx_model_write(out, &spec, &err), 0);
    /* clamped: each to the largest f16 of its sign, and counted */
    spec.dtype = LX_F16;
    spec.clamp = 1;
    assert_int_equal(lx_model_write(out, &spec, &err), 0);
    for (size_t i = 0; i < d.n; i++) assert_int_equal(clamped[i], i == index_of(&d, q) ? 2 : 0);
    lx_model *m = lx_model_open(out, &err);
    assert_non_null(m);
    assert_int_equal(lx_model_verify(m, &err), 0);
    const lx_tensor *t = lx_model_tensor(m, q);
    assert_int_equal(t->dtype, LX_F16);
    const uint16_t *h = t->data;
    assert_true(lx_f16_to_f32(h[2 * 48 + 3]) == 65504.0f);
    assert_true(lx_f16_to_f32(h[40]) == -65504.0f);
    assert_true(h[41] == lx_f32_to_f16(w[41])); /* the others as ever */
    lx_model_close(m);
    unlink(out);
    /* a vector stays f32: 1e6 in a bias is fine when f16 is asked for */
    lx_tensor_dict_free(&d);
    float *b = load_vqa(&d, &c, qb);
    b[7] = 1e6f;
    spec.clamp = 0;
    assert_int_equal(lx_model_write(out, &spec, &err), 0);
    assert_int_equal(clamped[index_of(&d, qb)], 0);
    /* not finite: refused in every dtype (int8 too), clamp or not, and nothing written */
    unlink(out);
    const float bad[3] = {INFINITY, -INFINITY, NAN};
    const char *shown[3] = {"got inf", "got -inf", "got nan"};
    const lx_dtype dts[4] = {LX_F32, LX_F16, LX_BF16, LX_I8};
    for (int k = 0; k < 3; k++) {
        b[7] = bad[k];
        for (int dt = 0; dt < 4; dt++)
            for (int cl = 0; cl < 2; cl++) {
                spec.dtype = dts[dt];
                spec.clamp = cl;
                assert_int_equal(lx_model_write(out, &spec, &err), -1);
                assert_int_equal(err.code, LX_ERR_NONFINITE_WEIGHT);
                if (!strstr(err.msg, "query.bias[7]: ") || !strstr(err.msg, shown[k]) ||
                    !strstr(err.msg, "expected a finite weight"))
                    fail_msg("%s", err.msg);
                assert_int_equal(stat(out, &sb), -1);
            }
    }
    lx_tensor_dict_free(&d);
}

int main(void) {
    if (lx_isa_parse(getenv("LX_CPU"), &opts.max_isa) < 0) {
        fprintf(stderr, "LX_CPU: got '%s', expected portable, avx2, avx512 or best\n",
                getenv("LX_CPU"));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_index_str),
        cmocka_unit_test(test_convert_to_i64),
        cmocka_unit_test(test_dtype_max),
        cmocka_unit_test(test_unfit),
        cmocka_unit_test(test_topk_nan),
        cmocka_unit_test(test_format_float_large),
        cmocka_unit_test(test_json_nonfinite),
        cmocka_unit_test(test_input_checks),
        cmocka_unit_test(test_output_check),
        cmocka_unit_test(test_write_refuses_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
