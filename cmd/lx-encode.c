/*
 * lx-encode — run the LXMERT encoder over each record and append its outputs.
 *
 * A record carries the model inputs (input_ids, optional token_type_ids and
 * attention_mask from lx-tokenize; visual_feats, visual_pos, optional
 * visual_attention_mask from lx-embed-vis).  The tool appends language_output,
 * vision_output and pooled_output, and on request the stacked hidden states and
 * attentions and the pre-training heads' outputs (HF names throughout).  Records are
 * checked one by one as they are read (so an error names its record), then run --batch
 * at a time; output order is input order.
 *
 * The outputs, their shapes and their heads are the library's one table
 * (lx_net_outputs): --only, --heads, the list in --help and --drop-inputs
 * (lx_net_inputs) are made from it, so a new output needs nothing here.  The two
 * fields this tool derives itself, match_probability and fill_mask, are listed once,
 * in `derived` below.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lx.h"

/* The outputs every run appends unless --only says otherwise. */
#define DEFAULT_OUTPUTS (LX_OUT_LANGUAGE | LX_OUT_VISION | LX_OUT_POOLED)

typedef struct opts {
    unsigned want;                /* LX_OUT_* asked for (default DEFAULT_OUTPUTS) */
    unsigned only_want;           /* what the --only names need */
    struct {                      /* --only FIELDS: the names, in its argument */
        const char *s;
        size_t len;
    } only[64];
    size_t n_only;                /* 0: no --only, every output asked for is kept */
    long fill_mask;               /* --fill-mask K: top K tokens at each [MASK] (0: off) */
    int drop_inputs;              /* --drop-inputs: remove the model inputs from the output */
    int no_box_check;             /* --no-box-check: accept boxes outside 0..1 */
    int exact_bf16;               /* --exact-bf16: bf16 weights computed in f32 */
} opts;

/* The fields lx-encode derives from the network's outputs, and the output each needs. */
static const struct {
    const char *name;
    unsigned flag;
    const char *value, *how;      /* for --help: what it holds, the option that adds it */
} derived[] = {
    {"match_probability", LX_OUT_MATCH, "a number", "--heads match"},
    {"fill_mask", LX_OUT_MLM, "a list", "--fill-mask K"},
};
#define NDERIVED (sizeof derived / sizeof *derived)

/* The options that ask for outputs of no head (the heads' come from --heads). */
static const struct {
    unsigned flag;
    const char *option;
} by_option[] = {{LX_OUT_HIDDEN, "--hidden-states"}, {LX_OUT_ATTENTIONS, "--attentions"}};

/* Every head of the output table, once each: "mlm, match, ..." for messages. */
static void head_names(char *buf, size_t len) {
    size_t n, at = 0;
    const lx_output *out = lx_net_outputs(&n);
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        if (!out[i].head) continue;
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= out[j].head && !strcmp(out[j].head, out[i].head);
        if (!seen) at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", out[i].head);
    }
}

/* --help's list of outputs: each with its shape and the option that adds it. */
static void describe(FILE *f) {
    size_t n;
    const lx_output *out = lx_net_outputs(&n);
    fputs("Outputs (f32; L tokens, N regions, H the hidden size; l, r, x the numbers of\n"
          "language, vision and cross-modality layers), and the option that adds each:\n", f);
    for (size_t i = 0; i < n; i++) {
        char shape[64], how[64] = "(default)";
        if (out[i].head) snprintf(how, sizeof how, "--heads %s", out[i].head);
        else if (!(out[i].flag & DEFAULT_OUTPUTS)) snprintf(how, sizeof how, "--only %s", out[i].name);
        for (size_t j = 0; j < sizeof by_option / sizeof *by_option; j++)
            if (out[i].flag & by_option[j].flag) snprintf(how, sizeof how, "%s", by_option[j].option);
        fprintf(f, "  %-26s%-18s%s\n", out[i].name, lx_output_shape_str(&out[i], shape, sizeof shape),
                how);
    }
    for (size_t i = 0; i < NDERIVED; i++)
        fprintf(f, "  %-26s%-18s%s\n", derived[i].name, derived[i].value, derived[i].how);
}

/* ---- options ------------------------------------------------------------------------ */

