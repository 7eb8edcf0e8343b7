/*
 * torch.c — PyTorch checkpoints (torch.save output) into an lx_tensor_dict.
 *
 * Two layouts exist:
 *
 *   zip (PyTorch >= 1.6)   a zip archive with one top folder PREFIX/: data.pkl (the
 *                          pickled object), data/KEY (one entry per storage, raw
 *                          little-endian elements, stored uncompressed and 64-byte
 *                          aligned by PyTorch), version, and byteorder in newer files.
 *   legacy (before 1.6)    five pickles back to back: the magic number
 *                          0x1950a86a20f9469cfc6c, the protocol version 1001, a sys-info
 *                          dict (little_endian, type_sizes), the object, then the list
 *                          of storage keys; then, for each key in that order, an 8-byte
 *                          little-endian element count followed by the raw elements.
 *
 * In both, the object pickle refers to storages through persistent ids
 * ('storage', torch.FloatStorage, key, location, numel) and builds tensors with
 * torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...); pickle.c turns
 * those into LX_PK_STORAGE / LX_PK_TENSOR values.  Here the storages are bound to their
 * bytes (every extent checked against the file), the state dict is found in the object
 * (the object itself, or a dict inside it such as {'model': ..., 'optimizer': ...}), and
 * each name -> tensor entry becomes a tensor: a view into the mapped file when it is
 * contiguous and 64-byte aligned, else an owned copy (strided tensors are made
 * contiguous; float64 is narrowed to f32).  Entries that are not tensors are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../internal.h"
#include "ckpt.h"
#include "pickle.h"
#include "zipfile.h"

/* One storage: its key, element type and where its bytes are. */
typedef struct slot {
    const char *key;
    lx_pk_elem elem;
    int64_t numel;                /* elements the pickle says it holds */
    int64_t used;                 /* elements the state dict's tensors reach (zip) */
    const uint8_t *data;          /* NULL until bound */
    uint64_t nbytes;
} slot;

typedef struct slots {
    slot *v;
    size_t n;
} slots;

static int cmp_slot(const void *a, const void *b) {
    return strcmp(((const slot *)a)->key, ((const slot *)b)->key);
}

static slot *find_slot(const slots *s, const char *key) {
    slot k = {.key = key};
    return s->n ? bsearch(&k, s->v, s->n, sizeof k, cmp_slot) : NULL;
}

/* The distinct storages the pickle referenced, sorted by key. */
static int collect_slots(const lx_pickle *p, slots *s, lx_error *err) {
    s->v = calloc(p->nstorages ? p->nstorages : 1, sizeof *s->v);
    s->n = 0;
    if (!s->v) return lx_error_set(err, "out of memory");
    for (size_t i = 0; i < p->nstorages; i++) {
        const lx_pk *st = p->storages[i];
        s->v[s->n++] = (slot){st->u.storage.key, st->u.storage.elem, st->u.storage.numel,
                              0, NULL, 0};
    }
    qsort(s->v, s->n, sizeof *s->v, cmp_slot);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (w && strcmp(s->v[w - 1].key, s->v[i].key) == 0) {
            if (s->v[w - 1].elem != s->v[i].elem || s->v[w - 1].numel != s->v[i].numel)
                return lx_error_set(err, "storage %s is described twice differently "
                                         "(%s x %lld, then %s x %lld)", s->v[i].key,
                                    lx_pk_elem_name(s->v[w - 1].elem),
                                    (long long)s->v[w - 1].numel,
                                    lx_pk_elem_name(s->v[i].elem), (long long)s->v[i].numel);
            continue;
        }
        s->v[w++] = s->v[i];
    }
    s->n = w;
    return 0;
}

/* ---- finding the state dict ---------------------------------------------------------- */

/* Entries the search below may look at: a dict that holds itself many times over would
 * otherwise cost n^depth. */
#define SEARCH_BUDGET 10000000L

