/*
 * vqaeval.c — how good the answers are: LXMERT's soft score and the official VQA v2
 * accuracy.
 *
 * The official accuracy is what the VQA evaluation server computes, quirks included
 * (../shared/docs/vqa-eval.md has the precise rules; lx-vqa(1) repeats them):
 *
 *   1. every human answer and the prediction: '\n' and '\t' to ' ', strip whitespace;
 *   2. unless the human answers all agree, normalise all of them and the prediction:
 *      a. punctuation: each of 21 characters is deleted when the text has it next to a
 *         space (or has a digit,digit anywhere), else replaced by a space; then every '.'
 *         not followed by a digit is deleted, at most 32 of them (the official code passes
 *         re.UNICODE where re.sub takes its count);
 *      b. lower-case, split on whitespace, number words to digits, drop articles, map
 *         contractions (exact keys: "Im" never matches a lower-cased word), join;
 *   3. accuracy = mean over the n humans of min(1, (matches among the other n-1) / 3).
 *
 * Over a set: 100 × the mean, overall and per question / answer type (unrounded here; the
 * server rounds to two decimals).  LXMERT's own evaluator instead scores a prediction as
 * the record's label[prediction], 0 when absent.
 *
 * Text is UTF-8.  Lower-casing and whitespace follow Python's str methods for single code
 * points (utf8proc's simple case mapping; Python's few one-to-many lower-case mappings
 * such as U+0130 are not reproduced); \d is ASCII digits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "internal.h"

/* ---- the official tables ------------------------------------------------------- */

static const char punctuation[] = ";/[]\"{}()=+\\_-><@`,?!";

