/*
 * pickle.h — a safe interpreter for the Python pickles PyTorch checkpoints hold
 * (private to liblx).
 *
 * lx_pickle_load runs the pickle program in a buffer and returns the object it builds
 * as a tree of lx_pk values.  Only the globals a state dict needs are resolved (the
 * allow-list in pickle.c: OrderedDict, the torch tensor rebuild functions, the
 * torch.*Storage types, torch dtypes, set/frozenset); any other global is refused with
 * its name and nothing is ever executed.  Persistent ids (BINPERSID) of the form
 * ('storage', torch.XStorage, key, location, numel) become LX_PK_STORAGE values;
 * _rebuild_tensor_v2(storage, offset, size, stride, ...) becomes LX_PK_TENSOR.
 *
 * All values live in the lx_pickle context and are freed together by lx_pickle_free.
 * Values may be shared (the memo, and the immutable None, True, False, () and small
 * ints, which are one value each) and even cyclic (a list appended to itself), so
 * callers that walk them must bound their depth.  Values are 48 bytes, allocated in
 * blocks: a pickle of N opcodes costs at most about 24 N bytes of them.
 */
#ifndef LX_PICKLE_H
#define LX_PICKLE_H

#include <stddef.h>
#include <stdint.h>
#include "lx.h"

typedef enum lx_pk_kind {
    LX_PK_NONE,
    LX_PK_BOOL,       /* .i is 0 or 1 */
    LX_PK_INT,        /* .i: fits in 64 bits */
    LX_PK_BIGINT,     /* .str: little-endian two's complement bytes (LONG1/LONG4) */
    LX_PK_FLOAT,      /* .f */
    LX_PK_STR,        /* .str: UTF-8, NUL-terminated */
    LX_PK_BYTES,      /* .str */
    LX_PK_TUPLE,      /* .seq */
    LX_PK_LIST,       /* .seq */
    LX_PK_SET,        /* .seq (set or frozenset) */
    LX_PK_DICT,       /* .dict, in insertion order (dict and OrderedDict) */
    LX_PK_GLOBAL,     /* .global: an allow-listed callable, type or dtype */
    LX_PK_STORAGE,    /* .storage: a persistent storage reference */
    LX_PK_TENSOR      /* .tensor */
} lx_pk_kind;

/* Storage element types the torch.*Storage globals name.  LX_PK_F64 is not an lx_dtype
 * (the reader converts it to f32). */
typedef enum lx_pk_elem {
    LX_PK_ELEM_NONE = 0, LX_PK_F32, LX_PK_F16, LX_PK_BF16, LX_PK_F64, LX_PK_I64, LX_PK_I32,
    LX_PK_U8, LX_PK_BOOL8, LX_PK_I16, LX_PK_I8
} lx_pk_elem;

typedef struct lx_pk lx_pk;
struct lx_pk {
    lx_pk_kind kind;
    union {
        int64_t i;
        double f;
        struct { char *s; size_t len; } str;
        struct { lx_pk **items; size_t n, cap; } seq;
        struct { lx_pk **keys, **vals; size_t n, cap; } dict;
        struct {
            int id;                 /* index in the allow-list (pickle.c) */
            const char *name;       /* "collections.OrderedDict" (static) */
            lx_pk_elem elem;        /* storage types and dtypes: the element type */
        } global;
        struct {
            lx_pk_elem elem;
            const char *key;        /* archive key ("0" in zip files), borrowed */
            const char *location;   /* "cpu", "cuda:0", ... */
            int64_t numel;          /* elements in the storage */
        } storage;
        struct {
            lx_pk *storage;         /* an LX_PK_STORAGE */
            int64_t offset;         /* storage offset, in elements */
            int ndim;               /* 0..LX_MAX_DIMS */
            int64_t *shape;         /* [ndim] (owned; stride shares its allocation) */
            int64_t *stride;        /* [ndim] */
        } tensor;
    } u;
};

typedef struct lx_pk_block lx_pk_block;

/* Not to be copied once used: the shared constants are values inside it. */
typedef struct lx_pickle {
    lx_pk_block *blocks;          /* every value created, newest block first */
    size_t nused;                 /* values used in the newest block */
    lx_pk none, yes, no, empty;   /* None, True, False, () */
    lx_pk small[256];             /* the ints 0..255 */
    lx_pk **storages;             /* every LX_PK_STORAGE, in order of appearance */
    size_t nstorages, capstorages;
    size_t end;                   /* offset just past the STOP opcode */
} lx_pickle;

/* Limits that bound the work and memory a hostile pickle can ask for. */
#define LX_PK_MAX_MARKS 4096      /* nested MARKs open at once */
#define LX_PK_MAX_STACK (1u << 24) /* values on the stack */

void lx_pickle_init(lx_pickle *p);
/* Run the pickle at buf[0..len) (it may be followed by other data: p->end says where it
 * stopped).  *out gets the resulting value, owned by p.  Returns 0, or -1 with a message
 * naming the opcode offset and what was wrong. */
int lx_pickle_load(lx_pickle *p, const void *buf, size_t len, lx_pk **out, lx_error *err);
/* Free every value p created (across any number of loads). */
void lx_pickle_free(lx_pickle *p);

/* Bytes per element of a storage element type (0 for NONE). */
size_t lx_pk_elem_size(lx_pk_elem e);
const char *lx_pk_elem_name(lx_pk_elem e);
/* A short name for a value kind ("dict", "tensor", ...), for messages. */
const char *lx_pk_kind_name(lx_pk_kind k);

#endif
