/* Unit tests of the name mapping and the checks against the config: every naming scheme
 * on name lists built from the expected weights, the QA head's own answer count, tied
 * decoders, unknown / missing tensors and shape mismatches. */
#include "testutil.h"

static void test_map(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"lxmert.encoder.layer.0.output.dense.weight", "lxmert.encoder.layer.0.output.dense.weight"},
        {"answer_head.logit_fc.3.bias", "answer_head.logit_fc.3.bias"},
        {"cls.predictions.bias", "cls.predictions.bias"},
        {"obj_predict_head.decoder_dict.obj.weight", "obj_predict_head.decoder_dict.obj.weight"},
        {"embeddings.word_embeddings.weight", "lxmert.embeddings.word_embeddings.weight"},
        {"encoder.x_layers.1.visn_inter.dense.bias", "lxmert.encoder.x_layers.1.visn_inter.dense.bias"},
        {"pooler.dense.weight", "lxmert.pooler.dense.weight"},
        {"module.bert.encoder.r_layers.0.attention.self.key.weight",
         "lxmert.encoder.r_layers.0.attention.self.key.weight"},
        {"module.cls.seq_relationship.weight", "cls.seq_relationship.weight"},
        {"module.answer_head.logit_fc.0.weight", "answer_head.logit_fc.0.weight"},
        {"module.obj_predict_head.transform.LayerNorm.bias", "obj_predict_head.transform.LayerNorm.bias"},
        {"lxrt_encoder.model.bert.pooler.dense.bias", "lxmert.pooler.dense.bias"},
        {"logit_fc.2.weight", "answer_head.logit_fc.2.weight"},
        {"bert.embeddings.LayerNorm.gamma", "lxmert.embeddings.LayerNorm.weight"},
        {"module.bert.encoder.layer.3.output.LayerNorm.beta", "lxmert.encoder.layer.3.output.LayerNorm.bias"},
        {"module.module.bert.pooler.dense.weight", "lxmert.pooler.dense.weight"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = lx_schema_map_name(cases[i][0], buf, sizeof buf);
        if (!got || strcmp(got, cases[i][1]) != 0)
            fail_msg("%s -> %s, expected %s", cases[i][0], got ? got : "NULL", cases[i][1]);
    }
    assert_null(lx_schema_map_name("optimizer.state", buf, sizeof buf));
    assert_null(lx_schema_map_name("lxrt_encoder.model.other", buf, sizeof buf));
    assert_null(lx_schema_map_name("", buf, sizeof buf));
    char small[8];
    assert_null(lx_schema_map_name("lxmert.pooler.dense.weight", small, sizeof small));
}

static void tiny_config(lx_config *c, const char *model) {
    char path[8192];
    snprintf(path, sizeof path, "%s/config.json", fixture(model));
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    lx_error err = {0};
    lx_config_default(c);
    assert_int_equal(lx_config_from_json(c, j, &err), 0);
    json_decref(j);
}

/* The shape of name under c, as lx_schema_find gives it: its ndim (shape in s), or -1. */
static int schema_shape(const lx_config *c, const char *name, int64_t s[4]) {
    lx_schema sch;
    lx_error err = {0};
    assert_int_equal(lx_schema_build(&sch, c, &err), 0);
    const lx_schema_entry *e = lx_schema_find(&sch, name);
    int nd = e ? e->ndim : -1;
    if (e) memcpy(s, e->shape, sizeof e->shape);
    lx_schema_free(&sch);
    return nd;
}

static void test_shape(void **state) {
    (void)state;
    lx_config c;
    tiny_config(&c, "models/tiny-vqa");
    int64_t s[4];
    assert_int_equal(schema_shape(&c, "lxmert.embeddings.word_embeddings.weight", s), 2);
    assert_int_equal(s[0], 30522);
    assert_int_equal(s[1], 48);
    assert_int_equal(schema_shape(&c, "lxmert.encoder.visn_fc.visn_fc.weight", s), 2);
    assert_int_equal(s[0], 48);
    assert_int_equal(s[1], 2048);
    assert_int_equal(schema_shape(&c, "lxmert.encoder.x_layers.1.lang_output.dense.weight", s), 2);
    assert_int_equal(s[0], 48);
    assert_int_equal(s[1], 80);
    assert_int_equal(schema_shape(&c, "answer_head.logit_fc.3.weight", s), 2);
    assert_int_equal(s[0], 3129);
    assert_int_equal(s[1], 96);
    assert_int_equal(schema_shape(&c, "answer_head.logit_fc.2.weight", s), 1);
    assert_int_equal(s[0], 96);
    assert_int_equal(schema_shape(&c, "lxmert.encoder.r_layers.1.output.dense.weight", s), -1);
    assert_int_equal(schema_shape(&c, "lxmert.encoder.layer.2.output.dense.weight", s), -1);
    assert_int_equal(schema_shape(&c, "answer_head.logit_fc.1.weight", s), -1);
}

