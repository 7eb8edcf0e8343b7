/*
 * cli.h — the one skeleton of the lx tools: the options they share and their parsing,
 * --help and --version, messages and exit codes, the record loop, the final flush.
 *
 * A tool describes itself in a cli_tool (its name, its help, its own options and a
 * callback for them, which shared options it acts on) and its main calls, in this order:
 *
 *     int main(int argc, char **argv) {
 *         opts o = {.top_k = 5};                  // its own options, commented defaults
 *         lx_cli c;
 *         int st = cli_start(&c, &tool, argc, argv, &o);  // every option, -h, --version
 *         if (st != CLI_RUN) return st;
 *         ...                                     // option combinations: cli_usage (2)
 *         ...                                     // setup: cli_model_open, cli_net_new...
 *         st = cli_records(&c, &(cli_loop){.each = record_fn, .ctx = &ctx});
 *         ...                                     // free what setup made
 *         return cli_finish(&c, st);
 *     }
 *
 * Exit codes: 0 success, 1 bad input or a failure at run time (a missing or unreadable
 * model, a failed write), 2 usage error.  stdout carries data only; messages go to
 * stderr, one form each:
 *
 *     lx-TOOL: message                      cli_error (returns 1), cli_note
 *     lx-TOOL: warning: message             cli_warn: the run goes on without something
 *     lx-TOOL: INPUT:record N: message      cli_record_error: a bad record
 *     lx-TOOL: message                      cli_usage (returns 2), followed by
 *     Try 'lx-TOOL --help' for more information.
 */
#ifndef LX_CLI_H
#define LX_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include "lx.h"

enum { LX_EXIT_OK = 0, LX_EXIT_FAIL = 1, LX_EXIT_USAGE = 2 };

/* cli_start's "go on": not an exit status. */
#define CLI_RUN (-1)

/* The ranges of the shared --threads and --batch, one for every tool. */
#define LX_CLI_MAX_THREADS 1024
#define LX_CLI_MAX_BATCH 4096
#define LX_CLI_BATCH 16           /* --batch's default */

/* What a tool does with the shared options.  Every tool takes -m, -f, --threads,
 * --skip-bad, --progress, -h and --version; these flags say which it acts on. */
enum {
    CLI_INPUT = 1u << 0,          /* one optional operand, FILE, read as records ("-" or
                                     none: standard input); without it the operands are
                                     left in lx_cli.args for the tool */
    CLI_MODEL = 1u << 1,          /* reads a model: -m FILE or $LX_MODEL (help lists it) */
    CLI_NET = 1u << 2,            /* runs the network: --threads and LX_CPU apply */
    CLI_BATCH = 1u << 3,          /* runs records in batches: takes --batch N */
    CLI_RECORDS = 1u << 4         /* reads records (cli_records): takes --skip N and
                                     --resume FILE */
};

typedef struct lx_cli lx_cli;
typedef struct cli_resume cli_resume;

/* A tool, as the skeleton needs to know it.  The help is printed as: about, then
 * describe's text, then options, then the shared options, the environment and the exit
 * status (the same words in every tool), then examples. */
typedef struct cli_tool {
    const char *name;             /* "lx-encode": messages start with it */
    const char *about;            /* "Usage: ..." lines and what the tool does */
    void (*describe)(FILE *f);    /* more help made at run time (NULL: none) */
    const char *options;          /* the tool's own options, as --help lists them */
    const char *examples;         /* "Examples:\n  ..."; each must run as written */
    unsigned flags;               /* CLI_* */
    lx_format format;             /* default output encoding: LX_FMT_JSON, LX_FMT_BIN,
                                     or LX_FMT_AUTO: the encoding the input is not */
    const char *model_help;       /* -m's text in --help (NULL: the .lxm model file) */
    const char *format_help;      /* -f's text (NULL: the output encodings) */
    const char *threads_help;     /* --threads's text (NULL: worker threads) */
    const char *progress_help;    /* --progress's text (NULL: a progress line) */
    const char *shortopts;        /* its own short options, getopt-style ("k:"), or NULL */
    const struct option *longopts;/* its own long options, ended by {0}; their values are
                                     their short letters or CLI_OWN and up */
    /* Take one of its own options: ch is the value from longopts or the short letter,
     * arg its argument (NULL when it takes none).  Returns 0, or LX_EXIT_USAGE after
     * cli_usage. */
    int (*option)(lx_cli *c, void *opts, int ch, const char *arg);
} cli_tool;

/* The values of a tool's own long-only options start here (below the shared ones). */
enum { CLI_OWN = 256 };

