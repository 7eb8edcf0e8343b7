/*
 * signals.c — what the lx tools do on the signals that end a run (cli.h: cli_signals).
 *
 *   SIGINT, SIGTERM, SIGHUP   the temporary files being written (a model, an export, an
 *                             index, a summary: lx_outfile) are removed, then the tool
 *                             dies of the signal as it would have (a signal ignored
 *                             when the tool started, as nohup does, stays ignored)
 *   SIGXFSZ                   ignored, so that a write past `ulimit -f` fails with
 *                             EFBIG and is reported like any failed write: one line,
 *                             temporaries removed, exit 1
 *   SIGBUS                    on an address of a file lx mapped (a model copied over
 *                             while in use, cut short under the mapping): one line naming
 *                             the file, temporaries removed, exit 1.  The record loops
 *                             flush every record or batch they finish while a model is
 *                             mapped, so what was done is already out; nothing is
 *                             flushed here.  Any other SIGBUS is left to kill the tool.
 *
 * Handlers call only async-signal-safe functions: write, unlink (through
 * lx_file_signal_cleanup), signal, raise, _exit, and the atomic loads of
 * lx_file_mapped_at.  SIGKILL cannot be caught: a killed conversion leaves its
 * TARGET.tmpXXXXXX, which the next write to TARGET removes (lx_outfile_open).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char *prog = "lx";

static void say(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_stop(int sig) {
    lx_file_signal_cleanup();
    signal(sig, SIG_DFL);
    raise(sig); /* blocked in the handler: delivered, with the default action, on return */
}

static void on_bus(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    const char *path = si->si_code > 0 ? lx_file_mapped_at(si->si_addr) : NULL;
    if (!path) {
        /* not ours: the default action, on return (a fault faults again) or now */
        signal(sig, SIG_DFL);
        if (si->si_code <= 0) raise(sig);
        return;
    }
    lx_file_signal_cleanup();
    say(prog);
    say(": ");
    say(path);
    say(" changed or truncated while in use; " LX_FILE_REPLACE_HINT "\n");
    _exit(LX_EXIT_FAIL);
}

void cli_signals(const char *name) {
    prog = name;
    static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++) {
        struct sigaction old, sa = {.sa_handler = on_stop};
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < sizeof stops / sizeof *stops; k++) sigaddset(&sa.sa_mask, stops[k]);
        if (sigaction(stops[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(stops[i], &sa, NULL);
    }
    signal(SIGXFSZ, SIG_IGN);
    struct sigaction bus = {.sa_sigaction = on_bus, .sa_flags = SA_SIGINFO};
    sigemptyset(&bus.sa_mask);
    sigaction(SIGBUS, &bus, NULL);
}
