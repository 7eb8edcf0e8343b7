/*
 * lx-vqa — answer visual questions: the VQA head, top-k answers with scores, and the
 * accuracy when the records carry the truth.
 *
 * Each record either carries pooled_output (from lx-encode: only the answer head runs)
 * or the model inputs (from lx-embed-vis: the encoder runs too, in batches of --batch
 * records).  The tool appends `answer` (the top-1 string) and `answers` (the top-k as
 * {"answer", "label", "score", "logit"}), then `vqa_score` when the record has LXMERT's
 * `label` {answer: soft score} and `vqa_accuracy` when it has the annotation's ten human
 * `answers` (which the predictions then replace).  With --eval the totals go to stderr
 * at the end, or as JSON to --eval-out.
 *
 * The bulky tensors the answer consumed (every network output and the per-region
 * inputs, from the library's tables) are dropped unless --keep-tensors is given: an
 * answer record stays a short line.  --attentions asks the encoder for the
 * cross-modality attentions as well and keeps what lx-show draws (the boxes and those
 * attentions), dropping the rest.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lx.h"

typedef struct opts {
    const char *labels;           /* --labels FILE (default: the model's labels) */
    long top_k;                   /* -k: answers listed per record (5) */
    lx_scoring scoring;           /* --score: sigmoid (default) or softmax */
    int eval;                     /* --eval: print the accuracy summary at the end */
    int eval_only;                /* --eval-only: score the records' own "answer"; no model */
    const char *eval_out;         /* --eval-out FILE: the summary as JSON there */
    int keep_tensors;             /* --keep-tensors: keep inputs and encoder outputs */
    int attentions;               /* --attentions: add and keep cross_encoder_attentions,
                                     keep visual_pos */
} opts;

enum { O_LABELS = CLI_OWN, O_SCORE, O_EVAL, O_EVAL_OUT, O_EVAL_ONLY, O_KEEP, O_ATT };

static const struct option longopts[] = {
    {"labels", required_argument, NULL, O_LABELS},
    {"top-k", required_argument, NULL, 'k'},
    {"score", required_argument, NULL, O_SCORE},
    {"eval", no_argument, NULL, O_EVAL},
    {"eval-out", required_argument, NULL, O_EVAL_OUT},
    {"eval-only", no_argument, NULL, O_EVAL_ONLY},
    {"keep-tensors", no_argument, NULL, O_KEEP},
    {"attentions", no_argument, NULL, O_ATT},
    {NULL, 0, NULL, 0},
};

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    switch (ch) {
    case O_LABELS: o->labels = arg; break;
    case 'k': return cli_parse_long(c, "--top-k", arg, 1, 1000000, &o->top_k);
    case O_SCORE:
        if (lx_scoring_parse(arg, &o->scoring) < 0)
            return cli_usage(c, "--score: got '%s', expected sigmoid or softmax", arg);
        break;
    case O_EVAL: o->eval = 1; break;
    case O_EVAL_OUT: o->eval_out = arg; o->eval = 1; break;
    case O_EVAL_ONLY: o->eval_only = 1; o->eval = 1; break;
    case O_KEEP: o->keep_tensors = 1; break;
    case O_ATT: o->attentions = 1; break;
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-vqa",
    .about =
        "Usage: lx-vqa [OPTION]... [FILE]\n"
        "Answer the visual question of each record of FILE (default: standard input).\n"
        "A record carries pooled_output (from lx-encode; only the answer head runs) or the\n"
        "model inputs (from lx-embed-vis; the encoder runs too).  Appends \"answer\" (the\n"
        "best answer) and \"answers\" (the top K as {answer, label, score, logit}); with\n"
        "LXMERT's \"label\" {answer: score} also \"vqa_score\", with the annotation's human\n"
        "\"answers\" also \"vqa_accuracy\" (the official VQA accuracy; the human answers are\n"
        "replaced by the predictions).\n",
    .options =
        "Answers:\n"
        "      --labels FILE     answer labels: a label2ans JSON list, an ans2label object\n"
        "                        or LXMERT's all_ans.json list of {\"ans\": ...}\n"
        "                        (default: the labels in the model file)\n"
        "  -k, --top-k K         answers listed per record (default 5)\n"
        "      --score KIND      sigmoid (default; VQA heads) or softmax (GQA-style heads)\n"
        "      --keep-tensors    keep the model inputs and encoder outputs (dropped by\n"
        "                        default: visual_feats, visual_pos, pooled_output, ...)\n"
        "      --attentions      also add cross_encoder_attentions (the encoder's cross-\n"
        "                        modality attentions only) and keep what lx-show draws:\n"
        "                        those and visual_pos; the features are dropped\n"
        "\n"
        "Accuracy:\n"
        "      --eval            print the accuracy summary on stderr at the end: count,\n"
        "                        LXMERT's score and the official VQA accuracy, overall and\n"
        "                        per question_type / answer_type (percent)\n"
        "      --eval-out FILE   write the summary as JSON to FILE (implies --eval)\n"
        "      --eval-only       no model: score each record's own \"answer\" (taking\n"
        "                        vqa_score / vqa_accuracy as an earlier lx-vqa wrote\n"
        "                        them) and print the summary (implies --eval)\n",
    .examples =
        "Examples:\n"
        "  export LX_MODEL=vqa.lxm\n"
        "  lx-tokenize < minival.jsonl | lx-embed-vis --features val2014_obj36.tsv |\n"
        "    lx-vqa --eval > answers.jsonl\n"
        "  cat answers-*.jsonl | lx-vqa --eval-only > /dev/null\n",
    .flags = CLI_INPUT | CLI_MODEL | CLI_NET | CLI_BATCH | CLI_RECORDS,
    .format = LX_FMT_JSON,
    .shortopts = "k:",
    .longopts = longopts,
    .option = option,
};

