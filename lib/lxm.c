/*
 * lxm.c — the .lxm model file: its one writer and its mmap loader (format: lxm(5)).
 *
 *   offset  size        field
 *   0       8           magic 89 'L' 'X' 'M' 0D 0A 1A 0A  (catches text-mode mangling)
 *   8       4           u32 LE format version (1)
 *   12      4           u32 LE CRC-32 of the header bytes
 *   16      8           u64 LE header length H
 *   24      8           u64 LE data offset D (a multiple of 64, >= 40 + H)
 *   32      8           u64 LE data size S; the file is exactly D + S bytes
 *   40      H           the header: one JSON object (kind, config, tensors, aliases, and
 *                       where the name tables are), padded with spaces
 *   40+H    D-40-H      zero padding
 *   D       S           tensor data; each tensor at D + offset, offset a multiple of 64;
 *                       then the name tables (LXMERT: vocabulary, answer labels; the
 *                       detector: object and attribute names), each string NUL-terminated,
 *                       one after the other
 *
 * The string tables live in the data, not in the JSON, so that opening the base model
 * does not allocate 30522 JSON strings: a pass over the table indexes it.
 *
 * Loading maps the file read-only and parses the header only; tensors are views into
 * the mapping.  Before anything is used, the fixed fields are checked against the file
 * size, the header against its CRC, and every tensor entry for a known dtype, a shape
 * whose byte count is its nbytes, an aligned offset inside the data, and no overlap
 * with another tensor.  Tensor data is only read by lx_model_verify (CRCs).
 *
 * Writing is one pass over the data: the header is sized first with every CRC at its
 * widest, the data is written (and checksummed) after it, then the header is written
 * over the reserved space with the real CRCs and padded with spaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "bytes.h"
#include "internal.h"
#include "schema.h"
#include "lx.h"

#define LXM_VERSION 1
#define LXM_PREFIX 40
#define LXM_ALIGN 64
static const unsigned char lxm_magic[8] = {0x89, 'L', 'X', 'M', 0x0d, 0x0a, 0x1a, 0x0a};

/* The header of a real model is ~60 KB. */
#define MAX_HEADER (256u << 20)


