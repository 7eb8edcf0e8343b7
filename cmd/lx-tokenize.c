/*
 * lx-tokenize — BERT WordPiece over a record stream: text fields in, input_ids and
 * token_type_ids out (or, with --decode, input_ids back to text).
 *
 * A thin main on the cli skeleton (cmd/common/cli.h): its options, the vocabulary
 * (from the .lxm model or a vocab.txt), then one callback per record.  All
 * tokenization is lib/tokenizer.c.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lx.h"

typedef struct opts {
    const char *vocab;            /* --vocab: vocab.txt, instead of the model's vocabulary */
    int cased;                    /* --cased: no lower-casing, no accent stripping */
    const char *field;            /* --field: text field (default: text, sent or question) */
    const char *pair_field;       /* --pair-field: second segment (default: none) */
    int lines;                    /* --lines: each input line is plain text */
    int tokens;                   /* --tokens: also add the word pieces as strings */
    long max_length;              /* --max-length: truncate to N tokens (0: never) */
    int decode;                   /* --decode: input_ids -> text */
    int skip_special;             /* --skip-special: with --decode, leave [CLS] etc. out */
} opts;

static const char *const default_fields[] = {"text", "sent", "question"};

enum { O_VOCAB = CLI_OWN, O_CASED, O_FIELD, O_PAIR, O_LINES, O_TOKENS, O_MAXLEN, O_DECODE,
       O_SKIPSPECIAL };

static const struct option longopts[] = {
    {"vocab", required_argument, NULL, O_VOCAB},
    {"cased", no_argument, NULL, O_CASED},
    {"field", required_argument, NULL, O_FIELD},
    {"pair-field", required_argument, NULL, O_PAIR},
    {"lines", no_argument, NULL, O_LINES},
    {"tokens", no_argument, NULL, O_TOKENS},
    {"max-length", required_argument, NULL, O_MAXLEN},
    {"decode", no_argument, NULL, O_DECODE},
    {"skip-special", no_argument, NULL, O_SKIPSPECIAL},
    {NULL, 0, NULL, 0},
};

static int option(lx_cli *c, void *p, int ch, const char *arg) {
    opts *o = p;
    switch (ch) {
    case O_VOCAB: o->vocab = arg; break;
    case O_CASED: o->cased = 1; break;
    case O_FIELD: o->field = arg; break;
    case O_PAIR: o->pair_field = arg; break;
    case O_LINES: o->lines = 1; break;
    case O_TOKENS: o->tokens = 1; break;
    case O_MAXLEN: return cli_parse_long(c, "--max-length", arg, 2, 1L << 30, &o->max_length);
    case O_DECODE: o->decode = 1; break;
    case O_SKIPSPECIAL: o->skip_special = 1; break;
    }
    return 0;
}

static const cli_tool tool = {
    .name = "lx-tokenize",
    .about =
        "Usage: lx-tokenize [OPTION]... [FILE]\n"
        "Tokenize the text of each record with BERT WordPiece (as HF LxmertTokenizer does)\n"
        "and append input_ids and token_type_ids.  Reads FILE or standard input: JSON lines,\n"
        "a JSON array of records, or binary frames.  The vocabulary comes from the model\n"
        "(-m or $LX_MODEL) or from --vocab.  Special tokens written in the text ([CLS],\n"
        "[SEP], [PAD], [UNK], [MASK]; case matters) stay whole.\n",
    .options =
        "Vocabulary:\n"
        "      --vocab FILE      a vocab.txt (one token per line, id = line number) instead\n"
        "                        of the model's\n"
        "      --cased           keep case and accents (default: lower-case, strip accents,\n"
        "                        unless the model says otherwise)\n"
        "\n"
        "Input and output:\n"
        "      --field NAME      the text field (default: the first of text, sent, question\n"
        "                        that the record has); with --decode, the field written\n"
        "                        (default: text)\n"
        "      --pair-field NAME a second segment (token type 1), e.g. a caption\n"
        "      --lines           each input line is plain text (the record is {\"text\": LINE},\n"
        "                        or --field NAME)\n"
        "      --max-length N    at most N tokens, [CLS] and [SEP] included, cutting the\n"
        "                        longer segment first (HF longest_first); default: no limit\n"
        "      --tokens          also add the word pieces as \"tokens\" (a list of strings)\n"
        "      --decode          turn input_ids back into text instead: pieces joined by\n"
        "                        spaces, \"##\" pieces glued to the one before (an empty\n"
        "                        list gives \"\")\n"
        "      --skip-special    with --decode, leave out [CLS], [SEP], [PAD], [UNK], [MASK]\n",
    .examples =
        "Examples:\n"
        "  lx-tokenize -m vqa.lxm --max-length 20 < questions.jsonl > tokenized.jsonl\n"
        "  echo 'Is the [MASK] red?' | lx-tokenize --vocab vocab.txt --lines --tokens\n",
    .flags = CLI_INPUT | CLI_MODEL | CLI_RECORDS,
    .format = LX_FMT_JSON,
    .model_help = "the .lxm model, for its vocabulary and whether\n"
                  "                        to lower-case (default: $LX_MODEL)",
    .threads_help = "accepted for uniformity; tokenizing uses one thread",
    .longopts = longopts,
    .option = option,
};