typedef struct run {
    const opts *o;
    lx_cli *cli;
    lx_model *model;
    lx_net *net;
    lx_strlist labels;
    size_t nlabels, hidden;
    lx_vqa_eval *ev;
    size_t n_notruth;             /* records without label or human answers */
    lx_pick *picks;               /* [top_k] */
    float *pooled, *logits;       /* [batch, hidden], [batch, nlabels] */
    int *kind;                    /* [batch]: what classify said of each record */
    lx_error *bad;                /* [batch]: the outputs of a part of the batch that are
                                     not finite (lx_net_qa_head, lx_net_forward) */
    lx_outfile *eval_file;        /* --eval-out, open from the start: refused before the
                                     run if it cannot be written */
} run;

/* Drop the bulky fields an answer consumed: every network output and the inputs that
 * hold one entry per region (the features); the token inputs stay.  With attentions,
 * what lx-show draws stays too: the cross-modality attentions and the per-region inputs
 * but the features. */
static void drop_bulky(lx_record *r, int attentions) {
    size_t n;
    const lx_output *out = lx_net_outputs(&n);
    for (size_t i = 0; i < n; i++)
        if (!attentions || !(out[i].flag & LX_OUT_CROSS_ATTENTIONS))
            lx_record_remove(r, out[i].name);
    const lx_input *in = lx_net_inputs(&n);
    for (size_t i = 0; i < n; i++)
        if (in[i].per_region && (!attentions || strcmp(in[i].name, "visual_feats") == 0))
            lx_record_remove(r, in[i].name);
}

/* ---- the truth a record carries ------------------------------------------------- */

/* Answer one record from its logits: top-k, the fields, the scores. */
static int answer(run *R, lx_record *r, const float *logits, lx_error *err) {
    /* the picks first: a record that cannot be answered is not counted in the summary
     * (the head's check leaves no logit that is not finite, so neither fails) */
    size_t k = lx_topk(logits, R->nlabels, (size_t)R->o->top_k, R->o->scoring, R->picks);
    if (k == 0)
        return lx_error_set(err, "question_answering_score: no logit is a number");
    json_t *picks = lx_vqa_picks_json(R->picks, k, &R->labels);
    if (!picks)
        return lx_error_set(err, "answers: out of memory, or a score that is not finite");
    const json_t *label, *humans;
    if (lx_vqa_record_truth(r, &label, &humans, err) < 0) { /* checked before the batch */
        json_decref(picks);
        return -1;
    }
    json_t *humans_ref = humans ? json_incref((json_t *)humans) : NULL;
    const char *best = R->labels.items[R->picks[0].index];
    const char *qt = json_string_value(lx_record_json(r, "question_type"));
    const char *at = json_string_value(lx_record_json(r, "answer_type"));
    double soft = -1, official = -1;
    int rc = -1;
    if ((label || humans) &&
        lx_vqa_eval_add(R->ev, best, label, humans, qt, at, &soft, &official, err) < 0)
        goto out;
    if (!label && !humans)
        R->n_notruth++;
    if (!R->o->keep_tensors)
        drop_bulky(r, R->o->attentions);
    if (lx_record_set_json(r, "answer", json_string(best), err) < 0)
        goto out;
    json_t *given = picks;
    picks = NULL; /* the record takes it, or frees it */
    if (lx_record_set_json(r, "answers", given, err) < 0)
        goto out;
    if (label && lx_record_set_json(r, "vqa_score", json_real(soft), err) < 0)
        goto out;
    if (humans && lx_record_set_json(r, "vqa_accuracy", json_real(official), err) < 0)
        goto out;
    rc = 0;
out:
    json_decref(picks);
    json_decref(humans_ref);
    return rc;
}