/* The expected weights, renamed by fn, as a dict of views (plus the file's own dict). */
typedef const char *(*rename_fn)(const char *hf, char *buf, size_t len);

static void renamed(const char *file, rename_fn fn, lx_tensor_dict *src, lx_tensor_dict *out) {
    lx_error err = {0};
    lx_tensor_dict_init(src);
    lx_tensor_dict_init(out);
    if (lx_safetensors_read(src, fixture(file), &err) < 0) fail_msg("%s", err.msg);
    char buf[512];
    for (size_t i = 0; i < src->n; i++) {
        lx_tensor t = src->items[i].t;
        t.owned = 0;
        const char *nm = fn(src->items[i].name, buf, sizeof buf);
        if (nm) assert_int_equal(lx_tensor_dict_add(out, nm, &t, &err), 0);
    }
}

static int starts(const char *s, const char *p) {
    return strncmp(s, p, strlen(p)) == 0;
}

/* HF -> original pre-training (model_LXRT.pth): module.bert., module.cls., ... */
static const char *to_lxrt(const char *hf, char *buf, size_t len) {
    if (starts(hf, "lxmert.")) snprintf(buf, len, "module.bert.%s", hf + 7);
    else snprintf(buf, len, "module.%s", hf);
    return buf;
}
/* HF -> original fine-tuning (BEST.pth). */
static const char *to_best(const char *hf, char *buf, size_t len) {
    if (starts(hf, "lxmert.")) snprintf(buf, len, "lxrt_encoder.model.bert.%s", hf + 7);
    else if (starts(hf, "answer_head.")) snprintf(buf, len, "%s", hf + 12);
    else return NULL;
    return buf;
}
/* HF -> bare LxmertModel (backbone only), old gamma/beta LayerNorm names. */
static const char *to_bare(const char *hf, char *buf, size_t len) {
    if (!starts(hf, "lxmert.")) return NULL;
    snprintf(buf, len, "%s", hf + 7);
    size_t n = strlen(buf);
    if (strstr(buf, "LayerNorm.weight") && n > 6) snprintf(buf + n - 6, len - (n - 6), "gamma");
    return buf;
}
static const char *same(const char *hf, char *buf, size_t len) {
    snprintf(buf, len, "%s", hf);
    return buf;
}

/* After normalize: exactly the expected names (those fn kept), in the file's order, with
 * the same data. */
static void check_same(const lx_tensor_dict *src, const lx_tensor_dict *d, rename_fn fn) {
    char buf[512];
    size_t j = 0;
    for (size_t i = 0; i < src->n; i++) {
        if (!fn(src->items[i].name, buf, sizeof buf)) continue;
        assert_true(j < d->n);
        assert_string_equal(d->items[j].name, src->items[i].name);
        assert_ptr_equal(d->items[j].t.data, src->items[i].t.data);
        j++;
    }
    assert_int_equal(j, d->n);
}

static void test_schemes(void **state) {
    (void)state;
    static const struct {
        const char *file, *model;
        rename_fn fn;
    } cases[] = {
        {"expected/weights.tiny-vqa.safetensors", "models/tiny-vqa", same},
        {"expected/weights.tiny-pretrain.safetensors", "models/tiny-pretrain", same},
        {"expected/weights.tiny-pretrain.safetensors", "models/tiny-original", to_lxrt},
        {"expected/weights.tiny-vqa.safetensors", "models/tiny-original", to_best},
        {"expected/weights.tiny-pretrain.safetensors", "models/tiny-pretrain", to_bare},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lx_tensor_dict src, d;
        lx_config c;
        lx_error err = {0};
        tiny_config(&c, cases[k].model);
        renamed(cases[k].file, cases[k].fn, &src, &d);
        /* a reversed order comes back in HF's order */
        for (size_t i = 0; i < d.n / 2; i++) {
            lx_tensor_entry t = d.items[i];
            d.items[i] = d.items[d.n - 1 - i];
            d.items[d.n - 1 - i] = t;
        }
        if (lx_schema_normalize(&d, &c, 0, &err) < 0) fail_msg("case %zu: %s", k, err.msg);
        check_same(&src, &d, cases[k].fn);
        lx_tensor_dict_free(&d);
        lx_tensor_dict_free(&src);
    }
}

