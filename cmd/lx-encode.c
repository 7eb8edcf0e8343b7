/*
 * lx-encode — run the LXMERT encoder over each record and append its outputs.
 *
 * A record carries the model inputs (input_ids, optional token_type_ids and
 * attention_mask from lx-tokenize; visual_feats, visual_pos, optional
 * visual_attention_mask from lx-embed-vis).  The tool appends language_output,
 * vision_output and pooled_output, and on request the stacked hidden states and
 * attentions and the pre-training heads' outputs (HF names throughout; see lx-encode(1)
 * for the shapes).  Records are checked one by one as they are read (so an error names
 * its record), then run --batch at a time; output order is input order.
 */
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lx.h"

typedef struct opts {
    const char *model;            /* -m: the .lxm (default $LX_MODEL) */
    const char *format;           /* -f: output encoding (default bin) */
    unsigned want;                /* LX_OUT_* to compute (default language, vision, pooled) */
    const char *only;             /* --only FIELDS: keep just these outputs (NULL: all) */
    long fill_mask;               /* --fill-mask K: top K tokens at each [MASK] (0: off) */
    int match_prob;               /* match head asked: add match_probability */
    int drop_inputs;              /* --drop-inputs: remove the model inputs from the output */
    long batch;                   /* --batch: records per forward pass (16) */
    long threads;                 /* --threads (0: all cores) */
    int box_check;                /* 1 unless --no-box-check */
    int exact_bf16;               /* --exact-bf16: bf16 weights computed in f32 */
    int skip_bad;                 /* --skip-bad: report bad records and go on */
    int progress;                 /* --progress */
} opts;

typedef struct run {
    lx_cli cli;
    opts o;
    lx_model *model;
    lx_net *net;
    int64_t mask_id;              /* the [MASK] token (--fill-mask) */
    const char *only_names[32];   /* --only, split */
    size_t n_only;
    unsigned asked;               /* the outputs the user asked to see (before --only) */
} run;

static const char *const inputs[] = {"input_ids", "token_type_ids", "attention_mask",
                                     "visual_feats", "visual_pos", "visual_attention_mask"};

/* Output field -> the LX_OUT_* flag that produces it. */
static const struct {
    const char *name;
    unsigned flag;
} outputs[] = {
    {"language_output", LX_OUT_LANGUAGE},
    {"vision_output", LX_OUT_VISION},
    {"pooled_output", LX_OUT_POOLED},
    {"language_hidden_states", LX_OUT_HIDDEN},
    {"vision_hidden_states", LX_OUT_HIDDEN},
    {"language_attentions", LX_OUT_ATTENTIONS},
    {"vision_attentions", LX_OUT_ATTENTIONS},
    {"cross_encoder_attentions", LX_OUT_ATTENTIONS},
    {"prediction_logits", LX_OUT_MLM},
    {"cross_relationship_score", LX_OUT_MATCH},
    {"match_probability", LX_OUT_MATCH},
    {"visual_obj_logits", LX_OUT_OBJ},
    {"visual_attr_logits", LX_OUT_ATTR},
    {"visual_feat_logits", LX_OUT_FEAT},
    {"question_answering_score", LX_OUT_QA},
    {"fill_mask", LX_OUT_MLM},
};

static const struct {
    const char *name;
    unsigned flag;
} heads[] = {
    {"mlm", LX_OUT_MLM}, {"match", LX_OUT_MATCH}, {"obj", LX_OUT_OBJ},
    {"attr", LX_OUT_ATTR}, {"feat", LX_OUT_FEAT}, {"qa", LX_OUT_QA},
};

