/*
 * cli.c — the skeleton every lx tool is built on (see cli.h): options, help, messages,
 * the record loops and the final flush, written once.
 */
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
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

/* ---- messages ------------------------------------------------------------------- */

static void end_progress(lx_cli *c) {
    if ((c->progress || c->progress_auto) && c->t_last > c->t_start) {
        fputc('\n', stderr);
        c->t_last = c->t_start;
    }
}

/* "prog: [kind]message\n" on stderr, after ending the progress line. */
static void say(lx_cli *c, const char *kind, const char *fmt, va_list ap) {
    end_progress(c);
    fprintf(stderr, "%s: %s", c->prog, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(lx_cli *c, const char *fmt, ...) {
    va_list ap;
    /* an error while stdout has failed is the report of that failure (the write that
     * failed is what stopped the run): cli_finish does not repeat it */
    if (ferror(stdout)) c->write_failed = 1;
    va_start(ap, fmt);
    say(c, "", fmt, ap);
    va_end(ap);
    return LX_EXIT_FAIL;
}

void cli_warn(lx_cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(c, "warning: ", fmt, ap);
    va_end(ap);
}

void cli_note(lx_cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(c, "", fmt, ap);
    va_end(ap);
}

int cli_record_error_in(lx_cli *c, const char *input, uint64_t recno, const char *msg) {
    return cli_error(c, "%s:record %llu: %s", input, (unsigned long long)recno, msg);
}

int cli_record_error(lx_cli *c, uint64_t recno, const char *msg) {
    return cli_record_error_in(c, c->input, recno, msg);
}

int cli_usage(lx_cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(c, "", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", c->prog);
    return LX_EXIT_USAGE;
}

/* ---- option values -------------------------------------------------------------- */

int cli_parse_long(lx_cli *c, const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return cli_usage(c, "%s: '%s' is not a whole number from %ld to %ld", opt, s, min, max);
    *out = v;
    return 0;
}

/* The usage error for what getopt_long rejected: ch is its ':' (an option without its
 * argument) or '?' (unknown, or an argument where none is taken).  getopt_long runs with
 * opterr = 0, so this is the only message. */
static int bad_option(lx_cli *c, int ch, char *const *argv) {
    const char *arg = argv[optind - 1];
    if (ch == ':') return cli_usage(c, "option '%s' needs an argument", arg);
    if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 128)
        return cli_usage(c, "unknown option '-%c'", optopt);
    const char *eq = strchr(arg, '=');
    if (eq && optopt) /* a known long option that takes no argument */
        return cli_usage(c, "option '%.*s' takes no argument", (int)(eq - arg), arg);
    return cli_usage(c, "unknown option '%s'", arg);
}

/* ---- help ----------------------------------------------------------------------- */

/* One option of the help: the flags in a column of 22, then the text. */
static void opt_line(FILE *f, const char *flags, const char *text) {
    fprintf(f, "  %-20s  %s\n", flags, text);
}

static void help(const cli_tool *t, FILE *f) {
    static const char *const formats[] = {
        [LX_FMT_AUTO] = "json or bin (default: the one the\n"
                        "                        input is not; json to a terminal)",
        [LX_FMT_JSON] = "json (default) or bin",
        [LX_FMT_BIN] = "bin (default; json to a terminal)\n"
                       "                        or json",
    };
    char buf[160];
    fputs(t->about, f);
    if (t->describe) {
        fputc('\n', f);
        t->describe(f);
    }
    if (t->options) {
        fputc('\n', f);
        fputs(t->options, f);
    }
    fputs("\nOptions every lx tool takes:\n", f);
    opt_line(f, "-m, --model FILE",
             t->model_help ? t->model_help : "the .lxm model file (default: $LX_MODEL)");
    snprintf(buf, sizeof buf, "output encoding: %s", formats[t->format]);
    opt_line(f, "-f, --format FMT", t->format_help ? t->format_help : buf);
    snprintf(buf, sizeof buf, "worker threads, 0 to %d (default 0: all cores)",
             LX_CLI_MAX_THREADS);
    opt_line(f, "    --threads N", t->threads_help ? t->threads_help : buf);
    if (t->flags & CLI_BATCH) {
        snprintf(buf, sizeof buf, "records per forward pass, 1 to %d (default %d)",
                 LX_CLI_MAX_BATCH, LX_CLI_BATCH);
        opt_line(f, "    --batch N", buf);
    }
    opt_line(f, "    --skip-bad", "report a bad record and go on without it (default: stop)");
    if (t->flags & CLI_RECORDS) {
        opt_line(f, "    --skip N", "skip the first N input records unread");
        opt_line(f, "    --resume FILE", "write the records to FILE; after a kill the same\n"
                                        "                        command goes on where it stopped\n"
                                        "                        (FILE.progress keeps count)");
    }
    opt_line(f, "    --progress", t->progress_help ? t->progress_help
                                  : "a progress line on standard error, a count at the end");
    opt_line(f, "-h, --help", "this help");
    opt_line(f, "    --version", "the version");
    if (t->flags & (CLI_MODEL | CLI_NET)) {
        fputs("\nEnvironment:\n", f);
        if (t->flags & CLI_MODEL)
            opt_line(f, "LX_MODEL", "the model file when -m is not given");
        if (t->flags & CLI_NET)
            opt_line(f, "LX_CPU", "the most of the CPU to use: portable, avx2, avx512 or\n"
                                  "                        best (the default: all it has)");
    }
    fputs("\nExit status: 0 success; 1 bad input or a failure at run time (a missing or\n"
          "unreadable model, a failed write); 2 usage error.\n", f);
    if (t->examples) {
        fputc('\n', f);
        fputs(t->examples, f);
    }
}

/* ---- cli_start ------------------------------------------------------------------ */

/* The shared long-only options' values: above any a tool gives its own. */
enum { O_THREADS = 0x10000, O_BATCH, O_SKIP_BAD, O_PROGRESS, O_VERSION, O_SKIP, O_RESUME };

static const struct option shared[] = {
    {"model", required_argument, NULL, 'm'},
    {"format", required_argument, NULL, 'f'},
    {"threads", required_argument, NULL, O_THREADS},
    {"batch", required_argument, NULL, O_BATCH},    /* CLI_BATCH only */
    {"skip-bad", no_argument, NULL, O_SKIP_BAD},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, O_VERSION},
    {"skip", required_argument, NULL, O_SKIP},      /* CLI_RECORDS only */
    {"resume", required_argument, NULL, O_RESUME},  /* CLI_RECORDS only */
};
#define NSHARED (sizeof shared / sizeof *shared)
#define MAX_OPTIONS 64

/* The output encoding: -f as given, or the tool's default.  Binary frames are never
 * written to a terminal: an explicit -f bin there is a usage error, a default of bin
 * falls back to JSON (LX_FMT_AUTO decides at the first record, see writer()). */
static int choose_format(lx_cli *c) {
    if (c->resume_path) return 0; /* the records go to FILE */
    int tty = isatty(STDOUT_FILENO);
    if (c->format_arg && c->format == LX_FMT_BIN && tty)
        return cli_usage(c, "refusing to write binary frames to a terminal; redirect "
                            "stdout or use -f json");
    if (!c->format_arg && c->format == LX_FMT_BIN && tty) c->format = LX_FMT_JSON;
    return 0;
}

/* The operands: with CLI_INPUT at most one FILE ("-": standard input). */
static int operands(lx_cli *c, int argc, char **argv) {
    c->args = argv + optind;
    c->nargs = argc - optind;
    if (!(c->tool->flags & CLI_INPUT)) return 0;
    if (c->nargs > 1)
        return cli_usage(c, "got %d input files, expected at most one", c->nargs);
    if (c->nargs == 1 && strcmp(c->args[0], "-") != 0) c->path = c->args[0];
    return 0;
}

int cli_start(lx_cli *c, const cli_tool *t, int argc, char **argv, void *opts) {
    memset(c, 0, sizeof *c);
    c->tool = t;
    c->prog = t->name;
    c->input = "<stdin>";
    c->format = t->format;
    c->batch = LX_CLI_BATCH;
    c->outf = stdout;
    /* a closed downstream (head, a failed pipe) ends the tool quietly with 141 */
    signal(SIGPIPE, SIG_DFL);
    cli_signals(t->name);
    c->progress_auto = isatty(STDERR_FILENO);
#ifdef __GLIBC__
    /* Records of a few hundred KB are allocated and freed one after another: keep freed
     * memory in the heap (no trim, no mmap per record), so that each record does not
     * fault its buffers in afresh (in lx-encode at batch 1: ~0.5 ms a record). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
    c->t_start = c->t_last = now();

    /* the shared options, then the tool's own */
    struct option lo[MAX_OPTIONS];
    size_t n = 0;
    for (size_t i = 0; i < NSHARED; i++)
        if ((shared[i].val != O_BATCH || (t->flags & CLI_BATCH)) &&
            ((shared[i].val != O_SKIP && shared[i].val != O_RESUME) || (t->flags & CLI_RECORDS)))
            lo[n++] = shared[i];
    for (const struct option *o = t->longopts; o && o->name && n < MAX_OPTIONS - 1; o++)
        lo[n++] = *o;
    lo[n] = (struct option){0};
    char so[64];
    snprintf(so, sizeof so, ":m:f:h%s", t->shortopts ? t->shortopts : "");

    opterr = 0; /* bad_option says what was wrong */
    int ch, st;
    while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        switch (ch) {
        case 'm': c->model = optarg; break;
        case 'f':
            if (lx_format_parse(optarg, &c->format) < 0)
                return cli_usage(c, "-f: unknown format '%s' (json or bin)", optarg);
            c->format_arg = optarg;
            break;
        case O_THREADS:
            if ((st = cli_parse_long(c, "--threads", optarg, 0, LX_CLI_MAX_THREADS,
                                     &c->threads)))
                return st;
            break;
        case O_BATCH:
            if ((st = cli_parse_long(c, "--batch", optarg, 1, LX_CLI_MAX_BATCH, &c->batch)))
                return st;
            break;
        case O_SKIP_BAD: c->skip_bad = 1; break;
        case O_SKIP: {
            long v;
            if ((st = cli_parse_long(c, "--skip", optarg, 0, LONG_MAX, &v))) return st;
            c->skip = (uint64_t)v;
            break;
        }
        case O_RESUME:
            if (!*optarg) return cli_usage(c, "--resume needs a file name");
            c->resume_path = optarg;
            break;
        case O_PROGRESS: c->progress = 1; break;
        case 'h':
            help(t, stdout);
            return cli_finish(c, LX_EXIT_OK);
        case O_VERSION:
            printf("%s %s\n", c->prog, LX_VERSION);
            return cli_finish(c, LX_EXIT_OK);
        case ':':
        case '?': return bad_option(c, ch, argv);
        default:
            if ((st = t->option(c, opts, ch, optarg))) return st;
        }
    }
    if (c->skip && c->resume_path)
        return cli_usage(c, "--skip and --resume do not go together (--resume skips the "
                            "records its FILE.progress counts)");
    if ((st = operands(c, argc, argv)) || (st = choose_format(c))) return st;
    return CLI_RUN;
}

