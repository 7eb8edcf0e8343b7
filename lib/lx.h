/*
 * lx.h — the one public header of liblx, the library behind the lx tools.
 *
 * lx runs LXMERT (Tan & Bansal, 2019) in C.  The sections below go from the bottom layer
 * up; each uses only the ones before it:
 *
 *   errors       lx_error: every function that can fail fills one and returns -1 (or NULL)
 *   files        lx_outfile: every file lx writes, written beside and renamed into place
 *   tensors      lx_tensor: dtype + shape + data, owned or a view into someone else's memory
 *   records      lx_record: an ordered list of named fields, each a JSON value or a tensor
 *   streams      lx_reader / lx_writer: records as JSON lines or binary frames
 *   config       lx_config (HF LxmertConfig) and lx_strlist (vocabularies, answer lists)
 *   tokenizer    BERT WordPiece (lx_vocab, lx_tokenizer)
 *   features     bottom-up-attention TSV files, their offset index, regions records
 *   images       JPEG and PNG files decoded to the pixels OpenCV's imread gives (lx_image)
 *   checkpoints  HF folders and checkpoint files (safetensors, PyTorch zip, legacy pickle)
 *                read and checked against LXMERT's or the detector's schema
 *   model file   the .lxm file: writer and mmap loader (lx_model)
 *   network      the LXMERT forward pass (lx_net), its inputs and outputs
 *   detector     the Faster R-CNN from image pixels to regions (lx_detector)
 *   vqa          answer labels, top-k with scores, the VQA evaluation
 *   report       what lx-show draws of a record; its HTML page and SVG files
 *
 * Conventions.  Public names are lx_<object>_<verb>.  The library never prints, never
 * exits and keeps no global mutable state, with one exception: lib/file.c's two tables
 * of the temporary files being written and the files mapped, which a signal handler
 * needs and can reach no other way (see "files").  A function that can fail takes an lx_error *
 * as its last argument, fills it with a one-line message (no tool name, no newline) and
 * returns -1 or NULL; the caller prints it.  Ownership is stated at each function: "owned"
 * means the caller frees it with the matching _free.
 */
#ifndef LX_H
#define LX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== errors (lib/error.c) =============================================== */

typedef struct lx_error {
    char msg[1024]; /* one line, no trailing newline; "" when no error */
    int code;       /* 0, or an LX_ERR_* that lets a caller act on the kind of failure */
} lx_error;

enum {
    LX_ERR_UNKNOWN_TENSORS = 1,   /* a checkpoint holds tensors that are not its network's */
    LX_ERR_OTHER_KIND,            /* an option given applies to the other kind of model */
    LX_ERR_NONFINITE_WEIGHT,      /* a weight to be stored is not finite (lx_model_write) */
    LX_ERR_DTYPE_RANGE            /* a weight is beyond the range of the dtype it is to be
                                     stored as (lx_model_spec.clamp stores it clamped) */
};

/* Format a message into err (if err is not NULL; code becomes 0).  Returns -1 so that
 * `return lx_error_set(err, "...")` reads naturally. */
