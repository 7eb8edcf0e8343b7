/* Tests of lib/pickle.c: the opcodes of protocols 0-4, the torch tensor/storage values,
 * and hostile pickles (forbidden globals, lying lengths, memo and depth limits,
 * truncation at every offset, random corruption). */
#include "testutil.h"
#include "ckpt/pickle.h"
#include "../tools/ckptgen.h"

/* Load bytes (copied to an exact-size buffer so that ASan sees any overrun). */
static int load(lx_pickle *p, const void *b, size_t n, lx_pk **out, lx_error *err) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    int rc = lx_pickle_load(p, copy, n, out, err);
    free(copy);
    return rc;
}

#define LOAD_LIT(p, lit, out, err) load(p, lit, sizeof lit - 1, out, err)

static const lx_pk *dget(const lx_pk *d, const char *key) {
    assert_int_equal(d->kind, LX_PK_DICT);
    for (size_t i = 0; i < d->u.dict.n; i++)
        if (d->u.dict.keys[i]->kind == LX_PK_STR && !strcmp(d->u.dict.keys[i]->u.str.s, key))
            return d->u.dict.vals[i];
    fail_msg("no key %s", key);
    return NULL;
}

static void test_protocol2_values(void **state) {
    gbuf g = {0};
    pk_proto(&g);
    pk_op(&g, '}');
    g_u8(&g, 'q'); g_u8(&g, 0);                          /* BINPUT 0 */
    pk_op(&g, '(');
    pk_str(&g, "small"); g_u8(&g, 'K'); g_u8(&g, 200);
    pk_str(&g, "mid"); g_u8(&g, 'M'); g_le(&g, 40000, 2);
    pk_str(&g, "neg"); pk_int(&g, -7);
    pk_str(&g, "long1"); g_u8(&g, 0x8a); g_u8(&g, 2); g_le(&g, 0xff38, 2);  /* -200 */
    pk_str(&g, "big"); g_u8(&g, 0x8a); g_u8(&g, 9); g_le(&g, 1, 8); g_u8(&g, 1);
    pk_str(&g, "pi"); g_u8(&g, 'G');
    {   double d = 3.25; uint64_t u; memcpy(&u, &d, 8);
        for (int i = 7; i >= 0; i--) g_u8(&g, (unsigned)(u >> (8 * i)) & 0xFF); }
    pk_str(&g, "none"); pk_op(&g, 'N');
    pk_str(&g, "yes"); g_u8(&g, 0x88);
    pk_str(&g, "t3"); pk_int(&g, 1); pk_int(&g, 2); pk_int(&g, 3); g_u8(&g, 0x87);
    pk_str(&g, "self"); g_u8(&g, 'h'); g_u8(&g, 0);       /* BINGET 0: the dict itself */
    pk_str(&g, "list"); pk_op(&g, ']'); pk_op(&g, '('); pk_int(&g, 5); pk_int(&g, 6);
    pk_op(&g, 'e');
    pk_op(&g, 'u');
    pk_op(&g, '.');
    g_put(&g, "trailing", 8);
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(load(&p, g.b, g.n, &v, &err), 0);
    assert_int_equal(p.end, g.n - 8);
    assert_int_equal(dget(v, "small")->u.i, 200);
    assert_int_equal(dget(v, "mid")->u.i, 40000);
    assert_int_equal(dget(v, "neg")->u.i, -7);
    assert_int_equal(dget(v, "long1")->u.i, -200);
    assert_int_equal(dget(v, "big")->kind, LX_PK_BIGINT);
    assert_int_equal(dget(v, "big")->u.str.len, 9);
    assert_true(dget(v, "pi")->u.f == 3.25);
    assert_int_equal(dget(v, "none")->kind, LX_PK_NONE);
    assert_int_equal(dget(v, "yes")->kind, LX_PK_BOOL);
    assert_int_equal(dget(v, "t3")->u.seq.n, 3);
    assert_int_equal(dget(v, "t3")->u.seq.items[2]->u.i, 3);
    assert_ptr_equal(dget(v, "self"), v);   /* a cycle: freeing must not recurse */
    assert_int_equal(dget(v, "list")->u.seq.n, 2);
    lx_pickle_free(&p);
    g_free(&g);
}

