/*
 * randmodel — write a HuggingFace-style LXMERT model folder with deterministic random
 * weights, for tests, benchmarks and the demo.
 *
 *   randmodel --preset base|demo|tiny [--labels N] [--heads qa,pretrain] [--seed S] -o DIR
 *   randmodel --preset detector [--feat-dim N] [--seed S] -o DIR
 *
 * DIR gets config.json (HF LxmertConfig field names), vocab.txt (one WordPiece token a
 * line), label2ans.json (the answer list, index = label; only when a QA head is written)
 * and model.safetensors (every tensor f32, HF LxmertFor... names, in the order HF lists
 * them).  The folder converts with `lx-convert DIR -o FILE.lxm` like a downloaded one.
 * The detector preset writes the bottom-up-attention Faster R-CNN instead (see
 * "The detector" below): config.yaml, model.safetensors in the published
 * frcnn-vg-finetuned names, objects_vocab.txt and attributes_vocab.txt.
 *
 * Presets (hidden / heads / intermediate / l,x,r layers / positions / vocab / answers):
 *   base  768 / 12 / 3072 / 9,5,5 / 512 / 30522 / 3129   the released LXMERT's shape
 *   tiny   48 /  4 /   80 / 2,2,1 /  64 / 30522 / 3129   the shape of the test fixtures
 *   demo   64 /  4 /  128 / 2,2,1 /  64 / own words / own answers (a small demo model)
 * Any shape field can be overridden (--hidden, --attention-heads, --intermediate,
 * --layers L,X,R, --positions, --vocab, --labels, --feat-dim).  Features are 2048-d unless
 * --feat-dim says otherwise (a small detector's width), with 4-d boxes, 1600 object and
 * 400 attribute classes (the pre-training heads).
 *
 * Weights.  Each tensor gets its own xorshift64* stream seeded from the seed and a hash of
 * its name, so a tensor's values do not depend on which other tensors are written (a qa
 * and a pretrain model of one seed share their encoder).  Matrices are uniform with the
 * standard deviation 0.02 BERT initialises with (a wider 0.5 for the answer classifier,
 * so answers differ clearly between inputs; the demo preset uses 0.3 and 0.15 so that a
 * random model's answers vary with the question; --std and --head-std set them); biases
 * are small and non-zero; LayerNorm weights lie around 1.
 *
 * The tied MLM decoder (cls.predictions.decoder.weight = the word embeddings) is not
 * written, as HF's safetensors files leave it out.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "schema.h"

enum { HEAD_QA = 1, HEAD_PRETRAIN = 2 };

typedef struct shape {
    int hidden, heads, inter, l, x, r, positions, vocab, labels;
    int feat;                     /* visual_feat_dim */
} shape;

/* The demo vocabulary after the special tokens: whole words a VQA question uses, then
 * single characters and their ## continuations so that any ASCII word tokenizes. */
