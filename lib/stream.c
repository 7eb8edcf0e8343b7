/*
 * stream.c — lx_reader and lx_writer: sequences of records in either encoding.
 *
 * The reader looks at the first non-blank byte: '{' starts JSON values (one per line,
 * or pretty-printed: values are found by scanning brackets, not lines), '[' a JSON array
 * whose elements are the records (LXMERT's train.json), "LXRF" binary frames.  It never
 * holds more than one record: JSON text is scanned in a growing window that is
 * compacted between records; a frame is read into a buffer of its own, grown only as
 * bytes actually arrive, so a corrupt length cannot make it allocate memory the input
 * does not back.
 *
 * The input is read with read(2) on its descriptor, never through stdio: a read returns
 * what a pipe holds, so a record is returned as soon as its last byte arrives (fread
 * would wait until the whole window was filled or the writer closed the pipe).  Before
 * waiting for input that has not arrived the reader calls the caller's wait hook (a tool
 * flushes its output there).  A descriptor left non-blocking by whoever opened it
 * (EAGAIN) is waited on with poll(2).  A FILE with no descriptor (fmemopen) is read
 * through stdio.
 */
#include <errno.h>
#include <poll.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

#define CHUNK (1u << 16)
#define RECORD_MAX ((size_t)1 << 30)   /* one record's text or frame: 1 GiB at most */

struct lx_reader {
    FILE *f;
    int fd;                   /* f's descriptor, read with read(2); -1: read f with fread */
    int regular;              /* fd is a regular file: reads never wait, skips can seek */
    void (*wait)(void *);     /* called before waiting for input (lx_reader_set_wait) */
    void *wait_ctx;
    char *name;
    lx_format fmt;
    int array;                /* JSON array mode: inside the top-level [...] */
    int array_done;
    int dead;                 /* a frame error: cannot resume */
    int read_failed;          /* the input could not be read, or not held (also dead) */
    int eof;
    char *buf;                /* JSON window */
    size_t pos, len, cap;
    uint64_t recno, consumed;
    char *lines_field;        /* --lines: the field each line goes into */
};

lx_reader *lx_reader_open(FILE *f, const char *name, lx_error *err) {
    lx_reader *rd = calloc(1, sizeof *rd);
    if (!rd || !(rd->name = strdup(name ? name : "<stdin>"))) {
        free(rd);
        return lx_error_set(err, "out of memory"), NULL;
    }
    rd->f = f;
    rd->fd = fileno(f);
    struct stat st;
    rd->regular = rd->fd >= 0 && fstat(rd->fd, &st) == 0 && S_ISREG(st.st_mode);
    return rd;
}

void lx_reader_set_wait(lx_reader *rd, void (*fn)(void *ctx), void *ctx) {
    rd->wait = fn;
    rd->wait_ctx = ctx;
}

void lx_reader_close(lx_reader *rd) {
    if (!rd) return;
    free(rd->buf);
    free(rd->name);
    free(rd->lines_field);
    free(rd);
}

void lx_reader_set_lines(lx_reader *rd, const char *field) {
    free(rd->lines_field);
    rd->lines_field = field ? strdup(field) : NULL;
}

int lx_reader_can_resume(const lx_reader *rd) { return !rd->dead; }
uint64_t lx_reader_record_no(const lx_reader *rd) { return rd->recno; }
lx_format lx_reader_format(const lx_reader *rd) { return rd->fmt; }
uint64_t lx_reader_bytes(const lx_reader *rd) { return rd->consumed; }

/* A read error: the reader stops (reading again would fail again). */
static long read_error(lx_reader *rd, int e, lx_error *err) {
    rd->dead = rd->read_failed = 1;
    return lx_error_set(err, "read error: %s", strerror(e));
}

/* Tell the caller the reader is about to wait (errno kept for the read that follows). */
static void before_wait(lx_reader *rd) {
    int e = errno;
    rd->wait(rd->wait_ctx);
    errno = e;
}

/* Up to n bytes of input into buf: what the input holds now, waiting only when it holds
 * nothing.  Returns the bytes read, 0 at the end of the input, -1 on a read error
 * (message in err, the reader stops). */