static const lx_vqa_map number_words[] = {
    {"none", "0"}, {"zero", "0"}, {"one", "1"},   {"two", "2"},   {"three", "3"}, {"four", "4"},
    {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"},
};

static const char *const articles[] = {"a", "an", "the"};

static const lx_vqa_map contractions[] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
    {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
    {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
    {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"},
    {"havent", "haven't"}, {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"},
    {"hes", "he's"}, {"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"},
    {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"}, {"Ive", "I've"},
    {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
    {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
    {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
    {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"},
    {"notve", "not've"}, {"oclock", "o'clock"}, {"oughtnt", "oughtn't"},
    {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"}, {"'ow'sat", "'ow's'at"},
    {"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
    {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
    {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"},
    {"somebody'd", "somebodyd"}, {"somebodyd've", "somebody'd've"},
    {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
    {"somebodys", "somebody's"}, {"someoned", "someone'd"},
    {"someoned've", "someone'd've"}, {"someone'dve", "someone'd've"},
    {"someonell", "someone'll"}, {"someones", "someone's"}, {"somethingd", "something'd"},
    {"somethingd've", "something'd've"}, {"something'dve", "something'd've"},
    {"somethingll", "something'll"}, {"thats", "that's"}, {"thered", "there'd"},
    {"thered've", "there'd've"}, {"there'dve", "there'd've"}, {"therere", "there're"},
    {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
    {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"},
    {"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"},
    {"we'dve", "we'd've"}, {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"},
    {"whatre", "what're"}, {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"},
    {"whered", "where'd"}, {"wheres", "where's"}, {"whereve", "where've"},
    {"whod", "who'd"}, {"whod've", "who'd've"}, {"who'dve", "who'd've"},
    {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"}, {"whyll", "why'll"},
    {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"}, {"wouldve", "would've"},
    {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"}, {"wouldn'tve", "wouldn't've"},
    {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
    {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"},
    {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"},
    {"youll", "you'll"}, {"youre", "you're"}, {"youve", "you've"},
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *lx_vqa_punctuation(void) {
    return punctuation;
}

const lx_vqa_map *lx_vqa_number_words(size_t *n) {
    *n = NELEMS(number_words);
    return number_words;
}

const char *const *lx_vqa_articles(size_t *n) {
    *n = NELEMS(articles);
    return articles;
}

const lx_vqa_map *lx_vqa_contractions(size_t *n) {
    *n = NELEMS(contractions);
    return contractions;
}

/* ---- text helpers ------------------------------------------------------------------- */

/* Python's str.isspace() code points. */
static int is_space_cp(int32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Decode the code point at s[i] (i < len); *n gets its byte length.  Invalid UTF-8 is
 * taken one byte at a time as U+FFFD, so it is never whitespace. */
static int32_t cp_at(const char *s, size_t len, size_t i, size_t *n) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(len - i), &c);
    if (k <= 0) {
        *n = 1;
        return 0xfffd;
    }
    *n = (size_t)k;
    return c;
}

/* Strip leading and trailing whitespace in place (as Python's str.strip()). */
static void strip(char *s) {
    size_t len = strlen(s), i = 0, n, end = 0, start = len;
    while (i < len) {
        int32_t c = cp_at(s, len, i, &n);
        if (!is_space_cp(c)) {
            if (start == len)
                start = i;
            end = i + n;
        }
        i += n;
    }
    if (start == len) {
        s[0] = '\0';
        return;
    }
    memmove(s, s + start, end - start);
    s[end - start] = '\0';
}

char *lx_vqa_clean(const char *s) {
    char *o = strdup(s);
    if (!o)
        return NULL;
    for (char *p = o; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    strip(o);
    return o;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

char *lx_vqa_punct(const char *in) {
    size_t len = strlen(in);
    char *o = strdup(in);
    if (!o)
        return NULL;
    int digit_comma = 0; /* (\d)(,)(\d) anywhere in the original */
    for (size_t i = 0; i + 2 < len && !digit_comma; i++)
        digit_comma = is_digit(in[i]) && in[i + 1] == ',' && is_digit(in[i + 2]);
    for (const char *p = punctuation; *p; p++) {
        /* the tests look at the original text, the edits apply to the running result */
        int del = digit_comma;
        for (size_t i = 0; i + 1 < len && !del; i++)
            del = (in[i] == *p && in[i + 1] == ' ') || (in[i] == ' ' && in[i + 1] == *p);
        size_t w = 0;
        for (size_t r = 0; o[r]; r++) {
            if (o[r] != *p)
                o[w++] = o[r];
            else if (!del)
                o[w++] = ' ';
        }
        o[w] = '\0';
    }
    /* '.' not followed by a digit, first 32 only; the look-ahead reads the text as it was
     * before this step, which the compaction has not yet overwritten at r + 1. */
    size_t w = 0;
    int removed = 0;
    for (size_t r = 0; o[r]; r++) {
        if (o[r] == '.' && !is_digit(o[r + 1]) && removed < 32) {
            removed++;
            continue;
        }
        o[w++] = o[r];
    }
    o[w] = '\0';
    return o;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Lower-case s (UTF-8) into a new string. */
static char *lower(const char *s) {
    size_t len = strlen(s), i = 0, n;
    sbuf b = {0};
    sb_add(&b, "", 0);
    while (i < len) {
        int32_t c = cp_at(s, len, i, &n);
        if (c == 0xfffd && n == 1 && (unsigned char)s[i] >= 0x80) {
            sb_add(&b, s + i, 1); /* keep invalid bytes as they are */
        } else {
            utf8proc_uint8_t u[4];
            utf8proc_ssize_t k = utf8proc_encode_char(utf8proc_tolower(c), u);
            sb_add(&b, (const char *)u, (size_t)k);
        }
        i += n;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static const char *map_word(const lx_vqa_map *m, size_t n, const char *w) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].from, w) == 0)
            return m[i].to;
    return w;
}

char *lx_vqa_words(const char *in) {
    char *lo = lower(in);
    if (!lo)
        return NULL;
    size_t len = strlen(lo), i = 0, n;
    sbuf b = {0};
    sb_add(&b, "", 0);
    char *word = malloc(len + 1);
    if (!word) {
        free(lo);
        free(b.p);
        return NULL;
    }
    while (i < len) {
        /* the next whitespace-separated word */
        while (i < len && is_space_cp(cp_at(lo, len, i, &n)))
            i += n;
        size_t start = i;
        while (i < len && !is_space_cp(cp_at(lo, len, i, &n)))
            i += n;
        if (i == start)
            break;
        memcpy(word, lo + start, i - start);
        word[i - start] = '\0';
        /* number words first, then articles are dropped, then contractions (the
         * official order: a number word can never be an article) */
        const char *w = map_word(number_words, NELEMS(number_words), word);
        int article = 0;
        for (size_t a = 0; a < NELEMS(articles); a++)
            article |= strcmp(w, articles[a]) == 0;
        if (article)
            continue;
        w = map_word(contractions, NELEMS(contractions), w);
        if (b.len > 0)
            sb_add(&b, " ", 1);
        sb_add(&b, w, strlen(w));
    }
    free(word);
    free(lo);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *lx_vqa_normalize(const char *s) {
    char *p = lx_vqa_punct(s);
    if (!p)
        return NULL;
    char *w = lx_vqa_words(p);
    free(p);
    return w;
}

/* ---- one question --------------------------------------------------------------------- */

int lx_vqa_accuracy(const char *const *humans, size_t n, const char *pred, double *acc,
                    lx_error *err) {
    if (n == 0)
        return lx_error_set(err, "answers: got an empty list, expected human answers");
    char **h = calloc(n, sizeof *h);
    char *p = lx_vqa_clean(pred);
    int rc = -1;
    if (!h || !p)
        goto oom;
    int agree = 1;
    for (size_t i = 0; i < n; i++) {
        if (!(h[i] = lx_vqa_clean(humans[i])))
            goto oom;
        agree &= strcmp(h[i], h[0]) == 0;
    }
    if (!agree) {
        for (size_t i = 0; i < n; i++) {
            char *t = lx_vqa_normalize(h[i]);
            if (!t)
                goto oom;
            free(h[i]);
            h[i] = t;
        }
        char *t = lx_vqa_normalize(p);
        if (!t)
            goto oom;
        free(p);
        p = t;
    }
    /* matches among the other n-1 for each human = total matches minus its own */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strcmp(h[i], p) == 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = total - (strcmp(h[i], p) == 0);
        sum += fmin(1.0, (double)m / 3.0);
    }
    *acc = sum / (double)n;
    rc = 0;
    goto done;
oom:
    lx_error_set(err, "out of memory normalising answers");
done:
    if (h)
        for (size_t i = 0; i < n; i++)
            free(h[i]);
    free(h);
    free(p);
    return rc;
}

int lx_vqa_soft_score(const json_t *label, const char *pred, double *score, lx_error *err) {
    if (!json_is_object(label))
        return lx_error_set(err, "label: got %s, expected an object {answer: score}",
                            json_is_array(label) ? "a list" : "a non-object");
    json_t *v = json_object_get(label, pred);
    if (!v) {
        *score = 0;
        return 0;
    }
    if (!json_is_number(v))
        return lx_error_set(err, "label[\"%s\"]: got a non-number, expected a score", pred);
    *score = json_number_value(v);
    return 0;
}

/* ---- a set of questions --------------------------------------------------------------- */

typedef struct group {
    char *name;
    double sum;
    size_t n;
} group;

typedef struct groups {
    group *g;
    size_t n, cap;
} groups;

typedef struct metric {
    double sum;
    size_t n;
    groups qtype, atype;
} metric;

struct lx_vqa_eval {
    size_t count;
    metric soft, official;
};

lx_vqa_eval *lx_vqa_eval_new(lx_error *err) {
    lx_vqa_eval *ev = calloc(1, sizeof *ev);
    if (!ev)
        lx_error_set(err, "out of memory");
    return ev;
}

static void groups_free(groups *g) {
    for (size_t i = 0; i < g->n; i++)
        free(g->g[i].name);
    free(g->g);
}

void lx_vqa_eval_free(lx_vqa_eval *ev) {
    if (!ev)
        return;
    groups_free(&ev->soft.qtype);
    groups_free(&ev->soft.atype);
    groups_free(&ev->official.qtype);
    groups_free(&ev->official.atype);
    free(ev);
}

/* Find or append the group called name (linear: a few dozen types at most in VQA). */
static group *group_get(groups *g, const char *name, lx_error *err) {
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->g[i].name, name) == 0)
            return &g->g[i];
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        group *q = realloc(g->g, cap * sizeof *q);
        if (!q) {
            lx_error_set(err, "out of memory");
            return NULL;
        }
        g->g = q;
        g->cap = cap;
    }
    group *e = &g->g[g->n];
    if (!(e->name = strdup(name))) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    e->sum = 0;
    e->n = 0;
    g->n++;
    return e;
}

static int metric_add(metric *m, double v, const char *qtype, const char *atype,
                      lx_error *err) {
    group *q = NULL, *a = NULL;
    if (qtype && !(q = group_get(&m->qtype, qtype, err)))
        return -1;
    if (atype && !(a = group_get(&m->atype, atype, err)))
        return -1;
    m->sum += v;
    m->n++;
    if (q) {
        q->sum += v;
        q->n++;
    }
    if (a) {
        a->sum += v;
        a->n++;
    }
    return 0;
}

/* The human answers as strings (borrowed from the JSON); *n gets the count. */
static const char **human_answers(const json_t *answers, size_t *n, lx_error *err) {
    if (!json_is_array(answers))
        return lx_error_set(err, "answers: got a non-list, expected the human answers"),
               NULL;
    size_t k = json_array_size(answers);
    if (k == 0)
        return lx_error_set(err, "answers: got an empty list, expected human answers"), NULL;
    const char **h = malloc(k * sizeof *h);
    if (!h)
        return lx_error_set(err, "out of memory"), NULL;
    for (size_t i = 0; i < k; i++) {
        const json_t *a = json_array_get(answers, i);
        if (json_is_object(a))
            a = json_object_get(a, "answer");
        if (!json_is_string(a)) {
            free(h);
            lx_error_set(err,
                         "answers[%zu]: got no answer text, expected a string or an "
                         "object with \"answer\"",
                         i);
            return NULL;
        }
        h[i] = json_string_value(a);
    }
    *n = k;
    return h;
}

int lx_vqa_human_accuracy(const json_t *answers, const char *pred, double *acc,
                          lx_error *err) {
    size_t n;
    const char **h = human_answers(answers, &n, err);
    if (!h)
        return -1;
    int rc = lx_vqa_accuracy(h, n, pred, acc, err);
    free(h);
    return rc;
}

/* An answers list is predictions (lx-vqa's, or another model's) when its objects carry a
 * numeric "score" or "logit"; the annotation's human answer objects carry
 * answer_confidence, never those. */
static int is_predictions(const json_t *a) {
    const json_t *e = json_array_get(a, 0);
    return json_is_object(e) && (json_is_number(json_object_get(e, "score")) ||
                                 json_is_number(json_object_get(e, "logit")));
}

int lx_vqa_record_truth(const lx_record *r, const json_t **label, const json_t **humans,
                        lx_error *err) {
    *label = *humans = NULL;
    const lx_field *lf = lx_record_find(r, "label");
    const json_t *l = lf ? lf->json : NULL;
    if (lf && !json_is_object(l))
        return lx_error_set(err, "label: got %s, expected an object {answer: score}",
                            json_is_array(l) || !l ? "a list" : "a non-object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)l, k, v)
        if (!json_is_number(v))
            return lx_error_set(err, "label[\"%s\"]: got a non-number, expected a score", k);
    /* numbers, or one value, are no human answers: not to be dropped unseen (lx-vqa's
     * predictions replace the field) */
    const lx_field *af = lx_record_find(r, "answers");
    if (af && ((!af->json && lx_tensor_nelem(&af->tensor) > 0) ||
               (af->json && !json_is_array(af->json))))
        return lx_error_set(err, "answers: got %s, expected the human answers (a list of "
                                 "strings or of objects with \"answer\")",
                            !af->json ? "numbers" : json_is_object(af->json) ? "an object"
                            : json_is_string(af->json) ? "a string" : "a single value");
    const json_t *a = af ? af->json : NULL;
    if (json_is_array(a) && json_array_size(a) > 0 && !is_predictions(a)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            const json_t *e = json_array_get(a, i);
            if (json_is_object(e))
                e = json_object_get(e, "answer");
            if (!json_is_string(e))
                return lx_error_set(err, "answers[%zu]: got no answer text, expected a string "
                                         "or an object with \"answer\"", i);
        }
        *humans = a;
    }
    *label = l;
    return 0;
}

int lx_vqa_eval_add(lx_vqa_eval *ev, const char *pred, const json_t *label,
                    const json_t *answers, const char *qtype, const char *atype,
                    double *soft, double *official, lx_error *err) {
    double s = -1, o = -1;
    if (label && lx_vqa_soft_score(label, pred, &s, err) < 0)
        return -1;
    if (answers && lx_vqa_human_accuracy(answers, pred, &o, err) < 0)
        return -1;
    if (s >= 0 && metric_add(&ev->soft, s, qtype, atype, err) < 0)
        return -1;
    if (o >= 0 && metric_add(&ev->official, o, qtype, atype, err) < 0)
        return -1;
    ev->count++;
    if (soft)
        *soft = label ? s : -1;
    if (official)
        *official = answers ? o : -1;
    return 0;
}

int lx_vqa_eval_add_scores(lx_vqa_eval *ev, double soft, double official, const char *qtype,
                           const char *atype, lx_error *err) {
    if (soft > 1.0 + 1e-9 || official > 1.0 + 1e-9)
        return lx_error_set(err, "got a score of %g, expected one in [0, 1]",
                            soft > 1.0 ? soft : official);
    if (soft >= 0 && metric_add(&ev->soft, soft, qtype, atype, err) < 0)
        return -1;
    if (official >= 0 && metric_add(&ev->official, official, qtype, atype, err) < 0)
        return -1;
    if (soft >= 0 || official >= 0)
        ev->count++;
    return 0;
}

static json_t *groups_json(const groups *g) {
    json_t *o = json_object();
    for (size_t i = 0; i < g->n; i++)
        json_object_set_new(o, g->g[i].name, json_real(100.0 * g->g[i].sum / (double)g->g[i].n));
    return o;
}

static json_t *metric_json(const metric *m) {
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)m->n));
    json_object_set_new(o, "overall", json_real(100.0 * m->sum / (double)m->n));
    json_object_set_new(o, "perQuestionType", groups_json(&m->qtype));
    json_object_set_new(o, "perAnswerType", groups_json(&m->atype));
    return o;
}

json_t *lx_vqa_eval_summary(const lx_vqa_eval *ev) {
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)ev->count));
    if (ev->soft.n)
        json_object_set_new(o, "lxmert", metric_json(&ev->soft));
    if (ev->official.n)
        json_object_set_new(o, "official", metric_json(&ev->official));
    return o;
}