static const char *const demo_words[] = {
    "what", "is", "the", "a", "an", "of", "in", "on", "at", "to", "this", "that", "these",
    "there", "are", "how", "many", "who", "where", "which", "why", "does", "do", "can",
    "color", "colour", "kind", "type", "room", "sport", "animal", "animals", "person",
    "people", "man", "woman", "boy", "girl", "child", "dog", "cat", "horse", "cow", "sheep",
    "bird", "elephant", "giraffe", "zebra", "bear", "car", "bus", "truck", "train", "plane",
    "boat", "bike", "bicycle", "motorcycle", "street", "road", "sign", "stop", "light",
    "traffic", "table", "chair", "bed", "couch", "tv", "laptop", "phone", "book", "clock",
    "cup", "bowl", "plate", "pizza", "cake", "banana", "apple", "orange", "sandwich", "food",
    "water", "sky", "grass", "tree", "trees", "snow", "beach", "ocean", "field", "park",
    "kitchen", "bathroom", "bedroom", "living", "window", "door", "wall", "floor", "picture",
    "photo", "image", "shirt", "hat", "umbrella", "ball", "bat", "racket", "frisbee", "kite",
    "skateboard", "surfboard", "skis", "tennis", "baseball", "soccer", "playing", "holding",
    "wearing", "eating", "sitting", "standing", "riding", "doing", "near", "next", "behind",
    "front", "under", "above", "left", "right", "top", "bottom", "big", "small", "large",
    "red", "blue", "green", "yellow", "white", "black", "brown", "gray", "pink", "purple",
    "yes", "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "zero", "day", "night", "time", "weather", "sunny", "cloudy", "rainy", "made",
    "wood", "metal", "plastic", "it", "he", "she", "they", "his", "her", "their", "be",
    "has", "have", "any", "all", "or", "and", "with", "for", "from", "by", "open", "closed",
    "empty", "full", "up", "down", "out", "inside", "outside", "here", "see", "looking",
    "going", "flying", "parked", "lit", "on", "off", "round", "square", "old", "new",
};
static const char *const demo_answers[] = {
    "yes", "no", "0", "1", "2", "3", "4", "5", "6", "red", "blue", "green", "yellow",
    "white", "black", "brown", "gray", "orange", "pink", "dog", "cat", "horse", "cow",
    "sheep", "bird", "elephant", "giraffe", "zebra", "bear", "man", "woman", "boy", "girl",
    "car", "bus", "truck", "train", "plane", "boat", "bike", "tennis", "baseball", "soccer",
    "skiing", "surfing", "frisbee", "kite", "pizza", "cake", "banana", "kitchen",
    "bathroom", "bedroom", "living room", "street", "beach", "park", "field", "snow",
    "sunny", "cloudy", "day", "night", "wood", "metal", "plastic", "left", "right", "table",
    "bed", "couch", "sitting", "standing", "eating", "playing", "riding",
};
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic random numbers ------------------------------------------------ */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t xorshift(uint64_t *st) {
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 2685821657736338717ull;
}

