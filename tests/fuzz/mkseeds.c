/*
 * mkseeds — write the hand-made seed inputs of the fuzz targets with the library's own
 * writers (frames, safetensors, TSV lines, JPEG with EXIF...), for tests/fuzz/seeds.sh.
 *
 *   mkseeds DIR
 *
 * Writes DIR/NAME/FILE for the targets whose seeds are not made by the project's tools
 * (seeds.sh makes the models, checkpoints and pictures).  Every seed is small (at most a
 * few KB) and the output depends on nothing but this file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "bytes.h"
#include "internal.h"
#include "fuzz.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void puts_seed(const char *target, const char *name, const char *s) {
    put(target, name, s, strlen(s));
}

/* A string literal that may hold NUL bytes, whole. */
#define LITERAL(target, name, s) put(target, name, s, sizeof s - 1)

static void check(int rc, const lx_error *err) {
    if (rc < 0) {
        fprintf(stderr, "mkseeds: %s\n", err->msg);
        exit(1);
    }
}

/* A tensor of dtype and shape filled with small distinct values. */
static void tensor(lx_tensor *t, lx_dtype dt, int nd, const int64_t *shape) {
    lx_error err = {0};
    check(lx_tensor_alloc(t, dt, nd, shape, &err), &err);
    int64_t n = lx_tensor_nelem(t);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = (float)((i * 7) % 11) - 3.5f;
    switch (dt) {
    case LX_F32: case LX_F16: case LX_BF16: lx_convert_from_f32(t->data, dt, f, (size_t)n); break;
    case LX_I32: for (int64_t i = 0; i < n; i++) ((int32_t *)t->data)[i] = (int32_t)(i * 3 - 2); break;
    case LX_I64: for (int64_t i = 0; i < n; i++) ((int64_t *)t->data)[i] = i * 1000 - 7; break;
    case LX_U8: for (int64_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = (uint8_t)(i % 2); break;
    default: break;
    }
    free(f);
}

/* ---- stream ---- */

static void stream_seeds(void) {
    puts_seed("stream", "json-lines", "{\"question_id\":1,\"question\":\"what is this?\",\"img_id\":\"a\"}\n"
              "{\"question_id\":2,\"question\":\"is it red\",\"img_id\":7}\n");
    puts_seed("stream", "json-tensors", "{\"input_ids\":[[101,2054,102]],\"visual_pos\":[[0.0,0.5,1.0,1.0]],"
              "\"x\":[],\"y\":[[]],\"s\":3.25,\"n\":null,\"o\":{\"a\":[1,\"b\"]}}\n");
    puts_seed("stream", "json-array", "[{\"a\":1},\n {\"b\":[1.5,2,-0.0]},{\"c\":\"\\u00e9\\n\"}]\n");
    puts_seed("stream", "json-pretty", "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"t\": \"x\"\n}\n{\"b\":1e-7}\n");
    puts_seed("stream", "json-bad-then-good", "{\"a\":\n{\"b\":1}\n[1]\n{\"c\":[1,[2]]}\n");
    /* frames: one record of every dtype, then two records back to back */
    static const lx_dtype dts[] = {LX_F32, LX_F16, LX_BF16, LX_I32, LX_I64, LX_U8};
    lx_record r;
    lx_record_init(&r);
    lx_error err = {0};
    check(lx_record_set_json(&r, "img_id", json_string("COCO_1"), &err), &err);
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++) {
        lx_tensor t;
        int64_t shape[2] = {2, (int64_t)i + 1};
        tensor(&t, dts[i], 2, shape);
        char name[32];
        snprintf(name, sizeof name, "t_%s", lx_dtype_name(dts[i]));
        check(lx_record_set_tensor(&r, name, &t, &err), &err);
    }
    lx_tensor s;
    tensor(&s, LX_F32, 0, NULL);
    check(lx_record_set_tensor(&r, "scalar", &s, &err), &err);
    lx_tensor e;
    int64_t zero[2] = {0, 3};
    tensor(&e, LX_F32, 2, zero);
    check(lx_record_set_tensor(&r, "empty", &e, &err), &err);
    char *fr;
    size_t flen;
    check(lx_record_to_frame(&r, &fr, &flen, &err), &err);
    put("stream", "frame-dtypes", fr, flen);
    lx_record q;
    lx_record_init(&q);
    check(lx_record_set_json(&q, "n", json_integer(2), &err), &err);
    lx_tensor t;
    int64_t shape[1] = {4};
    tensor(&t, LX_F32, 1, shape);
    check(lx_record_set_tensor(&q, "v", &t, &err), &err);
    char *f2;
    size_t f2len;
    check(lx_record_to_frame(&q, &f2, &f2len, &err), &err);
    char *both = malloc(2 * f2len);
    memcpy(both, f2, f2len);
    memcpy(both + f2len, f2, f2len);
    put("stream", "frames-two", both, 2 * f2len);
    free(both);
    free(fr);
    free(f2);
    lx_record_clear(&r);
    lx_record_clear(&q);
}