/* crc32 over any length (zlib's length argument is 32-bit in older versions). */
static uint32_t crc_bytes(uint32_t crc, const void *p, size_t n) {
    const unsigned char *b = p;
    while (n) {
        unsigned k = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        crc = (uint32_t)crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

/* ---- loader ----------------------------------------------------------------------- */

/* A string table: n NUL-terminated strings in the mapping, and its place for verify. */
typedef struct strtab {
    const char **s;               /* [n], into the mapping */
    size_t n;
    const unsigned char *data;
    uint64_t off, nbytes;
    uint32_t crc;
} strtab;

struct lx_model {
    void *map;
    size_t len;
    json_t *hdr;                  /* keeps the borrowed strings below alive */
    lx_config config;
    size_t n;
    const char **names;           /* [n], into hdr */
    lx_tensor *ts;                /* [n], views into map */
    uint32_t *crcs;               /* [n] */
    size_t *by_name;              /* [n] indices sorted by name, for lookup */
    size_t nalias;
    const char **alias_names, **alias_targets;
    size_t *alias_idx;            /* index of the target tensor */
    lx_model_kind kind;
    lx_detector_config dconfig;   /* the detector's (kind LX_MODEL_DETECTOR) */
    strtab tabs[LX_TABLE_COUNT];  /* string tables in the data */
    char *path;                   /* for messages */
};

void lx_model_close(lx_model *m) {
    if (!m) return;
    if (m->map) lx_file_unmap(m->map, m->len);
    json_decref(m->hdr);
    free(m->names);
    free(m->ts);
    free(m->crcs);
    free(m->by_name);
    free(m->alias_names);
    free(m->alias_targets);
    free(m->alias_idx);
    for (int k = 0; k < LX_TABLE_COUNT; k++) free(m->tabs[k].s);
    free(m->path);
    free(m);
}

/* qsort has no context argument: sort (name, index) pairs instead. */
typedef struct name_ix {
    const char *name;
    size_t i;
} name_ix;
static int name_ix_cmp(const void *a, const void *b) {
    return strcmp(((const name_ix *)a)->name, ((const name_ix *)b)->name);
}

static int get_u64(json_t *o, const char *key, uint64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}


/* The header's key for each table. */
static const char *const table_keys[LX_TABLE_COUNT] = {"vocab", "labels", "objects",
                                                       "attributes"};
static const char *const table_what[LX_TABLE_COUNT] = {"vocabulary entries", "answer labels",
                                                       "object names", "attribute names"};

/* The string table the header describes under key ("vocab", "labels"), if any:
 * {"count": N, "offset": O, "nbytes": B, "crc32": C}, B bytes at data + O holding N
 * NUL-terminated UTF-8 strings. */
static int parse_strtab(lx_model *m, const char *key, const unsigned char *data,
                        uint64_t dsize, strtab *t, lx_error *err) {
    json_t *o = json_object_get(m->hdr, key);
    memset(t, 0, sizeof *t);
    if (!o) return 0;
    uint64_t count, off, nb, crc;
    if (!json_is_object(o) || get_u64(o, "count", &count) < 0 || get_u64(o, "offset", &off) < 0 ||
        get_u64(o, "nbytes", &nb) < 0 || get_u64(o, "crc32", &crc) < 0 || crc > UINT32_MAX)
        return lx_error_set(err, "header: \"%s\": expected count, offset, nbytes and crc32", key);
    if (off % LXM_ALIGN || off > dsize || nb > dsize - off) {
        char e[LX_U128_STR];
        return lx_error_set(err, "%s: bytes %llu..%s are not a 64-aligned range inside the "
                                 "%llu bytes of data", key, (unsigned long long)off,
                            lx_u128_str(e, (unsigned __int128)off + nb),
                            (unsigned long long)dsize);
    }
    /* Each string takes at least its NUL, so count <= nbytes bounds the index. */
    if (count > nb || (nb && data[off + nb - 1] != 0))
        return lx_error_set(err, "%s: %llu bytes cannot hold %llu NUL-terminated strings", key,
                            (unsigned long long)nb, (unsigned long long)count);
    const unsigned char *b = data + off;
    if (lx_utf8_invalid((const char *)b, (size_t)nb) != (size_t)-1) return lx_error_set(err, "%s: not valid UTF-8", key);
    t->s = malloc((count ? count : 1) * sizeof *t->s);
    if (!t->s)
        return lx_error_set(err, "out of memory for the index of the %s table (%llu strings)",
                            key, (unsigned long long)count);
    size_t n = 0;
    for (uint64_t i = 0; i < nb; n++) {
        if (n == count)
            return lx_error_set(err, "%s: holds more than the %llu strings the header says",
                                key, (unsigned long long)count);
        t->s[n] = (const char *)b + i;
        i += strlen((const char *)b + i) + 1;
    }
    if (n != count)
        return lx_error_set(err, "%s: holds %zu strings, the header says %llu", key, n,
                            (unsigned long long)count);
    t->n = n;
    t->data = b;
    t->off = off;
    t->nbytes = nb;
    t->crc = (uint32_t)crc;
    return 0;
}

static int parse_tensors(lx_model *m, uint64_t dsize, const unsigned char *data,
                         lx_error *err) {
    json_t *tl = json_object_get(m->hdr, "tensors");
    if (!json_is_array(tl)) return lx_error_set(err, "header: no \"tensors\" array");
    size_t n = json_array_size(tl);
    m->n = n;
    m->names = calloc(n ? n : 1, sizeof *m->names);
    m->ts = calloc(n ? n : 1, sizeof *m->ts);
    m->crcs = calloc(n ? n : 1, sizeof *m->crcs);
    m->by_name = calloc(n ? n : 1, sizeof *m->by_name);
    name_ix *ni = calloc(n ? n : 1, sizeof *ni);
    lx_span *oi = calloc(n ? n : 1, sizeof *oi);
    int rc = 0;
    if (!m->names || !m->ts || !m->crcs || !m->by_name || !ni || !oi) {
        rc = lx_error_set(err, "out of memory for the table of %zu tensors", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(tl, i);
        json_t *jn = json_object_get(e, "name"), *jd = json_object_get(e, "dtype"),
               *js = json_object_get(e, "shape");
        uint64_t off, nb, crc;
        if (!json_is_string(jn) || !json_is_string(jd) || !json_is_array(js) ||
            get_u64(e, "offset", &off) < 0 || get_u64(e, "nbytes", &nb) < 0 ||
            get_u64(e, "crc32", &crc) < 0 || crc > UINT32_MAX) {
            rc = lx_error_set(err, "header: tensor %zu: expected name, dtype, shape, offset, "
                                   "nbytes and crc32", i);
            goto out;
        }
        const char *name = json_string_value(jn);
        lx_tensor *t = &m->ts[i];
        if (lx_dtype_parse(json_string_value(jd), &t->dtype) < 0) {
            rc = lx_error_set(err, "tensor '%s': unknown dtype '%s'", name,
                              json_string_value(jd));
            goto out;
        }
        size_t nd = json_array_size(js);
        if (nd > LX_MAX_DIMS) {
            rc = lx_error_set(err, "tensor '%s': %zu dimensions (at most %d)", name, nd,
                              LX_MAX_DIMS);
            goto out;
        }
        t->ndim = (int)nd;
        for (size_t k = 0; k < nd; k++) {
            json_t *x = json_array_get(js, k);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                rc = lx_error_set(err, "tensor '%s': shape entry %zu is not a non-negative "
                                       "integer", name, k);
                goto out;
            }
            t->shape[k] = json_integer_value(x);
        }
        int64_t want = lx_tensor_nbytes(t);
        if (want < 0 || (uint64_t)want != nb) {
            char sh[128];
            if (want < 0)
                rc = lx_error_set(err, "tensor '%s': %s %s has more bytes than fit in 64 bits",
                                  name, lx_dtype_name(t->dtype),
                                  lx_tensor_shape_str(t, sh, sizeof sh));
            else
                rc = lx_error_set(err, "tensor '%s': nbytes %llu, but %s %s needs %lld", name,
                                  (unsigned long long)nb, lx_dtype_name(t->dtype),
                                  lx_tensor_shape_str(t, sh, sizeof sh), (long long)want);
            goto out;
        }
        if (off % LXM_ALIGN || off > dsize || nb > dsize - off) {
            char e[LX_U128_STR];
            rc = lx_error_set(err, "tensor '%s': bytes %llu..%s are not a %d-aligned range "
                                   "inside the %llu bytes of data", name,
                              (unsigned long long)off,
                              lx_u128_str(e, (unsigned __int128)off + nb), LXM_ALIGN,
                              (unsigned long long)dsize);
            goto out;
        }
        t->data = (void *)(data + off);
        t->owned = 0;
        m->names[i] = name;
        m->crcs[i] = (uint32_t)crc;
        ni[i] = (name_ix){name, i};
        oi[i] = (lx_span){off, off + nb, name};
    }
    qsort(ni, n, sizeof *ni, name_ix_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(ni[i].name, ni[i - 1].name) == 0) {
            rc = lx_error_set(err, "tensor '%s' appears twice", ni[i].name);
            goto out;
        }
        m->by_name[i] = ni[i].i;
    }
    rc = lx_spans_disjoint(oi, n, err);
out:
    free(ni);
    free(oi);
    return rc;
}

static size_t find_stored(const lx_model *m, const char *name) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, m->names[m->by_name[mid]]);
        if (c == 0) return m->by_name[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return (size_t)-1;
}