/* Uniform in [-1, 1). */
static float unit(uint64_t *st) {
    return (float)((double)(xorshift(st) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* ---- the tensor list: LXMERT's schema (lib/schema.c) for the chosen shape ----------- */

typedef enum kind { K_MATRIX, K_BIAS, K_LN_WEIGHT, K_LN_BIAS, K_EMBED, K_CLASSIFIER } kind;

/* The config of shape s (features 2048-d, boxes 4-d, 1600 objects, 400 attributes). */
static lx_config shape_config(const shape *s, int heads) {
    lx_config c;
    lx_config_default(&c);
    c.vocab_size = s->vocab;
    c.hidden_size = s->hidden;
    c.num_attention_heads = s->heads;
    c.intermediate_size = s->inter;
    c.max_position_embeddings = s->positions;
    c.l_layers = s->l;
    c.x_layers = s->x;
    c.r_layers = s->r;
    c.num_qa_labels = (heads & HEAD_QA) ? s->labels : 0;
    c.visual_feat_dim = s->feat;
    return c;
}

/* Does the model carry entry e's group? */
static int wanted(const lx_schema_entry *e, int heads, int labels) {
    switch (e->group) {
    case LX_GROUP_BACKBONE: return 1;
    case LX_GROUP_QA: return (heads & HEAD_QA) && labels > 0;
    case LX_GROUP_TIED: return 0; /* HF's safetensors leave the tied decoder out */
    case LX_GROUP_SCALES: return 0; /* int8 storage is lx-convert's, never a checkpoint's */
    default: return (heads & HEAD_PRETRAIN) != 0;
    }
}

static kind kind_of(const lx_schema_entry *e) {
    switch (e->role) {
    case LX_ROLE_BIAS: return K_BIAS;
    case LX_ROLE_NORM_WEIGHT: return K_LN_WEIGHT;
    case LX_ROLE_NORM_BIAS: return K_LN_BIAS;
    case LX_ROLE_EMBEDDING: return K_EMBED;
    default: return strcmp(e->name, "answer_head.logit_fc.3.weight") ? K_MATRIX : K_CLASSIFIER;
    }
}

/* Standard deviations of the matrices and of the answer classifier (--std, --head-std). */
static float w_std = 0.02f, head_std = 0.5f;

static float value(kind k, uint64_t *st) {
    const float sd = 1.7320508f; /* uniform on [-a, a] has sd a / sqrt(3) */
    switch (k) {
    case K_MATRIX:
    case K_EMBED: return w_std * sd * unit(st);
    case K_CLASSIFIER: return head_std * sd * unit(st);
    case K_BIAS: return 0.02f * unit(st) + (unit(st) < 0 ? -0.005f : 0.005f);
    case K_LN_WEIGHT: return 1.0f + 0.1f * unit(st);
    case K_LN_BIAS: return 0.05f * unit(st);
    }
    return 0;
}

/* ---- writers -------------------------------------------------------------------------- */

static void die(const char *what, const char *path) {
    fprintf(stderr, "randmodel: %s: %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void write_json(const char *dir, const char *name, json_t *v) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (json_dump_file(v, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        die("cannot write", path);
    json_decref(v);
}

static void write_vocab(const char *dir, const shape *s, int demo) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write", path);
    int n = 0;
    if (demo) {
        static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
        for (size_t i = 0; i < NELEMS(special); i++, n++)
            fprintf(f, "%s\n", special[i]);
        static const char punct[] = "?.,!'-:;\"()/&";
        for (const char *c = punct; *c; c++, n++)
            fprintf(f, "%c\n", *c);
        for (char c = '0'; c <= '9'; c++, n += 2)
            fprintf(f, "%c\n##%c\n", c, c);
        for (char c = 'a'; c <= 'z'; c++, n += 2)
            fprintf(f, "%c\n##%c\n", c, c);
        /* whole words, skipping one-letter words (already there) and repeats */
        for (size_t i = 0; i < NELEMS(demo_words); i++) {
            int dup = strlen(demo_words[i]) == 1;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(demo_words[i], demo_words[j]) == 0;
            if (!dup) {
                fprintf(f, "%s\n", demo_words[i]);
                n++;
            }
        }
        static const char *const suffixes[] = {"##ing", "##ed", "##er", "##ly"};
        for (size_t i = 0; i < NELEMS(suffixes); i++, n++)
            fprintf(f, "%s\n", suffixes[i]);
    } else {
        /* BERT's layout: [PAD], [unused0..98], [UNK], [CLS], [SEP], [MASK], then tokens;
         * synthetic "tokN" / "##tokN" fill it to the requested size. */
        fprintf(f, "[PAD]\n");
        n = 1;
        for (; n < 100 && n < s->vocab; n++)
            fprintf(f, "[unused%d]\n", n - 1);
        static const char *const special[] = {"[UNK]", "[CLS]", "[SEP]", "[MASK]"};
        for (size_t i = 0; i < NELEMS(special) && n < s->vocab; i++, n++)
            fprintf(f, "%s\n", special[i]);
        for (char c = 'a'; c <= 'z' && n < s->vocab; c++, n++)
            fprintf(f, "%c\n", c);
        for (size_t i = 0; i < NELEMS(demo_words) && n < s->vocab; i++) {
            int dup = strlen(demo_words[i]) == 1;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(demo_words[i], demo_words[j]) == 0;
            if (!dup) {
                fprintf(f, "%s\n", demo_words[i]);
                n++;
            }
        }
        for (int k = 0; n < s->vocab; k++, n++)
            fprintf(f, k % 2 ? "##tok%d\n" : "tok%d\n", k / 2);
    }
    if (fclose(f) != 0)
        die("cannot write", path);
    if (n != s->vocab) {
        fprintf(stderr, "randmodel: internal error: wrote %d vocab entries, expected %d\n", n,
                s->vocab);
        exit(1);
    }
}

/* The demo vocabulary's size (what write_vocab writes with demo = 1). */
static int demo_vocab_size(void) {
    int n = 5 + 13 + 20 + 52 + 4;
    for (size_t i = 0; i < NELEMS(demo_words); i++) {
        int dup = strlen(demo_words[i]) == 1;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(demo_words[i], demo_words[j]) == 0;
        n += !dup;
    }
    return n;
}

static json_t *labels_json(const shape *s, int demo) {
    json_t *a = json_array();
    for (int i = 0; i < s->labels; i++) {
        char b[32];
        if (demo && (size_t)i < NELEMS(demo_answers)) {
            json_array_append_new(a, json_string(demo_answers[i]));
        } else {
            snprintf(b, sizeof b, "answer%d", i);
            json_array_append_new(a, json_string(b));
        }
    }
    return a;
}

static json_t *config_json(const shape *s, int heads) {
    json_t *c = json_object();
    json_object_set_new(c, "vocab_size", json_integer(s->vocab));
    json_object_set_new(c, "hidden_size", json_integer(s->hidden));
    json_object_set_new(c, "num_attention_heads", json_integer(s->heads));
    json_object_set_new(c, "num_qa_labels", json_integer((heads & HEAD_QA) ? s->labels : 0));
    json_object_set_new(c, "num_object_labels", json_integer(1600));
    json_object_set_new(c, "num_attr_labels", json_integer(400));
    json_object_set_new(c, "intermediate_size", json_integer(s->inter));
    json_object_set_new(c, "hidden_act", json_string("gelu"));
    json_object_set_new(c, "max_position_embeddings", json_integer(s->positions));
    json_object_set_new(c, "type_vocab_size", json_integer(2));
    json_object_set_new(c, "initializer_range", json_real(0.02));
    json_object_set_new(c, "layer_norm_eps", json_real(1e-12));
    json_object_set_new(c, "l_layers", json_integer(s->l));
    json_object_set_new(c, "x_layers", json_integer(s->x));
    json_object_set_new(c, "r_layers", json_integer(s->r));
    json_object_set_new(c, "visual_feat_dim", json_integer(s->feat));
    json_object_set_new(c, "visual_pos_dim", json_integer(4));
    json_object_set_new(c, "model_type", json_string("lxmert"));
    json_t *arch = json_array();
    json_array_append_new(arch, json_string((heads & HEAD_PRETRAIN) ? "LxmertForPreTraining"
                                                                     : "LxmertForQuestionAnswering"));
    json_object_set_new(c, "architectures", arch);
    return c;
}

static void write_safetensors(const char *dir, const lx_schema *L, int heads, int labels,
                              uint64_t seed) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    json_t *h = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(h, "__metadata__", meta);
    uint64_t off = 0;
    for (size_t i = 0; i < L->n; i++) {
        const lx_schema_entry *t = &L->v[i];
        if (!wanted(t, heads, labels)) continue;
        json_t *e = json_object(), *shp = json_array(), *offs = json_array();
        uint64_t n = (uint64_t)t->shape[0] * (t->ndim == 2 ? (uint64_t)t->shape[1] : 1);
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shp, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + 4 * n)));
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", shp);
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(h, t->name, e);
        off += 4 * n;
    }
    char *hs = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t hl = strlen(hs), pad = (8 - hl % 8) % 8; /* keep the data 8-byte aligned */
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write", path);
    uint64_t total = hl + pad;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(total >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hs, 1, hl, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    free(hs);
    enum { CHUNK = 1 << 16 };
    static float buf[CHUNK];
    for (size_t i = 0; i < L->n; i++) {
        const lx_schema_entry *t = &L->v[i];
        if (!wanted(t, heads, labels)) continue;
        uint64_t n = (uint64_t)t->shape[0] * (t->ndim == 2 ? (uint64_t)t->shape[1] : 1);
        uint64_t st = (fnv1a(t->name) ^ (seed * 0x9E3779B97F4A7C15ull)) | 1;
        for (int w = 0; w < 4; w++) /* decorrelate nearby seeds */
            xorshift(&st);
        while (n > 0) {
            size_t m = n < CHUNK ? (size_t)n : CHUNK;
            for (size_t j = 0; j < m; j++)
                buf[j] = value(kind_of(t), &st); /* little-endian hosts only (x86-64, arm64) */
            if (fwrite(buf, sizeof(float), m, f) != m)
                die("cannot write", path);
            n -= m;
        }
    }
    if (fclose(f) != 0)
        die("cannot write", path);
}