/* ---- safetensors ---- */

static void safetensors_seeds(const char *tmp) {
    static const lx_dtype dts[] = {LX_F32, LX_F16, LX_BF16, LX_I32, LX_I64, LX_U8};
    lx_tensor ts[6];
    const lx_tensor *tp[6];
    const char *names[6] = {"a.weight", "a.bias", "b", "c.ids", "d", "e.mask"};
    for (int i = 0; i < 6; i++) {
        int64_t shape[2] = {i + 1, 2};
        tensor(&ts[i], dts[i], i % 3, shape);
        tp[i] = &ts[i];
    }
    json_t *meta = json_pack("{s:s}", "format", "pt");
    lx_error err = {0};
    check(lx_safetensors_write(tmp, names, tp, 6, meta, &err), &err);
    json_decref(meta);
    FILE *f = fopen(tmp, "rb");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    remove(tmp);
    put("safetensors", "dtypes", buf, n);
    for (int i = 0; i < 6; i++) lx_tensor_free(&ts[i]);
    /* an empty one: no tensors, a header of "{}" */
    static const char empty[] = "\x02\0\0\0\0\0\0\0{}";
    put("safetensors", "empty", empty, sizeof empty - 1);
}

/* ---- TSV lines and base64 ---- */

static void tsv_seeds(void) {
    lx_regions g;
    lx_regions_init(&g);
    lx_error err = {0};
    check(lx_regions_reserve(&g, 2, 3, 1, &err), &err);
    check(lx_regions_set_id(&g, "COCO_val2014_000000000042", 0, &err), &err);
    g.img_h = 480, g.img_w = 640;
    float boxes[8] = {0, 0, 640, 480, 10.5f, 20, 30, 40.25f};
    memcpy(g.boxes, boxes, sizeof boxes);
    for (int i = 0; i < 6; i++) g.features[i] = i % 2 ? 0.0f : 1.5f * (float)i;
    for (int i = 0; i < 2; i++) {
        g.objects_id[i] = 100 + i, g.attrs_id[i] = 3 * i;
        g.objects_conf[i] = 0.5f, g.attrs_conf[i] = 0.25f;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    check(lx_regions_write_tsv(&g, f, &err), &err);
    fclose(f);
    put("tsv", "lxmert-10", text, len - 1);
    /* the 6-field layout: id, width, height, num_boxes, boxes, features */
    char b64b[64], b64f[64], line[512];
    b64b[lx_base64_encode(b64b, boxes, 16)] = 0;
    b64f[lx_base64_encode(b64f, g.features, 8)] = 0;
    int n = snprintf(line, sizeof line, "0042\t640\t480\t1\t%s\t%s\r", b64b, b64f);
    put("tsv", "butd-6", line, (size_t)n);
    put("base64", "boxes", b64b, strlen(b64b));
    puts_seed("base64", "pad1", "QUJDRA==");
    puts_seed("base64", "pad2", "QUJDREU=");
    /* long enough for the AVX2 path (64 characters and more) */
    char big[200];
    unsigned char raw[150];
    for (int i = 0; i < 150; i++) raw[i] = (unsigned char)(i * 37);
    put("base64", "long", big, lx_base64_encode(big, raw, 150));
    free(text);
    lx_regions_free(&g);
}

/* ---- tokenizer: flags, max_length, text ---- */

static void tokenizer_seeds(void) {
    LITERAL("tokenizer", "question", "\x01\x00What is the dog playing with?");
    LITERAL("tokenizer", "pair", "\x03\x0a" "a cat|the dog's unable [MASK] hello");
    LITERAL("tokenizer", "cased", "\x00\x00" "Caf\xc3\xa9 na\xc3\xafve R\xc3\xa9sum\xc3\xa9 \xce\x9f\xce\x94\xce\x9f\xce\xa3");
    LITERAL("tokenizer", "cjk", "\x05\x06\xe4\xb8\xad\xe6\x96\x87 \xe3\x81\x82\xe3\x81\x84 \xf0\x9f\x98\x80 [CLS] x\x00y\tz\xc2\xa0!");
    LITERAL("tokenizer", "special", "\x07\x00[SEP][UNK] [PAD]playing##ing STRASSE stra\xc3\x9f" "e \xc7\x84 \xc4\xb0");
    LITERAL("tokenizer", "invalid-utf8", "\x01\x00ok \xff\xfe \xed\xa0\x80 \xc0\xaf");
}

/* ---- vocabularies, labels, YAML ---- */

static void text_seeds(void) {
    puts_seed("lines", "vocab", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n\xc3\xa9t\xc3\xa9\n##\n");
    puts_seed("lines", "crlf-dup", "dog\r\ncat\r\ndog\r\n\r\nperson");
    puts_seed("labels", "label2ans", "[\"yes\",\"no\",\"2\",\"red\"]");
    puts_seed("labels", "ans2label", "{\"yes\":1,\"no\":0,\"blue\":2}");
    puts_seed("labels", "all-ans", "[{\"ans\":\"yes\",\"dsets\":[\"vqa\"]},{\"ans\":\"net\"}]");
    puts_seed("vqaeval", "numbers", "two\n2\ntwo \n2.\nTwo!\nnone\n0\n");
    puts_seed("vqaeval", "punctuation", "dont know\ndon't know\nI dont' know.\n1,000\n"
              "a man's hat\nthe man's hat\n(yes)\nye$\n\tyes\t\n");
    puts_seed("yaml", "flow", "MODEL: {DEVICE: cpu, RPN: {PRE_NMS_TOPK_TEST: 6000, NMS_THRESH: 0.7}}\n"
              "INPUT: {MIN_SIZE_TEST: 600, MAX_SIZE_TEST: 1000, PIXEL_MEAN: [102.98, 115.95, 122.77]}\n"
              "MIN_DETECTIONS: 10\nMAX_DETECTIONS: 36\n");
    puts_seed("yaml", "scalars", "a: yes\nb: 1e-5\nc: 1.5e+3\nd: 0x1F\ne: 0o17\nf: ~\ng: '1.0'\n"
              "h: .inf\ni: -.NaN\nj: 1_000\nk: [1, 2.0, three]\nl: |\n  text\n");
}

/* ---- EXIF blocks and a JPEG carrying one ---- */

static size_t exif_block(uint8_t *b, int big_endian, int orientation) {
    static const uint8_t mm[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ii[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                 0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(b, big_endian ? mm : ii, sizeof mm);
    if (big_endian) b[19] = (uint8_t)orientation;
    else b[18] = (uint8_t)orientation;
    return sizeof mm;
}

static void image_seeds(void) {
    uint8_t ex[64];
    size_t n = exif_block(ex, 1, 6);
    put("exif", "mm-6", ex, n);
    n = exif_block(ex, 0, 8);
    put("exif", "ii-8", ex, n);
    /* an 8 x 6 JPEG (4:2:0 and grey) with an EXIF APP1 segment */
    for (int grey = 0; grey < 2; grey++) {
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr e;
        unsigned char *out = NULL;
        unsigned long outlen = 0;
        c.err = jpeg_std_error(&e);
        jpeg_create_compress(&c);
        jpeg_mem_dest(&c, &out, &outlen);
        c.image_width = 8, c.image_height = 6;
        c.input_components = grey ? 1 : 3;
        c.in_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
        jpeg_set_defaults(&c);
        jpeg_set_quality(&c, 75, TRUE);
        if (!grey) jpeg_simple_progression(&c);
        jpeg_start_compress(&c, TRUE);
        uint8_t app1[80] = "Exif\0";
        size_t k = exif_block(app1 + 6, grey, 3 + 3 * grey);
        jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)(6 + k));
        unsigned char row[8 * 3];
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 8 * c.input_components; x++) row[x] = (unsigned char)(x * 29 + y * 40);
            JSAMPROW rp = row;
            jpeg_write_scanlines(&c, &rp, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        put("image", grey ? "grey-exif.jpg" : "progressive-exif.jpg", out, outlen);
        free(out);
    }
}

/* ---- a feature index, as lx_featindex_open writes it for FUZZ_INDEX_TSV ---- */

static void featindex_seeds(void) {
    char tsv[4096], ix[4096];
    snprintf(tsv, sizeof tsv, "%s/.tmp.tsv", root);
    snprintf(ix, sizeof ix, "%s/.tmp.lxi", root);
    FILE *f = fopen(tsv, "wb");
    fputs(FUZZ_INDEX_TSV, f);
    fclose(f);
    lx_error err = {0};
    lx_featindex *x = lx_featindex_open(tsv, ix, 0, &err);
    if (!x || lx_featindex_status(x) != LX_FEATINDEX_BUILT) {
        fprintf(stderr, "mkseeds: the index was not written: %s\n", x ? lx_featindex_note(x) : err.msg);
        exit(1);
    }
    lx_featindex_close(x);
    char buf[4096];
    f = fopen(ix, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    remove(tsv);
    remove(ix);
    /* the TSV's mtime as 0 (the fuzz target sets the real one), so that the seed is the
     * same every time it is made */
    if (n < 60) exit(1);
    memset(buf + 24, 0, 16);
    lx_wr_u32(buf + n - 4, (uint32_t)crc32(crc32(0, NULL, 0), (const Bytef *)buf, (uInt)(n - 4)));
    put("featindex", "built", buf, n);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 2;
    }
    root = argv[1];
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.tmp.safetensors", root);
    stream_seeds();
    safetensors_seeds(tmp);
    tsv_seeds();
    tokenizer_seeds();
    text_seeds();
    image_seeds();
    featindex_seeds();
    return 0;
}
