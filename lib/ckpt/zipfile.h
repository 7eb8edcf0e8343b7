/*
 * zipfile.h — a read-only zip reader over a buffer in memory (private to liblx).
 *
 * Used by torch.c for PyTorch's zip checkpoints.  The caller maps the file and hands
 * the bytes over; lx_zip_open parses the central directory (zip64 included) and checks
 * every offset and size against the buffer.  Entries are then found by name and read:
 * stored entries in place (a pointer into the buffer), deflated ones through zlib into a
 * buffer the caller owns.
 */
#ifndef LX_ZIPFILE_H
#define LX_ZIPFILE_H

#include <stddef.h>
#include <stdint.h>
#include "lx.h"

typedef struct lx_zip_entry {
    char *name;                   /* owned, NUL-terminated */
    uint64_t data_off;            /* offset of the entry's data in the buffer */
    uint64_t csize, usize;        /* compressed / uncompressed sizes */
    uint32_t crc;                 /* CRC-32 of the uncompressed data */
    uint16_t method;              /* 0 stored, 8 deflated */
} lx_zip_entry;

typedef struct lx_zip {
    const uint8_t *base;          /* the whole file (borrowed) */
    size_t size;
    lx_zip_entry *entries;        /* sorted by name */
    size_t n;
} lx_zip;

/* Parse the central directory of the zip in base[0..size).  base must outlive z.
 * Returns 0, or -1 with a message naming what is wrong. */
int lx_zip_open(lx_zip *z, const void *base, size_t size, lx_error *err);
void lx_zip_close(lx_zip *z);
/* The entry called name, or NULL. */
const lx_zip_entry *lx_zip_find(const lx_zip *z, const char *name);
/* The uncompressed bytes of e.  Stored entries: *data points into the buffer and *owned
 * is NULL.  Deflated: *owned is a 64-byte aligned buffer the caller frees (free()) and
 * *data == *owned.  max_size bounds the uncompressed size accepted (no allocation
 * larger than that).  If check_crc, the CRC-32 is verified.  Returns 0 or -1. */
int lx_zip_read(const lx_zip *z, const lx_zip_entry *e, uint64_t max_size, int check_crc,
                const void **data, void **owned, lx_error *err);
/* The first `want` bytes of e (all of it if want >= e->usize), for a caller that knows
 * how much of an entry it will use: a deflated entry is inflated into a buffer of that
 * size and no more, whatever size the directory declares.  With check_crc the rest of
 * the stream is still inflated (through a small window) to check its size and CRC-32;
 * without it, inflating stops at `want`.  Stored entries are read in place as above. */
int lx_zip_read_part(const lx_zip *z, const lx_zip_entry *e, uint64_t want, int check_crc,
                     const void **data, void **owned, lx_error *err);

#endif
