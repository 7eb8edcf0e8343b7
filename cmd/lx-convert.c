/*
 * lx-convert — LXMERT checkpoints into the one native model file (.lxm), inspection of
 * .lxm files, and (with no SRC) a record-stream converter between JSON lines and binary
 * frames.
 *
 * A thin main: the library reads the checkpoint (lx_checkpoint_read), maps its names
 * and checks it against the config (lx_names_normalize), writes the .lxm
 * (lx_model_write) and opens it again (lx_model_open) for --info, --verify and
 * --export-safetensors.  A .lxm can also be a source (to change its stored dtype).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lx.h"

typedef struct opts {
    const char *src;              /* SRC: checkpoint file, HF folder or .lxm (none: stream) */
    const char *output;           /* -o: the .lxm to write (none: do not write one) */
    const char *model;            /* -m: .lxm for --info/--verify/--export without SRC */
    const char *vocab;            /* --vocab (default: vocab.txt beside the checkpoint) */
    const char *labels;           /* --labels (default: label2ans.json beside, if any) */
    const char *config;           /* --config (default: config.json beside, else base) */
    const char *dtype;            /* --dtype: f32 (default), f16 or bf16 */
    int ignore_unknown;           /* --ignore-unknown: drop tensors that are not LXMERT's */
    int info;                     /* --info: describe the model */
    int verify;                   /* --verify: check every tensor's CRC-32 */
    const char *export_st;        /* --export-safetensors FILE */
    const char *format;           /* -f: stream mode output encoding (default: the other) */
    int skip_bad;                 /* --skip-bad (stream mode) */
    int progress;                 /* --progress: step timings; in stream mode, records */
    long threads;                 /* --threads: accepted for uniformity (one is used) */
} opts;

static const char usage_text[] =
    "Usage: lx-convert [OPTION]... SRC -o MODEL.lxm\n"
    "       lx-convert --info|--verify|--export-safetensors FILE [MODEL.lxm]\n"
    "       lx-convert [-f json|bin] < STREAM > STREAM\n"
    "Convert an LXMERT checkpoint into an lx model file (.lxm, see lxm(5)).\n"
    "\n"
    "SRC is a HuggingFace model folder (config.json, vocab.txt and model.safetensors,\n"
    "sharded model.safetensors.index.json, or pytorch_model.bin), a checkpoint file\n"
    "(.safetensors, .bin, .pth, .pt; the original LXMERT model_LXRT.pth and BEST.pth\n"
    "too), or a .lxm file (to store it again, e.g. with another --dtype).  In a folder,\n"
    "safetensors are read before .bin; tf_model.h5 is not read.  Every head the\n"
    "checkpoint carries is kept; tensor names become HF LxmertFor... names.\n"
    "\n"
    "Conversion:\n"
    "  -o, --output FILE     the .lxm to write (written whole, then renamed into place)\n"
    "      --config FILE     an HF config.json (default: config.json beside SRC, else\n"
    "                        LXMERT-base: 768 hidden, 12 heads, 9/5/5 layers; with a\n"
    "                        .lxm source, read over the model's own config)\n"
    "      --vocab FILE      the WordPiece vocab.txt (default: vocab.txt beside SRC)\n"
    "      --labels FILE     the answers: a JSON array (label2ans) or an answer -> label\n"
    "                        object (ans2label); default: label2ans.json beside SRC\n"
    "      --dtype TYPE      store matrices as f32 (default), f16 or bf16; vectors\n"
    "                        (biases, LayerNorm) stay f32\n"
    "      --ignore-unknown  drop tensors that are not LXMERT's instead of failing\n"
    "\n"
    "Inspection (of MODEL.lxm, -m, $LX_MODEL, or the file just written):\n"
    "      --info            print the config, vocabulary and label counts, every tensor\n"
    "                        with dtype and shape, and the total size\n"
    "      --verify          check every tensor's CRC-32\n"
    "      --export-safetensors FILE\n"
    "                        write the weights as safetensors with HF names (from SRC\n"
    "                        itself when it is a checkpoint and no -o is given)\n"
    "  -m, --model FILE      the .lxm to inspect when no SRC is given\n"
    "\n"
    "Stream conversion (no SRC and no inspection): read records from standard input and\n"
    "write them in the other encoding, JSON lines <-> binary frames:\n"
    "  -f, --format FMT      the output encoding, json or bin (default: the one the input\n"
    "                        is not; binary frames are never written to a terminal)\n"
    "      --skip-bad        report a bad JSON record and go on without it\n"
    "\n"
    "      --threads N       accepted for uniformity with the other tools; conversion\n"
    "                        is bound by memory and disk, and uses one thread\n"
    "      --progress        print the time each step took on standard error (in\n"
    "                        stream conversion: a progress line and a record count)\n"
    "      --help            this help\n"
    "      --version         the version\n"
    "\n"
    "Exit status: 0 ok, 1 bad input (a clear message naming the file and tensor),\n"
    "2 usage error.\n"
    "\n"
    "Examples:\n"
    "  lx-convert unc-nlp/lxmert-vqa-uncased --labels trainval_label2ans.json -o vqa.lxm\n"
    "  lx-convert snap/pretrained/model_LXRT.pth --vocab vocab.txt -o lxmert.lxm\n"
    "  lx-convert --info vqa.lxm\n"
    "  lx-convert vqa.lxm --export-safetensors vqa.safetensors\n"
    "  lx-encode < in.jsonl | lx-convert > out.jsonl      # frames back to JSON\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* 1 if path starts with the .lxm magic. */
