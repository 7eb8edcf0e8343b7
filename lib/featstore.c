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
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

/* A regions record: in memory (g), or where it lies in a seekable regions file. */
typedef struct entry {
    char *key;                    /* owned; g->img_id when in memory */
    lx_regions *g;                /* owned, or NULL: re-read from rfiles[file] */
    size_t file;
    uint64_t off, len;
} entry;

typedef struct rfile {
    int fd;                       /* a dup of the stream's descriptor, for pread */
    char *name;
    lx_format fmt;
} rfile;

struct lx_features {
    size_t n;                     /* TSV files */
    char **paths;
    lx_featindex **ix;
    lx_tsv **tsv;
    entry *ent;                   /* regions added from records */
    size_t nent, capent;
    size_t *slots;                /* hash table: index into ent + 1, 0 = empty */
    size_t nslots;                /* a power of two, kept at least twice nent */
    rfile *rf;                    /* regions files read by offset */
    size_t nrf;
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
    for (size_t i = 0; i < f->nent; i++) {
        if (f->ent[i].g) {
            lx_regions_free(f->ent[i].g);
            free(f->ent[i].g);
        } else {
            free(f->ent[i].key);
        }
    }
    free(f->ent);
    free(f->slots);
    for (size_t i = 0; i < f->nrf; i++) {
        close(f->rf[i].fd);
        free(f->rf[i].name);
    }
    free(f->rf);
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
        if (!*s || strcmp(f->ent[*s - 1].key, key) == 0) return s;
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
        if (old[i]) *find_slot(f, f->ent[old[i] - 1].key) = old[i];
    free(old);
    return 0;
}

/* Room for one more entry and its slot. */
static int reserve_entry(lx_features *f, lx_error *err) {
    if (f->nent == f->capent) {
        size_t nc = f->capent ? 2 * f->capent : 16;
        entry *ne = realloc(f->ent, nc * sizeof *ne);
        if (!ne) return lx_error_set(err, "out of memory");
        f->ent = ne;
        f->capent = nc;
    }
    if (2 * (f->nent + 1) > f->nslots && grow_table(f, err) < 0) return -1;
    return 0;
}

/* Put e in the table; a key already there is an error (e is not taken then). */
static int insert(lx_features *f, entry e, lx_error *err) {
    size_t *s = find_slot(f, e.key);
    if (*s)
        return lx_error_set(err, "image %s was given twice, expected each image once", e.key);
    f->ent[f->nent] = e;
    *s = ++f->nent;
    return 0;
}

int lx_features_add_record(lx_features *f, const lx_record *r, lx_error *err) {
    if (reserve_entry(f, err) < 0) return -1;
    lx_regions *g = malloc(sizeof *g);
    if (!g) return lx_error_set(err, "out of memory");
    lx_regions_init(g);
    int rc = lx_regions_from_record(g, r, err);
    if (rc < 0 && g->img_id) lx_error_prefix(err, "image %s", g->img_id);
    if (rc == 0) rc = insert(f, (entry){.key = g->img_id, .g = g}, err);
    if (rc < 0) {
        lx_regions_free(g);
        free(g);
    }
    return rc;
}

/* 1 if in is a regular file that starts (after blanks) with a record, not a JSON array:
 * then every record is one contiguous byte range that decodes on its own. */
static int seekable_records(FILE *in, off_t *base) {
    struct stat st;
    int fd = fileno(in);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) return 0;
    if ((*base = ftello(in)) < 0) return 0;
    char c;
    for (off_t o = *base;; o++) {
        if (pread(fd, &c, 1, o) != 1) return 0;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c != '[';
    }
}