static void usage(void) {
    fputs(
        "Usage: lx-encode [OPTION]... [FILE]\n"
        "Run the LXMERT encoder over each record of FILE (default: standard input) and\n"
        "append its outputs.  A record carries input_ids (token_type_ids, attention_mask\n"
        "optional) and visual_feats [N, 2048], visual_pos [N, 4] (boxes normalised to 0..1;\n"
        "visual_attention_mask optional).  Appends language_output [L, H], vision_output\n"
        "[N, H] and pooled_output [H].\n"
        "\n"
        "  -m, --model FILE      the .lxm model (default $LX_MODEL)\n"
        "      --hidden-states   add language_hidden_states [l+x, L, H] and\n"
        "                        vision_hidden_states [r+x, N, H] (each layer's output)\n"
        "      --attentions      add language_attentions [l, heads, L, L],\n"
        "                        vision_attentions [r, heads, N, N] and\n"
        "                        cross_encoder_attentions [x, heads, L, N]\n"
        "      --heads LIST      add pre-training head outputs, a comma list of\n"
        "                        mlm (prediction_logits [L, vocab]),\n"
        "                        match (cross_relationship_score [2], match_probability),\n"
        "                        obj (visual_obj_logits [N, objects]),\n"
        "                        attr (visual_attr_logits [N, attributes]),\n"
        "                        feat (visual_feat_logits [N, 2048]),\n"
        "                        qa (question_answering_score [labels]), or all\n"
        "      --fill-mask K     add fill_mask: the top K tokens with their probabilities\n"
        "                        at each [MASK] position (needs the mlm head)\n"
        "      --only FIELDS     keep only these outputs (comma list of output names,\n"
        "                        e.g. pooled_output); computes just what they need\n"
        "      --drop-inputs     remove the model inputs from the output records\n"
        "      --no-box-check    accept visual_pos values outside 0..1\n"
        "      --exact-bf16      with bf16 weights, compute in f32 (exact, slower) instead\n"
        "                        of with the CPU's bf16 dot products\n"
        "  -f, --format FMT      output encoding: bin (default) or json\n"
        "      --batch N         records per forward pass (default 16)\n"
        "      --threads N       threads (default 0: all cores)\n"
        "      --skip-bad        report a bad record and go on (default: stop)\n"
        "      --progress        show a progress line on stderr\n"
        "  -h, --help            show this help and exit\n"
        "      --version         show the version and exit\n"
        "\n"
        "Environment: LX_MODEL the default model; LX_CPU the most of the CPU to use\n"
        "(portable, avx2, avx512; default: all it has).\n"
        "Exit status: 0 success, 1 bad input or failure, 2 usage error.\n"
        "Example:\n"
        "  lx-tokenize < q.jsonl | lx-embed-vis --features f.tsv |\n"
        "    lx-encode -m vqa.lxm --only pooled_output | lx-vqa -m vqa.lxm\n",
        stdout);
}

/* ---- options ------------------------------------------------------------------------ */

static int parse_heads(run *R, char *list) {
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        size_t i;
        if (strcmp(t, "all") == 0) {
            R->o.want |= LX_OUT_MLM | LX_OUT_MATCH | LX_OUT_OBJ | LX_OUT_ATTR | LX_OUT_FEAT |
                         LX_OUT_QA;
            continue;
        }
        for (i = 0; i < sizeof heads / sizeof *heads; i++)
            if (strcmp(t, heads[i].name) == 0) break;
        if (i == sizeof heads / sizeof *heads) {
            cli_usage(&R->cli, "--heads: got '%s', expected mlm, match, obj, attr, feat, qa "
                               "or all", t);
            return -1;
        }
        R->o.want |= heads[i].flag;
    }
    return 0;
}

static int parse_only(run *R, char *list) {
    unsigned want = 0;
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        size_t i;
        for (i = 0; i < sizeof outputs / sizeof *outputs; i++)
            if (strcmp(t, outputs[i].name) == 0) break;
        if (i == sizeof outputs / sizeof *outputs) {
            cli_usage(&R->cli, "--only: got '%s', expected output names such as "
                               "pooled_output (see lx-encode(1))", t);
            return -1;
        }
        if (R->n_only == sizeof R->only_names / sizeof *R->only_names) {
            cli_usage(&R->cli, "--only: too many names");
            return -1;
        }
        R->only_names[R->n_only++] = t;
        want |= outputs[i].flag;
    }
    if (!R->n_only) {
        cli_usage(&R->cli, "--only: got an empty list");
        return -1;
    }
    R->o.want = want;
    return 0;
}

/* ---- per-record additions ----------------------------------------------------------- */