static int holds_tensors(const lx_pk *v, long *work) {
    if (v->kind != LX_PK_DICT) return 0;
    *work -= (long)v->u.dict.n;
    for (size_t i = 0; i < v->u.dict.n; i++)
        if (v->u.dict.vals[i]->kind == LX_PK_TENSOR) return 1;
    return 0;
}

/* The dict of name -> tensor inside v: v itself, or the one dict below it (at most
 * `depth` levels down) that holds tensors; when several do, the one under a usual key
 * ("state_dict", "model_state_dict", "model", "module").  NULL with err set if none or
 * ambiguous.  The depth bound also stops cycles. */
static const lx_pk *find_state_dict(const lx_pk *v, int depth, long *work, lx_error *err) {
    if (holds_tensors(v, work)) return v;
    if (*work < 0)
        return lx_error_set(err, "the checkpoint's object is too large or too shared to "
                                 "search for its state dict"), NULL;
    if (v->kind != LX_PK_DICT || depth == 0)
        return lx_error_set(err, "no dict of tensors found (the checkpoint holds a %s)",
                            lx_pk_kind_name(v->kind)), NULL;
    static const char *preferred[] = {"state_dict", "model_state_dict", "model", "module"};
    const lx_pk *found = NULL, *pref = NULL;
    const char *found_name = NULL;
    int npref = 99, count = 0;
    char names[256] = "";
    for (size_t i = 0; i < v->u.dict.n; i++) {
        const lx_pk *k = v->u.dict.keys[i], *c = v->u.dict.vals[i];
        if (k->kind != LX_PK_STR || c->kind != LX_PK_DICT) continue;
        lx_error sub;
        const lx_pk *sd = find_state_dict(c, depth - 1, work, &sub);
        if (*work < 0)
            return lx_error_set(err, "the checkpoint's object is too large or too shared "
                                     "to search for its state dict"), NULL;
        if (!sd) continue;
        count++;
        if (strlen(names) + k->u.str.len + 4 < sizeof names)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'",
                     count > 1 ? ", " : "", k->u.str.s);
        found = sd;
        found_name = k->u.str.s;
        for (int j = 0; j < (int)(sizeof preferred / sizeof *preferred); j++)
            if (j < npref && strcmp(k->u.str.s, preferred[j]) == 0) {
                npref = j;
                pref = sd;
            }
    }
    (void)found_name;
    if (count == 1) return found;
    if (pref) return pref;
    if (count == 0)
        return lx_error_set(err, "no dict of tensors found in the checkpoint's dict"), NULL;
    return lx_error_set(err, "several entries hold tensors (%s): cannot tell which is the "
                             "model", names), NULL;
}

/* ---- tensors ------------------------------------------------------------------------- */

static int elem_dtype(lx_pk_elem e, lx_dtype *t) {
    switch (e) {
    case LX_PK_F32: case LX_PK_F64: *t = LX_F32; return 0;
    case LX_PK_F16: *t = LX_F16; return 0;
    case LX_PK_BF16: *t = LX_BF16; return 0;
    case LX_PK_I64: *t = LX_I64; return 0;
    case LX_PK_I32: *t = LX_I32; return 0;
    case LX_PK_U8: case LX_PK_BOOL8: *t = LX_U8; return 0;
    default: return -1;
    }
}

/* Copy one element from src (element type e) to dst (its lx dtype). */
static void copy_elem(uint8_t *dst, const uint8_t *src, lx_pk_elem e, size_t esize) {
    if (e == LX_PK_F64) {
        double x;
        memcpy(&x, src, 8);
        float f = (float)x;
        memcpy(dst, &f, 4);
    } else {
        memcpy(dst, src, esize);
    }
}

/* The elements of its storage that tensor pt reaches (last element touched, offset +
 * sum (shape_i - 1) * stride_i, plus one; 0 for an empty tensor), checked against the
 * `avail` elements the storage holds.  Returns 0 or -1. */
