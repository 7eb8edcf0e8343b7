/*
 * reccmp — compare two record streams (any encoding), for the shell tests.
 *
 *   reccmp [--tol X [--abs]] [--fields a,b,...] A B
 *
 * Records must match one for one: the same field names in the same order (or only the
 * listed fields), JSON values equal, tensors of the same shape with values equal (by
 * default bit for bit after widening to f32/i64; with --tol, |a-b| <= tol, relative
 * for |values| > 1 unless --abs: pixel coordinates).  Exit 0 when equal, 1 with the
 * first difference on stderr.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lx.h"

static int absolute;              /* --abs: the tolerance is absolute for every value */

static int listed(const char *fields, const char *name) {
    if (!fields) return 1;
    size_t n = strlen(name);
    for (const char *p = fields; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0) return 1;
        p += l + (e != NULL);
    }
    return 0;
}

static int cmp_tensor(const char *name, uint64_t rec, const lx_tensor *a, const lx_tensor *b,
                      double tol) {
    char sa[128], sb[128];
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim)) {
        fprintf(stderr, "record %llu: %s: shape %s vs %s\n", (unsigned long long)rec, name,
                lx_tensor_shape_str(a, sa, sizeof sa), lx_tensor_shape_str(b, sb, sizeof sb));
        return 1;
    }
    int ai = a->dtype == LX_I64 || a->dtype == LX_I32 || a->dtype == LX_U8 || a->dtype == LX_I8;
    int bi = b->dtype == LX_I64 || b->dtype == LX_I32 || b->dtype == LX_U8 || b->dtype == LX_I8;
    size_t n = (size_t)lx_tensor_nelem(a);
    if (ai != bi) {
        fprintf(stderr, "record %llu: %s: %s vs %s\n", (unsigned long long)rec, name,
                lx_dtype_name(a->dtype), lx_dtype_name(b->dtype));
        return 1;
    }
    if (ai) {
        int64_t *x = malloc(n * 8 + 8), *y = malloc(n * 8 + 8);
        lx_convert_to_i64(x, a->data, a->dtype, n);
        lx_convert_to_i64(y, b->data, b->dtype, n);
        for (size_t i = 0; i < n; i++)
            if (x[i] != y[i]) {
                fprintf(stderr, "record %llu: %s[%zu]: %lld vs %lld\n", (unsigned long long)rec,
                        name, i, (long long)x[i], (long long)y[i]);
                free(x), free(y);
                return 1;
            }
        free(x), free(y);
        return 0;
    }
    float *x = malloc(n * 4 + 4), *y = malloc(n * 4 + 4);
    lx_convert_to_f32(x, a->data, a->dtype, n);
    lx_convert_to_f32(y, b->data, b->dtype, n);
    int bad = 0;
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        if (tol < 0) {
            if (memcmp(&x[i], &y[i], 4) != 0) {
                fprintf(stderr, "record %llu: %s[%zu]: %.9g vs %.9g (bits differ)\n",
                        (unsigned long long)rec, name, i, (double)x[i], (double)y[i]);
                bad = 1;
                break;
            }
            continue;
        }
        double d = fabs((double)x[i] - (double)y[i]);
        double m = fmax(fabs((double)x[i]), fabs((double)y[i]));
        if (m > 1 && !absolute) d /= m;
        if (!(d <= tol) && (isnan(d) || d > worst)) worst = isnan(d) ? INFINITY : d, wi = i, bad = 1;
    }
    if (bad && tol >= 0)
        fprintf(stderr, "record %llu: %s[%zu]: %.9g vs %.9g (difference %.3g > %.3g)\n",
                (unsigned long long)rec, name, wi, (double)x[wi], (double)y[wi], worst, tol);
    free(x), free(y);
    return bad;
}

int main(int argc, char **argv) {
    double tol = -1;
    const char *fields = NULL;
    int i = 1;
    for (; i < argc - 2; i++) {
        if (strcmp(argv[i], "--tol") == 0 && i + 1 < argc) tol = atof(argv[++i]);
        else if (strcmp(argv[i], "--abs") == 0) absolute = 1;
        else if (strcmp(argv[i], "--fields") == 0 && i + 1 < argc) fields = argv[++i];
        else break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: reccmp [--tol X [--abs]] [--fields a,b] A B\n");
        return 2;
    }
    FILE *fa = fopen(argv[i], "rb"), *fb = fopen(argv[i + 1], "rb");
    if (!fa || !fb) {
        fprintf(stderr, "reccmp: cannot open inputs\n");
        return 2;
    }
    lx_error err;
    lx_reader *ra = lx_reader_open(fa, argv[i], &err), *rb = lx_reader_open(fb, argv[i + 1], &err);
    lx_record a, b;
    lx_record_init(&a);
    lx_record_init(&b);
    for (uint64_t rec = 1;; rec++) {
        int x = lx_reader_next(ra, &a, &err);
        if (x < 0) { fprintf(stderr, "reccmp: %s: record %llu: %s\n", argv[i], (unsigned long long)rec, err.msg); return 1; }
        int y = lx_reader_next(rb, &b, &err);
        if (y < 0) { fprintf(stderr, "reccmp: %s: record %llu: %s\n", argv[i + 1], (unsigned long long)rec, err.msg); return 1; }
        if (x != y) {
            fprintf(stderr, "record %llu: one stream ends before the other\n", (unsigned long long)rec);
            return 1;
        }
        if (x == 0) {
            lx_record_clear(&a);
            lx_record_clear(&b);
            lx_reader_close(ra);
            lx_reader_close(rb);
            fclose(fa);
            fclose(fb);
            return 0;
        }
        size_t ia = 0, ib = 0;
        for (;;) {
            while (ia < a.nfields && !listed(fields, a.fields[ia].name)) ia++;
            while (ib < b.nfields && !listed(fields, b.fields[ib].name)) ib++;
            if (ia == a.nfields || ib == b.nfields) {
                if (ia != a.nfields || ib != b.nfields) {
                    fprintf(stderr, "record %llu: different numbers of fields\n", (unsigned long long)rec);
                    return 1;
                }
                break;
            }
            lx_field *p = &a.fields[ia++], *q = &b.fields[ib++];
            /* on a difference the process ends: what it holds is freed by exit */
            if (strcmp(p->name, q->name) != 0) {
                fprintf(stderr, "record %llu: field '%s' vs '%s'\n", (unsigned long long)rec, p->name, q->name);
                return 1;
            }
            if (!p->json != !q->json) {
                fprintf(stderr, "record %llu: %s: tensor vs JSON value\n", (unsigned long long)rec, p->name);
                return 1;
            }
            if (p->json) {
                if (!json_equal(p->json, q->json)) {
                    char *s1 = json_dumps(p->json, JSON_ENCODE_ANY | JSON_COMPACT);
                    char *s2 = json_dumps(q->json, JSON_ENCODE_ANY | JSON_COMPACT);
                    fprintf(stderr, "record %llu: %s: %.200s vs %.200s\n", (unsigned long long)rec, p->name, s1, s2);
                    return 1;
                }
            } else if (cmp_tensor(p->name, rec, &p->tensor, &q->tensor, tol)) {
                return 1;
            }
        }
    }
    return 0;
}
