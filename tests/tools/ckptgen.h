/*
 * ckptgen.h — test-only writers of pickles, zip archives and PyTorch checkpoints
 * (included by tests/unit/test_zipfile.c, test_pickle.c and test_torch.c).
 *
 * The tests must not depend on Python, so the checkpoints they need (every dtype,
 * strided tensors, nested dicts, zip64 records, deflated entries, hostile pickles) are
 * written here opcode by opcode, following the layouts torch.save produces (see
 * lib/torch.c for the description).  Everything is static: each test binary gets its
 * own copy.
 */
#ifndef LX_CKPTGEN_H
#define LX_CKPTGEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct gbuf {
    uint8_t *b;
    size_t n, cap;
} gbuf;

static inline void g_put(gbuf *g, const void *p, size_t n) {
    if (g->n + n > g->cap) {
        size_t nc = g->cap ? g->cap : 256;
        while (nc < g->n + n) nc *= 2;
        g->b = realloc(g->b, nc);
        if (!g->b) abort();
        g->cap = nc;
    }
    if (n) memcpy(g->b + g->n, p, n);
    g->n += n;
}
static inline void g_u8(gbuf *g, unsigned v) { uint8_t c = (uint8_t)v; g_put(g, &c, 1); }
static inline void g_le(gbuf *g, uint64_t v, int n) {
    for (int i = 0; i < n; i++) g_u8(g, (unsigned)(v >> (8 * i)) & 0xFF);
}
static inline void g_free(gbuf *g) { free(g->b); memset(g, 0, sizeof *g); }

/* ---- pickle opcodes ---- */
static inline void pk_proto(gbuf *g) { g_u8(g, 0x80); g_u8(g, 2); }
static inline void pk_op(gbuf *g, char op) { g_u8(g, (unsigned char)op); }
static inline void pk_str(gbuf *g, const char *s) {
    g_u8(g, 'X');
    g_le(g, strlen(s), 4);
    g_put(g, s, strlen(s));
}
static inline void pk_int(gbuf *g, int32_t v) { g_u8(g, 'J'); g_le(g, (uint32_t)v, 4); }
/* An int that may not fit in 32 bits: BININT when it does, else LONG1 of 8 bytes. */
static inline void pk_int64(gbuf *g, int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) { pk_int(g, (int32_t)v); return; }
    g_u8(g, 0x8a);
    g_u8(g, 8);
    g_le(g, (uint64_t)v, 8);
}
static inline void pk_global(gbuf *g, const char *mod, const char *name) {
    g_u8(g, 'c');
    g_put(g, mod, strlen(mod));
    g_u8(g, '\n');
    g_put(g, name, strlen(name));
    g_u8(g, '\n');
}
static inline void pk_tuple_ints(gbuf *g, int n, const int64_t *v) {
    pk_op(g, '(');
    for (int i = 0; i < n; i++) pk_int(g, (int32_t)v[i]);
    pk_op(g, 't');
}
/* _rebuild_tensor_v2(('storage', torch.<stype>, key, 'cpu', numel), offset, size, stride,
 * False, OrderedDict()) */
static inline void pk_tensor(gbuf *g, const char *stype, const char *key, int64_t numel,
                      int64_t offset, int nd, const int64_t *shape, const int64_t *stride) {
    pk_global(g, "torch._utils", "_rebuild_tensor_v2");
    pk_op(g, '(');
    pk_op(g, '(');
    pk_str(g, "storage");
    pk_global(g, "torch", stype);
    pk_str(g, key);
    pk_str(g, "cpu");
    pk_int64(g, numel);
    pk_op(g, 't');
    pk_op(g, 'Q');
    pk_int(g, (int32_t)offset);
    pk_tuple_ints(g, nd, shape);
    pk_tuple_ints(g, nd, stride);
    g_u8(g, 0x89);                       /* NEWFALSE */
    pk_global(g, "collections", "OrderedDict");
    pk_op(g, ')');
    pk_op(g, 'R');
    pk_op(g, 't');
    pk_op(g, 'R');
}
/* Contiguous strides for shape. */
static inline void contig_strides(int nd, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
    }
}

/* ---- zip ---- */
typedef struct gzip_entry {
    const char *name;
    const void *data;
    size_t len;
    int deflate;
} gzip_entry;

/* A zip of the entries; data aligned to 64 bytes as PyTorch does (for stored entries);
 * zip64: the sizes and offsets go through zip64 extra fields and EOCD records. */