static long input_read(lx_reader *rd, void *buf, size_t n, lx_error *err) {
    if (rd->fd < 0) { /* no descriptor (fmemopen, fopencookie): stdio is the only way */
        size_t k = fread(buf, 1, n, rd->f);
        if (k == 0 && ferror(rd->f)) return read_error(rd, errno, err);
        return (long)k;
    }
    if (n > (1u << 30)) n = 1u << 30;
    struct pollfd p = {.fd = rd->fd, .events = POLLIN};
    int told = 0;
    if (rd->wait && !rd->regular && poll(&p, 1, 0) == 0) { /* nothing to read yet */
        before_wait(rd);
        told = 1;
    }
    for (;;) {
        ssize_t k = read(rd->fd, buf, n);
        if (k >= 0) return (long)k;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return read_error(rd, errno, err);
        /* a non-blocking descriptor with nothing in it: wait until it has something */
        if (rd->wait && !told) before_wait(rd), told = 1;
        int r;
        while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR) {}
        if (r < 0) return read_error(rd, errno, err);
    }
}

/* Read more bytes into the window.  Returns bytes added, 0 at EOF, -1 on error. */
static long fill(lx_reader *rd, lx_error *err) {
    if (rd->eof) return 0;
    if (rd->pos > 0 && rd->pos == rd->len) rd->pos = rd->len = 0;
    if (rd->pos > rd->cap / 2) { /* compact: drop what earlier records used */
        memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
        rd->len -= rd->pos;
        rd->pos = 0;
    }
    if (rd->cap - rd->len < CHUNK) {
        if (rd->len - rd->pos > RECORD_MAX)
            return lx_error_set(err, "record is larger than %zu bytes", RECORD_MAX);
        size_t cap = rd->cap ? rd->cap * 2 : 4 * CHUNK;
        char *b = realloc(rd->buf, cap + 1);
        if (!b) {
            rd->dead = rd->read_failed = 1;
            return lx_error_set(err, "out of memory for a %zu-byte read buffer", cap + 1);
        }
        rd->buf = b;
        rd->cap = cap;
    }
    long n = input_read(rd, rd->buf + rd->len, rd->cap - rd->len, err);
    if (n <= 0) {
        if (n == 0) rd->eof = 1;
        return n;
    }
    rd->len += (size_t)n;
    return n;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Skip blanks; returns the next byte (not consumed) or -1 at EOF, -2 on error. */
static int peek(lx_reader *rd, lx_error *err) {
    for (;;) {
        while (rd->pos < rd->len && is_blank(rd->buf[rd->pos])) rd->pos++, rd->consumed++;
        if (rd->pos < rd->len) return (unsigned char)rd->buf[rd->pos];
        long n = fill(rd, err);
        if (n < 0) return -2;
        if (n == 0) return -1;
    }
}

/* Find the end of the JSON value starting at rd->pos ('{' or '['), filling as needed.
 * Returns its length, 0 if the input ended inside it, -1 on error. */
static long scan_value(lx_reader *rd, lx_error *err) {
    size_t i = rd->pos;
    int depth = 0, in_str = 0, esc = 0;
    for (;;) {
        for (; i < rd->len; i++) {
            char c = rd->buf[i];
            if (in_str) {
                if (esc) esc = 0;
                else if (c == '\\') esc = 1;
                else if (c == '"') in_str = 0;
                continue;
            }
            if (c == '"') in_str = 1;
            else if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) return (long)(i + 1 - rd->pos);
        }
        size_t off = i - rd->pos;
        long n = fill(rd, err);
        if (n < 0) return -1;
        if (n == 0) return 0;
        i = rd->pos + off;
    }
}

/* Skip to the end of the current line (after a garbage record). */
static void skip_line(lx_reader *rd, lx_error *err) {
    for (;;) {
        char *nl = memchr(rd->buf + rd->pos, '\n', rd->len - rd->pos);
        if (nl) {
            rd->consumed += (size_t)(nl + 1 - (rd->buf + rd->pos));
            rd->pos = (size_t)(nl + 1 - rd->buf);
            return;
        }
        rd->consumed += rd->len - rd->pos;
        rd->pos = rd->len;
        if (fill(rd, err) <= 0) return;
    }
}

/* 1 if the n-byte JSON value at rd->pos is alone on its line: no newline inside it and
 * only blanks after it up to the end of the line.  0 if not, -1 on a read error. */
static int alone_on_line(lx_reader *rd, size_t n, lx_error *err) {
    if (memchr(rd->buf + rd->pos, '\n', n)) return 0;
    for (size_t off = n;; off++) { /* offsets from rd->pos: fill may move the window */
        if (rd->pos + off == rd->len) {
            long got = fill(rd, err);
            if (got < 0) return -1;
            if (got == 0) return 1;
        }
        char c = rd->buf[rd->pos + off];
        if (c == '\n') return 1;
        if (!is_blank(c)) return 0;
    }
}

/* After a bad JSON value of n bytes (0: the input ended inside it): go on from the next
 * line, so that one broken line of a JSON lines file costs only that record (inside a
 * top-level array there is no such place).  A value alone on its line is stepped over
 * as a good one is, so that the reader stands where it would after a good record
 * (lx_reader_skip counts such values without parsing them). */