/* ---- batches ----------------------------------------------------------------------- */

/* The truth must be well formed before the record joins a batch, so that a bad one is
 * reported as that record's error. */
static int check_truth(const lx_record *r, lx_error *err) {
    const json_t *label, *humans;
    return lx_vqa_record_truth(r, &label, &humans, err);
}

/* Check one record and say how it will be answered: 1 head only, 2 encoder. */
static int classify(run *R, const lx_record *r, lx_error *err) {
    if (check_truth(r, err) < 0)
        return -1;
    const lx_tensor *p = lx_record_tensor(r, "pooled_output");
    if (p) {
        if (p->ndim != 1 || p->shape[0] != (int64_t)R->hidden) {
            char g[96];
            return lx_error_set(err, "pooled_output: got %s, expected [%zu]",
                                lx_tensor_shape_str(p, g, sizeof g), R->hidden);
        }
        float *v = lx_record_get_f32(r, "pooled_output", NULL, err);
        if (!v)
            return -1;
        for (size_t i = 0; i < R->hidden; i++)
            if (!isfinite(v[i])) {
                lx_error_set(err, "pooled_output[%zu]: got %g, expected a finite number", i,
                             (double)v[i]);
                free(v);
                return -1;
            }
        free(v);
        return 1;
    }
    if (!lx_record_find(r, "input_ids") || !lx_record_find(r, "visual_feats"))
        return lx_error_set(err, "got neither pooled_output (from lx-encode) nor the model "
                                 "inputs input_ids and visual_feats (from lx-embed-vis)");
    if (lx_net_check(R->net, r, err) < 0)
        return -1;
    return 2;
}

/* Answer recs[0..n) (all checked): head-only records in one head call, the others
 * through the encoder in one batch.  A record whose logits are not finite gets its
 * message in bad[i] and no answer. */
static int answer_batch(run *R, lx_record *recs, const int *kind, size_t n, lx_error *bad,
                        lx_error *err) {
    size_t H = R->hidden, nh = 0;
    size_t idx[n ? n : 1];
    for (size_t i = 0; i < n; i++)
        if (kind[i] == 1) {
            const lx_tensor *p = lx_record_tensor(&recs[i], "pooled_output");
            lx_convert_to_f32(R->pooled + nh * H, p->data, p->dtype, H);
            idx[nh++] = i;
        }
    if (nh && lx_net_qa_head(R->net, R->pooled, nh, R->logits, R->bad, err) < 0)
        return -1;
    for (size_t j = 0; j < nh; j++)
        if (R->bad[j].msg[0])
            bad[idx[j]] = R->bad[j];
        else if (answer(R, &recs[idx[j]], R->logits + j * R->nlabels, err) < 0)
            return -1;
    /* encoder records: gathered to the front of a scratch order so one call runs them */
    size_t ne = 0;
    lx_record enc[n ? n : 1];
    for (size_t i = 0; i < n; i++)
        if (kind[i] == 2) {
            enc[ne] = recs[i]; /* shallow: moved back below */
            idx[ne++] = i;
        }
    if (ne == 0)
        return 0;
    unsigned want = LX_OUT_QA | (R->o->attentions ? LX_OUT_CROSS_ATTENTIONS : 0);
    int rc = lx_net_forward(R->net, enc, ne, want, R->bad, err);
    for (size_t j = 0; j < ne; j++)
        recs[idx[j]] = enc[j];
    if (rc < 0)
        return -1;
    for (size_t j = 0; j < ne; j++) {
        lx_record *r = &recs[idx[j]];
        if (R->bad[j].msg[0]) {
            bad[idx[j]] = R->bad[j];
            continue;
        }
        const lx_tensor *q = lx_record_tensor(r, "question_answering_score");
        if (!q || lx_tensor_nelem(q) != (int64_t)R->nlabels || q->dtype != LX_F32)
            return lx_error_set(err, "internal: the encoder gave no question_answering_score");
        if (answer(R, r, q->data, err) < 0)
            return -1;
        lx_record_remove(r, "question_answering_score");
    }
    return 0;
}

