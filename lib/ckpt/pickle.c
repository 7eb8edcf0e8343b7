/*
 * pickle.c — a pickle interpreter that builds values and never runs code (see pickle.h).
 *
 * A pickle is a program for a stack machine: opcodes push values, MARK opens a frame on
 * the stack that TUPLE/LIST/DICT/SETITEMS/APPENDS... close, PUT/GET keep values in a memo,
 * GLOBAL names a Python callable and REDUCE calls it.  This interpreter implements the
 * opcodes of protocols 0-5 that a checkpoint can contain, except the extension registry
 * (EXT*) and out-of-band buffers (NEXT_BUFFER).  GLOBAL/STACK_GLOBAL/INST are looked up in
 * a fixed allow-list; the "calls" of REDUCE/NEWOBJ/OBJ/INST are implemented here for the
 * few callables on it, so a hostile pickle can name os.system but the name is all it gets:
 * the load fails at that opcode with a message naming it.
 *
 * Bounds: every length read from the pickle is checked against the bytes left before it
 * is used; the stack, the MARK depth and memo indices are limited (memo indices by the
 * pickle's length, since each PUT costs at least two bytes); the memo is a hash table
 * that grows with the PUTs run, not with the indices they name, so one PUT of a large
 * index in a large (or sparse) file costs one entry; integers that do not fit in 64 bits
 * stay raw bytes.  Dicts append (no key lookup: a duplicate key is left for the
 * caller to reject), so no opcode costs more than linear work in its operands.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "../bytes.h"
#include "../internal.h"
#include "pickle.h"

/* ---- the allow-list ---------------------------------------------------------------- */

enum {
    G_ORDEREDDICT, G_SET, G_FROZENSET, G_REBUILD_V2, G_REBUILD, G_REBUILD_PARAM,
    G_REBUILD_PARAM_STATE, G_STORAGE, G_DTYPE, G_SIZE, G_ENCODE
};

static const struct {
    const char *module, *name, *full;
    int id;
    lx_pk_elem elem;
} allowed[] = {
    {"collections", "OrderedDict", "collections.OrderedDict", G_ORDEREDDICT, 0},
    {"builtins", "set", "builtins.set", G_SET, 0},
    {"__builtin__", "set", "builtins.set", G_SET, 0},
    {"builtins", "frozenset", "builtins.frozenset", G_FROZENSET, 0},
    {"__builtin__", "frozenset", "builtins.frozenset", G_FROZENSET, 0},
    {"torch._utils", "_rebuild_tensor_v2", "torch._utils._rebuild_tensor_v2", G_REBUILD_V2, 0},
    {"torch._utils", "_rebuild_tensor", "torch._utils._rebuild_tensor", G_REBUILD, 0},
    {"torch._utils", "_rebuild_parameter", "torch._utils._rebuild_parameter",
     G_REBUILD_PARAM, 0},
    {"torch._utils", "_rebuild_parameter_with_state",
     "torch._utils._rebuild_parameter_with_state", G_REBUILD_PARAM_STATE, 0},
    {"torch", "Size", "torch.Size", G_SIZE, 0},
    {"_codecs", "encode", "_codecs.encode", G_ENCODE, 0},
    {"torch", "FloatStorage", "torch.FloatStorage", G_STORAGE, LX_PK_F32},
    {"torch", "HalfStorage", "torch.HalfStorage", G_STORAGE, LX_PK_F16},
    {"torch", "BFloat16Storage", "torch.BFloat16Storage", G_STORAGE, LX_PK_BF16},
    {"torch", "DoubleStorage", "torch.DoubleStorage", G_STORAGE, LX_PK_F64},
    {"torch", "LongStorage", "torch.LongStorage", G_STORAGE, LX_PK_I64},
    {"torch", "IntStorage", "torch.IntStorage", G_STORAGE, LX_PK_I32},
    {"torch", "ShortStorage", "torch.ShortStorage", G_STORAGE, LX_PK_I16},
    {"torch", "CharStorage", "torch.CharStorage", G_STORAGE, LX_PK_I8},
    {"torch", "ByteStorage", "torch.ByteStorage", G_STORAGE, LX_PK_U8},
    {"torch", "BoolStorage", "torch.BoolStorage", G_STORAGE, LX_PK_BOOL8},
    {"torch", "UntypedStorage", "torch.UntypedStorage", G_STORAGE, LX_PK_U8},
    {"torch", "float32", "torch.float32", G_DTYPE, LX_PK_F32},
    {"torch", "float", "torch.float", G_DTYPE, LX_PK_F32},
    {"torch", "float16", "torch.float16", G_DTYPE, LX_PK_F16},
    {"torch", "half", "torch.half", G_DTYPE, LX_PK_F16},
    {"torch", "bfloat16", "torch.bfloat16", G_DTYPE, LX_PK_BF16},
    {"torch", "float64", "torch.float64", G_DTYPE, LX_PK_F64},
    {"torch", "double", "torch.double", G_DTYPE, LX_PK_F64},
    {"torch", "int64", "torch.int64", G_DTYPE, LX_PK_I64},
    {"torch", "long", "torch.long", G_DTYPE, LX_PK_I64},
    {"torch", "int32", "torch.int32", G_DTYPE, LX_PK_I32},
    {"torch", "int", "torch.int", G_DTYPE, LX_PK_I32},
    {"torch", "int16", "torch.int16", G_DTYPE, LX_PK_I16},
    {"torch", "int8", "torch.int8", G_DTYPE, LX_PK_I8},
    {"torch", "uint8", "torch.uint8", G_DTYPE, LX_PK_U8},
    {"torch", "bool", "torch.bool", G_DTYPE, LX_PK_BOOL8},
};