static int parse_aliases(lx_model *m, lx_error *err) {
    json_t *a = json_object_get(m->hdr, "aliases");
    if (!a) return 0;
    if (!json_is_object(a)) return lx_error_set(err, "header: \"aliases\" is not an object");
    size_t n = json_object_size(a);
    m->alias_names = calloc(n ? n : 1, sizeof *m->alias_names);
    m->alias_targets = calloc(n ? n : 1, sizeof *m->alias_targets);
    m->alias_idx = calloc(n ? n : 1, sizeof *m->alias_idx);
    if (!m->alias_names || !m->alias_targets || !m->alias_idx)
        return lx_error_set(err, "out of memory for the table of %zu aliases", n);
    const char *key;
    json_t *v;
    json_object_foreach(a, key, v) {
        if (!json_is_string(v)) return lx_error_set(err, "header: alias '%s' is not a name", key);
        size_t t = find_stored(m, json_string_value(v));
        if (t == (size_t)-1)
            return lx_error_set(err, "alias '%s' names '%s', which the file does not hold", key,
                                json_string_value(v));
        if (find_stored(m, key) != (size_t)-1)
            return lx_error_set(err, "alias '%s' is also a stored tensor", key);
        m->alias_names[m->nalias] = key;
        m->alias_targets[m->nalias] = json_string_value(v);
        m->alias_idx[m->nalias] = t;
        m->nalias++;
    }
    return 0;
}

/* The kind of network and its config.  Files without a kind hold LXMERT. */
static int parse_kind(lx_model *m, lx_error *err) {
    const json_t *k = json_object_get(m->hdr, "kind");
    const char *ks = k ? json_string_value(k) : "lxmert";
    if (ks && strcmp(ks, "lxmert") == 0) m->kind = LX_MODEL_LXMERT;
    else if (ks && strcmp(ks, "detector") == 0) m->kind = LX_MODEL_DETECTOR;
    else return lx_error_set(err, "header: kind is not \"lxmert\" or \"detector\"");
    lx_config_default(&m->config);
    lx_detector_config_default(&m->dconfig);
    if (m->kind == LX_MODEL_LXMERT
            ? lx_config_from_json(&m->config, json_object_get(m->hdr, "config"), err) < 0 ||
                  lx_config_check(&m->config, err) < 0
            : lx_detector_config_from_json(&m->dconfig, json_object_get(m->hdr, "detector"),
                                           err) < 0 ||
                  lx_detector_config_check(&m->dconfig, err) < 0)
        return lx_error_prefix(err, "header");
    return 0;
}

/* The tables: as many entries as the config says, overlapping no tensor and each other. */
static int check_tables(const lx_model *m, const unsigned char *data, lx_error *err) {
    int lxmert = m->kind == LX_MODEL_LXMERT;
    const size_t want[LX_TABLE_COUNT] = {
        lxmert ? (size_t)m->config.vocab_size : 0, lxmert ? (size_t)m->config.num_qa_labels : 0,
        lxmert ? 0 : (size_t)m->dconfig.num_classes, lxmert ? 0 : (size_t)m->dconfig.num_attrs};
    for (int k = 0; k < LX_TABLE_COUNT; k++) {
        const strtab *t = &m->tabs[k];
        if (t->n && t->n != want[k])
            return lx_error_set(err, "header: %zu %s, the config says %zu", t->n,
                                table_what[k], want[k]);
        uint64_t a = t->off, e = a + t->nbytes;
        if (a == e) continue;
        for (int j = 0; j < k; j++)
            if (m->tabs[j].nbytes && a < m->tabs[j].off + m->tabs[j].nbytes && m->tabs[j].off < e)
                return lx_error_set(err, "%s and %s overlap", table_keys[j], table_keys[k]);
        for (size_t i = 0; i < m->n; i++) {
            uint64_t ta = (uint64_t)((const unsigned char *)m->ts[i].data - data),
                     te = ta + (uint64_t)lx_tensor_nbytes(&m->ts[i]);
            if (ta < e && a < te && ta != te)
                return lx_error_set(err, "%s overlaps tensor '%s'", table_keys[k], m->names[i]);
        }
    }
    return 0;
}

