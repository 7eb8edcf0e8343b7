/*
 * lxmset — overwrite one value of a tensor of a .lxm file in place, for tests of what lx
 * does with weights lx-convert refuses to write (a weight that is not finite, or one too
 * large for the network):
 *
 *   lxmset MODEL.lxm TENSOR INDEX VALUE
 *
 * INDEX is the flat index of the element, VALUE a number as strtof reads it ("inf",
 * "-inf", "nan", "1e30"), stored in the tensor's dtype (f32, f16 or bf16; rounded as
 * lx-convert rounds).  The tensor's CRC-32 in the header (and the header's own) are
 * rewritten to match, so the model is what a writer that did not check its values would
 * have written; with --keep-crc only the data changes, and the model is corrupt (what
 * `lx-convert --verify`, and lx-convert reading it, report).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "bytes.h"

__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lxmset: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* crc32 of n bytes of fd at off. */
static int file_crc(int fd, uint64_t off, uint64_t n, uint32_t *crc) {
    unsigned char buf[1 << 16];
    uLong c = crc32(0, NULL, 0);
    while (n > 0) {
        size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
        if (pread(fd, buf, k, (off_t)off) != (ssize_t)k) return -1;
        c = crc32(c, buf, (uInt)k);
        off += k, n -= k;
    }
    *crc = (uint32_t)c;
    return 0;
}

/* Rewrite the CRC-32 of tensor name in the header text h[0..hlen) (the digits after its
 * "crc32":, the header's padding spaces taking up a change of length) and the header's
 * own CRC-32 at offset 12. */
static int fix_crc(int fd, char *h, uint64_t hlen, const char *name, uint32_t crc) {
    char key[512], num[16];
    snprintf(key, sizeof key, "{\"name\":\"%s\",", name);
    char *e = strstr(h, key), *c = e ? strstr(e, "\"crc32\":") : NULL;
    if (!c) return die("no \"crc32\" for %s in the header", name);
    c += 8;
    size_t old = strspn(c, "0123456789"), k = (size_t)snprintf(num, sizeof num, "%u", crc);
    size_t tail = hlen - (size_t)(c + old - h), pad = 0;
    while (pad < tail && c[old + tail - 1 - pad] == ' ') pad++;
    if (k > old + pad) return die("no room in the header for a longer CRC");
    memmove(c + k, c + old, tail - (k > old ? k - old : 0));
    if (k < old) memset(h + hlen - (old - k), ' ', old - k);
    memcpy(c, num, k);
    unsigned char hc[4];
    lx_wr_u32(hc, (uint32_t)crc32(crc32(0, NULL, 0), (const unsigned char *)h, (uInt)hlen));
    if (pwrite(fd, h, hlen, 40) != (ssize_t)hlen || pwrite(fd, hc, 4, 12) != 4)
        return die("cannot rewrite the header: %s", strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
    int keep_crc = argc > 1 && strcmp(argv[1], "--keep-crc") == 0;
    argc -= keep_crc, argv += keep_crc;
    if (argc != 5) {
        fputs("Usage: lxmset [--keep-crc] MODEL.lxm TENSOR INDEX VALUE\n", stderr);
        return 2;
    }
    const char *path = argv[1], *name = argv[2];
    char *end;
    errno = 0;
    unsigned long long idx = strtoull(argv[3], &end, 10);
    if (errno || *end || end == argv[3]) return die("INDEX: got '%s'", argv[3]);
    float v = strtof(argv[4], &end);
    if (*end || end == argv[4]) return die("VALUE: got '%s'", argv[4]);

    int fd = open(path, O_RDWR);
    if (fd < 0) return die("%s: %s", path, strerror(errno));
    unsigned char pre[40];
    if (pread(fd, pre, sizeof pre, 0) != (ssize_t)sizeof pre || memcmp(pre + 1, "LXM", 3) != 0)
        return die("%s: not a .lxm file", path);
    uint64_t hlen = lx_rd_u64(pre + 16), doff = lx_rd_u64(pre + 24);
    if (hlen > (256u << 20)) return die("%s: header too large", path);
    char *h = malloc(hlen + 1);
    if (!h || pread(fd, h, hlen, 40) != (ssize_t)hlen)
        return die("%s: cannot read the header", path);
    h[hlen] = '\0';
    json_error_t je;
    json_t *hdr = json_loadb(h, hlen, JSON_DISABLE_EOF_CHECK, &je);
    if (!hdr) return die("%s: bad header: %s", path, je.text);
    json_t *ts = json_object_get(hdr, "tensors"), *e = NULL;
    for (size_t i = 0; i < json_array_size(ts) && !e; i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(ts, i), "name")), name) == 0)
            e = json_array_get(ts, i);
    if (!e) return die("%s: no tensor %s", path, name);
    const char *dt = json_string_value(json_object_get(e, "dtype"));
    uint64_t off = (uint64_t)json_integer_value(json_object_get(e, "offset"));
    uint64_t nbytes = (uint64_t)json_integer_value(json_object_get(e, "nbytes"));
    unsigned char b[4];
    size_t size;
    if (strcmp(dt, "f32") == 0) {
        memcpy(b, &v, 4);
        size = 4;
    } else if (strcmp(dt, "f16") == 0 || strcmp(dt, "bf16") == 0) {
        uint16_t u = dt[0] == 'f' ? lx_f32_to_f16(v) : lx_f32_to_bf16(v);
        memcpy(b, &u, 2);
        size = 2;
    } else {
        return die("%s: tensor %s is not a float tensor", path, name);
    }
    if (idx >= nbytes / size) return die("INDEX %s: beyond tensor %s", argv[3], name);
    if (pwrite(fd, b, size, (off_t)(doff + off + idx * size)) != (ssize_t)size)
        return die("%s: write failed: %s", path, strerror(errno));
    uint32_t crc;
    if (!keep_crc && (file_crc(fd, doff + off, nbytes, &crc) < 0 ||
                      fix_crc(fd, h, hlen, name, crc) != 0))
        return die("%s: the CRC was not rewritten", path);
    if (close(fd) != 0) return die("%s: write failed: %s", path, strerror(errno));
    free(h);
    json_decref(hdr);
    return 0;
}
