/*
 * zipfile.c — a read-only zip reader over a mapped file (see zipfile.h).
 *
 * Layout read (APPNOTE.TXT): the end-of-central-directory record (EOCD, 22 bytes plus a
 * comment of up to 64 KiB) at the end of the file; when sizes or offsets do not fit in
 * 32 bits, a zip64 EOCD locator (20 bytes) just before it points to the zip64 EOCD
 * record (56 bytes).  The central directory is a run of 46-byte headers, each followed
 * by a name, an extra field (whose 0x0001 record holds the 64-bit sizes/offset) and a
 * comment.  Each entry's data follows its local header (30 bytes + name + extra), whose
 * lengths may differ from the central copy (PyTorch pads the local extra field so that
 * data starts on a 64-byte boundary), so the local header is read too.
 *
 * Everything is checked when the zip is opened: a central directory that does not fit
 * in the file, an entry whose local header or data leaves the file, counts that could
 * not be there.  Nothing is allocated from a count before it is bounded by the bytes
 * that would have to hold it.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "../bytes.h"
#include "zipfile.h"

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD    0x06054b50u
#define SIG_EOCD64  0x06064b50u
#define SIG_LOC64   0x07064b50u


/* The offset of the EOCD record, or -1.  The last candidate whose comment ends within
 * the file wins (a comment may itself contain the signature bytes). */
static int64_t find_eocd(const uint8_t *b, size_t size) {
    if (size < 22) return -1;
    size_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (size_t i = size - 22 + 1; i-- > lo;) {
        if (lx_rd_u32(b + i) == SIG_EOCD && i + 22 + lx_rd_u16(b + i + 20) <= size) return (int64_t)i;
    }
    return -1;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const lx_zip_entry *)a)->name, ((const lx_zip_entry *)b)->name);
}

/* Fill the 64-bit values a central header left at their 0xFFFF... markers from its
 * zip64 extra record (id 0x0001; the values present appear in this order). */
static int read_zip64_extra(const uint8_t *x, size_t xlen, uint64_t *usize, uint64_t *csize,
                            uint64_t *lho, int need_u, int need_c, int need_o) {
    size_t i = 0;
    while (i + 4 <= xlen) {
        uint16_t id = lx_rd_u16(x + i), len = lx_rd_u16(x + i + 2);
        if (i + 4 + len > xlen) return -1;
        if (id == 0x0001) {
            const uint8_t *p = x + i + 4;
            size_t need = 8 * (size_t)(need_u + need_c + need_o);
            if (len < need) return -1;
            if (need_u) { *usize = lx_rd_u64(p); p += 8; }
            if (need_c) { *csize = lx_rd_u64(p); p += 8; }
            if (need_o) { *lho = lx_rd_u64(p); }
            return 0;
        }
        i += 4 + (size_t)len;
    }
    return -1;
}