/* ---- the detector ---------------------------------------------------------------------- */

/* --preset detector: the bottom-up-attention Faster R-CNN of HF's frcnn-vg-finetuned, in
 * its tensor names (the library's detector schema, lib/schema_frcnn.c), small: one
 * bottleneck block per stage, widths 8 / 16 / 32 / 64 up to res4, and res5 as wide as
 * --feat-dim (2048 by default, so that its region features fit an LXMERT model of
 * LXMERT's feature size), 12 anchors, the class and attribute names below.  Test time:
 * pictures resized to 240..400 pixels, 300 / 32 proposals, 10 to 20 regions.
 *
 * Weights.  Each convolution is He-initialised (uniform, standard deviation
 * sqrt(2 / fan_in)), so that a unit-variance input gives an output of variance about 2 x
 * the input's mean square, which its BatchNorm's running variance states: about 2 x 60^2
 * for the stem (pixels minus the mean), about 1 after a ReLU; running means are near 0.
 * Each normalised output is then about unit-sized; the last BatchNorm of every block has
 * gamma about 0.3, so the residual sums stay bounded, as in trained ResNets.  The heads
 * are scaled so that the RPN's logits spread over a few units, box deltas stay small
 * (proposals near their anchors) and class logits differ between regions. */
static const char *const det_objects[] = {
    "sky", "ground", "grass", "sun", "ball", "circle", "square", "box", "triangle",
    "roof", "tree", "house", "car", "dog", "cat", "person", "sign", "kite", "window",
    "door", "table", "cup", "plate", "boat", "bird", "cloud", "hill", "road", "wall",
    "flower",
};
static const char *const det_attrs[] = {
    "red", "blue", "yellow", "white", "black", "orange", "purple", "brown", "green",
    "round", "square", "small", "large", "bright",
};

