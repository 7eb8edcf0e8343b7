/*
 * file.c — reading a user's file without surprises (internal.h): what every reader of a
 * model, checkpoint or index file does before it looks at a byte.
 *
 * The path is opened non-blocking and must be a regular file, so a FIFO or a device
 * given by mistake neither hangs the tool nor is read; its size is checked against the
 * least the format needs before anything is mapped (or, for a small text file, at most
 * what it may hold before it is read).  And the check that the tensors a file's header
 * places in it do not overlap.
 */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

/* path opened non-blocking, checked to be a regular file: its descriptor (*st filled),
 * or -1 with err set. */
static int open_regular(const char *path, struct stat *st, lx_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return lx_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, st) < 0)
        lx_error_set(err, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st->st_mode))
        lx_error_set(err, "%s: not a regular file", path);
    else
        return fd;
    close(fd);
    return -1;
}

void *lx_file_map(const char *path, size_t min, const char *what, size_t *len, int *fd_out,
                  lx_error *err) {
    struct stat st;
    int fd = open_regular(path, &st, err);
    void *map = NULL;
    if (fd < 0) return NULL;
    if ((uint64_t)st.st_size < min || (uint64_t)st.st_size > SIZE_MAX)
        lx_error_set(err, "%s: not %s: %llu bytes is too short", path, what,
                     (unsigned long long)st.st_size);
    else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
        map = NULL, lx_error_set(err, "%s: %s: %s", path, errno == ENOMEM
                                 ? "out of memory (address space) mapping it" : "cannot map",
                                 strerror(errno));
    else
        *len = (size_t)st.st_size;
    if (map && fd_out) *fd_out = fd;
    else close(fd);
    return map;
}

char *lx_file_read(const char *path, size_t max, const char *what, size_t *len,
                   lx_error *err) {
    struct stat st;
    int fd = open_regular(path, &st, err);
    if (fd < 0) return NULL;
    if ((uint64_t)st.st_size > max) {
        close(fd);
        lx_error_set(err, "%s: %llu bytes, more than %s may have (%zu)", path,
                     (unsigned long long)st.st_size, what, max);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0; /* a byte more: a file that grew is seen */
    char *b = malloc(cap);
    ssize_t k = 1;
    while (b && n < cap && (k = read(fd, b + n, cap - n)) != 0) {
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) break;
        n += (size_t)k;
    }
    if (!b) lx_error_set(err, "out of memory");
    else if (k < 0) lx_error_set(err, "%s: cannot read: %s", path, strerror(errno));
    else if (n == cap) lx_error_set(err, "%s: grew while it was read", path);
    if (b && (k < 0 || n == cap)) {
        free(b);
        b = NULL;
    }
    close(fd);
    if (b) {
        b[n] = 0;
        *len = n;
    }
    return b;
}

static int span_cmp(const void *a, const void *b) {
    const lx_span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

int lx_spans_disjoint(lx_span *sp, size_t n, lx_error *err) {
    /* Sorted by begin, a non-empty span must start at or after the furthest end of the
     * non-empty spans before it (empty ones overlap nothing). */
    qsort(sp, n, sizeof *sp, span_cmp);
    const lx_span *far = NULL;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].end == sp[i].begin) continue;
        if (far && sp[i].begin < far->end)
            return lx_error_set(err, "tensors '%s' and '%s' overlap (bytes %llu..%llu and "
                                     "%llu..%llu)", far->name, sp[i].name,
                                (unsigned long long)far->begin, (unsigned long long)far->end,
                                (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end);
        if (!far || sp[i].end > far->end) far = &sp[i];
    }
    return 0;
}