/* Everything after the mapping: header, config, lists, tensors. */
static int model_parse(lx_model *m, lx_error *err) {
    const unsigned char *p = m->map;
    uint64_t size = m->len;
    if (size < LXM_PREFIX || memcmp(p, lxm_magic, 8) != 0)
        return lx_error_set(err, "not an lx model file (.lxm): %s",
                            size < LXM_PREFIX ? "shorter than the 40-byte prefix" : "bad magic");
    uint32_t ver = lx_rd_u32(p + 8), hcrc = lx_rd_u32(p + 12);
    uint64_t hlen = lx_rd_u64(p + 16), doff = lx_rd_u64(p + 24), dsize = lx_rd_u64(p + 32);
    if (ver != LXM_VERSION)
        return lx_error_set(err, "format version %u, expected %d", ver, LXM_VERSION);
    if (hlen > size - LXM_PREFIX || hlen > MAX_HEADER)
        return lx_error_set(err, "header length %llu runs past the end of the file (%llu bytes)",
                            (unsigned long long)hlen, (unsigned long long)size);
    if (doff % LXM_ALIGN || doff < LXM_PREFIX + hlen || doff > size)
        return lx_error_set(err, "data offset %llu is not a 64-aligned offset after the header "
                                 "and inside the file (%llu bytes)", (unsigned long long)doff,
                            (unsigned long long)size);
    if (dsize != size - doff) {
        char e[LX_U128_STR];
        return lx_error_set(err, "file is %llu bytes, expected %s (data offset %llu + data "
                                 "size %llu): truncated or padded", (unsigned long long)size,
                            lx_u128_str(e, (unsigned __int128)doff + dsize),
                            (unsigned long long)doff, (unsigned long long)dsize);
    }
    if (crc_bytes((uint32_t)crc32(0, NULL, 0), p + LXM_PREFIX, hlen) != hcrc)
        return lx_error_set(err, "header CRC mismatch: the header is corrupt");
    json_error_t je;
    m->hdr = json_loadb((const char *)p + LXM_PREFIX, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!m->hdr && lx_json_oom(&je))
        return lx_error_set(err, "out of memory parsing the %llu-byte header",
                            (unsigned long long)hlen);
    if (!m->hdr) return lx_error_set(err, "header is not valid JSON: %s", je.text);
    if (!json_is_object(m->hdr)) return lx_error_set(err, "header is not a JSON object");
    if (parse_kind(m, err) < 0 || parse_tensors(m, dsize, p + doff, err) < 0 ||
        parse_aliases(m, err) < 0)
        return -1;
    for (int k = 0; k < LX_TABLE_COUNT; k++)
        if (parse_strtab(m, table_keys[k], p + doff, dsize, &m->tabs[k], err) < 0) return -1;
    if (check_tables(m, p + doff, err) < 0) return -1;
    /* Names and shapes against the config, so that the networks can bind blindly. */
    lx_schema sch;
    if ((m->kind == LX_MODEL_LXMERT ? lx_schema_build(&sch, &m->config, err)
                                    : lx_schema_build_detector(&sch, &m->dconfig, err)) < 0)
        return -1;
    const lx_tensor **tp = malloc((m->n ? m->n : 1) * sizeof *tp);
    int rc = tp ? 0 : lx_error_set(err, "out of memory for the table of %zu tensors", m->n);
    for (size_t i = 0; tp && i < m->n; i++) tp[i] = &m->ts[i];
    if (rc == 0) rc = lx_schema_check(&sch, m->names, tp, m->n, err);
    free(tp);
    lx_schema_free(&sch);
    return rc;
}

