/*
 * cli.h — what the five lx tools share on the command line: messages, exit codes,
 * option parsing helpers, output format choice, progress and the final flush.
 *
 * Exit codes: 0 success, 1 bad input or runtime failure, 2 usage error.
 * Messages go to stderr as "lx-TOOL: message" or, for a record,
 * "lx-TOOL: INPUT:record N: message".  stdout carries data only.
 */
#ifndef LX_CLI_H
#define LX_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "lx.h"

enum { LX_EXIT_OK = 0, LX_EXIT_FAIL = 1, LX_EXIT_USAGE = 2 };

typedef struct lx_cli {
    const char *prog;             /* "lx-tokenize" */
    const char *input;            /* input name for messages: "<stdin>" or a path */
    int progress;                 /* 1: print a progress line on stderr */
    int progress_auto;            /* progress was not asked for; stderr is a terminal */
    uint64_t nrecords;            /* records written so far */
    uint64_t nskipped;            /* records dropped (--skip-bad / --skip-missing) */
    double t_start, t_last;       /* seconds (monotonic) */
} lx_cli;

/* Set prog, input "<stdin>", restore default SIGPIPE (a closed downstream ends the tool
 * quietly), and turn progress on automatically when stderr is a terminal. */
void cli_init(lx_cli *c, const char *prog);
/* "prog: message\n" on stderr.  Returns LX_EXIT_FAIL. */
int cli_error(const lx_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: INPUT:record N: message\n" on stderr.  Returns LX_EXIT_FAIL. */
int cli_record_error(const lx_cli *c, uint64_t recno, const char *msg);
/* "prog: message\nTry 'prog --help' for more information.\n".  Returns LX_EXIT_USAGE. */
int cli_usage(const lx_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "prog VERSION" to stdout.  Returns LX_EXIT_OK. */
int cli_version(const lx_cli *c);

/* The usage error for what getopt_long rejected: ch is its ':' (an option without its
 * argument) or '?' (unknown, or an argument where none is taken).  The tools call
 * getopt_long with opterr = 0 and short options starting with ':', so this is the only
 * message.  Returns LX_EXIT_USAGE. */
int cli_bad_option(const lx_cli *c, int ch, char *const *argv);

/* The optional INPUT operand (argv[first .. argc)): none or "-" is standard input
 * (*path = NULL), more than one is a usage error.  Returns 0 or LX_EXIT_USAGE. */
int cli_input_arg(const lx_cli *c, int argc, char *const *argv, int first, const char **path);
/* Open path for reading (NULL: standard input) and name it in c's messages.  Returns 0,
 * or LX_EXIT_FAIL after the message. */
int cli_open_input(lx_cli *c, const char *path, FILE **in);
/* Close what cli_open_input opened (standard input stays open). */
void cli_close_input(FILE *in);

/* Parse a whole decimal integer in [min, max] for option opt.  Returns 0, or prints a
 * usage message and returns -1. */
int cli_parse_long(const lx_cli *c, const char *opt, const char *s, long min, long max,
                   long *out);
/* Parse a finite double in [min, max]. */
int cli_parse_double(const lx_cli *c, const char *opt, const char *s, double min, double max,
                     double *out);

/* The shared --threads (0 = all cores, at most LX_CLI_MAX_THREADS) and --batch (1 to
 * LX_CLI_MAX_BATCH) options, with one range for every tool.  0 or -1 as above. */
#define LX_CLI_MAX_THREADS 1024
#define LX_CLI_MAX_BATCH 4096
int cli_parse_threads(const lx_cli *c, const char *s, long *out);
int cli_parse_batch(const lx_cli *c, const char *s, long *out);

/* Choose the output format: the -f argument (NULL if not given) or the tool's default.
 * Binary frames are never written to a terminal: an explicit -f bin to a terminal is a
 * usage error, a default of bin falls back to JSON there.  Returns 0 or -1 (message
 * printed, exit with LX_EXIT_USAGE). */
int cli_output_format(const lx_cli *c, const char *arg, lx_format dflt, lx_format *out);

/* Network options for lx-encode and lx-vqa: --threads (0 = all cores), the defaults
 * otherwise, and the kernels the environment allows: LX_CPU (portable, avx2, avx512 or
 * best: the most to use).  One place reads them, so lx-encode and lx-vqa always take the
 * same path.  Returns 0, or -1 with err set for an LX_CPU it does not know. */
int cli_net_opts(long threads, lx_net_opts *o, lx_error *err);

/* The model path: the -m argument, else $LX_MODEL, else NULL. */
const char *cli_model_path(const char *arg);

/* Count one record written and update the progress line (at most ~4 times a second). */
void cli_tick(lx_cli *c);
/* Flush and close stdout, checking for write errors; end the progress line; report
 * skipped records.  Returns LX_EXIT_OK or LX_EXIT_FAIL; pass the status so far. */
int cli_finish(lx_cli *c, int status);

/* Read and write records between a reader and a writer with one function per record:
 * the common loop of the filters.  fn returns 1 to write the record, 0 to drop it,
 * -1 on error (message in err).  On a bad record: with skip_bad the record is reported
 * and dropped, else everything before it is flushed and the loop stops with
 * LX_EXIT_FAIL.  Returns the exit status. */
typedef int (*cli_record_fn)(void *ctx, lx_record *r, lx_error *err);
int cli_filter(lx_cli *c, lx_reader *rd, lx_writer *w, int skip_bad, cli_record_fn fn,
               void *ctx);

/* The same loop for tools that work on batches (lx-encode, lx-vqa): each record read is
 * checked with check(ctx, r, slot, err) (0 good, -1 bad; slot is its place in the
 * batch, 0..batch-1), up to `batch` good records are run together with
 * run(ctx, recs, n, err), then written in order.  A bad record is reported after every
 * record before it has been written; with skip_bad it is dropped and the loop goes on.
 * A failure of run or of a write stops the loop.  Returns the exit status. */
typedef int (*cli_check_fn)(void *ctx, lx_record *r, size_t slot, lx_error *err);
typedef int (*cli_batch_fn)(void *ctx, lx_record *recs, size_t n, lx_error *err);
int cli_batch_filter(lx_cli *c, lx_reader *rd, lx_writer *w, size_t batch, int skip_bad,
                     cli_check_fn check, cli_batch_fn run, void *ctx);

#endif