/* ---- inputs, models, the network ------------------------------------------------ */

FILE *cli_fopen(lx_cli *c, const char *path) {
    if (!path || strcmp(path, "-") == 0) return stdin;
    FILE *f = fopen(path, "rb");
    if (!f) cli_error(c, "cannot open %s: %s", path, strerror(errno));
    return f;
}

const char *cli_model_path(const lx_cli *c) {
    if (c->model) return c->model;
    const char *e = getenv("LX_MODEL");
    return e && *e ? e : NULL;
}

const char *cli_model_need(const lx_cli *c, const char *alt, lx_error *err) {
    const char *path = cli_model_path(c);
    if (!path)
        lx_error_set(err, "no model: give -m FILE or set LX_MODEL%s%s%s", alt ? " (or " : "",
                     alt ? alt : "", alt ? ")" : "");
    return path;
}

lx_model *cli_model_open(const lx_cli *c, const char *alt, lx_error *err) {
    const char *path = cli_model_need(c, alt, err);
    return path ? lx_model_open(path, err) : NULL;
}

int cli_net_opts(const lx_cli *c, lx_net_opts *o, lx_error *err) {
    const char *cpu = getenv("LX_CPU");
    o->threads = (int)c->threads;
    if (lx_isa_parse(cpu, &o->max_isa) < 0)
        return lx_error_set(err, "LX_CPU: got '%s', expected portable, avx2, avx512 or best",
                            cpu);
    return 0;
}

