/*
 * tokenizer.c — BERT WordPiece as HF BertTokenizer (= LxmertTokenizer) does it.
 *
 * The reference, step by step, and where each step happens here:
 *
 *   1. Special tokens written in the text ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")
 *      are split out of the raw text first and kept whole      -> the '[' case of scan
 *   2. clean: drop U+0000, U+FFFD and every category C* character except \t \n \r;
 *      whitespace (\t \n \r ' ' and Zs) becomes a space          -> scan
 *   3. a space on each side of a CJK ideograph                   -> scan
 *   4. NFC, then split on whitespace (Python's str.split(), which also splits on
 *      U+2028/U+2029, the only other whitespace left after step 2) -> scan
 *   5. per whitespace word: a word equal to a special token stays whole; else
 *      uncased: str.lower() (full mapping: U+0130 -> "i\u0307"; final sigma), then
 *      NFD and drop every Mn character; cased: as is           -> slow_word / fast path
 *   6. split on punctuation: ASCII 33-47, 58-64, 91-96, 123-126 and Unicode P*
 *   7. WordPiece per piece: a piece of more than 100 code points is [UNK]; else greedy
 *      longest match from the left, later pieces as "##..." keys; a piece that cannot
 *      be covered is [UNK] as a whole                          -> wordpiece
 *
 * NFC (step 4) is applied per word in the cased mode only: in the uncased mode step 5's
 * NFD undoes it, and whitespace never composes with anything, so per word equals whole
 * text.
 *
 * Fast path: a whitespace word made of ASCII bytes only (nearly every word of an English
 * question) needs none of the Unicode work: lower-casing is A-Z -> a-z, NFD is the
 * identity and punctuation is a 128-entry table.  It is lower-cased in place and split
 * at its punctuation bytes.  Any other word goes through slow_word, which
 * decodes it to code points and uses utf8proc for categories, case and decomposition.
 * Both paths end in the same wordpiece(), and give the same result on ASCII words (the
 * unit tests check this).
 *
 * Memory: the tokenizer owns its scratch buffers (the current word, code points, the
 * current piece) and grows them to the largest text seen; nothing is allocated per
 * token.  Output ids go into an lx_encoding grown by doubling.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "lx.h"
#include "internal.h"
#include "tokenizer_internal.h"

#define MAX_WORD_CHARS 100        /* BERT's max_input_chars_per_word */

enum { SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_COUNT };
static const char *const special_text[SP_COUNT] = {
    "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]",
};

/* How scan treats each ASCII byte. */
enum {
    A_WORD = 0,                   /* 0-9, a-z: part of a word */
    A_UPPER,                      /* A-Z: part of a word, lower-cased when uncased */
    A_PUNCT,                      /* BERT's ASCII punctuation: own piece */
    A_OPEN,                       /* '[': punctuation, or the start of a special token */
    A_SPACE,                      /* \t \n \r ' ': ends a word */
    A_DROP,                       /* other C0 controls and DEL: removed */
};

static const unsigned char ascii_class[128] = {
    /* 0x00 */ A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP,
    /* 0x08 */ A_DROP, A_SPACE, A_SPACE, A_DROP, A_DROP, A_SPACE, A_DROP, A_DROP,
    /* 0x10 */ A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP,
    /* 0x18 */ A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP, A_DROP,
    /* 0x20 */ A_SPACE, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT,
    /* 0x28 */ A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT,
    /* 0x30 */ A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD,
    /* 0x38 */ A_WORD, A_WORD, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT,
    /* 0x40 */ A_PUNCT, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER,
    /* 0x48 */ A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER,
    /* 0x50 */ A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER, A_UPPER,
    /* 0x58 */ A_UPPER, A_UPPER, A_UPPER, A_OPEN, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT,
    /* 0x60 */ A_PUNCT, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD,
    /* 0x68 */ A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD,
    /* 0x70 */ A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD, A_WORD,
    /* 0x78 */ A_WORD, A_WORD, A_WORD, A_PUNCT, A_PUNCT, A_PUNCT, A_PUNCT, A_DROP,
};

struct lx_tokenizer {
    const lx_vocab *v;
    int lower;                    /* 1: uncased */
    int64_t sp_id[SP_COUNT];      /* ids of the special tokens ([UNK]'s when absent) */
    char *word;                   /* the current whitespace word, cleaned (UTF-8) */
    size_t wlen, wcap;
    int wascii;                   /* 1: word holds ASCII bytes only */
    int32_t *cp, *cp2;            /* [cpcap] code points of a word (slow path) */
    size_t cpcap;
    char *piece;                  /* [pcap] a punctuation-split piece as UTF-8 */
    size_t pcap;
    lx_encoding seg[2];           /* the two segments of encode, before truncation */
};

