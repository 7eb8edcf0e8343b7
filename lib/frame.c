/*
 * frame.c — records as binary frames (layout in lx-stream(5)).
 *
 *   offset  size  field
 *   0       4     magic "LXRF"
 *   4       4     u32 version (1)
 *   8       8     u64 frame length, whole frame, a multiple of 64
 *   16      8     u64 header length
 *   24      H     header: JSON {"record": {...}, "tensors": {name: {"dtype", "shape",
 *                 "offset", "nbytes"}}}; "record" holds every field in order, tensor
 *                 fields as null placeholders
 *   ...           spaces up to the next multiple of 64: the data start D
 *   D       ...   tensor bytes, little-endian, each at D + offset (offset % 64 == 0),
 *                 zero padding between tensors and up to the frame length
 *
 * The whole frame sits in one 64-byte aligned buffer, so decoded tensors are views
 * into it (no copy).  Every number in the header is checked before use.
 */
#include <stdlib.h>
#include <string.h>
#include "bytes.h"
#include "internal.h"

#define FRAME_MAGIC "LXRF"
#define FRAME_VERSION 1u
#define FRAME_PREFIX 24


static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

int lx_record_to_frame(const lx_record *r, char **out, size_t *len, lx_error *err) {
    lx_strbuf h = {0};
    char num[64];
    size_t data_len = 0;
    /* "record": every field in order, tensors as null */
    lx_strbuf_puts(&h, "{\"record\":");
    if (lx_json_append_record(&h, r, 1, err) < 0) {
        lx_strbuf_free(&h);
        return -1;
    }
    /* "tensors": dtype, shape and place of each tensor field */
    lx_strbuf_puts(&h, ",\"tensors\":{");
    int first = 1;
    for (size_t i = 0; i < r->nfields; i++) {
        const lx_field *f = &r->fields[i];
        if (f->json) continue;
        int64_t nb = lx_tensor_nbytes(&f->tensor);
        if (nb < 0) {
            lx_strbuf_free(&h);
            return lx_error_set(err, "field '%s': invalid tensor shape", f->name);
        }
        if (!first) lx_strbuf_putc(&h, ',');
        first = 0;
        lx_json_append_string(&h, f->name, strlen(f->name));
        lx_strbuf_puts(&h, ":{\"dtype\":\"");
        lx_strbuf_puts(&h, lx_dtype_name(f->tensor.dtype));
        lx_strbuf_puts(&h, "\",\"shape\":[");
        for (int d = 0; d < f->tensor.ndim; d++)
            lx_strbuf_append(&h, num, (size_t)snprintf(num, sizeof num, "%s%lld", d ? "," : "",
                                                       (long long)f->tensor.shape[d]));
        lx_strbuf_append(&h, num, (size_t)snprintf(num, sizeof num,
                                                   "],\"offset\":%zu,\"nbytes\":%lld}", data_len,
                                                   (long long)nb));
        data_len = align64(data_len + (size_t)nb);
    }
    lx_strbuf_puts(&h, "}}");
    if (h.oom) {
        lx_strbuf_free(&h);
        return lx_error_set(err, "out of memory");
    }
    size_t data_start = align64(FRAME_PREFIX + h.len);
    size_t total = align64(data_start + data_len);
    char *buf = lx_aligned_alloc(total);
    if (!buf) {
        lx_strbuf_free(&h);
        return lx_error_set(err, "out of memory for a %zu-byte frame", total);
    }
    memcpy(buf, FRAME_MAGIC, 4);
    lx_wr_u32(buf + 4, FRAME_VERSION);
    lx_wr_u64(buf + 8, total);
    lx_wr_u64(buf + 16, h.len);
    memcpy(buf + FRAME_PREFIX, h.data, h.len);
    memset(buf + FRAME_PREFIX + h.len, ' ', data_start - FRAME_PREFIX - h.len);
    lx_strbuf_free(&h);
    size_t off = data_start;
    for (size_t i = 0; i < r->nfields; i++) {
        const lx_field *f = &r->fields[i];
        if (f->json) continue;
        size_t nb = (size_t)lx_tensor_nbytes(&f->tensor);
        if (nb) memcpy(buf + off, f->tensor.data, nb);
        memset(buf + off + nb, 0, align64(off + nb) - (off + nb)); /* only the padding */
        off = align64(off + nb);
    }
    memset(buf + off, 0, total - off);
    *out = buf;
    *len = total;
    return 0;
}

int lx_frame_prefix(const void *p, uint64_t *frame_len, lx_error *err) {
    const unsigned char *b = p;
    if (memcmp(b, FRAME_MAGIC, 4) != 0) return lx_error_set(err, "not a frame (bad magic)");
    uint32_t ver = lx_rd_u32(b + 4);
    if (ver != FRAME_VERSION)
        return lx_error_set(err, "frame version %u, this lx reads version %u", ver, FRAME_VERSION);
    uint64_t total = lx_rd_u64(b + 8), hlen = lx_rd_u64(b + 16);
    if (total < 64 || total % 64 != 0)
        return lx_error_set(err, "frame length %llu is not a positive multiple of 64",
                            (unsigned long long)total);
    if (hlen > total - FRAME_PREFIX)
        return lx_error_set(err, "frame header length %llu exceeds the frame length %llu",
                            (unsigned long long)hlen, (unsigned long long)total);
    *frame_len = total;
    return 0;
}