static int tensor_reach(const slot *s, const lx_pk *pt, const char *name, int64_t avail,
                        int64_t *reach, lx_error *err) {
    int nd = pt->u.tensor.ndim;
    const int64_t *shape = pt->u.tensor.shape, *stride = pt->u.tensor.stride;
    lx_tensor shp = {.dtype = LX_U8, .ndim = nd};
    memcpy(shp.shape, shape, (size_t)nd * sizeof *shape);
    int64_t nelem = lx_tensor_nelem(&shp);
    if (nelem < 0) return lx_error_set(err, "tensor %s: shape overflows", name);
    *reach = 0;
    if (nelem == 0) return 0;
    int64_t last = pt->u.tensor.offset;
    for (int i = 0; i < nd; i++) {
        if (stride[i] && shape[i] - 1 > (INT64_MAX - last) / stride[i])
            return lx_error_set(err, "tensor %s: strides overflow", name);
        last += (shape[i] - 1) * stride[i];
    }
    if (last >= avail)
        return lx_error_set(err, "tensor %s: %s [offset %lld, shape %s] reaches element %lld "
                                 "of storage %s, which holds %lld", name,
                            lx_pk_elem_name(s->elem), (long long)pt->u.tensor.offset,
                            lx_tensor_shape_str(&shp, (char[160]){0}, 160), (long long)last,
                            s->key, (long long)avail);
    *reach = last + 1;
    return 0;
}

static int make_tensor(const slot *s, const lx_pk *pt, const char *name, lx_tensor *out,
                       uint64_t *budget, lx_error *err) {
    lx_dtype dt;
    memset(out, 0, sizeof *out);
    if (elem_dtype(s->elem, &dt) < 0)
        return lx_error_set(err, "tensor %s: %s tensors are not supported (expected float32, "
                                 "float16, bfloat16, float64, int64, int32 or uint8)", name,
                            lx_pk_elem_name(s->elem));
    int nd = pt->u.tensor.ndim;
    const int64_t *shape = pt->u.tensor.shape, *stride = pt->u.tensor.stride;
    lx_tensor shp = {.dtype = dt, .ndim = nd};
    memcpy(shp.shape, shape, (size_t)nd * sizeof *shape);
    size_t esize = lx_pk_elem_size(s->elem);
    /* The elements the storage really holds: what the pickle says, within the bytes. */
    int64_t avail = s->numel, reach;
    if ((uint64_t)avail > s->nbytes / esize) avail = (int64_t)(s->nbytes / esize);
    if (tensor_reach(s, pt, name, avail, &reach, err) < 0) return -1;
    int64_t nelem = lx_tensor_nelem(&shp);
    if (nelem == 0) return lx_tensor_alloc(out, dt, nd, shape, err);
    int contiguous = 1;
    int64_t expect = 1;
    for (int i = nd - 1; i >= 0; i--) {
        if (shape[i] != 1 && stride[i] != expect) contiguous = 0;
        expect *= shape[i];
    }
    const uint8_t *src = s->data + (size_t)pt->u.tensor.offset * esize;
    if (contiguous && s->elem != LX_PK_F64 && ((uintptr_t)src & 63) == 0) {
        *out = shp;
        out->data = (void *)src;
        out->owned = 0;
        return 0;
    }
    /* Copies are bounded: many strided tensors over one big storage could otherwise
     * ask for far more memory than the file holds. */
    int64_t nb = lx_tensor_nbytes(&shp);
    uint64_t bytes = nb < 0 ? UINT64_MAX : (uint64_t)nb;
    if (bytes > *budget)
        return lx_error_set(err, "tensor %s: copying strided or unaligned tensors would "
                                 "take more memory than twice the file's size", name);
    *budget -= bytes;
    if (lx_tensor_alloc(out, dt, nd, shape, err) < 0)
        return lx_error_prefix(err, "tensor %s", name);
    uint8_t *dst = out->data;
    size_t osize = lx_dtype_size(dt);
    if (contiguous && s->elem != LX_PK_F64) {
        memcpy(dst, src, (size_t)nelem * esize);
        return 0;
    }
    /* Walk the index space in row-major order (idx is the multi-index). */
    int64_t idx[LX_MAX_DIMS] = {0}, off = 0;
    for (int64_t e = 0; e < nelem; e++) {
        copy_elem(dst + (size_t)e * osize, src + (size_t)off * esize, s->elem, esize);
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < shape[i]) {
                off += stride[i];
                break;
            }
            off -= (shape[i] - 1) * stride[i];
            idx[i] = 0;
        }
    }
    return 0;
}

