/*
 * internal.h — what the files of liblx share below the public header (private: not
 * installed; the unit tests include it to test these pieces on their own).  Grouped by
 * the file that defines them.  The network's internals are in the headers of nn/, the
 * checkpoint readers' in ckpt/ckpt.h, the tensor schema in schema.h, bit-level
 * encodings in bytes.h.
 */
#ifndef LX_INTERNAL_H
#define LX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include "lx.h"

/* ---- tensor.c -------------------------------------------------------------------- */

/* Element i of a numeric tensor, as a double (NaN for a dtype that is not numeric). */
double lx_tensor_elem(const lx_tensor *t, size_t i);

/* Convert n f32 values into dtype (f32, f16 or bf16). */
void lx_convert_from_f32(void *dst, lx_dtype dtype, const float *src, size_t n);
/* The index of the first value of v[0..n) that is not finite, or n when all are: one
 * pass the compiler vectorises (the network's outputs are checked with it). */
size_t lx_f32_first_nonfinite(const float *v, size_t n);
/* "[3][17]": flat index i of a tensor of shape t->shape as one index per dimension. */
const char *lx_tensor_index_str(const lx_tensor *t, uint64_t i, char *buf, size_t len);

/* ---- error.c --------------------------------------------------------------------- */

/* v in decimal into buf (at least LX_U128_STR bytes); returns buf.  For messages about
 * sizes computed from a file's numbers, which must print the true value where the sum
 * or product no longer fits in 64 bits. */
#define LX_U128_STR 40
const char *lx_u128_str(char *buf, unsigned __int128 v);
/* Did jansson fail for want of memory (it then leaves the error text empty, or sets
 * json_error_out_of_memory), rather than on the text? */
static inline int lx_json_oom(const json_error_t *je) {
    return !je->text[0] || json_error_code(je) == json_error_out_of_memory;
}

/* ---- quant.c: int8 storage (lx-convert --dtype int8) ------------------------------- */

/* Quantize n values symmetrically to int8: returns s = max |x| / 127 (0 for all zeros)
 * and sets q[i] = x[i] / s rounded to the nearest integer, ties to even (0 for a row of
 * zeros), so |q[i]| <= 127 and |x[i] - q[i] s| <= s / 2 (the quotient is taken in
 * double).  A row whose largest magnitude is under 127 FLT_MIN (1.5e-36), where s is
 * subnormal, is divided by max |x| / 127 in double instead: |q[i]| <= 127 still, and
 * q[i] s is off by at most 127 x 2^-150 more.  Returns -1 (q unset) when a value is not
 * finite. */
float lx_quantize_row_i8(const float *x, size_t n, int8_t *q);
/* The tensors of sp (LXMERT) with every float matrix the schema marks int8 replaced by
 * its int8 form, NAME (i8, owned) then NAME_scale (f32 [out], owned); every other tensor
 * (int8 matrices and their scales included) a view of sp's.  On error out is empty.
 * Returns 0 or -1 (a detector; a weight that is not finite). */
int lx_quantize_spec(lx_tensor_dict *out, const lx_model_spec *sp, lx_error *err);

/* ---- file.c ---------------------------------------------------------------------- */

/* Open path for reading, non-blocking (a FIFO or device neither hangs nor is read),
 * and check it is a regular file (*st filled).  The descriptor, or -1 with err set
 * ("PATH: cannot open: ..." with errno kept, or "PATH: not a regular file"). */
int lx_file_open(const char *path, struct stat *st, lx_error *err);
/* The same as a stdio stream, for line readers.  NULL with err set. */
FILE *lx_file_fopen(const char *path, lx_error *err);
/* The most a JSON side file (a config, a label list) may hold. */
#define LX_JSON_FILE_MAX (256u << 20)
/* A JSON file read whole (lx_file_read, at most max bytes) and parsed with jansson's
 * flags: a new reference, or NULL with "PATH: not valid JSON: ... (line N)". */
json_t *lx_json_read_file(const char *path, size_t max, size_t flags, lx_error *err);
/* Map the regular file path read-only: *len gets its size, at least min bytes ("PATH: not
 * WHAT: N bytes is too short" otherwise).  Opened non-blocking and checked to be a
 * regular file first, so a FIFO or device is refused, not waited on.  With fd_out the
 * file stays open there (the caller closes it).  The mapping is registered for
 * lx_file_mapped_at and lx_file_check_mapped.  Returns the mapping (lx_file_unmap it with
 * *len), or NULL with err set ("PATH: ..."). */