static int is_lxm(const char *path) {
    static const unsigned char magic[8] = {0x89, 'L', 'X', 'M', 0x0d, 0x0a, 0x1a, 0x0a};
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, 8, f);
    fclose(f);
    return n == 8 && memcmp(b, magic, 8) == 0;
}


/* ---- stream mode ----------------------------------------------------------------- */

static int stream_mode(lx_cli *c, const opts *o) {
    lx_error err = {0};
    c->progress = o->progress;
    lx_reader *rd = lx_reader_open(stdin, "<stdin>", &err);
    if (!rd) return cli_error(c, "%s", err.msg);
    lx_record r;
    lx_record_init(&r);
    int rc = lx_reader_next(rd, &r, &err);
    int status = LX_EXIT_OK;
    while (rc < 0 && o->skip_bad && lx_reader_can_resume(rd)) {
        cli_record_error(c, lx_reader_record_no(rd), err.msg);
        c->nskipped++;
        rc = lx_reader_next(rd, &r, &err);
    }
    if (rc < 0) {
        cli_record_error(c, lx_reader_record_no(rd), err.msg);
        lx_record_clear(&r);
        lx_reader_close(rd);
        return cli_finish(c, LX_EXIT_FAIL);
    }
    if (rc == 0) { /* empty input: nothing to write */
        lx_record_clear(&r);
        lx_reader_close(rd);
        return cli_finish(c, LX_EXIT_OK);
    }
    lx_format in = lx_reader_format(rd), out;
    if (cli_output_format(c, o->format, in == LX_FMT_BIN ? LX_FMT_JSON : LX_FMT_BIN, &out) < 0) {
        lx_record_clear(&r);
        lx_reader_close(rd);
        return LX_EXIT_USAGE;
    }
    lx_writer *w = lx_writer_open(stdout, out, &err);
    if (!w) {
        lx_record_clear(&r);
        lx_reader_close(rd);
        return cli_error(c, "%s", err.msg);
    }
    if (lx_writer_write(w, &r, &err) < 0) {
        status = cli_record_error(c, lx_reader_record_no(rd), err.msg);
    } else {
        cli_tick(c);
        status = cli_filter(c, rd, w, o->skip_bad, NULL, NULL);
    }
    lx_record_clear(&r);
    lx_writer_close(w);
    lx_reader_close(rd);
    return cli_finish(c, status);
}

/* ---- inspection ------------------------------------------------------------------ */