enum { O_HIDDEN = CLI_OWN, O_ATT, O_HEADS, O_FILL, O_ONLY, O_DROP, O_NOBOX, O_EXACT };

static const struct option longopts[] = {
    {"hidden-states", no_argument, NULL, O_HIDDEN},
    {"attentions", no_argument, NULL, O_ATT},
    {"heads", required_argument, NULL, O_HEADS},
    {"fill-mask", required_argument, NULL, O_FILL},
    {"only", required_argument, NULL, O_ONLY},
    {"drop-inputs", no_argument, NULL, O_DROP},
    {"no-box-check", no_argument, NULL, O_NOBOX},
    {"exact-bf16", no_argument, NULL, O_EXACT},
    {NULL, 0, NULL, 0},
};

/* 1 if s[0..len) is name. */
static int is_name(const char *s, size_t len, const char *name) {
    return strlen(name) == len && strncmp(s, name, len) == 0;
}

/* --heads LIST: the heads of the output table, or all. */
static int parse_heads(lx_cli *c, opts *o, const char *list) {
    size_t n;
    const lx_output *out = lx_net_outputs(&n);
    for (const char *t = list; *t;) {
        size_t len = strcspn(t, ","), found = 0;
        for (size_t i = 0; i < n; i++)
            if (out[i].head && (is_name(t, len, out[i].head) || is_name(t, len, "all"))) {
                o->want |= out[i].flag;
                found = 1;
            }
        if (len && !found) {
            char heads[256];
            head_names(heads, sizeof heads);
            return cli_usage(c, "--heads: got '%.*s', expected %s or all", (int)len, t, heads);
        }
        t += len + (t[len] == ',');
    }
    return 0;
}

/* --only FIELDS: names from the output table and the derived fields. */
static int parse_only(lx_cli *c, opts *o, const char *list) {
    size_t n;
    const lx_output *out = lx_net_outputs(&n);
    o->n_only = 0;
    o->only_want = 0;
    for (const char *t = list; *t;) {
        size_t len = strcspn(t, ",");
        unsigned flag = 0;
        for (size_t i = 0; i < n; i++)
            if (is_name(t, len, out[i].name)) flag = out[i].flag;
        for (size_t i = 0; i < NDERIVED; i++)
            if (is_name(t, len, derived[i].name)) flag = derived[i].flag;
        if (len && !flag)
            return cli_usage(c, "--only: got '%.*s', expected output names such as "
                                "pooled_output (see lx-encode --help)", (int)len, t);
        if (len && o->n_only == sizeof o->only / sizeof *o->only)
            return cli_usage(c, "--only: too many names");
        if (len) {
            o->only[o->n_only].s = t;
            o->only[o->n_only++].len = len;
        }
        o->only_want |= flag;
        t += len + (t[len] == ',');
    }
    return o->n_only ? 0 : cli_usage(c, "--only: got an empty list");
}

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    switch (ch) {
    case O_HIDDEN: o->want |= LX_OUT_HIDDEN; break;
    case O_ATT: o->want |= LX_OUT_ATTENTIONS; break;
    case O_HEADS: return parse_heads(c, o, arg);
    case O_FILL: return cli_parse_long(c, "--fill-mask", arg, 1, 1000000, &o->fill_mask);
    case O_ONLY: return parse_only(c, o, arg);
    case O_DROP: o->drop_inputs = 1; break;
    case O_NOBOX: o->no_box_check = 1; break;
    case O_EXACT: o->exact_bf16 = 1; break;
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-encode",
    .about =
        "Usage: lx-encode [OPTION]... [FILE]\n"
        "Run the LXMERT encoder over each record of FILE (default: standard input) and\n"
        "append its outputs.  A record carries input_ids (token_type_ids, attention_mask\n"
        "optional) and visual_feats [N, 2048], visual_pos [N, 4] (boxes normalised to 0..1;\n"
        "visual_attention_mask optional).\n",
    .describe = describe,
    .options =
        "Choosing outputs:\n"
        "      --hidden-states   add the hidden states of every layer (see above)\n"
        "      --attentions      add the attention probabilities of every layer\n"
        "      --heads LIST      add the outputs of pre-training heads: a comma list of the\n"
        "                        --heads names above, or all\n"
        "      --fill-mask K     add fill_mask: the top K tokens with their probabilities\n"
        "                        at each [MASK] position (needs the mlm head)\n"
        "      --only FIELDS     keep only these outputs (a comma list of the names above,\n"
        "                        e.g. pooled_output); computes just what they need\n"
        "      --drop-inputs     remove the model inputs from the output records\n"
        "\n"
        "Computation:\n"
        "      --no-box-check    accept visual_pos values outside 0..1\n"
        "      --exact-bf16      with bf16 weights, compute in f32 (exact, slower) instead\n"
        "                        of with the CPU's bf16 dot products\n",
    .examples =
        "Examples:\n"
        "  lx-tokenize -m vqa.lxm < q.jsonl | lx-embed-vis --features f.tsv |\n"
        "    lx-encode -m vqa.lxm --only pooled_output | lx-vqa -m vqa.lxm\n"
        "  lx-encode -m pretrain.lxm --fill-mask 5 --only fill_mask -f json \\\n"
        "    < masked.jsonl\n",
    .flags = CLI_INPUT | CLI_MODEL | CLI_NET | CLI_BATCH | CLI_RECORDS,
    .format = LX_FMT_BIN,
    .longopts = longopts,
    .option = option,
};

