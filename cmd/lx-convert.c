/*
 * lx-convert — LXMERT and detector (Faster R-CNN) checkpoints into the one native model
 * file (.lxm), inspection of .lxm files, and (with no SRC) a record-stream converter
 * between JSON lines and binary frames.
 *
 * A thin main on the cli skeleton (cmd/common/cli.h): the library reads the checkpoint,
 * tells its kind and checks it against that kind's schema (lx_checkpoint_load), writes
 * the .lxm (lx_model_write) and opens it again (lx_model_open) for --info, --verify and
 * --export-safetensors.  A .lxm can also be a source (to change its stored dtype).
 * Stream conversion is the skeleton's record loop with no callback.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "lx.h"

typedef struct opts {
    const char *src;              /* SRC: checkpoint file, HF folder or .lxm (none: stream) */
    const char *output;           /* -o: the .lxm to write (none: do not write one) */
    const char *vocab;            /* --vocab (default: vocab.txt beside the checkpoint) */
    const char *labels;           /* --labels (default: label2ans.json beside, if any) */
    const char *objects;          /* --objects: the detector's class names (default: none) */
    const char *attributes;       /* --attributes: its attribute names (default: none) */
    const char *config;           /* --config (default: config.json, for the detector
                                     config.yaml, beside; else the published defaults) */
    const char *dtype;            /* --dtype: f32 (default), f16, bf16 or int8 */
    int clamp;                    /* --clamp-overflow: weights beyond --dtype's range are
                                     stored as its largest value (default: an error) */
    int ignore_unknown;           /* --ignore-unknown: drop tensors that are not LXMERT's */
    int info;                     /* --info: describe the model */
    int verify;                   /* --verify: check every tensor's CRC-32 */
    const char *export_st;        /* --export-safetensors FILE */
} opts;

enum {
    O_VOCAB = CLI_OWN, O_LABELS, O_OBJECTS, O_ATTRIBUTES, O_CONFIG, O_DTYPE, O_IGNORE, O_INFO,
    O_VERIFY, O_EXPORT, O_CLAMP
};

