/*
 * safetensors.c — the safetensors format, read (single files and shard indexes) and
 * written (for lx-convert --export-safetensors).
 *
 * A safetensors file is
 *
 *     u64 LE   N, the header length
 *     N bytes  a JSON object: name -> {"dtype": "F32", "shape": [..],
 *              "data_offsets": [begin, end]} (offsets relative to the data that
 *              follows), plus an optional "__metadata__" object of strings
 *     ...      the tensor data
 *
 * Reading maps the file and makes every tensor a view into the mapping: nothing is
 * copied, except a tensor whose data is not aligned to its element size (the format
 * does not promise alignment), which gets an aligned copy.  Everything in the header is
 * checked before use: the header length against the file size, every dtype, shape and
 * offset pair, that each tensor's byte count matches its shape, and that no two tensors
 * overlap.
 *
 * A shard index (model.safetensors.index.json) is {"weight_map": {name: "file"}}; the
 * shards are read from the index's folder and every name the map lists must be found in
 * the shard it names.  A shard is a safetensors file, never another index.
 *
 * Writing goes through lx_outfile: a temporary beside the target, renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../bytes.h"
#include "../internal.h"
#include "ckpt.h"

/* A header larger than this is not a model's (the base model's is ~40 KB). */
#define MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    lx_dtype t;
} st_dtypes[] = {
    {"F32", LX_F32}, {"F16", LX_F16}, {"BF16", LX_BF16},
    {"I32", LX_I32}, {"I64", LX_I64}, {"U8", LX_U8}, {"I8", LX_I8},
};

static int st_dtype_parse(const char *s, lx_dtype *t) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *t = st_dtypes[i].t;
            return 0;
        }
    return -1;
}

static const char *st_dtype_name(lx_dtype t) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].t == t) return st_dtypes[i].name;
    return NULL;
}


/* Parse one header entry into t (a view into data).  Returns 0 or -1. */
static int parse_entry(const char *name, json_t *v, const unsigned char *data,
                       uint64_t dsize, lx_tensor *t, lx_span *sp, lx_error *err) {
    if (!json_is_object(v)) return lx_error_set(err, "tensor '%s': entry is not an object", name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
        return lx_error_set(err, "tensor '%s': expected string dtype, array shape and "
                                 "array data_offsets", name);
    memset(t, 0, sizeof *t);
    if (st_dtype_parse(json_string_value(jd), &t->dtype) < 0)
        return lx_error_set(err, "tensor '%s': dtype %s is not supported (expected F32, F16, "
                                 "BF16, I32, I64 or U8)", name, json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > LX_MAX_DIMS)
        return lx_error_set(err, "tensor '%s': %zu dimensions (at most %d)", name, nd,
                            LX_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *x = json_array_get(js, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return lx_error_set(err, "tensor '%s': shape entry %zu is not a non-negative "
                                     "integer", name, i);
        t->shape[i] = json_integer_value(x);
    }
    int64_t nbytes = lx_tensor_nbytes(t);
    if (nbytes < 0) return lx_error_set(err, "tensor '%s': shape overflows", name);
    if (json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return lx_error_set(err, "tensor '%s': data_offsets is not [begin, end]", name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)),
               e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b || (uint64_t)e > dsize)
        return lx_error_set(err, "tensor '%s': data_offsets [%lld, %lld] out of range "
                                 "(data is %llu bytes)", name, (long long)b, (long long)e,
                            (unsigned long long)dsize);
    if (e - b != nbytes) {
        char sh[128];
        return lx_error_set(err, "tensor '%s': data_offsets span %lld bytes, but %s %s needs "
                                 "%lld", name, (long long)(e - b), lx_dtype_name(t->dtype),
                            lx_tensor_shape_str(t, sh, sizeof sh), (long long)nbytes);
    }
    t->data = (void *)(data + b);
    sp->begin = (uint64_t)b;
    sp->end = (uint64_t)e;
    sp->name = name;
    return 0;
}

/* Read one safetensors file into d. */
static int read_file(lx_tensor_dict *d, const char *path, lx_error *err) {
    size_t size;
    void *map = lx_file_map(path, 8, "a safetensors file", &size, NULL, err);
    if (!map) return -1;
    if (lx_tensor_dict_keep(d, map, size, err) < 0) return lx_error_prefix(err, "%s", path);
    const unsigned char *p = map;
    uint64_t hlen = lx_rd_u64(p);
    if (hlen > size - 8)
        return lx_error_set(err, "%s: header length %llu runs past the end of the file "
                                 "(%llu bytes)", path, (unsigned long long)hlen,
                            (unsigned long long)size);
    if (hlen > MAX_HEADER)
        return lx_error_set(err, "%s: header length %llu is too large (at most %u)", path,
                            (unsigned long long)hlen, MAX_HEADER);
    json_error_t je;
    json_t *h = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!h)
        return lx_error_set(err, "%s: header is not valid JSON: %s (at byte %d)", path,
                            je.text, je.position + 8);
    if (!json_is_object(h)) {
        json_decref(h);
        return lx_error_set(err, "%s: header is not a JSON object", path);
    }
    const unsigned char *data = p + 8 + hlen;
    uint64_t dsize = size - 8 - hlen;
    size_t nt = json_object_size(h);
    lx_span *sp = calloc(nt ? nt : 1, sizeof *sp);
    if (!sp) {
        json_decref(h);
        return lx_error_set(err, "out of memory");
    }
    size_t ns = 0;
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        lx_tensor t;
        if (parse_entry(key, v, data, dsize, &t, &sp[ns], err) < 0) {
            rc = -1;
            break;
        }
        ns++;
        size_t es = lx_dtype_size(t.dtype);
        if ((uintptr_t)t.data % es) { /* unaligned: make an aligned copy */
            lx_tensor c;
            if (lx_tensor_copy(&c, &t, err) < 0) {
                rc = -1;
                break;
            }
            t = c;
        }
        if (lx_tensor_dict_add(d, key, &t, err) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) rc = lx_spans_disjoint(sp, ns, err);
    free(sp);
    json_decref(h);
    if (rc < 0) return lx_error_prefix(err, "%s", path);
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* A shard index: read every shard it names, then check the map against what was read. */
static int read_index(lx_tensor_dict *d, const char *path, lx_error *err) {
    json_t *idx = lx_json_read_file(path, LX_INDEX_MAX_BYTES, JSON_REJECT_DUPLICATES, err);
    if (!idx) return -1;
    json_t *wm = json_object_get(idx, "weight_map");
    int rc = 0;
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        json_decref(idx);
        return lx_error_set(err, "%s: no \"weight_map\" object (a shard index maps tensor "
                                 "names to shard files)", path);
    }
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    json_t *done = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        if (!json_is_string(v)) {
            rc = lx_error_set(err, "%s: weight_map[\"%s\"] is not a file name", path, key);
            break;
        }
        const char *f = json_string_value(v);
        if (!*f || strchr(f, '/') || strcmp(f, "..") == 0 || strcmp(f, ".") == 0) {
            rc = lx_error_set(err, "%s: shard name '%s' is not a file name in the index's "
                                   "folder", path, f);
            break;
        }
        if (ends_with(f, ".index.json")) { /* one level only: an index names weights */
            rc = lx_error_set(err, "%s: names %s as a shard, which is a shard index too (the "
                                   "shards of an index must be weight files)", path, f);
            break;
        }
        if (json_object_get(done, f)) continue;
        json_object_set_new(done, f, json_true());
        size_t n = (size_t)dlen + strlen(f) + 2;
        char *sp = malloc(n);
        if (!sp) {
            rc = lx_error_set(err, "out of memory");
            break;
        }
        snprintf(sp, n, "%.*s/%s", dlen, dir, f);
        rc = read_file(d, sp, err);
        free(sp);
        if (rc < 0) break;
    }
    if (rc == 0) {
        json_object_foreach(wm, key, v) {
            if (!lx_tensor_dict_get(d, key)) {
                rc = lx_error_set(err, "%s: the index puts '%s' in %s, which does not hold it",
                                  path, key, json_string_value(v));
                break;
            }
        }
    }
    if (rc == 0 && d->n != json_object_size(wm))
        rc = lx_error_set(err, "%s: the shards hold %zu tensors, the index lists %zu", path,
                          d->n, json_object_size(wm));
    json_decref(done);
    json_decref(idx);
    return rc;
}