lx_net *cli_net_new(const lx_cli *c, const lx_model *m, lx_net_opts o, lx_error *err) {
    if (cli_net_opts(c, &o, err) < 0) return NULL;
    lx_net *net = lx_net_new(m, &o, err);
    /* a model of the other kind: the message already names the file */
    if (!net && lx_model_kind_of(m) == LX_MODEL_LXMERT)
        lx_error_prefix(err, "%s", cli_model_path(c));
    return net;
}

/* ---- the record loops ----------------------------------------------------------- */

/* The output's writer, opened at the first record written.  LX_FMT_AUTO: the encoding
 * the input (rd, when there is one) is not; JSON to a terminal. */
static lx_writer *writer(lx_cli *c, const lx_reader *rd, lx_error *err) {
    if (c->out) return c->out;
    lx_format fmt = c->format;
    if (fmt == LX_FMT_AUTO)
        fmt = (rd && lx_reader_format(rd) == LX_FMT_BIN) || isatty(fileno(c->outf))
                  ? LX_FMT_JSON : LX_FMT_BIN;
    c->records = 1;
    return c->out = lx_writer_open(c->outf, fmt, err);
}

lx_writer *cli_output(lx_cli *c, lx_error *err) {
    return writer(c, NULL, err);
}

/* Flush what came before a bad record, then report it.  Returns 0 to go on (--skip-bad,
 * and the input can go on past it), -1 to stop. */