static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"vocab", required_argument, NULL, O_VOCAB},
    {"labels", required_argument, NULL, O_LABELS},
    {"objects", required_argument, NULL, O_OBJECTS},
    {"attributes", required_argument, NULL, O_ATTRIBUTES},
    {"config", required_argument, NULL, O_CONFIG},
    {"dtype", required_argument, NULL, O_DTYPE},
    {"clamp-overflow", no_argument, NULL, O_CLAMP},
    {"ignore-unknown", no_argument, NULL, O_IGNORE},
    {"info", no_argument, NULL, O_INFO},
    {"verify", no_argument, NULL, O_VERIFY},
    {"export-safetensors", required_argument, NULL, O_EXPORT},
    {NULL, 0, NULL, 0},
};

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    switch (ch) {
    case 'o': o->output = arg; break;
    case O_VOCAB: o->vocab = arg; break;
    case O_LABELS: o->labels = arg; break;
    case O_OBJECTS: o->objects = arg; break;
    case O_ATTRIBUTES: o->attributes = arg; break;
    case O_CONFIG: o->config = arg; break;
    case O_DTYPE: o->dtype = arg; break;
    case O_CLAMP: o->clamp = 1; break;
    case O_IGNORE: o->ignore_unknown = 1; break;
    case O_INFO: o->info = 1; break;
    case O_VERIFY: o->verify = 1; break;
    case O_EXPORT: o->export_st = arg; break;
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-convert",
    .about =
        "Usage: lx-convert [OPTION]... SRC -o MODEL.lxm\n"
        "       lx-convert --info|--verify|--export-safetensors FILE [MODEL.lxm]\n"
        "       lx-convert [-f json|bin] < STREAM > STREAM\n"
        "Convert an LXMERT checkpoint, or the detector (Faster R-CNN) that makes its image\n"
        "features, into an lx model file (.lxm, see lxm(5)).\n"
        "\n"
        "SRC is a HuggingFace model folder (config.json, vocab.txt and model.safetensors,\n"
        "sharded model.safetensors.index.json, or pytorch_model.bin), a checkpoint file\n"
        "(.safetensors, .bin, .pth, .pt; the original LXMERT model_LXRT.pth and BEST.pth\n"
        "too), or a .lxm file (to store it again, e.g. with another --dtype).  In a folder,\n"
        "safetensors are read before .bin; tf_model.h5 is not read.  Every head the\n"
        "checkpoint carries is kept; tensor names become HF LxmertFor... names.\n"
        "\n"
        "The detector is the bottom-up-attention Faster R-CNN as HF publishes it\n"
        "(unc-nlp/frcnn-vg-finetuned: config.yaml and pytorch_model.bin), known by its\n"
        "tensors: its architecture is read from their shapes, its test-time parameters\n"
        "from config.yaml.\n"
        "\n"
        "With no SRC and no inspection option, records are read from standard input and\n"
        "written in the other encoding, JSON lines <-> binary frames (-f chooses; --skip-bad\n"
        "goes on past a bad JSON record).\n",
    .options =
        "Conversion:\n"
        "  -o, --output FILE     the .lxm to write (written whole, then renamed into place)\n"
        "      --config FILE     LXMERT: an HF config.json (default: config.json beside SRC,\n"
        "                        else LXMERT-base: 768 hidden, 12 heads, 9/5/5 layers);\n"
        "                        the detector: its config.yaml (default: config.yaml beside\n"
        "                        SRC, else the published model's).  With a .lxm source,\n"
        "                        read over the model's own config\n"
        "      --vocab FILE      LXMERT: the WordPiece vocab.txt (default: vocab.txt beside\n"
        "                        SRC)\n"
        "      --labels FILE     LXMERT: the answers, a JSON array (label2ans) or an answer\n"
        "                        -> label object (ans2label); default: label2ans.json beside\n"
        "                        SRC\n"
        "      --objects FILE    the detector: its object class names, one a line\n"
        "                        (objects_vocab.txt), as many as it has classes\n"
        "      --attributes FILE the detector: its attribute names, one a line\n"
        "                        (attributes_vocab.txt), as many as it has attributes\n"
        "      --dtype TYPE      store matrices and convolutions as f32 (default), f16 or\n"
        "                        bf16; vectors (biases, norms) and anchor boxes stay f32.\n"
        "                        int8 (LXMERT): the encoder layers' Linear weights in int8\n"
        "                        with a scale per output row, all else f32; their products\n"
        "                        quantize their inputs per row at run time (lxm(5)).\n"
        "                        A weight that is not finite is refused, and so is one\n"
        "                        beyond TYPE's range (f16: 65504; int8 holds any finite\n"
        "                        weight, its row's scale takes the range)\n"
        "      --clamp-overflow  store a weight beyond --dtype's range as its largest value\n"
        "                        (f16: +-65504), with a warning per tensor\n"
        "      --ignore-unknown  drop tensors that are not the network's instead of failing\n"
        "\n"
        "Inspection (of MODEL.lxm, -m, $LX_MODEL, or the file just written):\n"
        "      --info            print the kind, the config (the detector's architecture and\n"
        "                        test-time parameters), the vocabulary and label counts (the\n"
        "                        detector's object and attribute names), every tensor with\n"
        "                        dtype and shape, and the total size\n"
        "      --verify          check every tensor's CRC-32\n"
        "      --export-safetensors FILE\n"
        "                        write the weights as safetensors with HF names (from SRC\n"
        "                        itself when it is a checkpoint and no -o is given)\n",
    .examples =
        "Examples:\n"
        "  lx-convert lxmert-vqa-uncased --labels trainval_label2ans.json -o vqa.lxm\n"
        "  lx-convert snap/pretrained/model_LXRT.pth --vocab vocab.txt -o lxmert.lxm\n"
        "  lx-convert frcnn-vg-finetuned --objects objects_vocab.txt \\\n"
        "      --attributes attributes_vocab.txt -o frcnn.lxm\n"
        "  lx-convert --info vqa.lxm\n"
        "  lx-convert vqa.lxm --export-safetensors vqa.safetensors\n"
        "  lx-encode -m vqa.lxm < in.jsonl | lx-convert > out.jsonl   # frames to JSON\n",
    .flags = CLI_MODEL | CLI_RECORDS,
    .format = LX_FMT_AUTO,
    .model_help = "the .lxm to inspect when no SRC is given\n"
                  "                        (default: $LX_MODEL)",
    .threads_help = "accepted for uniformity; conversion is bound by memory and\n"
                    "                        disk, and uses one thread",
    .progress_help = "the time each step took (in stream conversion: a progress\n"
                     "                        line and a record count)",
    .shortopts = "o:",
    .longopts = longopts,
    .option = option,
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- inspection ------------------------------------------------------------------ */

/* A config value as --info prints it: reals in the fewest digits that read back. */
static void print_value(const json_t *v) {
    if (json_is_integer(v)) {
        printf("%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        char b[32];
        for (int p = 6; p <= 17; p++) /* %g, or as many digits as it takes */
            if (snprintf(b, sizeof b, "%.*g", p, json_real_value(v)) > 0 &&
                strtod(b, NULL) == json_real_value(v))
                break;
        fputs(b, stdout);
    } else if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", stdout);
    } else if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            fputs(i ? ", " : "[", stdout);
            print_value(json_array_get(v, i));
        }
        fputs(json_array_size(v) ? "]" : "[]", stdout);
    }
}