static lx_detector_config detector_config(int feat) {
    lx_detector_config c;
    lx_detector_config_default(&c);
    c.stem_channels = 8;
    for (int k = 0; k < 4; k++) c.blocks[k] = 1;
    int bottleneck[4] = {4, 8, 16, 32}, channels[4] = {16, 32, 64, feat};
    memcpy(c.bottleneck, bottleneck, sizeof bottleneck);
    memcpy(c.channels, channels, sizeof channels);
    c.rpn_hidden = 32;
    c.num_anchors = 12;
    c.num_classes = (int)NELEMS(det_objects);
    c.num_attrs = (int)NELEMS(det_attrs);
    c.cls_embed_dim = 16;
    c.attr_hidden = 32;
    c.min_size = 240;
    c.max_size = 400;
    c.pre_nms_topk = 300;
    c.post_nms_topk = 32;
    c.min_detections = 10;
    c.max_detections = 20;
    return c;
}

/* Entry e's values into v[n] (random ones from the stream st). */
static void detector_values(const lx_schema_entry *e, float *v, size_t n, uint64_t *st) {
    const float sq3 = 1.7320508f;   /* uniform on [-a, a] has sd a / sqrt(3) */
    int64_t fan_in = e->ndim > 1 ? e->shape[1] : 1;
    for (int d = 2; d < e->ndim; d++) fan_in *= e->shape[d];
    float he = sqrtf(2.0f / (float)fan_in), sd = 1.0f / sqrtf((float)fan_in);
    int stem = strncmp(e->name, "backbone.stem.", 14) == 0;
    int last_bn = strstr(e->name, ".conv3.norm.") != NULL;
    switch (e->role) {
    case LX_ROLE_CONV:
        if (strstr(e->name, "objectness_logits")) sd *= 3.0f;        /* logits over a few units */
        else if (strstr(e->name, "anchor_deltas")) sd *= 0.1f;       /* proposals near anchors */
        else sd = he;
        for (size_t i = 0; i < n; i++) v[i] = sd * sq3 * unit(st);
        return;
    case LX_ROLE_MATRIX: {
        /* the classifiers read non-negative inputs (means of ReLU maps): rows of mean 0,
         * or the part every input shares would pick one class for every region */
        int centre = strstr(e->name, "cls_score") || strstr(e->name, "attr_score");
        if (centre) sd *= 6.0f;
        else if (strstr(e->name, "bbox_pred")) sd *= 0.5f;
        else sd = he;
        for (size_t i = 0; i < n; i++) v[i] = sd * sq3 * unit(st);
        for (size_t r = 0; centre && r < (size_t)e->shape[0]; r++) {
            size_t m = (size_t)e->shape[1];
            double mean = 0;
            for (size_t j = 0; j < m; j++) mean += v[r * m + j];
            for (size_t j = 0; j < m; j++) v[r * m + j] -= (float)(mean / (double)m);
        }
        return;
    }
    case LX_ROLE_EMBEDDING:
        for (size_t i = 0; i < n; i++) v[i] = sq3 * unit(st);
        return;
    case LX_ROLE_BIAS:
        for (size_t i = 0; i < n; i++) v[i] = 0.02f * unit(st);
        return;
    case LX_ROLE_NORM_WEIGHT:
        for (size_t i = 0; i < n; i++) v[i] = (last_bn ? 0.3f : 1.0f) + 0.05f * unit(st);
        return;
    case LX_ROLE_NORM_BIAS:
        for (size_t i = 0; i < n; i++) v[i] = 0.05f * unit(st);
        return;
    case LX_ROLE_NORM_MEAN:
        for (size_t i = 0; i < n; i++) v[i] = (stem ? 5.0f : 0.05f) * unit(st);
        return;
    case LX_ROLE_NORM_VAR:
        for (size_t i = 0; i < n; i++) v[i] = (stem ? 7200.0f : 1.0f) * (1.0f + 0.2f * unit(st));
        return;
    case LX_ROLE_ANCHORS: {
        /* detectron's cell anchors: sizes 32..256 (outer) x aspect ratios 0.5, 1, 2,
         * centred on 0 */
        static const float sizes[4] = {32, 64, 128, 256}, ratios[3] = {0.5f, 1, 2};
        for (size_t a = 0; a < n / 4; a++) {
            float area = sizes[(a / 3) % 4] * sizes[(a / 3) % 4], r = ratios[a % 3];
            float w = sqrtf(area / r), h = r * w;
            v[4 * a] = -w / 2, v[4 * a + 1] = -h / 2, v[4 * a + 2] = w / 2, v[4 * a + 3] = h / 2;
        }
        return;
    }
    default:
        for (size_t i = 0; i < n; i++) v[i] = 0;
    }
}