static int bad_record(lx_cli *c, uint64_t recno, const char *msg, int can_resume) {
    lx_error werr = {0};
    int wfail = c->out && lx_writer_flush(c->out, &werr) < 0;
    cli_record_error(c, recno, msg);
    if (wfail) { /* the records before it are lost too: that ends the run, and says so */
        cli_error(c, "%s", werr.msg);
        return -1;
    }
    if (!c->skip_bad || !can_resume) return -1;
    c->nskipped++;
    return 0;
}

/* --resume's last checkpoint: what was handled, unless the output has failed. */
static int last_checkpoint(lx_cli *c, int status, uint64_t done, uint64_t done_at) {
    if (c->rs && !ferror(c->outf) && cli_resume_checkpoint(c, done, done_at, 1) < 0)
        return LX_EXIT_FAIL;
    return status;
}

/* The reader is about to wait for input that has not arrived: what was written so far
 * goes out first, so that a record's output does not wait for the next record (the
 * output stays in whole buffers while the input keeps up).  A failed write stops
 * cli_filter after the read (c->wait_errno); in cli_batch_filter each batch is flushed
 * when written, so nothing is pending here. */
static void flush_before_wait(void *ctx) {
    lx_cli *c = ctx;
    if (!c->wait_errno && fflush(c->outf) != 0) c->wait_errno = errno ? errno : EIO;
}

int cli_filter(lx_cli *c, lx_reader *rd, cli_record_fn fn, void *ctx) {
    lx_record r;
    lx_error err = {0};
    int status = LX_EXIT_OK;
    /* the input records handled (--resume): up to number done, ending at byte done_at */
    uint64_t done = lx_reader_record_no(rd), done_at = lx_reader_bytes(rd);
    lx_record_init(&r);
    for (;;) {
        int rc = lx_reader_next(rd, &r, &err);
        if (c->wait_errno) { /* the flush before waiting for this record failed */
            status = cli_error(c, "write error: %s", strerror(c->wait_errno));
            break;
        }
        if (rc == 0) break;
        if (rc > 0 && fn) rc = fn(ctx, &r, &err);
        /* a model in use: not rewritten under the record, and every record out at once,
         * so that a SIGBUS (signals.c) loses nothing that was done */
        lx_error merr;
        int mapped = lx_file_check_mapped(&merr);
        if (mapped < 0) {
            status = cli_error(c, "%s", merr.msg);
            break;
        }
        if (rc > 0) {
            lx_writer *w = writer(c, rd, &err);
            if (w && lx_writer_write(w, &r, &err) == 0 &&
                (!mapped || lx_writer_flush(w, &err) == 0)) {
                cli_tick(c);
            } else if (!w || ferror(c->outf)) { /* no writer, or a write error: the run stops */
                status = cli_error(c, "%s", err.msg);
                break;
            } else {
                rc = -1; /* the record could not be encoded: a bad record */
            }
        }
        if (rc < 0 &&
            bad_record(c, lx_reader_record_no(rd), err.msg, lx_reader_can_resume(rd)) < 0) {
            status = LX_EXIT_FAIL;
            break;
        }
        /* written, dropped (rc 0) or skipped as bad */
        done = lx_reader_record_no(rd), done_at = lx_reader_bytes(rd);
        if (c->rs && cli_resume_checkpoint(c, done, done_at, 0) < 0) {
            status = LX_EXIT_FAIL;
            break;
        }
    }
    lx_record_clear(&r);
    if (c->out) lx_writer_flush(c->out, NULL);
    return last_checkpoint(c, status, done, done_at);
}

