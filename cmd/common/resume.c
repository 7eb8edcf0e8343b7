/*
 * resume.c — --resume FILE: record output that a killed run can continue.
 *
 * The records go to FILE, and FILE.progress is an append-only log of checkpoints, one
 * line each, written after the records it counts are in FILE:
 *
 *     lx-progress 1 lx-vqa             the version of the log and the tool writing it
 *     in 32 5120 out 31 48213          input records handled, the input byte where the
 *                                      last of them ended; records and bytes in FILE
 *
 * A checkpoint is taken after each full batch is written (lx-encode, lx-vqa; see
 * cli_batch_filter), at most every CHECKPOINT_SECONDS in the tools that take records
 * one at a time, after a record dropped by --skip-bad, and at the end.  It counts input records, not output records,
 * so records that gave no output (--skip-bad, --skip-missing, an image lx-detect has
 * already detected) cannot put the two out of step.  One line is one write(2): a kill
 * leaves the log's last line whole or torn, and a torn line is ignored.
 *
 * A run with --resume FILE goes on from the newest checkpoint that FILE holds in full:
 * it checks that FILE's first bytes are the records the checkpoint counts, skips the
 * input's records the checkpoint counts without decoding them (lx_reader_skip) and checks
 * that they end at the same byte as before (or this is not the same input), then cuts
 * FILE back to the checkpoint (dropping what a killed run wrote after it: a torn record,
 * records to be redone) and appends.  Checkpoints are where an uninterrupted run cuts
 * its batches too, so the batches, and so the bytes, are those of an uninterrupted run.
 * A write that fails (a full disk) cuts FILE back to its last checkpoint, so that FILE
 * ends on a whole record.
 *
 * This guards against the process being killed, not the machine crashing: nothing is
 * synced to disk.  Without FILE.progress, a FILE that is not empty is refused: the tool
 * cannot know which input records its records came from.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

#define CHECKPOINT_SECONDS 0.5
#define LOG_MAGIC "lx-progress 1 "

typedef struct checkpoint {
    uint64_t in, in_bytes;        /* input records handled; where the last one ended */
    uint64_t out, out_bytes;      /* records and bytes in FILE */
} checkpoint;