/* The detector's architecture: the fields read from the tensors. */
static const char *const arch_fields[] = {
    "stem_channels", "blocks", "bottleneck", "channels", "rpn_hidden", "num_anchors",
    "num_classes", "num_attrs", "cls_embed_dim", "attr_hidden", NULL,
};

static int is_arch(const char *key) {
    for (size_t i = 0; arch_fields[i]; i++)
        if (strcmp(key, arch_fields[i]) == 0) return 1;
    return 0;
}

/* The fields of config cj (steals it), one a line; which < 0: all, else those whose
 * is_arch() is which. */
static void print_fields(json_t *cj, int which) {
    const char *k;
    json_t *v;
    json_object_foreach(cj, k, v) {
        if (which >= 0 && is_arch(k) != which) continue;
        printf("  %-24s ", k);
        print_value(v);
        putchar('\n');
    }
    json_decref(cj);
}

static void print_lxmert(const lx_model *m) {
    printf("config\n");
    print_fields(lx_config_to_json(lx_model_config(m)), -1);
    printf("vocab     %zu tokens\n", lx_model_vocab_size(m));
    printf("labels    %zu answers\n", lx_model_nlabels(m));
}

static void print_detector(const lx_model *m) {
    const lx_detector_config *dc = lx_model_detector_config(m);
    size_t no, na;
    printf("architecture\n");
    print_fields(lx_detector_config_to_json(dc), 1);
    printf("test time\n");
    print_fields(lx_detector_config_to_json(dc), 0);
    lx_model_names(m, LX_TABLE_OBJECTS, &no);
    lx_model_names(m, LX_TABLE_ATTRIBUTES, &na);
    printf("objects   %zu names\n", no);
    printf("attributes %zu names\n", na);
}

static void print_info(const char *path, const lx_model *m) {
    int det = lx_model_kind_of(m) == LX_MODEL_DETECTOR;
    printf("file      %s\n", path);
    printf("kind      %s\n", det ? "detector (Faster R-CNN)" : "LXMERT");
    printf("size      %llu bytes\n", (unsigned long long)lx_model_file_size(m));
    if (det) print_detector(m);
    else print_lxmert(m);
    size_t n = lx_model_ntensors(m);
    printf("tensors   %zu\n", n);
    uint64_t bytes = 0, params = 0;
    for (size_t i = 0; i < n; i++) {
        const lx_tensor *t = lx_model_tensor_at(m, i);
        char sh[128];
        printf("  %-66s %-4s %s\n", lx_model_tensor_name(m, i), lx_dtype_name(t->dtype),
               lx_tensor_shape_str(t, sh, sizeof sh));
        bytes += (uint64_t)lx_tensor_nbytes(t);
        params += (uint64_t)lx_tensor_nelem(t);
    }
    for (size_t i = 0; i < lx_model_naliases(m); i++) {
        const char *target;
        const char *a = lx_model_alias(m, i, &target);
        printf("  %-66s tied to %s\n", a, target);
    }
    printf("total     %llu parameters, %llu bytes of tensor data (%.1f MB)\n",
           (unsigned long long)params, (unsigned long long)bytes, bytes / 1e6);
}