/* BEST.pth's config says 9500 answers; the head has 3129: the head wins. */
static void test_qa_count_from_head(void **state) {
    (void)state;
    lx_tensor_dict src, d;
    lx_config c;
    lx_error err = {0};
    tiny_config(&c, "models/tiny-original");
    assert_int_equal(c.num_qa_labels, 9500);
    renamed("expected/weights.tiny-vqa.safetensors", to_best, &src, &d);
    assert_int_equal(lx_schema_normalize(&d, &c, 0, &err), 0);
    assert_int_equal(c.num_qa_labels, 3129);
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);
    /* no QA head: 0 */
    tiny_config(&c, "models/tiny-vqa");
    renamed("expected/weights.tiny-vqa.safetensors", to_bare, &src, &d);
    assert_int_equal(lx_schema_normalize(&d, &c, 0, &err), 0);
    assert_int_equal(c.num_qa_labels, 0);
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);
}

/* Add an owned copy of src's tensor `from` under `name`, optionally altered. */
static void add_copy(lx_tensor_dict *d, const lx_tensor_dict *src, const char *from,
                     const char *name, int alter) {
    lx_error err = {0};
    lx_tensor t;
    assert_int_equal(lx_tensor_copy(&t, lx_tensor_dict_get(src, from), &err), 0);
    if (alter) ((float *)t.data)[7] += 1.0f;
    assert_int_equal(lx_tensor_dict_add(d, name, &t, &err), 0);
}

static void test_tied(void **state) {
    (void)state;
    lx_tensor_dict src, d;
    lx_config c;
    lx_error err = {0};
    const char *we = "lxmert.embeddings.word_embeddings.weight";
    for (int alter = 0; alter < 2; alter++) {
        tiny_config(&c, "models/tiny-pretrain");
        renamed("expected/weights.tiny-pretrain.safetensors", same, &src, &d);
        add_copy(&d, &src, we, "cls.predictions.decoder.weight", alter);
        add_copy(&d, &src, "cls.predictions.bias", "cls.predictions.decoder.bias", 0);
        assert_int_equal(lx_schema_normalize(&d, &c, 0, &err), 0);
        assert_null(lx_tensor_dict_get(&d, "cls.predictions.decoder.bias"));
        if (alter) {
            /* an untied decoder is kept, right after the MLM transform */
            assert_int_equal(d.n, src.n + 1);
            lx_tensor *dec = lx_tensor_dict_get(&d, "cls.predictions.decoder.weight");
            assert_non_null(dec);
            for (size_t i = 0; i < d.n; i++)
                if (strcmp(d.items[i].name, "cls.predictions.decoder.weight") == 0)
                    assert_string_equal(d.items[i - 1].name, "cls.predictions.transform.LayerNorm.bias");
        } else {
            check_same(&src, &d, same);
        }
        lx_tensor_dict_free(&d);
        lx_tensor_dict_free(&src);
    }
}