/* The record loop's two steps (cli_batch_filter): classify each record as it is read,
 * so that an error names it, then answer a batch of good ones. */
static int check_record(void *ctx, lx_record *r, size_t slot, lx_error *err) {
    run *R = ctx;
    int k = classify(R, r, err);
    if (k <= 0) return -1;
    R->kind[slot] = k;
    return 0;
}

static int run_batch(void *ctx, lx_record *recs, size_t n, lx_error *bad, lx_error *err) {
    run *R = ctx;
    return answer_batch(R, recs, R->kind, n, bad, err);
}

/* --eval-only: the prediction is the record's "answer"; scores an earlier lx-vqa wrote
 * (vqa_score, vqa_accuracy) are taken as they are, the others computed from the truth and
 * appended.  This totals the outputs of several runs, or scores predictions made
 * elsewhere. */
static int eval_record(void *ctx, lx_record *r, lx_error *err) {
    run *R = ctx;
    const char *pred = json_string_value(lx_record_json(r, "answer"));
    if (!pred)
        return lx_error_set(err, "answer: %s, expected the prediction (a string)",
                            lx_record_find(r, "answer") ? "got a non-string" : "missing");
    const json_t *label, *humans;
    if (lx_vqa_record_truth(r, &label, &humans, err) < 0)
        return -1;
    const json_t *vs = lx_record_json(r, "vqa_score"), *va = lx_record_json(r, "vqa_accuracy");
    double soft = json_is_number(vs) ? json_number_value(vs) : -1;
    double official = json_is_number(va) ? json_number_value(va) : -1;
    if (soft < 0 && label) {
        if (lx_vqa_soft_score(label, pred, &soft, err) < 0 ||
            lx_record_set_json(r, "vqa_score", json_real(soft), err) < 0)
            return -1;
    }
    if (official < 0 && humans) {
        if (lx_vqa_human_accuracy(humans, pred, &official, err) < 0 ||
            lx_record_set_json(r, "vqa_accuracy", json_real(official), err) < 0)
            return -1;
    }
    if (soft < 0 && official < 0)
        R->n_notruth++;
    if (lx_vqa_eval_add_scores(R->ev, soft, official,
                               json_string_value(lx_record_json(r, "question_type")),
                               json_string_value(lx_record_json(r, "answer_type")), err) < 0)
        return -1;
    return 1;
}

/* ---- the summary ------------------------------------------------------------------- */

static void print_groups(const char *what, const json_t *g) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)g, k, v)
        fprintf(stderr, "    %s %-24s %6.2f\n", what, k, json_number_value(v));
}

static void print_metric(const char *title, const json_t *m) {
    if (!m)
        return;
    fprintf(stderr, "  %s: %.2f (%lld questions)\n", title,
            json_number_value(json_object_get(m, "overall")),
            (long long)json_integer_value(json_object_get(m, "count")));
    print_groups("answer type  ", json_object_get(m, "perAnswerType"));
    print_groups("question type", json_object_get(m, "perQuestionType"));
}