void *lx_file_map(const char *path, size_t min, const char *what, size_t *len, int *fd_out,
                  lx_error *err);
/* Unmap what lx_file_map mapped (and forget it; any other mapping is just unmapped). */
void lx_file_unmap(void *map, size_t len);
/* Read the regular file path whole (opened as lx_file_map opens it) into a malloc'd
 * buffer with a NUL after its *len bytes; at most max bytes ("PATH: N bytes, more than
 * WHAT may have (MAX)"; what: "a YAML file").  For small text files (a config.yaml).  Returns the buffer (caller
 * frees), or NULL with err set ("PATH: ..."). */
char *lx_file_read(const char *path, size_t max, const char *what, size_t *len,
                   lx_error *err);
/* A named byte range [begin, end) of a file (a tensor's data). */
typedef struct lx_span {
    uint64_t begin, end;
    const char *name;
} lx_span;
/* Sort sp[0..n) by begin and check that no two non-empty ranges overlap. */
int lx_spans_disjoint(lx_span *sp, size_t n, lx_error *err);

/* ---- utf8.c ---------------------------------------------------------------------- */

/* Decode one code point from s[0..n) (n >= 1).  Returns its length, or 0 if invalid. */
size_t lx_utf8_decode(const unsigned char *s, size_t n, int32_t *cp);
/* Encode cp (a valid code point) into o (room for 4 bytes).  Returns the length. */
size_t lx_utf8_encode(uint32_t cp, char *o);

/* Offset of the first byte of s[0..n) that is not valid UTF-8 (overlong forms,
 * surrogates and values above U+10FFFF are invalid), or (size_t)-1 if all is valid.
 * The one UTF-8 validator of the library. */
size_t lx_utf8_invalid(const char *s, size_t n);

/* ---- record.c -------------------------------------------------------------------- */

/* Make every tensor view own its data (needed before the record's buffer is reused). */
int lx_record_own(lx_record *r, lx_error *err);

/* ---- json_codec.c: a growable byte buffer and the JSON encoder ------------------ */

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
/* Append r as one JSON object, fields in order; tensor fields as nested arrays, or as
 * null with tensors_as_null (a frame's header).  Errors name the field. */
int lx_json_append_record(lx_strbuf *b, const lx_record *r, int tensors_as_null,
                          lx_error *err);
/* Convert a parsed JSON value into a tensor if it is a rectangular numeric array.
 * Returns 1 (tensor made), 0 (not a tensor, nothing done) or -1 (a number beyond f32's
 * range, or no memory; the message names the field, name). */
int lx_json_to_tensor(const json_t *v, const char *name, lx_tensor *t, lx_error *err);
/* Shortest decimal text that reads back (strtof) as exactly f, always with '.' or 'e'
 * ("0.0", "1e-07", "0.1").  buf must hold 32 bytes.  Returns the length. */
int lx_format_float(char *buf, float f);

/* Encode one record into a malloc'd buffer (caller frees).  JSON: one line with "\n". */
int lx_record_to_json(const lx_record *r, char **out, size_t *len, lx_error *err);
/* Decode one record from JSON text (one object). */
int lx_record_from_json(lx_record *r, const char *text, size_t len, lx_error *err);

/* ---- frame.c --------------------------------------------------------------------- */

int lx_record_to_frame(const lx_record *r, char **out, size_t *len, lx_error *err);
/* Decode one whole frame: the record takes ownership of buf (64-byte aligned, from
 * lx_aligned_alloc) and its tensors are views into it. */
int lx_record_from_frame(lx_record *r, void *buf, size_t len, lx_error *err);
/* Check a frame's 24-byte prefix and return its total length. */
int lx_frame_prefix(const void *p, uint64_t *frame_len, lx_error *err);
#define LX_FRAME_PREFIX 24

/* ---- base64.c: RFC 4648 standard alphabet, '=' padding --------------------------- */

