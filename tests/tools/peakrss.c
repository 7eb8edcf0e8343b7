/*
 * peakrss — run a command and report its peak resident memory and wall time.
 *
 *   peakrss [-o FILE] CMD [ARG...]
 *
 * Prints "peak_rss_mb=N wall_s=S" to stderr (or FILE) after CMD ends, and exits
 * with CMD's status.  Used by the benchmarks (GNU time is not always installed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *out = NULL;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-o") == 0) out = argv[2], i = 3;
    if (i >= argc) {
        fprintf(stderr, "usage: peakrss [-o FILE] CMD [ARG...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[i], argv + i);
        perror(argv[i]);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = out ? fopen(out, "w") : stderr;
    if (!f) f = stderr;
    fprintf(f, "peak_rss_mb=%.1f wall_s=%.3f\n", ru.ru_maxrss / 1024.0,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    if (f != stderr) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