/* ---- per-record additions ----------------------------------------------------------- */

typedef struct run {
    const opts *o;
    unsigned want;                /* what the forward pass computes */
    unsigned asked;               /* what the user asked to see (--fill-mask adds to want) */
    lx_model *model;
    lx_net *net;
    int64_t mask_id;              /* the [MASK] token (--fill-mask) */
    lx_pick *picks;               /* [fill_mask] */
} run;

/* fill_mask: for each [MASK] in input_ids, the top K tokens of prediction_logits with
 * their softmax probabilities. */
static int fill_mask(run *R, lx_record *r, lx_error *err) {
    const lx_tensor *lg = lx_record_tensor(r, "prediction_logits");
    const lx_tensor *ids_t;
    int64_t *id = lx_record_get_i64(r, "input_ids", &ids_t, err);
    if (!id) return -1;
    size_t L = (size_t)ids_t->shape[0], V = (size_t)lg->shape[1];
    json_t *list = json_array();
    for (size_t t = 0; list && t < L; t++) {
        if (id[t] != R->mask_id) continue;
        const float *row = (const float *)lg->data + t * V;
        size_t k = lx_topk(row, V, (size_t)R->o->fill_mask, LX_SCORE_SOFTMAX, R->picks);
        json_t *toks = json_array();
        for (size_t j = 0; toks && j < k; j++) {
            const char *s = lx_model_vocab_token(R->model, R->picks[j].index);
            if (json_array_append_new(toks, json_pack("{s:s, s:I, s:f}", "token", s ? s : "",
                                                      "id", (json_int_t)R->picks[j].index,
                                                      "score", (double)R->picks[j].score)) < 0)
                toks = (json_decref(toks), NULL); /* never a list missing a token */
        }
        if (!toks || json_array_append_new(list, json_pack("{s:I, s:o}", "position",
                                                           (json_int_t)t, "tokens", toks)) < 0)
            list = (json_decref(list), NULL);
    }
    free(id);
    if (!list) return lx_error_set(err, "out of memory");
    return lx_record_set_json(r, "fill_mask", list, err);
}

/* match_probability: the softmax probability of cross_relationship_score's class 1
 * ("the sentence matches the image", as LXMERT's pre-training labels it), in double:
 * for two classes, 1 / (1 + exp(s0 - s1)). */
static int match_probability(lx_record *r, lx_error *err) {
    const float *s = lx_record_tensor(r, "cross_relationship_score")->data;
    double prob = 1.0 / (1.0 + exp((double)s[0] - (double)s[1]));
    return lx_record_set_json(r, "match_probability", json_real(prob), err);
}

static int is_only(const opts *o, const char *name) {
    for (size_t i = 0; i < o->n_only; i++)
        if (is_name(o->only[i].s, o->only[i].len, name)) return 1;
    return 0;
}