static void write_lines(const char *dir, const char *name, const char *const *s, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write", path);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", s[i]);
    if (fclose(f) != 0) die("cannot write", path);
}

/* config.yaml in the HF hub's layout (the sections lx-convert reads; HF's own code
 * builds its ResNet from resnets.depth and cannot build one block per stage). */
static void write_detector_yaml(const char *dir, const lx_detector_config *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write", path);
    fprintf(f,
            "# a random bottom-up-attention Faster R-CNN written by lx's randmodel: one\n"
            "# bottleneck block per stage, res5 %d wide\n"
            "model:\n"
            "  pixel_mean: [%.10g, %.10g, %.10g]\n"
            "  pixel_std: [1.0, 1.0, 1.0]\n"
            "input: {min_size_test: %d, max_size_test: %d, format: BGR}\n"
            "anchor_generator:\n"
            "  sizes:\n"
            "  - [32, 64, 128, 256]\n"
            "  aspect_ratios:\n"
            "  - [0.5, 1.0, 2.0]\n"
            "rpn:\n"
            "  pre_nms_topk_test: %d\n"
            "  post_nms_topk_test: %d\n"
            "  nms_thresh: %g\n"
            "  bbox_reg_weights: [1.0, 1.0, 1.0, 1.0]\n"
            "roi_heads:\n"
            "  num_classes: %d\n"
            "  score_thresh_test: 0.2\n"
            "  nms_thresh_test: [0.5, 0.6, 0.7]\n"
            "roi_box_head:\n"
            "  bbox_reg_weights: [10.0, 10.0, 5.0, 5.0]\n"
            "  pooler_resolution: %d\n"
            "  num_attrs: %d\n"
            "resnets:\n"
            "  stem_out_channels: %d\n"
            "  res2_out_channels: %d\n"
            "min_detections: %d\n"
            "max_detections: %d\n",
            c->channels[3], c->pixel_mean[0], c->pixel_mean[1], c->pixel_mean[2], c->min_size,
            c->max_size, c->pre_nms_topk, c->post_nms_topk, c->rpn_nms_thresh, c->num_classes,
            c->pooler_resolution, c->num_attrs, c->stem_channels, c->channels[0],
            c->min_detections, c->max_detections);
    if (fclose(f) != 0) die("cannot write", path);
}