static int report(run *R) {
    json_t *s = lx_vqa_eval_summary(R->ev);
    if (!s)
        return cli_error(R->cli, "out of memory for the summary");
    int status = LX_EXIT_OK;
    if (R->eval_file) {
        lx_error err = {0};
        lx_outfile *f = R->eval_file;
        R->eval_file = NULL;
        if (json_dumpfd(s, lx_outfile_fd(f), JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0 ||
            lx_outfile_write(f, "\n", 1, &err) < 0) {
            lx_outfile_abort(f);
            status = cli_error(R->cli, "%s: write failed: %s", R->o->eval_out,
                               err.msg[0] ? err.msg : strerror(errno));
        } else if (lx_outfile_commit(f, &err) < 0) {
            status = cli_error(R->cli, "%s", err.msg);
        }
    } else {
        cli_note(R->cli, "eval: %lld questions with answers to compare, %zu without",
                 (long long)json_integer_value(json_object_get(s, "count")), R->n_notruth);
        print_metric("LXMERT score (label[answer])", json_object_get(s, "lxmert"));
        print_metric("VQA accuracy (official)", json_object_get(s, "official"));
    }
    json_decref(s);
    return status;
}

/* ---- main ------------------------------------------------------------------------- */

/* The model, its network and labels, and the batch's buffers.  Returns 0 or -1. */
static int setup(run *R, lx_error *err) {
    const lx_cli *c = R->cli;
    const char *path = cli_model_path(c);
    if (!(R->model = cli_model_open(c, NULL, err)) ||
        !(R->net = cli_net_new(c, R->model, (lx_net_opts){0}, err)))
        return -1;
    if (!(lx_net_available(R->net) & LX_OUT_QA))
        return lx_error_set(err, "%s: the model has no answer head (answer_head.logit_fc.*)",
                            path);
    const lx_config *cf = lx_model_config(R->model);
    R->hidden = (size_t)cf->hidden_size;
    R->nlabels = (size_t)cf->num_qa_labels;
    const lx_tensor *w = lx_model_tensor(R->model, "answer_head.logit_fc.3.weight");
    if (w && w->ndim == 2 && (size_t)w->shape[0] != R->nlabels)
        return lx_error_set(err, "%s: num_qa_labels is %zu but the head has %lld rows", path,
                            R->nlabels, (long long)w->shape[0]);
    if (R->o->labels) {
        if (lx_labels_read_file(&R->labels, R->o->labels, err) < 0)
            return -1;
    } else if (lx_vqa_labels_from_model(&R->labels, R->model, err) < 0) {
        return lx_error_prefix(err, "%s", path);
    }
    if (R->labels.n != R->nlabels)
        return lx_error_set(err, "%s: got %zu answer labels, expected %zu (the rows of the "
                                 "model's answer head)",
                            R->o->labels ? R->o->labels : path, R->labels.n, R->nlabels);
    size_t B = (size_t)c->batch;
    R->picks = calloc((size_t)R->o->top_k, sizeof *R->picks);
    R->pooled = calloc(B * R->hidden, sizeof *R->pooled);
    R->logits = calloc(B * R->nlabels, sizeof *R->logits);
    R->kind = calloc(B, sizeof *R->kind);
    R->bad = calloc(B, sizeof *R->bad);
    if (!R->picks || !R->pooled || !R->logits || !R->kind || !R->bad)
        return lx_error_set(err, "out of memory");
    return 0;
}

int main(int argc, char **argv) {
    opts o = {.top_k = 5, .scoring = LX_SCORE_SIGMOID};
    lx_cli c;
    int st = cli_start(&c, &tool, argc, argv, &o);
    if (st != CLI_RUN) return st;

    run R = {.o = &o, .cli = &c};
    lx_error err = {0};
    if (!(R.ev = lx_vqa_eval_new(&err)) || (!o.eval_only && setup(&R, &err) < 0)) {
        st = cli_error(&c, "%s", err.msg);
    } else if (o.eval_out && ((c.path && lx_file_same(o.eval_out, c.path)) ||
                              (o.labels && lx_file_same(o.eval_out, o.labels)))) {
        st = cli_error(&c, "cannot write %s: it is the %s, which this run reads; write to "
                           "another file", o.eval_out,
                       c.path && lx_file_same(o.eval_out, c.path) ? "input" : "--labels file");
    } else if (o.eval_out && !(R.eval_file = lx_outfile_open(o.eval_out, &err))) {
        st = cli_error(&c, "%s", err.msg);
    } else {
        st = cli_records(&c, o.eval_only
                                 ? &(cli_loop){.each = eval_record, .ctx = &R}
                                 : &(cli_loop){.check = check_record, .run = run_batch, .ctx = &R});
        /* a run that failed leaves an --eval-out file of an earlier run as it was */
        if (o.eval && (st == LX_EXIT_OK || !o.eval_out) && report(&R) != LX_EXIT_OK)
            st = LX_EXIT_FAIL;
    }
    lx_outfile_abort(R.eval_file); /* not written: the old file stays */
    lx_vqa_eval_free(R.ev);
    free(R.picks);
    free(R.pooled);
    free(R.logits);
    free(R.kind);
    free(R.bad);
    lx_strlist_free(&R.labels);
    lx_net_free(R.net);
    lx_model_close(R.model);
    return cli_finish(&c, st);
}