/* The tensors of an open model (m) or of a checkpoint (d), in their order, as one
 * safetensors file. */
static int export_st(const lx_model *m, const lx_tensor_dict *d, const char *out,
                     lx_error *err) {
    size_t n = m ? lx_model_ntensors(m) : d->n;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    const lx_tensor **ts = malloc((n ? n : 1) * sizeof *ts);
    int rc = names && ts ? 0 : lx_error_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        names[i] = m ? lx_model_tensor_name(m, i) : d->items[i].name;
        ts[i] = m ? lx_model_tensor_at(m, i) : &d->items[i].t;
    }
    if (rc == 0) rc = lx_safetensors_write(out, names, ts, n, NULL, err);
    free(names);
    free(ts);
    return rc;
}

static int inspect(lx_cli *c, const opts *o, const char *path) {
    lx_error err = {0};
    double t0 = now();
    lx_model *m = lx_model_open(path, &err);
    if (!m) return cli_error(c, "%s", err.msg);
    if (c->progress) cli_note(c, "opened %s in %.2f ms", path, (now() - t0) * 1e3);
    int status = LX_EXIT_OK;
    if (o->info) print_info(path, m);
    if (o->verify) {
        t0 = now();
        if (lx_model_verify(m, &err) < 0) status = cli_error(c, "%s: %s", path, err.msg);
        else if (c->progress || !o->info)
            cli_note(c, "%s: %zu tensors verified in %.2f s", path, lx_model_ntensors(m),
                     now() - t0);
    }
    if (status == LX_EXIT_OK && o->export_st && export_st(m, NULL, o->export_st, &err) < 0)
        status = cli_error(c, "%s", err.msg);
    lx_model_close(m);
    return status;
}

/* ---- conversion ------------------------------------------------------------------ */

/* The config the conversion goes on without (said also when it then fails). */
static void warn_config(lx_cli *c, const opts *o, const lx_checkpoint *ck) {
    if (!(ck->notes & LX_CHECKPOINT_NO_CONFIG)) return;
    if (ck->kind == LX_MODEL_DETECTOR)
        cli_warn(c, "no config.yaml beside %s: using the published frcnn-vg-finetuned "
                    "test-time parameters", o->src);
    else
        cli_warn(c, "no config.json beside %s: using the LXMERT-base config", o->src);
}

/* What the model written will lack: the vocabulary, the names. */
static void warn_lacks(lx_cli *c, const opts *o, const lx_checkpoint *ck) {
    int det = ck->kind == LX_MODEL_DETECTOR;
    if (!det && (ck->notes & LX_CHECKPOINT_NO_VOCAB))
        cli_warn(c, "no vocab.txt beside %s: the model will have no vocabulary (give --vocab)",
                 o->src);
    if (det && !ck->objects.n)
        cli_warn(c, "no --objects: the model will have no object class names");
    if (det && !ck->attributes.n)
        cli_warn(c, "no --attributes: the model will have no attribute names");
}

/* Options of the other kind (LX_ERR_OTHER_KIND): a usage error naming them. */
static int other_kind(lx_cli *c, const opts *o, lx_model_kind kind) {
    const char *a = kind == LX_MODEL_DETECTOR ? o->vocab : o->objects,
               *b = kind == LX_MODEL_DETECTOR ? o->labels : o->attributes;
    const char *an = kind == LX_MODEL_DETECTOR ? "--vocab" : "--objects",
               *bn = kind == LX_MODEL_DETECTOR ? "--labels" : "--attributes";
    return cli_usage(c, "%s%s%s %s for %s; %s is %s", a ? an : "", a && b ? " and " : "",
                     b ? bn : "", a && b ? "are" : "is",
                     kind == LX_MODEL_DETECTOR ? "LXMERT checkpoints" : "the detector", o->src,
                     kind == LX_MODEL_DETECTOR ? "a detector (Faster R-CNN)" : "an LXMERT model");
}