int lx_features_add_regions(lx_features *f, FILE *in, const char *name, uint64_t *recno,
                            lx_error *err) {
    *recno = 0;
    off_t base = 0;
    int by_offset = seekable_records(in, &base);
    lx_reader *rd = lx_reader_open(in, name, err);
    if (!rd) return -1;
    size_t file = f->nrf;
    if (by_offset) {
        rfile *nr = realloc(f->rf, (f->nrf + 1) * sizeof *nr);
        if (!nr) {
            lx_reader_close(rd);
            return lx_error_set(err, "out of memory");
        }
        f->rf = nr;
        nr[file].fd = dup(fileno(in));
        nr[file].name = strdup(name);
        nr[file].fmt = LX_FMT_AUTO;
        if (nr[file].fd < 0 || !nr[file].name) {
            if (nr[file].fd >= 0) close(nr[file].fd);
            free(nr[file].name);
            lx_reader_close(rd);
            return lx_error_set(err, "%s: cannot keep the file open", name);
        }
        f->nrf++;
    }
    lx_record r;
    lx_record_init(&r);
    lx_regions g;
    lx_regions_init(&g);
    int rc, status = 0;
    for (;;) {
        uint64_t start = lx_reader_bytes(rd);
        rc = lx_reader_next(rd, &r, err);
        if (rc == 0) break;
        *recno = lx_reader_record_no(rd);
        if (rc < 0) {
            status = -1;
            break;
        }
        if (!by_offset) {
            if ((status = lx_features_add_record(f, &r, err)) < 0) break;
            continue;
        }
        /* Check the record now, keep only where it is. */
        entry e = {.file = file, .off = (uint64_t)base + start,
                   .len = lx_reader_bytes(rd) - start};
        if (lx_regions_from_record(&g, &r, err) < 0) {
            if (g.img_id) lx_error_prefix(err, "image %s", g.img_id);
            status = -1;
            break;
        }
        if (reserve_entry(f, err) < 0 || !(e.key = strdup(g.img_id))) {
            status = lx_error_set(err, "out of memory");
            break;
        }
        if (insert(f, e, err) < 0) {
            free(e.key);
            status = -1;
            break;
        }
    }
    if (by_offset) f->rf[file].fmt = lx_reader_format(rd);
    lx_regions_free(&g);
    lx_record_clear(&r);
    lx_reader_close(rd);
    return status;
}

/* Decode the regions record of a file entry into g. */
static int reread(lx_features *f, const entry *e, lx_regions *g, lx_error *err) {
    const rfile *rf = &f->rf[e->file];
    if (e->len > ((uint64_t)1 << 34)) return lx_error_set(err, "%s: record too large", rf->name);
    char *buf = lx_aligned_alloc((size_t)e->len);
    if (!buf) return lx_error_set(err, "out of memory for a %llu-byte record",
                                  (unsigned long long)e->len);
    size_t got = 0;
    while (got < e->len) {
        ssize_t k = pread(rf->fd, buf + got, (size_t)e->len - got, (off_t)(e->off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            free(buf);
            return lx_error_set(err, "%s: cannot re-read image %s (was the file changed?)",
                                rf->name, e->key);
        }
        got += (size_t)k;
    }
    lx_record r;
    lx_record_init(&r);
    int rc;
    if (rf->fmt == LX_FMT_BIN) {
        rc = lx_record_from_frame(&r, buf, (size_t)e->len, err);   /* takes buf */
    } else {
        rc = lx_record_from_json(&r, buf, (size_t)e->len, err);
        free(buf);
    }
    if (rc == 0) rc = lx_regions_from_record(g, &r, err);
    lx_record_clear(&r);
    if (rc < 0) return lx_error_prefix(err, "%s: image %s", rf->name, e->key);
    if (strcmp(g->img_id, e->key) != 0)
        return lx_error_set(err, "%s: image %s now reads as %s (was the file changed?)",
                            rf->name, e->key, g->img_id);
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
        if (!*s) return 0;
        const entry *e = &f->ent[*s - 1];
        if (e->g) return lx_regions_copy(g, e->g, err) < 0 ? -1 : 1;
        return reread(f, e, g, err) < 0 ? -1 : 1;
    }
    return 0;
}