/* Expect normalize to fail with want in the message. */
static void expect_norm_fail(lx_tensor_dict *d, lx_config *c, unsigned flags, const char *want) {
    lx_error err = {0};
    if (lx_schema_normalize(d, c, flags, &err) == 0) fail_msg("accepted (expected: %s)", want);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void test_errors(void **state) {
    (void)state;
    lx_tensor_dict src, d;
    lx_config c;
    lx_error err = {0};
    const char *vqa = "expected/weights.tiny-vqa.safetensors";

    /* unknown tensors: named; dropped with the flag */
    tiny_config(&c, "models/tiny-vqa");
    renamed(vqa, same, &src, &d);
    add_copy(&d, &src, "lxmert.pooler.dense.bias", "optimizer.momentum", 0);
    add_copy(&d, &src, "lxmert.pooler.dense.bias", "lxmert.encoder.layer.2.output.dense.bias", 0);
    expect_norm_fail(&d, &c, 0, "2 unknown tensors");
    expect_norm_fail(&d, &c, 0, "optimizer.momentum, lxmert.encoder.layer.2.output.dense.bias");
    assert_int_equal(lx_schema_normalize(&d, &c, LX_SCHEMA_IGNORE_UNKNOWN, &err), 0);
    check_same(&src, &d, same);
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);

    /* HF's position_ids buffer (I64) is not a weight: dropped without a word */
    tiny_config(&c, "models/tiny-vqa");
    renamed(vqa, same, &src, &d);
    {
        lx_tensor pid;
        int64_t np = 64;
        assert_int_equal(lx_tensor_alloc(&pid, LX_I64, 1, &np, &err), 0);
        for (int i = 0; i < 64; i++) ((int64_t *)pid.data)[i] = i;
        assert_int_equal(lx_tensor_dict_add(&d, "embeddings.position_ids", &pid, &err), 0);
    }
    assert_int_equal(lx_schema_normalize(&d, &c, 0, &err), 0);
    check_same(&src, &d, same);
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);

    /* a missing backbone tensor, and an incomplete head */
    static const char *const drop[][2] = {
        {"lxmert.encoder.x_layers.1.visn_output.LayerNorm.bias", "backbone: 1 tensor missing"},
        {"answer_head.logit_fc.2.bias", "QA head: 1 tensor missing: answer_head.logit_fc.2.bias"},
    };
    for (size_t k = 0; k < 2; k++) {
        tiny_config(&c, "models/tiny-vqa");
        lx_tensor_dict_init(&src);
        lx_tensor_dict_init(&d);
        assert_int_equal(lx_safetensors_read(&src, fixture(vqa), &err), 0);
        for (size_t i = 0; i < src.n; i++) {
            if (strcmp(src.items[i].name, drop[k][0]) == 0) continue;
            lx_tensor t = src.items[i].t;
            t.owned = 0;
            assert_int_equal(lx_tensor_dict_add(&d, src.items[i].name, &t, &err), 0);
        }
        expect_norm_fail(&d, &c, 0, drop[k][1]);
        lx_tensor_dict_free(&d);
        lx_tensor_dict_free(&src);
    }

    /* shapes that disagree with the config */
    tiny_config(&c, "models/tiny-vqa");
    c.intermediate_size = 96;
    renamed(vqa, same, &src, &d);
    expect_norm_fail(&d, &c, 0, "got shape [80, 48], expected [96, 48]");
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);
    tiny_config(&c, "models/tiny-vqa");
    c.vocab_size = 30000;
    renamed(vqa, same, &src, &d);
    expect_norm_fail(&d, &c, 0, "word_embeddings.weight: got shape [30522, 48], expected [30000, 48]");
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);
    /* the base default config against the tiny weights */
    lx_config_default(&c);
    renamed(vqa, same, &src, &d);
    expect_norm_fail(&d, &c, 0, "backbone: ");  /* layers 2..8 are missing */
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);
    lx_config_default(&c);
    c.l_layers = 2, c.x_layers = 2, c.r_layers = 1;
    renamed(vqa, same, &src, &d);
    expect_norm_fail(&d, &c, 0, "got shape [30522, 48], expected [30522, 768]");
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);

    /* two names for one tensor */
    tiny_config(&c, "models/tiny-vqa");
    renamed(vqa, same, &src, &d);
    add_copy(&d, &src, "lxmert.pooler.dense.bias", "module.bert.pooler.dense.bias", 0);
    expect_norm_fail(&d, &c, 0, "two tensors map to 'lxmert.pooler.dense.bias'");
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);

    /* an integer tensor where a weight belongs */
    tiny_config(&c, "models/tiny-vqa");
    renamed(vqa, same, &src, &d);
    for (size_t i = 0; i < d.n; i++)
        if (strcmp(d.items[i].name, "lxmert.pooler.dense.bias") == 0) d.items[i].t.dtype = LX_I32;
    expect_norm_fail(&d, &c, 0, "got dtype i32");
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);

    /* a bad config is refused before anything is sized from it */
    tiny_config(&c, "models/tiny-vqa");
    c.num_attention_heads = 5;
    renamed(vqa, same, &src, &d);
    expect_norm_fail(&d, &c, 0, "not a multiple of num_attention_heads");
    lx_tensor_dict_free(&d);
    lx_tensor_dict_free(&src);
}