/* Every name -> tensor entry of the state dict into d. */
static int add_tensors(lx_tensor_dict *d, const lx_pk *sd, const slots *s, uint64_t size,
                       lx_error *err) {
    size_t added = 0;
    uint64_t budget = 2 * size + ((uint64_t)64 << 20);
    for (size_t i = 0; i < sd->u.dict.n; i++) {
        const lx_pk *k = sd->u.dict.keys[i], *v = sd->u.dict.vals[i];
        if (v->kind != LX_PK_TENSOR) continue;
        if (k->kind != LX_PK_STR)
            return lx_error_set(err, "a tensor is stored under a %s key, expected a name",
                                lx_pk_kind_name(k->kind));
        if (strlen(k->u.str.s) != k->u.str.len || k->u.str.len == 0)
            return lx_error_set(err, "a tensor name is empty or contains NUL");
        const slot *sl = find_slot(s, v->u.tensor.storage->u.storage.key);
        if (!sl || !sl->data)
            return lx_error_set(err, "tensor %s: storage %s has no data", k->u.str.s,
                                v->u.tensor.storage->u.storage.key);
        lx_tensor t;
        if (make_tensor(sl, v, k->u.str.s, &t, &budget, err) < 0) return -1;
        if (lx_tensor_dict_add(d, k->u.str.s, &t, err) < 0) return -1;
        added++;
    }
    if (!added) return lx_error_set(err, "the state dict holds no tensors");
    return 0;
}

/* ---- the zip layout ------------------------------------------------------------------ */

#define PKL_MAX_DEFLATED ((uint64_t)64 << 20)

/* How far into each storage the state dict's tensors reach (slot.used), checked against
 * the elements the pickle gives the storage: known before any entry is inflated, so
 * that a deflated storage is inflated only as far as a tensor reads it. */
static int storage_reach(const lx_pk *sd, slots *s, lx_error *err) {
    for (size_t i = 0; i < sd->u.dict.n; i++) {
        const lx_pk *k = sd->u.dict.keys[i], *v = sd->u.dict.vals[i];
        if (v->kind != LX_PK_TENSOR || k->kind != LX_PK_STR) continue;
        slot *sl = find_slot(s, v->u.tensor.storage->u.storage.key);
        int64_t reach;
        if (!sl) continue;   /* add_tensors says so */
        if (tensor_reach(sl, v, k->u.str.s, sl->numel, &reach, err) < 0) return -1;
        if (reach > sl->used) sl->used = reach;
    }
    return 0;
}

/* PREFIX/byteorder must say "little"; PREFIX/version is the archive format version, a
 * decimal number ("3\n" since 1.6): the layout of data.pkl and data/ has not changed
 * across versions, so only a malformed entry is refused.  Either may be absent.  name
 * holds "PREFIX/" (plen bytes) and room for the entry's name. */
static int check_small_entry(const lx_zip *z, char *name, size_t plen, const char *entry,
                             lx_error *err) {
    strcpy(name + plen, entry);
    const lx_zip_entry *e = lx_zip_find(z, name);
    const void *b;
    void *own;
    if (!e) return 0;
    if (lx_zip_read(z, e, 64, 1, &b, &own, err) < 0) return -1;
    const char *c = b;
    size_t nd = 0, len = e->usize;
    int ok;
    if (strcmp(entry, "byteorder") == 0) {
        ok = len >= 6 && memcmp(c, "little", 6) == 0;
    } else {
        while (nd < len && c[nd] >= '0' && c[nd] <= '9') nd++;
        ok = nd > 0 && (nd == len || (nd + 1 == len && c[nd] == '\n'));
    }
    free(own);
    if (ok) return 0;
    return strcmp(entry, "byteorder") == 0
               ? lx_error_set(err, "big-endian checkpoints are not supported")
               : lx_error_set(err, "entry %s does not hold a version number", name);
}