static inline void gzip_write(gbuf *g, const gzip_entry *e, int n, int zip64) {
    uint64_t *lho = calloc((size_t)n, sizeof *lho), *csz = calloc((size_t)n, sizeof *csz);
    uint32_t *crc = calloc((size_t)n, sizeof *crc);
    gbuf *comp = calloc((size_t)n, sizeof *comp);
    for (int i = 0; i < n; i++) {
        crc[i] = (uint32_t)crc32(0, e[i].data, (uInt)e[i].len);
        if (e[i].deflate) {
            z_stream s;
            memset(&s, 0, sizeof s);
            deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            uLong bound = deflateBound(&s, (uLong)e[i].len);
            comp[i].b = malloc(bound);
            s.next_in = (Bytef *)e[i].data;
            s.avail_in = (uInt)e[i].len;
            s.next_out = comp[i].b;
            s.avail_out = (uInt)bound;
            deflate(&s, Z_FINISH);
            comp[i].n = s.total_out;
            deflateEnd(&s);
        }
        csz[i] = e[i].deflate ? comp[i].n : e[i].len;
    }
    for (int i = 0; i < n; i++) {
        lho[i] = g->n;
        size_t nl = strlen(e[i].name);
        size_t pad = (64 - (g->n + 30 + nl + 4) % 64) % 64;
        g_le(g, 0x04034b50, 4);
        g_le(g, 45, 2);
        g_le(g, 0, 2);
        g_le(g, e[i].deflate ? 8 : 0, 2);
        g_le(g, 0, 4);
        g_le(g, crc[i], 4);
        g_le(g, csz[i], 4);
        g_le(g, e[i].len, 4);
        g_le(g, nl, 2);
        g_le(g, 4 + pad, 2);
        g_put(g, e[i].name, nl);
        g_le(g, 0x4246, 2);                  /* a padding extra record, as PyTorch writes */
        g_le(g, pad, 2);
        for (size_t k = 0; k < pad; k++) g_u8(g, 'Z');
        g_put(g, e[i].deflate ? comp[i].b : e[i].data, csz[i]);
    }
    uint64_t cd = g->n;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        g_le(g, 0x02014b50, 4);
        g_le(g, 45, 2);
        g_le(g, 45, 2);
        g_le(g, 0, 2);
        g_le(g, e[i].deflate ? 8 : 0, 2);
        g_le(g, 0, 4);
        g_le(g, crc[i], 4);
        g_le(g, zip64 ? 0xFFFFFFFFu : csz[i], 4);
        g_le(g, zip64 ? 0xFFFFFFFFu : e[i].len, 4);
        g_le(g, nl, 2);
        g_le(g, zip64 ? 28 : 0, 2);
        g_le(g, 0, 2);
        g_le(g, 0, 2);
        g_le(g, 0, 2);
        g_le(g, 0, 4);
        g_le(g, zip64 ? 0xFFFFFFFFu : lho[i], 4);
        g_put(g, e[i].name, nl);
        if (zip64) {
            g_le(g, 1, 2);
            g_le(g, 24, 2);
            g_le(g, e[i].len, 8);
            g_le(g, csz[i], 8);
            g_le(g, lho[i], 8);
        }
    }
    uint64_t cdlen = g->n - cd;
    if (zip64) {
        uint64_t rec = g->n;
        g_le(g, 0x06064b50, 4);
        g_le(g, 44, 8);
        g_le(g, 45, 2);
        g_le(g, 45, 2);
        g_le(g, 0, 4);
        g_le(g, 0, 4);
        g_le(g, (uint64_t)n, 8);
        g_le(g, (uint64_t)n, 8);
        g_le(g, cdlen, 8);
        g_le(g, cd, 8);
        g_le(g, 0x07064b50, 4);
        g_le(g, 0, 4);
        g_le(g, rec, 8);
        g_le(g, 1, 4);
    }
    g_le(g, 0x06054b50, 4);
    g_le(g, 0, 2);
    g_le(g, 0, 2);
    g_le(g, zip64 ? 0xFFFF : (uint64_t)n, 2);
    g_le(g, zip64 ? 0xFFFF : (uint64_t)n, 2);
    g_le(g, zip64 ? 0xFFFFFFFFu : cdlen, 4);
    g_le(g, zip64 ? 0xFFFFFFFFu : cd, 4);
    g_le(g, 0, 2);
    for (int i = 0; i < n; i++) free(comp[i].b);
    free(comp);
    free(lho);
    free(csz);
    free(crc);
}

/* ---- files ---- */
static inline int g_write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* A legacy checkpoint: the four header pickles, obj (a whole pickle), the key list and,
 * per key, the 8-byte element count and the bytes. */
static inline void legacy_write(gbuf *g, const gbuf *obj, int nkeys, const char *const *keys,
                         const int64_t *counts, const void *const *data, const size_t *esize) {
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                    0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    g_put(g, magic, sizeof magic);
    pk_proto(g);
    g_u8(g, 'M');
    g_le(g, 1001, 2);
    pk_op(g, '.');
    pk_proto(g);
    pk_op(g, '}');
    pk_op(g, '(');
    pk_str(g, "little_endian");
    g_u8(g, 0x88);
    pk_op(g, 'u');
    pk_op(g, '.');
    g_put(g, obj->b, obj->n);
    pk_proto(g);
    pk_op(g, ']');
    pk_op(g, '(');
    for (int i = 0; i < nkeys; i++) pk_str(g, keys[i]);
    pk_op(g, 'e');
    pk_op(g, '.');
    for (int i = 0; i < nkeys; i++) {
        g_le(g, (uint64_t)counts[i], 8);
        g_put(g, data[i], (size_t)counts[i] * esize[i]);
    }
}

#endif