lx_model *lx_model_open(const char *path, lx_error *err) {
    lx_model *m = calloc(1, sizeof *m);
    if (m && !(m->path = strdup(path))) {
        free(m);
        m = NULL;
    }
    if (!m) {
        lx_error_set(err, "%s: out of memory opening it", path);
        return NULL;
    }
    if (!(m->map = lx_file_map(path, LXM_PREFIX, "an lx model file (.lxm)", &m->len, NULL,
                               err))) {
        lx_model_close(m);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* Pages of the file that are not in the page cache (never read, or evicted) are then
     * read in as 2 MB folios on first touch rather than 4 KiB pages, and mapped whole
     * (docs/performance.md: start-up).  Only advice: kernels without file THP ignore it,
     * and failure changes nothing. */
    (void)madvise(m->map, m->len, MADV_HUGEPAGE);
#endif
    if (model_parse(m, err) < 0) {
        lx_error_prefix(err, "%s", path);
        lx_model_close(m);
        return NULL;
    }
    return m;
}

int lx_model_probe(const char *path) {
    struct stat st;
    unsigned char b[8];
    int fd = lx_file_open(path, &st, NULL);
    if (fd < 0) return 0;
    ssize_t n;
    while ((n = read(fd, b, 8)) < 0 && errno == EINTR) {}
    close(fd);
    return n == 8 && memcmp(b, lxm_magic, 8) == 0;
}

const lx_config *lx_model_config(const lx_model *m) { return &m->config; }
size_t lx_model_ntensors(const lx_model *m) { return m->n; }
const char *lx_model_tensor_name(const lx_model *m, size_t i) {
    return i < m->n ? m->names[i] : NULL;
}
const lx_tensor *lx_model_tensor_at(const lx_model *m, size_t i) {
    return i < m->n ? &m->ts[i] : NULL;
}
uint64_t lx_model_file_size(const lx_model *m) { return m->len; }

void lx_model_populate(const lx_model *m) {
#ifdef MADV_POPULATE_READ
    (void)madvise(m->map, m->len, MADV_POPULATE_READ);
#else
    (void)m;
#endif
}
size_t lx_model_naliases(const lx_model *m) { return m->nalias; }
const char *lx_model_alias(const lx_model *m, size_t i, const char **target) {
    if (i >= m->nalias) return NULL;
    if (target) *target = m->alias_targets[i];
    return m->alias_names[i];
}

const lx_tensor *lx_model_tensor(const lx_model *m, const char *name) {
    size_t i = find_stored(m, name);
    if (i != (size_t)-1) return &m->ts[i];
    for (size_t k = 0; k < m->nalias; k++)
        if (strcmp(m->alias_names[k], name) == 0) return &m->ts[m->alias_idx[k]];
    return NULL;
}

lx_model_kind lx_model_kind_of(const lx_model *m) { return m->kind; }
const lx_detector_config *lx_model_detector_config(const lx_model *m) {
    return m->kind == LX_MODEL_DETECTOR ? &m->dconfig : NULL;
}

int lx_model_expect(const lx_model *m, lx_model_kind kind, lx_error *err) {
    static const char *const what[] = {"an LXMERT model", "a detector (Faster R-CNN)"};
    if (m->kind == kind) return 0;
    return lx_error_set(err, "%s: is %s, expected %s", m->path, what[m->kind], what[kind]);
}

const char *const *lx_model_names(const lx_model *m, lx_table t, size_t *n) {
    *n = (unsigned)t < LX_TABLE_COUNT ? m->tabs[t].n : 0;
    return *n ? m->tabs[t].s : NULL;
}

size_t lx_model_vocab_size(const lx_model *m) { return m->tabs[LX_TABLE_VOCAB].n; }
const char *lx_model_vocab_token(const lx_model *m, size_t id) {
    return id < m->tabs[LX_TABLE_VOCAB].n ? m->tabs[LX_TABLE_VOCAB].s[id] : NULL;
}

lx_vocab *lx_model_vocab(const lx_model *m, lx_error *err) {
    const strtab *t = &m->tabs[LX_TABLE_VOCAB];
    if (lx_model_expect(m, LX_MODEL_LXMERT, err) < 0) return NULL;
    if (t->n == 0) {
        lx_error_set(err, "%s: the model file has no vocabulary", m->path);
        return NULL;
    }
    lx_vocab *v = lx_vocab_from_list((const char *const *)t->s, t->n, err);
    if (!v) lx_error_prefix(err, "%s", m->path);
    return v;
}
size_t lx_model_nlabels(const lx_model *m) { return m->tabs[LX_TABLE_LABELS].n; }
const char *lx_model_label(const lx_model *m, size_t i) {
    return i < m->tabs[LX_TABLE_LABELS].n ? m->tabs[LX_TABLE_LABELS].s[i] : NULL;
}

int lx_model_verify(const lx_model *m, lx_error *err) {
    for (size_t i = 0; i < m->n; i++) {
        uint32_t c = crc_bytes((uint32_t)crc32(0, NULL, 0), m->ts[i].data,
                               (size_t)lx_tensor_nbytes(&m->ts[i]));
        if (c != m->crcs[i])
            return lx_error_set(err, "tensor '%s': CRC-32 %08x, expected %08x: the data is "
                                     "corrupt", m->names[i], c, m->crcs[i]);
    }
    for (int k = 0; k < LX_TABLE_COUNT; k++) {
        const strtab *t = &m->tabs[k];
        if (!t->data) continue;
        uint32_t c = crc_bytes((uint32_t)crc32(0, NULL, 0), t->data, t->nbytes);
        if (c != t->crc)
            return lx_error_set(err, "%s: CRC-32 %08x, expected %08x: the data is corrupt",
                                table_keys[k], c, t->crc);
    }
    return 0;
}

/* ---- writer ----------------------------------------------------------------------- */

static int is_float(lx_dtype t) {
    return t == LX_F32 || t == LX_F16 || t == LX_BF16;
}

/* Whether a tensor of role r is stored in the dtype asked for: the weights of products
 * (matrices, embeddings, convolutions).  Vectors (biases, LayerNorm and BatchNorm
 * parameters and statistics) and the detector's anchor boxes (pixel offsets, which f16
 * or bf16 would move by up to a pixel at the published model's sizes) stay f32. */
static int role_narrows(lx_schema_role r) {
    return r == LX_ROLE_MATRIX || r == LX_ROLE_EMBEDDING || r == LX_ROLE_CONV;
}

/* The dtype each tensor of the spec is stored in, by its role in its kind's schema (a
 * name the schema lacks: by its dimensions).  Integer tensors keep theirs. */
static int stored_dtypes(const lx_model_spec *sp, lx_dtype *out, lx_error *err) {
    lx_schema s;
    if ((sp->kind == LX_MODEL_DETECTOR ? lx_schema_build_detector(&s, sp->detector, err)
                                       : lx_schema_build(&s, sp->config, err)) < 0)
        return -1;
    for (size_t i = 0; i < sp->tensors->n; i++) {
        const lx_tensor *t = &sp->tensors->items[i].t;
        const lx_schema_entry *e = lx_schema_find(&s, sp->tensors->items[i].name);
        int narrow = e ? role_narrows(e->role) : t->ndim >= 2;
        out[i] = !is_float(t->dtype) ? t->dtype : narrow ? sp->dtype : LX_F32;
    }
    lx_schema_free(&s);
    return 0;
}

/* A string table to write: the strings of l, each followed by a NUL. */
typedef struct table {
    const lx_strlist *l;
    uint64_t off, nbytes;
    uint32_t crc;
} table;

/* The header JSON with the given CRCs (final = 0: every CRC at its widest, for sizing). */
static json_t *build_header(const lx_model_spec *sp, const lx_dtype *dts, const uint64_t *offs,
                            const uint32_t *crcs, const table *tabs, int final) {
    const lx_tensor_dict *d = sp->tensors;
    json_t *h = json_object();
    json_object_set_new(h, "format", json_string("lxm"));
    json_object_set_new(h, "version", json_integer(LXM_VERSION));
    if (sp->kind == LX_MODEL_DETECTOR) {
        json_object_set_new(h, "kind", json_string("detector"));
        json_object_set_new(h, "detector", lx_detector_config_to_json(sp->detector));
    } else {
        json_object_set_new(h, "kind", json_string("lxmert"));
        json_object_set_new(h, "config", lx_config_to_json(sp->config));
    }
    json_t *tl = json_array();
    for (size_t i = 0; i < d->n; i++) {
        const lx_tensor *t = &d->items[i].t;
        lx_tensor st = *t;
        st.dtype = dts[i];
        json_t *sh = json_array();
        for (int k = 0; k < t->ndim; k++) json_array_append_new(sh, json_integer(t->shape[k]));
        json_array_append_new(
            tl, json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}", "name", d->items[i].name, "dtype",
                          lx_dtype_name(st.dtype), "shape", sh, "offset", (json_int_t)offs[i],
                          "nbytes", (json_int_t)lx_tensor_nbytes(&st), "crc32",
                          (json_int_t)(final ? crcs[i] : UINT32_MAX)));
    }
    json_object_set_new(h, "tensors", tl);
    /* The MLM decoder is tied to the word embeddings unless the file stores its own. */
    if (lx_tensor_dict_get(d, "cls.predictions.bias") &&
        !lx_tensor_dict_get(d, "cls.predictions.decoder.weight"))
        json_object_set_new(h, "aliases",
                            json_pack("{s:s}", "cls.predictions.decoder.weight",
                                      "lxmert.embeddings.word_embeddings.weight"));
    for (int k = 0; k < LX_TABLE_COUNT; k++) {
        if (!tabs[k].l || !tabs[k].l->n) continue;
        json_object_set_new(h, table_keys[k],
                            json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)tabs[k].l->n,
                                      "offset", (json_int_t)tabs[k].off, "nbytes",
                                      (json_int_t)tabs[k].nbytes, "crc32",
                                      (json_int_t)(final ? tabs[k].crc : UINT32_MAX)));
    }
    return h;
}