/* fill_mask: for each [MASK] in input_ids, the top K tokens of prediction_logits. */
static int fill_mask(run *R, lx_record *r, lx_error *err) {
    const lx_tensor *ids = lx_record_tensor(r, "input_ids");
    const lx_tensor *lg = lx_record_tensor(r, "prediction_logits");
    size_t L = (size_t)ids->shape[0], V = (size_t)lg->shape[1], K = (size_t)R->o.fill_mask;
    if (K > V) K = V;
    int64_t *id = malloc(L * sizeof *id);
    size_t *top = malloc(K * sizeof *top);
    float *p = malloc(V * sizeof *p);
    json_t *list = json_array();
    int rc = -1;
    if (!id || !top || !p || !list) {
        lx_error_set(err, "out of memory");
        goto out;
    }
    lx_convert_to_i64(id, ids->data, ids->dtype, L);
    for (size_t t = 0; t < L; t++) {
        if (id[t] != R->mask_id) continue;
        const float *row = (const float *)lg->data + t * V;
        float mx = -INFINITY;
        for (size_t v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        double sum = 0;
        for (size_t v = 0; v < V; v++) sum += (p[v] = expf(row[v] - mx));
        /* top K by insertion: K is small */
        size_t n = 0;
        for (size_t v = 0; v < V; v++) {
            if (n == K && p[v] <= p[top[K - 1]]) continue;
            size_t j = n < K ? n++ : K - 1;
            while (j > 0 && p[top[j - 1]] < p[v]) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = v;
        }
        json_t *toks = json_array();
        for (size_t j = 0; j < n; j++) {
            const char *s = top[j] < lx_model_vocab_size(R->model)
                                ? lx_model_vocab_token(R->model, top[j]) : "";
            json_array_append_new(toks, json_pack("{s:s, s:I, s:f}", "token", s, "id",
                                                  (json_int_t)top[j], "score", p[top[j]] / sum));
        }
        json_array_append_new(list, json_pack("{s:I, s:o}", "position", (json_int_t)t,
                                              "tokens", toks));
    }
    rc = lx_record_set_json(r, "fill_mask", list, err);
    list = NULL;
out:
    json_decref(list);
    free(id);
    free(top);
    free(p);
    return rc;
}

/* match_probability: softmax of cross_relationship_score, class 1 ("the sentence
 * matches the image", as LXMERT's pre-training labels it). */
static int match_probability(lx_record *r, lx_error *err) {
    const float *s = lx_record_tensor(r, "cross_relationship_score")->data;
    double p = 1.0 / (1.0 + exp((double)s[0] - (double)s[1]));
    return lx_record_set_json(r, "match_probability", json_real(p), err);
}

static int is_only(const run *R, const char *name) {
    for (size_t i = 0; i < R->n_only; i++)
        if (strcmp(R->only_names[i], name) == 0) return 1;
    return 0;
}

/* After the forward pass: derived fields, then drop what was not asked for. */
static int finish_record(run *R, lx_record *r, unsigned asked, lx_error *err) {
    if (R->o.fill_mask && fill_mask(R, r, err) < 0) return -1;
    if ((R->o.want & LX_OUT_MATCH) && match_probability(r, err) < 0) return -1;
    if (!(asked & LX_OUT_MLM)) lx_record_remove(r, "prediction_logits");
    if (R->n_only)
        for (size_t i = 0; i < sizeof outputs / sizeof *outputs; i++)
            if (!is_only(R, outputs[i].name)) lx_record_remove(r, outputs[i].name);
    if (R->o.drop_inputs)
        for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) lx_record_remove(r, inputs[i]);
    return 0;
}

/* ---- the record loop ------------------------------------------------------------------ */

/* Inputs are checked as they are read, so that an error names its record. */
static int check_record(void *ctx, lx_record *r, size_t slot, lx_error *err) {
    run *R = ctx;
    return lx_net_check(R->net, r, err);
}