size_t lx_pk_elem_size(lx_pk_elem e) {
    switch (e) {
    case LX_PK_F64: case LX_PK_I64: return 8;
    case LX_PK_F32: case LX_PK_I32: return 4;
    case LX_PK_F16: case LX_PK_BF16: case LX_PK_I16: return 2;
    case LX_PK_U8: case LX_PK_BOOL8: case LX_PK_I8: return 1;
    default: return 0;
    }
}

const char *lx_pk_elem_name(lx_pk_elem e) {
    static const char *n[] = {"none", "float32", "float16", "bfloat16", "float64", "int64",
                              "int32", "uint8", "bool", "int16", "int8"};
    return (unsigned)e < sizeof n / sizeof n[0] ? n[e] : "?";
}

const char *lx_pk_kind_name(lx_pk_kind k) {
    static const char *n[] = {"None", "bool", "int", "int", "float", "str", "bytes", "tuple",
                              "list", "set", "dict", "global", "storage", "tensor"};
    return (unsigned)k < sizeof n / sizeof n[0] ? n[k] : "?";
}

/* ---- the machine --------------------------------------------------------------------- */

typedef struct vm {
    lx_pickle *p;
    const uint8_t *b;
    size_t len, pos;
    size_t op;                    /* offset of the opcode being run */
    uint8_t opcode;
    lx_pk **stack;
    size_t sp, cap;
    size_t marks[LX_PK_MAX_MARKS];
    int nmarks;
    struct memo_slot {
        uint64_t idx;
        lx_pk *v;                 /* NULL: an empty slot */
    } *memo;                      /* open addressing, linear probing */
    size_t nmemo;                 /* slots allocated: 0 or a power of two */
    size_t memo_count;            /* slots set (MEMOIZE's next index) */
    uint64_t budget;              /* container items still allowed to be copied */
    lx_error *err;
} vm;

static const char *opname(uint8_t c) {
    switch (c) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP";
    case '1': return "POP_MARK"; case '2': return "DUP"; case 'F': return "FLOAT";
    case 'I': return "INT"; case 'J': return "BININT"; case 'K': return "BININT1";
    case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE";
    case 'S': return "STRING"; case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE"; case 'X': return "BINUNICODE"; case 'a': return "APPEND";
    case 'b': return "BUILD"; case 'c': return "GLOBAL"; case 'd': return "DICT";
    case '}': return "EMPTY_DICT"; case 'e': return "APPENDS"; case 'g': return "GET";
    case 'h': return "BINGET"; case 'i': return "INST"; case 'j': return "LONG_BINGET";
    case 'l': return "LIST"; case ']': return "EMPTY_LIST"; case 'o': return "OBJ";
    case 'p': return "PUT"; case 'q': return "BINPUT"; case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES"; case 0x80: return "PROTO"; case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1"; case 0x83: return "EXT2"; case 0x84: return "EXT4";
    case 0x85: return "TUPLE1"; case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE"; case 0x8a: return "LONG1";
    case 0x8b: return "LONG4"; case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8"; case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET"; case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE"; case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "unknown opcode";
    }
}

__attribute__((format(printf, 2, 3)))
static int fail(vm *m, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lx_error_set(m->err, "pickle byte %zu (%s): %s", m->op, opname(m->opcode), msg);
}