static void test_protocol0_text(void **state) {
    /* Python 2 style: text ints, quoted strings, raw-unicode strings, PUT/GET, DICT. */
    static const char pk[] =
        "(dp0\nS'name'\np1\nS'it\\'s \\x41'\np2\nsVcaf\\u00e9\np3\nI42\nsS'f'\nF-2.5\n"
        "sS'b'\nI01\nsS'l'\nL123456789012L\nsS'again'\ng1\nsS'lst'\n(lp4\nI1\naI2\nas.";
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(LOAD_LIT(&p, pk, &v, &err), 0);
    assert_string_equal(dget(v, "name")->u.str.s, "it's A");
    assert_int_equal(dget(v, "caf\xc3\xa9")->u.i, 42);
    assert_true(dget(v, "f")->u.f == -2.5);
    assert_int_equal(dget(v, "b")->kind, LX_PK_BOOL);
    assert_int_equal(dget(v, "l")->u.i, 123456789012LL);
    assert_string_equal(dget(v, "again")->u.str.s, "name");
    assert_int_equal(v->u.dict.n, 7);
    assert_int_equal(dget(v, "lst")->u.seq.n, 2);
    lx_pickle_free(&p);
}

static void test_protocol4(void **state) {
    gbuf g = {0};
    g_u8(&g, 0x80); g_u8(&g, 4);
    g_u8(&g, 0x95); g_le(&g, 60, 8);                      /* FRAME */
    g_u8(&g, 0x8c); g_u8(&g, 11); g_put(&g, "collections", 11);
    g_u8(&g, 0x94);
    g_u8(&g, 0x8c); g_u8(&g, 11); g_put(&g, "OrderedDict", 11);
    g_u8(&g, 0x94);
    g_u8(&g, 0x93);                                       /* STACK_GLOBAL */
    g_u8(&g, 0x94);
    pk_op(&g, ')');
    pk_op(&g, 'R');
    g_u8(&g, 0x94);
    g_u8(&g, 0x8c); g_u8(&g, 1); g_put(&g, "s", 1);
    g_u8(&g, 0x8f);                                       /* EMPTY_SET */
    pk_op(&g, '(');
    pk_int(&g, 1);
    pk_int(&g, 2);
    g_u8(&g, 0x90);                                       /* ADDITEMS */
    pk_op(&g, 's');
    g_u8(&g, 0x8c); g_u8(&g, 1); g_put(&g, "k", 1);
    g_u8(&g, 'j'); g_le(&g, 1, 4);                        /* LONG_BINGET 1: "OrderedDict" */
    pk_op(&g, 's');
    pk_op(&g, '.');
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(load(&p, g.b, g.n, &v, &err), 0);
    assert_int_equal(dget(v, "s")->kind, LX_PK_SET);
    assert_int_equal(dget(v, "s")->u.seq.n, 2);
    assert_string_equal(dget(v, "k")->u.str.s, "OrderedDict");
    lx_pickle_free(&p);
    g_free(&g);
}

static void test_torch_tensor(void **state) {
    gbuf g = {0};
    pk_proto(&g);
    pk_global(&g, "collections", "OrderedDict");
    pk_op(&g, ')');
    pk_op(&g, 'R');
    pk_op(&g, '(');
    pk_str(&g, "w");
    int64_t shape[2] = {3, 4}, stride[2] = {1, 3};
    pk_tensor(&g, "HalfStorage", "7", 20, 2, 2, shape, stride);
    pk_op(&g, 'u');
    pk_op(&g, '}');                                       /* _metadata-like BUILD state */
    pk_op(&g, 'b');
    pk_op(&g, '.');
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(load(&p, g.b, g.n, &v, &err), 0);
    const lx_pk *t = dget(v, "w");
    assert_int_equal(t->kind, LX_PK_TENSOR);
    assert_int_equal(t->u.tensor.ndim, 2);
    assert_int_equal(t->u.tensor.shape[1], 4);
    assert_int_equal(t->u.tensor.stride[1], 3);
    assert_int_equal(t->u.tensor.offset, 2);
    assert_int_equal(t->u.tensor.storage->u.storage.elem, LX_PK_F16);
    assert_string_equal(t->u.tensor.storage->u.storage.key, "7");
    assert_int_equal(t->u.tensor.storage->u.storage.numel, 20);
    assert_int_equal(p.nstorages, 1);
    lx_pickle_free(&p);
    g_free(&g);
}