struct lx_cli {
    const cli_tool *tool;
    const char *prog;             /* "lx-tokenize" */
    /* the shared options */
    const char *model;            /* -m FILE (NULL: $LX_MODEL; see cli_model_path) */
    const char *format_arg;       /* -f as given (NULL: the tool's default) */
    lx_format format;             /* the output encoding chosen (LX_FMT_AUTO: decided by
                                     the input's, when the first record is written) */
    long threads;                 /* --threads (0: all cores) */
    long batch;                   /* --batch (LX_CLI_BATCH) */
    int skip_bad;                 /* --skip-bad: report bad records and go on */
    int progress;                 /* --progress */
    uint64_t skip;                /* --skip N: input records to skip unread */
    const char *resume_path;      /* --resume FILE: write there, going on from its
                                     progress (see resume.c) */
    const char *path;             /* CLI_INPUT: the FILE operand (NULL: standard input) */
    char **args;                  /* without CLI_INPUT: the operands */
    int nargs;
    /* the run */
    const char *input;            /* input name for messages: "<stdin>" or a path */
    lx_writer *out;               /* the output's writer, opened at the first record */
    FILE *outf;                   /* where records go: stdout, or FILE with --resume */
    cli_resume *rs;               /* --resume's state */
    int records;                  /* 1 once records were read or written (for the count) */
    int write_failed;             /* a write error on stdout was reported */
    int wait_errno;               /* the flush before waiting for input failed (errno) */
    int progress_auto;            /* progress was not asked for; stderr is a terminal */
    uint64_t nrecords;            /* records written so far */
    uint64_t nskipped;            /* records dropped (--skip-bad) */
    double t_start, t_last;       /* seconds (monotonic) */
};

/* Set up c for tool t and parse argv: the shared options into c, the tool's own through
 * t->option(c, opts, ...), the operands, the output encoding.  Restores default SIGPIPE
 * (a closed downstream ends the tool quietly) and turns the progress line on when
 * stderr is a terminal.  -h/--help and --version print and finish here.  Returns
 * CLI_RUN to go on, or the exit status main returns (help, version, usage error). */
int cli_start(lx_cli *c, const cli_tool *t, int argc, char **argv, void *opts);

/* The signals that end a run (signals.c): SIGINT, SIGTERM and SIGHUP remove the
 * temporary files being written, then kill the tool as before; SIGXFSZ is ignored (a
 * write past ulimit -f fails with EFBIG, an ordinary write error); a SIGBUS in a file lx
 * mapped is "prog: PATH changed or truncated while in use; ..." and exit 1.  Called by
 * cli_start. */
void cli_signals(const char *prog);

/* ---- messages ------------------------------------------------------------------- */

/* "prog: message".  Returns LX_EXIT_FAIL.  Printed after a write to stdout failed, it
 * stands for the report of that failure, which cli_finish then does not repeat. */