static int read_zip(lx_tensor_dict *d, const uint8_t *map, size_t size, lx_pickle *p,
                    slots *s, lx_error *err) {
    lx_zip z;
    if (lx_zip_open(&z, map, size, err) < 0) return -1;
    int rc = -1;
    void *pkl_owned = NULL;
    /* The one PREFIX/data.pkl (PREFIX without '/'), or data.pkl at the top. */
    const lx_zip_entry *pkl = NULL;
    for (size_t i = 0; i < z.n; i++) {
        const char *nm = z.entries[i].name, *sl = strchr(nm, '/');
        int top = strcmp(nm, "data.pkl") == 0;
        int sub = sl && sl != nm && strcmp(sl + 1, "data.pkl") == 0;
        if (!top && !sub) continue;
        if (pkl) {
            lx_error_set(err, "the archive holds two pickles, %s and %s", pkl->name, nm);
            goto out;
        }
        pkl = &z.entries[i];
    }
    if (!pkl) {
        lx_error_set(err, "zip archive without data.pkl: not a PyTorch checkpoint");
        goto out;
    }
    size_t plen = strlen(pkl->name) - strlen("data.pkl");   /* "PREFIX/" */
    char *name = malloc(plen + 64 + 1);
    if (!name) { lx_error_set(err, "out of memory"); goto out; }
    memcpy(name, pkl->name, plen);

    if (check_small_entry(&z, name, plen, "byteorder", err) < 0 ||
        check_small_entry(&z, name, plen, "version", err) < 0)
        goto out_name;
    /* A stored pickle is read in place; a deflated one is inflated whole, so it is held to
     * what a pickle of a state dict needs (tens of KB for LXMERT, some 200 bytes a
     * tensor), not to the 1032:1 deflate allows. */
    const void *pdata;
    if (lx_zip_read(&z, pkl, pkl->method == 0 ? (uint64_t)1 << 32 : PKL_MAX_DEFLATED, 1,
                    &pdata, &pkl_owned, err) < 0)
        goto out_name;
    lx_pk *root;
    if (lx_pickle_load(p, pdata, pkl->usize, &root, err) < 0) {
        lx_error_prefix(err, "%s", pkl->name);
        goto out_name;
    }
    if (collect_slots(p, s, err) < 0) goto out_name;
    long work = SEARCH_BUDGET;
    const lx_pk *sd = find_state_dict(root, 3, &work, err);
    if (!sd || storage_reach(sd, s, err) < 0) goto out_name;
    for (size_t i = 0; i < s->n; i++) {
        slot *sl = &s->v[i];
        if (strlen(sl->key) > 48 || strchr(sl->key, '/')) {
            lx_error_set(err, "storage key %.48s is not a plain name", sl->key);
            goto out_name;
        }
        sprintf(name + plen, "data/%s", sl->key);
        const lx_zip_entry *e = lx_zip_find(&z, name);
        if (!e) {
            lx_error_set(err, "storage %s: no entry %s in the archive", sl->key, name);
            goto out_name;
        }
        /* The entry must hold every element the pickle gives the storage; checked on
         * the sizes the directory declares, before anything is inflated. */
        size_t es = lx_pk_elem_size(sl->elem);
        unsigned __int128 need = (unsigned __int128)(uint64_t)sl->numel * es;
        if (need > e->usize) {
            char b[LX_U128_STR];
            lx_error_set(err, "storage %s: %lld %s elements need %s bytes, entry %s holds "
                              "%llu", sl->key, (long long)sl->numel,
                         lx_pk_elem_name(sl->elem), lx_u128_str(b, need), name,
                         (unsigned long long)e->usize);
            goto out_name;
        }
        /* A deflated entry is inflated only as far as the tensors read it (used <=
         * numel, so this is within the entry); stored ones are read in place. */
        const void *data;
        void *own;
        if (lx_zip_read_part(&z, e, (uint64_t)sl->used * es, 1, &data, &own, err) < 0)
            goto out_name;
        if (own && lx_tensor_dict_keep(d, own, 0, err) < 0) goto out_name;
        sl->data = data;
        sl->nbytes = own ? (uint64_t)sl->used * es : e->usize;
    }
    rc = add_tensors(d, sd, s, size, err);
out_name:
    free(name);
out:
    free(pkl_owned);
    lx_zip_close(&z);
    return rc;
}