static void print_info(const char *path, const lx_model *m) {
    const lx_config *cf = lx_model_config(m);
    printf("file      %s\n", path);
    printf("size      %llu bytes\n", (unsigned long long)lx_model_file_size(m));
    printf("config\n");
    json_t *cj = lx_config_to_json(cf);
    const char *k;
    json_t *v;
    json_object_foreach(cj, k, v) {
        if (json_is_integer(v)) printf("  %-24s %lld\n", k, (long long)json_integer_value(v));
        else if (json_is_real(v)) printf("  %-24s %g\n", k, json_real_value(v));
        else if (json_is_boolean(v)) printf("  %-24s %s\n", k, json_is_true(v) ? "true" : "false");
        else if (json_is_string(v)) printf("  %-24s %s\n", k, json_string_value(v));
    }
    json_decref(cj);
    printf("vocab     %zu tokens\n", lx_model_vocab_size(m));
    printf("labels    %zu answers\n", lx_model_nlabels(m));
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

/* The tensors of an open model, in file order, as arrays for lx_safetensors_write. */
static int export_model(const lx_model *m, const char *out, lx_error *err) {
    size_t n = lx_model_ntensors(m);
    const char **names = malloc((n ? n : 1) * sizeof *names);
    const lx_tensor **ts = malloc((n ? n : 1) * sizeof *ts);
    if (!names || !ts) {
        free(names);
        free(ts);
        return lx_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = lx_model_tensor_name(m, i);
        ts[i] = lx_model_tensor_at(m, i);
    }
    int rc = lx_safetensors_write(out, names, ts, n, NULL, err);
    free(names);
    free(ts);
    return rc;
}

static int export_dict(const lx_tensor_dict *d, const char *out, lx_error *err) {
    const char **names = malloc((d->n ? d->n : 1) * sizeof *names);
    const lx_tensor **ts = malloc((d->n ? d->n : 1) * sizeof *ts);
    if (!names || !ts) {
        free(names);
        free(ts);
        return lx_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++) {
        names[i] = d->items[i].name;
        ts[i] = &d->items[i].t;
    }
    int rc = lx_safetensors_write(out, names, ts, d->n, NULL, err);
    free(names);
    free(ts);
    return rc;
}

static int inspect(lx_cli *c, const opts *o, const char *path) {
    lx_error err = {0};
    double t0 = now();
    lx_model *m = lx_model_open(path, &err);
    if (!m) return cli_error(c, "%s", err.msg);
    if (o->progress) fprintf(stderr, "%s: opened %s in %.2f ms\n", c->prog, path,
                             (now() - t0) * 1e3);
    int status = LX_EXIT_OK;
    if (o->info) print_info(path, m);
    if (o->verify) {
        t0 = now();
        if (lx_model_verify(m, &err) < 0) status = cli_error(c, "%s: %s", path, err.msg);
        else if (o->progress || !o->info)
            fprintf(stderr, "%s: %s: %zu tensors verified in %.2f s\n", c->prog, path,
                    lx_model_ntensors(m), now() - t0);
    }
    if (status == LX_EXIT_OK && o->export_st) {
        if (export_model(m, o->export_st, &err) < 0) status = cli_error(c, "%s", err.msg);
    }
    lx_model_close(m);
    return status;
}

/* ---- conversion ------------------------------------------------------------------ */

static int convert(lx_cli *c, const opts *o, lx_dtype dtype) {
    lx_error err = {0};
    lx_checkpoint ck;
    lx_checkpoint_opts co = {o->config, o->vocab, o->labels,
                             o->ignore_unknown ? LX_SCHEMA_IGNORE_UNKNOWN : 0};
    double t0 = now();
    int rc = lx_checkpoint_load(&ck, o->src, &co, &err);
    if (ck.notes & LX_CHECKPOINT_NO_CONFIG)
        fprintf(stderr, "%s: no config.json beside %s: using the LXMERT-base config\n", c->prog,
                o->src);
    if (rc < 0) {
        lx_checkpoint_free(&ck);
        return cli_error(c, "%s%s", err.msg, err.code == LX_ERR_UNKNOWN_TENSORS
                                                  ? " (--ignore-unknown drops them)" : "");
    }
    if (o->progress)
        fprintf(stderr, "%s: read %zu tensors from %s in %.2f s\n", c->prog, ck.tensors.n,
                ck.path, now() - t0);
    if ((ck.notes & LX_CHECKPOINT_NO_VOCAB) && o->output)
        fprintf(stderr, "%s: no vocab.txt beside %s: the model will have no vocabulary (give "
                        "--vocab)\n", c->prog, o->src);
    int status = LX_EXIT_OK;
    if (o->output) {
        double t1 = now();
        lx_model_spec spec = {&ck.config, &ck.tensors, &ck.vocab, &ck.labels, dtype};
        if (lx_model_write(o->output, &spec, &err) < 0) {
            status = cli_error(c, "%s", err.msg);
        } else {
            if (o->progress)
                fprintf(stderr, "%s: wrote %s (%zu tensors, %s) in %.2f s\n", c->prog, o->output,
                        ck.tensors.n, lx_dtype_name(dtype), now() - t1);
            if (o->info || o->verify || o->export_st) status = inspect(c, o, o->output);
        }
    } else if (o->export_st && export_dict(&ck.tensors, o->export_st, &err) < 0) {
        status = cli_error(c, "%s", err.msg);
    }
    lx_checkpoint_free(&ck);
    return status;
}

int main(int argc, char **argv) {
    lx_cli c;
    cli_init(&c, "lx-convert");
    opts o = {.dtype = "f32"};
    enum { O_VOCAB = 256, O_LABELS, O_CONFIG, O_DTYPE, O_IGNORE, O_INFO, O_VERIFY, O_EXPORT,
           O_SKIP, O_PROGRESS, O_THREADS, O_HELP, O_VERSION };
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'},
        {"model", required_argument, 0, 'm'},
        {"format", required_argument, 0, 'f'},
        {"vocab", required_argument, 0, O_VOCAB},
        {"labels", required_argument, 0, O_LABELS},
        {"config", required_argument, 0, O_CONFIG},
        {"dtype", required_argument, 0, O_DTYPE},
        {"ignore-unknown", no_argument, 0, O_IGNORE},
        {"info", no_argument, 0, O_INFO},
        {"verify", no_argument, 0, O_VERIFY},
        {"export-safetensors", required_argument, 0, O_EXPORT},
        {"skip-bad", no_argument, 0, O_SKIP},
        {"progress", no_argument, 0, O_PROGRESS},
        {"threads", required_argument, 0, O_THREADS},
        {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0},
    };
    int ch;
    opterr = 0; /* cli_bad_option says what was wrong */
    while ((ch = getopt_long(argc, argv, ":o:m:f:", lo, NULL)) != -1) {
        switch (ch) {
        case 'o': o.output = optarg; break;
        case 'm': o.model = optarg; break;
        case 'f': o.format = optarg; break;
        case O_VOCAB: o.vocab = optarg; break;
        case O_LABELS: o.labels = optarg; break;
        case O_CONFIG: o.config = optarg; break;
        case O_DTYPE: o.dtype = optarg; break;
        case O_IGNORE: o.ignore_unknown = 1; break;
        case O_INFO: o.info = 1; break;
        case O_VERIFY: o.verify = 1; break;
        case O_EXPORT: o.export_st = optarg; break;
        case O_SKIP: o.skip_bad = 1; break;
        case O_PROGRESS: o.progress = 1; break;
        case O_THREADS:
            if (cli_parse_threads(&c, optarg, &o.threads) < 0)
                return LX_EXIT_USAGE;
            break;
        case O_HELP: fputs(usage_text, stdout); return cli_finish(&c, LX_EXIT_OK);
        case O_VERSION: cli_version(&c); return cli_finish(&c, LX_EXIT_OK);
        default: return cli_bad_option(&c, ch, argv);
        }
    }
    if (optind < argc) o.src = argv[optind++];
    if (optind < argc) return cli_usage(&c, "unexpected argument '%s'", argv[optind]);
    lx_dtype dtype;
    if (lx_dtype_parse(o.dtype, &dtype) < 0 ||
        (dtype != LX_F32 && dtype != LX_F16 && dtype != LX_BF16))
        return cli_usage(&c, "--dtype: '%s' is not f32, f16 or bf16", o.dtype);
    int inspecting = o.info || o.verify || o.export_st;

    if (!o.src) {
        if (o.output) return cli_usage(&c, "-o needs a SRC checkpoint to convert");
        if (inspecting) {
            const char *m = cli_model_path(o.model);
            if (!m) return cli_usage(&c, "no model to inspect: give MODEL.lxm, -m or $LX_MODEL");
            return cli_finish(&c, inspect(&c, &o, m));
        }
        if (o.vocab || o.labels || o.config || o.ignore_unknown)
            return cli_usage(&c, "conversion options need a SRC checkpoint");
        return stream_mode(&c, &o);
    }
    if (o.format || o.skip_bad)
        return cli_usage(&c, "-f and --skip-bad apply to stream conversion (no SRC)");
    if (!o.output && !inspecting)
        return cli_usage(&c, "nothing to do: give -o MODEL.lxm (or --info, --verify, "
                             "--export-safetensors)");
    /* Nothing to write: --info/--verify read SRC as a .lxm (a checkpoint is refused with
     * "not an lx model file"); --export-safetensors alone works on either. */
    if (!o.output && (o.info || o.verify || is_lxm(o.src)))
        return cli_finish(&c, inspect(&c, &o, o.src));
    return cli_finish(&c, convert(&c, &o, dtype));
}
