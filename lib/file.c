/*
 * file.c — reading and writing a user's files without surprises: what every reader of a
 * model, checkpoint, index or side file does before it looks at a byte, and the one way
 * lx writes a file.
 *
 * Reading.  A path is opened non-blocking and must be a regular file, so a FIFO or a
 * device given by mistake neither hangs the tool nor is read; its size is checked
 * against the least the format needs before anything is mapped (or, for a small text
 * file, at most what it may hold before it is read).  And the check that the tensors a
 * file's header places in it do not overlap.
 *
 * Writing (lx_outfile, lx.h).  A file is written to a temporary beside its target,
 * TARGET.tmpXXXXXX, and renamed over the target only once it is whole and on disk
 * (fsync), so the old file stays intact until then and is never truncated in place.  The
 * target is refused when it exists and is not a regular file (a rename would replace a
 * device node or a FIFO), when it is a file this process has mapped (the source of a
 * conversion) or one of its standard streams.  A symbolic link is followed: the file it
 * names is replaced, the link stays.
 *
 * Process-wide state.  The library otherwise keeps none; two small tables here are the
 * exception, because a signal handler can reach nothing else: the temporary files being
 * written (so that SIGINT, SIGTERM or SIGHUP can remove them: lx_file_signal_cleanup) and
 * the files mapped (so that a SIGBUS from a file truncated under its mapping can be told
 * from a bug: lx_file_mapped_at).  Both are fixed arrays of slots claimed and released
 * with atomic operations, read by the handlers with atomic loads only; when a table is
 * full a file is simply not registered (and loses only that protection).
 *
 * A process killed with SIGKILL runs no handler: its temporary stays.  The writer holds
 * an flock on its temporary while it lives, so the next write to the same target removes
 * temporaries that no process holds and that have not been written to for a minute.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

/* ---- the tables the signal handlers read --------------------------------------------- */

enum { SLOT_FREE, SLOT_BUSY, SLOT_LIVE };

/* A file lx has mapped: its range, and what it was when mapped (kept open to fstat). */
typedef struct map_slot {
    atomic_int state;
    uintptr_t begin, end;
    int fd;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char path[1024];              /* for messages: cut if longer */
} map_slot;

/* A temporary file being written: its name (the mkstemp template until it is made). */
typedef struct tmp_slot {
    atomic_int state;
    char path[PATH_MAX];
} tmp_slot;

enum { MAX_MAPS = 64, MAX_TMPS = 16 };
static map_slot maps[MAX_MAPS];
static tmp_slot tmps[MAX_TMPS];

/* Claim a free slot of a table: its state becomes SLOT_BUSY. */
#define CLAIM(table, n, out)                                                           \
    do {                                                                               \
        (out) = NULL;                                                                  \
        for (size_t i_ = 0; i_ < (n) && !(out); i_++) {                                \
            int free_ = SLOT_FREE;                                                     \
            if (atomic_compare_exchange_strong(&(table)[i_].state, &free_, SLOT_BUSY)) \
                (out) = &(table)[i_];                                                  \
        }                                                                              \
    } while (0)

void lx_file_signal_cleanup(void) {
    for (size_t i = 0; i < MAX_TMPS; i++)
        if (atomic_load(&tmps[i].state) == SLOT_LIVE) unlink(tmps[i].path);
}

const char *lx_file_mapped_at(const void *addr) {
    uintptr_t a = (uintptr_t)addr;
    for (size_t i = 0; i < MAX_MAPS; i++)
        if (atomic_load(&maps[i].state) == SLOT_LIVE && a >= maps[i].begin && a < maps[i].end)
            return maps[i].path;
    return NULL;
}

/* Register map [0, len) of the file open on fd (fd is kept: dup'd). */
static void map_register(void *map, size_t len, int fd, const struct stat *st,
                         const char *path) {
    map_slot *s;
    CLAIM(maps, MAX_MAPS, s);
    if (!s) return;
    s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    s->begin = (uintptr_t)map;
    s->end = (uintptr_t)map + len;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
    snprintf(s->path, sizeof s->path, "%s", path);
    atomic_store(&s->state, SLOT_LIVE);
}

static int mapped_inode(dev_t dev, ino_t ino) {
    for (size_t i = 0; i < MAX_MAPS; i++)
        if (atomic_load(&maps[i].state) == SLOT_LIVE && maps[i].dev == dev &&
            maps[i].ino == ino)
            return 1;
    return 0;
}

int lx_file_check_mapped(lx_error *err) {
    int n = 0;
    for (size_t i = 0; i < MAX_MAPS; i++) {
        map_slot *s = &maps[i];
        if (atomic_load(&s->state) != SLOT_LIVE) continue;
        n++;
        struct stat st;
        if (s->fd < 0 || fstat(s->fd, &st) < 0) continue;
        if (st.st_size != s->size || st.st_mtim.tv_sec != s->mtime.tv_sec ||
            st.st_mtim.tv_nsec != s->mtime.tv_nsec)
            return lx_error_set(err, "%s changed or truncated while in use; %s", s->path,
                                LX_FILE_REPLACE_HINT);
    }
    return n;
}