/* ---- the legacy layout --------------------------------------------------------------- */

static int read_legacy(lx_tensor_dict *d, int fd, const uint8_t *map, size_t size,
                       lx_pickle *p, slots *s, lx_error *err) {
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8,
                                      0x50, 0x19};   /* 0x1950a86a20f9469cfc6c */
    size_t off = 0;
    lx_pk *v[5];
    static const char *what[5] = {"magic number", "protocol version", "system info",
                                  "object", "storage keys"};
    for (int i = 0; i < 5; i++) {
        if (lx_pickle_load(p, map + off, size - off, &v[i], err) < 0)
            return lx_error_prefix(err, "legacy checkpoint, %s pickle at byte %zu", what[i],
                                   off);
        off += p->end;
        if (i == 0 && (v[0]->kind != LX_PK_BIGINT || v[0]->u.str.len != 10 ||
                       memcmp(v[0]->u.str.s, magic, 10) != 0))
            return lx_error_set(err, "not a PyTorch checkpoint: the first pickle is not "
                                     "PyTorch's magic number");
        if (i == 1 && (v[1]->kind != LX_PK_INT || v[1]->u.i != 1001))
            return lx_error_set(err, "legacy checkpoint: protocol version %lld, expected 1001",
                                v[1]->kind == LX_PK_INT ? (long long)v[1]->u.i : -1LL);
        if (i == 2 && v[2]->kind == LX_PK_DICT)
            for (size_t j = 0; j < v[2]->u.dict.n; j++) {
                const lx_pk *k = v[2]->u.dict.keys[j], *x = v[2]->u.dict.vals[j];
                if (k->kind == LX_PK_STR && !strcmp(k->u.str.s, "little_endian") &&
                    x->kind == LX_PK_BOOL && !x->u.i)
                    return lx_error_set(err, "big-endian checkpoints are not supported");
            }
        if (i == 3 && collect_slots(p, s, err) < 0) return -1;
    }
    const lx_pk *keys = v[4];
    if (keys->kind != LX_PK_LIST && keys->kind != LX_PK_TUPLE)
        return lx_error_set(err, "legacy checkpoint: the storage key list is a %s",
                            lx_pk_kind_name(keys->kind));
    for (size_t i = 0; i < keys->u.seq.n; i++) {
        const lx_pk *k = keys->u.seq.items[i];
        if (k->kind != LX_PK_STR)
            return lx_error_set(err, "legacy checkpoint: storage key %zu is a %s", i,
                                lx_pk_kind_name(k->kind));
        slot *sl = find_slot(s, k->u.str.s);
        if (!sl)
            return lx_error_set(err, "legacy checkpoint: storage %s is listed but no tensor "
                                     "uses it", k->u.str.s);
        if (sl->data)
            return lx_error_set(err, "legacy checkpoint: storage %s is listed twice",
                                k->u.str.s);
        if (size - off < 8)
            return lx_error_set(err, "legacy checkpoint: truncated at byte %zu: storage %s "
                                     "(%zu of %zu) is missing", off, sl->key, i + 1,
                                keys->u.seq.n);
        uint64_t count = 0;
        for (int b = 7; b >= 0; b--) count = count << 8 | map[off + b];
        off += 8;
        size_t es = lx_pk_elem_size(sl->elem);
        if (count != (uint64_t)sl->numel)
            return lx_error_set(err, "legacy checkpoint: storage %s holds %llu elements, "
                                     "the pickle says %lld", sl->key,
                                (unsigned long long)count, (long long)sl->numel);
        if (count > (size - off) / es)
            return lx_error_set(err, "legacy checkpoint: storage %s: %llu %s elements at byte "
                                     "%zu run past the end of the file (%zu bytes)", sl->key,
                                (unsigned long long)count, lx_pk_elem_name(sl->elem), off,
                                size);
        sl->data = map + off;     /* the file offset for now: moved below */
        sl->nbytes = count * es;
        off += count * es;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->v[i].data)
            return lx_error_set(err, "legacy checkpoint: storage %s is not in the list of "
                                     "stored storages", s->v[i].key);
        total += (s->v[i].nbytes + 63) & ~(uint64_t)63;
    }
    /* The storages sit at arbitrary offsets in the file, so their elements are not
     * aligned: they are read into one anonymous region, each storage 64-byte aligned,
     * so that tensors can be views into it.  Populating the region up front costs far
     * less than faulting in a buffer per tensor. */
    if (total) {
        uint8_t *region = mmap(NULL, total, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (region == MAP_FAILED)
            return lx_error_set(err, "out of memory for the %llu bytes of the storages: %m",
                                (unsigned long long)total);
        if (lx_tensor_dict_keep(d, region, total, err) < 0) return -1;
        uint64_t at = 0;
        for (size_t i = 0; i < s->n; i++) {
            slot *sl = &s->v[i];
            uint64_t foff = (uint64_t)(sl->data - map), done = 0;
            while (done < sl->nbytes) {
                ssize_t r = pread(fd, region + at + done, sl->nbytes - done,
                                  (off_t)(foff + done));
                if (r <= 0)
                    return lx_error_set(err, "legacy checkpoint: reading storage %s: %s",
                                        sl->key, r < 0 ? strerror(errno) : "file shrank");
                done += (uint64_t)r;
            }
            sl->data = region + at;
            at += (sl->nbytes + 63) & ~(uint64_t)63;
        }
    }
    long work = SEARCH_BUDGET;
    const lx_pk *sd = find_state_dict(v[3], 3, &work, err);
    if (!sd) return -1;
    return add_tensors(d, sd, s, size, err);
}

