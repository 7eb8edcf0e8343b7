/*
 * vocab.c — the WordPiece vocabulary: id -> text and text -> id (its files are read by
 * lx_lines_read_file, config.c).
 *
 * Every token's text lives once in a string pool (NUL-terminated, in id order).  Lookup
 * is an open-addressing hash table of ids keyed by (text, continuation flag): a token
 * "##ing" is stored as the key "ing" with the flag set, so WordPiece can look up the
 * tail of a word in place without building "##..." strings.  The table is at most half
 * full.  When a text occurs twice, lookup returns the later id (HF builds a dict from
 * the lines, so the last one wins); id -> text keeps every line.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tokenizer_internal.h"

static uint32_t key_hash(const char *s, size_t n, int cont) {
    uint32_t h = cont ? 0x811c9dc5u ^ 0x9e3779b9u : 0x811c9dc5u;   /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x01000193u;
    return h ^ (h >> 15);
}

lx_vocab *lx_vocab_new(lx_error *err) {
    lx_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        lx_error_set(err, "out of memory for a vocabulary");
        return NULL;
    }
    v->nslots = 1024;
    v->slots = malloc(v->nslots * sizeof *v->slots);
    if (!v->slots) {
        free(v);
        lx_error_set(err, "out of memory for a vocabulary");
        return NULL;
    }
    memset(v->slots, 0xff, v->nslots * sizeof *v->slots);   /* -1: empty */
    return v;
}

void lx_vocab_free(lx_vocab *v) {
    if (!v)
        return;
    free(v->pool);
    free(v->ents);
    free(v->slots);
    free(v);
}

size_t lx_vocab_size(const lx_vocab *v) { return v->n; }

const char *lx_vocab_token(const lx_vocab *v, int64_t id) {
    if (id < 0 || (uint64_t)id >= v->n)
        return NULL;
    return v->pool + v->ents[id].off;
}

/* Put id into the table (the key is ents[id]'s); an equal key gets its id replaced. */
static void slot_put(lx_vocab *v, int32_t id) {
    const lx_vocab_ent *e = &v->ents[id];
    const char *key = v->pool + e->off + (e->cont ? 2 : 0);
    size_t mask = v->nslots - 1;
    for (size_t i = e->hash & mask;; i = (i + 1) & mask) {
        int32_t o = v->slots[i];
        if (o < 0) {
            v->slots[i] = id;
            return;
        }
        const lx_vocab_ent *f = &v->ents[o];
        if (f->hash == e->hash && f->keylen == e->keylen && f->cont == e->cont &&
            memcmp(v->pool + f->off + (f->cont ? 2 : 0), key, e->keylen) == 0) {
            v->slots[i] = id;
            return;
        }
    }
}

static int grow_slots(lx_vocab *v, lx_error *err) {
    size_t n = v->nslots * 2;
    int32_t *s = malloc(n * sizeof *s);
    if (!s)
        return lx_error_set(err, "out of memory for a vocabulary index of %zu slots", n);
    memset(s, 0xff, n * sizeof *s);
    free(v->slots);
    v->slots = s;
    v->nslots = n;
    /* re-insert in id order so that the last of equal keys still wins */
    for (size_t id = 0; id < v->n; id++)
        slot_put(v, (int32_t)id);
    return 0;
}

int64_t lx_vocab_add(lx_vocab *v, const char *token, size_t len, lx_error *err) {
    if (memchr(token, 0, len))
        return lx_error_set(err, "token %zu: contains a NUL byte", v->n);
    if (len > UINT16_MAX)
        return lx_error_set(err, "token %zu: %zu bytes long, expected at most %u", v->n, len,
                            (unsigned)UINT16_MAX);
    if (v->n >= INT32_MAX || v->pool_len + len + 1 > UINT32_MAX)
        return lx_error_set(err, "vocabulary too large (%zu tokens)", v->n);
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        lx_vocab_ent *e = realloc(v->ents, cap * sizeof *e);
        if (!e)
            return lx_error_set(err, "out of memory for a vocabulary of %zu entries", cap);
        v->ents = e;
        v->cap = cap;
    }
    if (v->pool_len + len + 1 > v->pool_cap) {
        size_t cap = v->pool_cap ? v->pool_cap : 65536;
        while (cap < v->pool_len + len + 1)
            cap *= 2;
        char *p = realloc(v->pool, cap);
        if (!p)
            return lx_error_set(err, "out of memory for %zu bytes of vocabulary text", cap);
        v->pool = p;
        v->pool_cap = cap;
    }
    if ((v->n + 1) * 2 > v->nslots && grow_slots(v, err) < 0)
        return -1;
    lx_vocab_ent *e = &v->ents[v->n];
    e->off = (uint32_t)v->pool_len;
    e->cont = len > 2 && token[0] == '#' && token[1] == '#';
    e->keylen = (uint16_t)(len - (e->cont ? 2 : 0));
    e->hash = key_hash(token + (e->cont ? 2 : 0), e->keylen, e->cont);
    memcpy(v->pool + v->pool_len, token, len);
    v->pool[v->pool_len + len] = '\0';
    v->pool_len += len + 1;
    int32_t id = (int32_t)v->n++;
    slot_put(v, id);
    if (e->keylen > v->maxkey[e->cont])
        v->maxkey[e->cont] = e->keylen;
    return id;
}

int32_t lx_vocab_lookup(const lx_vocab *v, const char *s, size_t n, int cont) {
    uint32_t h = key_hash(s, n, cont);
    size_t mask = v->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        int32_t id = v->slots[i];
        if (id < 0)
            return -1;
        const lx_vocab_ent *e = &v->ents[id];
        if (e->hash == h && e->keylen == n && e->cont == cont &&
            memcmp(v->pool + e->off + (cont ? 2 : 0), s, n) == 0)
            return id;
    }
}

int64_t lx_vocab_find(const lx_vocab *v, const char *s, size_t len) {
    int cont = len > 2 && s[0] == '#' && s[1] == '#';
    return lx_vocab_lookup(v, s + (cont ? 2 : 0), len - (cont ? 2 : 0), cont);
}

lx_vocab *lx_vocab_from_list(const char *const *items, size_t n, lx_error *err) {
    lx_vocab *v = lx_vocab_new(err);
    for (size_t i = 0; v && i < n; i++)
        if (lx_vocab_add(v, items[i], strlen(items[i]), err) < 0) {
            lx_error_prefix(err, "vocabulary");
            lx_vocab_free(v);
            v = NULL;
        }
    return v;
}

lx_vocab *lx_vocab_load(const char *path, lx_error *err) {
    lx_strlist l = {0};
    if (lx_lines_read_file(&l, path, err) < 0) return NULL;
    lx_vocab *v = lx_vocab_from_list((const char *const *)l.items, l.n, err);
    if (!v) lx_error_prefix(err, "%s", path);
    lx_strlist_free(&l);
    return v;
}