static int resync(lx_reader *rd, long n) {
    if (rd->array) {
        rd->dead = 1;
        return -1;
    }
    if (n > 0 && alone_on_line(rd, (size_t)n, NULL) == 1) {
        rd->pos += (size_t)n;
        rd->consumed += (uint64_t)n;
        return -1;
    }
    rd->pos++, rd->consumed++;
    skip_line(rd, NULL);
    return -1;
}

static int next_lines(lx_reader *rd, lx_record *r, lx_error *err) {
    size_t seen = 0; /* bytes after rd->pos known to hold no newline (fill may move them) */
    for (;;) {
        char *nl = rd->len > rd->pos + seen
                       ? memchr(rd->buf + rd->pos + seen, '\n', rd->len - rd->pos - seen) : NULL;
        seen = rd->len - rd->pos;
        if (nl || (rd->eof && rd->len > rd->pos)) {
            size_t n = nl ? (size_t)(nl - (rd->buf + rd->pos)) : rd->len - rd->pos;
            const char *s = rd->buf + rd->pos;
            rd->pos += n + (nl != NULL);
            rd->consumed += n + (nl != NULL);
            if (n && s[n - 1] == '\r') n--;
            rd->recno++;
            if (!r) return 1; /* lx_reader_skip */
            json_t *v = json_stringn(s, n);
            if (!v) return lx_error_set(err, "line is not valid UTF-8");
            return lx_record_set_json(r, rd->lines_field, v, err) < 0 ? -1 : 1;
        }
        long got = fill(rd, err);
        if (got < 0) return -1;
        if (got == 0 && rd->len == rd->pos) return 0;
    }
}

/* Whether the n bytes at text are a JSON object as lx_record_from_json parses them. */
static int json_valid(const char *text, size_t n) {
    json_error_t je;
    json_t *v = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    int ok = json_is_object(v);
    json_decref(v);
    return ok;
}

/* The next JSON record into r, or with r NULL (lx_reader_skip) stepped over: a value
 * inside a top-level array or alone on its line by its brackets (a bad one would have
 * stopped the reader, or the reader goes on at the next line either way); any other is
 * parsed, since where the reader goes on after it depends on whether it is valid. */
static int next_json(lx_reader *rd, lx_record *r, lx_error *err) {
    int c = peek(rd, err);
    if (c == -2) return -1;
    if (rd->array) {
        if (c == ',') {
            rd->pos++, rd->consumed++;
            c = peek(rd, err);
            if (c == -2) return -1;
        } else if (c == ']') {
            rd->pos++, rd->consumed++;
            rd->array = 0;
            rd->array_done = 1;
            c = peek(rd, err);
            if (c == -2) return -1;
        }
    }
    if (c == -1) {
        if (rd->array) {
            rd->recno++;
            rd->dead = 1;
            return lx_error_set(err, "input ends inside the top-level JSON array");
        }
        return 0;
    }
    rd->recno++;
    if (rd->array_done) {
        rd->dead = 1;
        return lx_error_set(err, "unexpected data after the top-level JSON array");
    }
    if (c != '{') {
        skip_line(rd, err);
        if (rd->array) rd->dead = 1;
        return lx_error_set(err, "expected a JSON object, found '%c'", c);
    }
    long n = scan_value(rd, err);
    if (n < 0) {
        rd->dead = 1;
        return -1;
    }
    if (n == 0) {
        lx_error_set(err, "input ends inside a JSON object");
        return resync(rd, 0);
    }
    if (!r) { /* lx_reader_skip: where the reader would go on, without decoding */
        int alone = rd->array ? 1 : alone_on_line(rd, (size_t)n, err);
        if (alone < 0) return rd->dead = 1, -1;
        if (!alone && !json_valid(rd->buf + rd->pos, (size_t)n)) return resync(rd, n);
    } else if (lx_record_from_json(r, rd->buf + rd->pos, (size_t)n, err) < 0) {
        return resync(rd, n);
    }
    rd->pos += (size_t)n;
    rd->consumed += (uint64_t)n;
    return 1;
}

/* lx_reader_skip: step over the rest of a frame of total bytes whose prefix was read:
 * what the window holds, then a seek when the input is a regular file that holds the
 * rest, else reads (a short input is a truncated frame, as for the reader). */
