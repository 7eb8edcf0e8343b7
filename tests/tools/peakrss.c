/*
 * peakrss — run a command and report its peak resident memory and wall time.
 *
 *   peakrss [-o FILE] [-t] CMD [ARG...]
 *
 * Prints "peak_rss_mb=N wall_s=S" to stderr (or FILE) after CMD ends, and exits
 * with CMD's status.  Used by the benchmarks (GNU time is not always installed).
 *
 * -t: CMD's standard output is read (and thrown away) here, and the line also gives
 * "first_out_s=S last_out_s=S": when its first and its last byte arrived, in seconds from
 * the start.  A filter that flushes after each batch then shows its steady state from one
 * run: (last_out_s - first_out_s) / (records after the first batch), free of the model's
 * loading and first touch, and of the machine's drift between two separate runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) * 1e-9;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    int i = 1, times = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "-t") == 0) times = 1;
        else break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: peakrss [-o FILE] [-t] CMD [ARG...]\n");
        return 2;
    }
    int fd[2];
    if (times && pipe(fd) < 0) {
        perror("peakrss: pipe");
        return 1;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("peakrss: fork");
        return 1;
    }
    if (pid == 0) {
        if (times && (dup2(fd[1], 1) < 0 || close(fd[0]) < 0 || close(fd[1]) < 0)) _exit(127);
        execvp(argv[i], argv + i);
        perror(argv[i]);
        _exit(127);
    }
    double first = -1, last = -1;
    if (times) {
        close(fd[1]);
        static char buf[1 << 16];
        ssize_t n;
        while ((n = read(fd[0], buf, sizeof buf)) != 0) {
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) break;
            last = since(&t0);
            if (first < 0) first = last;
        }
        close(fd[0]);
    }
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) return 1;
    double wall = since(&t0);
    FILE *f = out ? fopen(out, "w") : stderr;
    if (!f) f = stderr;
    fprintf(f, "peak_rss_mb=%.1f wall_s=%.3f", ru.ru_maxrss / 1024.0, wall);
    if (times) fprintf(f, " first_out_s=%.4f last_out_s=%.4f", first, last);
    fprintf(f, "\n");
    if (f != stderr) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
