/* Helpers shared by the cmocka unit tests, which also see the library's internal
 * headers (they test its pieces on their own). */
#ifndef LX_TESTUTIL_H
#define LX_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>
#include "lx.h"
#include "bytes.h"
#include "ckpt/ckpt.h"
#include "internal.h"
#include "schema.h"

/* Absolute path of a fixture: $LX_FIXTURES/rel (set by tests/run-tests). */
static inline const char *fixture(const char *rel) {
    static char buf[4096];
    const char *d = getenv("LX_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s", d ? d : "../shared/fixtures", rel);
    return buf;
}
/* A fresh scratch path under $TMPDIR (or /tmp) named after tag. */
static inline const char *scratch(const char *tag) {
    static char buf[4096];
    const char *d = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/lx-test-%d-%s", d ? d : "/tmp", (int)getpid(), tag);
    return buf;
}

/* Run fn(arg) in a child process and return how far the child's peak resident memory
 * rose above what it had when it started, in KiB; *status gets fn's return value (the
 * child's exit status, 0-255).  For tests that hold a reader to the memory a hostile
 * file may cost. */
#include <sys/resource.h>
#include <sys/wait.h>
static inline long peak_rise_kib(int (*fn)(void *), void *arg, int *status) {
    int fds[2];
    if (pipe(fds) != 0) fail_msg("pipe failed");
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        close(fds[0]);
        long pages = 0, res = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld %ld", &pages, &res) != 2) _exit(255);
        fclose(f);
        int st = fn(arg);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long rise = ru.ru_maxrss - res * (sysconf(_SC_PAGESIZE) / 1024);
        if (write(fds[1], &rise, sizeof rise) != (ssize_t)sizeof rise) _exit(255);
        _exit(st);
    }
    close(fds[1]);
    long rise = -1;
    ssize_t got = read(fds[0], &rise, sizeof rise);
    close(fds[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || got != (ssize_t)sizeof rise)
        fail_msg("the measured child failed");
    *status = WEXITSTATUS(st);
    return rise;
}
#endif