/* Copy s[0..n) into buf for a message: printable ASCII kept, the rest as '?', cut at 80. */
static const char *printable(char *buf, size_t cap, const char *s, size_t n) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++) {
        if (j >= 80) { memcpy(buf + j, "...", 3); j += 3; break; }
        unsigned char c = (unsigned char)s[i];
        buf[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[j] = 0;
    return buf;
}

/* Room for one more pointer in the growable array *a (n used, *cap allocated), doubling
 * from first. */
static int room(vm *m, lx_pk ***a, size_t n, size_t *cap, size_t first) {
    if (n < *cap) return 0;
    size_t nc = *cap ? 2 * *cap : first;
    lx_pk **na = realloc(*a, nc * sizeof *na);
    if (!na) return fail(m, "out of memory");
    *a = na;
    *cap = nc;
    return 0;
}

/* Values are handed out from blocks: no allocation (nor its header) per value. */
#define BLOCK_VALUES 1024
struct lx_pk_block {
    lx_pk_block *next;
    lx_pk v[BLOCK_VALUES];
};

static lx_pk *newv(vm *m, lx_pk_kind k) {
    lx_pickle *p = m->p;
    if (!p->blocks || p->nused == BLOCK_VALUES) {
        lx_pk_block *b = malloc(sizeof *b);
        if (!b) { fail(m, "out of memory for pickle values"); return NULL; }
        b->next = p->blocks;
        p->blocks = b;
        p->nused = 0;
    }
    lx_pk *v = &p->blocks->v[p->nused++];
    memset(v, 0, sizeof *v);
    v->kind = k;
    return v;
}

static int push(vm *m, lx_pk *v) {
    if (!v) return -1;
    if (m->sp == m->cap && m->cap >= LX_PK_MAX_STACK)
        return fail(m, "more than %u values on the stack", LX_PK_MAX_STACK);
    if (room(m, &m->stack, m->sp, &m->cap, 64) < 0) return -1;
    m->stack[m->sp++] = v;
    return 0;
}

static size_t base(const vm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

static lx_pk *pop(vm *m) {
    if (m->sp <= base(m)) { fail(m, "stack underflow"); return NULL; }
    return m->stack[--m->sp];
}

static lx_pk *top(vm *m) {
    if (m->sp <= base(m)) { fail(m, "stack underflow"); return NULL; }
    return m->stack[m->sp - 1];
}

/* Close the innermost MARK: the values above it are stack[*k .. m->sp). */
static int pop_mark(vm *m, size_t *k) {
    if (!m->nmarks) return fail(m, "no MARK to close");
    *k = m->marks[--m->nmarks];
    return 0;
}

static int need(vm *m, size_t n) {
    if (m->len - m->pos < n)
        return fail(m, "truncated: needs %zu bytes, %zu left", n, m->len - m->pos);
    return 0;
}


/* A text line (protocol 0 operands), without its '\n'. */
static int readline(vm *m, const char **s, size_t *n) {
    const uint8_t *nl = memchr(m->b + m->pos, '\n', m->len - m->pos);
    if (!nl) return fail(m, "truncated: no end of line");
    *s = (const char *)m->b + m->pos;
    *n = (size_t)(nl - (m->b + m->pos));
    m->pos += *n + 1;
    return 0;
}

static int seq_add(vm *m, lx_pk *seq, lx_pk *v) {
    if (room(m, &seq->u.seq.items, seq->u.seq.n, &seq->u.seq.cap, 4) < 0) return -1;
    seq->u.seq.items[seq->u.seq.n++] = v;
    return 0;
}

static int dict_add(vm *m, lx_pk *d, lx_pk *k, lx_pk *v) {
    size_t kcap = d->u.dict.cap;
    if (room(m, &d->u.dict.keys, d->u.dict.n, &kcap, 8) < 0 ||
        room(m, &d->u.dict.vals, d->u.dict.n, &d->u.dict.cap, 8) < 0)
        return -1;
    d->u.dict.keys[d->u.dict.n] = k;
    d->u.dict.vals[d->u.dict.n++] = v;
    return 0;
}

/* A new sequence value of kind k holding items[0..n). */
/* Copying items is charged to a budget proportional to the pickle's length, so that
 * calls like set(big_list) repeated through the memo cannot cost quadratic time or
 * memory. */
static int charge(vm *m, size_t n) {
    if (n > m->budget)
        return fail(m, "the pickle copies more container items than its %zu bytes can "
                       "justify", m->len);
    m->budget -= n;
    return 0;
}

static lx_pk *make_seq(vm *m, lx_pk_kind k, lx_pk **items, size_t n) {
    if (charge(m, n) < 0) return NULL;
    lx_pk *v = newv(m, k);
    if (!v) return NULL;
    if (n) {
        v->u.seq.items = malloc(n * sizeof *items);
        if (!v->u.seq.items) { fail(m, "out of memory"); return NULL; }
        memcpy(v->u.seq.items, items, n * sizeof *items);
        v->u.seq.n = v->u.seq.cap = n;
    }
    return v;
}

static lx_pk *make_int(vm *m, int64_t i) {
    if (i >= 0 && i < 256) return &m->p->small[i];   /* immutable: shared */
    lx_pk *v = newv(m, LX_PK_INT);
    if (v) v->u.i = i;
    return v;
}

static lx_pk *make_bytes(vm *m, lx_pk_kind k, const void *s, size_t n) {
    lx_pk *v = newv(m, k);
    if (!v) return NULL;
    v->u.str.s = malloc(n + 1);
    if (!v->u.str.s) { fail(m, "out of memory"); return NULL; }
    if (n) memcpy(v->u.str.s, s, n);
    v->u.str.s[n] = 0;
    v->u.str.len = n;
    return v;
}

/* 1 if s[0..n) is valid UTF-8. */
static int valid_utf8(const uint8_t *s, size_t n) {
    return lx_utf8_invalid((const char *)s, n) == (size_t)-1;
}

static lx_pk *make_str(vm *m, const void *s, size_t n) {
    if (!valid_utf8(s, n)) { fail(m, "string is not valid UTF-8"); return NULL; }
    return make_bytes(m, LX_PK_STR, s, n);
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* UNICODE's operand: raw-unicode-escape (\uXXXX, \UXXXXXXXX; other bytes are Latin-1). */
static lx_pk *decode_raw_unicode(vm *m, const char *s, size_t n) {
    char *o = malloc(4 * n + 1);
    if (!o) { fail(m, "out of memory"); return NULL; }
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        int w = 0;
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'u' || s[i + 1] == 'U'))
            w = s[i + 1] == 'u' ? 4 : 8;
        if (w) {
            uint32_t cp = 0;
            if (n - i - 2 < (size_t)w) { free(o); fail(m, "bad \\u escape"); return NULL; }
            for (int k = 0; k < w; k++) {
                int h = hexval(s[i + 2 + k]);
                if (h < 0) { free(o); fail(m, "bad \\u escape"); return NULL; }
                cp = cp << 4 | (uint32_t)h;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
                free(o);
                fail(m, "bad code point U+%X", cp);
                return NULL;
            }
            j += lx_utf8_encode(cp, o + j);
            i += 2 + (size_t)w;
        } else {
            j += lx_utf8_encode((unsigned char)s[i], o + j);
            i++;
        }
    }
    lx_pk *v = make_bytes(m, LX_PK_STR, o, j);
    free(o);
    return v;
}