static void test_config_json(void **state) {
    (void)state;
    lx_config c, r;
    lx_error err = {0};
    lx_config_default(&c);
    assert_int_equal(c.hidden_size, 768);
    assert_int_equal(c.l_layers, 9);
    assert_int_equal(c.x_layers, 5);
    assert_int_equal(c.r_layers, 5);
    assert_int_equal(c.visual_feat_dim, 2048);
    assert_int_equal(lx_config_check(&c, &err), 0);
    c.hidden_size = 48;
    c.layer_norm_eps = 1e-5;
    c.do_lower_case = 0;
    json_t *j = lx_config_to_json(&c);
    lx_config_default(&r);
    assert_int_equal(lx_config_from_json(&r, j, &err), 0);
    json_t *back = lx_config_to_json(&r);
    assert_true(json_equal(back, j));
    json_decref(back);
    assert_int_equal(r.hidden_size, 48);
    assert_true(r.layer_norm_eps == 1e-5);
    assert_int_equal(r.do_lower_case, 0);
    json_decref(j);
    j = json_pack("{s:s}", "hidden_size", "48");
    assert_int_equal(lx_config_from_json(&r, j, &err), -1);
    assert_non_null(strstr(err.msg, "hidden_size"));
    json_decref(j);
    j = json_pack("{s:f}", "layer_norm_eps", -1.0);
    assert_int_equal(lx_config_from_json(&r, j, &err), 0);
    assert_int_equal(lx_config_check(&r, &err), -1);
    json_decref(j);
    assert_int_equal(lx_config_from_json(&r, NULL, &err), -1);
}

static void test_labels_vocab(void **state) {
    (void)state;
    lx_strlist a = {0}, b = {0}, v = {0};
    lx_error err = {0};
    assert_int_equal(lx_labels_read_file(&a, fixture("labels/vqa-label2ans.json"), &err), 0);
    assert_int_equal(lx_labels_read_file(&b, fixture("labels/vqa-ans2label.json"), &err), 0);
    assert_int_equal(a.n, 3129);
    assert_int_equal(b.n, a.n);
    for (size_t i = 0; i < a.n; i++) assert_string_equal(a.items[i], b.items[i]);
    lx_strlist_free(&a);
    assert_int_equal(lx_labels_read_file(&a, fixture("labels/lxmert-all-ans.json"), &err), 0);
    assert_int_equal(a.n, 9500);
    lx_strlist_free(&a);
    lx_strlist_free(&b);
    assert_int_equal(lx_lines_read_file(&v, fixture("vocab/bert-base-uncased-vocab.txt"), &err), 0);
    assert_int_equal(v.n, 30522);
    assert_string_equal(v.items[100], "[UNK]");
    lx_strlist_free(&v);
    const char *p = scratch("labels.json");
    static const char *const bad[][2] = {
        {"{\"yes\": 0, \"no\": 2}", "expected a label in 0..1"},
        {"{\"yes\": 0, \"no\": 0}", "given to both"},
        {"[\"yes\", 3]", "labels[1]"},
        {"[]", "no answers"},
        {"\"yes\"", "expected a JSON array"},
        {"[\"yes\"", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(p, "w");
        fputs(bad[i][0], f);
        fclose(f);
        if (lx_labels_read_file(&a, p, &err) == 0) fail_msg("accepted %s", bad[i][0]);
        if (!strstr(err.msg, bad[i][1])) fail_msg("'%s' lacks '%s'", err.msg, bad[i][1]);
        lx_strlist_free(&a);
    }
    FILE *f = fopen(p, "w");
    fputs("[PAD]\r\nhello\n\xff\xfe\n", f);
    fclose(f);
    assert_int_equal(lx_lines_read_file(&v, p, &err), -1);
    assert_non_null(strstr(err.msg, ": line 3: invalid UTF-8 at byte 0"));
    lx_strlist_free(&v);
    /* CRLF line ends: the "\r" is not part of the token, for every reader of the file */
    f = fopen(p, "w");
    fputs("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n", f);
    fclose(f);
    assert_int_equal(lx_lines_read_file(&v, p, &err), 0);
    assert_int_equal(v.n, 5);
    assert_string_equal(v.items[1], "[UNK]");
    lx_strlist_free(&v);
    lx_vocab *tv = lx_vocab_load(p, &err);
    assert_non_null(tv);
    assert_int_equal(lx_vocab_find(tv, "[UNK]", 5), 1);
    assert_int_equal(lx_vocab_find(tv, "hello", 5), 4);
    lx_vocab_free(tv);
    /* a token given twice keeps both lines (ids are line numbers); lookup finds the later,
     * as HF's dict does */
    f = fopen(p, "w");
    fputs("a\nb\na\n", f);
    fclose(f);
    assert_int_equal(lx_lines_read_file(&v, p, &err), 0);
    assert_int_equal(v.n, 3);
    lx_strlist_free(&v);
    tv = lx_vocab_load(p, &err);
    assert_non_null(tv);
    assert_int_equal(lx_vocab_find(tv, "a", 1), 2);
    lx_vocab_free(tv);
    unlink(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_qa_count_from_head),
        cmocka_unit_test(test_tied),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_labels_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