static int skip_frame(lx_reader *rd, uint64_t total, lx_error *err) {
    uint64_t have = LX_FRAME_PREFIX, left = total - have;
    size_t k = rd->len - rd->pos < left ? rd->len - rd->pos : (size_t)left;
    rd->pos += k, rd->consumed += k, have += k, left -= k;
    struct stat st;
    off_t at;
    if (left > 0 && rd->regular && fstat(rd->fd, &st) == 0 &&
        (at = lseek(rd->fd, 0, SEEK_CUR)) >= 0 && at <= st.st_size &&
        (uint64_t)(st.st_size - at) >= left && lseek(rd->fd, (off_t)left, SEEK_CUR) >= 0) {
        rd->consumed += left;
        return 1;
    }
    char tmp[1 << 14];
    while (left > 0) {
        long got = input_read(rd, tmp, left < sizeof tmp ? (size_t)left : sizeof tmp, err);
        if (got < 0) return -1;
        if (got == 0) {
            rd->dead = 1;
            return lx_error_set(err, "truncated frame: input ends after %llu of its %llu bytes",
                                (unsigned long long)have, (unsigned long long)total);
        }
        rd->consumed += (uint64_t)got, have += (uint64_t)got, left -= (uint64_t)got;
    }
    return 1;
}

/* The next frame into r, or with r NULL (lx_reader_skip) stepped over. */
static int next_frame(lx_reader *rd, lx_record *r, lx_error *err) {
    unsigned char pre[LX_FRAME_PREFIX];
    /* the prefix through the window, so that small frames come many to a read */
    while (rd->len - rd->pos < sizeof pre) {
        long k = fill(rd, err);
        if (k < 0) { /* the record that could not be read (none begun: next() counts it) */
            if (rd->len > rd->pos) rd->recno++, rd->consumed += rd->len - rd->pos;
            return -1;
        }
        if (k == 0) break;
    }
    size_t got = rd->len - rd->pos < sizeof pre ? rd->len - rd->pos : sizeof pre;
    if (got == 0) return 0;
    memcpy(pre, rd->buf + rd->pos, got);
    rd->pos += got;
    rd->recno++;
    rd->consumed += got;
    if (got < sizeof pre) {
        rd->dead = 1;
        return lx_error_set(err, "truncated frame: input ends after %zu bytes of its prefix", got);
    }
    uint64_t total;
    if (lx_frame_prefix(pre, &total, err) < 0) {
        rd->dead = 1;
        return -1;
    }
    if (total > RECORD_MAX * 16) {
        rd->dead = 1;
        return lx_error_set(err, "frame length %llu is beyond the %zu-byte limit",
                            (unsigned long long)total, RECORD_MAX * 16);
    }
    if (!r) return skip_frame(rd, total, err);
    /* grow the buffer as data arrives: a lying length cannot allocate what is not there */
    size_t cap = total < (1u << 20) ? (size_t)total : (1u << 20), have = sizeof pre;
    char *buf = lx_aligned_alloc(cap);
    if (!buf) return rd->dead = 1, lx_error_set(err, "out of memory for a %zu-byte frame", cap);
    memcpy(buf, pre, sizeof pre);
    while (have < total) {
        if (have == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : (size_t)total;
            char *nb = lx_aligned_alloc(ncap);
            if (!nb) {
                free(buf);
                return rd->dead = 1, lx_error_set(err, "out of memory for a %zu-byte frame",
                                                  ncap);
            }
            memcpy(nb, buf, have);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        size_t k;
        /* the rest of a small frame through the window (the frames after it come in the
         * same read), of a large one straight into its buffer */
        if (rd->pos == rd->len && total - have < 4 * CHUNK && fill(rd, err) < 0) {
            free(buf);
            return -1;
        }
        if (rd->pos < rd->len) {
            k = rd->len - rd->pos < cap - have ? rd->len - rd->pos : cap - have;
            memcpy(buf + have, rd->buf + rd->pos, k);
            rd->pos += k;
        } else if (rd->eof) {
            k = 0;
        } else {
            long got = input_read(rd, buf + have, cap - have, err);
            if (got < 0) {
                free(buf);
                return -1;
            }
            k = (size_t)got;
        }
        if (k == 0) {
            free(buf);
            rd->dead = 1;
            return lx_error_set(err, "truncated frame: input ends after %zu of its %llu bytes",
                                have, (unsigned long long)total);
        }
        have += k;
        rd->consumed += k;
    }
    if (lx_record_from_frame(r, buf, (size_t)total, err) < 0) {
        rd->dead = 1;
        return -1;
    }
    return 1;
}

static int read_next(lx_reader *rd, lx_record *r, lx_error *err);

/* The next record into r, or with r NULL stepped over (lx_reader_skip).  A read error
 * (or no memory for the bytes read) between records belongs to the record that could
 * not be read, so that it is not reported as the last good one, or as record 0. */
static int next(lx_reader *rd, lx_record *r, lx_error *err) {
    uint64_t before = rd->recno;
    int rc = read_next(rd, r, err);
    if (rc < 0 && rd->read_failed && rd->recno == before) rd->recno++;
    return rc;
}

static int read_next(lx_reader *rd, lx_record *r, lx_error *err) {
    if (rd->dead) return lx_error_set(err, "cannot read past an earlier bad frame");
    if (rd->lines_field) {
        rd->fmt = LX_FMT_JSON;
        return next_lines(rd, r, err);
    }
    if (rd->fmt == LX_FMT_AUTO) {
        int c = peek(rd, err);
        if (c == -2) return -1;
        if (c == -1) return 0;
        if (c == '{') {
            rd->fmt = LX_FMT_JSON;
        } else if (c == '[') {
            rd->fmt = LX_FMT_JSON;
            rd->array = 1;
            rd->pos++, rd->consumed++;
            c = peek(rd, err);
            if (c == ']') { /* an empty array */
                rd->pos++, rd->consumed++;
                rd->array = 0;
                rd->array_done = 1;
            }
        } else {
            while (rd->len - rd->pos < 4 && fill(rd, err) > 0) {}
            if (rd->len - rd->pos >= 4 && memcmp(rd->buf + rd->pos, "LXRF", 4) == 0) {
                rd->fmt = LX_FMT_BIN;
            } else {
                rd->recno++;
                rd->dead = 1;
                return lx_error_set(err, "not a record stream (expected JSON objects or "
                                         "binary frames starting with \"LXRF\")");
            }
        }
    }
    return rd->fmt == LX_FMT_BIN ? next_frame(rd, r, err) : next_json(rd, r, err);
}

int lx_reader_next(lx_reader *rd, lx_record *r, lx_error *err) {
    lx_record_clear(r);
    return next(rd, r, err);
}

int lx_reader_skip(lx_reader *rd, uint64_t n, uint64_t *skipped, lx_error *err) {
    *skipped = 0;
    while (*skipped < n) {
        int rc = next(rd, NULL, err);
        if (rc == 0) break;
        /* a bad record the reader can go on past is one more record stepped over */
        if (rc < 0 && (rd->dead || rd->read_failed)) return -1;
        (*skipped)++;
    }
    return 0;
}

int lx_format_parse(const char *s, lx_format *out) {
    if (strcmp(s, "json") == 0 || strcmp(s, "jsonl") == 0) *out = LX_FMT_JSON;
    else if (strcmp(s, "bin") == 0 || strcmp(s, "binary") == 0) *out = LX_FMT_BIN;
    else return -1;
    return 0;
}

struct lx_writer {
    FILE *f;
    lx_format fmt;
};

lx_writer *lx_writer_open(FILE *f, lx_format fmt, lx_error *err) {
    if (fmt != LX_FMT_JSON && fmt != LX_FMT_BIN) return lx_error_set(err, "no output format"), NULL;
    lx_writer *w = calloc(1, sizeof *w);
    if (!w) return lx_error_set(err, "out of memory"), NULL;
    w->f = f;
    w->fmt = fmt;
    return w;
}

/* Only whole records reach the file, so that the output of a killed run ends on a whole
 * record: what stdio holds is flushed before a record that would not fit beside it, and
 * a record larger than stdio's buffer (written in whole blocks, its tail kept in the
 * buffer) is flushed at once.  (A write the kernel cuts short, on a full disk or a
 * signal, can still leave part of one.) */
int lx_writer_write(lx_writer *w, const lx_record *r, lx_error *err) {
    char *buf;
    size_t len;
    int rc = w->fmt == LX_FMT_BIN ? lx_record_to_frame(r, &buf, &len, err)
                                   : lx_record_to_json(r, &buf, &len, err);
    if (rc < 0) return -1;
    size_t held = __fpending(w->f); /* no buffer yet: nothing held */
    int ok = !(held > 0 && held + len > __fbufsize(w->f) && fflush(w->f) != 0);
    ok = ok && fwrite(buf, 1, len, w->f) == len;
    ok = ok && !(len > __fbufsize(w->f) && fflush(w->f) != 0); /* its buffer now exists */
    free(buf);
    if (!ok) return lx_error_set(err, "write error: %s", strerror(errno));
    return 0;
}

int lx_writer_flush(lx_writer *w, lx_error *err) {
    if (fflush(w->f) != 0) return lx_error_set(err, "write error: %s", strerror(errno));
    return 0;
}

void lx_writer_close(lx_writer *w) {
    if (!w) return;
    fflush(w->f);
    free(w);
}