/* ---- reading ------------------------------------------------------------------------- */

int lx_file_open(const char *path, struct stat *st, lx_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        lx_error_set(err, "%s: cannot open: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, st) < 0)
        lx_error_set(err, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st->st_mode))
        lx_error_set(err, "%s: not a regular file", path);
    else
        return fd;
    close(fd);
    errno = 0;
    return -1;
}

void *lx_file_map(const char *path, size_t min, const char *what, size_t *len, int *fd_out,
                  lx_error *err) {
    struct stat st;
    int fd = lx_file_open(path, &st, err);
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
    if (map) map_register(map, *len, fd, &st, path);
    if (map && fd_out) *fd_out = fd;
    else close(fd);
    return map;
}

void lx_file_unmap(void *map, size_t len) {
    if (!map) return;
    for (size_t i = 0; i < MAX_MAPS; i++) {
        map_slot *s = &maps[i];
        int live = SLOT_LIVE;
        if (s->begin != (uintptr_t)map || atomic_load(&s->state) != SLOT_LIVE ||
            !atomic_compare_exchange_strong(&s->state, &live, SLOT_BUSY))
            continue;
        if (s->fd >= 0) close(s->fd);
        s->begin = s->end = 0;
        atomic_store(&s->state, SLOT_FREE);
        break;
    }
    munmap(map, len);
}