/* STRING's operand: a quoted Python 2 literal with backslash escapes. */
static lx_pk *decode_quoted(vm *m, const char *s, size_t n) {
    if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0]) {
        fail(m, "operand is not a quoted string");
        return NULL;
    }
    s++;
    n -= 2;
    char *o = malloc(n + 1);
    if (!o) { fail(m, "out of memory"); return NULL; }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') { o[j++] = s[i]; continue; }
        if (++i == n) { free(o); fail(m, "string ends in a backslash"); return NULL; }
        char c = s[i];
        const char *simple = strchr("\\'\"abfnrtv", c);
        if (c && simple) {
            static const char to[] = "\\'\"\a\b\f\n\r\t\v";
            o[j++] = to[simple - "\\'\"abfnrtv"];
        } else if (c == 'x' && n - i > 2 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            o[j++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else if (c >= '0' && c <= '7') {
            int v = 0, k = 0;
            while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7') v = v * 8 + (s[i++] - '0'), k++;
            i--;
            o[j++] = (char)v;
        } else {
            o[j++] = '\\';
            o[j++] = c;
        }
    }
    lx_pk *v = valid_utf8((uint8_t *)o, j) ? make_bytes(m, LX_PK_STR, o, j)
                                           : make_bytes(m, LX_PK_BYTES, o, j);
    free(o);
    return v;
}