int lx_zip_open(lx_zip *z, const void *base, size_t size, lx_error *err) {
    memset(z, 0, sizeof *z);
    const uint8_t *b = base;
    z->base = b;
    z->size = size;
    int64_t eocd = find_eocd(b, size);
    if (eocd < 0)
        return lx_error_set(err, "not a zip file: no end-of-central-directory record in "
                                 "the last %zu bytes", size < 65557 ? size : (size_t)65557);
    const uint8_t *e = b + eocd;
    uint64_t count = lx_rd_u16(e + 10), cd_size = lx_rd_u32(e + 12), cd_off = lx_rd_u32(e + 16);
    if (lx_rd_u16(e + 4) != 0 && lx_rd_u16(e + 4) != 0xFFFF)
        return lx_error_set(err, "multi-disk zip archives are not supported (disk %u)",
                            lx_rd_u16(e + 4));
    uint64_t cd_limit = (uint64_t)eocd;   /* the central directory ends before this */
    if (eocd >= 20 && lx_rd_u32(b + eocd - 20) == SIG_LOC64) {
        uint64_t off64 = lx_rd_u64(b + eocd - 20 + 8);
        if (off64 > (uint64_t)eocd - 20 || (uint64_t)eocd - 20 - off64 < 56)
            return lx_error_set(err, "bad zip64 end-of-central-directory locator: record "
                                     "offset %llu, expected below %lld",
                                (unsigned long long)off64, (long long)eocd - 76);
        const uint8_t *r = b + off64;
        if (lx_rd_u32(r) != SIG_EOCD64)
            return lx_error_set(err, "bad zip64 end-of-central-directory record at offset "
                                     "%llu: wrong signature", (unsigned long long)off64);
        uint64_t c64 = lx_rd_u64(r + 32), s64 = lx_rd_u64(r + 40), o64 = lx_rd_u64(r + 48);
        /* The 32-bit fields hold either the 0xFF.. marker or the same value. */
        if ((count != 0xFFFF && count != c64) || (cd_size != 0xFFFFFFFFu && cd_size != s64) ||
            (cd_off != 0xFFFFFFFFu && cd_off != o64))
            return lx_error_set(err, "bad zip central directory: the end records disagree "
                                     "(%llu entries, %llu bytes at %llu; zip64: %llu entries, "
                                     "%llu bytes at %llu)", (unsigned long long)count,
                                (unsigned long long)cd_size, (unsigned long long)cd_off,
                                (unsigned long long)c64, (unsigned long long)s64,
                                (unsigned long long)o64);
        count = c64;
        cd_size = s64;
        cd_off = o64;
        cd_limit = off64;
    } else if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        return lx_error_set(err, "zip needs zip64 records but has no zip64 locator");
    }
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
        return lx_error_set(err, "bad zip central directory: %llu bytes at offset %llu, but "
                                 "it must end by offset %llu",
                            (unsigned long long)cd_size, (unsigned long long)cd_off,
                            (unsigned long long)cd_limit);
    if (count > cd_size / 46)
        return lx_error_set(err, "bad zip central directory: %llu entries cannot fit in "
                                 "%llu bytes", (unsigned long long)count,
                            (unsigned long long)cd_size);
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    if (!z->entries) return lx_error_set(err, "out of memory for %llu zip entries",
                                         (unsigned long long)count);
    const uint8_t *p = b + cd_off, *end = b + cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || lx_rd_u32(p) != SIG_CENTRAL) {
            lx_error_set(err, "bad zip central directory: entry %llu of %llu at offset %llu "
                              "is not a central directory header",
                         (unsigned long long)i, (unsigned long long)count,
                         (unsigned long long)(p - b));
            goto fail;
        }
        uint16_t flags = lx_rd_u16(p + 8), method = lx_rd_u16(p + 10);
        uint64_t csize = lx_rd_u32(p + 20), usize = lx_rd_u32(p + 24), lho = lx_rd_u32(p + 42);
        size_t nlen = lx_rd_u16(p + 28), xlen = lx_rd_u16(p + 30), clen = lx_rd_u16(p + 32);
        if ((size_t)(end - p) - 46 < nlen + xlen + clen) {
            lx_error_set(err, "bad zip central directory: entry %llu overruns the directory",
                         (unsigned long long)i);
            goto fail;
        }
        const uint8_t *name = p + 46;
        if (memchr(name, 0, nlen)) {
            lx_error_set(err, "bad zip central directory: entry %llu has a NUL in its name",
                         (unsigned long long)i);
            goto fail;
        }
        lx_zip_entry *ze = &z->entries[z->n];
        ze->name = malloc(nlen + 1);
        if (!ze->name) { lx_error_set(err, "out of memory"); goto fail; }
        memcpy(ze->name, name, nlen);
        ze->name[nlen] = 0;
        z->n++;
        int nu = usize == 0xFFFFFFFFu, nc = csize == 0xFFFFFFFFu, no = lho == 0xFFFFFFFFu;
        if ((nu || nc || no) &&
            read_zip64_extra(name + nlen, xlen, &usize, &csize, &lho, nu, nc, no) < 0) {
            lx_error_set(err, "zip entry %s: 64-bit sizes announced but no valid zip64 "
                              "extra field", ze->name);
            goto fail;
        }
        if (flags & 1) {
            lx_error_set(err, "zip entry %s is encrypted", ze->name);
            goto fail;
        }
        if (method == 0 && csize != usize) {
            lx_error_set(err, "zip entry %s: stored, but its sizes differ (%llu compressed, "
                              "%llu uncompressed)", ze->name, (unsigned long long)csize,
                         (unsigned long long)usize);
            goto fail;
        }
        /* The local header: its own name/extra lengths say where the data starts. */
        if (lho > size || size - lho < 30 || lx_rd_u32(b + lho) != SIG_LOCAL) {
            lx_error_set(err, "zip entry %s: no local header at offset %llu (file is %zu "
                              "bytes)", ze->name, (unsigned long long)lho, size);
            goto fail;
        }
        uint64_t data = lho + 30 + lx_rd_u16(b + lho + 26) + lx_rd_u16(b + lho + 28);
        if (data > size || csize > size - data) {
            lx_error_set(err, "zip entry %s: %llu bytes of data at offset %llu run past the "
                              "end of the file (%zu bytes)", ze->name,
                         (unsigned long long)csize, (unsigned long long)data, size);
            goto fail;
        }
        ze->data_off = data;
        ze->csize = csize;
        ze->usize = usize;
        ze->crc = lx_rd_u32(p + 16);
        ze->method = method;
        p += 46 + nlen + xlen + clen;
    }
    qsort(z->entries, z->n, sizeof *z->entries, cmp_entry);
    for (size_t i = 1; i < z->n; i++)
        if (strcmp(z->entries[i - 1].name, z->entries[i].name) == 0) {
            lx_error_set(err, "bad zip central directory: entry %s appears twice",
                         z->entries[i].name);
            goto fail;
        }
    return 0;