/* A pickle that would run a shell command if it were executed: refused at the GLOBAL,
 * with the name in the message, and the command's file never appears. */
static void expect_refused(const void *b, size_t n, const char *name) {
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(load(&p, b, n, &v, &err), -1);
    if (!strstr(err.msg, name) || !strstr(err.msg, "not allowed"))
        fail_msg("message '%s' does not refuse %s", err.msg, name);
    lx_pickle_free(&p);
}

static void test_forbidden_globals(void **state) {
    const char *marker = scratch("pwned");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "touch %s", marker);
    unlink(marker);
    static const char *const fns[][2] = {
        {"os", "system"}, {"posix", "system"}, {"builtins", "eval"}, {"builtins", "exec"},
        {"subprocess", "Popen"}, {"torch", "load"}, {"collections", "OrderedDictX"},
        {"torch._utils", "_rebuild_tensor_v2x"}, {"__builtin__", "getattr"},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        char full[128];
        snprintf(full, sizeof full, "%s.%s", fns[i][0], fns[i][1]);
        /* GLOBAL + REDUCE */
        gbuf g = {0};
        pk_proto(&g);
        pk_global(&g, fns[i][0], fns[i][1]);
        pk_op(&g, '(');
        pk_str(&g, cmd);
        pk_op(&g, 't');
        pk_op(&g, 'R');
        pk_op(&g, '.');
        expect_refused(g.b, g.n, full);
        g_free(&g);
        /* STACK_GLOBAL (protocol 4) */
        pk_proto(&g);
        pk_str(&g, fns[i][0]);
        pk_str(&g, fns[i][1]);
        g_u8(&g, 0x93);
        pk_str(&g, cmd);
        g_u8(&g, 0x85);
        pk_op(&g, 'R');
        pk_op(&g, '.');
        expect_refused(g.b, g.n, full);
        g_free(&g);
        /* INST (protocol 0) */
        pk_op(&g, '(');
        pk_str(&g, cmd);
        g_u8(&g, 'i');
        g_put(&g, fns[i][0], strlen(fns[i][0]));
        g_u8(&g, '\n');
        g_put(&g, fns[i][1], strlen(fns[i][1]));
        g_u8(&g, '\n');
        pk_op(&g, '.');
        expect_refused(g.b, g.n, full);
        g_free(&g);
    }
    /* An allowed name used the wrong way is refused too. */
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(LOAD_LIT(&p, "\x80\x02" "ctorch\nFloatStorage\n(K\x05tR.", &v, &err), -1);
    assert_non_null(strstr(err.msg, "not callable"));
    assert_int_equal(access(marker, F_OK), -1);
    lx_pickle_free(&p);
}

static void expect_error(const void *b, size_t n, const char *what) {
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    int rc = load(&p, b, n, &v, &err);
    if (rc != -1) fail_msg("accepted, expected an error with '%s'", what);
    if (!strstr(err.msg, what)) fail_msg("message '%s' lacks '%s'", err.msg, what);
    lx_pickle_free(&p);
}
#define EXPECT_ERROR(lit, what) expect_error(lit, sizeof lit - 1, what)