size_t lx_base64_encoded_len(size_t n);                 /* 4 * ceil(n / 3) */
/* Encode n bytes into dst (lx_base64_encoded_len(n) chars, no NUL).  Returns the count. */
size_t lx_base64_encode(char *dst, const void *src, size_t n);
/* Decode n chars into dst, which holds cap bytes.  Strict: n a multiple of 4, alphabet
 * characters only, '=' only as the last one or two.  Returns the byte count, or -1
 * naming the first bad character's position (or that cap is too small). */
int64_t lx_base64_decode(void *dst, size_t cap, const char *src, size_t n, lx_error *err);

/* ---- tsv.c ----------------------------------------------------------------------- */

/* Read len bytes at offset (one pread) into the reader's buffer. */
int lx_tsv_read_at(lx_tsv *t, uint64_t offset, size_t len, const char **line,
                   lx_error *err);
/* The key of a TSV line (see lx.h) into buf, and the number of fields.  A line that is
 * not well-formed is keyed by its first field as written (the error comes when its
 * image is parsed).  Returns the key length, or -1 for an empty or too long id. */
int lx_tsv_line_key(const char *line, size_t len, char *buf, size_t buflen, int *nfields,
                    lx_error *err);

/* ---- featregions.c --------------------------------------------------------------- */

/* Size g's arrays for n regions of dim features (and the four object arrays when
 * objects); sets num_boxes, feat_dim and has_objects.  Contents are not kept. */
int lx_regions_reserve(lx_regions *g, int64_t n, int64_t dim, int objects, lx_error *err);
/* Make dst a deep copy of src (dst's arrays are reused). */
int lx_regions_copy(lx_regions *dst, const lx_regions *src, lx_error *err);
/* Check N, D >= 1, every value finite, and each box inside the image. */
int lx_regions_check(const lx_regions *g, lx_error *err);
/* Read a regions record (see lx_features_add_regions), then lx_regions_check. */
int lx_regions_from_record(lx_regions *g, const lx_record *r, lx_error *err);
/* visual_pos from boxes [n, 4] as LXMERT's loader computes it in float32:
 * x1/img_w, y1/img_h, x2/img_w, y2/img_h (each a float32 division). */
void lx_regions_normalize(float *pos, const float *boxes, int64_t n, int64_t img_w,
                          int64_t img_h);

/* ---- featindex.c ----------------------------------------------------------------- */

/* Open (or build) the index of tsv_path.  index_path NULL: tsv_path + ".lxi".
 * bufsize: the read buffer for building (0: LX_TSV_BUFSIZE).  Owned. */
lx_featindex *lx_featindex_open(const char *tsv_path, const char *index_path,
                                size_t bufsize, lx_error *err);
/* Find key: 1 with *offset and *len of its line, 0 when absent. */
int lx_featindex_find(const lx_featindex *ix, const char *key, size_t keylen,
                      uint64_t *offset, uint64_t *len);
void lx_featindex_close(lx_featindex *ix);

/* ---- featstore.c ----------------------------------------------------------------- */

/* Add one regions record (lx_regions_from_record), copied into memory.  A key already
 * added is an error. */
int lx_features_add_record(lx_features *f, const lx_record *r, lx_error *err);

/* ---- vqa.c ----------------------------------------------------------------------- */

/* Answer labels from a parsed JSON value (the one parser of label lists). */
int lx_labels_from_json(lx_strlist *l, const json_t *v, lx_error *err);

/* ---- vqaeval.c: the official answer normalisation, step by step ------------------ */

typedef struct lx_vqa_map {
    const char *from, *to;
} lx_vqa_map;
const char *lx_vqa_punctuation(void);                 /* the 21 characters, in order */
const lx_vqa_map *lx_vqa_number_words(size_t *n);     /* "none" -> "0" ... "ten" -> "10" */
const char *const *lx_vqa_articles(size_t *n);        /* "a", "an", "the" */
const lx_vqa_map *lx_vqa_contractions(size_t *n);     /* "dont" -> "don't" ... */
/* Each returns a new malloc'd string (NULL on allocation failure).  clean: newline and
 * tab to space, strip surrounding whitespace.  punct: the punctuation rules and the
 * period quirk.  words: lower-case, number words, articles, contractions, single
 * spaces.  normalize = words(punct(s)). */
char *lx_vqa_clean(const char *s);
char *lx_vqa_punct(const char *s);
char *lx_vqa_words(const char *s);
char *lx_vqa_normalize(const char *s);

#endif