/* Write recs[0..n) (record numbers nos) in order, clearing each, and flush them (so that
 * a SIGBUS in the next batch loses nothing done); a record the run found bad (bad[i]) or
 * that the encoding cannot hold is reported in its place.  Returns the status:
 * LX_EXIT_OK to go on, else the run stops (message printed). */
static int write_batch(lx_cli *c, const lx_reader *rd, lx_record *recs, const uint64_t *nos,
                       const lx_error *bad, size_t n) {
    lx_error err = {0};
    if (lx_file_check_mapped(&err) < 0) /* the model was rewritten under the batch */
        return cli_error(c, "%s", err.msg);
    lx_writer *w = writer(c, rd, &err);
    if (!w) return cli_error(c, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        const char *why = bad[i].msg[0] ? bad[i].msg : NULL;
        if (!why && lx_writer_write(w, &recs[i], &err) < 0) {
            if (ferror(c->outf)) return cli_error(c, "%s", err.msg);
            why = err.msg; /* not encoded: nothing of it was written */
        }
        lx_record_clear(&recs[i]);
        if (!why) cli_tick(c);
        else if (bad_record(c, nos[i], why, 1) < 0) return LX_EXIT_FAIL;
    }
    if (lx_writer_flush(w, &err) < 0) return cli_error(c, "%s", err.msg);
    return LX_EXIT_OK;
}

int cli_batch_filter(lx_cli *c, lx_reader *rd, cli_check_fn check, cli_batch_fn run,
                     void *ctx) {
    size_t batch = (size_t)c->batch;
    lx_record *recs = calloc(batch, sizeof *recs);
    uint64_t *nos = calloc(batch, sizeof *nos);   /* each record's number */
    lx_error *bads = calloc(batch, sizeof *bads); /* what the run found wrong with each */
    lx_error err = {0};
    int status = LX_EXIT_OK;
    size_t n = 0;
    /* the last good record read, the end of the pending batch: its number and the
     * input byte where it ended (for --resume's checkpoints) */
    uint64_t last = 0, last_at = 0;
    if (!recs || !nos || !bads) {
        free(recs), free(nos), free(bads);
        return cli_error(c, "out of memory for a batch of %zu records", batch);
    }
    for (;;) {
        int rc = lx_reader_next(rd, &recs[n], &err);
        uint64_t recno = nos[n] = lx_reader_record_no(rd), at = lx_reader_bytes(rd);
        int good = rc > 0 && check(ctx, &recs[n], n, &err) == 0;
        if (good) last = recno, last_at = at;
        if (good && ++n < batch) continue;
        /* end of input, a full batch, or a bad record: run and write what is pending */
        size_t bad = n;
        lx_error berr = {0};
        for (size_t i = 0; i < n; i++) bads[i].msg[0] = '\0';
        if (n > 0 && run(ctx, recs, n, bads, &berr) < 0) {
            status = cli_error(c, "%s", berr.msg);
            break;
        }
        if (n > 0 && (status = write_batch(c, rd, recs, nos, bads, n)) != LX_EXIT_OK) break;
        /* --resume: a checkpoint after each full batch and each dropped bad record,
         * places where a run over the same input, or a longer one, cuts its batches
         * too; not after a batch cut short by the end of the input (it may go on in a
         * resumed run) or by a bad record that stops the run (it may be mended).  So a
         * resumed run makes the batches, and the bytes, of an uninterrupted one. */
        if (good && c->rs && cli_resume_checkpoint(c, last, last_at, 1) < 0) {
            status = LX_EXIT_FAIL;
            break;
        }
        n = 0;
        if (rc == 0) break;
        if (good) continue; /* a full batch went out */
        lx_record_clear(&recs[bad]);
        if (bad_record(c, recno, err.msg, rc > 0 || lx_reader_can_resume(rd)) < 0) {
            status = LX_EXIT_FAIL;
            break;
        }
        err.msg[0] = '\0';
        if (c->rs && cli_resume_checkpoint(c, recno, at, 1) < 0) {
            status = LX_EXIT_FAIL;
            break;
        }
    }
    for (size_t i = 0; i < batch; i++) lx_record_clear(&recs[i]);
    free(recs);
    free(nos);
    free(bads);
    if (c->out) lx_writer_flush(c->out, NULL);
    return status; /* no checkpoint here: the records of a batch cut short are written,
                      but a resumed run makes them again in a full batch */
}