static int run_batch(void *ctx, lx_record *recs, size_t n, lx_error *err) {
    run *R = ctx;
    if (lx_net_forward(R->net, recs, n, R->o.want, err) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (finish_record(R, &recs[i], R->asked, err) < 0) return -1;
    return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static int setup(run *R, lx_error *err) {
    const char *path = cli_model_path(R->o.model);
    if (!path) return lx_error_set(err, "no model: give -m FILE or set LX_MODEL");
    if (!(R->model = lx_model_open(path, err))) return -1;
    lx_net_opts no;
    if (cli_net_opts(R->o.threads, &no, err) < 0) return -1;
    no.no_box_check = !R->o.box_check;
    no.exact_bf16 = R->o.exact_bf16;
    if (!(R->net = lx_net_new(R->model, &no, err))) return lx_error_prefix(err, "%s", path);
    /* the first record reads nearly every weight: map them all now, in one call, while
     * the tools before this one in a pipeline are still at work (the first output of a
     * fresh process came 3-7 ms sooner, f32 base model, medians of five) */
    lx_model_populate(R->model);
    unsigned miss = R->o.want & ~lx_net_available(R->net);
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++)
        if (miss & heads[i].flag)
            return lx_error_set(err, "%s: the model has no %s head (convert a checkpoint that "
                                     "carries it, e.g. LxmertForPreTraining)", path, heads[i].name);
    if (R->o.fill_mask) {
        size_t V = lx_model_vocab_size(R->model);
        R->mask_id = -1;
        for (size_t i = 0; i < V; i++)
            if (strcmp(lx_model_vocab_token(R->model, i), "[MASK]") == 0) {
                R->mask_id = (int64_t)i;
                break;
            }
        if (R->mask_id < 0)
            return lx_error_set(err, "%s: --fill-mask: the model's vocabulary has no [MASK] token",
                                path);
    }
    return 0;
}

int main(int argc, char **argv) {
    enum { O_HIDDEN = 256, O_ATT, O_HEADS, O_FILL, O_ONLY, O_DROP, O_NOBOX, O_EXACT, O_BATCH,
           O_THREADS, O_SKIP, O_PROGRESS, O_VERSION };
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},       {"hidden-states", no_argument, 0, O_HIDDEN},
        {"attentions", no_argument, 0, O_ATT},      {"heads", required_argument, 0, O_HEADS},
        {"fill-mask", required_argument, 0, O_FILL}, {"only", required_argument, 0, O_ONLY},
        {"drop-inputs", no_argument, 0, O_DROP},    {"no-box-check", no_argument, 0, O_NOBOX},
        {"exact-bf16", no_argument, 0, O_EXACT},
        {"format", required_argument, 0, 'f'},      {"batch", required_argument, 0, O_BATCH},
        {"threads", required_argument, 0, O_THREADS}, {"skip-bad", no_argument, 0, O_SKIP},
        {"progress", no_argument, 0, O_PROGRESS},   {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION},     {0, 0, 0, 0}};
    run R;
    memset(&R, 0, sizeof R);
    cli_init(&R.cli, "lx-encode");
    R.o.want = LX_OUT_LANGUAGE | LX_OUT_VISION | LX_OUT_POOLED;
    R.o.batch = 16;
    R.o.box_check = 1;
    char *only = NULL;
    int c;
    opterr = 0; /* cli_bad_option says what was wrong */
    while ((c = getopt_long(argc, argv, ":m:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': R.o.model = optarg; break;
        case O_HIDDEN: R.o.want |= LX_OUT_HIDDEN; break;
        case O_ATT: R.o.want |= LX_OUT_ATTENTIONS; break;
        case O_HEADS:
            if (parse_heads(&R, optarg) < 0) return LX_EXIT_USAGE;
            break;
        case O_FILL:
            if (cli_parse_long(&R.cli, "--fill-mask", optarg, 1, 1000000, &R.o.fill_mask) < 0)
                return LX_EXIT_USAGE;
            break;
        case O_ONLY: only = optarg; break;
        case O_DROP: R.o.drop_inputs = 1; break;
        case O_NOBOX: R.o.box_check = 0; break;
        case O_EXACT: R.o.exact_bf16 = 1; break;
        case 'f': R.o.format = optarg; break;
        case O_BATCH:
            if (cli_parse_batch(&R.cli, optarg, &R.o.batch) < 0)
                return LX_EXIT_USAGE;
            break;
        case O_THREADS:
            if (cli_parse_threads(&R.cli, optarg, &R.o.threads) < 0)
                return LX_EXIT_USAGE;
            break;
        case O_SKIP: R.o.skip_bad = 1; break;
        case O_PROGRESS: R.o.progress = 1; break;
        case 'h': usage(); return LX_EXIT_OK;
        case O_VERSION: return cli_version(&R.cli);
        default: return cli_bad_option(&R.cli, c, argv);
        }
    }
    const char *input;
    if (cli_input_arg(&R.cli, argc, argv, optind, &input)) return LX_EXIT_USAGE;
    /* What the user asked to see, before --only narrows the computation to it. */
    unsigned asked = R.o.want;
    if (only) {
        if (parse_only(&R, only) < 0) return LX_EXIT_USAGE;
        asked = R.o.want;
        if (is_only(&R, "fill_mask") && !R.o.fill_mask)
            return cli_usage(&R.cli, "--only fill_mask needs --fill-mask K");
        if (!is_only(&R, "prediction_logits")) asked &= ~LX_OUT_MLM;
    }
    if (R.o.fill_mask) R.o.want |= LX_OUT_MLM;
    R.cli.progress = R.o.progress;
    lx_format fmt;
    if (cli_output_format(&R.cli, R.o.format, LX_FMT_BIN, &fmt) < 0) return LX_EXIT_USAGE;

    FILE *in;
    if (cli_open_input(&R.cli, input, &in)) return cli_finish(&R.cli, LX_EXIT_FAIL);
    lx_error err = {0};
    int status = LX_EXIT_FAIL;
    lx_reader *rd = NULL;
    lx_writer *w = NULL;
    if (setup(&R, &err) < 0) {
        cli_error(&R.cli, "%s", err.msg);
        goto done;
    }
    if (!(rd = lx_reader_open(in, R.cli.input, &err)) || !(w = lx_writer_open(stdout, fmt, &err))) {
        cli_error(&R.cli, "%s", err.msg);
        goto done;
    }
    R.asked = asked;
    status = cli_batch_filter(&R.cli, rd, w, (size_t)R.o.batch, R.o.skip_bad, check_record,
                              run_batch, &R);
done:
    if (w) lx_writer_close(w);
    if (rd) lx_reader_close(rd);
    cli_close_input(in);
    lx_net_free(R.net);
    lx_model_close(R.model);
    return cli_finish(&R.cli, status);
}
