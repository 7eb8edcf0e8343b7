/* strbuf.h — a growable byte buffer used by the encoders (private to lib/). */
#ifndef LX_STRBUF_H
#define LX_STRBUF_H
#include <stddef.h>
#include <string.h>
#include "lx.h"

typedef struct lx_strbuf {
    char *data;
    size_t len, cap;
    int oom;                      /* set once an allocation failed; later appends are no-ops */
} lx_strbuf;

int lx_strbuf_reserve(lx_strbuf *b, size_t extra);
void lx_strbuf_append(lx_strbuf *b, const void *p, size_t n);
static inline void lx_strbuf_puts(lx_strbuf *b, const char *s) { lx_strbuf_append(b, s, strlen(s)); }
static inline void lx_strbuf_putc(lx_strbuf *b, char c) { lx_strbuf_append(b, &c, 1); }
void lx_strbuf_free(lx_strbuf *b);

/* Append v as compact JSON (shortest round-trip reals, UTF-8 kept).  -1 on NaN/Inf. */
int lx_json_append(lx_strbuf *b, const json_t *v, lx_error *err);
/* Append a JSON string literal for s (n bytes of UTF-8). */
void lx_json_append_string(lx_strbuf *b, const char *s, size_t n);
/* Append a tensor as nested JSON arrays. -1 on non-finite values. */
int lx_json_append_tensor(lx_strbuf *b, const lx_tensor *t, lx_error *err);
/* Convert a parsed JSON value into a tensor if it is a rectangular numeric array.
 * Returns 1 (tensor made), 0 (not a tensor, nothing done) or -1. */
int lx_json_to_tensor(const json_t *v, lx_tensor *t, lx_error *err);


/* frame.c: check a frame's 24-byte prefix and return its total length. */
int lx_frame_prefix(const void *p, uint64_t *frame_len, lx_error *err);
#define LX_FRAME_PREFIX 24
#endif