/* ---- encodings ------------------------------------------------------------ */

void lx_encoding_init(lx_encoding *e) { memset(e, 0, sizeof *e); }

void lx_encoding_free(lx_encoding *e) {
    free(e->input_ids);
    free(e->token_type_ids);
    memset(e, 0, sizeof *e);
}

/* Grow the two parallel arrays *a and *b (elements of size bytes, *cap of them) to hold
 * at least need, doubling from first.  Both keep their contents. */
static int grow_pair(void **a, void **b, size_t size, size_t *cap, size_t need, size_t first,
                     lx_error *err) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    void *na = realloc(*a, c * size);
    if (na)
        *a = na;
    void *nb = na ? realloc(*b, c * size) : NULL;
    if (!nb)
        return lx_error_set(err, "out of memory");
    *b = nb;
    *cap = c;
    return 0;
}

static int enc_reserve(lx_encoding *e, size_t extra, lx_error *err) {
    return grow_pair((void **)&e->input_ids, (void **)&e->token_type_ids,
                     sizeof *e->input_ids, &e->cap, e->n + extra, 64, err);
}

static inline int enc_push(lx_encoding *e, int64_t id, int type, lx_error *err) {
    if (e->n == e->cap && enc_reserve(e, 1, err) < 0)
        return -1;
    e->input_ids[e->n] = id;
    e->token_type_ids[e->n] = type;
    e->n++;
    return 0;
}

/* ---- character classes (Unicode data from utf8proc) ------------------------ */

/* BERT's _is_chinese_char: the CJK Unified Ideographs blocks and their extensions. */
static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(int32_t c) {
    if (c < 0x80)
        return ascii_class[c] == A_PUNCT || ascii_class[c] == A_OPEN;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* Unicode Case_Ignorable (DerivedCoreProperties): Mn, Me, Cf, Lm, Sk, and the
 * Word_Break MidLetter / MidNumLet / Single_Quote characters. */
static int is_case_ignorable(int32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52:
    case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    }
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        return 0;
    }
}

/* Unicode Cased: Lu, Ll, Lt, anything with a case mapping (Other_Uppercase /
 * Other_Lowercase letters such as U+2160 and U+24B6 have one), and the few
 * Other_Lowercase / Other_Uppercase characters without one. */
static int is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return 1;
    if (utf8proc_tolower(c) != c || utf8proc_toupper(c) != c)
        return 1;
    return c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* Python's rule for U+03A3 in str.lower(): final sigma when a cased character comes
 * before it and none after it (case-ignorable characters skipped on both sides). */
static int final_sigma(const int32_t *w, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(w[j - 1]))
        j--;
    if (j == 0 || !is_cased(w[j - 1]))
        return 0;
    for (j = i + 1; j < n && is_case_ignorable(w[j]); j++)
        ;
    return j == n || !is_cased(w[j]);
}

/* ---- the tokenizer -------------------------------------------------------- */

lx_tokenizer *lx_tokenizer_new(const lx_vocab *v, int lower_case, lx_error *err) {
    int64_t id[SP_COUNT];
    for (int k = 0; k < SP_COUNT; k++) {
        id[k] = lx_vocab_find(v, special_text[k], strlen(special_text[k]));
        if (id[k] < 0 && k != SP_PAD && k != SP_MASK) {
            lx_error_set(err, "the vocabulary (%zu tokens) has no %s token", v->n,
                         special_text[k]);
            return NULL;
        }
    }
    lx_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    t->v = v;
    t->lower = lower_case != 0;
    /* HF converts a special token missing from the vocabulary to [UNK]'s id */
    for (int k = 0; k < SP_COUNT; k++)
        t->sp_id[k] = id[k] >= 0 ? id[k] : id[SP_UNK];
    return t;
}

void lx_tokenizer_free(lx_tokenizer *t) {
    if (!t)
        return;
    free(t->word);
    free(t->cp);
    free(t->cp2);
    free(t->piece);
    lx_encoding_free(&t->seg[0]);
    lx_encoding_free(&t->seg[1]);
    free(t);
}

