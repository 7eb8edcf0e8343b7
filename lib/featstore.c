/*
 * featstore.c — lx_features: where lx-embed-vis looks images up.  Indexed TSV files are
 * searched in the order given (the first file that has an id wins, so train2014 and
 * val2014 can be given together), then regions added from records, which are kept in
 * memory in a small open-addressing hash table keyed by the image key.
 *
 * A lookup reads only the image's line (one pread), decodes and checks it; the line's
 * own id must be the key asked for, which catches an index that went out of date
 * without the TSV's size or mtime changing.
 */
#include <stdlib.h>
#include <string.h>
#include "lx.h"

struct lx_features {
    size_t n;                     /* TSV files */
    char **paths;
    lx_featindex **ix;
    lx_tsv **tsv;
    lx_regions *mem;              /* regions added from records */
    size_t nmem, capmem;
    size_t *slots;                /* hash table: index into mem + 1, 0 = empty */
    size_t nslots;                /* a power of two, kept at least twice nmem */
};

void lx_features_close(lx_features *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->paths[i]);
        lx_featindex_close(f->ix[i]);
        lx_tsv_close(f->tsv[i]);
    }
    free(f->paths);
    free(f->ix);
    free(f->tsv);
    for (size_t i = 0; i < f->nmem; i++) lx_regions_free(&f->mem[i]);
    free(f->mem);
    free(f->slots);
    free(f);
}

lx_features *lx_features_open(const char *const *paths, const char *const *index_paths,
                              size_t n, size_t bufsize, lx_error *err) {
    lx_features *f = calloc(1, sizeof *f);
    if (!f) goto oom;
    if (n) {
        f->paths = calloc(n, sizeof *f->paths);
        f->ix = calloc(n, sizeof *f->ix);
        f->tsv = calloc(n, sizeof *f->tsv);
        if (!f->paths || !f->ix || !f->tsv) goto oom;
    }
    for (size_t i = 0; i < n; i++, f->n++) {
        if (!(f->paths[i] = strdup(paths[i]))) goto oom;
        f->ix[i] = lx_featindex_open(paths[i], index_paths ? index_paths[i] : NULL, bufsize,
                                     err);
        if (!f->ix[i] || !(f->tsv[i] = lx_tsv_open(paths[i], bufsize, err))) {
            f->n++;
            lx_features_close(f);
            return NULL;
        }
    }
    return f;
oom:
    lx_features_close(f);
    lx_error_set(err, "out of memory");
    return NULL;
}

size_t lx_features_nfiles(const lx_features *f) { return f->n; }
const lx_featindex *lx_features_index(const lx_features *f, size_t i) {
    return i < f->n ? f->ix[i] : NULL;
}

/* FNV-1a of the key. */
static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t *find_slot(const lx_features *f, const char *key) {
    size_t m = f->nslots - 1;
    for (size_t i = hash(key) & m;; i = (i + 1) & m) {
        size_t *s = &f->slots[i];
        if (!*s || strcmp(f->mem[*s - 1].img_id, key) == 0) return s;
    }
}

static int grow_table(lx_features *f, lx_error *err) {
    size_t ns = f->nslots ? 2 * f->nslots : 64;
    size_t *old = f->slots, on = f->nslots;
    f->slots = calloc(ns, sizeof *f->slots);
    if (!f->slots) {
        f->slots = old;
        return lx_error_set(err, "out of memory");
    }
    f->nslots = ns;
    for (size_t i = 0; i < on; i++)
        if (old[i]) *find_slot(f, f->mem[old[i] - 1].img_id) = old[i];
    free(old);
    return 0;
}

int lx_features_add_record(lx_features *f, const lx_record *r, lx_error *err) {
    if (f->nmem == f->capmem) {
        size_t nc = f->capmem ? 2 * f->capmem : 16;
        lx_regions *nm = realloc(f->mem, nc * sizeof *nm);
        if (!nm) return lx_error_set(err, "out of memory");
        f->mem = nm;
        f->capmem = nc;
    }
    if (2 * (f->nmem + 1) > f->nslots && grow_table(f, err) < 0) return -1;
    lx_regions *g = &f->mem[f->nmem];
    lx_regions_init(g);
    if (lx_regions_from_record(g, r, err) < 0) {
        if (g->img_id) lx_error_prefix(err, "image %s", g->img_id);
        lx_regions_free(g);
        return -1;
    }
    size_t *s = find_slot(f, g->img_id);
    if (*s) {
        lx_error_set(err, "image %s was given twice, expected each image once", g->img_id);
        lx_regions_free(g);
        return -1;
    }
    *s = ++f->nmem;
    return 0;
}

int lx_features_lookup(lx_features *f, const char *key, lx_regions *g, lx_error *err) {
    size_t kl = strlen(key);
    for (size_t i = 0; i < f->n; i++) {
        uint64_t off, len;
        if (!lx_featindex_find(f->ix[i], key, kl, &off, &len)) continue;
        const char *line;
        if (lx_tsv_read_at(f->tsv[i], off, (size_t)len, &line, err) < 0) return -1;
        if (lx_regions_parse_tsv(g, line, (size_t)len, err) < 0)
            return lx_error_prefix(err, "%s: image %s", f->paths[i], key);
        if (strcmp(g->img_id, key) != 0)
            return lx_error_set(err, "%s: the index points image %s at a line for %s; delete "
                                     "the stale index", f->paths[i], key, g->img_id);
        return 1;
    }
    if (f->nslots) {
        size_t *s = find_slot(f, key);
        if (*s) return lx_regions_copy(g, &f->mem[*s - 1], err) < 0 ? -1 : 1;
    }
    return 0;
}
