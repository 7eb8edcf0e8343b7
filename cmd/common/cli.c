/*
 * cli.c — the command-line conventions every lx tool shares (see cli.h).
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_init(lx_cli *c, const char *prog) {
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->input = "<stdin>";
    /* a closed downstream (head, a failed pipe) ends the tool quietly with 141 */
    signal(SIGPIPE, SIG_DFL);
    c->progress_auto = isatty(STDERR_FILENO);
#ifdef __GLIBC__
    /* Records of a few hundred KB are allocated and freed one after another: keep freed
     * memory in the heap (no trim, no mmap per record), so that each record does not
     * fault its buffers in afresh (in lx-encode at batch 1: ~0.5 ms a record). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
    c->t_start = c->t_last = now();
}

static void end_progress(lx_cli *c) {
    if ((c->progress || c->progress_auto) && c->t_last > c->t_start) {
        fputc('\n', stderr);
        c->t_last = c->t_start;
    }
}

int cli_error(const lx_cli *c, const char *fmt, ...) {
    va_list ap;
    end_progress((lx_cli *)c);
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return LX_EXIT_FAIL;
}

int cli_record_error(const lx_cli *c, uint64_t recno, const char *msg) {
    end_progress((lx_cli *)c);
    fprintf(stderr, "%s: %s:record %llu: %s\n", c->prog, c->input, (unsigned long long)recno, msg);
    return LX_EXIT_FAIL;
}

int cli_usage(const lx_cli *c, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", c->prog);
    return LX_EXIT_USAGE;
}

int cli_bad_option(const lx_cli *c, int ch, char *const *argv) {
    const char *arg = argv[optind - 1];
    if (ch == ':') return cli_usage(c, "option '%s' needs an argument", arg);
    if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 128)
        return cli_usage(c, "unknown option '-%c'", optopt);
    const char *eq = strchr(arg, '=');
    if (eq && optopt) /* a known long option that takes no argument */
        return cli_usage(c, "option '%.*s' takes no argument", (int)(eq - arg), arg);
    return cli_usage(c, "unknown option '%s'", arg);
}

int cli_input_arg(const lx_cli *c, int argc, char *const *argv, int first, const char **path) {
    *path = NULL;
    if (argc - first > 1)
        return cli_usage(c, "got %d input files, expected at most one", argc - first);
    if (argc - first == 1 && strcmp(argv[first], "-") != 0) *path = argv[first];
    return 0;
}

int cli_open_input(lx_cli *c, const char *path, FILE **in) {
    *in = stdin;
    if (!path) return 0;
    if (!(*in = fopen(path, "rb"))) {
        *in = stdin;
        return cli_error(c, "cannot open %s: %s", path, strerror(errno));
    }
    c->input = path;
    return 0;
}

void cli_close_input(FILE *in) {
    if (in && in != stdin) fclose(in);
}

int cli_net_opts(long threads, lx_net_opts *o, lx_error *err) {
    const char *cpu = getenv("LX_CPU");
    *o = (lx_net_opts){.threads = (int)threads};
    if (lx_isa_parse(cpu, &o->max_isa) < 0)
        return lx_error_set(err, "LX_CPU: got '%s', expected portable, avx2, avx512 or best",
                            cpu);
    return 0;
}

int cli_version(const lx_cli *c) {
    printf("%s %s\n", c->prog, LX_VERSION);
    return LX_EXIT_OK;
}