/* Where the data goes: a buffer of LXM_SINK bytes that is written out at file offsets
 * that are multiples of LXM_SINK.  Large aligned write()s let the kernel keep the file in
 * large page-cache folios (2 MB on ext4 and XFS), and a process that maps such a file
 * takes a few hundred page faults instead of one per 4 KiB: touching every page of the
 * 856 MB base model took 280 ms from small folios and 11 ms from large ones on our VMs
 * (bench/encode.sh, "one question").  Writing a tensor at a time (or splicing 4 KiB
 * pages) leaves small folios. */
enum { LXM_SINK = 8 << 20 };
typedef struct sink {
    int fd;
    char *buf;
    size_t n;     /* bytes in buf */
    uint64_t off; /* file offset of buf[0] */
} sink;

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off) {
    const char *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n > (1u << 30) ? 1u << 30 : n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO; /* no progress: an error, never a loop */
            return -1;
        }
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int sink_flush(sink *s) {
    if (s->n && pwrite_all(s->fd, s->buf, s->n, s->off) < 0) return -1;
    s->off += s->n;
    s->n = 0;
    return 0;
}

static int sink_write(sink *s, const void *p, size_t n) {
    const char *b = p;
    while (n) {
        size_t room = LXM_SINK - (size_t)(s->off % LXM_SINK) - s->n;
        if (!s->n && room == LXM_SINK && n >= LXM_SINK) { /* whole aligned chunks: no copy */
            size_t k = n / LXM_SINK * LXM_SINK;
            if (pwrite_all(s->fd, b, k, s->off) < 0) return -1;
            s->off += k;
            b += k;
            n -= k;
            continue;
        }
        size_t k = n < room ? n : room;
        memcpy(s->buf + s->n, b, k);
        s->n += k;
        b += k;
        n -= k;
        if (k == room && sink_flush(s) < 0) return -1;
    }
    return 0;
}

/* The values of each tensor against the dtype it is stored as (dts): none that is not
 * finite, and none beyond the dtype's range unless sp->clamp (then counted into
 * sp->clamped).  Checked before anything is written, so nothing is on failure. */
static int check_values(const lx_model_spec *sp, const lx_dtype *dts, lx_error *err) {
    const lx_tensor_dict *d = sp->tensors;
    for (size_t i = 0; i < d->n; i++) {
        const lx_tensor *t = &d->items[i].t;
        lx_unfit u;
        char at[8 * 24];
        if (sp->clamped) sp->clamped[i] = 0;
        if (!lx_tensor_unfit(t, dts[i], &u)) continue;
        if (u.nonfinite) {
            lx_error_set(err, "%s%s: got %g, expected a finite weight (%llu of the tensor's "
                              "values are not finite)", d->items[i].name,
                         lx_tensor_index_str(t, (uint64_t)u.first_nonfinite, at, sizeof at),
                         isnan(u.nonfinite_value) ? NAN : (double)u.nonfinite_value,
                         (unsigned long long)u.nonfinite);
            if (err) err->code = LX_ERR_NONFINITE_WEIGHT;
            return -1;
        }
        if (sp->clamp) {
            if (sp->clamped) sp->clamped[i] = u.overflow;
            continue;
        }
        lx_error_set(err, "%s%s: got %g, beyond %s's largest value %g (%llu of the tensor's "
                          "values are)", d->items[i].name,
                     lx_tensor_index_str(t, (uint64_t)u.first_overflow, at, sizeof at),
                     (double)u.overflow_value, lx_dtype_name(dts[i]),
                     (double)lx_dtype_max(dts[i]), (unsigned long long)u.overflow);
        if (err) err->code = LX_ERR_DTYPE_RANGE;
        return -1;
    }
    return 0;
}

/* Values beyond dtype to's range (finite: check_values refused the others) to its
 * largest finite value of their sign. */
static void clamp_to(float *v, size_t n, lx_dtype to) {
    float mx = lx_dtype_max(to);
    for (size_t i = 0; i < n; i++) v[i] = v[i] > mx ? mx : v[i] < -mx ? -mx : v[i];
}

/* Write tensor t as dtype `to` (clamp: values beyond its range clamped), returning its
 * CRC in *crc. */
static int write_tensor(sink *fd, const lx_tensor *t, lx_dtype to, int clamp, uint32_t *crc,
                        float *fbuf, void *obuf, size_t chunk) {
    uint32_t c = (uint32_t)crc32(0, NULL, 0);
    if (t->dtype == to) {
        size_t nb = (size_t)lx_tensor_nbytes(t);
        c = crc_bytes(c, t->data, nb);
        if (sink_write(fd, t->data, nb) < 0) return -1;
    } else {
        size_t n = (size_t)lx_tensor_nelem(t), si = lx_dtype_size(t->dtype),
               so = lx_dtype_size(to);
        for (size_t i = 0; i < n; i += chunk) {
            size_t k = n - i < chunk ? n - i : chunk;
            lx_convert_to_f32(fbuf, (const char *)t->data + i * si, t->dtype, k);
            if (clamp) clamp_to(fbuf, k, to);
            lx_convert_from_f32(obuf, to, fbuf, k);
            c = crc_bytes(c, obuf, k * so);
            if (sink_write(fd, obuf, k * so) < 0) return -1;
        }
    }
    *crc = c;
    return 0;
}