/* Step 7 for one piece p[0..n) of nchars code points. */
static int wordpiece(lx_tokenizer *t, const char *p, size_t n, size_t nchars, int type,
                     lx_encoding *out, lx_error *err) {
    const lx_vocab *v = t->v;
    if (nchars > MAX_WORD_CHARS)
        return enc_push(out, t->sp_id[SP_UNK], type, err);
    size_t mark = out->n;
    size_t start = 0;
    while (start < n) {
        int cont = start > 0;
        size_t end = n - start > v->maxkey[cont] ? start + v->maxkey[cont] : n;
        /* a candidate must end on a code point boundary */
        while (end > start && end < n && ((unsigned char)p[end] & 0xC0) == 0x80)
            end--;
        int32_t id = -1;
        while (end > start) {
            id = lx_vocab_lookup(v, p + start, end - start, cont);
            if (id >= 0)
                break;
            end--;
            while (end > start && ((unsigned char)p[end] & 0xC0) == 0x80)
                end--;
        }
        if (id < 0) {
            out->n = mark;        /* no cover: the whole piece is [UNK] */
            return enc_push(out, t->sp_id[SP_UNK], type, err);
        }
        if (enc_push(out, id, type, err) < 0)
            return -1;
        start = end;
    }
    return 0;
}

/* If s[0..n) starts with a special token: its id, and its length in *len.  Else -1. */
static int64_t special_at(const lx_tokenizer *t, const char *s, size_t n, size_t *len) {
    for (int k = 0; k < SP_COUNT; k++) {
        size_t l = strlen(special_text[k]);
        if (l <= n && memcmp(s, special_text[k], l) == 0) {
            *len = l;
            return t->sp_id[k];
        }
    }
    return -1;
}

static int grow_cp(lx_tokenizer *t, size_t need, lx_error *err) {
    return grow_pair((void **)&t->cp, (void **)&t->cp2, sizeof *t->cp, &t->cpcap, need, 256,
                     err);
}

/* Canonical decomposition of t->cp2[0..n) into t->cp (canonically ordered).  Returns
 * the count or -1.  (Both buffers may move when they grow.) */
static ssize_t decompose(lx_tokenizer *t, size_t n, lx_error *err) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t buf[32], in = t->cp2[i];
        utf8proc_ssize_t m = utf8proc_decompose_char(in, buf, 32, UTF8PROC_DECOMPOSE, NULL);
        if (m < 0 || m > 32)
            return lx_error_set(err, "cannot decompose U+%04X: %s", (unsigned)in,
                                m < 0 ? utf8proc_errmsg(m) : "too long");
        if (grow_cp(t, k + (size_t)m, err) < 0)
            return -1;
        for (utf8proc_ssize_t j = 0; j < m; j++) {
            /* canonical ordering: insertion sort of a run of non-starters by class */
            int32_t c = buf[j];
            int cc = utf8proc_get_property(c)->combining_class;
            size_t p = k;
            while (cc && p > 0) {
                int pc = utf8proc_get_property(t->cp[p - 1])->combining_class;
                if (pc <= cc)
                    break;
                t->cp[p] = t->cp[p - 1];
                p--;
            }
            t->cp[p] = c;
            k++;
        }
    }
    return (ssize_t)k;
}