/* Skip the input's first n records: unread, or read and passed to l->skipped.
 * *got gets how many there were (fewer than n: the input ended).  Returns 0, or the
 * exit status after the message (an input the reader cannot go on in). */
static int skip_records(lx_cli *c, lx_reader *rd, const cli_loop *l, uint64_t n,
                        uint64_t *got) {
    lx_error err = {0};
    *got = 0;
    if (!l->skipped) {
        if (lx_reader_skip(rd, n, got, &err) < 0)
            return cli_record_error(c, lx_reader_record_no(rd), err.msg);
        return 0;
    }
    lx_record r;
    lx_record_init(&r);
    int rc, status = 0;
    while (*got < n && (rc = lx_reader_next(rd, &r, &err)) != 0) {
        if ((rc < 0 && !lx_reader_can_resume(rd)) ||
            (rc > 0 && l->skipped(l->ctx, &r, &err) < 0)) {
            status = cli_record_error(c, lx_reader_record_no(rd), err.msg);
            break;
        }
        (*got)++;
    }
    lx_record_clear(&r);
    return status;
}

int cli_records(lx_cli *c, const cli_loop *l) {
    FILE *in = cli_fopen(c, c->path);
    if (!in) return LX_EXIT_FAIL;
    if (c->path) c->input = c->path;
    lx_error err = {0};
    int status = c->resume_path ? cli_resume_open(c, in) : LX_EXIT_OK;
    lx_reader *rd = NULL;
    if (status == LX_EXIT_OK && !(rd = lx_reader_open(in, c->input, &err)))
        status = cli_error(c, "%s", err.msg);
    if (status == LX_EXIT_OK) {
        if (l->lines) lx_reader_set_lines(rd, l->lines);
        lx_reader_set_wait(rd, flush_before_wait, c);
        c->records = 1;
        uint64_t skip = c->rs ? cli_resume_skip(c) : c->skip, got = 0;
        if (skip) status = skip_records(c, rd, l, skip, &got);
        if (status == LX_EXIT_OK && c->rs) {
            status = cli_resume_begin(c, rd, got);
        } else if (status == LX_EXIT_OK && got < skip) {
            status = cli_error(c, "%s: --skip %llu: the input has only %llu records", c->input,
                               (unsigned long long)skip, (unsigned long long)got);
        }
    }
    if (status == LX_EXIT_OK)
        status = l->run ? cli_batch_filter(c, rd, l->check, l->run, l->ctx)
                        : cli_filter(c, rd, l->each, l->ctx);
    lx_reader_close(rd);
    if (in != stdin) fclose(in);
    return status;
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

/* ---- the end -------------------------------------------------------------------- */

int cli_finish(lx_cli *c, int status) {
    if (c->out) {
        lx_writer_close(c->out); /* flushes into the output */
        c->out = NULL;
    }
    status = cli_resume_close(c, status);
    end_progress(c);
    if (c->nskipped)
        cli_note(c, "%llu record%s skipped", (unsigned long long)c->nskipped,
                 c->nskipped == 1 ? "" : "s");
    if (c->progress && c->records) {
        double el = now() - c->t_start;
        cli_note(c, "%llu records in %.2f s (%.1f records/s)", (unsigned long long)c->nrecords,
                 el, el > 0 ? c->nrecords / el : 0.0);
    }
    /* a failed write (full disk, closed pipe with SIGPIPE ignored) fails the run */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        fclose(stdout);
        if (e == EPIPE) return status;
        return c->write_failed ? LX_EXIT_FAIL : cli_error(c, "write error: %s", strerror(e));
    }
    if (fclose(stdout) != 0) {
        if (errno == EPIPE) return status;
        return cli_error(c, "write error: %s", strerror(errno));
    }
    return status;
}