static void test_hostile(void **state) {
    EXPECT_ERROR("\x80\x02N\x72\xff\xff\xff\xff.", "memo index");        /* LONG_BINPUT */
    EXPECT_ERROR("\x80\x02X\xf0\xff\xff\xff" "abc.", "truncated");          /* BINUNICODE */
    EXPECT_ERROR("\x80\x02\x8b\xff\xff\xff\x7f\x00.", "truncated");      /* LONG4 */
    EXPECT_ERROR("\x80\x02\x8b\xff\xff\xff\xff\x00.", "negative length");
    EXPECT_ERROR("\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", "truncated"); /* BINBYTES8 */
    EXPECT_ERROR("\x80\x02R.", "stack underflow");
    EXPECT_ERROR("\x80\x02(N1.", "stack underflow");
    EXPECT_ERROR("\x80\x02t.", "no MARK");
    EXPECT_ERROR("\x80\x02\xff.", "unknown opcode 0xff");
    EXPECT_ERROR("\x80\x02\x82\x01.", "extension registry");
    EXPECT_ERROR("\x80\x02h\x05.", "memo entry 5 is not defined");
    EXPECT_ERROR("\x80\x02}Na.", "APPEND to a dict");
    EXPECT_ERROR("\x80\x02]NNs.", "SETITEM on a list");
    EXPECT_ERROR("\x80\x09N.", "protocol 9");
    EXPECT_ERROR("\x80\x02N", "without STOP");
    EXPECT_ERROR("\x80\x02X\x02\x00\x00\x00\xff\xfe.", "UTF-8");
    EXPECT_ERROR("\x80\x02I99999999999999999999999\n.", "64 bits");
    EXPECT_ERROR("\x80\x02(X\x03\x00\x00\x00" "abcQ.", "persistent id");
    EXPECT_ERROR("\x80\x02\x8c\x01sN\x93.", "must be strings");
    /* Tensor arguments out of range. */
    EXPECT_ERROR("\x80\x02" "ctorch._utils\n_rebuild_tensor\n(NK\x00))tR.", "expected a storage");
    {
        gbuf g = {0};
        int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, stride[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        pk_proto(&g);
        pk_tensor(&g, "FloatStorage", "0", 1, 0, 9, shape, stride);
        pk_op(&g, '.');
        expect_error(g.b, g.n, "9 dimensions");
        g_free(&g);
        pk_proto(&g);
        shape[0] = -3;
        pk_tensor(&g, "FloatStorage", "0", 1, 0, 1, shape, stride);
        pk_op(&g, '.');
        expect_error(g.b, g.n, "negative");
        g_free(&g);
        pk_proto(&g);
        pk_tensor(&g, "FloatStorage", "0", -1, 0, 1, stride, stride);
        pk_op(&g, '.');
        expect_error(g.b, g.n, "negative storage size");
        g_free(&g);
        pk_proto(&g);
        pk_tensor(&g, "CharStorageX", "0", 1, 0, 1, stride, stride);
        pk_op(&g, '.');
        expect_error(g.b, g.n, "torch.CharStorageX is not allowed");
        g_free(&g);
        /* MARK depth */
        pk_proto(&g);
        for (int i = 0; i < LX_PK_MAX_MARKS + 1; i++) pk_op(&g, '(');
        pk_op(&g, '.');
        expect_error(g.b, g.n, "nested MARKs");
        g_free(&g);
    }
}

/* set(big_list) called again and again through the memo: refused once the copying
 * outgrows the pickle, instead of taking quadratic time and memory. */
static void test_copy_budget(void **state) {
    gbuf g = {0};
    pk_proto(&g);
    pk_global(&g, "builtins", "set");
    g_u8(&g, 'q'); g_u8(&g, 1);
    pk_op(&g, ']');
    g_u8(&g, 'q'); g_u8(&g, 0);
    pk_op(&g, '(');
    for (int i = 0; i < 1000; i++) pk_op(&g, 'N');
    pk_op(&g, 'e');
    for (int i = 0; i < 20000; i++) {
        g_u8(&g, 'h'); g_u8(&g, 1);
        g_u8(&g, 'h'); g_u8(&g, 0);
        g_u8(&g, 0x85);
        pk_op(&g, 'R');
        pk_op(&g, '0');
    }
    pk_op(&g, '.');
    expect_error(g.b, g.n, "copies more container items");
    g_free(&g);
}

/* A checkpoint-like pickle cut at every offset: always an error, never a crash. */
static void test_truncated_everywhere(void **state) {
    gbuf g = {0};
    pk_proto(&g);
    pk_global(&g, "collections", "OrderedDict");
    pk_op(&g, ')');
    pk_op(&g, 'R');
    pk_op(&g, '(');
    int64_t shape[2] = {3, 4}, stride[2] = {4, 1};
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        pk_str(&g, key);
        pk_tensor(&g, "FloatStorage", key, 12, 0, 2, shape, stride);
    }
    pk_op(&g, 'u');
    pk_op(&g, '.');
    for (size_t n = 0; n < g.n; n++) {
        lx_pickle p;
        lx_pickle_init(&p);
        lx_pk *v;
        lx_error err = {0};
        assert_int_equal(load(&p, g.b, n, &v, &err), -1);
        assert_true(err.msg[0] != 0);
        lx_pickle_free(&p);
    }
    /* Random corruption: one to three bytes changed, many times. */
    uint32_t seed = 12345;
    for (int it = 0; it < 4000; it++) {
        uint8_t *c = malloc(g.n);
        memcpy(c, g.b, g.n);
        int k = 1 + it % 3;
        for (int j = 0; j < k; j++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % g.n;
            seed = seed * 1103515245u + 12345u;
            c[at] = (uint8_t)(seed >> 16);
        }
        lx_pickle p;
        lx_pickle_init(&p);
        lx_pk *v;
        lx_error err = {0};
        if (lx_pickle_load(&p, c, g.n, &v, &err) < 0) assert_true(err.msg[0] != 0);
        lx_pickle_free(&p);
        free(c);
    }
    g_free(&g);
}