struct cli_resume {
    const char *path;             /* FILE */
    char *log_path;               /* FILE.progress */
    int fd;                       /* FILE: its size, cutting it back */
    int log_fd;                   /* the log, opened to append (-1: none yet) */
    int log_new;                  /* the log gets its first line at the start */
    off_t log_keep;               /* the log's bytes up to its last whole line */
    int rewrite;                  /* the checkpoint chosen is not the log's last line */
    off_t size;                   /* FILE's size when opened */
    lx_format fmt;                /* FILE's encoding (LX_FMT_AUTO: FILE holds none) */
    checkpoint at;                /* the last checkpoint */
    uint64_t out0;                /* records FILE held when this run began */
    double t_last;                /* when it was taken */
    int begun;                    /* FILE is being written */
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The encoding of the record stream in fd from its first bytes (LX_FMT_AUTO: none). */
static lx_format stream_format(int fd) {
    char b[4];
    if (pread(fd, b, sizeof b, 0) != (ssize_t)sizeof b) return LX_FMT_AUTO;
    if (b[0] == '{') return LX_FMT_JSON;
    return memcmp(b, "LXRF", 4) == 0 ? LX_FMT_BIN : LX_FMT_AUTO;
}

/* Count the whole records of fd in encoding fmt that end within its first `limit`
 * bytes: JSON lines end with a newline (lx writes one record a line), frames are stepped
 * over by their length.  *end gets where the last of them ends.  Returns 0, or -1 on a
 * read error (message in err). */
static int count_records(int fd, lx_format fmt, uint64_t limit, uint64_t *n, uint64_t *end,
                         lx_error *err) {
    *n = *end = 0;
    if (fmt == LX_FMT_JSON) {
        char buf[1 << 15];
        for (uint64_t off = 0; off < limit;) {
            size_t want = limit - off < sizeof buf ? (size_t)(limit - off) : sizeof buf;
            ssize_t got = pread(fd, buf, want, (off_t)off);
            if (got < 0) return lx_error_set(err, "read error: %s", strerror(errno));
            if (got == 0) break;
            for (char *p = buf, *e = buf + got; (p = memchr(p, '\n', (size_t)(e - p))); p++) {
                (*n)++;
                *end = off + (uint64_t)(p - buf) + 1;
            }
            off += (uint64_t)got;
        }
        return 0;
    }
    int d = dup(fd);
    FILE *f = d >= 0 ? fdopen(d, "rb") : NULL;
    if (!f) {
        if (d >= 0) close(d);
        return lx_error_set(err, "%s", strerror(errno));
    }
    lx_reader *rd = lx_reader_open(f, "", err);
    int rc = rd ? 0 : -1;
    while (rd) { /* a frame at a time, to know where the last whole one ends */
        uint64_t k;
        lx_error e2 = {0};
        if (lx_reader_skip(rd, 1, &k, &e2) < 0 || k == 0 || lx_reader_bytes(rd) > limit) break;
        (*n)++;
        *end = lx_reader_bytes(rd);
    }
    lx_reader_close(rd);
    fclose(f);
    return rc;
}

/* FILE without a log, and not empty: refused, with what it holds and how to go on. */
static int refuse_unlogged(lx_cli *c, cli_resume *rs) {
    uint64_t n, end;
    lx_error err = {0};
    lx_format fmt = stream_format(rs->fd);
    if (fmt == LX_FMT_AUTO)
        return cli_error(c, "%s: not empty and not a record stream; --resume writes records "
                            "to FILE: give a new file", rs->path);
    if (count_records(rs->fd, fmt, (uint64_t)rs->size, &n, &end, &err) < 0)
        return cli_error(c, "%s: %s", rs->path, err.msg);
    char cut[512] = "";
    if (end < (uint64_t)rs->size)
        snprintf(cut, sizeof cut, "cut its torn end (truncate -s %llu %s) and ",
                 (unsigned long long)end, rs->path);
    return cli_error(c, "%s: not written with --resume (no %s): which input records its %llu "
                        "whole records came from is unknown; if one from each, %sgo on with "
                        "--skip %llu >> %s", rs->path, rs->log_path, (unsigned long long)n, cut,
                     (unsigned long long)n, rs->path);
}

/* One checkpoint line ("in I IB out O OB\n", no sign, nothing more).  Returns 0 or -1. */
static int parse_checkpoint(const char *s, checkpoint *p) {
    unsigned long long v[4];
    int len = -1;
    if (strchr(s, '-') || strchr(s, '+') ||
        sscanf(s, "in %llu %llu out %llu %llu%n", &v[0], &v[1], &v[2], &v[3], &len) != 4 ||
        len < 0 || strcmp(s + len, "\n") != 0)
        return -1;
    *p = (checkpoint){v[0], v[1], v[2], v[3]};
    return 0;
}

/* Read the log: its first line names the tool, each other line is a checkpoint; the
 * newest one whose records FILE holds in full becomes rs->at.  A torn last line (no
 * newline: the run was killed while writing it) is left out. */
static int read_log(lx_cli *c, cli_resume *rs) {
    int d = dup(rs->log_fd);
    FILE *f = d >= 0 ? fdopen(d, "rb") : NULL;
    if (!f) {
        if (d >= 0) close(d);
        return cli_error(c, "%s: %s", rs->log_path, strerror(errno));
    }
    char line[256];
    off_t off = 0;
    int status = 0;
    uint64_t lineno = 0, found = 0, last = 0;
    rs->log_new = 1; /* until its first line is read whole */
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        lineno++;
        if (len == 0 || line[len - 1] != '\n') {
            if (!feof(f)) status = cli_error(c, "%s:%llu: not a line of a progress file",
                                             rs->log_path, (unsigned long long)lineno);
            break; /* torn */
        }
        if (lineno == 1) {
            line[len - 1] = '\0';
            if (strncmp(line, LOG_MAGIC, strlen(LOG_MAGIC)) != 0) {
                status = cli_error(c, "%s: not an lx progress file", rs->log_path);
                break;
            }
            if (strcmp(line + strlen(LOG_MAGIC), c->prog) != 0) {
                status = cli_error(c, "%s: the progress of %s, not of %s", rs->log_path,
                                   line + strlen(LOG_MAGIC), c->prog);
                break;
            }
            rs->log_new = 0;
        } else {
            checkpoint p;
            if (parse_checkpoint(line, &p) < 0) {
                status = cli_error(c, "%s:%llu: not a checkpoint", rs->log_path,
                                   (unsigned long long)lineno);
                break;
            }
            if (p.out_bytes <= (uint64_t)rs->size) rs->at = p, found = lineno;
            last = lineno;
        }
        off += (off_t)len;
        rs->log_keep = off;
    }
    if (!status && ferror(f)) status = cli_error(c, "%s: read error", rs->log_path);
    fclose(f);
    rs->rewrite = found != last;
    return status;
}

