/*
 * errstats — how far one record stream's tensors are from another's, over all records:
 * for measuring a lossy model (int8, bf16) against the f32 one.
 *
 *   errstats REF OTHER
 *
 * The streams (any encoding) must hold the same records in the same order.  For each
 * f32 tensor field of REF that OTHER has with the same shape, over all records:
 *   max_abs   the largest |other - ref|
 *   rel_rms   sqrt(sum (other - ref)^2 / sum ref^2)
 *   max_ref   the largest |ref| (the scale max_abs compares to)
 * and for the per-layer stacks (*_hidden_states, [layers, rows, H]) the same per layer.
 * For question_answering_score and cross_relationship_score: how many records have the
 * same top-1 entry (the answer), the largest difference of that entry's probability
 * (softmax over the row), and for the records whose top-1 differs the largest gap
 * between REF's two best logits (how close a call they were) and how many records of
 * REF have a gap that small.  Prints one table on stdout; exit 0, or 1 when the streams
 * do not match record for record.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lx.h"

#define MAX_STATS 256

typedef struct stat {
    char name[96];
    double max_abs, sum_d2, sum_r2, max_ref;
} stat;

static stat stats[MAX_STATS];
static int nstats;

static stat *get(const char *name) {
    for (int i = 0; i < nstats; i++)
        if (strcmp(stats[i].name, name) == 0) return &stats[i];
    if (nstats == MAX_STATS) {
        fprintf(stderr, "errstats: more than %d fields and layers\n", MAX_STATS);
        exit(1);
    }
    stat *s = &stats[nstats++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static void add(stat *s, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double d = (double)b[i] - a[i];
        if (!(fabs(d) <= s->max_abs)) s->max_abs = isnan(d) ? INFINITY : fabs(d);
        s->sum_d2 += d * d;
        s->sum_r2 += (double)a[i] * a[i];
        if (fabs(a[i]) > s->max_ref) s->max_ref = fabs(a[i]);
    }
}

typedef struct top1 {
    const char *name;
    long same, total;
    double max_dp;                /* largest difference of the reference top-1's probability */
    double max_gap;               /* largest REF top-2 gap among the records that differ */
    double *gaps;                 /* REF's top-2 gap of every record */
    size_t cap;
} top1;

static top1 tops[] = {{"question_answering_score", 0, 0, 0, -1, NULL, 0},
                      {"cross_relationship_score", 0, 0, 0, -1, NULL, 0}};

static size_t argmax(const float *x, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* softmax(x)[j] */
static double prob(const float *x, size_t n, size_t j) {
    double m = x[argmax(x, n)], s = 0;
    for (size_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    return exp((double)x[j] - m) / s;
}

static void compare(const lx_tensor *a, const lx_tensor *b, const char *name) {
    size_t n = (size_t)lx_tensor_nelem(a);
    const float *x = a->data, *y = b->data;
    for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++)
        if (strcmp(name, tops[t].name) == 0) {
            top1 *o = &tops[t];
            size_t i = argmax(x, n);
            double second = -INFINITY;
            for (size_t e = 0; e < n; e++)
                if (e != i && x[e] > second) second = x[e];
            double gap = (double)x[i] - second;
            if (o->total == (long)o->cap) {
                o->cap = o->cap ? 2 * o->cap : 256;
                o->gaps = realloc(o->gaps, o->cap * sizeof *o->gaps);
                if (!o->gaps) exit(1);
            }
            o->gaps[o->total] = gap;
            if (argmax(y, n) == i) o->same++;
            else if (gap > o->max_gap) o->max_gap = gap;
            o->total++;
            double dp = fabs(prob(x, n, i) - prob(y, n, i));
            if (dp > tops[t].max_dp) tops[t].max_dp = dp;
        }
    add(get(name), x, y, n);
    size_t nl = strlen(name);
    if (a->ndim == 3 && nl > 14 && strcmp(name + nl - 14, "_hidden_states") == 0) {
        size_t per = n / (size_t)a->shape[0];
        for (int64_t l = 0; l < a->shape[0]; l++) {
            char key[128];
            snprintf(key, sizeof key, "%s.%lld", name, (long long)l);
            add(get(key), x + (size_t)l * per, y + (size_t)l * per, per);
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: errstats REF OTHER\n");
        return 2;
    }
    FILE *fa = fopen(argv[1], "rb"), *fb = fopen(argv[2], "rb");
    if (!fa || !fb) {
        fprintf(stderr, "errstats: cannot open the inputs\n");
        return 2;
    }
    lx_error err = {0};
    lx_reader *ra = lx_reader_open(fa, argv[1], &err), *rb = lx_reader_open(fb, argv[2], &err);
    if (!ra || !rb) {
        fprintf(stderr, "errstats: %s\n", err.msg);
        return 1;
    }
    lx_record a, b;
    lx_record_init(&a);
    lx_record_init(&b);
    long records = 0;
    for (;;) {
        int x = lx_reader_next(ra, &a, &err);
        int y = x < 0 ? 0 : lx_reader_next(rb, &b, &err);
        if (x < 0 || y < 0) {
            fprintf(stderr, "errstats: record %ld: %s\n", records + 1, err.msg);
            return 1;
        }
        if (x != y) {
            fprintf(stderr, "errstats: one stream ends before the other (record %ld)\n",
                    records + 1);
            return 1;
        }
        if (!x) break;
        records++;
        for (size_t f = 0; f < a.nfields; f++) {
            const lx_field *p = &a.fields[f];
            const lx_tensor *q = lx_record_tensor(&b, p->name);
            if (p->json || !q || p->tensor.dtype != LX_F32 || q->dtype != LX_F32 ||
                p->tensor.ndim != q->ndim ||
                memcmp(p->tensor.shape, q->shape, sizeof(int64_t) * (size_t)q->ndim))
                continue;
            compare(&p->tensor, q, p->name);
        }
        lx_record_clear(&a);
        lx_record_clear(&b);
    }
    printf("%ld records\n%-34s %11s %11s %11s\n", records, "field", "max_abs", "rel_rms",
           "max_ref");
    for (int i = 0; i < nstats; i++) {
        const stat *s = &stats[i];
        printf("%-34s %11.3g %11.3g %11.3g\n", s->name, s->max_abs,
               s->sum_r2 > 0 ? sqrt(s->sum_d2 / s->sum_r2) : 0.0, s->max_ref);
    }
    for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++) {
        const top1 *o = &tops[t];
        if (!o->total) continue;
        printf("%s: same top-1 in %ld of %ld records (%.2f%%); its probability moved by at "
               "most %.3g\n", o->name, o->same, o->total, 100.0 * o->same / o->total,
               o->max_dp);
        if (o->same < o->total) {
            long close = 0;
            for (long r = 0; r < o->total; r++) close += o->gaps[r] <= o->max_gap;
            printf("%s: where it differs, REF's two best logits were at most %.3g apart; "
                   "%ld of %ld records are that close\n", o->name, o->max_gap, close,
                   o->total);
        }
        free(o->gaps);
    }
    lx_reader_close(ra);
    lx_reader_close(rb);
    fclose(fa);
    fclose(fb);
    return 0;
}