/* A decimal integer operand (INT, LONG, PUT, GET): digits with an optional sign. */
static int parse_dec(vm *m, const char *s, size_t n, int64_t *out) {
    if (n && s[n - 1] == 'L') n--;
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n) return fail(m, "bad integer operand");
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return fail(m, "bad integer operand");
        if (v > (UINT64_MAX - 9) / 10) return fail(m, "integer does not fit in 64 bits");
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg) return fail(m, "integer does not fit in 64 bits");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* The slot of idx in the memo: where it is, or the empty slot where it would go. */
static struct memo_slot *memo_slot(const vm *m, uint64_t idx) {
    size_t mask = m->nmemo - 1, i = (size_t)((idx * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (m->memo[i].v && m->memo[i].idx != idx) i = (i + 1) & mask;
    return &m->memo[i];
}

static int memo_put(vm *m, uint64_t idx) {
    lx_pk *v = top(m);
    if (!v) return -1;
    /* Every PUT takes at least two bytes, so a real index stays below the length. */
    if (idx >= m->len) return fail(m, "memo index %llu is beyond any this pickle can use",
                                   (unsigned long long)idx);
    if (2 * (m->memo_count + 1) > m->nmemo) {   /* keep the table at most half full */
        size_t nc = m->nmemo ? 2 * m->nmemo : 64;
        struct memo_slot *old = m->memo, *a = calloc(nc, sizeof *a);
        if (!a) return fail(m, "out of memory for %zu memo entries", m->memo_count + 1);
        size_t on = m->nmemo;
        m->memo = a;
        m->nmemo = nc;
        for (size_t i = 0; i < on; i++)
            if (old[i].v) *memo_slot(m, old[i].idx) = old[i];
        free(old);
    }
    struct memo_slot *sl = memo_slot(m, idx);
    if (!sl->v) m->memo_count++;
    sl->idx = idx;
    sl->v = v;
    return 0;
}

/* The memo index operand of PUT/GET (a decimal line), BINPUT/BINGET (1 byte) or
 * LONG_BINPUT/LONG_BINGET (4 bytes little-endian). */
static int memo_operand(vm *m, int op, uint64_t *idx) {
    const uint8_t *q = m->b + m->pos;
    const char *s;
    size_t n;
    int64_t iv;
    if (op == 'p' || op == 'g') {
        if (readline(m, &s, &n) < 0 || parse_dec(m, s, n, &iv) < 0) return -1;
        if (iv < 0) return fail(m, "negative memo index");
        *idx = (uint64_t)iv;
        return 0;
    }
    int w = op == 'q' || op == 'h' ? 1 : 4;
    if (need(m, (size_t)w) < 0) return -1;
    m->pos += (size_t)w;
    *idx = lx_rd_le(q, w);
    return 0;
}

static int memo_get(vm *m, uint64_t idx) {
    struct memo_slot *sl = m->nmemo ? memo_slot(m, idx) : NULL;
    if (!sl || !sl->v)
        return fail(m, "memo entry %llu is not defined", (unsigned long long)idx);
    return push(m, sl->v);
}

static lx_pk *resolve_global(vm *m, const char *mod, size_t mlen, const char *name,
                             size_t nlen) {
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strlen(allowed[i].module) == mlen && !memcmp(allowed[i].module, mod, mlen) &&
            strlen(allowed[i].name) == nlen && !memcmp(allowed[i].name, name, nlen)) {
            lx_pk *v = newv(m, LX_PK_GLOBAL);
            if (!v) return NULL;
            v->u.global.id = allowed[i].id;
            v->u.global.name = allowed[i].full;
            v->u.global.elem = allowed[i].elem;
            return v;
        }
    char a[96], b[96];
    fail(m, "global %s.%s is not allowed (a checkpoint may only use OrderedDict, torch "
            "tensor rebuild functions, storage types and dtypes); nothing was executed",
         printable(a, sizeof a, mod, mlen), printable(b, sizeof b, name, nlen));
    return NULL;
}

/* ---- calls to allow-listed callables ---------------------------------------------- */

static int get_int(vm *m, const lx_pk *v, const char *what, int64_t *out) {
    if (!v || (v->kind != LX_PK_INT && v->kind != LX_PK_BOOL))
        return fail(m, "%s: expected an int, got %s", what, v ? lx_pk_kind_name(v->kind) : "?");
    *out = v->u.i;
    return 0;
}

/* size and stride tuples of a tensor: non-negative ints, at most LX_MAX_DIMS. */
static int get_dims(vm *m, const lx_pk *t, const char *what, int64_t *dims, int *nd) {
    if (t->kind != LX_PK_TUPLE && t->kind != LX_PK_LIST)
        return fail(m, "tensor %s: expected a tuple, got %s", what, lx_pk_kind_name(t->kind));
    if (t->u.seq.n > LX_MAX_DIMS)
        return fail(m, "tensor %s has %zu dimensions (at most %d)", what, t->u.seq.n,
                    LX_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (get_int(m, t->u.seq.items[i], what, &dims[i]) < 0) return -1;
        if (dims[i] < 0) return fail(m, "tensor %s has a negative entry %lld", what,
                                     (long long)dims[i]);
    }
    *nd = (int)t->u.seq.n;
    return 0;
}

static lx_pk *rebuild_tensor(vm *m, lx_pk **a) {
    if (a[0]->kind != LX_PK_STORAGE) {
        fail(m, "tensor rebuild: expected a storage, got %s", lx_pk_kind_name(a[0]->kind));
        return NULL;
    }
    int64_t shape[LX_MAX_DIMS], stride[LX_MAX_DIMS], offset = 0;
    int nd, ns;
    if (get_int(m, a[1], "storage offset", &offset) < 0) return NULL;
    if (offset < 0) { fail(m, "negative storage offset"); return NULL; }
    if (get_dims(m, a[2], "size", shape, &nd) < 0) return NULL;
    if (get_dims(m, a[3], "stride", stride, &ns) < 0) return NULL;
    if (nd != ns) {
        fail(m, "tensor size has %d dimensions but stride has %d", nd, ns);
        return NULL;
    }
    lx_pk *t = newv(m, LX_PK_TENSOR);
    if (!t) return NULL;
    int64_t *dims = malloc(2 * (size_t)(nd ? nd : 1) * sizeof *dims);
    if (!dims) { fail(m, "out of memory"); return NULL; }
    memcpy(dims, shape, (size_t)nd * sizeof *dims);
    memcpy(dims + nd, stride, (size_t)nd * sizeof *dims);
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = offset;
    t->u.tensor.ndim = nd;
    t->u.tensor.shape = dims;
    t->u.tensor.stride = dims + nd;
    return t;
}

/* Latin-1 encoding of a str (protocol 2's way of pickling bytes). */
static lx_pk *encode_latin1(vm *m, const lx_pk *s) {
    char *o = malloc(s->u.str.len + 1);
    if (!o) { fail(m, "out of memory"); return NULL; }
    size_t j = 0;
    const uint8_t *p = (const uint8_t *)s->u.str.s;
    for (size_t i = 0; i < s->u.str.len; j++) {
        if (p[i] < 0x80) { o[j] = (char)p[i++]; continue; }
        if ((p[i] & 0xE0) != 0xC0 || p[i] > 0xC3) {
            free(o);
            fail(m, "_codecs.encode: character outside Latin-1");
            return NULL;
        }
        o[j] = (char)((p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F));
        i += 2;
    }
    lx_pk *v = make_bytes(m, LX_PK_BYTES, o, j);
    free(o);
    return v;
}

/* fn(*args) for an allow-listed fn; NULL (with the error set) for anything else. */
static lx_pk *call(vm *m, const lx_pk *fn, lx_pk **a, size_t n) {
    if (fn->kind != LX_PK_GLOBAL) {
        fail(m, "cannot call a %s", lx_pk_kind_name(fn->kind));
        return NULL;
    }
    const char *name = fn->u.global.name;
    switch (fn->u.global.id) {
    case G_ORDEREDDICT: {
        lx_pk *d = newv(m, LX_PK_DICT);
        if (!d || n == 0) return d;
        if (n == 1 && (a[0]->kind == LX_PK_LIST || a[0]->kind == LX_PK_TUPLE)) {
            if (charge(m, a[0]->u.seq.n) < 0) return NULL;
            for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                lx_pk *kv = a[0]->u.seq.items[i];
                if (kv->kind != LX_PK_TUPLE || kv->u.seq.n != 2) {
                    fail(m, "%s: expected (key, value) pairs", name);
                    return NULL;
                }
                if (dict_add(m, d, kv->u.seq.items[0], kv->u.seq.items[1]) < 0) return NULL;
            }
            return d;
        }
        break;
    }
    case G_SET:
    case G_FROZENSET:
        if (n == 0) return newv(m, LX_PK_SET);
        if (n == 1 && (a[0]->kind == LX_PK_LIST || a[0]->kind == LX_PK_TUPLE ||
                       a[0]->kind == LX_PK_SET))
            return make_seq(m, LX_PK_SET, a[0]->u.seq.items, a[0]->u.seq.n);
        break;
    case G_SIZE:
        if (n == 1 && (a[0]->kind == LX_PK_TUPLE || a[0]->kind == LX_PK_LIST))
            return make_seq(m, LX_PK_TUPLE, a[0]->u.seq.items, a[0]->u.seq.n);
        break;
    case G_ENCODE:
        if (n == 2 && a[0]->kind == LX_PK_STR && a[1]->kind == LX_PK_STR &&
            (!strcmp(a[1]->u.str.s, "latin1") || !strcmp(a[1]->u.str.s, "latin-1")))
            return encode_latin1(m, a[0]);
        break;
    case G_REBUILD_V2:   /* (storage, offset, size, stride, requires_grad, hooks[, meta]) */
        if (n == 6 || n == 7) return rebuild_tensor(m, a);
        break;
    case G_REBUILD:      /* (storage, offset, size, stride) */
        if (n == 4) return rebuild_tensor(m, a);
        break;
    case G_REBUILD_PARAM:        /* (data, requires_grad, hooks) */
    case G_REBUILD_PARAM_STATE:  /* (data, requires_grad, hooks, state) */
        if ((n == 3 || n == 4) && a[0]->kind == LX_PK_TENSOR) return a[0];
        break;
    default:
        fail(m, "%s is not callable", name);
        return NULL;
    }
    fail(m, "%s called with unexpected arguments (%zu given)", name, n);
    return NULL;
}