char *lx_file_read(const char *path, size_t max, const char *what, size_t *len,
                   lx_error *err) {
    struct stat st;
    int fd = lx_file_open(path, &st, err);
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

FILE *lx_file_fopen(const char *path, lx_error *err) {
    struct stat st;
    int fd = lx_file_open(path, &st, err);
    if (fd < 0) return NULL;
    /* back to blocking reads: a regular file never blocks, but stdio need not know */
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        lx_error_set(err, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

json_t *lx_json_read_file(const char *path, size_t max, size_t flags, lx_error *err) {
    size_t len;
    char *text = lx_file_read(path, max, "a JSON file of lx's", &len, err);
    if (!text) return NULL;
    json_error_t je;
    json_t *j = json_loadb(text, len, flags, &je);
    free(text);
    if (!j) lx_error_set(err, "%s: not valid JSON: %s (line %d)", path, je.text, je.line);
    return j;
}

int lx_file_same(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* ---- writing ------------------------------------------------------------------------- */

struct lx_outfile {
    char *target;                 /* the file to replace (a symbolic link resolved) */
    const char *shown;            /* the path as given, for messages */
    char *tmp;                    /* the temporary's name (in slot, or own) */
    tmp_slot *slot;               /* its registration (NULL: the table was full) */
    int fd, lock_fd;              /* the temporary; a second descriptor holding its flock */
    int made;                     /* the temporary exists (until renamed) */
    mode_t mode;
};

/* Temporaries of target left by killed writers: "BASE.tmpXXXXXX" in its folder, ours,
 * held by no process (no flock) and not written to for STALE_SECONDS. */
enum { STALE_SECONDS = 60 };

static int tmp_suffix(const char *s) {
    if (strncmp(s, ".tmp", 4) != 0) return 0;
    s += 4;
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    return n == 6 && s[6] == '\0';
}

static void remove_stale(const char *target) {
    const char *sl = strrchr(target, '/');
    const char *base = sl ? sl + 1 : target;
    size_t blen = strlen(base);
    char *dir = sl ? strndup(target, sl == target ? 1 : (size_t)(sl - target)) : strdup(".");
    if (!dir) return;
    DIR *dd = opendir(dir);
    free(dir);
    if (!dd) return;
    int dfd = dirfd(dd);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (strncmp(e->d_name, base, blen) != 0 || !tmp_suffix(e->d_name + blen)) continue;
        int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st, again;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            now.tv_sec - st.st_mtim.tv_sec > STALE_SECONDS &&
            flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            fstatat(dfd, e->d_name, &again, AT_SYMLINK_NOFOLLOW) == 0 &&
            again.st_dev == st.st_dev && again.st_ino == st.st_ino)
            unlinkat(dfd, e->d_name, 0);
        close(fd);
    }
    closedir(dd);
}

/* The file a write to path replaces: path, or what its symbolic link names.  malloc'd,
 * or NULL with err set. */
static char *resolve_target(const char *path, lx_error *err) {
    struct stat st;
    char *t;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (!(t = realpath(path, NULL)))
            lx_error_set(err, "%s: a symbolic link to nothing that can be written (%s)", path,
                         strerror(errno));
        return t;
    }
    if (!(t = strdup(path))) lx_error_set(err, "out of memory");
    return t;
}

/* Refuse a target that exists and must not be replaced; *mode gets the new file's mode. */
static int check_target(const char *shown, const char *target, mode_t *mode, lx_error *err) {
    struct stat st;
    if (stat(target, &st) < 0) {
        if (errno != ENOENT)
            return lx_error_set(err, "cannot write %s: %s", shown, strerror(errno));
        mode_t um = umask(0);
        umask(um);
        *mode = 0666 & ~um;
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return lx_error_set(err, "cannot write %s: not a regular file (lx writes a new file "
                                 "and renames it into place, which would replace it)", shown);
    if (mapped_inode(st.st_dev, st.st_ino))
        return lx_error_set(err, "cannot write %s: it is a file this run is reading (the "
                                 "source); write to another file", shown);
    for (int fd = 0; fd <= 2; fd++) {
        struct stat ss;
        if (fstat(fd, &ss) == 0 && ss.st_dev == st.st_dev && ss.st_ino == st.st_ino)
            return lx_error_set(err, "cannot write %s: it is this run's standard %s; write to "
                                     "another file", shown, fd == 0 ? "input" : fd == 1
                                                                ? "output" : "error");
    }
    if (faccessat(AT_FDCWD, target, W_OK, AT_EACCESS) < 0)
        return lx_error_set(err, "cannot write %s: %s", shown, strerror(errno));
    *mode = st.st_mode & 0777;
    return 0;
}

lx_outfile *lx_outfile_open(const char *path, lx_error *err) {
    lx_outfile *f = calloc(1, sizeof *f);
    if (!f) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    f->shown = path;
    f->fd = f->lock_fd = -1;
    if (!(f->target = resolve_target(path, err)) ||
        check_target(path, f->target, &f->mode, err) < 0)
        goto fail;
    size_t need = strlen(f->target) + sizeof ".tmpXXXXXX";
    remove_stale(f->target);
    CLAIM(tmps, MAX_TMPS, f->slot);
    if (f->slot && need <= sizeof f->slot->path) {
        f->tmp = f->slot->path;
        /* live from here: a signal removes whatever name the slot holds by then */
        snprintf(f->tmp, need, "%s.tmpXXXXXX", f->target);
        atomic_store(&f->slot->state, SLOT_LIVE);
    } else {
        if (f->slot) atomic_store(&f->slot->state, SLOT_FREE);
        f->slot = NULL;
        if (!(f->tmp = malloc(need))) {
            lx_error_set(err, "out of memory");
            goto fail;
        }
        snprintf(f->tmp, need, "%s.tmpXXXXXX", f->target);
    }
    if ((f->fd = mkostemp(f->tmp, O_CLOEXEC)) < 0) {
        lx_error_set(err, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    f->made = 1;
    if (fchmod(f->fd, f->mode) < 0) {
        lx_error_set(err, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    /* held until the rename: the mark of a live writer (see remove_stale) */
    f->lock_fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
    if (f->lock_fd >= 0) (void)flock(f->lock_fd, LOCK_EX | LOCK_NB);
    return f;
fail:
    lx_outfile_abort(f);
    return NULL;
}

int lx_outfile_fd(const lx_outfile *f) { return f->fd; }

int lx_outfile_write(lx_outfile *f, const void *p, size_t n, lx_error *err) {
    const char *b = p;
    while (n) {
        ssize_t w = write(f->fd, b, n > (1u << 30) ? 1u << 30 : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return lx_error_set(err, "%s: write failed: %s", f->shown, strerror(errno));
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Release f's slot and memory (the temporary already renamed or removed). */
static void release(lx_outfile *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->lock_fd >= 0) close(f->lock_fd);
    if (f->slot) atomic_store(&f->slot->state, SLOT_FREE);
    else free(f->tmp);
    free(f->target);
    free(f);
}

int lx_outfile_commit(lx_outfile *f, lx_error *err) {
    if (!f) return lx_error_set(err, "no file being written");
    int rc = 0;
    if (fsync(f->fd) < 0 || close(f->fd) < 0) {
        f->fd = -1;
        rc = lx_error_set(err, "%s: write failed: %s", f->shown, strerror(errno));
    }
    f->fd = -1;
    if (rc == 0 && rename(f->tmp, f->target) < 0)
        rc = lx_error_set(err, "cannot write %s: %s", f->shown, strerror(errno));
    else if (rc == 0)
        f->made = 0;
    if (rc < 0) {
        lx_outfile_abort(f);
        return -1;
    }
    /* the rename on disk too (no error: the file is in place either way) */
    const char *sl = strrchr(f->target, '/');
    char *dir = sl ? strndup(f->target, sl == f->target ? 1 : (size_t)(sl - f->target))
                   : strdup(".");
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dir);
    release(f);
    return 0;
}

void lx_outfile_abort(lx_outfile *f) {
    if (!f) return;
    if (f->made) unlink(f->tmp);
    release(f);
}

/* ---- spans ----------------------------------------------------------------------------- */

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