int cli_error(lx_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: warning: message": something the run goes on without. */
void cli_warn(lx_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: message": a note (what --progress reports, counts at the end). */
void cli_note(lx_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: INPUT:record N: message" for the input being read.  Returns LX_EXIT_FAIL. */
int cli_record_error(lx_cli *c, uint64_t recno, const char *msg);
/* The same for another stream of records, named input. */
int cli_record_error_in(lx_cli *c, const char *input, uint64_t recno, const char *msg);
/* "prog: message\nTry 'prog --help' for more information.".  Returns LX_EXIT_USAGE. */
int cli_usage(lx_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- option values -------------------------------------------------------------- */

/* Parse a whole decimal integer in [min, max] for option opt.  Returns 0, or
 * LX_EXIT_USAGE after the message. */
int cli_parse_long(lx_cli *c, const char *opt, const char *s, long min, long max, long *out);

/* ---- inputs, models, the network ------------------------------------------------ */

/* Open path for reading ("-" or NULL: standard input).  NULL after the message
 * "cannot open PATH: reason". */
FILE *cli_fopen(lx_cli *c, const char *path);
/* The model path: -m, else $LX_MODEL, else NULL. */
const char *cli_model_path(const lx_cli *c);
/* The model path, or NULL with the one message every tool gives for a missing model:
 * "no model: give -m FILE or set LX_MODEL", with " (or ALT)" when alt is not NULL. */
const char *cli_model_need(const lx_cli *c, const char *alt, lx_error *err);
/* Open the model (cli_model_need, then lx_model_open). */
lx_model *cli_model_open(const lx_cli *c, const char *alt, lx_error *err);
/* The shared network options: --threads, and the kernels LX_CPU allows (portable,
 * avx2, avx512 or best: the most to use).  One place reads them, so lx-encode and
 * lx-vqa always take the same path.  Returns 0, or -1 for an LX_CPU it does not know. */
int cli_net_opts(const lx_cli *c, lx_net_opts *o, lx_error *err);
/* The network over m: the tool's own options o (no_box_check, exact_bf16, ...) with the
 * shared ones of cli_net_opts.  Errors name the model. */
lx_net *cli_net_new(const lx_cli *c, const lx_model *m, lx_net_opts o, lx_error *err);

/* ---- the record loop ------------------------------------------------------------ */

/* One record at a time: return 1 to write the record, 0 to drop it, -1 on error
 * (message in err). */
typedef int (*cli_record_fn)(void *ctx, lx_record *r, lx_error *err);
/* Batches: check(ctx, r, slot, err) as each record is read (0 good, -1 bad; slot is
 * its place in the batch, 0..batch-1), then run(ctx, recs, n, bad, err) on up to
 * --batch good records: 0, or -1 to stop the run.  bad[0..n) comes cleared; a record
 * the run finds bad after all (outputs that are not finite) gets its message in bad[i]
 * and is reported like a bad input record, in its place among the others. */
typedef int (*cli_check_fn)(void *ctx, lx_record *r, size_t slot, lx_error *err);
typedef int (*cli_batch_fn)(void *ctx, lx_record *recs, size_t n, lx_error *bad,
                            lx_error *err);

typedef struct cli_loop {
    cli_record_fn each;           /* one at a time (NULL, without run: pass through) */
    cli_check_fn check;           /* batches: both set */
    cli_batch_fn run;
    void *ctx;                    /* passed to each, check and run */
    const char *lines;            /* read plain text lines into this field (--lines) */
    cli_record_fn skipped;        /* the records --skip and --resume skip are read and
                                     passed here (its return value is ignored but -1,
                                     which stops the run), for a tool whose output
                                     depends on earlier records; NULL: skipped unread */
} cli_loop;

/* The run: open the input (the FILE operand or standard input), skip what --skip or
 * --resume says, read its records, pass them through the loop and write them to the
 * output (stdout, or the --resume FILE) in order.  A bad record (bad input, outputs that
 * are not finite, or a record the output encoding cannot hold, such as NaN in JSON) is
 * reported after every record before it has been written and flushed; with --skip-bad
 * it is dropped and counted, else the run stops.  Returns the exit status (messages
 * printed). */
int cli_records(lx_cli *c, const cli_loop *l);
/* The two loops cli_records runs, over an open reader. */
int cli_filter(lx_cli *c, lx_reader *rd, cli_record_fn fn, void *ctx);
int cli_batch_filter(lx_cli *c, lx_reader *rd, cli_check_fn check, cli_batch_fn run,
                     void *ctx);
/* The output's record writer, for a tool that makes records itself (opened on first
 * use).  NULL with err set. */
lx_writer *cli_output(lx_cli *c, lx_error *err);
/* Count one record written and update the progress line (at most ~4 times a second). */
void cli_tick(lx_cli *c);

/* The end of every run: flush and close the writer, the --resume FILE and stdout (a
 * failed write fails the run: "prog: write error: ..."), end the progress line, report
 * skipped records and, with --progress, the count.  Pass the status so far; returns the
 * exit status. */
int cli_finish(lx_cli *c, int status);

/* ---- --resume FILE (resume.c; cli_records calls these) -------------------------- */

/* Before the input is read: open FILE and FILE.progress, choose the checkpoint to go on
 * from and check FILE against it (c->format becomes FILE's encoding).  in is the input,
 * which FILE must not be.  Returns 0, or the exit status after the message. */
int cli_resume_open(lx_cli *c, FILE *in);
/* The input records the checkpoint has handled: cli_records skips them. */
uint64_t cli_resume_skip(const lx_cli *c);
/* After skipping them (skipped: how many there were): check that there were as many and
 * that they ended at the byte they ended at before (the same input), cut FILE back to
 * the checkpoint and make it c->outf, say what goes on.  Returns 0, or the exit status
 * after the message. */
int cli_resume_begin(lx_cli *c, const lx_reader *rd, uint64_t skipped);
/* A checkpoint: the input's records up to number in, the last ending at byte in_bytes,
 * are handled and their records written; flush them and log it.  Unless force, only
 * when the last one is some time ago.  Returns 0, or -1 after the message. */
int cli_resume_checkpoint(lx_cli *c, uint64_t in, uint64_t in_bytes, int force);
/* Close FILE (a failed write fails the run); a failed run cuts FILE back to its last
 * checkpoint.  Returns the status. */
int cli_resume_close(lx_cli *c, int status);

#endif