/* Steps 5-7 for a word t->word[0..wl) that holds non-ASCII characters. */
static int slow_word(lx_tokenizer *t, size_t wl, int type, lx_encoding *out, lx_error *err) {
    const unsigned char *w = (const unsigned char *)t->word;
    /* code points; lower-casing can double them (U+0130) */
    if (grow_cp(t, 2 * wl + 1, err) < 0)
        return -1;
    int32_t *src = t->cp2;
    size_t n = 0;
    for (size_t i = 0; i < wl;) {
        i += lx_utf8_decode(w + i, wl - i, &src[n]);   /* validated by scan */
        n++;
    }
    ssize_t m;
    if (t->lower) {
        /* lower-case cp2 into cp, back into cp2, then decompose into cp */
        size_t k = 0;
        int32_t *low = t->cp;
        for (size_t i = 0; i < n; i++) {
            int32_t c = src[i];
            if (c == 0x130) {
                low[k++] = 'i';
                low[k++] = 0x307;
            } else if (c == 0x3A3) {
                low[k++] = final_sigma(src, n, i) ? 0x3C2 : 0x3C3;
            } else {
                low[k++] = utf8proc_tolower(c);
            }
        }
        memcpy(src, low, k * sizeof *src);
        m = decompose(t, k, err);
        if (m < 0)
            return -1;
        size_t j = 0;                 /* drop Mn */
        for (ssize_t i = 0; i < m; i++)
            if (utf8proc_category(t->cp[i]) != UTF8PROC_CATEGORY_MN)
                t->cp[j++] = t->cp[i];
        m = (ssize_t)j;
    } else {
        m = decompose(t, n, err);
        if (m < 0)
            return -1;
        m = utf8proc_normalize_utf32(t->cp, m, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
        if (m < 0)
            return lx_error_set(err, "cannot compose: %s", utf8proc_errmsg(m));
    }
    /* step 6, then 7 per piece */
    if (t->pcap < 4 * (size_t)m + 4) {
        size_t cap = 4 * (size_t)m + 4;
        char *p = realloc(t->piece, cap);
        if (!p)
            return lx_error_set(err, "out of memory");
        t->piece = p;
        t->pcap = cap;
    }
    size_t plen = 0, pchars = 0;
    for (ssize_t i = 0; i < m; i++) {
        int32_t c = t->cp[i];
        if (is_punct(c)) {
            if (pchars && wordpiece(t, t->piece, plen, pchars, type, out, err) < 0)
                return -1;
            plen = lx_utf8_encode((uint32_t)c, t->piece);
            if (wordpiece(t, t->piece, plen, 1, type, out, err) < 0)
                return -1;
            plen = pchars = 0;
        } else {
            plen += lx_utf8_encode((uint32_t)c, t->piece + plen);
            pchars++;
        }
    }
    if (pchars && wordpiece(t, t->piece, plen, pchars, type, out, err) < 0)
        return -1;
    return 0;
}

/* Steps 5-7 for the current word, which is then emptied. */
static int flush_word(lx_tokenizer *t, int type, lx_encoding *out, lx_error *err) {
    size_t n = t->wlen;
    if (n == 0)
        return 0;
    t->wlen = 0;
    const char *w = t->word;
    if (w[0] == '[' && n <= 6) {      /* HF never_split: the word is a special token */
        size_t l;
        int64_t id = special_at(t, w, n, &l);
        if (id >= 0 && l == n)
            return enc_push(out, id, type, err);
    }
    if (!t->wascii) {
        t->wascii = 1;
        return slow_word(t, n, type, out, err);
    }
    /* ASCII: lower-case A-Z in place; split at punctuation bytes */
    char *lw = t->word;
    const unsigned char upper_add = t->lower ? 32 : 0;
    size_t st = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i], k = ascii_class[c];
        if (k == A_UPPER)
            lw[i] = (char)(c + upper_add);
        else if (k == A_PUNCT || k == A_OPEN) {
            if (i > st && wordpiece(t, w + st, i - st, i - st, type, out, err) < 0)
                return -1;
            if (wordpiece(t, w + i, 1, 1, type, out, err) < 0)
                return -1;
            st = i + 1;
        }
    }
    if (n > st && wordpiece(t, w + st, n - st, n - st, type, out, err) < 0)
        return -1;
    return 0;
}

int lx_tokenizer_tokenize(lx_tokenizer *t, const char *text, size_t len, int type,
                          lx_encoding *out, lx_error *err) {
    /* the word never holds more bytes than the text (it is kept as written until
     * flush_word, so that a special token can be recognised before lower-casing) */
    if (t->wcap < len + 1) {
        char *p = realloc(t->word, len + 1);
        if (!p)
            return lx_error_set(err, "out of memory");
        t->word = p;
        t->wcap = len + 1;
    }
    t->wlen = 0;
    t->wascii = 1;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            switch (ascii_class[c]) {
            case A_WORD:
            case A_UPPER:
            case A_PUNCT:
                t->word[t->wlen++] = (char)c;
                i++;
                continue;
            case A_SPACE:
                if (flush_word(t, type, out, err) < 0)
                    return -1;
                i++;
                continue;
            case A_DROP:
                i++;
                continue;
            case A_OPEN: {
                size_t l;
                int64_t id = special_at(t, text + i, len - i, &l);
                if (id >= 0) {
                    if (flush_word(t, type, out, err) < 0 || enc_push(out, id, type, err) < 0)
                        return -1;
                    i += l;
                } else {
                    t->word[t->wlen++] = (char)c;
                    i++;
                }
                continue;
            }
            }
        }
        int32_t cp;
        size_t k = lx_utf8_decode(s + i, len - i, &cp);
        if (!k)
            return lx_error_set(err, "invalid UTF-8 at byte %zu (0x%02x), expected UTF-8 text",
                                i, c);
        utf8proc_category_t cat = utf8proc_category(cp);
        if (cp == 0xFFFD || cat == UTF8PROC_CATEGORY_CN || cat >= UTF8PROC_CATEGORY_CC) {
            /* dropped: U+FFFD and categories Cn, Cc, Cf, Cs, Co */
        } else if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
                   cat == UTF8PROC_CATEGORY_ZP) {
            if (flush_word(t, type, out, err) < 0)
                return -1;
        } else if (is_cjk(cp)) {
            if (flush_word(t, type, out, err) < 0)
                return -1;
            memcpy(t->word, s + i, k);
            t->wlen = k;
            t->wascii = 0;
            if (flush_word(t, type, out, err) < 0)
                return -1;
        } else {
            memcpy(t->word + t->wlen, s + i, k);
            t->wlen += k;
            t->wascii = 0;
        }
        i += k;
    }
    return flush_word(t, type, out, err);
}