typedef struct span { uint64_t off, end; const char *name; } span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int lx_record_from_frame(lx_record *r, void *buf, size_t len, lx_error *err) {
    json_error_t je;
    uint64_t total;
    span *spans = NULL;
    json_t *hdr = NULL;
    lx_record_clear(r);
    if (len < FRAME_PREFIX) {
        free(buf);
        return lx_error_set(err, "frame of %zu bytes is shorter than its prefix", len);
    }
    if (lx_frame_prefix(buf, &total, err) < 0) goto fail;
    if (total != len) {
        lx_error_set(err, "frame length %llu, but %zu bytes given", (unsigned long long)total, len);
        goto fail;
    }
    uint64_t hlen = lx_rd_u64((unsigned char *)buf + 16);
    uint64_t data_start = align64(FRAME_PREFIX + hlen);
    if (data_start > total) {
        lx_error_set(err, "frame header runs past the frame");
        goto fail;
    }
    /* NUL in strings as in JSON lines (json_codec.c): a frame holds what a line may. */
    hdr = json_loadb((char *)buf + FRAME_PREFIX, hlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                     &je);
    if (!hdr) {
        if (lx_json_oom(&je))
            lx_error_set(err, "out of memory parsing the %llu-byte frame header",
                         (unsigned long long)hlen);
        else
            lx_error_set(err, "frame header is not valid JSON: %s", je.text);
        goto fail;
    }
    json_t *rec = json_object_get(hdr, "record"), *tens = json_object_get(hdr, "tensors");
    if (!json_is_object(rec) || !json_is_object(tens)) {
        lx_error_set(err, "frame header lacks its \"record\" or \"tensors\" object");
        goto fail;
    }
    size_t ntens = json_object_size(tens), nspan = 0;
    spans = calloc(ntens ? ntens : 1, sizeof *spans);
    if (!spans) {
        lx_error_set(err, "out of memory");
        goto fail;
    }
    const char *k;
    json_t *v;
    json_object_foreach(rec, k, v) {
        json_t *d = json_object_get(tens, k);
        if (!d) {
            if (lx_record_set_json(r, k, json_incref(v), err) < 0) goto fail;
            continue;
        }
        if (!json_is_null(v)) {
            lx_error_set(err, "frame field '%s' is both a value and a tensor", k);
            goto fail;
        }
        json_t *dt = json_object_get(d, "dtype"), *sh = json_object_get(d, "shape");
        json_t *of = json_object_get(d, "offset"), *nb = json_object_get(d, "nbytes");
        lx_tensor t = {0};
        if (!json_is_string(dt) || lx_dtype_parse(json_string_value(dt), &t.dtype) < 0 ||
            !json_is_array(sh) || !json_is_integer(of) || !json_is_integer(nb)) {
            lx_error_set(err, "frame tensor '%s' has a bad descriptor", k);
            goto fail;
        }
        if (json_array_size(sh) > LX_MAX_DIMS) {
            lx_error_set(err, "frame tensor '%s' has %zu dimensions (at most %d)", k,
                         json_array_size(sh), LX_MAX_DIMS);
            goto fail;
        }
        t.ndim = (int)json_array_size(sh);
        for (int i = 0; i < t.ndim; i++) {
            json_t *x = json_array_get(sh, (size_t)i);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                lx_error_set(err, "frame tensor '%s' has a bad shape", k);
                goto fail;
            }
            t.shape[i] = json_integer_value(x);
        }
        int64_t want = lx_tensor_nbytes(&t);
        json_int_t off = json_integer_value(of), n = json_integer_value(nb);
        char shs[160];
        if (want < 0) {
            lx_error_set(err, "frame tensor '%s': shape %s has more bytes than fit in 64 bits",
                         k, lx_tensor_shape_str(&t, shs, sizeof shs));
            goto fail;
        }
        if (n != want) {
            lx_error_set(err, "frame tensor '%s': nbytes %lld, but %s %s needs %lld", k,
                         (long long)n, lx_dtype_name(t.dtype),
                         lx_tensor_shape_str(&t, shs, sizeof shs), (long long)want);
            goto fail;
        }
        if (off < 0 || off % 64 != 0) {
            lx_error_set(err, "frame tensor '%s': offset %lld is not %s", k, (long long)off,
                         off < 0 ? "a byte offset (it is negative)" : "a multiple of 64");
            goto fail;
        }
        if ((uint64_t)off > total - data_start ||
            (uint64_t)n > total - data_start - (uint64_t)off) {
            char e[LX_U128_STR];
            lx_error_set(err, "frame tensor '%s': bytes %lld..%s lie outside the frame's %llu "
                              "bytes of data", k, (long long)off,
                         lx_u128_str(e, (unsigned __int128)off + (uint64_t)n),
                         (unsigned long long)(total - data_start));
            goto fail;
        }
        t.data = (char *)buf + data_start + off;
        t.owned = 0;
        spans[nspan++] = (span){(uint64_t)off, (uint64_t)off + (uint64_t)n, k};
        if (lx_record_set_tensor(r, k, &t, err) < 0) goto fail;
    }
    if (nspan != ntens) {
        lx_error_set(err, "frame describes tensors that are not fields of its record");
        goto fail;
    }
    qsort(spans, nspan, sizeof *spans, cmp_span);
    for (size_t i = 1; i < nspan; i++)
        if (spans[i].off < spans[i - 1].end) {
            lx_error_set(err, "frame tensors '%s' and '%s' overlap", spans[i - 1].name, spans[i].name);
            goto fail;
        }
    free(spans);
    json_decref(hdr);
    r->buf = buf;
    return 0;
fail:
    free(spans);
    if (hdr) json_decref(hdr);
    lx_record_clear(r);
    free(buf);
    return -1;
}