static lx_pk *persistent_load(vm *m, lx_pk *pid) {
    lx_pk **a = pid->u.seq.items;
    if (pid->kind != LX_PK_TUPLE || pid->u.seq.n < 5 || a[0]->kind != LX_PK_STR ||
        strcmp(a[0]->u.str.s, "storage") != 0) {
        fail(m, "persistent id is not ('storage', type, key, location, numel)");
        return NULL;
    }
    if (a[1]->kind != LX_PK_GLOBAL || a[1]->u.global.id != G_STORAGE) {
        fail(m, "persistent id: expected a torch storage type, got %s",
             a[1]->kind == LX_PK_GLOBAL ? a[1]->u.global.name : lx_pk_kind_name(a[1]->kind));
        return NULL;
    }
    lx_pk *key = a[2];
    if (key->kind == LX_PK_INT) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)key->u.i);
        if (!(key = make_bytes(m, LX_PK_STR, buf, strlen(buf)))) return NULL;
    }
    if (key->kind != LX_PK_STR || a[3]->kind != LX_PK_STR) {
        fail(m, "persistent id: storage key and location must be strings");
        return NULL;
    }
    if (pid->u.seq.n > 5 && a[5]->kind != LX_PK_NONE) {
        fail(m, "storage views (checkpoints from PyTorch before 0.4) are not supported");
        return NULL;
    }
    lx_pk *s = newv(m, LX_PK_STORAGE);
    if (!s) return NULL;
    s->u.storage.elem = a[1]->u.global.elem;
    s->u.storage.key = key->u.str.s;
    s->u.storage.location = a[3]->u.str.s;
    if (get_int(m, a[4], "storage numel", &s->u.storage.numel) < 0) return NULL;
    if (s->u.storage.numel < 0) { fail(m, "negative storage size"); return NULL; }
    lx_pickle *p = m->p;
    if (room(m, &p->storages, p->nstorages, &p->capstorages, 64) < 0) return NULL;
    p->storages[p->nstorages++] = s;
    return s;
}

/* ---- the interpreter loop ----------------------------------------------------------- */