fail:
    lx_zip_close(z);
    return -1;
}

void lx_zip_close(lx_zip *z) {
    for (size_t i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    z->entries = NULL;
    z->n = 0;
}

const lx_zip_entry *lx_zip_find(const lx_zip *z, const char *name) {
    lx_zip_entry key = {.name = (char *)name};
    if (!z->n) return NULL;
    return bsearch(&key, z->entries, z->n, sizeof key, cmp_entry);
}

/* Inflate the raw deflate stream of e, keeping its first `want` bytes (want <= usize) in
 * a fresh buffer.  The rest of the stream is inflated through a small window only to
 * check its length and CRC-32, so memory never exceeds what the caller wants whatever
 * the entry declares; when only a part is wanted and no CRC check, inflating stops once
 * `want` bytes are kept. */
static int inflate_entry(const lx_zip *z, const lx_zip_entry *e, uint64_t want, int check_crc,
                         void **out, lx_error *err) {
    uint8_t *buf = lx_aligned_alloc(want ? want : 1);
    if (!buf) return lx_error_set(err, "zip entry %s: out of memory for %llu bytes", e->name,
                                  (unsigned long long)want);
    /* The stream is followed to its end (to check its size, and its CRC-32 if asked)
     * unless the caller wants only a part and no CRC. */
    uint64_t wsize = e->usize - want + 1;
    if (wsize > (1 << 18)) wsize = 1 << 18;
    uint8_t *window = check_crc || want == e->usize ? malloc(wsize) : NULL;
    if ((check_crc || want == e->usize) && !window) {
        free(buf);
        return lx_error_set(err, "zip entry %s: out of memory", e->name);
    }
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
        free(buf);
        free(window);
        return lx_error_set(err, "zip entry %s: zlib initialisation failed", e->name);
    }
    const uint8_t *in = z->base + e->data_off;
    uint64_t in_left = e->csize, total = 0;   /* total: bytes inflated so far */
    uint32_t crc = 0;
    const uInt chunk = 1u << 30;
    int rc = Z_OK;
    for (;;) {
        if (s.avail_in == 0 && in_left) {
            s.next_in = (Bytef *)in;
            s.avail_in = in_left > chunk ? chunk : (uInt)in_left;
            in += s.avail_in;
            in_left -= s.avail_in;
        }
        if (total < want) {              /* into the buffer */
            s.next_out = buf + total;
            s.avail_out = want - total > chunk ? chunk : (uInt)(want - total);
        } else if (window) {             /* past it: one byte more than declared is
                                            enough to see a stream that is too long */
            uint64_t room = e->usize - total + 1;
            s.next_out = window;
            s.avail_out = room > wsize ? (uInt)wsize : (uInt)room;
        } else {
            break;                       /* the caller has all it asked for */
        }
        uInt ai = s.avail_in, ao = s.avail_out;
        uint8_t *from = s.next_out;
        rc = inflate(&s, Z_NO_FLUSH);
        uInt made = ao - s.avail_out;
        if (check_crc) crc = (uint32_t)crc32_z(crc, from, made);
        total += made;
        if (rc != Z_OK || total > e->usize || (ai == s.avail_in && made == 0)) break;
    }
    inflateEnd(&s);
    free(window);
    const char *bad = NULL;
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR)
        bad = rc == Z_MEM_ERROR ? "out of memory in zlib" : "corrupt deflate data";
    if (bad) {
        free(buf);
        return lx_error_set(err, "zip entry %s: %s", e->name, bad);
    }
    if (total > e->usize) {
        free(buf);
        return lx_error_set(err, "zip entry %s: deflate data inflates to more than the %llu "
                                 "bytes the directory declares", e->name,
                            (unsigned long long)e->usize);
    }
    if (rc == Z_STREAM_END && total < e->usize) {
        free(buf);
        return lx_error_set(err, "zip entry %s: inflates to %llu bytes, expected %llu",
                            e->name, (unsigned long long)total, (unsigned long long)e->usize);
    }
    if (rc != Z_STREAM_END && (window || total < want)) {
        free(buf);
        return lx_error_set(err, "zip entry %s: deflate data ends early (%llu of %llu bytes)",
                            e->name, (unsigned long long)total, (unsigned long long)e->usize);
    }
    if (check_crc && total == e->usize && crc != e->crc) {
        free(buf);
        return lx_error_set(err, "zip entry %s: CRC-32 is %08x, the directory says %08x",
                            e->name, crc, e->crc);
    }
    *out = buf;
    return 0;
}