/* Write a string table (assembled in memory: one write, not one per string). */
static int write_table(sink *fd, table *t) {
    char *b = malloc((size_t)t->nbytes), *q = b;
    if (!b) return -1;
    for (size_t i = 0; i < t->l->n; i++) {
        size_t n = strlen(t->l->items[i]) + 1;
        memcpy(q, t->l->items[i], n);
        q += n;
    }
    t->crc = crc_bytes((uint32_t)crc32(0, NULL, 0), b, (size_t)t->nbytes);
    int rc = sink_write(fd, b, (size_t)t->nbytes);
    free(b);
    return rc;
}

static uint64_t align_up(uint64_t v) {
    return (v + LXM_ALIGN - 1) / LXM_ALIGN * LXM_ALIGN;
}

/* The order tensors are laid out in the file: the dict's, except that an attention's
 * query, key and value weights are placed one after the other (then their biases), so
 * that a reader can run the three projections as one [3 H, H] product straight from the
 * mapping (lib/nn/net_bind.c checks the adjacency; files without it still work). */
static const char *const qkv_parts[6] = {"query.weight", "key.weight", "value.weight",
                                         "query.bias",   "key.bias",   "value.bias"};

static size_t find_name(const lx_tensor_dict *d, const char *prefix, size_t plen,
                        const char *part) {
    size_t n = strlen(part);
    for (size_t i = 0; i < d->n; i++) {
        const char *nm = d->items[i].name;
        if (strlen(nm) == plen + n && !memcmp(nm, prefix, plen) && !strcmp(nm + plen, part))
            return i;
    }
    return SIZE_MAX;
}

static void layout_order(const lx_tensor_dict *d, size_t *order, char *done) {
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (done[i]) continue;
        const char *nm = d->items[i].name;
        size_t len = strlen(nm), plen = SIZE_MAX;
        for (int j = 0; j < 6 && plen == SIZE_MAX; j++) {
            size_t sl = strlen(qkv_parts[j]);
            if (len > sl && nm[len - sl - 1] == '.' && !strcmp(nm + len - sl, qkv_parts[j]))
                plen = len - sl;
        }
        if (plen != SIZE_MAX)
            for (int j = 0; j < 6; j++) {
                size_t x = find_name(d, nm, plen, qkv_parts[j]);
                if (x != SIZE_MAX && !done[x]) {
                    order[k++] = x;
                    done[x] = 1;
                }
            }
        if (!done[i]) {
            order[k++] = i;
            done[i] = 1;
        }
    }
}

/* The spec's config, and its tables: UTF-8, as many entries as the config says (or none),
 * only those of its kind; their byte counts into tabs. */
static int spec_check(const lx_model_spec *sp, table *tabs, lx_error *err) {
    int lxmert = sp->kind == LX_MODEL_LXMERT;
    if (lxmert ? !sp->config || lx_config_check(sp->config, err) < 0
               : !sp->detector || lx_detector_config_check(sp->detector, err) < 0)
        return err && err->msg[0] ? -1 : lx_error_set(err, "no config for the model's kind");
    const size_t want[LX_TABLE_COUNT] = {
        lxmert ? (size_t)sp->config->vocab_size : 0, lxmert ? (size_t)sp->config->num_qa_labels : 0,
        lxmert ? 0 : (size_t)sp->detector->num_classes, lxmert ? 0 : (size_t)sp->detector->num_attrs};
    for (int k = 0; k < LX_TABLE_COUNT; k++) {
        const lx_strlist *l = tabs[k].l;
        if (l && l->n && l->n != want[k])
            return lx_error_set(err, "%zu %s, expected %zu", l->n, table_what[k], want[k]);
        for (size_t i = 0; l && i < l->n; i++) {
            const char *s = l->items[i];
            if (lx_utf8_invalid(s, strlen(s)) != (size_t)-1)
                return lx_error_set(err, "%s: entry %zu is not valid UTF-8", table_keys[k], i);
            tabs[k].nbytes += strlen(s) + 1;
        }
    }
    return 0;
}

/* The writer proper: float tensors in sp->dtype or f32 by their role, int8 ones as they
 * are (lx_model_write below quantizes first for int8). */