typedef struct ctx {
    const opts *o;
    lx_tokenizer *tok;
    lx_vocab *vocab;
    lx_encoding enc;
    json_t **piece;               /* [vocab size]: --tokens strings, made once per id */
} ctx;

/* The string field name of r into *s / *n; err names the field and what it holds. */
static int get_text(const lx_record *r, const char *name, const char **s, size_t *n,
                    lx_error *err) {
    lx_field *f = lx_record_find(r, name);
    if (!f)
        return lx_error_set(err, "no field '%s'", name);
    if (!f->json)
        return lx_error_set(err, "field '%s': got a tensor, expected a string", name);
    if (!json_is_string(f->json))
        return lx_error_set(err, "field '%s': got a JSON %s, expected a string", name,
                            json_is_number(f->json) ? "number" :
                            json_is_array(f->json)  ? "array" :
                            json_is_object(f->json) ? "object" :
                            json_is_null(f->json)   ? "null" : "boolean");
    *s = json_string_value(f->json);
    *n = json_string_length(f->json);
    return 0;
}

static int set_ids(lx_record *r, const char *name, const int64_t *v, size_t n,
                   lx_error *err) {
    lx_tensor t;
    int64_t shape[1] = {(int64_t)n};
    if (lx_tensor_alloc(&t, LX_I64, 1, shape, err) < 0)
        return -1;
    memcpy(t.data, v, n * sizeof *v);
    return lx_record_set_tensor(r, name, &t, err);
}

static int tokenize_record(void *p, lx_record *r, lx_error *err) {
    ctx *c = p;
    const opts *o = c->o;
    const char *field = o->field, *a, *b = NULL;
    size_t alen, blen = 0;
    if (!field) {
        for (size_t i = 0; i < sizeof default_fields / sizeof *default_fields; i++)
            if (lx_record_find(r, default_fields[i])) {
                field = default_fields[i];
                break;
            }
        if (!field)
            return lx_error_set(err, "no text field: expected one of text, sent, question "
                                     "(or name it with --field)");
    }
    if (get_text(r, field, &a, &alen, err) < 0)
        return -1;
    if (o->pair_field && get_text(r, o->pair_field, &b, &blen, err) < 0)
        return -1;
    if (lx_tokenizer_encode(c->tok, a, alen, b, blen, (size_t)o->max_length, &c->enc, err) < 0)
        return lx_error_prefix(err, "field '%s'", field);
    if (set_ids(r, "input_ids", c->enc.input_ids, c->enc.n, err) < 0 ||
        set_ids(r, "token_type_ids", c->enc.token_type_ids, c->enc.n, err) < 0)
        return -1;
    if (o->tokens) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < c->enc.n; i++) {
            int64_t id = c->enc.input_ids[i];
            if (!c->piece[id])
                c->piece[id] = json_string(lx_vocab_token(c->vocab, id));
            if (json_array_append(arr, c->piece[id]))
                arr = (json_decref(arr), NULL);
        }
        if (!arr)
            return lx_error_set(err, "out of memory");
        if (lx_record_set_json(r, "tokens", arr, err) < 0)
            return -1;
    }
    return 1;
}

/* --decode: input_ids back to text.  An empty list decodes to "" (as HF's decode([])
 * does); the reader gives it as an empty JSON array, not a tensor (t is NULL). */