int lx_safetensors_read(lx_tensor_dict *d, const char *path, lx_error *err) {
    if (ends_with(path, ".index.json")) return read_index(d, path, err);
    return read_file(d, path, err);
}


int lx_safetensors_write(const char *path, const char *const *names,
                         const lx_tensor *const *tensors, size_t n, const json_t *metadata,
                         lx_error *err) {
    json_t *h = json_object();
    if (!h) return lx_error_set(err, "out of memory");
    if (metadata) {
        if (!json_is_object(metadata)) {
            json_decref(h);
            return lx_error_set(err, "safetensors metadata must be an object of strings");
        }
        json_object_set(h, "__metadata__", (json_t *)metadata);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const lx_tensor *t = tensors[i];
        const char *dn = st_dtype_name(t->dtype);
        int64_t nb = lx_tensor_nbytes(t);
        if (!dn || nb < 0) {
            json_decref(h);
            return lx_error_set(err, "tensor '%s': cannot be written to safetensors", names[i]);
        }
        json_t *sh = json_array();
        for (int k = 0; k < t->ndim; k++) json_array_append_new(sh, json_integer(t->shape[k]));
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dn, "shape", sh, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + (uint64_t)nb));
        if (!e || json_object_get(h, names[i]) || json_object_set_new(h, names[i], e) < 0) {
            json_decref(h);
            return lx_error_set(err, "tensor '%s': duplicate or invalid name", names[i]);
        }
        off += (uint64_t)nb;
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!text) return lx_error_set(err, "out of memory");
    size_t tl = strlen(text), hl = (tl + 7) & ~(size_t)7; /* pad to 8 with spaces */
    lx_outfile *f = lx_outfile_open(path, err);
    if (!f) {
        free(text);
        return -1;
    }
    unsigned char lenb[8];
    lx_wr_u64(lenb, hl);
    int rc = lx_outfile_write(f, lenb, 8, err) < 0 || lx_outfile_write(f, text, tl, err) < 0 ||
             lx_outfile_write(f, "       ", hl - tl, err) < 0 ? -1 : 0;
    free(text);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = lx_outfile_write(f, tensors[i]->data, (size_t)lx_tensor_nbytes(tensors[i]), err);
    if (rc < 0) {
        lx_outfile_abort(f);
        return -1;
    }
    return lx_outfile_commit(f, err);
}