/* Empty frames: MARK then TUPLE/LIST/DICT/FROZENSET/OBJ-less calls on an empty stack
 * build empty values (the frame starts at the bottom of the stack). */
static void test_empty_frames(void **state) {
    static const struct { const char *pk; size_t n; lx_pk_kind kind; } cases[] = {
        {"\x80\x02(t.", 5, LX_PK_TUPLE}, {"\x80\x02(l.", 5, LX_PK_LIST},
        {"\x80\x02(d.", 5, LX_PK_DICT}, {"\x80\x04(\x91.", 5, LX_PK_SET},
        {"(t.", 3, LX_PK_TUPLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lx_pickle p;
        lx_pickle_init(&p);
        lx_pk *v;
        lx_error err = {0};
        if (load(&p, cases[i].pk, cases[i].n, &v, &err) < 0) fail_msg("%s", err.msg);
        assert_int_equal(v->kind, cases[i].kind);
        assert_int_equal(v->kind == LX_PK_DICT ? v->u.dict.n : v->u.seq.n, 0);
        lx_pickle_free(&p);
    }
}

/* The memo costs what the PUTs run, not the indices they name: one PUT of index ~10^8
 * at the start of a 100 MB buffer (the rest zeros, as in a sparse file), and a thousand
 * PUTs spread over that range, take a few KB, not a table of 10^8 entries. */
typedef struct sparse_memo { int spread; } sparse_memo;

static int run_sparse_memo(void *arg) {
    const sparse_memo *c = arg;
    const size_t len = (size_t)100 << 20;
    uint8_t *b = calloc(1, len);     /* untouched pages: no memory until read */
    if (!b) return 2;
    size_t n = 0;
    b[n++] = 0x80; b[n++] = 2; b[n++] = 'N';
    for (uint32_t i = 0; i < (c->spread ? 1000u : 1u); i++) {
        uint32_t idx = 99999990u - i * 99999u;
        b[n++] = 'r';
        lx_wr_u32(b + n, idx);
        n += 4;
    }
    b[n++] = 'r'; lx_wr_u32(b + n, 7); n += 4;            /* and a GET of both ends */
    b[n++] = 'h'; b[n++] = 7;
    b[n++] = 'j'; lx_wr_u32(b + n, 99999990u); n += 4;
    b[n++] = 0x86;                                         /* TUPLE2 */
    b[n++] = '.';
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    int rc = lx_pickle_load(&p, b, len, &v, &err);
    int ok = rc == 0 && v->kind == LX_PK_TUPLE && v->u.seq.n == 2 &&
             v->u.seq.items[0]->kind == LX_PK_NONE && v->u.seq.items[1]->kind == LX_PK_NONE;
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    lx_pickle_free(&p);
    free(b);
    return ok ? 0 : 1;
}

static void test_sparse_memo(void **state) {
    for (int spread = 0; spread < 2; spread++) {
        sparse_memo c = {spread};
        int st;
        long rise = peak_rise_kib(run_sparse_memo, &c, &st);
        assert_int_equal(st, 0);
        if (rise > 32 * 1024) fail_msg("memo of %s PUTs: memory rose by %ld KiB",
                                       spread ? "1000" : "one", rise);
    }
}

/* None, True, False, () and the ints 0..255 are one value each, so a pickle of millions
 * of them (pushed and popped) costs no memory beyond itself; other values cost 48 bytes
 * each, in blocks. */
static int run_constants(void *arg) {
    const size_t len = (size_t)8 << 20;
    uint8_t *b = malloc(len);
    if (!b) return 2;
    size_t n = 0;
    b[n++] = 0x80; b[n++] = 2;
    static const uint8_t ops[][3] = {{'N', '0'}, {')', '0'}, {0x88, '0'}, {0x89, '0'},
                                     {'K', 7, '0'}};
    for (unsigned i = 0; n + 8 < len; i++) {
        const uint8_t *o = ops[i % 5];
        size_t k = o[0] == 'K' ? 3 : 2;
        memcpy(b + n, o, k);
        n += k;
    }
    b[n++] = 'N';
    b[n++] = '.';
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    int rc = lx_pickle_load(&p, b, n, &v, &err);
    int ok = rc == 0 && v->kind == LX_PK_NONE;
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    lx_pickle_free(&p);
    free(b);
    return ok ? 0 : 1;
}

static void test_constants_shared(void **state) {
    int st;
    long rise = peak_rise_kib(run_constants, NULL, &st);
    assert_int_equal(st, 0);
    if (rise > 24 * 1024) fail_msg("8 MB of constants: memory rose by %ld KiB", rise);
    /* shared, and still what they are */
    lx_pickle p;
    lx_pickle_init(&p);
    lx_pk *v;
    lx_error err = {0};
    assert_int_equal(LOAD_LIT(&p, "\x80\x02(NNK\x05K\x05))\x88\x89M\x2c\x01t.", &v, &err), 0);
    assert_int_equal(v->kind, LX_PK_TUPLE);
    assert_int_equal(v->u.seq.n, 9);
    lx_pk **it = v->u.seq.items;
    assert_ptr_equal(it[0], it[1]);
    assert_int_equal(it[0]->kind, LX_PK_NONE);
    assert_ptr_equal(it[2], it[3]);
    assert_int_equal(it[2]->u.i, 5);
    assert_ptr_equal(it[4], it[5]);
    assert_int_equal(it[4]->u.seq.n, 0);
    assert_int_equal(it[6]->u.i, 1);
    assert_int_equal(it[7]->u.i, 0);
    assert_int_equal(it[7]->kind, LX_PK_BOOL);
    assert_int_equal(it[8]->u.i, 300);
    lx_pickle_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocol2_values),
        cmocka_unit_test(test_protocol0_text),
        cmocka_unit_test(test_protocol4),
        cmocka_unit_test(test_torch_tensor),
        cmocka_unit_test(test_forbidden_globals),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_copy_budget),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_empty_frames),
        cmocka_unit_test(test_sparse_memo),
        cmocka_unit_test(test_constants_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