/* After the forward pass: derived fields, then drop what was not asked for. */
static int finish_record(run *R, lx_record *r, lx_error *err) {
    const opts *o = R->o;
    size_t n;
    if (o->fill_mask && fill_mask(R, r, err) < 0) return -1;
    if ((R->want & LX_OUT_MATCH) && match_probability(r, err) < 0) return -1;
    const lx_output *out = lx_net_outputs(&n);
    for (size_t i = 0; i < n; i++) /* with --only, all but its names; else what was
                                      computed only to derive a field */
        if (o->n_only ? !is_only(o, out[i].name) : (out[i].flag & R->want & ~R->asked) != 0)
            lx_record_remove(r, out[i].name);
    for (size_t i = 0; o->n_only && i < NDERIVED; i++)
        if (!is_only(o, derived[i].name)) lx_record_remove(r, derived[i].name);
    const lx_input *in = lx_net_inputs(&n);
    for (size_t i = 0; o->drop_inputs && i < n; i++) lx_record_remove(r, in[i].name);
    return 0;
}

/* ---- the record loop ------------------------------------------------------------------ */

/* Inputs are checked as they are read, so that an error names its record. */
static int check_record(void *ctx, lx_record *r, size_t slot, lx_error *err) {
    run *R = ctx;
    return lx_net_check(R->net, r, err);
}

/* A record whose outputs are not finite (bad[i]) gets none: the loop reports it. */
static int run_batch(void *ctx, lx_record *recs, size_t n, lx_error *bad, lx_error *err) {
    run *R = ctx;
    if (lx_net_forward(R->net, recs, n, R->want, bad, err) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (!bad[i].msg[0] && finish_record(R, &recs[i], err) < 0) return -1;
    return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

/* The model, the network, and what --fill-mask needs.  Returns 0 or -1. */
static int setup(run *R, const lx_cli *c, lx_error *err) {
    const char *path = cli_model_path(c);
    if (!(R->model = cli_model_open(c, NULL, err))) return -1;
    lx_net_opts no = {.no_box_check = R->o->no_box_check, .exact_bf16 = R->o->exact_bf16};
    if (!(R->net = cli_net_new(c, R->model, no, err))) return -1;
    /* the first record reads nearly every weight: map them all now, in one call, while
     * the tools before this one in a pipeline are still at work (the first output of a
     * fresh process came 3-7 ms sooner, f32 base model, medians of five) */
    lx_model_populate(R->model);
    size_t n;
    const lx_output *out = lx_net_outputs(&n);
    unsigned miss = R->want & ~lx_net_available(R->net);
    for (size_t i = 0; i < n; i++)
        if (miss & out[i].flag)
            return out[i].head
                ? lx_error_set(err, "%s: the model has no %s head (convert a checkpoint that "
                                    "carries it, e.g. LxmertForPreTraining)", path, out[i].head)
                : lx_error_set(err, "%s: the model cannot give %s", path, out[i].name);
    if (R->o->fill_mask) {
        R->mask_id = -1;
        for (size_t i = 0; i < lx_model_vocab_size(R->model) && R->mask_id < 0; i++)
            if (strcmp(lx_model_vocab_token(R->model, i), "[MASK]") == 0) R->mask_id = (int64_t)i;
        if (R->mask_id < 0)
            return lx_error_set(err, "%s: --fill-mask: the model's vocabulary has no [MASK] "
                                     "token", path);
        if (!(R->picks = calloc((size_t)R->o->fill_mask, sizeof *R->picks)))
            return lx_error_set(err, "out of memory");
    }
    return 0;
}

int main(int argc, char **argv) {
    opts o = {.want = DEFAULT_OUTPUTS};
    lx_cli c;
    int st = cli_start(&c, &tool, argc, argv, &o);
    if (st != CLI_RUN) return st;
    if (is_only(&o, "fill_mask") && !o.fill_mask)
        return cli_usage(&c, "--only fill_mask needs --fill-mask K");
    /* --only narrows the computation to what its names need; --fill-mask computes the
     * mlm head's logits, kept only when asked for */
    run R = {.o = &o, .want = o.n_only ? o.only_want : o.want};
    R.asked = R.want;
    if (o.fill_mask) R.want |= LX_OUT_MLM;

    lx_error err = {0};
    if (setup(&R, &c, &err) < 0)
        st = cli_error(&c, "%s", err.msg);
    else
        st = cli_records(&c, &(cli_loop){.check = check_record, .run = run_batch, .ctx = &R});
    free(R.picks);
    lx_net_free(R.net);
    lx_model_close(R.model);
    return cli_finish(&c, st);
}