int lx_tokenizer_encode(lx_tokenizer *t, const char *a, size_t alen, const char *b,
                        size_t blen, size_t max_length, lx_encoding *out, lx_error *err) {
    lx_encoding *sa = &t->seg[0], *sb = &t->seg[1];
    size_t nspecial = b ? 3 : 2;
    if (max_length && max_length < nspecial)
        return lx_error_set(err, "max_length %zu leaves no room for the %zu special tokens",
                            max_length, nspecial);
    sa->n = sb->n = 0;
    if (lx_tokenizer_tokenize(t, a, alen, 0, sa, err) < 0)
        return -1;
    if (b && lx_tokenizer_tokenize(t, b, blen, 1, sb, err) < 0)
        return lx_error_prefix(err, "second segment");
    size_t na = sa->n, nb = sb->n;
    if (max_length) {
        /* HF longest_first: one piece at a time from the longer; the second on a tie */
        size_t room = max_length - nspecial;
        while (na + nb > room) {
            if (!b || na > nb)
                na--;
            else
                nb--;
        }
    }
    out->n = 0;
    if (enc_reserve(out, na + nb + nspecial, err) < 0)
        return -1;
    int64_t cls = t->sp_id[SP_CLS], sep = t->sp_id[SP_SEP];
    out->input_ids[out->n] = cls;
    out->token_type_ids[out->n++] = 0;
    if (na) { /* an empty text has no pieces (and sa->input_ids may be NULL) */
        memcpy(out->input_ids + out->n, sa->input_ids, na * sizeof(int64_t));
        memset(out->token_type_ids + out->n, 0, na * sizeof(int64_t));
    }
    out->n += na;
    out->input_ids[out->n] = sep;
    out->token_type_ids[out->n++] = 0;
    if (b) {
        if (nb) memcpy(out->input_ids + out->n, sb->input_ids, nb * sizeof(int64_t));
        for (size_t i = 0; i < nb; i++)
            out->token_type_ids[out->n + i] = 1;
        out->n += nb;
        out->input_ids[out->n] = sep;
        out->token_type_ids[out->n++] = 1;
    }
    return 0;
}

char *lx_tokenizer_decode(const lx_tokenizer *t, const int64_t *ids, size_t n,
                          int skip_special, size_t *len, lx_error *err) {
    const lx_vocab *v = t->v;
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        const char *tok = lx_vocab_token(v, ids[i]);
        if (!tok) {
            lx_error_set(err, "input_ids[%zu]: got %lld, expected an id in 0..%zu", i,
                         (long long)ids[i], v->n - 1);
            return NULL;
        }
        total += strlen(tok) + 1;
    }
    char *s = malloc(total);
    if (!s) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    size_t k = 0;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (skip_special) {
            int sp = 0;
            for (int j = 0; j < SP_COUNT; j++)
                sp |= ids[i] == t->sp_id[j];
            if (sp)
                continue;
        }
        const char *tok = lx_vocab_token(v, ids[i]);
        size_t l = strlen(tok);
        /* HF: " ".join(tokens).replace(" ##", "") */
        if (!first && l >= 2 && tok[0] == '#' && tok[1] == '#') {
            tok += 2;
            l -= 2;
        } else if (!first) {
            s[k++] = ' ';
        }
        first = 0;
        memcpy(s + k, tok, l);
        k += l;
    }
    s[k] = '\0';
    if (len)
        *len = k;
    return s;
}