int cli_resume_open(lx_cli *c, FILE *in) {
    cli_resume *rs = calloc(1, sizeof *rs);
    const char *path = c->resume_path;
    size_t n = strlen(path);
    struct stat st, ist;
    if (!rs || !(rs->log_path = malloc(n + sizeof ".progress"))) {
        free(rs);
        return cli_error(c, "out of memory");
    }
    memcpy(rs->log_path, path, n);
    memcpy(rs->log_path + n, ".progress", sizeof ".progress");
    rs->path = path;
    rs->log_fd = -1;
    c->rs = rs; /* freed by cli_resume_close */
    /* a FIFO or a device is refused before it is opened (an open could block on it) */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return cli_error(c, "%s: not a regular file; --resume writes records to a file", path);
    if ((rs->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
        return cli_error(c, "cannot open %s: %s", path, strerror(errno));
    if (fstat(rs->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return cli_error(c, "%s: not a regular file; --resume writes records to a file", path);
    if (fstat(fileno(in), &ist) == 0 && ist.st_dev == st.st_dev && ist.st_ino == st.st_ino)
        return cli_error(c, "%s is the input; --resume appends to another file", path);
    rs->size = st.st_size;
    rs->fmt = stream_format(rs->fd);

    if (stat(rs->log_path, &st) == 0 && !S_ISREG(st.st_mode))
        return cli_error(c, "%s: not a regular file", rs->log_path);
    if ((rs->log_fd = open(rs->log_path, O_RDWR | O_APPEND | O_CLOEXEC)) < 0) {
        if (errno != ENOENT)
            return cli_error(c, "cannot open %s: %s", rs->log_path, strerror(errno));
        if (rs->size > 0) return refuse_unlogged(c, rs);
        rs->log_new = 1;
    } else {
        if (fstat(rs->log_fd, &st) != 0 || !S_ISREG(st.st_mode))
            return cli_error(c, "%s: not a regular file", rs->log_path);
        int st2 = read_log(c, rs);
        if (st2) return st2;
    }
    if (rs->at.out_bytes > 0) {
        /* FILE's first bytes must be the records the checkpoint counts */
        uint64_t k, end;
        lx_error err = {0};
        if (rs->fmt == LX_FMT_AUTO)
            return cli_error(c, "%s: not a record stream, but %s says it holds %llu records",
                             path, rs->log_path, (unsigned long long)rs->at.out);
        if (count_records(rs->fd, rs->fmt, rs->at.out_bytes, &k, &end, &err) < 0)
            return cli_error(c, "%s: %s", path, err.msg);
        if (k != rs->at.out || end != rs->at.out_bytes)
            return cli_error(c, "%s does not match %s: %llu whole records in its first %llu "
                                "bytes, expected %llu (was it changed?)", path, rs->log_path,
                             (unsigned long long)k, (unsigned long long)rs->at.out_bytes,
                             (unsigned long long)rs->at.out);
        if (c->format_arg && c->format != rs->fmt)
            return cli_usage(c, "%s holds %s; -f %s would mix encodings", path,
                             rs->fmt == LX_FMT_BIN ? "binary frames" : "JSON lines",
                             c->format_arg);
        c->format = rs->fmt;
    }
    return 0;
}

uint64_t cli_resume_skip(const lx_cli *c) { return c->rs ? c->rs->at.in : 0; }

/* Append one line to the log (one write).  Returns 0 or -1 after the message. */
static int log_line(lx_cli *c, const char *s) {
    size_t len = strlen(s);
    if (write(c->rs->log_fd, s, len) != (ssize_t)len)
        return cli_error(c, "%s: write error: %s", c->rs->log_path, strerror(errno)), -1;
    return 0;
}

static int log_checkpoint(lx_cli *c, const checkpoint *p) {
    char line[128];
    snprintf(line, sizeof line, "in %llu %llu out %llu %llu\n", (unsigned long long)p->in,
             (unsigned long long)p->in_bytes, (unsigned long long)p->out,
             (unsigned long long)p->out_bytes);
    return log_line(c, line);
}

int cli_resume_begin(lx_cli *c, const lx_reader *rd, uint64_t skipped) {
    cli_resume *rs = c->rs;
    if (skipped < rs->at.in)
        return cli_error(c, "%s has %llu records, but %s says the earlier run read %llu (is "
                            "it the same input?)", c->input, (unsigned long long)skipped,
                         rs->log_path, (unsigned long long)rs->at.in);
    if (lx_reader_bytes(rd) != rs->at.in_bytes)
        return cli_error(c, "%s does not match %s: its first %llu records end at byte %llu, "
                            "those the earlier run read at byte %llu (is it the same input?)",
                         c->input, rs->log_path, (unsigned long long)rs->at.in,
                         (unsigned long long)lx_reader_bytes(rd),
                         (unsigned long long)rs->at.in_bytes);
    /* the log: a new one gets its first line; an old one loses a torn last line */
    if (rs->log_fd < 0 &&
        (rs->log_fd = open(rs->log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666)) < 0)
        return cli_error(c, "cannot create %s: %s", rs->log_path, strerror(errno));
    if (ftruncate(rs->log_fd, rs->log_new ? 0 : rs->log_keep) != 0)
        return cli_error(c, "%s: %s", rs->log_path, strerror(errno));
    if (rs->log_new) {
        char head[128];
        snprintf(head, sizeof head, "%s%s\n", LOG_MAGIC, c->prog);
        if (log_line(c, head) < 0) return LX_EXIT_FAIL;
    } else if (rs->rewrite && log_checkpoint(c, &rs->at) < 0) {
        return LX_EXIT_FAIL; /* the last line is the checkpoint gone on from */
    }
    /* FILE: cut back to the checkpoint, then appended to */
    if ((uint64_t)rs->size > rs->at.out_bytes && ftruncate(rs->fd, (off_t)rs->at.out_bytes) != 0)
        return cli_error(c, "%s: %s", rs->path, strerror(errno));
    int d = dup(rs->fd);
    FILE *f = d >= 0 ? fdopen(d, "wb") : NULL;
    if (!f || fseeko(f, (off_t)rs->at.out_bytes, SEEK_SET) != 0) {
        if (f) fclose(f);
        else if (d >= 0) close(d);
        return cli_error(c, "%s: %s", rs->path, strerror(errno));
    }
    c->outf = f;
    rs->out0 = rs->at.out;
    rs->begun = 1;
    rs->t_last = now();
    if (rs->at.in > 0 || rs->size > 0) {
        char dropped[128] = "";
        if ((uint64_t)rs->size > rs->at.out_bytes)
            snprintf(dropped, sizeof dropped, "; %llu bytes written after it are redone",
                     (unsigned long long)((uint64_t)rs->size - rs->at.out_bytes));
        cli_note(c, "%s: going on after input record %llu (%llu record%s kept%s)", rs->path,
                 (unsigned long long)rs->at.in, (unsigned long long)rs->at.out,
                 rs->at.out == 1 ? "" : "s", dropped);
    }
    return 0;
}

int cli_resume_checkpoint(lx_cli *c, uint64_t in, uint64_t in_bytes, int force) {
    cli_resume *rs = c->rs;
    if (!rs || !rs->begun) return 0;
    double t = now();
    if (!force && t - rs->t_last < CHECKPOINT_SECONDS) return 0;
    rs->t_last = t;
    if (fflush(c->outf) != 0)
        return cli_error(c, "write error: %s: %s", rs->path, strerror(errno)), -1;
    off_t end = ftello(c->outf);
    if (end < 0) return cli_error(c, "%s: %s", rs->path, strerror(errno)), -1;
    checkpoint p = {in, in_bytes, rs->out0 + c->nrecords, (uint64_t)end};
    if (p.in == rs->at.in && p.out_bytes == rs->at.out_bytes) return 0; /* nothing new */
    if (log_checkpoint(c, &p) < 0) return -1;
    rs->at = p;
    return 0;
}

int cli_resume_close(lx_cli *c, int status) {
    cli_resume *rs = c->rs;
    if (!rs) return status;
    int failed = 0;
    if (c->outf != stdout) {
        failed = ferror(c->outf) != 0; /* reported where it happened */
        if (fclose(c->outf) != 0 && !failed) {
            failed = 1;
            status = cli_error(c, "write error: %s: %s", rs->path, strerror(errno));
        }
        c->outf = stdout;
    }
    /* a failed write may have left a torn record: FILE is cut back to its last
     * checkpoint, so that it ends on a whole record */
    if (rs->begun && failed && ftruncate(rs->fd, (off_t)rs->at.out_bytes) != 0)
        cli_warn(c, "%s: cannot cut it back to its last checkpoint: %s", rs->path,
                 strerror(errno));
    if (rs->fd >= 0) close(rs->fd);
    if (rs->log_fd >= 0) close(rs->log_fd);
    free(rs->log_path);
    free(rs);
    c->rs = NULL;
    return status;
}