static int decode_record(void *p, lx_record *r, lx_error *err) {
    ctx *c = p;
    const lx_tensor *t;
    int64_t *ids = lx_record_get_i64(r, "input_ids", &t, err);
    if (!ids)
        return -1;
    if (t && t->ndim != 1) {
        char buf[128];
        free(ids);
        return lx_error_set(err, "input_ids: got shape %s, expected [L]",
                            lx_tensor_shape_str(t, buf, sizeof buf));
    }
    size_t len;
    char *s = lx_tokenizer_decode(c->tok, ids, t ? (size_t)t->shape[0] : 0,
                                  c->o->skip_special, &len, err);
    free(ids);
    if (!s)
        return -1;
    json_t *v = json_stringn(s, len);
    free(s);
    if (!v)
        return lx_error_set(err, "input_ids: the decoded text is not valid UTF-8");
    return lx_record_set_json(r, c->o->field ? c->o->field : "text", v, err) < 0 ? -1 : 1;
}

/* The vocabulary and the lower-casing choice, from --vocab or the model. */
static lx_vocab *load_vocab(const lx_cli *cl, const opts *o, int *lower, lx_error *err) {
    *lower = !o->cased;
    if (o->vocab)
        return lx_vocab_load(o->vocab, err);
    lx_model *m = cli_model_open(cl, "give --vocab FILE", err);
    if (!m)
        return NULL;
    lx_vocab *v = NULL;
    if (lx_model_kind_of(m) == LX_MODEL_LXMERT && lx_model_vocab_size(m) == 0)
        lx_error_set(err, "%s: the model file has no vocabulary (give --vocab FILE)",
                     cli_model_path(cl));
    else /* the detector: "PATH: is a detector (Faster R-CNN), expected an LXMERT model" */
        v = lx_model_vocab(m, err);
    if (v && !o->cased)
        *lower = lx_model_config(m)->do_lower_case != 0;
    lx_model_close(m);
    return v;
}

/* The vocabulary, the tokenizer and the --tokens strings.  Returns 0 or -1. */
static int setup(ctx *c, const lx_cli *cl, lx_error *err) {
    int lower;
    if (!(c->vocab = load_vocab(cl, c->o, &lower, err)))
        return -1;
    lx_encoding_init(&c->enc);
    if (!(c->piece = calloc(lx_vocab_size(c->vocab), sizeof *c->piece)))
        return lx_error_set(err, "out of memory");
    if ((c->tok = lx_tokenizer_new(c->vocab, lower, err)))
        return 0;
    /* a vocabulary the tokenizer cannot use (no [UNK]): named by where it came from */
    return lx_error_prefix(err, "%s", c->o->vocab ? c->o->vocab : cli_model_path(cl));
}

static void teardown(ctx *c) {
    lx_tokenizer_free(c->tok);
    lx_encoding_free(&c->enc);
    for (size_t i = 0; c->piece && i < lx_vocab_size(c->vocab); i++)
        json_decref(c->piece[i]);
    free(c->piece);
    lx_vocab_free(c->vocab);
}

int main(int argc, char **argv) {
    opts o = {0};
    lx_cli cl;
    int st = cli_start(&cl, &tool, argc, argv, &o);
    if (st != CLI_RUN)
        return st;
    if (o.vocab && cl.model)
        return cli_usage(&cl, "give either -m MODEL or --vocab FILE, not both");
    if (o.decode && (o.pair_field || o.lines || o.tokens || o.max_length))
        return cli_usage(&cl, "--decode reads input_ids; it takes no --pair-field, --lines, "
                              "--tokens or --max-length");
    if (o.skip_special && !o.decode)
        return cli_usage(&cl, "--skip-special goes with --decode");
    if (o.pair_field && o.max_length == 2)
        return cli_usage(&cl, "--max-length 2 leaves no room for a pair's three special "
                              "tokens");

    ctx c = {.o = &o};
    lx_error err = {0};
    if (setup(&c, &cl, &err) < 0)
        st = cli_error(&cl, "%s", err.msg);
    else
        st = cli_records(&cl, &(cli_loop){
            .each = o.decode ? decode_record : tokenize_record, .ctx = &c,
            .lines = o.lines ? (o.field ? o.field : "text") : NULL});
    teardown(&c);
    return cli_finish(&cl, st);
}