/* One opcode.  Returns 1 after STOP, 0 to go on, -1 on error. */
static int step(vm *m, lx_pk **out) {
    m->op = m->pos;
    if (m->pos >= m->len) {
        m->opcode = 0;
        return fail(m, "pickle ends without STOP");
    }
    uint8_t c = m->opcode = m->b[m->pos++];
    const uint8_t *q = m->b + m->pos;
    const char *s;
    size_t n = 0, k = 0;
    lx_pk *v, *w, *x;
    uint64_t idx = 0;
    int64_t iv;
    switch (c) {
    case 0x80: /* PROTO */
        if (need(m, 1) < 0) return -1;
        if (q[0] > 5) return fail(m, "protocol %u is not supported (0-5)", q[0]);
        m->pos++;
        return 0;
    case 0x95: /* FRAME: an 8-byte length, advisory only */
        if (need(m, 8) < 0) return -1;
        m->pos += 8;
        return 0;
    case '.':
        if (!(v = pop(m))) return -1;
        *out = v;
        return 1;
    case '(':
        if (m->nmarks == LX_PK_MAX_MARKS)
            return fail(m, "more than %d nested MARKs", LX_PK_MAX_MARKS);
        m->marks[m->nmarks++] = m->sp;
        return 0;
    case '0':
        if (m->sp > base(m)) { m->sp--; return 0; }
        return pop_mark(m, &k);
    case '1':
        if (pop_mark(m, &k) < 0) return -1;
        m->sp = k;
        return 0;
    case '2':
        if (!(v = top(m))) return -1;
        return push(m, v);
    case 'N': return push(m, &m->p->none);
    case 0x88:
    case 0x89:
        return push(m, c == 0x88 ? &m->p->yes : &m->p->no);
    case 'I':
    case 'L':
        if (readline(m, &s, &n) < 0) return -1;
        if (c == 'I' && n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1'))
            return push(m, s[1] == '1' ? &m->p->yes : &m->p->no);
        if (parse_dec(m, s, n, &iv) < 0) return -1;
        return push(m, make_int(m, iv));
    case 'J':
        if (need(m, 4) < 0) return -1;
        m->pos += 4;
        return push(m, make_int(m, (int32_t)(uint32_t)lx_rd_le(q, 4)));
    case 'K':
        if (need(m, 1) < 0) return -1;
        m->pos += 1;
        return push(m, make_int(m, q[0]));
    case 'M':
        if (need(m, 2) < 0) return -1;
        m->pos += 2;
        return push(m, make_int(m, (int64_t)lx_rd_le(q, 2)));
    case 0x8a:
    case 0x8b: {
        int w4 = c == 0x8b;
        if (need(m, w4 ? 4 : 1) < 0) return -1;
        uint64_t nb = w4 ? lx_rd_le(q, 4) : q[0];
        if (w4 && nb > INT32_MAX) return fail(m, "negative length");
        m->pos += w4 ? 4 : 1;
        if (need(m, nb) < 0) return -1;
        const uint8_t *d = m->b + m->pos;
        m->pos += nb;
        if (nb <= 8) {
            uint64_t u = nb ? lx_rd_le(d, (int)nb) : 0;
            if (nb && nb < 8 && (d[nb - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * nb);
            return push(m, make_int(m, (int64_t)u));
        }
        return push(m, make_bytes(m, LX_PK_BIGINT, d, nb));
    }
    case 'F': {
        if (readline(m, &s, &n) < 0) return -1;
        char buf[64];
        if (n == 0 || n >= sizeof buf) return fail(m, "bad float operand");
        memcpy(buf, s, n);
        buf[n] = 0;
        char *e;
        double f = strtod(buf, &e);
        if (*e) return fail(m, "bad float operand");
        if (!(v = newv(m, LX_PK_FLOAT))) return -1;
        v->u.f = f;
        return push(m, v);
    }
    case 'G': {
        if (need(m, 8) < 0) return -1;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | q[i];   /* big-endian */
        m->pos += 8;
        if (!(v = newv(m, LX_PK_FLOAT))) return -1;
        memcpy(&v->u.f, &u, 8);
        return push(m, v);
    }
    case 'S':
        if (readline(m, &s, &n) < 0) return -1;
        return push(m, decode_quoted(m, s, n));
    case 'V':
        if (readline(m, &s, &n) < 0) return -1;
        return push(m, decode_raw_unicode(m, s, n));
    case 'T': case 'U': case 'X': case 0x8c: case 0x8d:   /* strings */
    case 'B': case 'C': case 0x8e: case 0x96: {          /* bytes */
        int w = (c == 'U' || c == 0x8c || c == 'C') ? 1 : (c == 0x8d || c == 0x8e || c == 0x96)
                ? 8 : 4;
        if (need(m, (size_t)w) < 0) return -1;
        uint64_t len = lx_rd_le(q, w);
        if (c == 'T' && len > INT32_MAX) return fail(m, "negative length");
        m->pos += (size_t)w;
        if (need(m, len) < 0) return -1;
        const char *d = (const char *)m->b + m->pos;
        m->pos += len;
        if (c == 'B' || c == 'C' || c == 0x8e || c == 0x96)
            return push(m, make_bytes(m, LX_PK_BYTES, d, len));
        if ((c == 'T' || c == 'U') && !valid_utf8((const uint8_t *)d, len))
            return push(m, make_bytes(m, LX_PK_BYTES, d, len));   /* Python 2 str */
        return push(m, make_str(m, d, len));
    }
    case ')': return push(m, &m->p->empty);   /* tuples are never changed: shared */
    case ']': return push(m, newv(m, LX_PK_LIST));
    case '}': return push(m, newv(m, LX_PK_DICT));
    case 0x8f: return push(m, newv(m, LX_PK_SET));
    case 't': case 'l': case 0x91:
        if (pop_mark(m, &k) < 0) return -1;
        v = make_seq(m, c == 't' ? LX_PK_TUPLE : c == 'l' ? LX_PK_LIST : LX_PK_SET,
                     m->stack + k, m->sp - k);
        m->sp = k;
        return push(m, v);
    case 0x85: case 0x86: case 0x87: {
        size_t cnt = (size_t)(c - 0x84);
        if (m->sp - base(m) < cnt) return fail(m, "stack underflow");
        v = make_seq(m, LX_PK_TUPLE, m->stack + m->sp - cnt, cnt);
        m->sp -= cnt;
        return push(m, v);
    }
    case 'd':
        if (pop_mark(m, &k) < 0) return -1;
        if ((m->sp - k) % 2) return fail(m, "odd number of values for a dict");
        if (!(v = newv(m, LX_PK_DICT))) return -1;
        for (size_t i = k; i < m->sp; i += 2)
            if (dict_add(m, v, m->stack[i], m->stack[i + 1]) < 0) return -1;
        m->sp = k;
        return push(m, v);
    case 'a':
        if (!(w = pop(m)) || !(v = top(m))) return -1;
        if (v->kind != LX_PK_LIST) return fail(m, "APPEND to a %s", lx_pk_kind_name(v->kind));
        return seq_add(m, v, w);
    case 'e': case 0x90:
        if (pop_mark(m, &k) < 0) return -1;
        if (k <= base(m) || k == 0) return fail(m, "stack underflow");
        v = m->stack[k - 1];
        if (v->kind != (c == 'e' ? LX_PK_LIST : LX_PK_SET))
            return fail(m, "cannot add items to a %s", lx_pk_kind_name(v->kind));
        for (size_t i = k; i < m->sp; i++)
            if (seq_add(m, v, m->stack[i]) < 0) return -1;
        m->sp = k;
        return 0;
    case 's':
        if (!(x = pop(m)) || !(w = pop(m)) || !(v = top(m))) return -1;
        if (v->kind != LX_PK_DICT) return fail(m, "SETITEM on a %s", lx_pk_kind_name(v->kind));
        return dict_add(m, v, w, x);
    case 'u':
        if (pop_mark(m, &k) < 0) return -1;
        if (k <= base(m) || k == 0) return fail(m, "stack underflow");
        v = m->stack[k - 1];
        if (v->kind != LX_PK_DICT) return fail(m, "SETITEMS on a %s", lx_pk_kind_name(v->kind));
        if ((m->sp - k) % 2) return fail(m, "odd number of values for SETITEMS");
        for (size_t i = k; i < m->sp; i += 2)
            if (dict_add(m, v, m->stack[i], m->stack[i + 1]) < 0) return -1;
        m->sp = k;
        return 0;
    case 'p': case 'q': case 'r': /* PUT, BINPUT, LONG_BINPUT */
    case 'g': case 'h': case 'j': /* GET, BINGET, LONG_BINGET */
        if (memo_operand(m, c, &idx) < 0) return -1;
        return c == 'p' || c == 'q' || c == 'r' ? memo_put(m, idx) : memo_get(m, idx);
    case 0x94:
        return memo_put(m, m->memo_count);
    case 'c': {
        const char *mod, *name;
        size_t ml, nl;
        if (readline(m, &mod, &ml) < 0 || readline(m, &name, &nl) < 0) return -1;
        return push(m, resolve_global(m, mod, ml, name, nl));
    }
    case 0x93:
        if (!(w = pop(m)) || !(v = pop(m))) return -1;
        if (v->kind != LX_PK_STR || w->kind != LX_PK_STR)
            return fail(m, "module and name must be strings");
        return push(m, resolve_global(m, v->u.str.s, v->u.str.len, w->u.str.s, w->u.str.len));
    case 'R':
        if (!(w = pop(m)) || !(v = pop(m))) return -1;
        if (w->kind != LX_PK_TUPLE)
            return fail(m, "arguments must be a tuple, got %s", lx_pk_kind_name(w->kind));
        return push(m, call(m, v, w->u.seq.items, w->u.seq.n));
    case 0x81:  /* NEWOBJ: cls.__new__(cls, *args) */
    case 0x92:  /* NEWOBJ_EX: cls.__new__(cls, *args, **kwargs) */
        if (c == 0x92 && !(x = pop(m))) return -1;
        if (!(w = pop(m)) || !(v = pop(m))) return -1;
        if (w->kind != LX_PK_TUPLE)
            return fail(m, "arguments must be a tuple, got %s", lx_pk_kind_name(w->kind));
        if (v->kind != LX_PK_GLOBAL || (v->u.global.id != G_ORDEREDDICT &&
                                        v->u.global.id != G_SET &&
                                        v->u.global.id != G_FROZENSET))
            return fail(m, "cannot create an object of %s",
                        v->kind == LX_PK_GLOBAL ? v->u.global.name : lx_pk_kind_name(v->kind));
        return push(m, newv(m, v->u.global.id == G_ORDEREDDICT ? LX_PK_DICT : LX_PK_SET));
    case 'i': {  /* INST module\nname\n, arguments since MARK */
        const char *mod, *name;
        size_t ml, nl;
        if (readline(m, &mod, &ml) < 0 || readline(m, &name, &nl) < 0) return -1;
        if (!(v = resolve_global(m, mod, ml, name, nl))) return -1;
        if (pop_mark(m, &k) < 0) return -1;
        w = call(m, v, m->stack + k, m->sp - k);
        m->sp = k;
        return push(m, w);
    }
    case 'o':    /* OBJ: MARK cls args... */
        if (pop_mark(m, &k) < 0) return -1;
        if (m->sp == k) return fail(m, "no class given");
        w = call(m, m->stack[k], m->stack + k + 1, m->sp - k - 1);
        m->sp = k;
        return push(m, w);
    case 'b':    /* BUILD: state onto the object below it */
        if (!(w = pop(m)) || !(v = top(m))) return -1;
        /* OrderedDict state dicts carry attributes (_metadata): kept out of the values. */
        if (v->kind == LX_PK_DICT || v->kind == LX_PK_TENSOR) return 0;
        return fail(m, "cannot set the state of a %s", lx_pk_kind_name(v->kind));
    case 'P':
        if (readline(m, &s, &n) < 0) return -1;
        if (!(v = make_str(m, s, n))) return -1;
        return push(m, persistent_load(m, v));
    case 'Q':
        if (!(v = pop(m))) return -1;
        return push(m, persistent_load(m, v));
    case 0x98:   /* READONLY_BUFFER: no-op on values */
        return top(m) ? 0 : -1;
    case 0x82: case 0x83: case 0x84:
        return fail(m, "the extension registry is not supported");
    case 0x97:
        return fail(m, "out-of-band buffers are not supported");
    default:
        return fail(m, "unknown opcode 0x%02x", c);
    }
}

void lx_pickle_init(lx_pickle *p) {
    memset(p, 0, sizeof *p);
    p->none.kind = LX_PK_NONE;
    p->yes.kind = p->no.kind = LX_PK_BOOL;
    p->yes.u.i = 1;
    p->empty.kind = LX_PK_TUPLE;
    for (int i = 0; i < 256; i++) {
        p->small[i].kind = LX_PK_INT;
        p->small[i].u.i = i;
    }
}

int lx_pickle_load(lx_pickle *p, const void *buf, size_t len, lx_pk **out, lx_error *err) {
    vm *m = calloc(1, sizeof *m);
    if (!m) return lx_error_set(err, "out of memory");
    m->p = p;
    m->b = buf;
    m->len = len;
    m->err = err;
    m->budget = 4 * (uint64_t)len + 65536;
    *out = NULL;
    /* The stack exists from the start, so that an empty frame (MARK then TUPLE) is a
     * pointer into it, never an offset from NULL. */
    int rc = room(m, &m->stack, 0, &m->cap, 64);
    while (rc == 0 && (rc = step(m, out)) == 0) {}
    if (rc == 1) p->end = m->pos;
    free(m->stack);
    free(m->memo);
    free(m);
    return rc == 1 ? 0 : -1;
}

void lx_pickle_free(lx_pickle *p) {
    size_t n = p->nused;   /* the newest block is the only one not full */
    for (lx_pk_block *b = p->blocks, *next; b; b = next, n = BLOCK_VALUES) {
        for (size_t i = 0; i < n; i++) {
            lx_pk *v = &b->v[i];
            switch (v->kind) {
            case LX_PK_STR: case LX_PK_BYTES: case LX_PK_BIGINT: free(v->u.str.s); break;
            case LX_PK_TUPLE: case LX_PK_LIST: case LX_PK_SET: free(v->u.seq.items); break;
            case LX_PK_DICT: free(v->u.dict.keys); free(v->u.dict.vals); break;
            case LX_PK_TENSOR: free(v->u.tensor.shape); break;
            default: break;
            }
        }
        next = b->next;
        free(b);
    }
    free(p->storages);
    lx_pickle_init(p);
}