/* A weight lx_model_write refused: named in its source, with what would store it. */
static int bad_weight(lx_cli *c, const lx_checkpoint *ck, const lx_error *err, lx_dtype dtype) {
    if (err->code == LX_ERR_NONFINITE_WEIGHT)
        return cli_error(c, "%s: %s", ck->path, err->msg);
    return cli_error(c, "%s: %s: store it %s, or give --clamp-overflow to store it as %g",
                     ck->path, err->msg, dtype == LX_F16 ? "as bf16 or f32" : "as f32",
                     (double)lx_dtype_max(dtype));
}

/* A file the conversion read must not be what it writes: the library refuses a file it
 * has mapped (the weights); these are the files it read and closed (the config and name
 * lists, given or beside SRC).  Returns 0, or the exit status after the message. */
static int check_output(lx_cli *c, const opts *o, const lx_checkpoint *ck, const char *out) {
    static const char *const beside[] = {"config.json", "tokenizer_config.json", "vocab.txt",
                                         "label2ans.json", "config.yaml"};
    const char *given[] = {o->src, ck->path, o->config, o->vocab, o->labels, o->objects,
                           o->attributes};
    for (size_t i = 0; i < sizeof given / sizeof *given; i++)
        if (given[i] && lx_file_same(out, given[i]))
            return cli_error(c, "cannot write %s: it is a file this run is reading (%s); write "
                                "to another file", out, given[i]);
    struct stat st;
    const char *sl = strrchr(o->src, '/');
    char *dir = stat(o->src, &st) == 0 && S_ISDIR(st.st_mode) ? strdup(o->src)
                : sl ? strndup(o->src, sl == o->src ? 1 : (size_t)(sl - o->src)) : strdup(".");
    int status = dir ? LX_EXIT_OK : cli_error(c, "out of memory");
    for (size_t i = 0; dir && status == LX_EXIT_OK && i < sizeof beside / sizeof *beside; i++) {
        size_t n = strlen(dir) + strlen(beside[i]) + 2;
        char *p = malloc(n);
        if (!p) {
            status = cli_error(c, "out of memory");
            break;
        }
        snprintf(p, n, "%s/%s", dir, beside[i]);
        if (lx_file_same(out, p))
            status = cli_error(c, "cannot write %s: it is a file this run is reading (%s); "
                                  "write to another file", out, p);
        free(p);
    }
    free(dir);
    return status;
}

static int write_model(lx_cli *c, const opts *o, lx_checkpoint *ck, lx_dtype dtype) {
    lx_error err = {0};
    double t0 = now();
    uint64_t *clamped = calloc(ck->tensors.n ? ck->tensors.n : 1, sizeof *clamped);
    if (!clamped) return cli_error(c, "out of memory");
    lx_model_spec spec = {.kind = ck->kind, .tensors = &ck->tensors, .dtype = dtype,
                          .config = &ck->config, .vocab = &ck->vocab, .labels = &ck->labels,
                          .detector = &ck->detector, .objects = &ck->objects,
                          .attributes = &ck->attributes, .clamp = o->clamp,
                          .clamped = clamped};
    int rc = lx_model_write(o->output, &spec, &err);
    for (size_t i = 0; rc == 0 && i < ck->tensors.n; i++)
        if (clamped[i])
            cli_warn(c, "%s: %llu value%s beyond %s's range stored as +-%g",
                     ck->tensors.items[i].name, (unsigned long long)clamped[i],
                     clamped[i] == 1 ? "" : "s", lx_dtype_name(dtype),
                     (double)lx_dtype_max(dtype));
    free(clamped);
    if (rc < 0)
        return err.code == LX_ERR_NONFINITE_WEIGHT || err.code == LX_ERR_DTYPE_RANGE
                   ? bad_weight(c, ck, &err, dtype) : cli_error(c, "%s", err.msg);
    if (c->progress)
        cli_note(c, "wrote %s (%zu tensors, %s) in %.2f s", o->output, ck->tensors.n,
                 lx_dtype_name(dtype), now() - t0);
    return o->info || o->verify || o->export_st ? inspect(c, o, o->output) : LX_EXIT_OK;
}

