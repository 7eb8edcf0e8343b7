/*
 * tokenizer_internal.h — what the tokenizer (tokenizer.c) reads of the vocabulary
 * (vocab.c): its layout, so that WordPiece can look keys up without a call per
 * candidate.  Not part of the public API.
 */
#ifndef LX_TOKENIZER_INTERNAL_H
#define LX_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lx.h"

typedef struct lx_vocab_ent {
    uint32_t off;                 /* the token's text in pool (with its "##") */
    uint32_t hash;                /* of the key: the text without "##" for continuations */
    uint16_t keylen;              /* bytes of the key */
    uint8_t cont;                 /* 1: a "##" continuation piece */
} lx_vocab_ent;

struct lx_vocab {
    char *pool;                   /* every token's text, NUL-terminated, in id order */
    size_t pool_len, pool_cap;
    lx_vocab_ent *ents;           /* [n], index = id */
    size_t n, cap;
    int32_t *slots;               /* [nslots] (a power of two): id, or -1 for empty */
    size_t nslots;
    size_t maxkey[2];             /* longest key in bytes: [0] word starts, [1] "##" pieces */
};

/* The id of the key s[0..n) (cont: a "##" piece, s without the "##"), or -1. */
int32_t lx_vocab_lookup(const lx_vocab *v, const char *s, size_t n, int cont);

#endif