static int write_detector(const char *dir, int feat, uint64_t seed) {
    lx_detector_config c = detector_config(feat);
    lx_schema L;
    lx_error err = {0};
    if (lx_detector_config_check(&c, &err) < 0 || lx_schema_build_detector(&L, &c, &err) < 0) {
        fprintf(stderr, "randmodel: %s\n", err.msg);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char **names = calloc(L.n, sizeof *names);
    lx_tensor *ts = calloc(L.n, sizeof *ts);
    const lx_tensor **tp = calloc(L.n, sizeof *tp);
    if (!names || !ts || !tp) die("out of memory for", path);
    for (size_t i = 0; i < L.n; i++) {
        const lx_schema_entry *e = &L.v[i];
        if (lx_tensor_alloc(&ts[i], LX_F32, e->ndim, e->shape, &err) < 0) die(err.msg, path);
        uint64_t st = (fnv1a(e->name) ^ (seed * 0x9E3779B97F4A7C15ull)) | 1;
        for (int w = 0; w < 4; w++) xorshift(&st);
        detector_values(e, ts[i].data, (size_t)lx_tensor_nelem(&ts[i]), &st);
        names[i] = e->name;
        tp[i] = &ts[i];
    }
    if (lx_safetensors_write(path, names, tp, L.n, NULL, &err) < 0) {
        fprintf(stderr, "randmodel: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < L.n; i++) lx_tensor_free(&ts[i]);
    free(names), free(ts), free(tp);
    lx_schema_free(&L);
    write_detector_yaml(dir, &c);
    write_lines(dir, "objects_vocab.txt", det_objects, NELEMS(det_objects));
    write_lines(dir, "attributes_vocab.txt", det_attrs, NELEMS(det_attrs));
    return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fputs("Usage: randmodel --preset base|tiny|demo|detector [OPTION]... -o DIR\n"
          "Write an LXMERT model folder (config.json, vocab.txt, label2ans.json,\n"
          "model.safetensors in f32) with deterministic random weights; or, with\n"
          "--preset detector, a small bottom-up-attention Faster R-CNN folder (config.yaml,\n"
          "model.safetensors, objects_vocab.txt, attributes_vocab.txt).\n"
          "\n"
          "  -p, --preset NAME        base (LXMERT's shape), tiny (the fixtures' shape),\n"
          "                           demo (small, own vocabulary and answers) or\n"
          "                           detector\n"
          "      --heads LIST         qa, pretrain or qa,pretrain (default qa)\n"
          "      --labels N           answers of the QA head (default: the preset's)\n"
          "      --hidden N, --attention-heads N, --intermediate N, --positions N,\n"
          "      --vocab N, --layers L,X,R      override the preset's shape\n"
          "      --feat-dim N         the region feature size: LXMERT's visual_feat_dim, the\n"
          "                           detector's res5 width (default 2048)\n"
          "      --std X, --head-std X  standard deviation of the weight matrices (default\n"
          "                           0.02; demo 0.3) and of the answer classifier (0.5;\n"
          "                           demo 0.15)\n"
          "  -s, --seed S             random seed (default 1)\n"
          "  -o, --output DIR         the folder to write (created if missing)\n"
          "  -h, --help\n",
          f);
}

static long num(const char *opt, const char *s, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "randmodel: %s: got '%s', expected an integer in [%ld, %ld]\n", opt,
                s, min, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"preset", required_argument, 0, 'p'},  {"heads", required_argument, 0, 'H'},
        {"labels", required_argument, 0, 'n'},  {"hidden", required_argument, 0, 1},
        {"attention-heads", required_argument, 0, 2},
        {"intermediate", required_argument, 0, 3},
        {"positions", required_argument, 0, 4}, {"vocab", required_argument, 0, 5},
        {"layers", required_argument, 0, 6},    {"seed", required_argument, 0, 's'},
        {"output", required_argument, 0, 'o'},  {"help", no_argument, 0, 'h'},
        {"std", required_argument, 0, 7},       {"head-std", required_argument, 0, 8},
        {"feat-dim", required_argument, 0, 9},
        {0, 0, 0, 0}};
    const char *preset = NULL, *out = NULL, *heads_arg = "qa";
    long ov[7] = {-1, -1, -1, -1, -1, -1, -1}; /* hidden heads inter positions vocab labels */
    int ol = -1, ox = -1, orr = -1;
    long feat = 2048;
    uint64_t seed = 1;
    double std_arg = -1, head_std_arg = -1;
    int c;
    while ((c = getopt_long(argc, argv, "p:s:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': preset = optarg; break;
        case 'H': heads_arg = optarg; break;
        case 'n': ov[5] = num("--labels", optarg, 0, 1000000); break;
        case 1: ov[0] = num("--hidden", optarg, 1, 65536); break;
        case 2: ov[1] = num("--attention-heads", optarg, 1, 1024); break;
        case 3: ov[2] = num("--intermediate", optarg, 1, 1 << 20); break;
        case 4: ov[3] = num("--positions", optarg, 1, 1 << 20); break;
        case 5: ov[4] = num("--vocab", optarg, 110, 1 << 22); break;
        case 6:
            if (sscanf(optarg, "%d,%d,%d", &ol, &ox, &orr) != 3 || ol < 0 || ox < 0 ||
                orr < 0 || ol > 64 || ox > 64 || orr > 64) {
                fprintf(stderr, "randmodel: --layers: got '%s', expected L,X,R\n", optarg);
                return 2;
            }
            break;
        case 7:
        case 8: {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v > 0 && v < 100)) {
                fprintf(stderr, "randmodel: %s: got '%s', expected a number in (0, 100)\n",
                        c == 7 ? "--std" : "--head-std", optarg);
                return 2;
            }
            *(c == 7 ? &std_arg : &head_std_arg) = v;
            break;
        }
        case 9: feat = num("--feat-dim", optarg, 1, 1 << 16); break;
        case 's': seed = (uint64_t)num("--seed", optarg, 0, 0x7fffffffL); break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!preset || !out || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(preset, "detector") == 0) {
        if (mkdir(out, 0777) != 0 && errno != EEXIST) die("cannot create", out);
        return write_detector(out, (int)feat, seed);
    }
    shape s;
    int demo = 0;
    if (strcmp(preset, "base") == 0) {
        s = (shape){768, 12, 3072, 9, 5, 5, 512, 30522, 3129, 2048};
    } else if (strcmp(preset, "tiny") == 0) {
        s = (shape){48, 4, 80, 2, 2, 1, 64, 30522, 3129, 2048};
    } else if (strcmp(preset, "demo") == 0) {
        s = (shape){64, 4, 128, 2, 2, 1, 64, demo_vocab_size(), (int)NELEMS(demo_answers), 2048};
        demo = 1;
        /* larger weights than BERT's initialisation, so that the answers of a random
         * model depend visibly on the question and the image */
        w_std = 0.3f;
        head_std = 0.15f;
    } else {
        fprintf(stderr, "randmodel: --preset: got '%s', expected base, tiny, demo or detector\n",
                preset);
        return 2;
    }
    if (std_arg > 0) w_std = (float)std_arg;
    if (head_std_arg > 0) head_std = (float)head_std_arg;
    if (ov[0] > 0) s.hidden = (int)ov[0];
    if (ov[1] > 0) s.heads = (int)ov[1];
    if (ov[2] > 0) s.inter = (int)ov[2];
    if (ov[3] > 0) s.positions = (int)ov[3];
    if (ov[4] > 0) {
        if (demo) {
            fprintf(stderr, "randmodel: --vocab: the demo preset has its own vocabulary\n");
            return 2;
        }
        s.vocab = (int)ov[4];
    }
    if (ov[5] >= 0) s.labels = (int)ov[5];
    s.feat = (int)feat;
    if (ol >= 0) {
        s.l = ol;
        s.x = ox;
        s.r = orr;
    }
    if (s.hidden % s.heads != 0) {
        fprintf(stderr, "randmodel: hidden %d is not divisible by %d heads\n", s.hidden,
                s.heads);
        return 2;
    }
    int heads = 0;
    char *hl = strdup(heads_arg), *save = NULL;
    for (char *tok = strtok_r(hl, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "qa") == 0) {
            heads |= HEAD_QA;
        } else if (strcmp(tok, "pretrain") == 0) {
            heads |= HEAD_PRETRAIN;
        } else {
            fprintf(stderr, "randmodel: --heads: got '%s', expected qa or pretrain\n", tok);
            return 2;
        }
    }
    free(hl);
    if (!(heads & HEAD_QA))
        s.labels = 0;

    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        die("cannot create", out);
    lx_config cfg = shape_config(&s, heads);
    lx_schema L;
    lx_error err = {0};
    if (lx_config_check(&cfg, &err) < 0 || lx_schema_build(&L, &cfg, &err) < 0) {
        fprintf(stderr, "randmodel: %s\n", err.msg);
        return 2;
    }
    write_json(out, "config.json", config_json(&s, heads));
    write_vocab(out, &s, demo);
    if (s.labels > 0)
        write_json(out, "label2ans.json", labels_json(&s, demo));
    write_safetensors(out, &L, heads, s.labels, seed);
    lx_schema_free(&L);
    return 0;
}
