/*
 * fuzz_tokenizer — BERT WordPiece (lib/tokenizer.c, vocab.c, utf8.c) on arbitrary bytes,
 * with a small vocabulary made here (the special tokens, ASCII characters and their
 * "##" pieces, some words, accented, Greek and CJK pieces).
 *
 * Input: byte 0 chooses the case (bit 0: uncased), a pair (bit 1: the text is split at
 * its first '|') and skip_special for decoding (bit 2); byte 1 is max_length (0: none);
 * the rest is the text.  The encoding must be [CLS] ... [SEP] (... [SEP]) of ids inside
 * the vocabulary with token types 0 then 1, within max_length, and decode to a string.
 * Then the text's bytes, read as 16-bit ids, are decoded: an id outside the vocabulary
 * is an error, never a read past it.
 */
#include "fuzz.h"
#include "lx.h"

static const char *const words[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "is", "what", "color", "dog", "cat", "un", "##able", "##ing", "##s", "##ed",
    "play", "##er", "hello", "world", "don", "'", "t", "caf", "##e", "naive", "resume",
    "\xc3\xa9", "##\xc3\xa9", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82", "\xcf\x83", "##\xcf\x82",
    "\xe4\xb8\xad", "\xe6\x96\x87", "\xe3\x81\x82", "##\xe3\x81\x84", "\xf0\x9f\x98\x80",
    "straße", "##ß", "ǆ", "İ", "i̇",
};

static lx_vocab *vocab;

static void setup(void) {
    lx_error err = {0};
    if (!(vocab = lx_vocab_new(&err))) abort();
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (lx_vocab_add(vocab, words[i], strlen(words[i]), &err) < 0) abort();
    char s[4] = "##";
    for (int c = 0x21; c < 0x7f; c++) {
        s[0] = (char)c;
        if (lx_vocab_add(vocab, s, 1, &err) < 0) abort();
        s[0] = s[1] = '#', s[2] = (char)c;
        if (lx_vocab_add(vocab, s, 3, &err) < 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!vocab) setup();
    if (size < 2) return 0;
    int flags = data[0];
    size_t max_length = data[1];
    const char *a = (const char *)data + 2, *b = NULL;
    size_t alen = size - 2, blen = 0;
    if (flags & 2) {
        const char *bar = memchr(a, '|', alen);
        if (bar) {
            b = bar + 1;
            blen = alen - (size_t)(b - a);
            alen = (size_t)(bar - a);
        }
    }
    /* a tokenizer of its own for each input (its scratch buffers are state: an input
     * must fail or pass whatever ran before it) */
    lx_error err = {0};
    lx_tokenizer *t = lx_tokenizer_new(vocab, flags & 1, &err);
    if (!t) abort();
    lx_encoding e;
    lx_encoding_init(&e);
    size_t nv = lx_vocab_size(vocab);
    if (lx_tokenizer_encode(t, a, alen, b, blen, max_length, &e, &err) == 0) {
        if (e.n < (b ? 3u : 2u) || (max_length && e.n > max_length)) abort();
        int seen_one = 0;
        for (size_t i = 0; i < e.n; i++) {
            if (e.input_ids[i] < 0 || (size_t)e.input_ids[i] >= nv) abort();
            if (e.token_type_ids[i] != 0 && e.token_type_ids[i] != 1) abort();
            if (e.token_type_ids[i] == 0 && seen_one) abort();
            seen_one |= e.token_type_ids[i] == 1;
        }
        if (strcmp(lx_vocab_token(vocab, e.input_ids[0]), "[CLS]") ||
            strcmp(lx_vocab_token(vocab, e.input_ids[e.n - 1]), "[SEP]"))
            abort();
        size_t len;
        char *s = lx_tokenizer_decode(t, e.input_ids, e.n, flags & 4, &len, &err);
        if (!s || strlen(s) != len) abort();
        free(s);
    } else if (!err.msg[0]) {
        abort();
    }
    /* the text's bytes as ids */
    size_t n = alen / 2;
    int64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) abort();
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int64_t)((unsigned)(uint8_t)a[2 * i] | (unsigned)(uint8_t)a[2 * i + 1] << 8) -
                 (flags & 8 ? 0x8000 : 0);
        bad |= ids[i] < 0 || (size_t)ids[i] >= nv;
    }
    char *s = lx_tokenizer_decode(t, ids, n, flags & 4, NULL, &err);
    if ((s == NULL) != (bad != 0)) abort();
    free(s);
    free(ids);
    lx_encoding_free(&e);
    lx_tokenizer_free(t);
    return 0;
}