int lx_error_set(lx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix an existing message: "prefix: old message".  Returns -1. */
int lx_error_prefix(lx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ==== files (lib/file.c) ================================================= */

/* A file being written: every file lx writes (a model, a safetensors export, a feature
 * index, a summary) goes through one.  It is written to a temporary file beside the
 * target, "TARGET.tmpXXXXXX", and renamed over the target by lx_outfile_commit only once
 * it is whole and synced, so a failed or interrupted write leaves the old file as it
 * was.  lx_outfile_open refuses (naming path) a target that exists and is not a regular
 * file (a device, a FIFO: never replaced), that this process has mapped (the source of
 * a conversion), that is one of its standard streams, or that the caller may not write;
 * a symbolic link is followed (its file is replaced, the link stays).  A new file gets
 * 0666 less the umask, a replaced one keeps its mode.  Temporaries of the same target
 * left by killed processes (held by no process, untouched for a minute) are removed.
 * Owned: end it with lx_outfile_commit or lx_outfile_abort, which free it. */
typedef struct lx_outfile lx_outfile;
lx_outfile *lx_outfile_open(const char *path, lx_error *err);
/* The temporary's descriptor, for write/pwrite/ftruncate. */
int lx_outfile_fd(const lx_outfile *f);
/* Write all n bytes at the file position ("PATH: write failed: ..."). */
int lx_outfile_write(lx_outfile *f, const void *p, size_t n, lx_error *err);
/* fsync, close and rename into place; on failure the temporary is removed and the old
 * file is intact.  Frees f either way.  Returns 0 or -1. */
int lx_outfile_commit(lx_outfile *f, lx_error *err);
/* Remove the temporary and free f (NULL: nothing). */
void lx_outfile_abort(lx_outfile *f);

/* For a tool's signal handlers (both async-signal-safe).  lx_file_signal_cleanup removes
 * every temporary file being written (SIGINT, SIGTERM, SIGHUP: then die of the signal).
 * lx_file_mapped_at gives the path of the file lx has mapped at addr (a model, a
 * checkpoint), or NULL: a SIGBUS there means the file was truncated under the mapping. */
void lx_file_signal_cleanup(void);
const char *lx_file_mapped_at(const void *addr);
/* Check that no file lx has mapped changed (size or mtime) since it was mapped: a file
 * rewritten in place (cp over it) gives other weights, or none, to a running job.
 * Returns the number of mapped files, or -1 with "PATH changed or truncated while in
 * use; " and LX_FILE_REPLACE_HINT (the line a SIGBUS there gives too). */
int lx_file_check_mapped(lx_error *err);
#define LX_FILE_REPLACE_HINT \
    "replace a model by renaming a new file over it (lx-convert -o does)"
/* 1 if paths a and b both exist and are the same file (device and inode), else 0. */
int lx_file_same(const char *a, const char *b);

/* ==== tensors (lib/tensor.c) ============================================= */

typedef enum lx_dtype {
    LX_F32 = 0,
    LX_F16,
    LX_BF16,
    LX_I32,
    LX_I64,
    LX_U8,
    LX_I8,                        /* int8: the quantized matrices of .lxm files (lxm(5)) */
    LX_DTYPE_COUNT
} lx_dtype;

#define LX_MAX_DIMS 8

typedef struct lx_tensor {
    lx_dtype dtype;
    int ndim;                     /* 0..LX_MAX_DIMS */
    int64_t shape[LX_MAX_DIMS];
    void *data;                   /* nelem * dtype size bytes, 64-byte aligned when owned */
    int owned;                    /* 1: data was allocated for this tensor; 0: a view */
} lx_tensor;

size_t lx_dtype_size(lx_dtype t);                 /* bytes per element */
const char *lx_dtype_name(lx_dtype t);            /* "f32", "f16", "bf16", "i32", "i64", "u8",
                                                   * "i8" */
/* Parse "f32"/"F32"/"float32"... into *out.  Returns 0, or -1 for an unknown name. */
int lx_dtype_parse(const char *name, lx_dtype *out);

/* Number of elements; -1 if the shape is invalid (negative) or overflows. */
int64_t lx_tensor_nelem(const lx_tensor *t);
/* Bytes of data; -1 on overflow. */
int64_t lx_tensor_nbytes(const lx_tensor *t);
/* Allocate an owned, zero-filled tensor (64-byte aligned).  Returns 0 or -1. */
int lx_tensor_alloc(lx_tensor *t, lx_dtype dtype, int ndim, const int64_t *shape, lx_error *err);
/* Free owned data (no-op for views) and reset to an empty tensor. */
void lx_tensor_free(lx_tensor *t);
/* Deep copy into an owned tensor. */
int lx_tensor_copy(lx_tensor *dst, const lx_tensor *src, lx_error *err);
/* "[36, 2048]" into buf. */
const char *lx_tensor_shape_str(const lx_tensor *t, char *buf, size_t len);
/* Convert n elements of any numeric dtype to f32 / i64 (f16 and bf16 exactly; integers
 * to f32 round as C does; floats to i64 truncate toward zero, and NaN or a value outside
 * the i64 range becomes INT64_MIN, which every range check refuses). */
void lx_convert_to_f32(float *dst, const void *src, lx_dtype dtype, size_t n);
void lx_convert_to_i64(int64_t *dst, const void *src, lx_dtype dtype, size_t n);

/* The largest finite value of a float dtype: f32 3.4028235e38, f16 65504, bf16
 * 3.3895314e38 (0 for the integer dtypes). */
float lx_dtype_max(lx_dtype t);
/* The values of a float tensor that dtype `to` cannot hold: those that are not finite,
 * and finite ones that round to infinity in `to` (f16: from 65520 on; bf16: from
 * 3.3961e38 on; any other `to`: none).  Integer tensors have none. */
typedef struct lx_unfit {
    uint64_t nonfinite, overflow; /* how many of each */
    int64_t first_nonfinite;      /* flat index of the first, -1 when there is none */
    int64_t first_overflow;
    float nonfinite_value;        /* the first's value */
    float overflow_value;
} lx_unfit;
/* Count t's unfit values for `to` into *u (one pass over the data).  Returns
 * nonfinite + overflow. */
uint64_t lx_tensor_unfit(const lx_tensor *t, lx_dtype to, lx_unfit *u);

/* Memory for frames and tensors: 64-byte aligned; free with free(). */
void *lx_aligned_alloc(size_t n);

/* ==== records (lib/record.c) ============================================= */

/* A field holds exactly one of: a JSON value (any JSON that is not a tensor: strings,
 * numbers, objects, lists of objects, null...) or a tensor.  On input, a rectangular
 * nested array of numbers becomes a tensor: i64 when every number is an integer literal,
 * f32 when any is not. */
typedef struct lx_field {
    char *name;                   /* owned, NUL-terminated UTF-8 */
    json_t *json;                 /* owned reference, or NULL when this is a tensor */
    lx_tensor tensor;             /* valid when json == NULL */
} lx_field;

typedef struct lx_record {
    lx_field *fields;
    size_t nfields, cap;
    void *buf;                    /* frame buffer that tensor views may point into (owned) */
    struct lx_field_index *index; /* private (record.c): the names of a large record */
} lx_record;

void lx_record_init(lx_record *r);
/* Free every field and the buffer; leaves an empty, reusable record. */
void lx_record_clear(lx_record *r);
/* The field named name, or NULL.  Constant time on average, whatever the record's size;
 * lookups do not change the record. */
lx_field *lx_record_find(const lx_record *r, const char *name);
/* The tensor field named name, or NULL (also NULL if the field is JSON). */
lx_tensor *lx_record_tensor(const lx_record *r, const char *name);
/* The JSON field named name (borrowed), or NULL. */
json_t *lx_record_json(const lx_record *r, const char *name);
/* Set a tensor field: replaces an existing field of that name in place (keeping its
 * position), else appends.  Takes ownership of *t (t is reset to empty). */
int lx_record_set_tensor(lx_record *r, const char *name, lx_tensor *t, lx_error *err);
/* Set a JSON field, as above.  Steals the reference to v. */
int lx_record_set_json(lx_record *r, const char *name, json_t *v, lx_error *err);
/* Remove a field if present (linear: the fields after it move).  Returns 1 if removed,
 * 0 if absent. */
int lx_record_remove(lx_record *r, const char *name);

/* Read a tensor field as f32 / i64 into a freshly malloc'd array (caller frees).
 * Checks that the field exists and is numeric; *t_out (optional) gets the tensor. */
float *lx_record_get_f32(const lx_record *r, const char *name, const lx_tensor **t_out,
                         lx_error *err);
int64_t *lx_record_get_i64(const lx_record *r, const char *name, const lx_tensor **t_out,
                           lx_error *err);

/* ==== streams (lib/stream.c, lib/json_codec.c, lib/frame.c) ============== */

typedef enum lx_format {
    LX_FMT_AUTO = 0,              /* input: detect from the first bytes */
    LX_FMT_JSON,                  /* JSON lines (also a JSON array of records on input) */
    LX_FMT_BIN                    /* binary frames, see lx-stream(5) */
} lx_format;

/* Parse "json" / "bin".  Returns 0, or -1 for anything else. */
int lx_format_parse(const char *s, lx_format *out);

typedef struct lx_reader lx_reader;

/* A reader over an open FILE (not closed by the reader).  name is used in messages.
 * The reader reads f's descriptor with read(2), taking what the input has as it arrives
 * (a record from a pipe is returned without waiting for more), so f must not have been
 * read through stdio before, nor be read by the caller while the reader is in use.  A
 * FILE without a descriptor (fmemopen, fopencookie) is read through stdio. */
lx_reader *lx_reader_open(FILE *f, const char *name, lx_error *err);
/* fn(ctx) is called each time the reader is about to wait for input that has not arrived
 * (a pipe, terminal or socket with nothing to read yet; never for a regular file): a
 * filter flushes its output there, so that what it made of the records so far does not
 * wait for the next one.  NULL: no call. */
void lx_reader_set_wait(lx_reader *rd, void (*fn)(void *ctx), void *ctx);
/* Read the next record into r (cleared first).  Returns 1 for a record, 0 at the end,
 * -1 on a bad record (message in err).  After a bad JSON record the reader can go on
 * with the next one (see lx_reader_can_resume); after a bad frame it cannot. */
int lx_reader_next(lx_reader *rd, lx_record *r, lx_error *err);
/* 1 if, after an error, lx_reader_next may be called again to skip the bad record. */
int lx_reader_can_resume(const lx_reader *rd);
/* 1-based number of the record last returned or failed. */
uint64_t lx_reader_record_no(const lx_reader *rd);
/* The input's encoding (known after the first lx_reader_next). */
lx_format lx_reader_format(const lx_reader *rd);
/* Treat each input line as plain text: the record is {field: "<line>"} (for --lines). */
void lx_reader_set_lines(lx_reader *rd, const char *field);
/* Skip the next n records without decoding them: frames by their length prefix (seeking
 * past the rest in a regular file), JSON values by their brackets, --lines by line.  They
 * are numbered, and the reader left, as lx_reader_next would have (a JSON value that
 * shares its lines with other text is parsed to know that); bad records among them are
 * skipped like good ones.  *skipped gets how many were: fewer than n when the input
 * ends.  Returns 0, or -1 with err set when the reader cannot go on (a truncated or bad
 * frame prefix, a read error), as lx_reader_next. */
int lx_reader_skip(lx_reader *rd, uint64_t n, uint64_t *skipped, lx_error *err);
/* Bytes of the input consumed so far: after record k, the offset where it ended (the
 * same whether the records were read or skipped). */
uint64_t lx_reader_bytes(const lx_reader *rd);
void lx_reader_close(lx_reader *rd);

typedef struct lx_writer lx_writer;

/* A writer to f (not closed by the writer) in format fmt (LX_FMT_JSON or LX_FMT_BIN). */
lx_writer *lx_writer_open(FILE *f, lx_format fmt, lx_error *err);
/* Write one record.  A record is encoded whole before it is written, and f receives
 * whole records only (stdio's buffer is flushed between records as needed), so that the
 * output of a killed run ends on a whole record.  Returns 0, or -1 (write errors
 * included). */
int lx_writer_write(lx_writer *w, const lx_record *r, lx_error *err);
int lx_writer_flush(lx_writer *w, lx_error *err);
void lx_writer_close(lx_writer *w);   /* flushes; does not close f */

/* ==== config (lib/config.c) ============================================== */

/* The LXMERT configuration (HF LxmertConfig field names).  lx_config_default gives
 * LXMERT-base: 30522 vocab, 768 hidden, 12 heads, 3072 intermediate, 512 positions,
 * 2 token types, 9/5/5 layers (l/x/r), 2048-d features, 4-d boxes, 9500 QA labels,
 * 1600 object and 400 attribute labels, LayerNorm eps 1e-12, lower-casing on. */
typedef struct lx_config {
    int vocab_size;
    int hidden_size;
    int num_attention_heads;
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    int l_layers, x_layers, r_layers;
    int visual_feat_dim;
    int visual_pos_dim;
    int num_qa_labels;            /* rows of the QA head the file carries (0: none) */
    int num_object_labels;
    int num_attr_labels;
    double layer_norm_eps;
    int do_lower_case;            /* tokenizer: 1 = uncased (default) */
} lx_config;

void lx_config_default(lx_config *c);
/* Read the fields of an HF config.json object over the current values of c
 * (unknown keys are ignored; a present key of the wrong type is an error). */
int lx_config_from_json(lx_config *c, const json_t *obj, lx_error *err);
/* The same from a file; errors name it. */
int lx_config_read_file(lx_config *c, const char *path, lx_error *err);
/* A new JSON object holding every field of c. */
json_t *lx_config_to_json(const lx_config *c);
/* Check the values are sane (positive, hidden divisible by heads, ...). */
int lx_config_check(const lx_config *c, lx_error *err);

/* The bottom-up-attention Faster R-CNN (HF's frcnn-vg-finetuned port of the Caffe
 * model LXMERT's features came from): its architecture, read from a checkpoint's tensor
 * shapes and names, and its test-time parameters, read from the checkpoint's config.yaml
 * (HF's layout).  lx_detector_config_default gives the published model: ResNet-101 C4,
 * 1600 objects, 400 attributes, input 800..1333, 6000 / 300 proposals, box NMS 0.5, 0.6,
 * 0.7, 36 detections (min = max). */
#define LX_DETECTOR_MAX_TRIES 8
typedef struct lx_detector_config {
    /* architecture */
    int stem_channels;            /* the stem's convolution */
    int blocks[4];                /* bottleneck blocks of res2, res3, res4, res5 */
    int bottleneck[4];            /* their inner widths */
    int channels[4];              /* their output widths */
    int rpn_hidden;               /* the RPN's 3x3 convolution */
    int num_anchors;              /* anchors per cell */
    int num_classes;              /* object classes (the box head has one more: background,
                                     last) */
    int num_attrs;                /* attribute classes (one more: none, last) */
    int cls_embed_dim;            /* the class embedding the attribute branch reads */
    int attr_hidden;              /* the attribute branch's hidden layer */
    /* test time */
    int min_size, max_size;       /* the shorter side resized to min_size, the longer at
                                     most max_size */
    double pixel_mean[3];         /* subtracted per channel, in the network's order (BGR) */
    double pixel_std[3];          /* divided by */
    int pre_nms_topk;             /* RPN: proposals before NMS */
    int post_nms_topk;            /* RPN: proposals kept after NMS */
    double rpn_nms_thresh;
    double rpn_bbox_weights[4];   /* the deltas' weights (dx, dy, dw, dh) */
    double box_bbox_weights[4];
    int nms_tries;                /* box NMS thresholds tried in turn ... */
    double nms_thresh_test[LX_DETECTOR_MAX_TRIES];
    int min_detections;           /* ... until at least this many boxes survive */
    int max_detections;           /* at most this many regions */
    int pooler_resolution;        /* RoIPool output (14x14) */
    double bn_eps;                /* BatchNorm's epsilon */
} lx_detector_config;

void lx_detector_config_default(lx_detector_config *c);
/* The fields of a .lxm header's detector object over c. */
int lx_detector_config_from_json(lx_detector_config *c, const json_t *obj, lx_error *err);
json_t *lx_detector_config_to_json(const lx_detector_config *c);
/* The test-time parameters of an HF config (config.yaml parsed into JSON: sections
 * input, rpn, roi_heads, roi_box_head, model, and min/max_detections) over c. */
int lx_detector_config_from_hf(lx_detector_config *c, const json_t *hf, lx_error *err);
int lx_detector_config_check(const lx_detector_config *c, lx_error *err);

/* A list of strings (a vocabulary, the answer labels, class names). */
typedef struct lx_strlist {
    char **items;                 /* owned */
    size_t n, cap;
} lx_strlist;
/* Append a copy of s[0..len).  Returns 0 or -1. */
int lx_strlist_push(lx_strlist *l, const char *s, size_t len, lx_error *err);
void lx_strlist_free(lx_strlist *l);
/* A file of one entry a line into l (index = line number from 0): a vocab.txt, the
 * detector's object or attribute names.  Lines end in "\n" or "\r\n" (the "\r" is not
 * part of the entry); entries must be UTF-8 without NUL; an entry given twice keeps both
 * lines; an empty file is an error.  The one reader of such files (lx-convert and
 * lx-tokenize both use it).  Returns 0 or -1 (l left empty). */
int lx_lines_read_file(lx_strlist *l, const char *path, lx_error *err);

/* ==== tokenizer (lib/tokenizer.c, lib/vocab.c) =========================== */

/* BERT WordPiece, identical to HF BertTokenizer / LxmertTokenizer (uncased by default).
 * Text goes through BERT's basic tokenizer (drop NUL, U+FFFD and control characters,
 * whitespace to spaces, spaces around CJK ideographs, lower-case and strip accents, split
 * on punctuation), then greedy longest-match-first WordPiece with "##" continuations.
 * Special tokens written in the text ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]",
 * case-sensitive) stay whole.  See lx-tokenize(1) for the details. */

/* The vocabulary: token text <-> id (id = position, from 0). */
typedef struct lx_vocab lx_vocab;

/* An empty vocabulary (owned; add tokens with lx_vocab_add). */
lx_vocab *lx_vocab_new(lx_error *err);
/* Append a token (len bytes of UTF-8, no NUL) as the next id.  A token that is already
 * present gets the new id on lookup (the last occurrence wins, as in HF).  Returns the id
 * or -1. */
int64_t lx_vocab_add(lx_vocab *v, const char *token, size_t len, lx_error *err);
/* A vocabulary of the n strings items (ids = positions).  Owned. */
lx_vocab *lx_vocab_from_list(const char *const *items, size_t n, lx_error *err);
/* A vocab.txt (lx_lines_read_file: one WordPiece token a line, id = line number; a token
 * given twice keeps both lines, lookup finds the later, as in HF) as a vocabulary.
 * Owned. */
lx_vocab *lx_vocab_load(const char *path, lx_error *err);
void lx_vocab_free(lx_vocab *v);
size_t lx_vocab_size(const lx_vocab *v);
/* The text of id (borrowed, NUL-terminated), or NULL when id is out of range. */
const char *lx_vocab_token(const lx_vocab *v, int64_t id);
/* The id of the token s[0..len), or -1 if absent. */
int64_t lx_vocab_find(const lx_vocab *v, const char *s, size_t len);

/* Token ids with their segment (token type); grown as needed.  Zero-initialise, or use
 * lx_encoding_init; free with lx_encoding_free. */
typedef struct lx_encoding {
    int64_t *input_ids;           /* [n] */
    int64_t *token_type_ids;      /* [n] */
    size_t n, cap;
} lx_encoding;

void lx_encoding_init(lx_encoding *e);
void lx_encoding_free(lx_encoding *e);

/* A tokenizer over a vocabulary (borrowed: it must outlive the tokenizer).  It holds
 * scratch buffers, so use one per thread.  The vocabulary must contain [CLS], [SEP] and
 * [UNK]; [PAD] and [MASK] map to [UNK] when absent.  Owned. */
typedef struct lx_tokenizer lx_tokenizer;

/* lower_case 1: uncased BERT (lower-case with Python's str.lower(), strip accents);
 * 0: cased (text kept as is after NFC, as HF does). */
lx_tokenizer *lx_tokenizer_new(const lx_vocab *v, int lower_case, lx_error *err);
void lx_tokenizer_free(lx_tokenizer *t);

/* The word pieces of text[0..len) (UTF-8, may hold NUL bytes), without [CLS]/[SEP],
 * appended to out with token type type_id.  Invalid UTF-8 is an error naming the byte
 * offset. */
int lx_tokenizer_tokenize(lx_tokenizer *t, const char *text, size_t len, int type_id,
                          lx_encoding *out, lx_error *err);
/* The model input for one text (b == NULL) or a pair: [CLS] a [SEP] (b [SEP]), token
 * types 0 for [CLS] a [SEP] and 1 for b [SEP].  max_length > 0 truncates as HF's
 * "longest_first" does: one piece at a time from the longer segment, from the second on
 * a tie; it must leave room for the special tokens.  out is overwritten. */
int lx_tokenizer_encode(lx_tokenizer *t, const char *a, size_t alen, const char *b,
                        size_t blen, size_t max_length, lx_encoding *out, lx_error *err);
/* Text for ids: pieces joined by spaces, "##" pieces glued to the one before; with
 * skip_special the special tokens are left out.  Returns a malloc'd NUL-terminated
 * string (caller frees; *len gets its length if len != NULL), or NULL for an id outside
 * the vocabulary. */
char *lx_tokenizer_decode(const lx_tokenizer *t, const int64_t *ids, size_t n,
                          int skip_special, size_t *len, lx_error *err);

/* ==== features (lib/tsv.c, lib/featindex.c, lib/featregions.c, lib/featstore.c) == */

/* Region features of images, as bottom-up-attention detectors write them: one TSV line
 * per image, the layout told apart by the number of tab-separated fields.
 *   10 fields (LXMERT):  img_id img_h img_w objects_id objects_conf attrs_id attrs_conf
 *                        num_boxes boxes features
 *    6 fields (original bottom-up-attention):  image_id image_w image_h num_boxes boxes
 *                        features            (width before height; integer ids)
 * Arrays are base64 of little-endian int64 (objects_id, attrs_id) or float32 (the
 * confidences, boxes [N, 4] as x1 y1 x2 y2 in pixels, features [N, D]).
 *
 * Image keys are text: a TSV id is the first field as written, except that 6-field ids
 * must be integers and are kept as their canonical decimal text ("007" -> "7").  A key
 * taken from a record is a JSON string used as is, or a JSON integer written in decimal,
 * so 42 and "42" both find image 42 (lx_regions_key). */

/* One image's regions.  The arrays are owned and reused from one image to the next. */
typedef struct lx_regions {
    char *img_id;                 /* NUL-terminated key text (see above) */
    int id_is_int;                /* 1: an integer id (6-field layout or a JSON integer) */
    int64_t img_h, img_w;         /* image size in pixels, > 0 */
    int64_t num_boxes;            /* N >= 1 */
    int64_t feat_dim;             /* D >= 1 */
    int has_objects;              /* 1: objects_id .. attrs_conf hold N values each */
    float *boxes;                 /* [N, 4] x1 y1 x2 y2, pixels */
    float *features;              /* [N, D] */
    int64_t *objects_id;          /* [N] */
    float *objects_conf;          /* [N] */
    int64_t *attrs_id;            /* [N] */
    float *attrs_conf;            /* [N] */
    size_t cap[7];                /* private: bytes allocated for img_id .. attrs_conf */
} lx_regions;

void lx_regions_init(lx_regions *g);
void lx_regions_free(lx_regions *g);                    /* frees the arrays, re-inits */
/* Parse one TSV line (len bytes without the newline; a final '\r' is ignored) of either
 * layout, and check it: N, D >= 1, every value finite, each box inside the image
 * (0 <= x1 <= x2 <= img_w, 0 <= y1 <= y2 <= img_h; the border itself is inside).
 * Errors name the field ("boxes: ..."). */
int lx_regions_parse_tsv(lx_regions *g, const char *line, size_t len, lx_error *err);
/* Write g as one line of LXMERT's 10-field layout, newline included, in one fwrite:
 * what lx_regions_parse_tsv reads back to the same values (and what LXMERT's own
 * extraction writes: standard base64 with '=' padding, sizes and num_boxes in decimal).
 * g must have the object arrays and pass the parser's checks, and its img_id must not
 * hold a tab or a line break.  Returns 0, or -1 (a write error included: "write
 * error: ..."). */
int lx_regions_write_tsv(const lx_regions *g, FILE *f, lx_error *err);
/* Append g to r as a regions record (img_id, img_h, img_w, boxes [N, 4], features
 * [N, D], and objects_id, objects_conf, attrs_id, attrs_conf [N] when g has them),
 * keeping the first max_boxes regions (max_boxes <= 0: all). */
int lx_regions_to_record(const lx_regions *g, lx_record *r, int64_t max_boxes,
                         lx_error *err);
/* Set the model inputs on r: visual_feats f32 [n, D] and visual_pos f32 [n, 4] (x1/img_w,
 * y1/img_h, x2/img_w, y2/img_h, each a float32 division as LXMERT's loader computes it),
 * with objects also objects_id i64 [n], objects_conf f32 [n], attrs_id i64 [n],
 * attrs_conf f32 [n] (an error if g has none); n = min(N, max_boxes), max_boxes <= 0:
 * all. */
int lx_regions_attach(const lx_regions *g, lx_record *r, int64_t max_boxes, int objects,
                      lx_error *err);
/* The key text of a JSON id (string as is, integer in decimal) into buf.  Returns the
 * length, or -1 for another JSON type or a key longer than len - 1. */
int lx_regions_key(const json_t *v, char *buf, size_t len, lx_error *err);
/* Set g's img_id to a copy of id (key text, see above; is_int: an integer id, written
 * as a JSON integer in records), for regions that did not come with one (lx_detector_run
 * leaves the id alone).  Returns 0 or -1. */
int lx_regions_set_id(lx_regions *g, const char *id, int is_int, lx_error *err);

/* Line reader over a TSV file (lib/tsv.c) with a read buffer of a settable size; lines
 * of any length up to LX_TSV_MAX_LINE are assembled across reads, so memory is bounded
 * by the longest line (one image), not by the file. */
#define LX_TSV_BUFSIZE ((size_t)1 << 20)
#define LX_TSV_MAX_LINE ((size_t)1 << 30)
typedef struct lx_tsv lx_tsv;

/* Open path for reading; bufsize 0 means LX_TSV_BUFSIZE.  Owned. */
lx_tsv *lx_tsv_open(const char *path, size_t bufsize, lx_error *err);
/* The next non-empty line: *line points into the reader (valid until the next call),
 * *len excludes the newline, *offset is the line's first byte in the file.  Returns 1,
 * 0 at the end, -1 on a read error or a line longer than LX_TSV_MAX_LINE. */
int lx_tsv_next(lx_tsv *t, const char **line, size_t *len, uint64_t *offset,
                lx_error *err);
uint64_t lx_tsv_line_no(const lx_tsv *t);               /* 1-based, of the last line */
void lx_tsv_close(lx_tsv *t);

/* The offset index of one TSV file (lib/featindex.c): for every image key, the byte
 * offset and length of its line.  Kept in a small binary file (by default the TSV's path
 * + ".lxi") that records the TSV's size and mtime; a missing, stale or damaged index is
 * rebuilt by reading the TSV once, and if it cannot be written the index is kept in
 * memory (lx_featindex_note says why).  Duplicate keys in one file are an error. */
typedef struct lx_featindex lx_featindex;

typedef enum lx_featindex_how {
    LX_FEATINDEX_LOADED = 0,      /* an up-to-date index file was read */
    LX_FEATINDEX_BUILT,           /* built from the TSV and written */
    LX_FEATINDEX_MEMORY           /* built from the TSV, kept in memory only */
} lx_featindex_how;

lx_featindex_how lx_featindex_status(const lx_featindex *ix);
/* Why the index is in memory only ("" otherwise). */
const char *lx_featindex_note(const lx_featindex *ix);
size_t lx_featindex_count(const lx_featindex *ix);

/* A feature store (lib/featstore.c): several indexed TSV files, searched in the order
 * given, then regions added from records, for lookups by key. */
typedef struct lx_features lx_features;

/* Open n TSV files with their indexes (index_paths NULL, or an entry NULL: the
 * default).  n may be 0.  Owned. */
lx_features *lx_features_open(const char *const *paths, const char *const *index_paths,
                              size_t n, size_t bufsize, lx_error *err);
/* The index of file i (borrowed). */
const lx_featindex *lx_features_index(const lx_features *f, size_t i);
/* Add every regions record of a stream (in is read to its end, not closed; name is for
 * messages): img_id (string or integer), img_h, img_w (integers), boxes [N, 4] in
 * pixels, features [N, D], optionally objects_id, objects_conf, attrs_id, attrs_conf
 * [N] (all four or none), each checked as lx_regions_parse_tsv checks a line.  From a
 * regular file of binary frames or JSON lines only each record's byte range is kept and
 * the record is re-read at lookup (memory bounded by one image); from a pipe or a JSON
 * array the regions are held in memory.  A key already added is an error.  On error
 * *recno is the number of the bad record (0: not a record's fault). */
int lx_features_add_regions(lx_features *f, FILE *in, const char *name, uint64_t *recno,
                            lx_error *err);
/* Look key up and decode its regions into g.  Returns 1 when found, 0 when no source
 * has it, -1 when its line is bad (the message names the file and the id). */
int lx_features_lookup(lx_features *f, const char *key, lx_regions *g, lx_error *err);
void lx_features_close(lx_features *f);

/* ==== images (lib/image.c) =============================================== */

/* Image files as the bottom-up-attention detector reads them: the pixels of OpenCV 4.6's
 * cv2.imread(path, cv2.IMREAD_COLOR), bit for bit, from Debian's libjpeg-turbo and libpng.
 * JPEG: libjpeg's default decoding (islow IDCT, fancy upsampling), CMYK/YCCK converted
 * to BGR as OpenCV does.  PNG: 16-bit samples cut to their high byte, palette expanded,
 * grey expanded to three channels, alpha and tRNS dropped (not blended), interlacing
 * undone.  Both: the EXIF orientation (JPEG: the first APP1 segment; PNG: the eXIf
 * chunk) applied as OpenCV applies it, a damaged EXIF block read as far as OpenCV reads
 * it.  Unlike OpenCV, a truncated or corrupt JPEG is refused rather than decoded to a
 * partly grey image.  The sizes OpenCV refuses are refused: more than 2^20 pixels a side
 * or 2^30 in all, and a PNG over libpng's 10^6 a side. */

/* An image as OpenCV's imread(path, IMREAD_COLOR) gives it: h x w pixels, 3 bytes each in
 * B, G, R order, rows one after another (no padding). */
typedef struct lx_image {
    int h, w;
    uint8_t *bgr;                 /* [h, w, 3], owned (lx_image_free) */
} lx_image;

/* Decode the image file at path (JPEG or PNG, told apart by content, not by name).
 * max_pixels > 0: an image whose header declares more than max_pixels pixels is refused
 * before any pixel is decoded (0: only the limits above).  Errors name the file: not an
 * image, truncated, too large, corrupt.  The path must be a regular file (a FIFO or a
 * device is refused without waiting on it).  Returns 0 or -1 (img left empty). */
int lx_image_read(lx_image *img, const char *path, uint64_t max_pixels, lx_error *err);
/* The same from bytes in memory (name is for messages): for tests and fuzzing. */
int lx_image_decode(lx_image *img, const void *data, size_t len, const char *name,
                    uint64_t max_pixels, lx_error *err);
/* Free the pixels and reset img to empty (h = w = 0, bgr = NULL).  NULL is a no-op. */
void lx_image_free(lx_image *img);

/* ==== checkpoints (lib/ckpt/, lib/schema.c) ============================== */

/* A set of named tensors (views into mapped files or owned buffers). */
typedef struct lx_tensor_entry {
    char *name;                   /* owned */
    lx_tensor t;
} lx_tensor_entry;

typedef struct lx_tensor_dict {
    lx_tensor_entry *items;
    size_t n, cap;
    void **maps;                  /* mmap'd regions / buffers the views point into */
    size_t *map_lens;
    size_t nmaps;
} lx_tensor_dict;

void lx_tensor_dict_init(lx_tensor_dict *d);
void lx_tensor_dict_free(lx_tensor_dict *d);        /* frees tensors, unmaps regions */
/* Add a tensor under name (copied).  Takes ownership of *t.  A duplicate name is an error. */
int lx_tensor_dict_add(lx_tensor_dict *d, const char *name, lx_tensor *t, lx_error *err);
lx_tensor *lx_tensor_dict_get(const lx_tensor_dict *d, const char *name);

/* Rename every tensor of d to its HF LxmertFor... name (every LXMERT naming scheme is
 * known: HF, bare LxmertModel, the original code's pre-training and fine-tuning
 * checkpoints; old gamma/beta become weight/bias), then check the set against c:
 * unknown names are an error naming them (code LX_ERR_UNKNOWN_TENSORS), or dropped with
 * LX_SCHEMA_IGNORE_UNKNOWN (HF's I64 lxmert.embeddings.position_ids buffer is always
 * dropped); the backbone must be complete, each head the checkpoint carries must be
 * complete, every shape must be the one c gives.  The QA head's row count is taken from
 * the head and stored in c->num_qa_labels (0 when there is no QA head).  A
 * cls.predictions.decoder.weight equal to the word embeddings is dropped (tied); a
 * different one is kept.  On success d is in the canonical order HF lists the tensors
 * in.  Returns 0 or -1. */
enum {
    LX_SCHEMA_IGNORE_UNKNOWN = 1u << 0  /* drop tensors that are not LXMERT's (else error) */
};
int lx_schema_normalize(lx_tensor_dict *d, lx_config *c, unsigned flags, lx_error *err);
/* The same for a detector checkpoint (the published frcnn-vg-finetuned names): the
 * architecture fields of c are read from the tensors' shapes and names (its test-time
 * fields are kept), BatchNorm's num_batches_tracked counters are dropped, and the rest is
 * checked against the detector's schema.  Returns 0 or -1. */
int lx_schema_normalize_detector(lx_tensor_dict *d, lx_detector_config *c, unsigned flags,
                                 lx_error *err);

typedef struct lx_model lx_model;

/* What a model file holds: LXMERT (the encoder and its heads) or the detector. */
typedef enum lx_model_kind { LX_MODEL_LXMERT = 0, LX_MODEL_DETECTOR } lx_model_kind;

/* A checkpoint as lx-convert reads it: LXMERT, or the detector (told apart by the
 * detector's backbone.stem.conv1.weight).  The weights are checked against the kind's
 * schema and put in its order; LXMERT's get HF's LxmertFor... names.  The source is an HF
 * model folder (model.safetensors(.index.json) preferred over pytorch_model.bin
 * (.index.json); a folder holding only tf_model.h5 is refused), a checkpoint file
 * (.safetensors, a shard index *.index.json, a PyTorch .bin/.pth/.pt: zip or legacy
 * pickle), or a .lxm file.  Pickles are read with an allow-list of the globals a state
 * dict needs: nothing in the file is executed.
 *
 * LXMERT: side files are taken from the options or, when not given, from the folder (a
 * file's folder): config.json (else LXMERT-base), the do_lower_case of
 * tokenizer_config.json, vocab.txt, and label2ans.json when the checkpoint has a QA head.
 * The detector: the architecture comes from the tensors' shapes and names; the test-time
 * parameters from the config (opts->config, else config.yaml beside; HF's layout, read
 * as lx_detector_config_from_hf; else the published model's), whose class and attribute
 * counts, where it gives them, must be the weights'; object and attribute names only
 * from the options.  A .lxm source brings its own config and name tables; options
 * override them. */
typedef struct lx_checkpoint {
    lx_model_kind kind;
    lx_tensor_dict tensors;       /* checked against the config, in the schema's order */
    lx_config config;             /* LXMERT's */
    lx_strlist vocab;             /* LXMERT: empty when there is none */
    lx_strlist labels;            /* LXMERT: empty when there are none */
    lx_detector_config detector;  /* the detector's */
    lx_strlist objects;           /* the detector's class names: empty when there are none */
    lx_strlist attributes;        /* the detector's attribute names: likewise */
    char *path;                   /* the weights file read (owned) */
    unsigned notes;               /* LX_CHECKPOINT_*: what was assumed or left out */
    lx_model *model;              /* a .lxm source, which the tensors view (owned) */
} lx_checkpoint;

enum {
    LX_CHECKPOINT_NO_CONFIG = 1u << 0, /* no config file (LXMERT: config.json, the detector:
                                          config.yaml): the defaults were used */
    LX_CHECKPOINT_NO_VOCAB = 1u << 1   /* no vocab.txt: the model will have no vocabulary */
};

typedef struct lx_checkpoint_opts {
    const char *config;           /* LXMERT: an HF config.json; the detector: an HF
                                     config.yaml (JSON when the name ends in .json); read
                                     over a .lxm's own config */
    const char *vocab;            /* LXMERT: a vocab.txt */
    const char *labels;           /* LXMERT: answer labels (lx_labels_read_file) */
    unsigned flags;               /* LX_SCHEMA_IGNORE_UNKNOWN */
    const char *objects;          /* the detector: object class names, one a line
                                     (lx_lines_read_file), as many as its classes */
    const char *attributes;       /* the detector: attribute names, likewise */
} lx_checkpoint_opts;

/* Read src into ck (lx_checkpoint_free it, on error too: ck->kind, ck->notes and
 * ck->path say what was found).  opts may be NULL.  Errors name the file; options of the
 * other kind (vocab or labels for the detector, objects or attributes for LXMERT) are an
 * error with code LX_ERR_OTHER_KIND.  Returns 0 or -1. */
int lx_checkpoint_load(lx_checkpoint *ck, const char *src, const lx_checkpoint_opts *opts,
                       lx_error *err);
void lx_checkpoint_free(lx_checkpoint *ck);

/* Write n tensors as one safetensors file (names and order as given; f32/f16/bf16/i32/
 * i64/u8) through an lx_outfile (beside path, renamed into place; path refused as
 * lx_outfile_open refuses it).  metadata (borrowed, may be NULL) becomes
 * "__metadata__": an object of string values.  Returns 0 or -1. */
int lx_safetensors_write(const char *path, const char *const *names,
                         const lx_tensor *const *tensors, size_t n, const json_t *metadata,
                         lx_error *err);

/* ==== model file (lib/lxm.c) ============================================= */

/* A .lxm file opened with mmap (read-only).  Tensors are views into the mapping, named
 * with HF LxmertFor... names ("lxmert.embeddings.word_embeddings.weight",
 * "answer_head.logit_fc.0.weight", "cls.predictions.transform.dense.weight", ...) and
 * checked against the schema at open. */

/* Open and validate the header (every offset and size against the file, every tensor's
 * name and shape against its kind's schema).  Owned. */
lx_model *lx_model_open(const char *path, lx_error *err);
/* 1 if path is a regular file that starts as a .lxm does (its magic), else 0. */
int lx_model_probe(const char *path);
void lx_model_close(lx_model *m);
lx_model_kind lx_model_kind_of(const lx_model *m);
/* 0 if m is of the kind, else -1 with "PATH: is a detector (Faster R-CNN), expected an
 * LXMERT model" (or the other way round): what every tool says given the wrong kind. */
int lx_model_expect(const lx_model *m, lx_model_kind kind, lx_error *err);
/* The LXMERT config (LX_MODEL_LXMERT; for a detector: LXMERT-base's, unused). */
const lx_config *lx_model_config(const lx_model *m);
/* The detector config (LX_MODEL_DETECTOR), or NULL. */
const lx_detector_config *lx_model_detector_config(const lx_model *m);
/* The tensor called name, or NULL if the file does not carry it (borrowed view). */
const lx_tensor *lx_model_tensor(const lx_model *m, const char *name);
size_t lx_model_ntensors(const lx_model *m);
const char *lx_model_tensor_name(const lx_model *m, size_t i);
const lx_tensor *lx_model_tensor_at(const lx_model *m, size_t i);
/* LXMERT's WordPiece vocabulary (index = id) and the answer labels (index = label);
 * counts are 0 when the file has none.  Strings are borrowed, NUL-terminated. */
size_t lx_model_vocab_size(const lx_model *m);
const char *lx_model_vocab_token(const lx_model *m, size_t id);
size_t lx_model_nlabels(const lx_model *m);
const char *lx_model_label(const lx_model *m, size_t i);
/* The name tables a model file can carry. */
typedef enum lx_table {
    LX_TABLE_VOCAB,               /* LXMERT: the WordPiece vocabulary, index = id */
    LX_TABLE_LABELS,              /* LXMERT: the answers, index = label */
    LX_TABLE_OBJECTS,             /* detector: the object class names, index = class */
    LX_TABLE_ATTRIBUTES,          /* detector: the attribute names, index = attribute */
    LX_TABLE_COUNT
} lx_table;
/* Table t's strings (borrowed) and their count in *n; NULL (and 0) when the file has none. */
const char *const *lx_model_names(const lx_model *m, lx_table t, size_t *n);
/* The model's vocabulary as a tokenizer vocabulary (owned); an error if it has none. */
lx_vocab *lx_model_vocab(const lx_model *m, lx_error *err);
/* Check every tensor's CRC-32.  Returns 0, or -1 naming the first bad tensor. */
int lx_model_verify(const lx_model *m, lx_error *err);
/* Names that resolve to another tensor's data (the tied MLM decoder): alias i's name
 * and the name of the tensor it views.  lx_model_tensor() resolves them. */
size_t lx_model_naliases(const lx_model *m);
const char *lx_model_alias(const lx_model *m, size_t i, const char **target);
/* Size of the mapped file in bytes. */
uint64_t lx_model_file_size(const lx_model *m);
/* Map every page of the file now, in one call (Linux's MADV_POPULATE_READ), rather than
 * one fault at a time as the tensors are first read: for a caller about to read nearly
 * all of them (lx-encode).  With the file in the page cache this takes a few ms;
 * otherwise it reads the whole file.  Only advice: kernels before 5.14 ignore it, and
 * nothing changes when it fails. */
void lx_model_populate(const lx_model *m);

/* Write a .lxm file (see lxm(5)).  tensors must be named and checked for the spec's kind
 * (lx_schema_normalize, lx_schema_normalize_detector); they are written in their order.
 * The weights of products (matrices, embeddings, convolutions) are stored as dtype
 * (LX_F32, LX_F16 or LX_BF16); vectors (biases, LayerNorm and BatchNorm) and the
 * detector's anchor boxes stay f32.  LX_I8 (LXMERT only): the encoder layers' Linear
 * weights are quantized to int8 per output row, each followed by its row scales
 * (NAME_scale, f32), and every other tensor is stored f32; tensors already int8 (from a
 * .lxm source) can only be written with LX_I8.  Before anything is written every value
 * is checked (lx_tensor_unfit against the dtype it is stored as): one that is not finite
 * is an error (code LX_ERR_NONFINITE_WEIGHT), and so is one the dtype cannot hold, a
 * weight of 1e6 as f16 (code LX_ERR_DTYPE_RANGE), unless spec->clamp (int8 holds every
 * finite weight: the row's scale takes its range).  The file is written next to path and
 * renamed into place (lx_outfile), so a failed write leaves no partial model.  Returns 0
 * or -1. */
typedef struct lx_model_spec {
    const lx_config *config;      /* LXMERT */
    const lx_tensor_dict *tensors;
    const lx_strlist *vocab;      /* may be NULL or empty */
    const lx_strlist *labels;     /* may be NULL or empty */
    lx_dtype dtype;               /* LX_F32 (default), LX_F16, LX_BF16, LX_I8 */
    lx_model_kind kind;           /* LX_MODEL_LXMERT (default) or LX_MODEL_DETECTOR */
    const lx_detector_config *detector; /* the detector's */
    const lx_strlist *objects;    /* detector: class names; may be NULL or empty */
    const lx_strlist *attributes; /* detector: attribute names; may be NULL or empty */
    int clamp;                    /* 1: store a weight beyond its dtype's range as that
                                     dtype's largest finite value of its sign
                                     (lx_dtype_max); 0: refuse it */
    uint64_t *clamped;            /* NULL, or [tensors->n]: set to how many values of each
                                     tensor were clamped */
} lx_model_spec;
int lx_model_write(const char *path, const lx_model_spec *spec, lx_error *err);

/* ==== network (lib/nn/) ================================================== */

/* The network's inputs, as record fields (HF's argument names), in HF's order. */
typedef struct lx_input {
    const char *name;             /* "input_ids", ... */
    int required;                 /* 1: the record must carry it */
    int per_region;               /* 1: one entry per region (bulky: the features) */
} lx_input;
const lx_input *lx_net_inputs(size_t *n);

/* Which outputs lx_net_forward appends to each record. */
enum {
    LX_OUT_LANGUAGE    = 1u << 0,  /* language_output */
    LX_OUT_VISION      = 1u << 1,  /* vision_output */
    LX_OUT_POOLED      = 1u << 2,  /* pooled_output */
    LX_OUT_HIDDEN      = 1u << 3,  /* language_hidden_states, vision_hidden_states */
    LX_OUT_SELF_ATTENTIONS = 1u << 4, /* language_attentions, vision_attentions */
    LX_OUT_MLM         = 1u << 5,  /* prediction_logits */
    LX_OUT_MATCH       = 1u << 6,  /* cross_relationship_score */
    LX_OUT_OBJ         = 1u << 7,  /* visual_obj_logits */
    LX_OUT_ATTR        = 1u << 8,  /* visual_attr_logits */
    LX_OUT_FEAT        = 1u << 9,  /* visual_feat_logits */
    LX_OUT_QA          = 1u << 10, /* question_answering_score */
    LX_OUT_CROSS_ATTENTIONS = 1u << 11, /* cross_encoder_attentions */
    /* every attention, as HF's output_attentions gives them */
    LX_OUT_ATTENTIONS  = LX_OUT_SELF_ATTENTIONS | LX_OUT_CROSS_ATTENTIONS,
};

/* The dimensions an output's shape is made of. */
typedef enum lx_dim {
    LX_DIM_TOKENS,                /* L: the record's tokens */
    LX_DIM_REGIONS,               /* N: the record's regions */
    LX_DIM_HIDDEN,                /* H: hidden_size */
    LX_DIM_HEADS,                 /* num_attention_heads */
    LX_DIM_L_LAYERS, LX_DIM_R_LAYERS, LX_DIM_X_LAYERS,
    LX_DIM_LX_LAYERS,             /* l_layers + x_layers */
    LX_DIM_RX_LAYERS,             /* r_layers + x_layers */
    LX_DIM_VOCAB, LX_DIM_OBJECTS, LX_DIM_ATTRIBUTES, LX_DIM_FEATURES, LX_DIM_LABELS,
    LX_DIM_TWO                    /* 2: the match head's classes */
} lx_dim;

/* The one table of the network's outputs: every field lx_net_forward can append, in the
 * order it appends them (HF's). */
typedef struct lx_output {
    const char *name;             /* the record field (HF's output name) */
    unsigned flag;                /* the LX_OUT_* that asks for it */
    const char *head;             /* the pre-training or QA head it comes from ("mlm",
                                   * "match", "obj", "attr", "feat", "qa"), or NULL for
                                   * the encoder's own outputs */
    int ndim;
    lx_dim dims[4];
} lx_output;
const lx_output *lx_net_outputs(size_t *n);
/* The output called name, or NULL. */
const lx_output *lx_net_output_find(const char *name);
/* Its shape for people, as the man pages write it: "[l+x, L, H]".  Returns buf. */
const char *lx_output_shape_str(const lx_output *o, char *buf, size_t len);
/* Its shape for a record of L tokens and N regions under config c. */
void lx_output_shape(const lx_output *o, const lx_config *c, int64_t L, int64_t N,
                     int64_t shape[4]);

/* How much of the CPU's vector hardware the kernels may use: each level includes the
 * ones before it.  As a limit (lx_net_opts.max_isa), LX_ISA_BEST means all the CPU has;
 * a level the CPU lacks is never used, so a limit is a ceiling, not a demand. */
typedef enum lx_isa {
    LX_ISA_BEST = 0,              /* a limit only: whatever the CPU has */
    LX_ISA_PORTABLE,              /* plain C and OpenBLAS */
    LX_ISA_AVX2,                  /* AVX2 + FMA + F16C */
    LX_ISA_AVX512                 /* AVX-512 F/BW/VL/DQ (and AVX512_BF16 where present) */
} lx_isa;
/* "best", "portable", "avx2" or "avx512" ("" and NULL: best; the tools read LX_CPU with
 * it).  Returns 0, or -1 for anything else. */
int lx_isa_parse(const char *s, lx_isa *out);
const char *lx_isa_name(lx_isa isa);

/* Options of a network; all zero is the default everywhere. */
typedef struct lx_net_opts {
    int threads;                  /* worker threads (0: all cores) */
    lx_isa max_isa;               /* the most the kernels may use (LX_ISA_BEST: all the CPU
                                     has) */
    int no_box_check;             /* 1: accept visual_pos values outside [-1e-5, 1+1e-5]
                                     (by default boxes must be normalised to 0..1) */
    int exact_bf16;               /* bf16 weights: 0 use the CPU's bf16 dot products
                                     (activations rounded to bf16; hidden states within
                                     2e-2 of f32); 1 compute exactly in f32 */
    int separate_qkv;             /* tests: Q, K and V as three products even where the
                                     file lets them run as one (files lx-convert wrote
                                     before it laid them out back to back take that path) */
    int unfused;                  /* tests: with bf16 dot products, hand activations
                                     between layers in f32 and let each product round them
                                     (the same bits, more passes over memory) */
} lx_net_opts;

/* The network over an open model: weight views plus activation buffers (allocated
 * once, grown to the largest batch seen) and a pool of opts.threads threads.  Not
 * thread-safe; one per thread of use.  lx_net_new sets OpenBLAS to one thread
 * (openblas_set_num_threads(1)): the pool splits every product itself. */
typedef struct lx_net lx_net;

/* Bind the weights of m (which must outlive the net).  opts may be NULL.  A model that
 * is not LXMERT is refused (lx_model_expect's message).  Owned. */
lx_net *lx_net_new(const lx_model *m, const lx_net_opts *opts, lx_error *err);
void lx_net_free(lx_net *net);
/* Which LX_OUT_* heads the model carries (the others cannot be asked for). */
unsigned lx_net_available(const lx_net *net);
/* Validate one record's inputs (lx_net_inputs): shapes, id ranges, masks of 0s and 1s
 * (as HF's), features and boxes finite and of magnitude at most 1e6, boxes in 0..1
 * (unless no_box_check).  Call before lx_net_forward so that errors name the record. */
int lx_net_check(const lx_net *net, const lx_record *r, lx_error *err);
/* Run n checked records as one batch and append the outputs selected by want to each.
 * A record's outputs agree with those of running it alone within 1e-5; their last bits
 * can depend on the batch's size (each product picks its kernel, and so its order of
 * summation, by the number of rows), and on want: when want needs no more of the last
 * cross layer than each record's first language row (pooled_output, the match and QA
 * heads, attentions), that layer computes only what those rows depend on.
 * Every output is checked to be finite (one pass over them): checked inputs can still
 * overflow the network when its weights are not finite or too large.  A record whose
 * outputs are not gets none, and bad[i] names the output, the value and the likely
 * cause ("question_answering_score[7]: got nan, expected a finite number: ..."); the
 * other records get theirs (records do not mix in the network).  bad is NULL or [n]:
 * bad[i].msg is "" for a good record.  With bad NULL such a record fails the call
 * ("record I of the batch: ..." when n > 1).  Returns 0, or -1 when the batch could not
 * run (err). */
int lx_net_forward(lx_net *net, lx_record *recs, size_t n, unsigned want, lx_error *bad,
                   lx_error *err);
/* The QA head alone: logits[n][num_qa_labels] from pooled[n][hidden].  Each row is
 * checked to be finite as lx_net_forward checks a record: a bad row's message goes to
 * bad[i] (bad NULL or [n]), or with bad NULL fails the call ("row I: ..." when n > 1). */
int lx_net_qa_head(lx_net *net, const float *pooled, size_t n, float *logits, lx_error *bad,
                   lx_error *err);

/* ==== detector (lib/nn/frcnn*.c) ========================================= */

/* The bottom-up-attention Faster R-CNN run on one image at a time: the pixels resized
 * (the shorter side to min_size, the longer at most max_size) and centred, ResNet C4 to
 * res4, the RPN's proposals, RoIPool and res5 per proposal, the box head, then a
 * selection of regions:
 *   LX_SELECT_HF     HF's frcnn demo: one class-agnostic NMS over each proposal's best
 *                    class box (regressed), at each of the config's thresholds in turn
 *                    until at least min_boxes survive; at most max_boxes.  When every
 *                    threshold leaves fewer, the last threshold's survivors are kept.
 *   LX_SELECT_CAFFE  the original extractor LXMERT's features came from: per-class NMS
 *                    (0.3) over the unregressed proposals, each proposal's best surviving
 *                    class confidence, those >= 0.2 in proposal order when there are
 *                    min_boxes..max_boxes of them, else the top ones by confidence.
 * Each region: its box in the image's pixels, the mean res5 feature, the best object
 * class and its probability, the best attribute and its probability. */
typedef enum lx_selection { LX_SELECT_HF = 0, LX_SELECT_CAFFE } lx_selection;

typedef struct lx_detector_opts {
    lx_selection select;
    int rgb;                      /* 1: feed the pixels in RGB order (the HF demo's
                                     behaviour for files); 0: BGR, as the weights expect */
    int min_size, max_size;       /* the resize (0: the config's) */
    int min_boxes, max_boxes;     /* regions (0: the config's min/max_detections) */
    int threads;                  /* worker threads (0: all cores) */
    lx_isa max_isa;               /* the most the kernels may use (LX_ISA_BEST: all) */
    int exact_bf16;               /* bf16 weights computed exactly in f32 */
} lx_detector_opts;

typedef struct lx_detector lx_detector;

/* A detector over m (a detector .lxm, which must outlive it).  opts may be NULL (all
 * zero).  Not thread-safe: one per thread of use.  Owned. */
lx_detector *lx_detector_new(const lx_model *m, const lx_detector_opts *opts, lx_error *err);
/* Regions of img into out (its arrays reused; img_id is left alone, has_objects set).
 * Returns 0 or -1. */
int lx_detector_run(lx_detector *d, const lx_image *img, lx_regions *out, lx_error *err);
/* Seconds spent in each stage by the runs so far (lx-detect --timings). */
typedef enum lx_detector_stage {
    LX_STAGE_RESIZE, LX_STAGE_BACKBONE, LX_STAGE_RPN, LX_STAGE_ROI, LX_STAGE_HEAD,
    LX_STAGE_SELECT, LX_STAGE_COUNT
} lx_detector_stage;
const char *lx_detector_stage_name(lx_detector_stage s);
double lx_detector_stage_seconds(const lx_detector *d, lx_detector_stage s);
void lx_detector_free(lx_detector *d);

/* ==== vqa (lib/vqa.c, lib/vqaeval.c) ===================================== */

/* Answer labels (index = label): a JSON array of strings (label2ans, index = label), an
 * object answer -> label (ans2label; labels must be 0..n-1, each once) or an array of
 * objects with an "ans" string (LXMERT's all_ans.json).  Returns 0 or -1. */
int lx_labels_read_file(lx_strlist *l, const char *path, lx_error *err);
/* The labels a model file carries (copied into *l, owned); an error if it has none. */
int lx_vqa_labels_from_model(lx_strlist *l, const lx_model *m, lx_error *err);

/* How a logit becomes a score: VQA heads are trained with binary cross-entropy (each
 * answer's own sigmoid), GQA-style heads and the masked-LM head with cross-entropy
 * (softmax over all logits). */
typedef enum lx_scoring { LX_SCORE_SIGMOID = 0, LX_SCORE_SOFTMAX } lx_scoring;
int lx_scoring_parse(const char *s, lx_scoring *out);  /* "sigmoid" / "softmax" */

typedef struct lx_pick {
    size_t index;                 /* the label (or token id) */
    float logit;
    float score;                  /* sigmoid(logit) or softmax over all n logits */
} lx_pick;

/* The k highest of n logits, best first (equal logits: lower index first), with their
 * scores, into out[min(k, n)].  Returns the number written.  A NaN logit is never picked
 * (nor counted in the softmax): with m logits that are numbers only min(k, m) picks are
 * written, none when every logit is NaN.  The one top-k: answers and lx-encode's
 * fill-mask use it. */
size_t lx_topk(const float *logits, size_t n, size_t k, lx_scoring scoring, lx_pick *out);
/* Answer picks as a JSON list of {"answer", "label", "score", "logit"} (new reference);
 * NULL when out of memory or when a score or logit is not finite (JSON cannot hold it). */
json_t *lx_vqa_picks_json(const lx_pick *p, size_t k, const lx_strlist *l);

/* The official VQA v2 accuracy of one question (see lx-vqa(1)): pred against the n human
 * answers (raw text; cleaned and, unless all agree, normalised as the official
 * evaluation does), leave-one-out min(1, matches / 3), in [0, 1].  Returns 0 or -1. */
int lx_vqa_accuracy(const char *const *humans, size_t n, const char *pred, double *acc,
                    lx_error *err);
/* LXMERT's soft score: label[pred] (a number), 0 when absent.  label must be an object. */
int lx_vqa_soft_score(const json_t *label, const char *pred, double *score, lx_error *err);

/* lx_vqa_accuracy over the annotation's human answers as JSON: a list of strings or of
 * {"answer": ...} objects. */
int lx_vqa_human_accuracy(const json_t *answers, const char *pred, double *acc,
                          lx_error *err);
/* The truth record r carries, checked: *label its "label" (LXMERT's {answer: score}, an
 * object of numbers) and *humans its "answers" when they are the annotation's human
 * answers (strings, or objects with an "answer" string; a list of predictions, objects
 * with a numeric "score" or "logit", is not truth; an empty list is no truth; an
 * "answers" of another form, numbers or a single value, is malformed).  Each NULL when
 * absent.  Returns 0, or -1 for malformed truth (the message names the field). */
int lx_vqa_record_truth(const lx_record *r, const json_t **label, const json_t **humans,
                        lx_error *err);

/* Running totals over a set of questions, overall and per question / answer type. */
typedef struct lx_vqa_eval lx_vqa_eval;
lx_vqa_eval *lx_vqa_eval_new(lx_error *err);
void lx_vqa_eval_free(lx_vqa_eval *ev);
/* Score pred against the truth of one question: label (LXMERT's {answer: score} object)
 * and/or answers (the annotation's human answers: a list of {"answer": ...} objects or of
 * strings); either may be NULL.  qtype / atype may be NULL.  *soft and *official (either
 * pointer may be NULL) get the question's scores, or -1 when that truth is absent.
 * Returns 0, or -1 for malformed truth (nothing is counted then). */
int lx_vqa_eval_add(lx_vqa_eval *ev, const char *pred, const json_t *label,
                    const json_t *answers, const char *qtype, const char *atype,
                    double *soft, double *official, lx_error *err);
/* Add one question's scores computed earlier (a record's vqa_score / vqa_accuracy from
 * lx-vqa), -1 for absent: how the outputs of several runs are totalled. */
int lx_vqa_eval_add_scores(lx_vqa_eval *ev, double soft, double official, const char *qtype,
                           const char *atype, lx_error *err);
/* The summary (new reference): {"count": questions added, "lxmert": {...}, "official":
 * {...}}, each metric present when some question had that truth and holding "count",
 * "overall", "perQuestionType", "perAnswerType" (percentages, unrounded; types in order
 * of first appearance). */
json_t *lx_vqa_eval_summary(const lx_vqa_eval *ev);

/* ==== report (lib/report.c, lib/report_html.c) =========================== */

/* What lx-show draws of one answered record (a card), and the self-contained HTML page
 * and SVG files it draws cards in.  lx_card_read takes from a record, each optional:
 *   question     sent, text or question (a string)
 *   caption      question_id and img_id (or image_id)
 *   word pieces  tokens (strings), else input_ids decoded with the model's vocabulary
 *                (without one: the ids as numbers); those with attention_mask 0 left out
 *   regions      visual_pos [N, 4] (x1 y1 x2 y2 divided by the image size), else boxes
 *                [N, 4] in pixels; those with visual_attention_mask 0 left out
 *   image size   img_w and img_h, in pixels
 *   names        objects_id and attrs_id [N] named by the detector's tables, else
 *                objects and attrs (lists of N strings, as lx-detect --names writes them)
 *   attention    cross_encoder_attentions [x, heads, L, N]: one cross-modality layer,
 *                one head or the mean over heads, a row of N weights per word piece
 *   answers      answers (lx-vqa's objects with answer and score, best first), else
 *                answer (a string)
 *   truth        label {answer: score} or the annotation's human answers (strings or
 *                objects with answer); the answer's score is vqa_accuracy, else
 *                vqa_score, else computed from that truth (lx_vqa_accuracy,
 *                lx_vqa_soft_score)
 * A field that is present must be well formed: a wrong type, shape or id is an error
 * naming the field. */
typedef struct lx_card_opts {
    int layer;                    /* the cross-modality layer, indexed as Python indexes
                                     the stack: 0 the first, -1 the last */
    int head;                     /* the head, from 0; -1: the mean over the heads */
    const lx_model *model;        /* LXMERT: the vocabulary for input_ids (NULL: none) */
    const lx_model *detector;     /* the detector: object and attribute names (NULL) */
} lx_card_opts;

/* How the answer fares against the record's truth. */
typedef enum lx_verdict {
    LX_VERDICT_NONE = 0,          /* no truth, or no answer */
    LX_VERDICT_RIGHT,             /* score 1 */
    LX_VERDICT_PARTLY,            /* between 0 and 1 */
    LX_VERDICT_WRONG              /* score 0 */
} lx_verdict;

typedef struct lx_card_pick {
    char *answer;                 /* owned */
    double score;                 /* in [0, 1]; -1 when the record gives none */
} lx_card_pick;

typedef struct lx_card {
    uint64_t recno;               /* the record's number in its input (set by the caller) */
    char *question;               /* NULL: none */
    char *caption;                /* "question_id 7 · img_id cat", NULL: neither */
    char *img_id;                 /* the image's id as text (NULL: none) */
    char *image;                  /* the record's image field, a path (NULL: none) */
    size_t ntokens;               /* word pieces shown */
    char **tokens;                /* [ntokens] */
    int tokens_are_ids;           /* 1: input_ids without a vocabulary, shown as numbers */
    size_t cls;                   /* the word piece of the default view: [CLS], else 0 */
    size_t nboxes;                /* regions shown */
    float *boxes;                 /* [nboxes, 4] x1 y1 x2 y2, in pixels when pixels is 1,
                                     else divided by the image size */
    int pixels;
    double width, height;         /* the image size in pixels (0: unknown; the caller may
                                     set it from the image file) */
    char **names;                 /* [nboxes] "attribute object", or NULL: no names */
    float *att;                   /* [ntokens, nboxes] the weights drawn, or NULL */
    int layer, nlayers;           /* att's layer (from 0) and the record's layers */
    int head, nheads;             /* att's head (-1: the mean) and the record's heads */
    size_t npicks;
    lx_card_pick *picks;          /* [npicks] the answers, best first */
    char *truth;                  /* the truth for people ("label: cat 1, dog 0.3"), NULL */
    double score;                 /* the answer's score against the truth; -1: none */
    lx_verdict verdict;
} lx_card;

/* Read r into c (zero-initialised or freed before; on error c is left freed).  opts may
 * be NULL (the last layer, the mean over heads, no model).  Returns 0 or -1. */
int lx_card_read(lx_card *c, const lx_record *r, const lx_card_opts *opts, lx_error *err);
void lx_card_free(lx_card *c);
/* The shade of each region for word piece t, into out[nboxes]: where its weight lies
 * between the word piece's weakest and strongest region, (w - min) / (max - min) in
 * double, so that the strongest is 1 and the weakest 0 (all 1 when the weights are equal
 * and not 0).  Trained models put nearly no weight on their weakest regions, so this is
 * close to w / max; on near-uniform maps it still shows which regions lead.  Nothing
 * when the card has no attention. */
void lx_card_shades(const lx_card *c, size_t t, double *out);
/* "image/jpeg" or "image/png" by the bytes' signature, else NULL. */
const char *lx_image_mime(const void *data, size_t len);

/* The HTML page: lx_report_begin, a card at a time, lx_report_end.  The page holds
 * everything (style, script, images as base64): no network access.  Each card draws the
 * image (or a blank canvas of its size; 640 x 480 when unknown), each region as a box
 * shaded by the default word piece's attention, the word pieces (hovering or clicking
 * one shades the boxes by its attention, names the three strongest), the answers with
 * their scores as bars, the truth and the score, and notes on what the record lacks.
 * title and note are text (escaped here; note may be NULL).  Each returns 0 or -1 (a
 * write error: "write error: ..."). */
int lx_report_begin(FILE *f, const char *title, const char *note, lx_error *err);
/* image: the bytes of a JPEG or PNG file, embedded as they are (NULL: none). */
int lx_report_card(FILE *f, const lx_card *c, const void *image, size_t len, lx_error *err);
int lx_report_end(FILE *f, const char *note, lx_error *err);
/* One card as a standalone SVG file: the image, the boxes shaded by the default word
 * piece's attention with the three strongest named, the question and the answer below. */
int lx_card_write_svg(FILE *f, const lx_card *c, const void *image, size_t len,
                      lx_error *err);

#ifdef __cplusplus
}
#endif
#endif /* LX_H */