int lx_torch_read(lx_tensor_dict *d, const char *path, lx_error *err) {
    size_t size;
    int fd;
    uint8_t *map = lx_file_map(path, 4, "a PyTorch checkpoint", &size, &fd, err);
    if (!map) return -1;
    /* The dict owns the mapping from here on: tensor views point into it. */
    if (lx_tensor_dict_keep(d, map, size, err) < 0) {
        close(fd);
        return lx_error_prefix(err, "%s", path);
    }
    lx_pickle p;
    lx_pickle_init(&p);
    slots s = {0};
    int rc;
    if (memcmp(map, "PK\3\4", 4) == 0 || memcmp(map, "PK\5\6", 4) == 0)
        rc = read_zip(d, map, size, &p, &s, err);
    else if (map[0] == 0x80)
        rc = read_legacy(d, fd, map, size, &p, &s, err);
    else if (size > 262 && memcmp(map + 257, "ustar", 5) == 0)
        rc = lx_error_set(err, "tar-format checkpoints (PyTorch before 0.4) are not "
                               "supported");
    else
        rc = lx_error_set(err, "not a PyTorch checkpoint: starts with %02x %02x %02x %02x, "
                               "expected a zip archive or a pickle (80 02)",
                          map[0], map[1], map[2], map[3]);
    close(fd);
    free(s.v);
    lx_pickle_free(&p);
    if (rc < 0) return lx_error_prefix(err, "%s", path);
    return 0;
}