int lx_zip_read_part(const lx_zip *z, const lx_zip_entry *e, uint64_t want, int check_crc,
                     const void **data, void **owned, lx_error *err) {
    *data = NULL;
    *owned = NULL;
    if (want > e->usize) want = e->usize;
    if (e->method == 0) {
        *data = z->base + e->data_off;
        if (check_crc) {
            uint32_t c = (uint32_t)crc32_z(0, *data, (z_size_t)e->usize);
            if (c != e->crc) {
                *data = NULL;
                return lx_error_set(err, "zip entry %s: CRC-32 is %08x, the directory says "
                                         "%08x", e->name, c, e->crc);
            }
        }
        return 0;
    }
    if (e->method != 8)
        return lx_error_set(err, "zip entry %s: compression method %u is not supported "
                                 "(expected 0, stored, or 8, deflate)", e->name, e->method);
    /* Deflate cannot expand beyond ~1032:1; a larger claim is a lie, refuse it before
     * allocating. */
    if (e->usize / 1032 > e->csize + 1)
        return lx_error_set(err, "zip entry %s: %llu compressed bytes cannot inflate to %llu",
                            e->name, (unsigned long long)e->csize,
                            (unsigned long long)e->usize);
    if (inflate_entry(z, e, want, check_crc, owned, err) < 0) return -1;
    *data = *owned;
    return 0;
}

int lx_zip_read(const lx_zip *z, const lx_zip_entry *e, uint64_t max_size, int check_crc,
                const void **data, void **owned, lx_error *err) {
    *data = NULL;
    *owned = NULL;
    if (e->usize > max_size)
        return lx_error_set(err, "zip entry %s: %llu bytes, more than the %llu accepted",
                            e->name, (unsigned long long)e->usize,
                            (unsigned long long)max_size);
    return lx_zip_read_part(z, e, e->usize, check_crc, data, owned, err);
}