int cli_parse_long(const lx_cli *c, const char *opt, const char *s, long min, long max,
                   long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        cli_usage(c, "%s: '%s' is not a whole number from %ld to %ld", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const lx_cli *c, const char *opt, const char *s, double min, double max,
                     double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        cli_usage(c, "%s: '%s' is not a number from %g to %g", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_threads(const lx_cli *c, const char *s, long *out) {
    return cli_parse_long(c, "--threads", s, 0, LX_CLI_MAX_THREADS, out);
}

int cli_parse_batch(const lx_cli *c, const char *s, long *out) {
    return cli_parse_long(c, "--batch", s, 1, LX_CLI_MAX_BATCH, out);
}

int cli_output_format(const lx_cli *c, const char *arg, lx_format dflt, lx_format *out) {
    int tty = isatty(STDOUT_FILENO);
    if (arg) {
        if (lx_format_parse(arg, out) < 0) {
            cli_usage(c, "-f: unknown format '%s' (json or bin)", arg);
            return -1;
        }
        if (*out == LX_FMT_BIN && tty) {
            cli_usage(c, "refusing to write binary frames to a terminal; redirect stdout or use -f json");
            return -1;
        }
        return 0;
    }
    *out = dflt == LX_FMT_BIN && tty ? LX_FMT_JSON : dflt;
    return 0;
}

const char *cli_model_path(const char *arg) {
    if (arg) return arg;
    const char *e = getenv("LX_MODEL");
    return e && *e ? e : NULL;
}

void cli_tick(lx_cli *c) {
    c->nrecords++;
    if (!c->progress && !c->progress_auto) return;
    double t = now();
    if (t - c->t_last < 0.25) return;
    c->t_last = t;
    double el = t - c->t_start;
    fprintf(stderr, "\r%s: %llu records, %.1f records/s", c->prog,
            (unsigned long long)c->nrecords, el > 0 ? c->nrecords / el : 0.0);
    fflush(stderr);
}

int cli_finish(lx_cli *c, int status) {
    end_progress(c);
    if (c->nskipped)
        fprintf(stderr, "%s: %llu record%s skipped\n", c->prog, (unsigned long long)c->nskipped,
                c->nskipped == 1 ? "" : "s");
    if (c->progress) {
        double el = now() - c->t_start;
        fprintf(stderr, "%s: %llu records in %.2f s (%.1f records/s)\n", c->prog,
                (unsigned long long)c->nrecords, el, el > 0 ? c->nrecords / el : 0.0);
    }
    /* a failed write (full disk, closed pipe with SIGPIPE ignored) fails the run */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno == EPIPE) return status;
        fprintf(stderr, "%s: write error: %s\n", c->prog, strerror(errno));
        fclose(stdout);
        return LX_EXIT_FAIL;
    }
    if (fclose(stdout) != 0) {
        if (errno == EPIPE) return status;
        fprintf(stderr, "%s: write error: %s\n", c->prog, strerror(errno));
        return LX_EXIT_FAIL;
    }
    return status;
}

int cli_filter(lx_cli *c, lx_reader *rd, lx_writer *w, int skip_bad, cli_record_fn fn,
               void *ctx) {
    lx_record r;
    lx_error err = {0};
    int status = LX_EXIT_OK;
    lx_record_init(&r);
    for (;;) {
        int rc = lx_reader_next(rd, &r, &err);
        if (rc == 0) break;
        if (rc > 0) {
            rc = fn ? fn(ctx, &r, &err) : 1;
            if (rc > 0) {
                if (lx_writer_write(w, &r, &err) < 0) {
                    /* an encoding problem of this record, or a write error */
                    if (ferror(stdout)) {
                        status = cli_error(c, "%s", err.msg);
                        break;
                    }
                    rc = -1;
                } else {
                    cli_tick(c);
                    continue;
                }
            } else if (rc == 0) {
                continue;
            }
        }
        /* a bad record */
        lx_writer_flush(w, NULL);
        cli_record_error(c, lx_reader_record_no(rd), err.msg);
        if (skip_bad && lx_reader_can_resume(rd)) {
            c->nskipped++;
            continue;
        }
        status = LX_EXIT_FAIL;
        break;
    }
    lx_record_clear(&r);
    lx_writer_flush(w, NULL);
    return status;
}

/* Write recs[0..n) in order, clearing each. */
static int write_batch(lx_cli *c, lx_writer *w, lx_record *recs, size_t n, lx_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (lx_writer_write(w, &recs[i], err) < 0) return -1;
        cli_tick(c);
        lx_record_clear(&recs[i]);
    }
    return lx_writer_flush(w, err);
}

int cli_batch_filter(lx_cli *c, lx_reader *rd, lx_writer *w, size_t batch, int skip_bad,
                     cli_check_fn check, cli_batch_fn run, void *ctx) {
    lx_record *recs = calloc(batch, sizeof *recs);
    lx_error err = {0};
    int status = LX_EXIT_OK;
    size_t n = 0;
    if (!recs) return cli_error(c, "out of memory for a batch of %zu records", batch);
    for (;;) {
        int rc = lx_reader_next(rd, &recs[n], &err);
        uint64_t recno = lx_reader_record_no(rd);
        int good = rc > 0 && check(ctx, &recs[n], n, &err) == 0;
        if (good && ++n < batch) continue;
        /* end of input, a full batch, or a bad record: run and write what is pending */
        size_t bad = n;
        lx_error berr = {0};
        if (n > 0 && (run(ctx, recs, n, &berr) < 0 || write_batch(c, w, recs, n, &berr) < 0)) {
            status = cli_error(c, "%s", berr.msg);
            break;
        }
        n = 0;
        if (rc == 0) break;
        if (good) continue; /* a full batch went out */
        lx_writer_flush(w, NULL);
        cli_record_error(c, recno, err.msg);
        err.msg[0] = '\0';
        lx_record_clear(&recs[bad]);
        if (skip_bad && (rc > 0 || lx_reader_can_resume(rd))) {
            c->nskipped++;
            continue;
        }
        status = LX_EXIT_FAIL;
        break;
    }
    for (size_t i = 0; i < batch; i++) lx_record_clear(&recs[i]);
    free(recs);
    lx_writer_flush(w, NULL);
    return status;
}