static int write_model(const char *path, const lx_model_spec *sp, lx_error *err) {
    const lx_tensor_dict *d = sp->tensors;
    if (sp->dtype != LX_F32 && sp->dtype != LX_F16 && sp->dtype != LX_BF16)
        return lx_error_set(err, "stored dtype %s, expected f32, f16, bf16 or int8",
                            lx_dtype_name(sp->dtype));
    table tabs[LX_TABLE_COUNT] = {{.l = sp->vocab}, {.l = sp->labels}, {.l = sp->objects},
                                  {.l = sp->attributes}};
    if (spec_check(sp, tabs, err) < 0) return -1;
    uint64_t *offs = calloc(d->n ? d->n : 1, sizeof *offs);
    uint32_t *crcs = calloc(d->n ? d->n : 1, sizeof *crcs);
    size_t *order = malloc((d->n ? d->n : 1) * sizeof *order);
    char *done = calloc(d->n ? d->n : 1, 1);
    lx_dtype *dts = malloc((d->n ? d->n : 1) * sizeof *dts);
    size_t chunk = 1 << 16;
    float *fbuf = malloc(chunk * sizeof *fbuf);
    void *obuf = malloc(chunk * sizeof(float));
    char *text = NULL;
    lx_outfile *of = NULL;
    int fd = -1, rc = 0;
    sink out = {-1, NULL, 0, 0};
    out.buf = malloc(LXM_SINK);
    if (!offs || !crcs || !order || !done || !dts || !fbuf || !obuf || !out.buf) {
        rc = lx_error_set(err, "out of memory for the write buffers (%d MB)", LXM_SINK >> 20);
        goto out;
    }
    if ((rc = stored_dtypes(sp, dts, err)) < 0 || (rc = check_values(sp, dts, err)) < 0)
        goto out;
    /* Layout: each tensor in layout_order, then each table, at the next multiple of 64; no
     * padding after the last one. */
    layout_order(d, order, done);
    uint64_t off = 0, dsize = 0;
    for (size_t o = 0; o < d->n; o++) {
        size_t i = order[o];
        lx_tensor st = d->items[i].t;
        st.dtype = dts[i];
        int64_t nb = lx_tensor_nbytes(&st);
        if (nb < 0) {
            rc = lx_error_set(err, "tensor '%s': invalid shape", d->items[i].name);
            goto out;
        }
        offs[i] = off = align_up(off);
        off += (uint64_t)nb;
        dsize = off;
    }
    for (int k = 0; k < LX_TABLE_COUNT; k++) {
        if (!tabs[k].nbytes) continue;
        tabs[k].off = off = align_up(off);
        off += tabs[k].nbytes;
        dsize = off;
    }
    json_t *h = build_header(sp, dts, offs, crcs, tabs, 0);
    text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!text) {
        rc = lx_error_set(err, "out of memory for the header");
        goto out;
    }
    size_t hmax = strlen(text); /* the widest header: real CRCs make it no longer */
    free(text);
    text = NULL;
    uint64_t doff = align_up(LXM_PREFIX + hmax);

    /* written beside its target and renamed over it (lx_outfile: never over a device,
     * the source, or a standard stream) */
    if (!(of = lx_outfile_open(path, err))) {
        rc = -1;
        goto out;
    }
    fd = lx_outfile_fd(of);
    static const unsigned char zeros[LXM_ALIGN];
    uint64_t pos = 0;
    out.fd = fd;
    out.off = doff;
    for (size_t o = 0; o < d->n; o++) {
        size_t i = order[o];
        if (sink_write(&out, zeros, (size_t)(offs[i] - pos)) < 0) goto ioerr;
        const lx_tensor *t = &d->items[i].t;
        lx_dtype to = dts[i];
        if (write_tensor(&out, t, to, sp->clamp, &crcs[i], fbuf, obuf, chunk) < 0) goto ioerr;
        lx_tensor st = *t;
        st.dtype = to;
        pos = offs[i] + (uint64_t)lx_tensor_nbytes(&st);
    }
    for (int k = 0; k < LX_TABLE_COUNT; k++) {
        if (!tabs[k].nbytes) continue;
        if (sink_write(&out, zeros, (size_t)(tabs[k].off - pos)) < 0 ||
            write_table(&out, &tabs[k]) < 0)
            goto ioerr;
        pos = tabs[k].off + tabs[k].nbytes;
    }
    if (sink_flush(&out) < 0) goto ioerr;
    h = build_header(sp, dts, offs, crcs, tabs, 1);
    text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!text) {
        rc = lx_error_set(err, "out of memory for the header");
        goto out;
    }
    size_t hl = strlen(text);
    size_t hlen = (size_t)doff - LXM_PREFIX; /* header padded with spaces up to the data */
    char *hb = malloc(hlen);
    if (!hb) {
        rc = lx_error_set(err, "out of memory for the %zu-byte header", hlen);
        goto out;
    }
    memcpy(hb, text, hl);
    memset(hb + hl, ' ', hlen - hl);
    unsigned char pre[LXM_PREFIX];
    memcpy(pre, lxm_magic, 8);
    lx_wr_u32(pre + 8, LXM_VERSION);
    lx_wr_u32(pre + 12, crc_bytes((uint32_t)crc32(0, NULL, 0), hb, hlen));
    lx_wr_u64(pre + 16, hlen);
    lx_wr_u64(pre + 24, doff);
    lx_wr_u64(pre + 32, dsize);
    int bad = pwrite_all(fd, pre, sizeof pre, 0) < 0 || pwrite_all(fd, hb, hlen, LXM_PREFIX) < 0;
    free(hb);
    if (bad) goto ioerr;
    if (ftruncate(fd, (off_t)(doff + dsize)) < 0) goto ioerr;
    rc = lx_outfile_commit(of, err);
    of = NULL;
    goto out;
ioerr:
    rc = lx_error_set(err, "%s: write failed: %s", path, strerror(errno));
out:
    lx_outfile_abort(of);
    free(out.buf);
    free(text);
    free(offs);
    free(crcs);
    free(order);
    free(done);
    free(dts);
    free(fbuf);
    free(obuf);
    return rc;
}

/* int8: the source's values checked as for f32 (int8 holds every finite weight: the
 * row's scale takes its range, so nothing is ever clamped), the matrices the schema marks
 * int8 quantized (lx_quantize_spec), then written with the writer above, which keeps
 * int8 tensors and stores every float one in f32.  A set that already holds int8
 * matrices (a .lxm source) is written only as int8: widening quantized values would pass
 * them off as the original weights. */
int lx_model_write(const char *path, const lx_model_spec *sp, lx_error *err) {
    if (sp->dtype != LX_I8) {
        for (size_t i = 0; i < sp->tensors->n; i++)
            if (sp->tensors->items[i].t.dtype == LX_I8)
                return lx_error_set(err, "tensor '%s' is stored in int8, which cannot be "
                                         "stored as %s (convert the original checkpoint)",
                                    sp->tensors->items[i].name, lx_dtype_name(sp->dtype));
        return write_model(path, sp, err);
    }
    size_t n = sp->tensors->n;
    lx_dtype *dts = malloc((n ? n : 1) * sizeof *dts);
    if (!dts) return lx_error_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) dts[i] = LX_F32;
    int bad = check_values(sp, dts, err);
    free(dts);
    if (bad < 0) return -1;
    lx_tensor_dict q;
    if (lx_quantize_spec(&q, sp, err) < 0) return -1;
    lx_model_spec qs = *sp;
    qs.tensors = &q;
    qs.dtype = LX_F32;
    qs.clamp = 0;
    qs.clamped = NULL; /* sized for sp's tensors, not q's; set to 0 above */
    int rc = write_model(path, &qs, err);
    lx_tensor_dict_free(&q);
    return rc;
}