static int convert(lx_cli *c, const opts *o, lx_dtype dtype) {
    lx_error err = {0};
    lx_checkpoint ck;
    lx_checkpoint_opts co = {.config = o->config, .vocab = o->vocab, .labels = o->labels,
                             .objects = o->objects, .attributes = o->attributes,
                             .flags = o->ignore_unknown ? LX_SCHEMA_IGNORE_UNKNOWN : 0};
    double t0 = now();
    int status = LX_EXIT_OK;
    int rc = lx_checkpoint_load(&ck, o->src, &co, &err);
    warn_config(c, o, &ck);
    if (rc < 0) {
        status = err.code == LX_ERR_OTHER_KIND ? other_kind(c, o, ck.kind)
                 : cli_error(c, "%s%s", err.msg, err.code == LX_ERR_UNKNOWN_TENSORS
                                                      ? " (--ignore-unknown drops them)" : "");
        lx_checkpoint_free(&ck);
        return status;
    }
    if (c->progress)
        cli_note(c, "read %zu tensors from %s in %.2f s", ck.tensors.n, ck.path, now() - t0);
    if (o->output && dtype == LX_I8 && ck.kind == LX_MODEL_DETECTOR) {
        lx_checkpoint_free(&ck);
        return cli_usage(c, "--dtype int8 is for LXMERT checkpoints; %s is a detector (Faster "
                            "R-CNN): store it as f32, f16 or bf16", o->src);
    }
    if ((o->output && (status = check_output(c, o, &ck, o->output))) ||
        (o->export_st && (status = check_output(c, o, &ck, o->export_st)))) {
        lx_checkpoint_free(&ck);
        return status;
    }
    if (o->output) {
        warn_lacks(c, o, &ck);
        status = write_model(c, o, &ck, dtype);
    } else if (o->export_st && export_st(ck.model, ck.model ? NULL : &ck.tensors,
                                         o->export_st, &err) < 0) {
        status = cli_error(c, "%s", err.msg);
    }
    lx_checkpoint_free(&ck);
    return status;
}

int main(int argc, char **argv) {
    opts o = {.dtype = "f32"};
    lx_cli c;
    int st = cli_start(&c, &tool, argc, argv, &o);
    if (st != CLI_RUN) return st;
    if (c.nargs > 1) return cli_usage(&c, "unexpected argument '%s'", c.args[1]);
    o.src = c.nargs ? c.args[0] : NULL;
    lx_dtype dtype;
    if (lx_dtype_parse(o.dtype, &dtype) < 0 ||
        (dtype != LX_F32 && dtype != LX_F16 && dtype != LX_BF16 && dtype != LX_I8))
        return cli_usage(&c, "--dtype: '%s' is not f32, f16, bf16 or int8", o.dtype);
    int inspecting = o.info || o.verify || o.export_st;

    if (!o.src) {
        if (o.output) return cli_usage(&c, "-o needs a SRC checkpoint to convert");
        if (o.vocab || o.labels || o.objects || o.attributes || o.config || o.ignore_unknown ||
            o.clamp)
            return cli_usage(&c, "conversion options need a SRC checkpoint");
        if (!inspecting) /* stream conversion: records through unchanged */
            return cli_finish(&c, cli_records(&c, &(cli_loop){0}));
        if (c.skip || c.resume_path)
            return cli_usage(&c, "--skip and --resume apply to stream conversion");
        lx_error err = {0};
        const char *model = cli_model_need(&c, "give MODEL.lxm", &err);
        return cli_finish(&c, model ? inspect(&c, &o, model) : cli_error(&c, "%s", err.msg));
    }
    if (c.format_arg || c.skip_bad || c.skip || c.resume_path)
        return cli_usage(&c, "-f, --skip-bad, --skip and --resume apply to stream conversion "
                             "(no SRC)");
    if (o.output && o.export_st &&
        (strcmp(o.output, o.export_st) == 0 || lx_file_same(o.output, o.export_st)))
        return cli_usage(&c, "-o and --export-safetensors name the same file");
    if (!o.output && !inspecting)
        return cli_usage(&c, "nothing to do: give -o MODEL.lxm (or --info, --verify, "
                             "--export-safetensors)");
    /* Nothing to write: --info/--verify read SRC as a .lxm (a checkpoint is refused with
     * "not an lx model file"); --export-safetensors alone works on either. */
    if (!o.output && (o.info || o.verify))
        return cli_finish(&c, inspect(&c, &o, o.src));
    return cli_finish(&c, convert(&c, &o, dtype));
}
